//! The gateway and backends of the canonical-reading tests, and how they are asked.

use std::io::{Read, Write};
use std::sync::Arc;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{Identity, h2_request, rustls_config, rustls_send};
use portcullis_tests::file_backend::{FileBackend, Normalises};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::{Value, json};

pub const SECRET: &str = "TOP SECRET";

/// One gateway, two HTTPS ports:
/// - `mtls`: `mtls.test` (Required, `/public` excluded; `/echo` and `/internal` to the echo
///   backend, the rest to python's file server) and `open.test` (no client certificate, echo);
/// - `site`: `site.test` (Optional; `/admin` and Exact `/exact/secret.txt` require a
///   certificate and go to python's file server, `/echo` to the echo backend, the rest to
///   the loose file server).
pub struct Env {
    pub mtls: u16,
    pub site: u16,
    pub python: FileBackend,
    pub loose: FileBackend,
    pub anonymous: Arc<rustls::ClientConfig>,
    pub client: Arc<rustls::ClientConfig>,
    pub gw: Standalone,
    pub _echo: EchoBackend,
    pub _dirs: [tempfile::TempDir; 2],
}

impl Env {
    pub fn start() -> Self {
        let root = Ca::root("Device Root");
        let leaf = root.client("device-1");
        let server_root = Ca::root("Server Root");
        let server = server_root.server(&["mtls.test", "open.test", "site.test"]);
        let files = tempfile::tempdir().expect("site dir");
        for (path, text) in [
            ("index.html", "home"),
            ("public/index.html", "public page"),
            ("admin/secret.txt", "TOP SECRET admin"),
            ("exact/secret.txt", "TOP SECRET exact"),
        ] {
            let p = files.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write file");
        }
        let python = FileBackend::start(files.path(), Normalises::Python);
        let loose = FileBackend::start(files.path(), Normalises::Loose);
        let echo = EchoBackend::start();
        let (mtls, site) = (free_port(), free_port());
        let rule = |path: Value, service: &str, extra: Value| {
            let mut r =
                json!({"matches": [{"path": path}], "backend": {"service": service, "port": 80}});
            if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
                r.extend(extra.clone());
            }
            r
        };
        let prefix = |p: &str| json!({"type": "PathPrefix", "value": p});
        let nginx = json!({"requestHeaders": {"presets": ["NginxSslClient"]}});
        let m = Manifests::new()
            .ca_secret("default", "device-ca", root.pem().as_bytes())
            .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
            .client_auth("required", json!({"mode": "Required",
                "trustedClientCertificates": [{"name": "device-ca"}], "exclusionPaths": ["/public"]}))
            .client_auth("optional", json!({"mode": "Optional",
                "trustedClientCertificates": [{"name": "device-ca"}]}))
            .https_rules("mtls", mtls, "mtls.test", Some("required"), json!([
                rule(prefix("/echo"), "echo", nginx.clone()),
                rule(prefix("/internal"), "echo", json!({"requestHeaders": {"set": [
                    {"name": "X-Internal-Auth", "value": "granted"}]}})),
                rule(prefix("/"), "python", json!({})),
            ]))
            .https_rules("open", mtls, "open.test", None, json!([rule(prefix("/"), "echo", nginx)]))
            .https_rules("site", site, "site.test", Some("optional"), json!([
                rule(prefix("/admin"), "python", json!({"requireClientCertificate": true})),
                rule(json!({"type": "Exact", "value": "/exact/secret.txt"}), "python",
                     json!({"requireClientCertificate": true})),
                rule(prefix("/echo"), "echo", json!({})),
                rule(prefix("/"), "loose", json!({})),
            ]))
            .service("default", "echo", "127.0.0.1", echo.addr.port())
            .service("default", "python", "127.0.0.1", python.port)
            .service("default", "loose", "127.0.0.1", loose.port);
        let dir = tempfile::tempdir().expect("manifest dir");
        m.write(dir.path());
        let gw = Standalone::start(dir.path(), &[mtls, site]);
        let server_pem = server_root.pem();
        let (chain, key) = (leaf.pem(), leaf.key_pem().to_owned());
        Self {
            mtls,
            site,
            python,
            loose,
            anonymous: rustls_config(&server_pem, None).expect("client config"),
            client: rustls_config(
                &server_pem,
                Some(Identity {
                    chain_pem: &chain,
                    key_pem: &key,
                }),
            )
            .expect("client config"),
            gw,
            _echo: echo,
            _dirs: [files, dir],
        }
    }

    /// `GET target` over HTTP/1.1 on `port` with SNI and `Host` `host`, and `headers`.
    pub fn get(
        &self,
        config: &Arc<rustls::ClientConfig>,
        port: u16,
        host: &str,
        target: &str,
        headers: &str,
    ) -> (u16, String) {
        let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}");
        rustls_send(config, port, host, &head)
            .map(|(status, body, _)| (status, body))
            .unwrap_or_else(|e| panic!("GET {target}: {e}"))
    }
}

/// A raw HTTP/1.1 request straight to a backend on 127.0.0.1: (status, body).
pub fn direct(port: u16, target: &str) -> (u16, String) {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect backend");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        tcp,
        "GET {target} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    let _ = tcp.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn echoed(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("echo JSON expected ({e}): {body}"))
}

/// Sends each trick to `backend` directly, then through the gateway without a certificate
/// (HTTP/1.1, and HTTP/2 where `:path` can carry it): the tricks the backend answers with the
/// secret must not yield it through the gateway, which refuses each with 400. Returns how
/// many were real ways in.
pub fn no_secret_without_a_certificate(
    env: &Env,
    port: u16,
    host: &str,
    backend: &FileBackend,
    tricks: &[&str],
) -> usize {
    let (mut real, mut over_h2) = (0, 0);
    for trick in tricks {
        let (status, body) = direct(backend.port, trick);
        if status == 200 && body.contains(SECRET) {
            real += 1;
        }
        let (status, body) = env.get(&env.anonymous, port, host, trick, "");
        assert!(
            status == 400 && !body.contains(SECRET),
            "{trick} over HTTP/1.1: {status} {body}"
        );
        // A path the HTTP/2 client cannot send, or that the server resets, yields nothing.
        if let Ok((status, body)) = h2_request(&env.anonymous, port, host, host, trick, &[]) {
            assert!(
                status == 400 && !body.contains(SECRET),
                "{trick} over HTTP/2: {status} {body}"
            );
            over_h2 += 1;
        }
    }
    assert!(
        over_h2 * 3 >= tricks.len() * 2,
        "only {over_h2} of {} tricks were answered over HTTP/2",
        tricks.len()
    );
    real
}
