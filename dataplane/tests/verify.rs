//! The one judge: webpki's full path, with each bundle CA's signature verified once and
//! remembered, judges every client as the full path does — intermediates that expire, serve
//! the wrong purpose, carry constraints or share a name with a forger's CA included.

use std::sync::Arc;
use std::time::Duration;

use dataplane::config::{ClientAuth, ClientVerification, TrustBundleWire};
use dataplane::pki::TrustBundle;
use dataplane::proxy::tls::ClientAuthVerifier;
use dataplane::proxy::verdict::{Reason, Verdict};
use portcullis_tests::pki::rcgen::{
    BasicConstraints, CidrSubnet, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, NameConstraints,
};
use portcullis_tests::pki::{Ca, Leaf};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use time::OffsetDateTime;

const DAY: i64 = 86_400;

/// The production verifier of `chains`, and rustls' plain `WebPkiClientVerifier` with the
/// same roots and the bundles' intermediates: every verdict below is asked of both.
struct Both {
    ours: ClientAuthVerifier,
    plain: Arc<dyn ClientCertVerifier>,
    intermediates: Vec<CertificateDer<'static>>,
}

fn verifier(chains: &[&[&Ca]]) -> Both {
    let trust: Vec<TrustBundleWire> = chains
        .iter()
        .map(|cas| {
            let pem: String = cas.iter().map(|c| c.pem()).collect();
            TrustBundleWire(TrustBundle::parse(pem.as_bytes()).expect("bundle"))
        })
        .collect();
    let mut roots = RootCertStore::empty();
    let mut intermediates = Vec::new();
    for b in &trust {
        roots
            .add(CertificateDer::from(b.0.root().der().to_vec()))
            .expect("root");
        intermediates.extend(
            b.0.cas()
                .iter()
                .filter(|c| !c.is_self_issued())
                .map(|c| CertificateDer::from(c.der().to_vec())),
        );
    }
    let v = ClientVerification::trusting(trust);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let plain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("plain verifier");
    Both {
        ours: ClientAuthVerifier::new(&ClientAuth::Required(v), false, &provider)
            .expect("verifier"),
        plain,
        intermediates,
    }
}

impl Both {
    fn remembered_signatures(&self) -> usize {
        self.ours.remembered_signatures()
    }
}

/// The verdict on `leaf` (sending `sent` after it), `days` from now; rustls' plain verifier
/// must agree on admitting it.
fn judge(v: &Both, leaf: &Leaf, sent: &[&Ca], days: i64) -> Verdict {
    let leaf_der = CertificateDer::from(leaf.der());
    let mut chain = vec![leaf_der.clone()];
    chain.extend(sent.iter().map(|c| CertificateDer::from(c.der())));
    let now = OffsetDateTime::now_utc().unix_timestamp() + days * DAY;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).expect("time")));
    let ours = v.ours.verdict(Some(&chain), at);
    let mut available = chain[1..].to_vec();
    available.extend(v.intermediates.iter().cloned());
    let plain = v.plain.verify_client_cert(&leaf_der, &available, at);
    assert_eq!(
        ours == Verdict::Success,
        plain.is_ok(),
        "ours {ours:?}, plain {plain:?}"
    );
    ours
}

#[test]
fn an_intermediate_signature_is_verified_once_and_judges_the_same() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let v = verifier(&[&[&root, &int]]);
    assert_eq!(v.remembered_signatures(), 0);
    let device = int.client("device");
    assert_eq!(judge(&v, &device, &[], 0), Verdict::Success);
    // The intermediate's signature by the root is remembered; the leaf's never is.
    assert_eq!(v.remembered_signatures(), 1);
    assert_eq!(judge(&v, &device, &[&int], 0), Verdict::Success);
    assert_eq!(judge(&v, &int.client("other"), &[], 0), Verdict::Success);
    assert_eq!(v.remembered_signatures(), 1);
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
fn an_intermediate_that_expires_is_reported_expired() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate_with("Short-lived Issuing", |p| {
        p.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        p.not_after = OffsetDateTime::now_utc() + time::Duration::days(2);
    });
    let v = verifier(&[&[&root, &int]]);
    let device = int.client_valid("device", -1, 30);
    assert_eq!(judge(&v, &device, &[&int], 0), Verdict::Success);
    assert_eq!(
        judge(&v, &device, &[&int], 3),
        Verdict::Failed(Reason::Expired)
    );
}

#[test]
fn intermediates_the_full_path_refuses_are_refused() {
    let root = Ca::root("Partner Root");

    // Expired: the full path says so.
    let expired = root.intermediate_with("Expired Issuing", |p| {
        p.not_before = OffsetDateTime::now_utc() - time::Duration::days(30);
        p.not_after = OffsetDateTime::now_utc() - time::Duration::days(1);
    });
    let v = verifier(&[&[&root, &expired]]);
    assert_eq!(
        judge(&v, &expired.client("d"), &[], 0),
        Verdict::Failed(Reason::Expired)
    );

    // Issuing for servers only (extendedKeyUsage without clientAuth).
    let servers = root.intermediate_with("Server Issuing", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let v = verifier(&[&[&root, &servers]]);
    assert_eq!(
        judge(&v, &servers.client("d"), &[], 0),
        Verdict::Failed(Reason::WrongPurpose)
    );

    // A pathLenConstraint (0) that forbids the CA below: clients of the upper one are
    // admitted and clients of the lower one refused.
    let upper = root.intermediate_with("Upper Issuing", |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let lower = upper.intermediate("Lower Issuing");
    let v = verifier(&[&[&root, &upper, &lower]]);
    assert_eq!(judge(&v, &upper.client("u"), &[], 0), Verdict::Success);
    for sent in [&[&lower][..], &[&lower, &upper][..]] {
        assert!(matches!(
            judge(&v, &lower.client("l"), sent, 0),
            Verdict::Failed(_)
        ));
    }
    // A CA a client sends below a bundle intermediate (no constraint anywhere) chains.
    let int = root.intermediate("Partner Issuing");
    let team = int.intermediate("Team Issuing");
    let v = verifier(&[&[&root, &int]]);
    assert_eq!(judge(&v, &team.client("t"), &[&team], 0), Verdict::Success);

    // Under a name-constrained root: its constraints apply to the leaves below.
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
    judge(&v, &int.client("c"), &[], 0);
}

#[test]
fn what_the_old_intermediate_shortcut_admitted_is_refused() {
    use portcullis_tests::pki::rcgen::ExtendedKeyUsagePurpose::{Any, ClientAuth, ServerAuth};
    let root = Ca::root("Partner Root");
    // An intermediate whose extendedKeyUsage is anyExtendedKeyUsage: webpki wants clientAuth.
    for ekus in [vec![Any], vec![Any, ServerAuth]] {
        let any = root.intermediate_with("Any Issuing", |p| p.extended_key_usages = ekus);
        let v = verifier(&[&[&root, &any]]);
        assert_eq!(
            judge(&v, &any.client("d"), &[], 0),
            Verdict::Failed(Reason::WrongPurpose)
        );
        assert!(matches!(
            judge(&v, &any.client("d"), &[&any], 0),
            Verdict::Failed(_)
        ));
    }
    // anyEKU on the upper of two intermediates.
    let upper = root.intermediate_with("Upper Any", |p| p.extended_key_usages = vec![Any]);
    let lower =
        upper.intermediate_with("Lower Client", |p| p.extended_key_usages = vec![ClientAuth]);
    let v = verifier(&[&[&root, &upper, &lower]]);
    assert!(matches!(
        judge(&v, &lower.client("d"), &[], 0),
        Verdict::Failed(_)
    ));
    // More CAs below a bundle intermediate than webpki's path allows (six CAs sent by the
    // client below it, seven between leaf and root).
    let int = root.intermediate("Partner Issuing");
    let mut below = vec![int.intermediate("Sub 1")];
    for i in 2..=6 {
        let next = below[below.len() - 1].intermediate(&format!("Sub {i}"));
        below.push(next);
    }
    let v = verifier(&[&[&root, &int]]);
    let sent: Vec<&Ca> = below.iter().rev().collect();
    let deepest = sent[0];
    assert!(matches!(
        judge(&v, &deepest.client("deep"), &sent, 0),
        Verdict::Failed(_)
    ));
    // Five below it is within the limit.
    let sent: Vec<&Ca> = below[..5].iter().rev().collect();
    assert_eq!(judge(&v, &sent[0].client("ok"), &sent, 0), Verdict::Success);
}
