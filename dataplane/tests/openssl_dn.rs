//! Differential test: the subject as the ingress-nginx headers and `auth-tls-match-cn` read it
//! ([`DistinguishedName::openssl`]) against OpenSSL's own `-nameopt RFC2253` rendering (nginx's
//! `$ssl_client_s_dn`), for names made by OpenSSL itself and by rcgen with every string type.

use std::path::Path;
use std::process::Command;

use dataplane::pki::CertificateInfo;
use portcullis_tests::pki::rcgen::{self, DnType, DnValue};

/// OpenSSL's rendering of the subject of the DER certificate at `path`.
fn openssl_subject(path: &Path) -> String {
    let out = Command::new("openssl")
        .args([
            "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253", "-in",
        ])
        .arg(path)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    text.trim_end_matches('\n')
        .strip_prefix("subject=")
        .expect("subject= prefix")
        .to_owned()
}

fn ours(der: &[u8]) -> String {
    CertificateInfo::from_der(der)
        .expect("certificate")
        .subject
        .openssl()
}

#[test]
fn subjects_made_by_openssl_print_as_openssl_prints_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let subjects = [
        "/CN=client",
        "/C=US/ST=California/L=San Francisco/O=Example, Inc./OU=Devices/CN=device-17",
        "/CN=a+OU=b+O=c/OU=first/OU=second",
        "/DC=com/DC=example/UID=jdoe/CN=John Doe",
        "/emailAddress=ops@example.com/serialNumber=0042/CN=x",
        "/CN=#hash first/O= lead and trail /OU=semi;colon<>\"quote\"\\back",
        "/CN=Müller Grüße/O=日本語",
        "/CN=ctrl\u{7f}del/O=tab\there",
        "/1.2.3.4=unknown oid/CN=y",
        "/title=Dr/GN=Ada/SN=Lovelace/initials=AL/pseudonym=al/name=n/description=d",
        "/postalCode=12345/street=1 Main St/businessCategory=b/dnQualifier=q",
        "/organizationIdentifier=VATDE-123/generationQualifier=III/CN=z",
        "/jurisdictionC=DE/jurisdictionST=Bayern/jurisdictionL=München/CN=ev",
        "/CN=a=b/O=plus\\+in\\+value",
    ];
    let mut compared = 0;
    for (i, subject) in subjects.iter().enumerate() {
        let path = dir.path().join(format!("{i}.der"));
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes",
                "-keyout",
                "/dev/null",
                "-days",
                "1",
                "-outform",
                "DER",
            ])
            .args(["-utf8", "-multivalue-rdn", "-subj", subject, "-out"])
            .arg(&path)
            .output()
            .expect("run openssl req");
        assert!(
            out.status.success(),
            "{subject}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let der = std::fs::read(&path).expect("read DER");
        assert_eq!(ours(&der), openssl_subject(&path), "subject {subject}");
        compared += 1;
    }
    assert_eq!(compared, subjects.len());
}

#[test]
fn every_string_type_prints_as_openssl_prints_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values: Vec<(&str, DnValue)> = vec![
        ("utf8", DnValue::Utf8String("Zoë, \"x\"".into())),
        (
            "printable",
            DnValue::PrintableString("Plain Name".try_into().expect("printable")),
        ),
        ("ia5", DnValue::Ia5String("ia5@x".try_into().expect("ia5"))),
        (
            "teletex",
            DnValue::TeletexString("t61 name".try_into().expect("teletex")),
        ),
        (
            "bmp",
            DnValue::BmpString("Ωmega ✓".try_into().expect("bmp")),
        ),
        (
            "universal",
            DnValue::UniversalString("U 🦀".try_into().expect("universal")),
        ),
    ];
    for (label, value) in values {
        let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Org");
        params.distinguished_name.push(DnType::CommonName, value);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        let path = dir.path().join(format!("{label}.der"));
        std::fs::write(&path, cert.der()).expect("write");
        assert_eq!(ours(cert.der()), openssl_subject(&path), "{label}");
    }
}
