//! The three listener protocols and the SSL policies, with real clients.

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{curl, rustls_get, rustls_get_as};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::json;

#[test]
fn tls_listener_refuses_in_the_handshake_and_proxies_bytes() {
    let ca = Ca::root("Device Root");
    let other = Ca::root("Other Root");
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["tcp.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .ca_secret("default", "device-ca", ca.pem().as_bytes())
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .ssl_profile("default", "devices", "Required", &["device-ca"])
        .with(
            json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
            "metadata": {"name": "tcp", "namespace": "default"},
            "spec": {"protocol": "TLS", "port": port, "hostnames": ["tcp.example"],
                     "sslCertificate": {"name": "gw-tls"}, "sslProfile": {"name": "devices"},
                     "rules": [{"backend": {"service": "echo", "port": 80}}]}}),
        )
        .service("default", "echo", "127.0.0.1", backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);

    let good = ca.client("device-1");
    // The echo backend speaks HTTP; through a TLS listener the bytes pass untouched.
    let (status, body) = rustls_get_as(port, "tcp.example", "/raw", &server_root.pem(), &good, &[])
        .expect("proxied request");
    assert_eq!(status, 200, "{body}\n{}", gw.stderr());
    assert!(body.contains("\"path\":\"/raw\""), "{body}");
    // No identity headers are invented on a byte stream.
    assert!(!body.contains("ssl-client-verify"), "{body}");

    let refused = rustls_get(port, "tcp.example", "/", &server_root.pem(), None);
    assert!(
        refused.is_err(),
        "no certificate must fail the handshake: {refused:?}"
    );
    let bad = other.client("intruder");
    let refused = rustls_get_as(port, "tcp.example", "/", &server_root.pem(), &bad, &[]);
    assert!(
        refused.is_err(),
        "another CA's certificate must fail the handshake: {refused:?}"
    );
}

#[test]
fn http_listener_redirects_or_routes_and_strips_identity_headers() {
    let backend = EchoBackend::start();
    let (redirect, plain) = (free_port(), free_port());
    let m = Manifests::new()
        .with(
            json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
            "metadata": {"name": "redirect", "namespace": "default"},
            "spec": {"protocol": "HTTP", "port": redirect, "redirectToHttpsPort": 8443}}),
        )
        .with(
            json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
            "metadata": {"name": "plain", "namespace": "default"},
            "spec": {"protocol": "HTTP", "port": plain,
                     "rules": [{"backend": {"service": "echo", "port": 80}}]}}),
        )
        .service("default", "echo", "127.0.0.1", backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[redirect, plain]);

    let (_, out, _) = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        "Host: shop.example",
        &format!("http://127.0.0.1:{redirect}/cart?id=1"),
    ]);
    assert!(out.starts_with("HTTP/1.1 308"), "{out}\n{}", gw.stderr());
    assert!(
        out.contains("location: https://shop.example:8443/cart?id=1"),
        "{out}"
    );

    let (_, body, _) = curl(&[
        "-H",
        "ssl-client-verify: SUCCESS",
        "-H",
        "X-ARR-ClientCert: forged",
        &format!("http://127.0.0.1:{plain}/x"),
    ]);
    assert!(body.contains("\"path\":\"/x\""), "{body}");
    assert!(
        !body.contains("ssl-client-verify") && !body.contains("forged"),
        "{body}"
    );
}

#[test]
fn ssl_policies_limit_versions_and_suites() {
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["strict.example", "custom.example", "ordered.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let profile = |name: &str, policy: serde_json::Value| {
        json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "SslProfile",
               "metadata": {"name": name, "namespace": "default"}, "spec": {"sslPolicy": policy}})
    };
    let m = Manifests::new()
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .with(profile("tls13", json!({"policyType": "Predefined", "policyName": "Tls13Only"})))
        .with(profile("custom", json!({"policyType": "Custom", "minProtocolVersion": "TLSv1_2",
                                       "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]})))
        .with(profile("ordered", json!({"policyType": "Custom", "minProtocolVersion": "TLSv1_3",
                                        "cipherSuites": ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]})))
        .https_listener("default/strict", port, "strict.example", Some("gw-tls"), Some("tls13"), "echo")
        .https_listener("default/custom", port, "custom.example", Some("gw-tls"), Some("custom"), "echo")
        .https_listener("default/ordered", port, "ordered.example", Some("gw-tls"), Some("ordered"), "echo")
        .service("default", "echo", "127.0.0.1", backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    let root = dir.path().join("server-root.pem");
    std::fs::write(&root, server_root.pem()).expect("write");
    let root = root.display().to_string();
    let run = |host: &str, extra: &[&str]| {
        let resolve = format!("{host}:{port}:127.0.0.1");
        let url = format!("https://{host}:{port}/");
        let mut args = vec!["-v", "--resolve", &resolve, "--cacert", &root];
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&args)
    };
    let (code, _, err) = run("strict.example", &["--tls-max", "1.2"]);
    assert_ne!(code, 0, "TLS 1.2 must be refused by Tls13Only:\n{err}");
    let (code, _, err) = run("strict.example", &[]);
    assert_eq!(code, 0, "{err}\n{}", gw.stderr());
    assert!(err.contains("TLSv1.3"), "{err}");
    let (code, _, err) = run("custom.example", &["--tls-max", "1.2"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("ECDHE-ECDSA-AES256-GCM-SHA384"),
        "the custom suite must be the one negotiated:\n{err}"
    );

    // The server's order decides, whatever the client prefers: AES-128-GCM first by default,
    // the listed order in a Custom policy.
    let (code, _, err) = run(
        "strict.example",
        &[
            "--tls13-ciphers",
            "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("TLSv1.3 / TLS_AES_128_GCM_SHA256"), "{err}");
    let (code, _, err) = run(
        "ordered.example",
        &[
            "--tls13-ciphers",
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("TLSv1.3 / TLS_AES_256_GCM_SHA384"), "{err}");
}
