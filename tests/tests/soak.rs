//! Soak: mixed traffic against `portcullis run` for `PORTCULLIS_SOAK_SECONDS` (120 by default,
//! as in the test command; `PORTCULLIS_SOAK_SECONDS=1800` is the documented 30-minute run),
//! sampling the gateway's resident memory and open file descriptors. Every response must be
//! the expected one, and after a warm-up both must stay flat.
//!
//! Traffic, from three client threads in turn: a valid client (200), a client of another CA
//! (400), a revoked client (400, CRL), no certificate on an excluded path (200) and on a
//! protected one (400), each on a new connection.

use std::time::{Duration, Instant};

use base64::Engine as _;
use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{Load, config_as, rustls_config, rustls_request};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf};
use serde_json::json;

/// Resident memory (KiB) and open descriptors of process `pid`. Panics when they cannot be
/// read: a soak that cannot measure must not pass as flat.
fn sample(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let rss: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
        .count();
    assert!(
        rss > 0 && fds > 0,
        "implausible sample: {rss} KiB, {fds} fds"
    );
    (rss, fds)
}

#[test]
fn mixed_traffic_keeps_memory_and_descriptors_flat() {
    let seconds: u64 = std::env::var("PORTCULLIS_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let root = Ca::root("Partner Root");
    let (valid, revoked) = (root.client("valid"), root.client("revoked"));
    let stranger_ca = Ca::root("Stranger Root");
    let stranger = stranger_ca.client("stranger");
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["secure.example"]);
    let backend = EchoBackend::start();
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let crl = base64::engine::general_purpose::STANDARD.encode(root.crl(&[&revoked], 0, 7));
    Manifests::secure_example(root.pem().as_bytes(), &server, port, backend.addr.port())
        .edit("Secret", "partner-ca", |s| s["data"]["ca.crl"] = json!(crl))
        .edit("SslProfile", "partner", |p| {
            let auth = &mut p["spec"]["clientAuthConfiguration"];
            auth["verifyClientRevocation"] = json!("CRL");
            auth["exclusionPaths"] = json!(["/public"]);
        })
        .write(dir.path());
    let gw = Standalone::start_with(dir.path(), &[port], &["--no-access-log"]);

    let config = |leaf: Option<&Leaf>| {
        match leaf {
            Some(l) => config_as(&server_root.pem(), l, &[]),
            None => rustls_config(&server_root.pem(), None),
        }
        .expect("client config")
    };
    // (client, path, expected status)
    let mix = [
        (config(Some(&valid)), "/", 200),
        (config(Some(&stranger)), "/", 400),
        (config(Some(&revoked)), "/", 400),
        (config(None), "/public", 200),
        (config(None), "/", 400),
    ];
    // Each thread starts at its own place in the mix.
    let load = Load::start(3, Duration::from_secs(seconds + 60), move |t, n| {
        let (config, path, want) = &mix[(t + n as usize) % mix.len()];
        match rustls_request(config, port, "secure.example", path) {
            Ok((got, _, _)) if got == *want => Ok(()),
            other => Err(format!("{path}: {other:?}")),
        }
    });

    // A sample every tenth of the run; the first fifth is warm-up (allocator pools, session
    // caches, connection buffers reaching their working size).
    let (started, step) = (Instant::now(), Duration::from_secs(seconds) / 10);
    let mut samples = Vec::new();
    for n in 1..=10u32 {
        while started.elapsed() < step * n {
            std::thread::sleep(Duration::from_millis(200));
        }
        samples.push(sample(gw.pid()));
    }
    let seen = load.stop();
    let requests = seen.ok;
    eprintln!("soak: {seconds} s, {requests} requests; (RSS KiB, fds) every tenth: {samples:?}");
    assert!(
        seen.failed == 0,
        "unexpected answers: {:?}",
        seen.first_failures
    );
    assert!(
        requests > seconds,
        "only {requests} requests in {seconds} s"
    );

    let after_warmup = &samples[2..];
    let (first_rss, _) = after_warmup[0];
    let last_rss = after_warmup.iter().map(|s| s.0).max().unwrap_or(0);
    // Flat: no more than 8 MiB above the first sample after warm-up, whatever the length.
    assert!(
        last_rss <= first_rss + 8 * 1024,
        "memory grew from {first_rss} KiB to {last_rss} KiB: {samples:?}"
    );
    // Descriptors: listeners, admin, logs, plus at most the clients' connections in flight
    // (each may hold one backend connection too) and the backend pool's idle connections.
    let fds: Vec<usize> = after_warmup.iter().map(|s| s.1).collect();
    let (low, high) = (
        fds.iter().min().copied().unwrap_or(0),
        fds.iter().max().copied().unwrap_or(0),
    );
    assert!(high <= low + 16, "descriptors not flat: {fds:?}");
}
