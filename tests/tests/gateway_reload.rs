//! Rotating the client CA in the watched directory: who is admitted changes within 2 s, a
//! download already running finishes, and an invalid edit changes nothing and is logged; 100
//! changes under load fail no request.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{Load, config_as, rustls_get_as, rustls_request};
use portcullis_tests::gateway::{Standalone, assert_no_key_material, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf};

fn get(port: u16, server_root: &Ca, leaf: &Leaf) -> u16 {
    rustls_get_as(port, "secure.example", "/", &server_root.pem(), leaf, &[])
        .map_or(0, |(status, _)| status)
}

/// Two partner CAs with a client each, the gateway's server certificate, an echo backend,
/// and a gateway serving a watched directory that trusts partner A.
struct Rig {
    ca_a: Ca,
    ca_b: Ca,
    client_a: Leaf,
    client_b: Leaf,
    server_root: Ca,
    server: Leaf,
    backend: EchoBackend,
    port: u16,
    dir: std::path::PathBuf,
    gw: Standalone,
    _root: tempfile::TempDir,
}

impl Rig {
    fn start() -> Self {
        let (ca_a, ca_b) = (Ca::root("Partner A"), Ca::root("Partner B"));
        let (client_a, client_b) = (ca_a.client("device-a"), ca_b.client("device-b"));
        let server_root = Ca::root("Server Root");
        let server = server_root.server(&["secure.example"]);
        let backend = EchoBackend::start();
        let port = free_port();
        let root = tempfile::tempdir().expect("temp");
        let dir = root.path().join("conf");
        std::fs::create_dir(&dir).expect("conf dir");
        Manifests::secure_example(ca_a.pem().as_bytes(), &server, port, backend.addr.port())
            .publish(&dir);
        let gw = Standalone::start(&dir, &[port]);
        Self {
            ca_a,
            ca_b,
            client_a,
            client_b,
            server_root,
            server,
            backend,
            port,
            dir,
            gw,
            _root: root,
        }
    }
}

#[test]
fn ca_rotation_applies_within_two_seconds_without_dropping_a_download() {
    let Rig {
        ca_a: _,
        ca_b,
        client_a,
        client_b,
        server_root,
        server,
        backend,
        port,
        dir,
        gw,
        _root,
    } = Rig::start();
    assert_eq!(get(port, &server_root, &client_a), 200, "{}", gw.stderr());
    assert_eq!(get(port, &server_root, &client_b), 400);

    // A 6 MiB download (about 2 s from the slow backend) over a connection made with A.
    let pems = tempfile::tempdir().expect("pems");
    let write = |n: &str, t: &str| {
        let p = pems.path().join(n);
        std::fs::write(&p, t).expect("write");
        p.display().to_string()
    };
    let (cert, key, cacert) = (
        write("a.pem", &client_a.pem()),
        write("a.key", client_a.key_pem()),
        write("ca.pem", &server_root.pem()),
    );
    let out = pems.path().join("download.bin");
    let size = 6 * 1024 * 1024;
    let mut download = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "30",
            "--resolve",
            &format!("secure.example:{port}:127.0.0.1"),
            "--cacert",
            &cacert,
            "--cert",
            &cert,
            "--key",
            &key,
            "-o",
        ])
        .arg(&out)
        .arg(format!("https://secure.example:{port}/stream/{size}"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start curl");
    assert!(
        Standalone::eventually(Duration::from_secs(5), || std::fs::metadata(&out)
            .is_ok_and(|m| m.len() > 0)),
        "download never started"
    );

    let rotated = Instant::now();
    Manifests::secure_example(ca_b.pem().as_bytes(), &server, port, backend.addr.port())
        .publish(&dir);
    let switched = Standalone::eventually(Duration::from_secs(2), || {
        get(port, &server_root, &client_b) == 200 && get(port, &server_root, &client_a) == 400
    });
    assert!(
        switched,
        "rotation not applied within 2 s:\n{}",
        gw.stderr()
    );
    let took = rotated.elapsed();

    let status = download.wait().expect("curl");
    assert!(status.success(), "the download was dropped by the rotation");
    assert_eq!(
        std::fs::metadata(&out).expect("download").len(),
        size as u64,
        "download truncated"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // An invalid edit: logged, nothing changes.
    Manifests::secure_example(b"not a certificate", &server, port, backend.addr.port())
        .publish(&dir);
    assert!(
        Standalone::eventually(Duration::from_secs(3), || gw
            .stderr()
            .contains("last good configuration keeps serving")),
        "invalid edit not reported:\n{}",
        gw.stderr()
    );
    assert!(
        gw.stderr()
            .contains("Secret default/partner-ca key ca.crt is not a certificate"),
        "{}",
        gw.stderr()
    );
    assert_eq!(
        get(port, &server_root, &client_b),
        200,
        "the last good configuration must keep serving"
    );
    assert_eq!(get(port, &server_root, &client_a), 400);
}

/// Sessions resume (tickets survive reloads), yet a resumed connection is judged by the
/// current CA: after the partner's CA is rotated away, its resumed session gets 400. Files
/// other than manifests in the watched directory (a log written there) cause no reload.
#[test]
fn resumed_sessions_are_judged_by_the_current_ca_and_stray_files_do_not_reload() {
    let Rig {
        ca_a: _,
        ca_b,
        client_a,
        client_b,
        server_root,
        server,
        backend,
        port,
        dir,
        gw,
        _root,
    } = Rig::start();
    let config_a = config_as(&server_root.pem(), &client_a, &[]).expect("client config");
    let first = rustls_request(&config_a, port, "secure.example", "/");
    assert!(matches!(first, Ok((200, _, false))), "{first:?}");
    let second = rustls_request(&config_a, port, "secure.example", "/");
    assert!(matches!(second, Ok((200, _, true))), "resumed: {second:?}");

    // A log file growing in the watched directory is not configuration.
    let log = dir.join("gateway.log");
    for i in 0..15 {
        std::fs::write(&log, "x".repeat(i * 100)).expect("write log");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        !gw.stderr().contains("configuration reloaded"),
        "{}",
        gw.stderr()
    );

    // Rotate to B: A's resumable session now gets 400.
    Manifests::secure_example(ca_b.pem().as_bytes(), &server, port, backend.addr.port())
        .publish(&dir);
    assert!(
        Standalone::eventually(Duration::from_secs(5), || get(
            port,
            &server_root,
            &client_b
        ) == 200),
        "{}",
        gw.stderr()
    );
    let after = rustls_request(&config_a, port, "secure.example", "/");
    assert!(
        matches!(after, Ok((400, _, true))),
        "a resumed session of the rotated-away CA: {after:?}"
    );
}

/// No private key reaches a log: not while serving (access log and operational log), not when
/// a reload is refused because the key does not match the certificate, not in
/// `portcullis validate`'s report of that error.
#[test]
fn key_material_never_reaches_a_log() {
    let Rig {
        ca_a,
        client_a,
        server_root,
        server,
        backend,
        port,
        dir,
        gw,
        _root,
        ..
    } = Rig::start();
    assert_eq!(get(port, &server_root, &client_a), 200);
    // A key that does not match the certificate: refused, the old configuration keeps serving.
    let other = server_root.server(&["secure.example"]);
    let bad = Manifests::secure_example(ca_a.pem().as_bytes(), &server, port, backend.addr.port())
        .tls_secret("default", "gw-tls", &server.pem(), other.key_pem());
    let bad_dir = tempfile::tempdir().expect("temp");
    bad.publish(&dir);
    bad.publish(bad_dir.path());
    assert!(
        Standalone::eventually(Duration::from_secs(5), || gw
            .stderr()
            .contains("configuration change rejected")),
        "{}",
        gw.stderr()
    );
    assert_eq!(get(port, &server_root, &client_a), 200);
    let validate = Command::new(portcullis_tests::gateway::portcullis_bin())
        .args(["validate", "-f"])
        .arg(bad_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("portcullis validate");
    let report = String::from_utf8_lossy(&validate.stdout).into_owned()
        + &String::from_utf8_lossy(&validate.stderr);
    assert!(
        !validate.status.success() && report.contains("ServerKeyMismatch"),
        "{report}"
    );

    let logs = [gw.stderr(), gw.access_log(), report].join("\n");
    assert!(logs.contains("ServerKeyMismatch"), "{logs}");
    assert_no_key_material(
        &logs,
        &[server.key_pem(), other.key_pem(), client_a.key_pem()],
    );
}

/// 100 configuration changes while clients keep connecting (new connections, resumed
/// sessions): every change is applied, no request fails and no valid client is refused.
#[test]
fn a_hundred_reloads_under_load_fail_no_request() {
    let rig = Rig::start();
    let config = config_as(&rig.server_root.pem(), &rig.client_a, &[]).expect("client config");
    let port = rig.port;
    let load = Load::start(
        3,
        Duration::from_secs(180),
        move |_, _| match rustls_request(&config, port, "secure.example", "/") {
            Ok((200, _, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    let version = || rig.gw.metric("portcullis_config_version");
    let base = version();
    for i in 1..=100 {
        // Odd changes add the ingress-nginx identity headers, even ones remove them: each is
        // a new snapshot, compiled and swapped in while requests run.
        Manifests::secure_example(
            rig.ca_a.pem().as_bytes(),
            &rig.server,
            rig.port,
            rig.backend.addr.port(),
        )
        .edit("Listener", "api", |l| {
            if i % 2 == 1 {
                l["spec"]["rules"][0]["requestHeaders"] =
                    serde_json::json!({"presets": ["NginxSslClient"]});
            }
        })
        .publish(&rig.dir);
        assert!(
            Standalone::eventually(Duration::from_secs(10), || version() >= base + f64::from(i)),
            "change {i} was not applied:\n{}",
            rig.gw.stderr()
        );
    }
    let seen = load.stop();
    let served = seen.ok;
    assert!(
        seen.failed == 0,
        "{} failed requests: {:?}",
        seen.failed,
        seen.first_failures
    );
    assert!(served >= 100, "only {served} requests during the reloads");
    assert_eq!(rig.gw.metric("portcullis_config_rejected_total"), 0.0);
    eprintln!("100 reloads, {served} requests, none failed");
}

/// `--log-format json`: every operational line on stderr is one JSON object with its level
/// and message, and a refusal carries the object, field and reason as fields (what a log
/// pipeline indexes), while the access log stays on stdout.
#[test]
fn json_logs_carry_the_level_and_the_refusals_fields() {
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["secure.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    Manifests::secure_example(b"not a certificate", &server, port, backend.addr.port())
        .write(dir.path());
    let gw = Standalone::start_with(dir.path(), &[port], &["--log-format", "json"]);
    let lines = || -> Vec<serde_json::Value> {
        gw.stderr()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    };
    assert!(
        Standalone::eventually(Duration::from_secs(5), || lines()
            .iter()
            .any(|l| l["level"] == "INFO")),
        "{}",
        gw.stderr()
    );
    let logged = lines();
    let refusal = logged
        .iter()
        .find(|l| l["object"] == "SslProfile/default/partner")
        .unwrap_or_else(|| panic!("no line about the profile: {logged:#?}"));
    assert_eq!(refusal["level"], "ERROR", "{refusal}");
    assert_eq!(refusal["reason"], "InvalidCertificate", "{refusal}");
    assert!(
        refusal["field"].as_str().is_some_and(
            |f| f.starts_with("spec.clientAuthConfiguration.trustedClientCertificates")
        ),
        "{refusal}"
    );
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.contains("partner-ca") && m.contains("not a certificate")),
        "{refusal}"
    );
    assert!(
        logged.iter().all(|l| l["timestamp"].is_string()),
        "{logged:#?}"
    );
}
