//! Metrics (Prometheus text) and the JSON access log.
//!
//! The access log is written by a dedicated thread fed through a bounded channel, so a slow
//! stdout never stalls a request; lines that do not fit are counted as dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use crate::admin::{labelled_counter, metric_header as header};

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
    handshakes: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// Per listener: requests by status, and their durations. Looked up by `&str`, so the
    /// request path allocates nothing once a listener has been seen.
    requests: Mutex<BTreeMap<String, ListenerRequests>>,
    ocsp_requests: Mutex<BTreeMap<&'static str, u64>>,
    ocsp_durations: Mutex<Histogram>,
    ocsp_cache: [AtomicU64; 2],
    crl_downloads: Mutex<BTreeMap<&'static str, u64>>,
    expiries: Mutex<Expiries>,
    open_connections: AtomicI64,
    closed: Mutex<BTreeMap<&'static str, u64>>,
    requests_refused: Mutex<BTreeMap<&'static str, u64>>,
    headers_dropped: AtomicU64,
    draining: std::sync::atomic::AtomicBool,
    config_version: AtomicU64,
    config_rejected: AtomicU64,
    log_dropped: AtomicU64,
    log: Option<SyncSender<String>>,
}

/// One listener's requests: counts by status, and their durations.
type ListenerRequests = (BTreeMap<u16, u64>, Histogram);

#[derive(Debug, Default, Clone)]
struct Histogram {
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

    fn render(&self, out: &mut String, name: &str, labels: &str) {
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
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Escapes a Prometheus label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Telemetry {
    /// Counters, and an access log on stdout when `access_log` is set.
    pub fn new(access_log: bool) -> Self {
        let log = access_log.then(|| {
            let (tx, rx) = sync_channel::<String>(8192);
            std::thread::spawn(move || {
                use std::io::Write as _;
                let stdout = std::io::stdout();
                for line in rx {
                    let _ = writeln!(stdout.lock(), "{line}");
                }
            });
            tx
        });
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
    pub fn access(&self, entry: serde_json::Value) {
        if let Some(tx) = &self.log
            && tx.try_send(entry.to_string()).is_err()
        {
            self.log_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "portcullis_tls_handshakes_total",
            "counter",
            "TLS handshakes by listener, client-certificate result and reason.",
        );
        for ((l, result, reason), n) in lock(&self.handshakes).iter() {
            let _ = writeln!(
                out,
                "portcullis_tls_handshakes_total{{listener=\"{l}\",result=\"{result}\",reason=\"{reason}\"}} {n}"
            );
        }
        header(
            &mut out,
            "portcullis_http_requests_total",
            "counter",
            "HTTP requests by listener and status.",
        );
        for (l, (statuses, _)) in lock(&self.requests).iter() {
            for (status, n) in statuses {
                let _ = writeln!(
                    out,
                    "portcullis_http_requests_total{{listener=\"{l}\",status=\"{status}\"}} {n}"
                );
            }
        }
        header(
            &mut out,
            "portcullis_http_request_duration_seconds",
            "histogram",
            "Time from request to response headers.",
        );
        for (l, (_, h)) in lock(&self.requests).iter() {
            h.render(
                &mut out,
                "portcullis_http_request_duration_seconds",
                &format!("listener=\"{l}\""),
            );
        }
        labelled_counter(
            &mut out,
            "portcullis_ocsp_requests_total",
            "OCSP requests to responders by result.",
            "result",
            &lock(&self.ocsp_requests),
        );
        header(
            &mut out,
            "portcullis_ocsp_request_duration_seconds",
            "histogram",
            "Time to an OCSP responder's answer.",
        );
        lock(&self.ocsp_durations).render(&mut out, "portcullis_ocsp_request_duration_seconds", "");
        header(
            &mut out,
            "portcullis_ocsp_cache_lookups_total",
            "counter",
            "OCSP status lookups by cache result.",
        );
        for (i, result) in ["miss", "hit"].iter().enumerate() {
            let _ = writeln!(
                out,
                "portcullis_ocsp_cache_lookups_total{{result=\"{result}\"}} {}",
                self.ocsp_cache[i].load(Ordering::Relaxed)
            );
        }
        labelled_counter(
            &mut out,
            "portcullis_crl_downloads_total",
            "CRL downloads from distribution points by result.",
            "result",
            &lock(&self.crl_downloads),
        );
        let now = super::serve::unix_now();
        let expiries = lock(&self.expiries).clone();
        header(
            &mut out,
            "portcullis_trusted_ca_expires_in_seconds",
            "gauge",
            "Seconds until a trusted client CA expires (negative: expired).",
        );
        for (subject, not_after) in &expiries.cas {
            let _ = writeln!(
                out,
                "portcullis_trusted_ca_expires_in_seconds{{subject=\"{}\"}} {}",
                label(subject),
                not_after - now
            );
        }
        header(
            &mut out,
            "portcullis_crl_age_seconds",
            "gauge",
            "Seconds since a loaded CRL was issued.",
        );
        for (issuer, this_update, _) in &expiries.crls {
            let _ = writeln!(
                out,
                "portcullis_crl_age_seconds{{issuer=\"{}\"}} {}",
                label(issuer),
                now - this_update
            );
        }
        header(
            &mut out,
            "portcullis_crl_expires_in_seconds",
            "gauge",
            "Seconds until a loaded CRL's nextUpdate (negative: expired).",
        );
        for (issuer, _, next) in &expiries.crls {
            if let Some(next) = next {
                let _ = writeln!(
                    out,
                    "portcullis_crl_expires_in_seconds{{issuer=\"{}\"}} {}",
                    label(issuer),
                    next - now
                );
            }
        }
        labelled_counter(
            &mut out,
            "portcullis_connections_closed_by_limit_total",
            "Client connections a limit closed: ConnectionLimit, HeaderTimeout, IdleTimeout, HeadersTooLarge.",
            "limit",
            &lock(&self.closed),
        );
        labelled_counter(
            &mut out,
            "portcullis_http_requests_refused_total",
            "Requests refused (400) before any decision because backends could read their target or host differently, by reason.",
            "reason",
            &lock(&self.requests_refused),
        );
        let gauges = [
            (
                "portcullis_open_connections",
                "gauge",
                "Client connections open now.",
                self.open_connections.load(Ordering::Relaxed),
            ),
            (
                "portcullis_config_version",
                "gauge",
                "Snapshots applied since start.",
                self.config_version.load(Ordering::Relaxed) as i64,
            ),
            (
                "portcullis_config_rejected_total",
                "counter",
                "Snapshots rejected (the previous one kept serving).",
                self.config_rejected.load(Ordering::Relaxed) as i64,
            ),
            (
                "portcullis_http_request_headers_dropped_total",
                "counter",
                "Client request headers dropped because their names hold characters other than letters, digits and '-' (a backend may read '_' as '-').",
                self.headers_dropped.load(Ordering::Relaxed) as i64,
            ),
            (
                "portcullis_access_log_dropped_total",
                "counter",
                "Access-log lines dropped because the writer fell behind.",
                self.log_dropped.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, kind, help, value) in gauges {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}
