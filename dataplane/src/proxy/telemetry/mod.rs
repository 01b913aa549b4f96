//! Metrics and the JSON access log: the process-wide counters ([`Telemetry`]), their Prometheus
//! text ([`render`]) and the one access-log line type ([`access_log`]).
//!
//! Labels are given by the callers as `&'static str` from their own typed reasons, so this
//! module imports nothing from the rest of the proxy.

mod access_log;
mod render;

pub(crate) use access_log::AccessLogEntry;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

/// Upper bounds of the duration histograms, seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Validity ends of what the gateway trusts, for the expiry gauges.
#[derive(Debug, Default, Clone)]
pub struct Expiries {
    /// (CA subject, notAfter).
    pub cas: Vec<(String, i64)>,
    /// (CRL issuer, thisUpdate, nextUpdate).
    pub crls: Vec<(String, i64, Option<i64>)>,
}

/// Process-wide counters.
#[derive(Debug)]
pub struct Telemetry {
    pub(super) handshakes: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// Per listener: requests by status, and their durations. Looked up by `&str`, so the
    /// request path allocates nothing once a listener has been seen.
    pub(super) requests: Mutex<BTreeMap<String, ListenerRequests>>,
    pub(super) ocsp_requests: Mutex<BTreeMap<&'static str, u64>>,
    pub(super) ocsp_durations: Mutex<Histogram>,
    pub(super) ocsp_cache: [AtomicU64; 2],
    pub(super) crl_downloads: Mutex<BTreeMap<&'static str, u64>>,
    pub(super) expiries: Mutex<Expiries>,
    pub(super) open_connections: AtomicI64,
    pub(super) closed: Mutex<BTreeMap<&'static str, u64>>,
    pub(super) requests_refused: Mutex<BTreeMap<&'static str, u64>>,
    pub(super) headers_dropped: AtomicU64,
    pub(super) draining: std::sync::atomic::AtomicBool,
    pub(super) config_version: AtomicU64,
    pub(super) config_rejected: AtomicU64,
    pub(super) log_dropped: AtomicU64,
    log: Option<SyncSender<String>>,
}

/// One listener's requests: counts by status, and their durations.
pub(super) type ListenerRequests = (BTreeMap<u16, u64>, Histogram);

#[derive(Debug, Default, Clone)]
pub(super) struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    pub(super) fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Locks a mutex, recovering from poisoning: counters stay usable after a panic elsewhere.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Telemetry {
    /// Counters, and an access log on stdout when `access_log` is set.
    pub fn new(access_log: bool) -> Self {
        let log = access_log.then(access_log::writer);
        Self {
            handshakes: Mutex::default(),
            requests: Mutex::default(),
            ocsp_requests: Mutex::default(),
            ocsp_durations: Mutex::default(),
            ocsp_cache: [AtomicU64::new(0), AtomicU64::new(0)],
            crl_downloads: Mutex::default(),
            expiries: Mutex::default(),
            open_connections: AtomicI64::new(0),
            closed: Mutex::default(),
            requests_refused: Mutex::default(),
            headers_dropped: AtomicU64::new(0),
            draining: std::sync::atomic::AtomicBool::new(false),
            config_version: AtomicU64::new(0),
            config_rejected: AtomicU64::new(0),
            log_dropped: AtomicU64::new(0),
            log,
        }
    }

    /// Counts a finished handshake.
    pub fn handshake(&self, listener: &str, result: &'static str, reason: &'static str) {
        *lock(&self.handshakes)
            .entry((listener.to_owned(), result, reason))
            .or_default() += 1;
    }

    /// Counts a finished request.
    pub fn request(&self, listener: &str, status: u16, elapsed: Duration) {
        let mut requests = lock(&self.requests);
        let per_listener = match requests.get_mut(listener) {
            Some(l) => l,
            None => requests.entry(listener.to_owned()).or_default(),
        };
        *per_listener.0.entry(status).or_default() += 1;
        per_listener.1.observe(elapsed);
    }

    /// Counts an OCSP request to a responder by result, and its latency.
    pub fn ocsp_request(&self, result: &'static str, elapsed: Duration) {
        *lock(&self.ocsp_requests).entry(result).or_default() += 1;
        lock(&self.ocsp_durations).observe(elapsed);
    }

    /// Counts an OCSP cache lookup.
    pub fn ocsp_cache(&self, hit: bool) {
        self.ocsp_cache[usize::from(hit)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a CRL download from a distribution point by result.
    pub fn crl_download(&self, result: &'static str) {
        *lock(&self.crl_downloads).entry(result).or_default() += 1;
    }

    /// Records the trusted CAs and CRLs of the applied snapshot.
    pub fn set_expiries(&self, expiries: Expiries) {
        *lock(&self.expiries) = expiries;
    }

    /// A connection opened (+1) or closed (-1).
    pub fn connections(&self, delta: i64) {
        self.open_connections.fetch_add(delta, Ordering::Relaxed);
    }

    /// Counts a connection a limit closed (`ConnectionLimit`, `HeaderTimeout`, …).
    pub fn closed(&self, limit: &'static str) {
        *lock(&self.closed).entry(limit).or_default() += 1;
    }

    /// Counts a request refused before any decision because its target or host is ambiguous
    /// (`EncodedSlash`, `DuplicateHost`, …).
    pub fn request_refused(&self, reason: &'static str) {
        *lock(&self.requests_refused).entry(reason).or_default() += 1;
    }

    /// Counts request headers dropped because a backend could read their names as others.
    pub fn headers_dropped(&self, n: u64) {
        self.headers_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open_connections(&self) -> i64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// Marks the process as shutting down: `/readyz` fails so load balancers stop sending new
    /// connections, while the open ones finish.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the process is shutting down.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// A snapshot was applied.
    pub fn config_applied(&self) {
        self.config_version.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot was rejected; the previous one keeps serving.
    pub fn config_rejected(&self) {
        self.config_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// How many snapshots were applied.
    pub fn config_version(&self) -> u64 {
        self.config_version.load(Ordering::Relaxed)
    }

    /// Whether access log lines are written (so callers skip building them otherwise).
    pub fn access_log_enabled(&self) -> bool {
        self.log.is_some()
    }

    /// Queues one access log line (dropped, and counted, when the writer falls behind).
    pub(crate) fn access(&self, entry: &AccessLogEntry<'_>) {
        if let Some(tx) = &self.log
            && tx.try_send(entry.to_line()).is_err()
        {
            self.log_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
