//! Revocation with real CRLs (rcgen-signed, in the trust Secret's `ca.crl`) and real clients.

use std::time::Duration;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{assert_failure_policies, curl, curl_get_as, rustls_get_as};
use portcullis_tests::gateway::{KillOnDrop, Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf};
use serde_json::{Value, json};

fn profile(name: &str, secret: &str, policy: &str) -> Value {
    json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "SslProfile",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"clientAuthConfiguration": {
               "mode": "Required", "trustedClientCertificates": [{"name": secret}],
               "verifyClientRevocation": "CRL", "revocationFailurePolicy": policy}}})
}

/// Hosts: `crl.example` (current CRL, FailClosed), `stale-closed.example` and
/// `stale-open.example` (an expired CRL under each policy).
fn manifests(
    chain: &str,
    current_crl: &str,
    stale_crl: &str,
    server: &Leaf,
    port: u16,
    backend: u16,
) -> Manifests {
    Manifests::new()
        .ca_secret_with_crl(
            "default",
            "partner-ca",
            chain.as_bytes(),
            current_crl.as_bytes(),
        )
        .ca_secret_with_crl(
            "default",
            "stale-ca",
            chain.as_bytes(),
            stale_crl.as_bytes(),
        )
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .with(profile("current", "partner-ca", "FailClosed"))
        .with(profile("stale-closed", "stale-ca", "FailClosed"))
        .with(profile("stale-open", "stale-ca", "FailOpen"))
        .https_listener(
            "default/crl",
            port,
            "crl.example",
            Some("gw-tls"),
            Some("current"),
            "echo",
        )
        .https_listener(
            "default/stale-closed",
            port,
            "stale-closed.example",
            Some("gw-tls"),
            Some("stale-closed"),
            "echo",
        )
        .https_listener(
            "default/stale-open",
            port,
            "stale-open.example",
            Some("gw-tls"),
            Some("stale-open"),
            "echo",
        )
        .edit("Listener", "stale-open", |l| {
            l["spec"]["rules"][0]["requestHeaders"] = json!({"presets": ["NginxSslClient"]})
        })
        .service("default", "echo", "127.0.0.1", backend)
}

#[test]
fn crl_revokes_reloads_and_follows_the_failure_policy_when_stale() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let chain = format!("{}{}", root.pem(), int.pem());
    let (good, revoked, later) = (
        int.client("good"),
        int.client("stolen"),
        int.client("lost-later"),
    );
    let current = int.crl(&[&revoked], -1, 7);
    let stale = int.crl(&[], -10, -1);
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["crl.example", "stale-closed.example", "stale-open.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    manifests(&chain, &current, &stale, &server, port, backend.addr.port()).publish(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    let get = |host: &str, leaf: &Leaf| {
        rustls_get_as(port, host, "/", &server_root.pem(), leaf, &[&int])
            .unwrap_or_else(|e| panic!("{host}: {e}"))
    };

    assert_eq!(get("crl.example", &good).0, 200, "{}", gw.stderr());
    let (status, body) = get("crl.example", &revoked);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with(
            "400 Bad Request: client certificate refused: certificate revoked (keyCompromise) at "
        ),
        "{body}"
    );
    assert!(
        gw.stderr().contains("CRLExpired"),
        "translation warns about the stale CRL:\n{}",
        gw.stderr()
    );

    // Revoking another certificate is a Secret change: it applies without a restart.
    let updated = int.crl(&[&revoked, &later], -1, 7);
    assert_eq!(get("crl.example", &later).0, 200);
    manifests(&chain, &updated, &stale, &server, port, backend.addr.port()).publish(dir.path());
    assert!(
        Standalone::eventually(Duration::from_secs(2), || get("crl.example", &later).0
            == 400),
        "new CRL not applied within 2 s:\n{}",
        gw.stderr()
    );
    assert_eq!(get("crl.example", &good).0, 200);

    // An expired CRL: FailClosed refuses, FailOpen admits and says so.
    assert_failure_policies(
        get("stale-closed.example", &good),
        get("stale-open.example", &good),
        "CRL has expired",
    );

    assert!(
        gw.logged("\"sslClientVerify\":\"FAILED:certificate revoked (keyCompromise)"),
        "{}",
        gw.access_log()
    );
    assert!(
        gw.logged("\"sslClientVerify\":\"SUCCESS:revocation status unknown (CRL has expired)\""),
        "{}",
        gw.access_log()
    );
    let metrics = curl(&[&format!("http://{}/metrics", gw.admin)]).1;
    for reason in ["reason=\"Revoked\"", "reason=\"CRLExpired\""] {
        assert!(
            metrics.contains(reason),
            "{reason} missing from metrics:\n{metrics}"
        );
    }
}

/// With `fetchCrlDistributionPoints`, a CRL served at the certificate's distribution point
/// (by a real HTTP server, python's http.server) revokes it, without any `ca.crl`.
#[test]
fn crl_from_the_distribution_point_revokes() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let crl_port = free_port();
    let url = format!("http://127.0.0.1:{crl_port}/issuing.crl");
    let (good, revoked) = (
        int.client_with_crl_dp("good", &url),
        int.client_with_crl_dp("stolen", &url),
    );
    let site = tempfile::tempdir().expect("site");
    std::fs::write(site.path().join("issuing.crl"), int.crl(&[&revoked], -1, 7))
        .expect("write crl");
    let _http = KillOnDrop(
        std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &crl_port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(site.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 http.server"),
    );
    assert!(Standalone::eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", crl_port)).is_ok()
    }));

    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["crl.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .ca_secret(
            "default",
            "partner-ca",
            format!("{}{}", root.pem(), int.pem()).as_bytes(),
        )
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .with(profile("dp", "partner-ca", "FailClosed"))
        .edit("SslProfile", "dp", |p| {
            p["spec"]["clientAuthConfiguration"]["fetchCrlDistributionPoints"] = json!(true)
        })
        .https_listener(
            "default/crl",
            port,
            "crl.example",
            Some("gw-tls"),
            Some("dp"),
            "echo",
        )
        .service("default", "echo", "127.0.0.1", backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    let get = |leaf: &Leaf| {
        rustls_get_as(port, "crl.example", "/", &server_root.pem(), leaf, &[&int]).expect("request")
    };
    assert_eq!(get(&good).0, 200, "{}", gw.stderr());
    let (status, body) = get(&revoked);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("certificate revoked (keyCompromise)"),
        "{body}"
    );
    let metrics = curl(&[&format!("http://{}/metrics", gw.admin)]).1;
    assert!(
        metrics.contains("portcullis_crl_downloads_total{result=\"ok\"} 1"),
        "one download for both clients:\n{metrics}"
    );
}

/// With revocationScope: Chain, a revoked intermediate refuses its clients; with Leaf (the
/// default) only the client's own certificate is checked.
#[test]
fn chain_scope_checks_the_intermediate_too() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let client = int.client("device");
    // The root revoked the intermediate; the intermediate revoked nothing.
    let crls = format!("{}{}", root.crl_of_cas(&[&int], -1, 7), int.crl(&[], -1, 7));
    let chain = format!("{}{}", root.pem(), int.pem());
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["leaf.example", "chain.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .ca_secret_with_crl("default", "partner-ca", chain.as_bytes(), crls.as_bytes())
        .with(profile("leaf", "partner-ca", "FailClosed"))
        .with(profile("chain", "partner-ca", "FailClosed"))
        .chain_scope_listener(&server, port, backend.addr.port())
        .https_listener(
            "default/leaf",
            port,
            "leaf.example",
            Some("gw-tls"),
            Some("leaf"),
            "echo",
        );
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    let get = |host: &str| {
        rustls_get_as(port, host, "/", &server_root.pem(), &client, &[&int]).expect("request")
    };
    assert_eq!(get("leaf.example").0, 200, "{}", gw.stderr());
    let (status, body) = get("chain.example");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("certificate revoked (keyCompromise)"),
        "{body}"
    );
}

#[test]
fn chain_scope_checks_the_intermediate_the_verified_path_went_through() {
    // A root-only bundle whose CRL revokes the intermediate; the client sends a same-named
    // impostor (another key) before the real intermediate. webpki verifies the path through
    // the real one, and that one, not the first certificate with its name, is checked.
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let impostor = Ca::root("Forger Root").intermediate("Partner Issuing");
    let client = int.client("device");
    let crl = root.crl_of_cas(&[&int], -1, 7);
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["chain.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .ca_secret_with_crl(
            "default",
            "partner-ca",
            root.pem().as_bytes(),
            crl.as_bytes(),
        )
        // FailOpen: the leaf's own status is unknown (no CRL of the intermediate), and only
        // the intermediate's revocation can refuse it.
        .with(profile("chain", "partner-ca", "FailOpen"))
        .chain_scope_listener(&server, port, backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let _gw = Standalone::start(dir.path(), &[port]);
    for sent in [&[&impostor, &int][..], &[&int, &impostor][..], &[&int][..]] {
        let (status, body) = rustls_get_as(
            port,
            "chain.example",
            "/",
            &server_root.pem(),
            &client,
            sent,
        )
        .expect("request");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("certificate revoked"), "{body}");
        // curl (OpenSSL) sends them in the same order.
        let (status, body) = curl_get_as(
            port,
            "chain.example",
            "/",
            &server_root.pem(),
            &client,
            sent,
        );
        assert_eq!(status, 400, "curl: {body}");
        assert!(body.contains("certificate revoked"), "curl: {body}");
    }
}
