//! The handshake shortcut (a bundle's intermediates checked once at load, as trust anchors)
//! judges every client exactly as the full path to the root does.

use std::sync::Arc;
use std::time::Duration;

use dataplane::config::{ClientAuth, ClientVerification, Revocation, TrustBundleWire};
use dataplane::pki::TrustBundle;
use dataplane::proxy::client_auth::{ClientAuthVerifier, Reason, Verdict};
use portcullis_tests::pki::rcgen::{
    BasicConstraints, CidrSubnet, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, NameConstraints,
};
use portcullis_tests::pki::{Ca, Leaf};
use rustls::pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;

const DAY: i64 = 86_400;

fn verifier(chains: &[&[&Ca]]) -> ClientAuthVerifier {
    let trust = chains
        .iter()
        .map(|cas| {
            let pem: String = cas.iter().map(|c| c.pem()).collect();
            TrustBundleWire(TrustBundle::parse(pem.as_bytes()).expect("bundle"))
        })
        .collect();
    let v = ClientVerification {
        trust,
        verify_issuer_dn: false,
        revocation: Revocation::None,
        revocation_chain: false,
        crls: Vec::new(),
        fetch_crl_distribution_points: false,
        ocsp_responder: None,
        exclusion_paths: Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ClientAuthVerifier::new(&ClientAuth::Required(v), false, &provider).expect("verifier")
}

/// The verdict on `leaf` (sending `sent` after it), `days` from now.
fn judge(v: &ClientAuthVerifier, leaf: &Leaf, sent: &[&Ca], days: i64) -> Verdict {
    let mut chain = vec![CertificateDer::from(leaf.der())];
    chain.extend(sent.iter().map(|c| CertificateDer::from(c.der())));
    let now = OffsetDateTime::now_utc().unix_timestamp() + days * DAY;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).expect("time")));
    v.verdict(Some(&chain), at)
}

#[test]
fn an_ordinary_intermediate_is_checked_at_load_and_judges_the_same() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let v = verifier(&[&[&root, &int]]);
    assert_eq!(v.intermediates_checked_at_load(), 1);
    let device = int.client("device");
    assert_eq!(judge(&v, &device, &[], 0), Verdict::Success);
    assert_eq!(judge(&v, &device, &[&int], 0), Verdict::Success);
    // Another CA; and an intermediate of another root with the very same name, whose leaves
    // name the promoted anchor as their issuer but are not signed by its key.
    let stranger = Ca::root("Other Root").intermediate("Other Issuing");
    let forged = Ca::root("Forger Root").intermediate("Partner Issuing");
    for (leaf, sent) in [
        (stranger.client("s"), &stranger),
        (forged.client("f"), &forged),
    ] {
        assert!(
            matches!(judge(&v, &leaf, &[sent], 0), Verdict::Failed(_)),
            "{:?}",
            judge(&v, &leaf, &[sent], 0)
        );
        assert!(matches!(judge(&v, &leaf, &[], 0), Verdict::Failed(_)));
    }
}

#[test]
fn outside_the_window_the_full_path_reports_the_expired_intermediate() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate_with("Short-lived Issuing", |p| {
        p.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        p.not_after = OffsetDateTime::now_utc() + time::Duration::days(2);
    });
    let v = verifier(&[&[&root, &int]]);
    assert_eq!(v.intermediates_checked_at_load(), 1);
    let device = int.client_valid("device", -1, 30);
    assert_eq!(judge(&v, &device, &[&int], 0), Verdict::Success);
    assert_eq!(
        judge(&v, &device, &[&int], 3),
        Verdict::Failed(Reason::Expired)
    );
}

#[test]
fn intermediates_the_full_path_would_refuse_are_never_anchors() {
    let root = Ca::root("Partner Root");

    // Expired: the full path says so.
    let expired = root.intermediate_with("Expired Issuing", |p| {
        p.not_before = OffsetDateTime::now_utc() - time::Duration::days(30);
        p.not_after = OffsetDateTime::now_utc() - time::Duration::days(1);
    });
    let v = verifier(&[&[&root, &expired]]);
    assert_eq!(v.intermediates_checked_at_load(), 0);
    assert_eq!(
        judge(&v, &expired.client("d"), &[], 0),
        Verdict::Failed(Reason::Expired)
    );

    // Issuing for servers only (extendedKeyUsage without clientAuth).
    let servers = root.intermediate_with("Server Issuing", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let v = verifier(&[&[&root, &servers]]);
    assert_eq!(v.intermediates_checked_at_load(), 0);
    assert_eq!(
        judge(&v, &servers.client("d"), &[], 0),
        Verdict::Failed(Reason::WrongPurpose)
    );

    // A pathLenConstraint (0) that forbids the CA below: neither becomes an anchor (as one,
    // the upper CA's limit would no longer be checked), clients of the upper one are admitted
    // and clients of the lower one refused, as before.
    let upper = root.intermediate_with("Upper Issuing", |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let lower = upper.intermediate("Lower Issuing");
    let v = verifier(&[&[&root, &upper, &lower]]);
    assert_eq!(v.intermediates_checked_at_load(), 0);
    assert_eq!(judge(&v, &upper.client("u"), &[], 0), Verdict::Success);
    for sent in [&[&lower][..], &[&lower, &upper][..]] {
        assert!(matches!(
            judge(&v, &lower.client("l"), sent, 0),
            Verdict::Failed(_)
        ));
    }
    // A CA a client sends below a promoted one (no constraint anywhere) chains, as it does
    // through the full path.
    let int = root.intermediate("Partner Issuing");
    let team = int.intermediate("Team Issuing");
    let v = verifier(&[&[&root, &int]]);
    assert_eq!(v.intermediates_checked_at_load(), 1);
    assert_eq!(judge(&v, &team.client("t"), &[&team], 0), Verdict::Success);

    // Under a name-constrained root: the constraints would be lost with the shortcut.
    let constrained = Ca::root_with("Constrained Root", |p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::IpAddress(CidrSubnet::V4(
                [10, 0, 0, 0],
                [255, 0, 0, 0],
            ))],
            excluded_subtrees: Vec::new(),
        });
    });
    let int = constrained.intermediate("Constrained Issuing");
    let v = verifier(&[&[&constrained, &int]]);
    assert_eq!(v.intermediates_checked_at_load(), 0);
}
