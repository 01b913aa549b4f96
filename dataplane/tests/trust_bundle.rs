//! Table-driven tests of the trust-bundle rules with PKI generated at test time.

use dataplane::pki::{CertificateInfo, TrustBundle};
use portcullis_tests::pki::{Ca, Leaf, bundle, issuer_dn_scenarios, rfc4514};

/// What a case expects: the issuer DN's CN of a valid bundle, or the reasons of a refused one.
enum Expect<'a> {
    Valid {
        issuer_cn: &'a str,
        chains: usize,
        warnings: &'a [&'a str],
    },
    Refused(&'static [&'static str]),
}

fn check(name: &str, input: &[u8], expect: Expect<'_>) {
    match (TrustBundle::parse(input), expect) {
        (
            Ok(b),
            Expect::Valid {
                issuer_cn,
                chains,
                warnings,
            },
        ) => {
            assert_eq!(
                b.issuer_dn().as_str(),
                rfc4514(issuer_cn),
                "{name}: issuer DN"
            );
            assert_eq!(b.chain_count(), chains, "{name}: chain count");
            let got: Vec<&str> = b.warnings().iter().map(|w| w.reason()).collect();
            assert_eq!(got, warnings, "{name}: warnings");
        }
        (Err(e), Expect::Refused(reasons)) => {
            let got: Vec<&str> = e.problems.iter().map(|p| p.reason()).collect();
            assert_eq!(got, reasons, "{name}: reasons ({e})");
        }
        (Ok(b), Expect::Refused(reasons)) => {
            panic!(
                "{name}: accepted (issuer {}) but expected {reasons:?}",
                b.issuer_dn()
            )
        }
        (Err(e), Expect::Valid { .. }) => panic!("{name}: refused: {e}"),
    }
}

#[test]
fn refused_bundles_name_their_problem() {
    let root = Ca::root("Root");
    let other_root = Ca::root("Other Root");
    let int = root.intermediate("Issuing");
    let foreign_int = other_root.intermediate("Foreign Issuing");
    // Same name as `root`, different key: its intermediate does not chain to `root`.
    let impostor_int = Ca::root("Root").intermediate("Impostor Issuing");
    let client = int.client("device-1");
    let padding = "# padding comment line that is not a certificate\n".repeat(600);

    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty", vec![], &["EmptyBundle"]),
        ("whitespace", b"  \n\t\n".to_vec(), &["EmptyBundle"]),
        (
            "text",
            b"hello, I am not a certificate".to_vec(),
            &["InvalidCertificate"],
        ),
        (
            "broken base64",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec(),
            &["InvalidCertificate"],
        ),
        (
            "garbage DER inside PEM",
            b"-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n".to_vec(),
            &["InvalidCertificate"],
        ),
        (
            "private key",
            bundle(&[root.pem(), root.key_pem().to_owned()]).into_bytes(),
            &["PrivateKeyInBundle"],
        ),
        (
            "client leaf only",
            client.pem().into_bytes(),
            &["LeafCertificateOnly"],
        ),
        (
            "client leaf only, DER",
            client.der(),
            &["LeafCertificateOnly"],
        ),
        (
            "self-signed non-CA",
            Leaf::self_signed("Server").pem().into_bytes(),
            &["LeafCertificateOnly"],
        ),
        (
            "intermediate without root",
            int.pem().into_bytes(),
            &["NoRootCA"],
        ),
        (
            "two roots",
            bundle(&[root.pem(), other_root.pem()]).into_bytes(),
            &["MultipleRootCAs"],
        ),
        (
            "intermediate from another root",
            bundle(&[root.pem(), foreign_int.pem()]).into_bytes(),
            &["IntermediateWithoutIssuer"],
        ),
        (
            "intermediate signed by a same-named root",
            bundle(&[root.pem(), impostor_int.pem()]).into_bytes(),
            &["IntermediateSignatureInvalid"],
        ),
        (
            "over 25 KB",
            bundle(&[padding, root.pem()]).into_bytes(),
            &["BundleTooLarge"],
        ),
        (
            "CRL in ca.crt",
            bundle(&[
                root.pem(),
                "-----BEGIN X509 CRL-----\nAAEC\n-----END X509 CRL-----\n".into(),
            ])
            .into_bytes(),
            &["UnexpectedPemBlock"],
        ),
    ];
    for (name, input, reasons) in cases {
        check(name, &input, Expect::Refused(reasons));
    }
}

#[test]
fn valid_bundles_yield_application_gateway_issuer_dn() {
    for sc in issuer_dn_scenarios() {
        let warnings = vec!["LeafCertificateIgnored"; sc.leaves];
        let expect = Expect::Valid {
            issuer_cn: sc.issuer_cn,
            chains: sc.chains,
            warnings: &warnings,
        };
        check(sc.name, &sc.bundle, expect);
    }
    let root = Ca::root("Root");
    let duplicated = bundle(&[root.pem(), root.pem()]).into_bytes();
    check(
        "duplicate root",
        &duplicated,
        Expect::Valid {
            issuer_cn: "Root",
            chains: 1,
            warnings: &["DuplicateCertificate"],
        },
    );
}

#[test]
fn bundle_round_trips_through_der_list() {
    let root = Ca::root("Root");
    let int = root.intermediate("Issuing");
    let parsed = TrustBundle::parse(bundle(&[root.pem(), int.pem()]).as_bytes()).expect("valid");
    let ders: Vec<Vec<u8>> = parsed.cas().iter().map(|c| c.der().to_vec()).collect();
    let again = TrustBundle::from_ders(&ders).expect("still valid");
    assert_eq!(again.issuer_dn(), parsed.issuer_dn());
    assert_eq!(again.root().subject.as_str(), rfc4514("Root"));
}

/// A copy of certificate `der` whose extensions wrapper (the TBS field tagged `[3]`) claims one
/// byte less than the SEQUENCE inside it: the malformation fuzzing found in a root.
fn shorten_extensions_wrapper(der: &[u8]) -> Vec<u8> {
    /// Offset of the content and its length, for the DER element at `at`.
    fn header(der: &[u8], at: usize) -> (usize, usize) {
        match der[at + 1] {
            n if n < 0x80 => (at + 2, usize::from(n)),
            0x81 => (at + 3, usize::from(der[at + 2])),
            0x82 => (
                at + 4,
                usize::from(der[at + 2]) << 8 | usize::from(der[at + 3]),
            ),
            other => panic!("unexpected DER length byte {other:#x}"),
        }
    }
    let mut out = der.to_vec();
    let (tbs, _) = header(der, 0);
    let (mut at, tbs_len) = header(der, tbs);
    let end = at + tbs_len;
    while at < end {
        let (content, len) = header(der, at);
        if der[at] == 0xa3 {
            // The last byte of the length field, short or long form.
            out[content - 1] -= 1;
            return out;
        }
        at = content + len;
    }
    panic!("no extensions in the certificate");
}

/// Regression for the manifests fuzz target's first crash: x509-parser read such a root, so
/// translation accepted the bundle, and the dataplane's compile then failed on it as a trust
/// anchor. The verifier's own parser is now asked too, for roots and for intermediates.
#[test]
fn a_ca_the_handshake_verifier_cannot_read_is_refused() {
    let root = Ca::root("Root");
    let int = root.intermediate("Issuing");
    let bad_root = shorten_extensions_wrapper(&root.der());
    let bad_int = shorten_extensions_wrapper(&int.der());
    for bad in [&bad_root, &bad_int] {
        let read = CertificateInfo::from_der(bad).expect("x509-parser still reads it");
        assert!(read.is_ca, "the case needs a CA x509-parser believes in");
    }
    check(
        "root with a short extensions wrapper",
        &bad_root,
        Expect::Refused(&["InvalidCertificate"]),
    );
    let refused = TrustBundle::from_ders(&[root.der(), bad_int]).expect_err("refused");
    let text = refused.to_string();
    assert!(
        text.contains("certificate #2") && text.contains("Issuing") && text.contains("verifier"),
        "names the certificate and why: {text}"
    );
    TrustBundle::from_ders(&[root.der(), int.der()]).expect("the unmodified pair is valid");
}

#[test]
fn signatures_are_judged_as_the_handshake_judges_them() {
    use portcullis_tests::pki::rcgen::{
        PKCS_ECDSA_P384_SHA384, PKCS_ECDSA_P521_SHA512, PKCS_ED25519,
    };
    // Algorithms the handshake verifies are accepted (P-521 with SHA-512 was refused as "a
    // different key with the same name").
    for (name, alg) in [
        ("P-521, ECDSA-SHA512", &PKCS_ECDSA_P521_SHA512),
        ("P-384", &PKCS_ECDSA_P384_SHA384),
        ("Ed25519", &PKCS_ED25519),
    ] {
        let root = Ca::root_alg("Modern Root", alg);
        let int = root.intermediate("Modern Issuing");
        check(
            name,
            bundle(&[root.pem(), int.pem()]).as_bytes(),
            Expect::Valid {
                issuer_cn: "Modern Issuing",
                chains: 1,
                warnings: &[],
            },
        );
    }
    // SHA-1, which the handshake refuses for every client of it, is refused at upload, naming
    // the algorithm.
    let root = Ca::root("Legacy Root");
    let legacy = root.intermediate_sha1_pem("Legacy Issuing");
    let input = bundle(&[root.pem(), legacy]);
    check(
        "SHA-1 intermediate",
        input.as_bytes(),
        Expect::Refused(&["UnsupportedSignatureAlgorithm"]),
    );
    let e = TrustBundle::parse(input.as_bytes()).expect_err("refused");
    assert!(e.to_string().contains("ecdsa-with-SHA1"), "{e}");
}
