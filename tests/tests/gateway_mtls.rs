//! `portcullis run` with real clients (curl and rustls) over real sockets: who gets in, what
//! the refused are told, what the backend learns, and what it never sees.

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{Identity, curl, rustls_get, rustls_get_as};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf, rfc4514};
use serde_json::{Value, json};

/// A gateway with three hostnames on one HTTPS port: `secure.example` (Required, issuer DN
/// pinned, `/public` excluded), `pass.example` (Passthrough) and `open.example` (no mTLS).
struct Env {
    root: Ca,
    int: Ca,
    server_root: Ca,
    port: u16,
    gw: Standalone,
    _dir: tempfile::TempDir,
}

impl Env {
    fn start() -> Self {
        let root = Ca::root("Partner Root");
        let int = root.intermediate("Partner Issuing");
        let server_root = Ca::root("Server Root");
        let server = server_root.server(&[
            "secure.example",
            "pass.example",
            "open.example",
            "opt.example",
        ]);
        let backend = EchoBackend::start();
        let port = free_port();
        let rules = |headers: Value| json!([{"backend": {"service": "echo", "port": 80}, "requestHeaders": headers}]);
        let m = Manifests::new()
            .ca_secret("default", "partner-ca", format!("{}{}", root.pem(), int.pem()).as_bytes())
            .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
            .client_auth("secure", json!({
                "mode": "Required", "trustedClientCertificates": [{"name": "partner-ca"}],
                "verifyClientCertIssuerDN": true, "exclusionPaths": ["/public"]}))
            .client_auth("pass", json!({"mode": "Passthrough", "trustedClientCertificates": [{"name": "partner-ca"}]}))
            .https_rules("secure", port, "secure.example", Some("secure"), rules(json!({
                "presets": ["ArrClientCert", "NginxSslClient", "EnvoyXfcc", "Rfc9440ClientCert"],
                "set": [{"name": "X-Client-Subject", "value": "{var_client_certificate_subject}"},
                        {"name": "X-Client-Verify", "value": "{var_client_certificate_verification}"}]})))
            .https_rules("pass", port, "pass.example", Some("pass"), rules(json!({"presets": ["NginxSslClient"]})))
            .https_rules("open", port, "open.example", None, rules(json!({})))
            .client_auth("opt", json!({"mode": "Optional", "trustedClientCertificates": [{"name": "partner-ca"}]}))
            .https_rules("opt", port, "opt.example", Some("opt"), rules(json!({"presets": ["NginxSslClient"]})))
            .service("default", "echo", "127.0.0.1", backend.addr.port());
        let dir = tempfile::tempdir().expect("manifest dir");
        m.write(dir.path());
        let gw = Standalone::start(dir.path(), &[port]);
        Self {
            root,
            int,
            server_root,
            port,
            gw,
            _dir: dir,
        }
    }

    /// `curl https://<host>:<port><path>` resolved to 127.0.0.1, trusting the server root.
    fn curl(&self, host: &str, path: &str, extra: &[&str], files: &Files) -> (i32, String, String) {
        let resolve = format!("{host}:{}:127.0.0.1", self.port);
        let url = format!("https://{host}:{}{path}", self.port);
        let mut args = vec![
            "--resolve",
            resolve.as_str(),
            "--cacert",
            files.server_root.as_str(),
            "-w",
            "\n%{http_code} %{http_version}",
        ];
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&args)
    }
}

/// PEM files for curl.
struct Files {
    _dir: tempfile::TempDir,
    server_root: String,
    chain: String,
    key: String,
}

fn files(env: &Env, leaf: &Leaf) -> Files {
    let dir = tempfile::tempdir().expect("pem dir");
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write pem");
        p.display().to_string()
    };
    Files {
        server_root: write("server-root.pem", env.server_root.pem()),
        chain: write("chain.pem", format!("{}{}", leaf.pem(), env.int.pem())),
        key: write("key.pem", leaf.key_pem().to_owned()),
        _dir: dir,
    }
}

/// Splits curl's output into the body and the `code version` line.
fn status(out: &str) -> (&str, &str) {
    out.rsplit_once('\n').unwrap_or((out, ""))
}

fn headers(body: &str) -> serde_json::Map<String, Value> {
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("backend JSON expected ({e}): {body}"));
    v["headers"].as_object().cloned().expect("headers")
}

#[test]
fn valid_chain_gets_through_with_identity_headers() {
    let env = Env::start();
    let leaf = env.int.client("device-1");
    let f = files(&env, &leaf);
    let (code, out, err) = env.curl(
        "secure.example",
        "/api",
        &["--cert", &f.chain, "--key", &f.key],
        &f,
    );
    let (body, line) = status(&out);
    assert_eq!(code, 0, "{err}\n{}", env.gw.stderr());
    assert!(line.starts_with("200"), "{out}");
    let h = headers(body);
    assert_eq!(h["ssl-client-verify"], "SUCCESS");
    assert_eq!(h["x-client-verify"], "SUCCESS");
    assert_eq!(h["x-client-subject"], rfc4514("device-1").as_str());
    assert_eq!(
        h["ssl-client-issuer-dn"],
        rfc4514("Partner Issuing").as_str()
    );
    let der_b64 = h["x-arr-clientcert"].as_str().expect("X-ARR-ClientCert");
    assert_eq!(
        h["client-cert"],
        format!(":{der_b64}:").as_str(),
        "RFC 9440 Client-Cert is the same DER"
    );
    assert!(
        h["client-cert-chain"]
            .as_str()
            .is_some_and(|c| c.starts_with(':')),
        "{h:?}"
    );
    assert!(
        h["x-forwarded-client-cert"]
            .as_str()
            .is_some_and(|x| x.starts_with("Hash=") && x.contains("Subject=\"CN=device-1")),
        "{h:?}"
    );
    assert!(
        h["ssl-client-cert"]
            .as_str()
            .is_some_and(|c| c.starts_with("-----BEGIN%20CERTIFICATE-----")),
        "{h:?}"
    );

    // The same through an in-process rustls client presenting leaf + intermediate.
    let (status, body) = rustls_get_as(
        env.port,
        "secure.example",
        "/api",
        &env.server_root.pem(),
        &leaf,
        &[&env.int],
    )
    .expect("rustls request");
    assert_eq!(status, 200, "{body}");
    assert!(
        env.gw.logged("\"sslClientVerify\":\"SUCCESS\""),
        "{}",
        env.gw.access_log()
    );
}

#[test]
fn refused_clients_get_400_with_their_reason() {
    let env = Env::start();
    let other = Ca::root("Other Root").intermediate("Other Issuing");
    let sibling = env.root.intermediate("Partner Sibling");
    let expired = env.int.client_valid("old-device", -30, -1);
    let server_eku = env.int.server(&["not-a-client.example"]);
    /// A refusal case: name, the client's leaf and issuing CA (none: no certificate), reason.
    type Case<'a> = (&'a str, Option<(Leaf, &'a Ca)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("no certificate", None, "no client certificate presented"),
        (
            "another CA",
            Some((other.client("intruder"), &other)),
            "unable to get local issuer certificate",
        ),
        (
            "expired",
            Some((expired, &env.int)),
            "certificate has expired",
        ),
        (
            "serverAuth-only EKU",
            Some((server_eku, &env.int)),
            "unsupported certificate purpose",
        ),
        (
            "sibling intermediate, issuer DN pinned",
            Some((sibling.client("cousin"), &sibling)),
            "unable to verify the client certificate issuer",
        ),
    ];
    for (name, id, reason) in cases {
        let chain = id
            .as_ref()
            .map(|(leaf, ca)| format!("{}{}", leaf.pem(), ca.pem()));
        let identity = id
            .as_ref()
            .zip(chain.as_ref())
            .map(|((leaf, _), chain)| Identity {
                chain_pem: chain,
                key_pem: leaf.key_pem(),
            });
        let (status, body) = rustls_get(
            env.port,
            "secure.example",
            "/api",
            &env.server_root.pem(),
            identity,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(
            body.trim(),
            format!("400 Bad Request: client certificate refused: {reason}"),
            "{name}"
        );
    }
    // A self-signed certificate nobody trusts, CA or not (`openssl req -x509` makes a CA), is
    // an unknown issuer, not a bad signature: OpenSSL's "self-signed certificate".
    let stranger = Leaf::self_signed("stranger");
    let stranger_ca = Ca::root("Stranger CA");
    for (name, pem, key) in [
        ("self-signed", stranger.pem(), stranger.key_pem()),
        ("self-signed CA", stranger_ca.pem(), stranger_ca.key_pem()),
    ] {
        let (status, body) = rustls_get(
            env.port,
            "secure.example",
            "/api",
            &env.server_root.pem(),
            Some(Identity {
                chain_pem: &pem,
                key_pem: key,
            }),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (status, body.trim()),
            (
                400,
                "400 Bad Request: client certificate refused: self-signed certificate"
            ),
            "{name}"
        );
    }
    assert!(
        env.gw
            .logged("\"sslClientVerify\":\"FAILED:certificate has expired\""),
        "{}",
        env.gw.access_log()
    );
    // A refusal for a missing certificate is logged as one, as the README says.
    assert!(
        env.gw
            .logged("\"sslClientVerify\":\"FAILED:no client certificate presented\""),
        "{}",
        env.gw.access_log()
    );
    let metrics = curl(&[&format!("http://{}/metrics", env.gw.admin)]).1;
    assert!(metrics.contains("reason=\"Expired\""), "{metrics}");
}

#[test]
fn exclusion_paths_work_over_tls13_and_http2_without_renegotiation() {
    let env = Env::start();
    let leaf = env.int.client("uploader");
    let f = files(&env, &leaf);
    let (_, out, err) = env.curl(
        "secure.example",
        "/public/x",
        &["--http2", "--tlsv1.3", "-v"],
        &f,
    );
    let (body, line) = status(&out);
    assert_eq!(line, "200 2", "{out}\n{err}");
    assert!(err.contains("TLSv1.3"), "{err}");
    assert_eq!(headers(body)["ssl-client-verify"], "NONE");
    // An exclusion path excuses only what it names: to a case-sensitive backend `/PUBLIC/x`
    // is another resource.
    for path in ["/private", "/PUBLIC/x"] {
        let (_, out, _) = env.curl("secure.example", path, &["--http2"], &f);
        let (body, line) = status(&out);
        assert!(line.starts_with("400"), "{path}: {out}");
        assert!(body.contains("no client certificate presented"), "{body}");
    }

    // A 10 MB upload with a certificate streams through to the backend.
    let upload = f.key.replace("key.pem", "upload.bin");
    std::fs::write(&upload, vec![b'u'; 10 * 1024 * 1024]).expect("write upload");
    let data = format!("@{upload}");
    let (code, out, err) = env.curl(
        "secure.example",
        "/upload",
        &[
            "--http2",
            "--cert",
            &f.chain,
            "--key",
            &f.key,
            "--data-binary",
            &data,
        ],
        &f,
    );
    let (body, line) = status(&out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line, "200 2", "{out}");
    let v: Value = serde_json::from_str(body).expect("json");
    assert_eq!(v["bodyBytes"], 10 * 1024 * 1024);
}

#[test]
fn passthrough_tells_the_backend_the_verdict() {
    let env = Env::start();
    let other = Ca::root("Other Root");
    let intruder = other.client("intruder");
    let (status, body) = rustls_get_as(
        env.port,
        "pass.example",
        "/",
        &env.server_root.pem(),
        &intruder,
        &[],
    )
    .expect("request");
    assert_eq!(status, 200, "{body}");
    // Its certificate alone, from a CA nobody trusts: OpenSSL's words for that.
    assert_eq!(
        headers(&body)["ssl-client-verify"],
        "FAILED:unable to verify the first certificate"
    );
}

#[test]
fn client_sent_identity_headers_never_reach_a_backend() {
    let env = Env::start();
    let leaf = env.int.client("device-1");
    let f = files(&env, &leaf);
    let spoof = [
        "-H",
        "X-ARR-ClientCert: spoofed",
        "-H",
        "ssl-client-verify: SUCCESS-spoofed",
        "-H",
        "x-forwarded-client-cert: Hash=spoofed",
        "-H",
        "X-Client-Subject: CN=admin",
    ];
    for host in ["open.example", "secure.example"] {
        let mut args: Vec<&str> = spoof.to_vec();
        args.extend(["--cert", &f.chain, "--key", &f.key]);
        let (_, out, err) = env.curl(host, "/", &args, &f);
        let (body, line) = status(&out);
        assert!(line.starts_with("200"), "{host}: {out} {err}");
        assert!(
            !body.contains("spoofed") && !body.contains("CN=admin"),
            "{host}: a client-sent identity header reached the backend: {body}"
        );
    }
    let (_, out, _) = env.curl("open.example", "/", &spoof, &f);
    let h = headers(status(&out).0);
    for name in [
        "x-arr-clientcert",
        "ssl-client-verify",
        "x-forwarded-client-cert",
    ] {
        assert!(
            !h.contains_key(name),
            "{name} reached the backend of a non-mTLS listener: {h:?}"
        );
    }
}

#[test]
fn host_of_another_tls_config_than_the_sni_gets_421() {
    let env = Env::start();
    let leaf = env.int.client("device-1");
    let f = files(&env, &leaf);
    let (_, out, _) = env.curl("open.example", "/", &["-H", "Host: secure.example"], &f);
    assert!(status(&out).1.starts_with("421"), "{out}");
    let (_, out, _) = env.curl("open.example", "/", &[], &f);
    assert!(status(&out).1.starts_with("200"), "{out}");
}

#[test]
fn optional_admits_without_a_certificate_but_not_with_a_bad_one() {
    let env = Env::start();
    let root = env.server_root.pem();
    let (status, body) = rustls_get(env.port, "opt.example", "/", &root, None).expect("request");
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers(&body)["ssl-client-verify"], "NONE");
    let good = env.int.client("device-1");
    let (status, body) =
        rustls_get_as(env.port, "opt.example", "/", &root, &good, &[&env.int]).expect("request");
    assert_eq!(
        (status, headers(&body)["ssl-client-verify"].clone()),
        (200, json!("SUCCESS"))
    );
    let bad = Ca::root("Other Root").client("intruder");
    let (status, body) =
        rustls_get_as(env.port, "opt.example", "/", &root, &bad, &[]).expect("request");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("unable to verify the first certificate"),
        "{body}"
    );
}
