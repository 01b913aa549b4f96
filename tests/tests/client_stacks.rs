//! Real client stacks beyond curl and rustls: Go's crypto/tls and the JDK's HttpClient. They
//! send a certificate only when its issuer is among the CertificateRequest's acceptable CAs,
//! and a client that holds only its leaf has an intermediate for issuer: the gateway must name
//! the intermediates too, or these clients go in anonymous (refused under `Required`, silently
//! unidentified under `Optional`). ECDSA and RSA chains.

use std::path::Path;
use std::process::Command;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::cluster::harness_cache;
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf, rfc4514};
use serde_json::{Value, json};

/// A gateway on one port: `required.test` (Required) and `optional.test` (Optional, with the
/// ingress-nginx identity headers), both trusting an ECDSA and an RSA root-and-intermediate
/// chain; each chain's client holds only its leaf.
struct Env {
    port: u16,
    clients: Vec<(&'static str, Leaf)>,
    server_root: Ca,
    gw: Standalone,
    _echo: EchoBackend,
    _dir: tempfile::TempDir,
}

impl Env {
    fn start() -> Self {
        let server_root = Ca::root("Server Root");
        let server = server_root.server(&["required.test", "optional.test"]);
        let ecdsa = Ca::root("Fleet Root EC");
        let ecdsa_int = ecdsa.intermediate("Fleet Issuing EC");
        let rsa = Ca::root_rsa("Fleet Root RSA");
        let rsa_int = rsa.intermediate("Fleet Issuing RSA");
        let echo = EchoBackend::start();
        let port = free_port();
        let rules = json!([{"backend": {"service": "echo", "port": 80},
                            "requestHeaders": {"presets": ["NginxSslClient"]}}]);
        let trusted = json!([{"name": "fleet-ec"}, {"name": "fleet-rsa"}]);
        let m = Manifests::new()
            .ca_secret(
                "default",
                "fleet-ec",
                format!("{}{}", ecdsa.pem(), ecdsa_int.pem()).as_bytes(),
            )
            .ca_secret(
                "default",
                "fleet-rsa",
                format!("{}{}", rsa.pem(), rsa_int.pem()).as_bytes(),
            )
            .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
            .client_auth(
                "required",
                json!({"mode": "Required", "trustedClientCertificates": trusted}),
            )
            .client_auth(
                "optional",
                json!({"mode": "Optional", "trustedClientCertificates": trusted}),
            )
            .https_rules(
                "required",
                port,
                "required.test",
                Some("required"),
                rules.clone(),
            )
            .https_rules("optional", port, "optional.test", Some("optional"), rules)
            .service("default", "echo", "127.0.0.1", echo.addr.port());
        let dir = tempfile::tempdir().expect("manifest dir");
        m.write(dir.path());
        let gw = Standalone::start(dir.path(), &[port]);
        Self {
            port,
            clients: vec![
                ("ECDSA", ecdsa_int.client("device-ec")),
                ("RSA", rsa_int.client("device-rsa")),
            ],
            server_root,
            gw,
            _echo: echo,
            _dir: dir,
        }
    }
}

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path.display().to_string()
}

/// Runs a client command; its output is the status on the first line, then the body.
fn answer(cmd: &mut Command) -> (u16, String) {
    let out = cmd.output().expect("run client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
    (status.trim().parse().expect("status line"), body.to_owned())
}

/// What each client stack gets from `required.test` and from `optional.test`.
fn check(env: &Env, stack: &str, get: impl Fn(&str, &Leaf) -> (u16, String)) {
    for (alg, leaf) in &env.clients {
        let (status, body) = get("required.test", leaf);
        assert_eq!(status, 200, "{stack} {alg} leaf only, Required: {body}");
        let (status, body) = get("optional.test", leaf);
        assert_eq!(status, 200, "{stack} {alg} leaf only, Optional: {body}");
        let v: Value = serde_json::from_str(&body).expect("echo JSON");
        let cn = if *alg == "RSA" {
            "device-rsa"
        } else {
            "device-ec"
        };
        assert_eq!(
            (
                &v["headers"]["ssl-client-verify"],
                &v["headers"]["ssl-client-subject-dn"]
            ),
            (&json!("SUCCESS"), &json!(rfc4514(cn))),
            "{stack} {alg} leaf only, Optional: identified"
        );
    }
}

#[test]
fn go_clients_with_only_their_leaf_are_admitted_and_identified() {
    let env = Env::start();
    let bin = harness_cache("build-go-client.sh").join("go-client");
    let dir = tempfile::tempdir().expect("pem dir");
    let root = write(dir.path(), "server-root.pem", &env.server_root.pem());
    check(&env, "Go", |host, leaf| {
        let cert = write(dir.path(), "leaf.pem", &leaf.pem());
        let key = write(dir.path(), "leaf.key", leaf.key_pem());
        answer(Command::new(&bin).args([
            &format!("127.0.0.1:{}", env.port),
            host,
            &root,
            &cert,
            &key,
            "/",
        ]))
    });
}

#[test]
fn java_clients_with_only_their_leaf_are_admitted_and_identified() {
    let env = Env::start();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/JavaClient.java");
    let dir = tempfile::tempdir().expect("pem dir");
    let root = write(dir.path(), "server-root.pem", &env.server_root.pem());
    // The JDK resolves names through this file, never the system resolver.
    let hosts = write(
        dir.path(),
        "hosts",
        "127.0.0.1 required.test\n127.0.0.1 optional.test\n",
    );
    check(&env, "Java", |host, leaf| {
        let cert = write(dir.path(), "leaf.pem", &leaf.pem());
        let key = write(dir.path(), "leaf.key", leaf.key_pem());
        let keystore = dir.path().join("leaf.p12").display().to_string();
        let made = Command::new("openssl")
            .args([
                "pkcs12", "-export", "-in", &cert, "-inkey", &key, "-out", &keystore,
            ])
            .args(["-passout", "pass:changeit"])
            .status()
            .expect("run openssl pkcs12");
        assert!(made.success(), "PKCS#12 keystore");
        answer(
            Command::new("java")
                .arg(format!("-Djdk.net.hosts.file={hosts}"))
                .arg(&source)
                .arg(format!("https://{host}:{}/", env.port))
                .args([&root, &keystore, "changeit"]),
        )
    });
}

#[test]
fn the_certificate_request_names_the_intermediates() {
    let env = Env::start();
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", env.port)])
        .args(["-servername", "required.test"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    let names = text
        .split_once("Acceptable client certificate CA names")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no acceptable CA names:\n{text}"));
    for cn in [
        "Fleet Root EC",
        "Fleet Issuing EC",
        "Fleet Root RSA",
        "Fleet Issuing RSA",
    ] {
        assert!(
            names.contains(&format!("CN = {cn}")),
            "{cn} missing:\n{text}"
        );
    }
}

#[test]
fn a_p521_bundle_is_accepted_and_its_clients_admitted_and_sha1_is_refused_at_upload() {
    use portcullis_tests::pki::rcgen::PKCS_ECDSA_P521_SHA512;
    let root = Ca::root_alg("Fleet Root P-521", &PKCS_ECDSA_P521_SHA512);
    let int = root.intermediate("Fleet Issuing P-521");
    let leaf = int.client("device-p521");
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["p521.test"]);
    let echo = EchoBackend::start();
    let port = free_port();
    let m = Manifests::new()
        .ca_secret(
            "default",
            "fleet",
            format!("{}{}", root.pem(), int.pem()).as_bytes(),
        )
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .client_auth(
            "fleet",
            json!({"mode": "Required", "trustedClientCertificates": [{"name": "fleet"}]}),
        )
        .https_rules(
            "p521",
            port,
            "p521.test",
            Some("fleet"),
            json!([{"backend": {"service": "echo", "port": 80}}]),
        )
        .service("default", "echo", "127.0.0.1", echo.addr.port());
    let dir = tempfile::tempdir().expect("manifest dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);
    // curl (OpenSSL) with the P-521 leaf and only it.
    let pems = tempfile::tempdir().expect("pem dir");
    let root_pem = write(pems.path(), "server-root.pem", &server_root.pem());
    let cert = write(pems.path(), "leaf.pem", &leaf.pem());
    let key = write(pems.path(), "leaf.key", leaf.key_pem());
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(["--resolve", &format!("p521.test:{port}:127.0.0.1")])
        .args(["--cacert", &root_pem, "--cert", &cert, "--key", &key])
        .arg(format!("https://p521.test:{port}/"))
        .output()
        .expect("run curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        gw.stderr()
    );

    // A SHA-1-signed intermediate: `portcullis validate` refuses it and says why.
    let legacy_root = Ca::root("Legacy Root");
    let legacy = legacy_root.intermediate_sha1_pem("Legacy Issuing");
    let m = m.ca_secret(
        "default",
        "fleet",
        format!("{}{legacy}", legacy_root.pem()).as_bytes(),
    );
    let dir = tempfile::tempdir().expect("manifest dir");
    let file = m.write(dir.path());
    let out = Command::new(portcullis_tests::gateway::portcullis_bin())
        .arg("validate")
        .arg("-f")
        .arg(&file)
        .output()
        .expect("run portcullis validate");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ecdsa-with-SHA1") && text.contains("(UnsupportedSignatureAlgorithm)"),
        "{text}"
    );
}

#[test]
fn an_unknown_or_missing_server_name_gets_the_unrecognized_name_alert() {
    let env = Env::start();
    for sni in [&["-servername", "unknown.test"][..], &["-noservername"][..]] {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", env.port)])
            .args(sni)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run openssl s_client");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("unrecognized name") || text.contains("alert number 112"),
            "{sni:?}: {text}"
        );
    }
    assert!(
        env.gw
            .logged("no listener of this port answers the server name"),
        "{}",
        env.gw.access_log()
    );
}

#[test]
fn curl_clients_under_an_any_eku_intermediate_or_too_deep_a_chain_are_refused() {
    use portcullis_tests::pki::rcgen::ExtendedKeyUsagePurpose;
    let root = Ca::root("Fleet Root");
    // webpki wants clientAuth in an intermediate's extendedKeyUsage; anyExtendedKeyUsage is not.
    let any = root.intermediate_with("Any Issuing", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::Any]
    });
    let int = root.intermediate("Fleet Issuing");
    // Six CAs sent below the bundle's intermediate: seven between leaf and root, one more
    // than webpki's path allows.
    let mut below = vec![int.intermediate("Sub 1")];
    for i in 2..=6 {
        let next = below[below.len() - 1].intermediate(&format!("Sub {i}"));
        below.push(next);
    }
    let deep_leaf = below[5].client("deep");
    let ok_leaf = below[4].client("five-deep");
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["any.test", "deep.test"]);
    let echo = EchoBackend::start();
    let port = free_port();
    let rules = json!([{"backend": {"service": "echo", "port": 80}}]);
    let m = Manifests::new()
        .ca_secret(
            "default",
            "any-ca",
            format!("{}{}", root.pem(), any.pem()).as_bytes(),
        )
        .ca_secret(
            "default",
            "fleet-ca",
            format!("{}{}", root.pem(), int.pem()).as_bytes(),
        )
        .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
        .client_auth(
            "any",
            json!({"mode": "Required", "trustedClientCertificates": [{"name": "any-ca"}]}),
        )
        .client_auth(
            "fleet",
            json!({"mode": "Required", "trustedClientCertificates": [{"name": "fleet-ca"}]}),
        )
        .https_rules("any", port, "any.test", Some("any"), rules.clone())
        .https_rules("deep", port, "deep.test", Some("fleet"), rules)
        .service("default", "echo", "127.0.0.1", echo.addr.port());
    let dir = tempfile::tempdir().expect("manifest dir");
    m.write(dir.path());
    let _gw = Standalone::start(dir.path(), &[port]);
    let pems = tempfile::tempdir().expect("pem dir");
    let root_pem = write(pems.path(), "server-root.pem", &server_root.pem());
    let curl = |host: &str, chain: String, key: &str| {
        let cert = write(pems.path(), "chain.pem", &chain);
        let key = write(pems.path(), "leaf.key", key);
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
            .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
            .args(["--cacert", &root_pem, "--cert", &cert, "--key", &key])
            .arg(format!("https://{host}:{port}/"))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.to_owned(), body.to_owned())
    };
    let any_leaf = any.client("device");
    let (code, body) = curl("any.test", any_leaf.pem(), any_leaf.key_pem());
    assert_eq!(code, "400", "{body}");
    assert!(body.contains("unsupported certificate purpose"), "{body}");
    let chain = |leaf: &Leaf, cas: &[Ca]| {
        let mut pem = leaf.pem();
        for ca in cas.iter().rev() {
            pem.push_str(&ca.pem());
        }
        pem
    };
    let (code, body) = curl("deep.test", chain(&deep_leaf, &below), deep_leaf.key_pem());
    assert_eq!(code, "400", "{body}");
    let (code, body) = curl("deep.test", chain(&ok_leaf, &below[..5]), ok_leaf.key_pem());
    assert_eq!(code, "200", "five CAs below are within the path: {body}");
}
