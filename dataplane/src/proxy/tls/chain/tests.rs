//! Unit tests of `chain`.

use super::*;
use crate::config::{ClientAuth, Der, TrustBundleWire};
use crate::pki::TrustBundle;
use portcullis_tests::pki::{Ca, Leaf};

/// The verifier of the chain `root → int` with CRL checking of `scope`, the CRLs (PEM)
/// given, and `policy`.
fn verifier(
    cas: &[&Ca],
    crls: &[String],
    whole: bool,
    policy: FailurePolicy,
) -> ClientAuthVerifier {
    let pem: String = cas.iter().map(|c| c.pem()).collect();
    let crls = crls
        .iter()
        .flat_map(|c| crate::pki::pem::parse(c.as_bytes()).expect("PEM"))
        .map(|b| Der(b.der))
        .collect();
    let v = ClientVerification {
        revocation: Revocation::Crl(policy),
        revocation_chain: whole,
        crls,
        ..ClientVerification::trusting(vec![TrustBundleWire(
            TrustBundle::parse(pem.as_bytes()).expect("bundle"),
        )])
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ClientAuthVerifier::new(&ClientAuth::Required(v), false, &provider).expect("verifier")
}

fn verdict(v: &ClientAuthVerifier, leaf: &Leaf) -> Verdict {
    let chain = [CertificateDer::from(leaf.der())];
    v.verdict(Some(&chain), UnixTime::now())
}

fn revoked() -> Verdict {
    Verdict::Failed(Reason::Revoked {
        code: Some(1),
        at: 0,
    })
}

/// Revoked verdicts compared by kind (their time is the CRL's).
fn kind(v: Verdict) -> Verdict {
    match v {
        Verdict::Failed(Reason::Revoked { code, .. }) => {
            Verdict::Failed(Reason::Revoked { code, at: 0 })
        }
        other => other,
    }
}

#[test]
fn crls_judge_the_path_in_the_scope_and_policy_asked() {
    use FailurePolicy::{FailClosed, FailOpen};
    let root = Ca::root("Root");
    let int = root.intermediate("Issuing");
    let (good, bad) = (int.client("good"), int.client("bad"));
    let int_crl = int.crl(&[&bad], 0, 7);
    let root_revokes_int = root.crl_of_cas(&[&int], 0, 7);
    let root_clean = root.crl_of_cas(&[], 0, 7);
    let expired = int.crl(&[], -10, -1);
    let unknown = |u| Verdict::Failed(Reason::RevocationUnknown(u));
    let reported = Verdict::SuccessRevocationUnknown;
    /// Name, CRLs, chain scope, policy, client, expected verdict.
    type Case<'a> = (&'a str, Vec<String>, bool, FailurePolicy, &'a Leaf, Verdict);
    let cases: Vec<Case<'_>> = vec![
        (
            "leaf listed",
            vec![int_crl.clone()],
            false,
            FailClosed,
            &bad,
            revoked(),
        ),
        (
            "leaf listed, fail open",
            vec![int_crl.clone()],
            false,
            FailOpen,
            &bad,
            revoked(),
        ),
        (
            "leaf not listed",
            vec![int_crl.clone()],
            false,
            FailClosed,
            &good,
            Verdict::Success,
        ),
        (
            "intermediate revoked, leaf scope",
            vec![int_crl.clone(), root_revokes_int.clone()],
            false,
            FailClosed,
            &good,
            Verdict::Success,
        ),
        (
            "intermediate revoked, chain scope",
            vec![int_crl.clone(), root_revokes_int],
            true,
            FailClosed,
            &good,
            revoked(),
        ),
        (
            "chain scope, every CRL clean",
            vec![int_crl.clone(), root_clean],
            true,
            FailClosed,
            &good,
            Verdict::Success,
        ),
        (
            "chain scope, no CRL from the root",
            vec![int_crl.clone()],
            true,
            FailClosed,
            &good,
            unknown(Unknown::NoCrl),
        ),
        (
            "chain scope, no CRL from the root, fail open",
            vec![int_crl],
            true,
            FailOpen,
            &good,
            reported(Unknown::NoCrl),
        ),
        (
            "no CRL at all",
            vec![],
            false,
            FailClosed,
            &good,
            unknown(Unknown::NoCrl),
        ),
        (
            "expired CRL",
            vec![expired.clone()],
            false,
            FailClosed,
            &good,
            unknown(Unknown::CrlExpired),
        ),
        (
            "expired CRL, fail open",
            vec![expired],
            false,
            FailOpen,
            &good,
            reported(Unknown::CrlExpired),
        ),
    ];
    for (name, crls, whole, policy, leaf, expected) in cases {
        let v = verifier(&[&root, &int], &crls, whole, policy);
        assert_eq!(kind(verdict(&v, leaf)), expected, "{name}");
    }
}

#[test]
fn the_checked_certificates_are_those_of_the_verified_path() {
    let root = Ca::root("Root");
    let int = root.intermediate("Issuing");
    let info = |der: Vec<u8>| CertificateInfo::from_der(&der).expect("parse");
    let v = Verified {
        leaf: info(int.client("c").der()),
        above: vec![info(int.der()), info(root.der())],
    };
    let subjects = |whole| -> Vec<(String, Option<String>)> {
        v.checked(whole)
            .into_iter()
            .map(|(c, i)| (c.subject.to_string(), i.map(|i| i.subject.to_string())))
            .collect()
    };
    assert_eq!(subjects(false).len(), 1, "the leaf only");
    assert_eq!(
        subjects(false)[0].1.as_deref(),
        Some("CN=Issuing,O=Portcullis Test")
    );
    let chain = subjects(true);
    assert_eq!(
        chain.len(),
        2,
        "leaf and intermediate, not the root: {chain:?}"
    );
    assert_eq!(
        chain[1],
        (
            "CN=Issuing,O=Portcullis Test".into(),
            Some("CN=Root,O=Portcullis Test".into())
        )
    );
}

#[test]
fn the_depth_limit_counts_the_cas_between_leaf_and_root_as_openssl_does() {
    // `openssl verify -verify_depth N` (nginx's ssl_verify_depth): N intermediates at most;
    // the root and the leaf do not count.
    let root = Ca::root("Root");
    let one = root.intermediate("One");
    let two = one.intermediate("Two");
    let pem: String = [&root, &one, &two].iter().map(|c| c.pem()).collect();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let with_depth = |depth: Option<u8>| {
        let v = ClientVerification {
            max_intermediates: depth,
            ..ClientVerification::trusting(vec![TrustBundleWire(
                TrustBundle::parse(pem.as_bytes()).expect("bundle"),
            )])
        };
        ClientAuthVerifier::new(&ClientAuth::Required(v), false, &provider).expect("verifier")
    };
    let clients = [root.client("zero"), one.client("one"), two.client("two")];
    let too_long = Verdict::Failed(Reason::ChainTooLong);
    for (depth, expected) in [
        (
            Some(0),
            [Verdict::Success, too_long.clone(), too_long.clone()],
        ),
        (
            Some(1),
            [Verdict::Success, Verdict::Success, too_long.clone()],
        ),
        (
            Some(2),
            [Verdict::Success, Verdict::Success, Verdict::Success],
        ),
        (None, [Verdict::Success, Verdict::Success, Verdict::Success]),
    ] {
        let v = with_depth(depth);
        for (client, want) in clients.iter().zip(&expected) {
            assert_eq!(&verdict(&v, client), want, "depth {depth:?}");
        }
    }
}
