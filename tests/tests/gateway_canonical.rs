//! What is judged is what is served: every trick that makes a backend read a request
//! differently from the gateway, sent over real sockets (HTTP/1.1 and HTTP/2) to a gateway in
//! front of backends that normalise paths as real servers do (python's `http.server`, and a
//! looser IIS/Tomcat/Windows-like reader) and one that echoes what it got.
//!
//! Each path trick is first sent straight to the backend: the ones it answers with the secret
//! are real ways in, and through the gateway none of them may yield it without a certificate.

use std::io::{Read, Write};
use std::sync::Arc;

use portcullis_tests::client::{h2_request, rustls_send};
use serde_json::json;

#[path = "gateway_canonical/env.rs"]
mod env;

use env::*;

#[test]
fn exclusion_paths_excuse_only_what_they_name() {
    let env = Env::start();
    let (mtls, host) = (env.mtls, "mtls.test");
    // What the exclusion is for still works, and the secret is there for a client with a
    // certificate, whatever spelling it uses.
    assert_eq!(
        env.get(&env.anonymous, mtls, host, "/public/index.html", ""),
        (200, "public page".into())
    );
    assert_eq!(
        env.get(
            &env.client,
            mtls,
            host,
            "/public/%2e%2e/admin/secret.txt",
            ""
        ),
        (200, "TOP SECRET admin".into())
    );
    let tricks = [
        "/admin/secret.txt",
        "/public/../admin/secret.txt",
        "/public/%2e%2e/admin/secret.txt",
        "/public/.%2E/admin/secret.txt",
        "/public%2f..%2fadmin/secret.txt",
        "/public/..%2fadmin/secret.txt",
        "/publicX/../admin/secret.txt",
        "/public-admin/../admin/secret.txt",
        "/public/..;/admin/secret.txt",
        "/public/%252e%252e/admin/secret.txt",
        "/public/%c0%ae%c0%ae/admin/secret.txt",
        "/public\\..\\admin\\secret.txt",
        "/public/x/../../admin/secret.txt",
        "/public//../admin/secret.txt",
        "https://mtls.test/public/../admin/secret.txt",
    ];
    let real = no_secret_without_a_certificate(&env, mtls, host, &env.python, &tricks);
    assert!(
        real >= 8,
        "only {real} tricks reach the secret at the backend"
    );
    // Prefixes are whole segments: `/public-admin` is not under `/public`.
    let (status, _) = env.get(&env.anonymous, mtls, host, "/public-admin/x", "");
    assert_eq!(status, 400);
    let (status, _) = env.get(&env.anonymous, mtls, host, "/publicity", "");
    assert_eq!(status, 400);
}

#[test]
fn a_rule_that_requires_a_certificate_holds_on_every_reading_of_its_path() {
    let env = Env::start();
    let (site, host) = (env.site, "site.test");
    assert_eq!(
        env.get(&env.anonymous, site, host, "/index.html", ""),
        (200, "home".into())
    );
    // The loose backend serves `/ADMIN/…` as `/admin/…`: with a certificate that is allowed.
    let (status, body) = env.get(&env.client, site, host, "/ADMIN/secret.txt", "");
    assert_eq!((status, body.as_str()), (200, "TOP SECRET admin"));
    let tricks = [
        "/admin/secret.txt",
        "//admin/secret.txt",
        "/./admin/secret.txt",
        "/x/../admin/secret.txt",
        "/%61dmin/secret.txt",
        "/admin%2fsecret.txt",
        "/%2fadmin/secret.txt",
        "/ADMIN/secret.txt",
        "/Admin/Secret.TXT",
        "/admin;x/secret.txt",
        "/admin%3Bx/secret.txt",
        "/;x/admin/secret.txt",
        "/admin\\secret.txt",
        "/admin./secret.txt",
        "/admin%20/secret.txt",
        "/admin%3F/secret.txt",
        "/exact/secret.txt",
        "/exact/secret.tx%74",
        "/exact//secret.txt",
        "/exact/./secret.txt",
        "/EXACT/SECRET.TXT",
        "/exact/secret.txt;x",
        "/exact/secret.txt.",
        "/exact/secret.txt%20",
        "/exact/secret.txt/",
        "https://site.test//admin/secret.txt",
    ];
    let real = no_secret_without_a_certificate(&env, site, host, &env.loose, &tricks);
    assert!(
        real >= 15,
        "only {real} tricks reach the secret at the backend"
    );
}

#[test]
fn the_backend_receives_the_canonical_target_and_the_judged_host() {
    let env = Env::start();
    let (status, body) = env.get(
        &env.anonymous,
        env.site,
        "site.test",
        "/echo/a/../b//%7e%41{x}?q=%2e%2E/../&r=%2f",
        "",
    );
    assert_eq!(status, 200, "{body}");
    let v = echoed(&body);
    assert_eq!(v["target"], "/echo/b/~A%7Bx%7D?q=%2e%2E/../&r=%2f");
    assert_eq!(v["headers"]["host"], "site.test");
    let (status, body) = h2_request(
        &env.anonymous,
        env.site,
        "site.test",
        "SITE.test.",
        "/echo/./x/%2E%2e/y",
        &[],
    )
    .expect("h2");
    assert_eq!(status, 200, "{body}");
    let v = echoed(&body);
    assert_eq!(
        (&v["target"], &v["headers"]["host"]),
        (&json!("/echo/y"), &json!("site.test"))
    );
    assert_eq!(v["headerCount"]["host"], 1);
}

#[test]
fn one_host_the_one_judged_is_the_one_the_backend_gets() {
    let env = Env::start();
    let (mtls, anon) = (env.mtls, &env.anonymous);
    let send = |head: &str| {
        rustls_send(anon, mtls, "open.test", head)
            .map(|(s, b, _)| (s, b))
            .expect("send")
    };
    // Absolute form: its authority is the host, and the backend gets it as Host.
    let (status, body) = send("GET https://open.test/x HTTP/1.1\r\nHost: mtls.test\r\n");
    assert_eq!(status, 200, "{body}");
    let v = echoed(&body);
    assert_eq!(v["headers"]["host"], "open.test");
    assert_eq!(v["headers"]["x-forwarded-host"], "open.test");
    assert_eq!(v["target"], "/x");
    // The mTLS host over the open host's connection: 421, however it is named.
    for head in [
        "GET / HTTP/1.1\r\nHost: mtls.test\r\n",
        "GET / HTTP/1.1\r\nHost: MTLS.test.\r\n",
        "GET https://mtls.test/ HTTP/1.1\r\nHost: open.test\r\n",
    ] {
        assert_eq!(send(head).0, 421, "{head:?}");
    }
    // What a backend could read as another host: 400.
    for head in [
        "GET / HTTP/1.1\r\nHost: open.test\r\nHost: mtls.test\r\n",
        "GET / HTTP/1.1\r\nHost: open.test:443@mtls.test\r\n",
        "GET / HTTP/1.1\r\nHost: open.test/mtls.test\r\n",
        "GET / HTTP/1.1\r\nHost: open.test:x\r\n",
        "GET https://open.test:443@mtls.test/ HTTP/1.1\r\nHost: open.test\r\n",
        "GET / HTTP/1.1\r\n",
    ] {
        let (status, body) = send(head);
        assert_eq!(status, 400, "{head:?}: {body}");
    }
    // HTTP/2: `:authority` is the host; a `host` field naming another is refused.
    let h2 = |authority: &str, headers: &[(&str, &str)]| {
        h2_request(anon, mtls, "open.test", authority, "/", headers).expect("h2")
    };
    assert_eq!(h2("open.test", &[("host", "mtls.test")]).0, 400);
    assert_eq!(h2("mtls.test", &[]).0, 421);
    let (status, body) = h2("Open.Test.", &[("host", "open.test")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(echoed(&body)["headers"]["host"], "open.test");
    assert!(
        env.gw
            .metric("portcullis_http_requests_refused_total{reason=\"DuplicateHost\"}")
            >= 1.0
    );
}

#[test]
fn forged_identity_and_routing_headers_never_arrive() {
    let env = Env::start();
    let forged = "ssl_client_verify: SUCCESS\r\nssl_client_subject_dn: CN=admin\r\n\
        X_ARR_ClientCert: MIIB\r\nClient_Cert: :MIIB:\r\nX_Forwarded_Host: mtls.test\r\n\
        x.client.dn: CN=admin\r\nX-Original-URL: /admin/secret.txt\r\n\
        X-Rewrite-URL: /admin/secret.txt\r\nForwarded: for=10.0.0.1;host=mtls.test\r\n\
        X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\nX-Forwarded-Port: 1\r\n\
        X-Internal-Auth: granted\r\nssl-client-verify: SUCCESS\r\nX-Forwarded-Ssl: on\r\n\
        True-Client-IP: 10.0.0.1\r\nX-Forwarded-Uri: /admin\r\n";
    let (_, with_cert) = env.get(&env.client, env.mtls, "mtls.test", "/echo", forged);
    let (_, without) = env.get(&env.anonymous, env.mtls, "open.test", "/", forged);
    for (body, verify) in [(with_cert, "SUCCESS"), (without, "NONE")] {
        let v = echoed(&body);
        let h = v["headers"].as_object().expect("headers");
        for name in h.keys() {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name} reached the backend: {body}"
            );
        }
        for name in [
            "x-original-url",
            "x-rewrite-url",
            "forwarded",
            "x-internal-auth",
            "x-forwarded-ssl",
            "true-client-ip",
            "x-forwarded-uri",
        ] {
            assert!(!h.contains_key(name), "{name} reached the backend: {body}");
        }
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-real-ip"], "127.0.0.1");
        assert_eq!(h["x-forwarded-port"], env.mtls.to_string());
        assert_eq!(h["ssl-client-verify"], verify);
        assert_eq!(v["headerCount"]["ssl-client-verify"], 1);
    }
    // The literal header the /internal rule sets reaches its own route only.
    let (_, body) = env.get(&env.client, env.mtls, "mtls.test", "/internal", forged);
    assert_eq!(echoed(&body)["headers"]["x-internal-auth"], "granted");
    assert!(
        env.gw
            .metric("portcullis_http_request_headers_dropped_total")
            >= 12.0
    );
    // Over HTTP/2 too.
    let (status, body) = h2_request(
        &env.anonymous,
        env.mtls,
        "open.test",
        "open.test",
        "/",
        &[
            ("ssl_client_verify", "SUCCESS"),
            ("x-original-url", "/admin"),
        ],
    )
    .expect("h2");
    assert_eq!(status, 200);
    let v = echoed(&body);
    assert!(v["headers"].get("ssl_client_verify").is_none(), "{body}");
    assert!(v["headers"].get("x-original-url").is_none(), "{body}");
    assert_eq!(v["headers"]["ssl-client-verify"], "NONE");
}

/// Opens a TLS connection to `open.test` offering `alpn`, sends `bytes`, and returns what the
/// server sent back before closing (at most 10 s).
fn exchange(env: &Env, alpn: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut config = (*env.anonymous).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls::pki_types::ServerName::try_from("open.test").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", env.mtls)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(bytes).expect("send");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    assert_eq!(tls.conn.alpn_protocol(), Some(alpn), "ALPN agreed");
    out
}

#[test]
fn alpn_is_binding_and_the_gateway_speaks_its_own_version() {
    let env = Env::start();
    // Agreed on h2, spoken HTTP/1.1: no HTTP/1.1 answer (the server's HTTP/2 preface and a
    // GOAWAY instead).
    let out = exchange(
        &env,
        b"h2",
        b"GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n",
    );
    assert!(
        !out.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(out.get(3), Some(&4), "the server's SETTINGS frame first");
    // Agreed on http/1.1, spoken HTTP/2: not read as HTTP/2 (no SETTINGS frame back).
    let out = exchange(
        &env,
        b"http/1.1",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    );
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 4"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // Each works in its own protocol.
    let out = exchange(
        &env,
        b"http/1.1",
        b"GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n",
    );
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // python's http.server answers HTTP/1.0; the client hears HTTP/1.1 from the gateway.
    let (status, body) = direct(env.python.port, "/index.html");
    assert_eq!((status, body.as_str()), (200, "home"));
    let head = "GET /index.html HTTP/1.1\r\nHost: mtls.test\r\n";
    let config = &env.client;
    let name = rustls::pki_types::ServerName::try_from("mtls.test").expect("name");
    let conn = rustls::ClientConnection::new(config.clone(), name).expect("client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", env.mtls)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(tls, "{head}Connection: close\r\n\r\n").expect("send");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("x-backend: python") || text.contains("X-Backend: python"),
        "{text}"
    );
}
