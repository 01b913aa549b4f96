//! HTTP/2 conformance of the gateway's client side, by h2spec (built once into the shared
//! cache from its Go module) against a real `portcullis run` over TLS with ALPN `h2`.

use std::process::Command;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::cluster::harness_cache;
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::json;

/// Runs h2spec with `sections` against an HTTPS listener that answers any name (h2spec sends
/// no SNI): (passed, failed, output).
fn h2spec(sections: &[&str]) -> (u32, u32, String) {
    let server = Ca::root("Server Root").server(&["conformance.test"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .with(
            json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
            "metadata": {"name": "any", "namespace": "default"},
            "spec": {"protocol": "HTTPS", "port": port, "sslCertificate": {"name": "gw-tls"},
                     "rules": [{"backend": {"service": "echo", "port": 80}}]}}),
        )
        .service("default", "echo", "127.0.0.1", backend.addr.port());
    let dir = tempfile::tempdir().expect("manifest dir");
    m.write(dir.path());
    let _gw = Standalone::start(dir.path(), &[port]);
    let out = Command::new(harness_cache("build-h2spec.sh").join("h2spec"))
        .args(sections)
        .args([
            "-t",
            "-k",
            "-h",
            "127.0.0.1",
            "-o",
            "5",
            "-p",
            &port.to_string(),
        ])
        .output()
        .expect("run h2spec");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The summary line: "N tests, N passed, N skipped, N failed".
    let count = |word: &str| {
        text.lines()
            .rev()
            .find(|l| l.contains(" tests, "))
            .and_then(|l| {
                l.split(", ")
                    .find(|p| p.ends_with(word))
                    .and_then(|p| p.split(' ').next())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or_else(|| panic!("no h2spec summary in:\n{text}"))
    };
    (count("passed"), count("failed"), text)
}

#[test]
fn connection_preface_section_3_5_passes() {
    // An invalid preface on a connection that agreed on h2 must end it, never be read as
    // HTTP/1.1 (ALPN is binding).
    let (passed, failed, out) = h2spec(&["http2/3.5"]);
    assert_eq!((passed, failed), (2, 0), "{out}");
}

#[test]
fn the_whole_suite_passes() {
    let (passed, failed, out) = h2spec(&[]);
    assert_eq!(failed, 0, "{out}");
    assert!(passed >= 140, "{out}");
}
