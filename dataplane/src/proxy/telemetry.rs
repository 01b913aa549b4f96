//! Metrics (Prometheus text) and the JSON access log.
//!
//! The access log is written by a dedicated thread fed through a bounded channel, so a slow
//! stdout never stalls a request; lines that do not fit are counted as dropped.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// Upper bounds of the request-duration histogram, seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Process-wide counters.
#[derive(Debug)]
pub struct Telemetry {
    handshakes: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    open_connections: AtomicI64,
    config_version: AtomicU64,
    config_rejected: AtomicU64,
    log_dropped: AtomicU64,
    log: Option<SyncSender<String>>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
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
                    let mut out = stdout.lock();
                    let _ = writeln!(out, "{line}");
                }
            });
            tx
        });
        Self {
            handshakes: Mutex::default(),
            requests: Mutex::default(),
            durations: Mutex::default(),
            open_connections: AtomicI64::new(0),
            config_version: AtomicU64::new(0),
            config_rejected: AtomicU64::new(0),
            log_dropped: AtomicU64::new(0),
            log,
        }
    }

    /// Counts a finished handshake.
    pub fn handshake(&self, listener: &str, result: &'static str, reason: &'static str) {
        let mut map = self.handshakes.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((listener.to_owned(), result, reason))
            .or_default() += 1;
    }

    /// Counts a finished request.
    pub fn request(&self, listener: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((listener.to_owned(), status))
            .or_default() += 1;
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let h = durations.entry(listener.to_owned()).or_default();
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// A connection opened (+1) or closed (-1).
    pub fn connections(&self, delta: i64) {
        self.open_connections.fetch_add(delta, Ordering::Relaxed);
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

    /// Writes one access-log line (a JSON object).
    pub fn access(&self, entry: serde_json::Value) {
        if let Some(tx) = &self.log
            && let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                tx.try_send(entry.to_string())
        {
            self.log_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP portcullis_tls_handshakes_total TLS handshakes by listener, client-certificate result and reason.\n# TYPE portcullis_tls_handshakes_total counter\n");
        for ((l, result, reason), n) in self
            .handshakes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!("portcullis_tls_handshakes_total{{listener=\"{l}\",result=\"{result}\",reason=\"{reason}\"}} {n}\n"));
        }
        out.push_str("# HELP portcullis_http_requests_total HTTP requests by listener and status.\n# TYPE portcullis_http_requests_total counter\n");
        for ((l, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "portcullis_http_requests_total{{listener=\"{l}\",status=\"{status}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP portcullis_http_request_duration_seconds Time from request to response headers.\n# TYPE portcullis_http_request_duration_seconds histogram\n");
        for (l, h) in self
            .durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                out.push_str(&format!("portcullis_http_request_duration_seconds_bucket{{listener=\"{l}\",le=\"{bound}\"}} {n}\n"));
            }
            out.push_str(&format!("portcullis_http_request_duration_seconds_bucket{{listener=\"{l}\",le=\"+Inf\"}} {}\n", h.count));
            out.push_str(&format!(
                "portcullis_http_request_duration_seconds_sum{{listener=\"{l}\"}} {}\n",
                h.sum
            ));
            out.push_str(&format!(
                "portcullis_http_request_duration_seconds_count{{listener=\"{l}\"}} {}\n",
                h.count
            ));
        }
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
                "portcullis_access_log_dropped_total",
                "counter",
                "Access-log lines dropped because the writer fell behind.",
                self.log_dropped.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, kind, help, value) in gauges {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        out
    }
}
