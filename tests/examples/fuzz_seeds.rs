//! Writes seed inputs for the fuzz targets (`scripts/fuzz.sh`) into `DIR/<target>/`: valid
//! trust bundles, CRLs and OCSP responses from PKI generated now, so the fuzzer starts from
//! inputs that reach past parsing and signature checks. Generated at each run, never
//! committed: the project commits no certificates.
//!
//! Usage: `cargo run -p portcullis-tests --example fuzz_seeds -- DIR`

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use dataplane::pki::ocsp::{CertId, verify_response};
use dataplane::pki::{CertificateInfo, RevocationList};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::ocsp_responder::{self, Entry};
use portcullis_tests::pki::{Ca, Leaf};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: fuzz_seeds DIR");
    let dir = Path::new(&dir);
    let root = Ca::root("Fuzz Root");
    let int = root.intermediate("Fuzz Issuing");
    let leaf = int.client("fuzz-client");
    let other = int.client("fuzz-other");

    let write = |target: &str, name: &str, bytes: &[u8]| {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("seed dir");
        std::fs::write(d.join(name), bytes).expect("seed file");
    };
    let with_len = |parts: &[&[u8]]| {
        let (last, first) = parts.split_last().expect("parts");
        let mut out = Vec::new();
        for p in first {
            out.extend_from_slice(&u16::try_from(p.len()).expect("part size").to_be_bytes());
            out.extend_from_slice(p);
        }
        out.extend_from_slice(last);
        out
    };

    write(
        "trust_bundle",
        "chain.pem",
        format!("{}{}", root.pem(), int.pem()).as_bytes(),
    );
    write("trust_bundle", "root.der", &root.der());
    write("trust_bundle", "leaf-only.pem", leaf.pem().as_bytes());
    write(
        "trust_bundle",
        "with-key.pem",
        format!("{}{}", root.pem(), root.key_pem()).as_bytes(),
    );

    let crl_pem = int.crl(&[&leaf], 0, 7);
    // The seeds must pass the parsers' own checks, or the fuzzer starts from the shallow end.
    let issuer = CertificateInfo::from_der(&int.der()).expect("issuer parses");
    let lists = RevocationList::parse_all(crl_pem.as_bytes(), std::slice::from_ref(&issuer));
    assert!(
        lists.is_ok_and(|l| l.len() == 1),
        "the seed CRL does not verify"
    );
    write(
        "crl",
        "revoked.pem",
        &with_len(&[&int.der(), crl_pem.as_bytes()]),
    );
    write(
        "crl",
        "revoked.der",
        &with_len(&[&int.der(), &pem_body(&crl_pem)]),
    );
    write(
        "crl",
        "empty.pem",
        &with_len(&[&root.der(), root.crl(&[], 0, 7).as_bytes()]),
    );

    for (name, entries) in [("good", &[&leaf][..]), ("unknown", &[&other][..])] {
        let response = ocsp_response(&int, &leaf, entries);
        let subject = CertificateInfo::from_der(&leaf.der()).expect("leaf parses");
        let id = CertId::new(&subject, &issuer);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let status = verify_response(&response, &id, &issuer, None, now, 300);
        assert!(
            status.is_ok(),
            "the {name} seed response does not verify: {status:?}"
        );
        write(
            "ocsp_response",
            name,
            &with_len(&[&int.der(), &leaf.der(), &response]),
        );
    }

    let server = Ca::root("Fuzz Server Root").server(&["secure.example"]);
    let yaml = Manifests::secure_example(
        format!("{}{}", root.pem(), int.pem()).as_bytes(),
        &server,
        8443,
        8080,
    )
    .to_yaml();
    write("manifests", "secure-example.yaml", yaml.as_bytes());
    let ingress = Manifests::new()
        .ingress_class("portcullis", "portcullis.io/ingress-controller", false)
        .ca_secret_with_crl(
            "default",
            "devices-ca",
            format!("{}{}", root.pem(), int.pem()).as_bytes(),
            int.crl(&[], 0, 7).as_bytes(),
        )
        .tls_secret("default", "site-tls", &server.pem(), server.key_pem())
        .service("default", "echo", "127.0.0.1", 8080)
        .ingress(
            "devices",
            "portcullis",
            "secure.example",
            Some("site-tls"),
            &[
                ("auth-tls-secret", "default/devices-ca"),
                ("auth-tls-verify-client", "optional_no_ca"),
                ("auth-tls-verify-depth", "2"),
                ("auth-tls-match-cn", "CN=(sensor|gateway)-[0-9]+"),
                ("auth-tls-error-page", "https://errors.example/cert"),
                ("auth-tls-pass-certificate-to-upstream", "true"),
                ("rewrite-target", "/"),
            ],
            "echo",
        )
        .to_yaml();
    write("manifests", "ingress-nginx.yaml", ingress.as_bytes());
}

/// The DER inside one PEM block.
fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM base64")
}

/// `openssl ocsp` answering, offline, a request for `leaf` from an index listing `good`.
fn ocsp_response(issuer: &Ca, leaf: &Leaf, good: &[&Leaf]) -> Vec<u8> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let entries: Vec<Entry<'_>> = good.iter().map(|l| Entry::Good(l)).collect();
    let index = file("index.txt", &ocsp_responder::index(&entries));
    let ca = file("ca.pem", &issuer.pem());
    let key = file("ca.key", issuer.key_pem());
    let cert = file("leaf.pem", &leaf.pem());
    let (req, resp) = (tmp.path().join("req.der"), tmp.path().join("resp.der"));
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "ocsp".as_ref(),
        "-issuer".as_ref(),
        ca.as_os_str(),
        "-cert".as_ref(),
        cert.as_os_str(),
        "-no_nonce".as_ref(),
        "-reqout".as_ref(),
        req.as_os_str(),
    ]);
    run(&[
        "ocsp".as_ref(),
        "-index".as_ref(),
        index.as_os_str(),
        "-CA".as_ref(),
        ca.as_os_str(),
        "-rsigner".as_ref(),
        ca.as_os_str(),
        "-rkey".as_ref(),
        key.as_os_str(),
        "-reqin".as_ref(),
        req.as_os_str(),
        "-respout".as_ref(),
        resp.as_os_str(),
        "-ndays".as_ref(),
        "1".as_ref(),
    ]);
    std::fs::read(resp).expect("response")
}
