//! `portcullis inspect-ca` on bundle files made at test time.

use std::process::Command;

use portcullis_tests::pki::{Ca, bundle, issuer_dn_scenarios, rfc4514};

/// Writes `bytes` to a file and runs `portcullis inspect-ca` on it: (exit code, stdout).
fn inspect(bytes: &[u8]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ca.crt");
    std::fs::write(&file, bytes).expect("write bundle");
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("inspect-ca")
        .arg(&file)
        .output()
        .expect("run portcullis");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn bad_bundles_exit_one_and_name_the_problem() {
    let root = Ca::root("Root");
    let other = Ca::root("Other Root");
    let int = root.intermediate("Issuing");
    let client = int.client("device-1");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "is empty"),
        (
            "not a certificate",
            b"PFX\x00\x01 binary junk".to_vec(),
            "is not a certificate",
        ),
        (
            "private key",
            bundle(&[root.pem(), root.key_pem().to_owned()]).into_bytes(),
            "holds a private key",
        ),
        (
            "leaf only",
            client.pem().into_bytes(),
            "holds only a leaf (end-entity) certificate",
        ),
        ("no root", int.pem().into_bytes(), "has no root CA"),
        (
            "two roots",
            bundle(&[root.pem(), other.pem()]).into_bytes(),
            "holds 2 root CAs",
        ),
        (
            "orphan intermediate",
            bundle(&[other.pem(), int.pem()]).into_bytes(),
            "but its issuer CN=Root,O=Portcullis Test is not in the file",
        ),
        (
            "too large",
            format!("{}{}", "#\n".repeat(13_000), root.pem()).into_bytes(),
            "over the limit of 25 KB",
        ),
    ];
    for (name, bytes, expected) in cases {
        let (code, out) = inspect(&bytes);
        assert_eq!(code, 1, "{name}: expected exit 1\n{out}");
        assert!(
            out.contains(expected),
            "{name}: expected {expected:?} in\n{out}"
        );
        assert!(out.contains("verdict: refused"), "{name}\n{out}");
    }
}

#[test]
fn valid_bundles_exit_zero_and_print_issuer_dn() {
    for sc in issuer_dn_scenarios() {
        let (code, out) = inspect(&sc.bundle);
        assert_eq!(code, 0, "{}: expected exit 0\n{out}", sc.name);
        let line = format!("issuer DN: {}\n", rfc4514(sc.issuer_cn));
        assert!(
            out.contains(&line),
            "{}: expected {line:?} in\n{out}",
            sc.name
        );
        assert!(
            out.contains(&format!("verdict: accepted ({} chain(s))", sc.chains)),
            "{}\n{out}",
            sc.name
        );
        assert!(
            out.contains("sha256:   "),
            "{}: fingerprints\n{out}",
            sc.name
        );
    }
}

/// Our RFC 4514 rendering and fingerprints agree with OpenSSL's on the same certificate.
#[test]
fn subject_and_fingerprints_match_openssl() {
    if Command::new("openssl").arg("version").output().is_err() {
        panic!("openssl is needed for this test; the README's test command installs it");
    }
    let root = Ca::root("Root, \"Quoted\" + Co");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("root.pem");
    std::fs::write(&file, root.pem()).expect("write");
    let openssl = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-fingerprint",
            "-sha256",
            "-in",
        ])
        .arg(&file)
        .output()
        .expect("run openssl");
    let openssl = String::from_utf8_lossy(&openssl.stdout);
    let (code, ours) = inspect(root.pem().as_bytes());
    assert_eq!(code, 0, "{ours}");
    let subject = openssl
        .lines()
        .find_map(|l| l.strip_prefix("subject="))
        .expect("openssl subject");
    let sha256 = openssl
        .lines()
        .find_map(|l| l.split_once("Fingerprint=").map(|x| x.1))
        .expect("openssl fingerprint");
    assert!(
        ours.contains(&format!("subject:  {subject}\n")),
        "openssl says {subject:?}; ours:\n{ours}"
    );
    assert!(
        ours.contains(&format!("sha256:   {sha256}\n")),
        "openssl says {sha256:?}; ours:\n{ours}"
    );
}

#[test]
fn expired_ca_is_flagged() {
    let old = Ca::root_valid("Old Root", -30, -1);
    let (code, out) = inspect(old.pem().as_bytes());
    assert_eq!(
        code, 0,
        "an expired root is accepted with a flag, as Application Gateway does\n{out}"
    );
    assert!(out.contains("(EXPIRED)"), "{out}");
    let (_, fresh) = inspect(Ca::root("New Root").pem().as_bytes());
    assert!(!fresh.contains("(EXPIRED)"), "{fresh}");
}
