//! The load generator: rustls client connections presenting a client certificate.
//!
//! Modes:
//! - `full`: a new connection per request, resumption disabled on the client, so every
//!   handshake is a full one (checked: a resumed handshake is counted as an error).
//! - `resumed`: a new connection per request, resuming the session of the previous one
//!   (checked: the rate of resumed handshakes is reported).
//! - `keepalive`: each worker keeps one connection and sends requests one after another.
//! - `rate`: keep-alive connections sending at a fixed total rate; latency is measured from
//!   each request's scheduled time, so a server that falls behind is not flattered
//!   (no coordinated omission).
//!
//! The client offers X25519 only (every server under test negotiates the same group) and
//! does not verify the server certificate: it measures servers it started itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, HandshakeKind, SignatureScheme};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::procfs;
use crate::response::read_response;

/// How the load is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// New connection and full handshake per request.
    Full,
    /// New connection per request, resuming the previous session.
    Resumed,
    /// Requests on kept-alive connections, as fast as they come back.
    Keepalive,
    /// Requests on kept-alive connections at `--rate` per second.
    Rate,
}

/// Arguments of `portcullis-bench load`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Server address.
    #[arg(long)]
    connect: SocketAddr,
    /// SNI and Host.
    #[arg(long, default_value = "bench.example")]
    host: String,
    /// Request path.
    #[arg(long, default_value = "/")]
    path: String,
    /// Client certificate chain (leaf first), PEM.
    #[arg(long)]
    cert: PathBuf,
    /// Client key, PEM.
    #[arg(long)]
    key: PathBuf,
    /// Load mode.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of warm-up, not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Requests per second in `rate` mode.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// PIDs of the server's processes, for CPU seconds (comma-separated).
    #[arg(long, value_delimiter = ',')]
    server_pids: Vec<u32>,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config(args: &Args) -> anyhow::Result<Arc<ClientConfig>> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    // X25519 only: Debian's OpenSSL (nginx, haproxy) cannot negotiate rustls' default
    // post-quantum hybrid, and every server must do the same work.
    provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    let provider = Arc::new(provider);
    let chain = CertificateDer::pem_file_iter(&args.cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&args.key)?;
    let mut cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_client_auth_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    if args.mode == Mode::Full {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(cfg))
}

/// What the measured window saw.
#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    bad_status: AtomicU64,
    errors: AtomicU64,
    resumed: AtomicU64,
    full: AtomicU64,
}

struct Shared {
    args: Args,
    /// The client configuration; in `resumed` mode each worker uses its own copy, so that
    /// it resumes its own previous session (as one client would) and the session store is
    /// not shared among concurrent workers.
    cfg: Arc<ClientConfig>,
    sni: ServerName<'static>,
    close: Vec<u8>,
    keepalive: Vec<u8>,
    start: Instant,
    measure_from: Instant,
    until: Instant,
    counters: Counters,
    latencies: std::sync::Mutex<Vec<u32>>,
    negotiated: std::sync::Mutex<Option<(String, String, String)>>,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn measuring(&self, started: Instant, now: Instant) -> bool {
        started >= self.measure_from && now <= self.until
    }

    fn record(&self, started: Instant, result: &anyhow::Result<u16>) {
        let now = Instant::now();
        if !self.measuring(started, now) {
            return;
        }
        match result {
            Ok(200) => {
                self.counters.ok.fetch_add(1, Ordering::Relaxed);
                let us = now.duration_since(started).as_micros();
                if let Ok(mut l) = self.latencies.lock() {
                    l.push(u32::try_from(us).unwrap_or(u32::MAX));
                }
            }
            Ok(_) => {
                self.counters.bad_status.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut l) = self.last_error.lock() {
                    *l = Some(format!("{e:#}"));
                }
            }
        }
    }
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(s: &Shared, connector: &TlsConnector) -> anyhow::Result<Tls> {
    let tcp = TcpStream::connect(s.args.connect).await?;
    tcp.set_nodelay(true)?;
    let tls = connector.connect(s.sni.clone(), tcp).await?;
    let conn = tls.get_ref().1;
    match conn.handshake_kind() {
        Some(HandshakeKind::Resumed) => s.counters.resumed.fetch_add(1, Ordering::Relaxed),
        _ => s.counters.full.fetch_add(1, Ordering::Relaxed),
    };
    if let Ok(mut n) = s.negotiated.lock()
        && n.is_none()
    {
        *n = Some((
            format!(
                "{:?}",
                conn.protocol_version()
                    .unwrap_or(rustls::ProtocolVersion::Unknown(0))
            ),
            conn.negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
            conn.negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name()))
                .unwrap_or_default(),
        ));
    }
    Ok(tls)
}

async fn new_connection_request(s: &Shared, connector: &TlsConnector) -> anyhow::Result<u16> {
    let mut tls = connect(s, connector).await?;
    tls.write_all(&s.close).await?;
    let mut buf = Vec::new();
    let status = read_response(&mut tls, &mut buf).await?;
    let _ = tls.shutdown().await;
    Ok(status)
}

async fn worker(s: Arc<Shared>, index: usize) {
    let connector = if s.args.mode == Mode::Resumed {
        let mut own = (*s.cfg).clone();
        own.resumption = rustls::client::Resumption::in_memory_sessions(4);
        TlsConnector::from(Arc::new(own))
    } else {
        TlsConnector::from(s.cfg.clone())
    };
    match s.args.mode {
        Mode::Full | Mode::Resumed => {
            while Instant::now() < s.until {
                let started = Instant::now();
                let r = new_connection_request(&s, &connector).await;
                s.record(started, &r);
            }
        }
        Mode::Keepalive | Mode::Rate => {
            let interval =
                Duration::from_secs_f64(s.args.concurrency as f64 / s.args.rate.max(1.0));
            // Slots of this connection: index, index + C, index + 2C, …
            let mut slot = s.start + Duration::from_secs_f64(index as f64 / s.args.rate.max(1.0));
            'conn: while Instant::now() < s.until {
                let mut tls = match connect(&s, &connector).await {
                    Ok(t) => t,
                    Err(e) => {
                        s.record(Instant::now(), &Err(e));
                        continue;
                    }
                };
                let mut buf = Vec::new();
                while Instant::now() < s.until {
                    let started = if s.args.mode == Mode::Rate {
                        tokio::time::sleep_until(slot.into()).await;
                        let scheduled = slot;
                        slot += interval;
                        scheduled
                    } else {
                        Instant::now()
                    };
                    let r = async {
                        tls.write_all(&s.keepalive).await?;
                        read_response(&mut tls, &mut buf).await
                    }
                    .await;
                    let failed = r.is_err();
                    s.record(started, &r);
                    if failed {
                        continue 'conn;
                    }
                }
            }
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

/// Runs the load and prints one JSON line of results.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cfg = client_config(args)?;
    let host = args.host.clone();
    let req = |connection: &str| {
        format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: portcullis-bench\r\nConnection: {connection}\r\n\r\n",
            args.path
        )
        .into_bytes()
    };
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let until = measure_from + Duration::from_secs_f64(args.seconds);
    let shared = Arc::new(Shared {
        args: args.clone(),
        cfg,
        sni: ServerName::try_from(host.clone())?,
        close: req("close"),
        keepalive: req("keep-alive"),
        start,
        measure_from,
        until,
        counters: Counters::default(),
        latencies: std::sync::Mutex::new(Vec::new()),
        negotiated: std::sync::Mutex::new(None),
        last_error: std::sync::Mutex::new(None),
    });
    let (cpu, handshakes) = runtime.block_on(async {
        let workers: Vec<_> = (0..args.concurrency)
            .map(|i| tokio::spawn(worker(shared.clone(), i)))
            .collect();
        tokio::time::sleep_until(measure_from.into()).await;
        let cpu0 = procfs::total_cpu(&args.server_pids);
        let hs0 = shared.counters.full.load(Ordering::Relaxed)
            + shared.counters.resumed.load(Ordering::Relaxed);
        let resumed0 = shared.counters.resumed.load(Ordering::Relaxed);
        tokio::time::sleep_until(until.into()).await;
        let cpu1 = procfs::total_cpu(&args.server_pids);
        let hs1 = shared.counters.full.load(Ordering::Relaxed)
            + shared.counters.resumed.load(Ordering::Relaxed);
        let resumed1 = shared.counters.resumed.load(Ordering::Relaxed);
        for w in workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
        }
        (cpu1 - cpu0, (hs1 - hs0, resumed1 - resumed0))
    });
    let c = &shared.counters;
    let ok = c.ok.load(Ordering::Relaxed);
    let mut lat = shared
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    let negotiated = shared
        .negotiated
        .lock()
        .ok()
        .and_then(|n| n.clone())
        .unwrap_or_default();
    let per_s = ok as f64 / args.seconds;
    let out = serde_json::json!({
        "label": args.label,
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "ok": ok,
        "bad_status": c.bad_status.load(Ordering::Relaxed),
        "errors": c.errors.load(Ordering::Relaxed),
        "last_error": shared.last_error.lock().ok().and_then(|e| e.clone()),
        "handshakes": handshakes.0,
        "resumed": handshakes.1,
        "per_s": per_s,
        "server_cpu_s": cpu,
        "per_server_cpu_s": if cpu > 0.0 { ok as f64 / cpu } else { 0.0 },
        "p50_ms": percentile(&lat, 0.50),
        "p99_ms": percentile(&lat, 0.99),
        "protocol": negotiated.0,
        "cipher": negotiated.1,
        "group": negotiated.2,
    });
    println!("{out}");
    Ok(())
}
