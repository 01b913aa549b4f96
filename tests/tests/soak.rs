//! Soak: mixed traffic against `portcullis run` for `PORTCULLIS_SOAK_SECONDS` (120 by default,
//! as in the test command; `PORTCULLIS_SOAK_SECONDS=1800` is the documented 30-minute run),
//! sampling the gateway's resident memory and open file descriptors. Every response must be
//! the expected one, and after a warm-up both must stay flat.
//!
//! Traffic, from three client threads in turn: a valid client (200), a client of another CA
//! (400), a revoked client (400, CRL), no certificate on an excluded path (200) and on a
//! protected one (400), each on a new connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{Identity, rustls_config, rustls_request};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf};
use serde_json::json;

/// Resident memory (KiB) and open descriptors of process `pid`.
fn sample(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
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
        let chain = leaf.map(Leaf::pem).unwrap_or_default();
        rustls_config(
            &server_root.pem(),
            leaf.map(|l| Identity {
                chain_pem: &chain,
                key_pem: l.key_pem(),
            }),
        )
        .expect("client config")
    };
    // (client, path, expected status)
    let mix = Arc::new([
        (config(Some(&valid)), "/", 200),
        (config(Some(&stranger)), "/", 400),
        (config(Some(&revoked)), "/", 400),
        (config(None), "/public", 200),
        (config(None), "/", 400),
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (mix, stop) = (mix.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(seconds + 60);
                let (mut done, mut wrong) = (0u64, Vec::new());
                let mut i = t;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let (config, path, want) = &mix[i % mix.len()];
                    match rustls_request(config, port, "secure.example", path) {
                        Ok((got, _, _)) if got == *want => done += 1,
                        other if wrong.len() < 5 => wrong.push(format!("{path}: {other:?}")),
                        _ => {}
                    }
                    i += 1;
                }
                (done, wrong)
            })
        })
        .collect();

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
    stop.store(true, Ordering::Relaxed);
    let (mut requests, mut wrong) = (0, Vec::new());
    for w in workers {
        let (done, bad) = w.join().expect("worker");
        requests += done;
        wrong.extend(bad);
    }
    eprintln!("soak: {seconds} s, {requests} requests; (RSS KiB, fds) every tenth: {samples:?}");
    assert!(wrong.is_empty(), "unexpected answers: {wrong:?}");
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
