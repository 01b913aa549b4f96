//! OCSP for client certificates against a real `openssl ocsp` responder, with real clients:
//! good, revoked, a cold cache that waits instead of failing, one request per certificate
//! however many handshakes, and both failure policies when the responder is gone.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{assert_failure_policies, curl, curl_get_as, rustls_get_as};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::ocsp_responder::{Entry, OcspResponder};
use portcullis_tests::pki::{Ca, Leaf};
use serde_json::{Value, json};

fn profile(name: &str, policy: &str) -> Value {
    json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "SslProfile",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"clientAuthConfiguration": {
               "mode": "Required", "trustedClientCertificates": [{"name": "partner-ca"}],
               "verifyClientRevocation": "OCSP", "revocationFailurePolicy": policy}}})
}

/// A gateway with `closed.example` (OCSP, FailClosed) and `open.example` (OCSP, FailOpen, with
/// the ingress-nginx headers) trusting `root` → `int`. Returns the gateway, its port, the root
/// of its server certificate and the directory it serves.
fn ocsp_gateway(root: &Ca, int: &Ca) -> (Standalone, u16, Ca, tempfile::TempDir) {
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["closed.example", "open.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .ca_secret(
            "default",
            "partner-ca",
            format!("{}{}", root.pem(), int.pem()).as_bytes(),
        )
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .with(profile("closed", "FailClosed"))
        .with(profile("open", "FailOpen"))
        .https_listener(
            "default/closed",
            port,
            "closed.example",
            Some("gw-tls"),
            Some("closed"),
            "echo",
        )
        .https_listener(
            "default/open",
            port,
            "open.example",
            Some("gw-tls"),
            Some("open"),
            "echo",
        )
        .edit("Listener", "open", |l| {
            l["spec"]["rules"][0]["requestHeaders"] = json!({"presets": ["NginxSslClient"]})
        })
        .service("default", "echo", "127.0.0.1", backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    (gw, port, server_root, dir)
}

#[test]
fn ocsp_checks_cache_single_flight_and_failure_policies() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let ocsp_port = free_port();
    let url = format!("http://127.0.0.1:{ocsp_port}/");
    let (good, revoked, burst, orphan) = (
        int.client_with_ocsp("good", &url),
        int.client_with_ocsp("stolen", &url),
        int.client_with_ocsp("burst", &url),
        int.client_with_ocsp("late", &url),
    );
    let signer = int.ocsp_responder("Partner OCSP Responder");
    let mut responder = OcspResponder::start(
        &int,
        &signer,
        &[
            Entry::Good(&good),
            Entry::Revoked(&revoked),
            Entry::Good(&burst),
            Entry::Good(&orphan),
        ],
        ocsp_port,
    );

    let (gw, port, server_root, _dir) = ocsp_gateway(&root, &int);
    let root_pem = server_root.pem();
    let get = |host: &str, leaf: &Leaf| {
        rustls_get_as(port, host, "/", &root_pem, leaf, &[&int])
            .unwrap_or_else(|e| panic!("{host}: {e}"))
    };

    // Cold cache: the first request waits for the responder and succeeds.
    let (status, body) = get("closed.example", &good);
    assert_eq!(status, 200, "{body}\n{}", responder.log());
    let (status, body) = get("closed.example", &revoked);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with(
            "400 Bad Request: client certificate refused: certificate revoked (keyCompromise) at "
        ),
        "{body}"
    );

    // 1,000 requests on new connections within one nextUpdate window: at most 2 OCSP requests.
    for i in 0..1000 {
        assert_eq!(get("closed.example", &good).0, 200, "request {i}");
    }
    let asked = responder.requests_for(&good);
    assert!(
        (1..=2).contains(&asked),
        "{asked} OCSP requests for 1,001 handshakes"
    );

    // 50 concurrent handshakes with a cold cache: one request.
    let barrier = Arc::new(Barrier::new(50));
    std::thread::scope(|s| {
        for _ in 0..50 {
            let barrier = barrier.clone();
            let get = &get;
            let burst = &burst;
            s.spawn(move || {
                barrier.wait();
                assert_eq!(get("closed.example", burst).0, 200);
            });
        }
    });
    assert_eq!(responder.requests_for(&burst), 1, "single flight");

    // The responder goes away: FailClosed refuses, FailOpen admits and says so.
    responder.stop();
    assert_failure_policies(
        get("closed.example", &orphan),
        get("open.example", &orphan),
        "OCSP responder unreachable",
    );
    // Cached answers keep serving while the responder is down.
    assert_eq!(get("closed.example", &good).0, 200);

    for needle in [
        "FAILED:certificate revoked (keyCompromise)",
        "FAILED:OCSP responder unreachable",
    ] {
        assert!(gw.logged(needle), "{needle}: {}", gw.access_log());
    }
    let metrics = curl(&[&format!("http://{}/metrics", gw.admin)]).1;
    for line in [
        "portcullis_ocsp_requests_total{result=\"good\"}",
        "portcullis_ocsp_requests_total{result=\"revoked\"} 1",
        "portcullis_ocsp_requests_total{result=\"unreachable\"} 1",
        "reason=\"OCSPUnreachable\"",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let hits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_ocsp_cache_lookups_total{result=\"hit\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(hits >= 1000, "cache hits: {hits}");
}

/// A response signed by a certificate the issuer did not authorize for OCSP (no OCSPSigning
/// EKU) is not believed, whatever it says.
#[test]
fn responses_from_an_unauthorized_signer_are_refused() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let ocsp_port = free_port();
    let url = format!("http://127.0.0.1:{ocsp_port}/");
    let good = int.client_with_ocsp("good", &url);
    let impostor = int.client("not-a-responder");
    let _responder = OcspResponder::start(&int, &impostor, &[Entry::Good(&good)], ocsp_port);
    let (_gw, port, server_root, _dir) = ocsp_gateway(&root, &int);
    let (status, body) = rustls_get_as(
        port,
        "closed.example",
        "/",
        &server_root.pem(),
        &good,
        &[&int],
    )
    .expect("request");
    assert_eq!(
        (status, body.trim()),
        (
            400,
            "400 Bad Request: client certificate refused: invalid OCSP response"
        )
    );
}

/// The OCSP request names the issuer by the hash of its key, so the issuer must be the CA that
/// signed the certificate. A client that also sends an unrelated CA with its issuer's name (a
/// different key) still gets its real issuer asked about: the name alone would pick the
/// impostor, and the responder would not know the certificate.
#[test]
fn a_same_named_ca_sent_by_the_client_does_not_change_whose_status_is_asked() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let impostor = Ca::root("Partner Root").intermediate("Partner Issuing");
    let ocsp_port = free_port();
    let url = format!("http://127.0.0.1:{ocsp_port}/");
    let good = int.client_with_ocsp("good", &url);
    let responder = OcspResponder::start(
        &int,
        &int.ocsp_responder("responder"),
        &[Entry::Good(&good)],
        ocsp_port,
    );
    let (_gw, port, server_root, _dir) = ocsp_gateway(&root, &int);
    for sent in [
        vec![&impostor],
        vec![&impostor, &int],
        vec![&int, &impostor],
    ] {
        let (status, body) = rustls_get_as(
            port,
            "closed.example",
            "/",
            &server_root.pem(),
            &good,
            &sent,
        )
        .expect("request");
        assert_eq!(status, 200, "{}: {body}", sent.len());
    }
    assert_eq!(responder.requests_for(&good), 1, "asked once, then cached");
}

/// The gateway staples a good OCSP response to its own certificate for clients that ask.
#[test]
fn server_certificate_is_stapled() {
    let server_root = Ca::root("Server Root");
    let server_int = server_root.intermediate("Server Issuing");
    let ocsp_port = free_port();
    let server = server_int.server_with_ocsp(
        &["stapled.example"],
        &format!("http://127.0.0.1:{ocsp_port}/"),
    );
    let signer = server_int.ocsp_responder("Server OCSP Responder");
    let responder = OcspResponder::start(&server_int, &signer, &[Entry::Good(&server)], ocsp_port);
    let backend = EchoBackend::start();
    let port = free_port();
    let chain = format!("{}{}", server.pem(), server_int.pem());
    let m = Manifests::new()
        .tls_secret("default", "gw-tls", &chain, server.key_pem())
        .https_listener(
            "default/stapled",
            port,
            "stapled.example",
            Some("gw-tls"),
            None,
            "echo",
        )
        .service("default", "echo", "127.0.0.1", backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    let s_client = || {
        let out = std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-servername",
                "stapled.example",
                "-status",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stapled = Standalone::eventually(std::time::Duration::from_secs(10), || {
        s_client().contains("OCSP Response Status: successful")
    });
    assert!(
        stapled,
        "no staple:\n{}\n{}\n{}",
        s_client(),
        gw.stderr(),
        responder.log()
    );
    let out = s_client();
    assert!(out.contains("Cert Status: good"), "{out}");
    assert!(responder.requests_for(&server) >= 1);
}

/// A fake OCSP responder on 127.0.0.1 for `limit`: `answer` is what it writes after reading a
/// request (`None`: it reads and then holds the connection, never answering). Returns its URL.
fn fake_responder(answer: Option<Vec<u8>>, limit: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        let mut held = Vec::new();
        while Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            match &answer {
                Some(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(body);
                }
                None => held.push(stream),
            }
        }
    });
    url
}

/// A responder that accepts and never answers is given up on after the fetch timeout (5 s),
/// and one that answers garbage is not believed; each failure policy then decides.
#[test]
fn hung_and_garbage_responders_are_bounded_and_judged_by_the_policy() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let hung = int.client_with_ocsp("hung", &fake_responder(None, Duration::from_secs(90)));
    let junk = int.client_with_ocsp(
        "junk",
        &fake_responder(
            Some(b"\x30\x03\x0a\x01\x00garbage".to_vec()),
            Duration::from_secs(90),
        ),
    );
    let (_gw, port, server_root, _dir) = ocsp_gateway(&root, &int);
    let get = |host: &str, leaf: &Leaf| {
        rustls_get_as(port, host, "/", &server_root.pem(), leaf, &[&int]).expect("request")
    };

    let started = Instant::now();
    let closed = get("closed.example", &hung);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(9),
        "a hung responder held the request {waited:?}"
    );
    assert_failure_policies(
        closed,
        get("open.example", &hung),
        "OCSP responder unreachable",
    );
    assert_failure_policies(
        get("closed.example", &junk),
        get("open.example", &junk),
        "invalid OCSP response",
    );
}

#[test]
fn chain_scope_asks_about_the_intermediate_the_verified_path_went_through() {
    // A root-only bundle; the root's responder says the intermediate is revoked; the client
    // sends a same-named impostor (another key) with, or before, the real intermediate. The
    // status asked is that of the intermediate on the path webpki verified, from its issuer.
    let root = Ca::root("Partner Root");
    let (leaf_port, int_port) = (free_port(), free_port());
    let int =
        root.intermediate_with_ocsp("Partner Issuing", &format!("http://127.0.0.1:{int_port}/"));
    let impostor = Ca::root("Forger Root").intermediate("Partner Issuing");
    let good = int.client_with_ocsp("good", &format!("http://127.0.0.1:{leaf_port}/"));
    let _leaf_responder = OcspResponder::start(
        &int,
        &int.ocsp_responder("leaf responder"),
        &[Entry::Good(&good)],
        leaf_port,
    );
    let _int_responder = OcspResponder::start(
        &root,
        &root.ocsp_responder("intermediate responder"),
        &[Entry::RevokedCa(&int)],
        int_port,
    );
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["chain.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .ca_secret("default", "partner-ca", root.pem().as_bytes())
        // FailOpen: a status that cannot be had admits; only the revocation refuses.
        .with(profile("chain", "FailOpen"))
        .chain_scope_listener(&server, port, backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    for sent in [vec![&impostor, &int], vec![&int, &impostor], vec![&int]] {
        let (status, body) =
            rustls_get_as(port, "chain.example", "/", &server_root.pem(), &good, &sent)
                .expect("request");
        assert_eq!(status, 400, "{}: {body}\n{}", sent.len(), gw.stderr());
        assert!(body.contains("certificate revoked"), "{body}");
        // curl (OpenSSL) sends them in the same order.
        let (status, body) =
            curl_get_as(port, "chain.example", "/", &server_root.pem(), &good, &sent);
        assert_eq!(status, 400, "curl: {body}");
        assert!(body.contains("certificate revoked"), "curl: {body}");
    }
}
