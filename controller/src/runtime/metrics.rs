//! The controller's counters, in the Prometheus text format on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dataplane::admin::{labelled_counter, metric_header as header};

/// Upper bounds of the reconcile-duration histogram, in seconds.
const BUCKETS: [f64; 8] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// What the controller counts.
#[derive(Default)]
pub struct Metrics {
    reconciles: Mutex<BTreeMap<&'static str, u64>>,
    durations: Mutex<(Vec<u64>, f64, u64)>,
    diagnostics: Mutex<BTreeMap<(&'static str, String), u64>>,
    pushes: Mutex<BTreeMap<&'static str, u64>>,
    snapshot_bytes: AtomicU64,
    dataplanes: AtomicU64,
    leader: AtomicBool,
    synced: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// Counts a reconcile by result (`ok`, `invalid` when translation found errors, `error`
    /// when the API server refused a write) and its duration.
    pub fn reconcile(&self, result: &'static str, elapsed: Duration) {
        *lock(&self.reconciles).entry(result).or_default() += 1;
        let mut d = lock(&self.durations);
        if d.0.is_empty() {
            d.0 = vec![0; BUCKETS.len()];
        }
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                d.0[i] += 1;
            }
        }
        d.1 += secs;
        d.2 += 1;
    }

    /// Replaces the current diagnostics, by severity and reason.
    pub fn diagnostics<'a>(&self, found: impl Iterator<Item = (&'static str, &'a str)>) {
        let mut map = lock(&self.diagnostics);
        map.values_mut().for_each(|v| *v = 0);
        for (severity, reason) in found {
            *map.entry((severity, reason.to_owned())).or_default() += 1;
        }
    }

    /// Counts a push by the dataplane's answer.
    pub fn push(&self, result: &'static str) {
        *lock(&self.pushes).entry(result).or_default() += 1;
    }

    /// Records the size of the current snapshot and the number of replicas.
    pub fn snapshot(&self, bytes: usize, dataplanes: usize) {
        self.snapshot_bytes.store(bytes as u64, Ordering::Relaxed);
        self.dataplanes.store(dataplanes as u64, Ordering::Relaxed);
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Records that the watches have listed everything once.
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Relaxed);
    }

    /// Whether the watches have listed everything once.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        labelled_counter(
            &mut out,
            "portcullis_controller_reconciles_total",
            "Reconciles by result (ok, invalid, error).",
            "result",
            &lock(&self.reconciles),
        );
        header(
            &mut out,
            "portcullis_controller_reconcile_duration_seconds",
            "histogram",
            "Time to translate, push and write status.",
        );
        {
            let d = lock(&self.durations);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let n = d.0.get(i).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "portcullis_controller_reconcile_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "portcullis_controller_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}\nportcullis_controller_reconcile_duration_seconds_sum {}\nportcullis_controller_reconcile_duration_seconds_count {}",
                d.2, d.1, d.2
            );
        }
        header(
            &mut out,
            "portcullis_controller_diagnostics",
            "gauge",
            "Current translation diagnostics by severity and reason.",
        );
        for ((severity, reason), n) in lock(&self.diagnostics).iter() {
            let _ = writeln!(
                out,
                "portcullis_controller_diagnostics{{severity=\"{severity}\",reason=\"{reason}\"}} {n}"
            );
        }
        labelled_counter(
            &mut out,
            "portcullis_controller_pushes_total",
            "Snapshot pushes by the dataplane's answer (acked, rejected, unreachable).",
            "result",
            &lock(&self.pushes),
        );
        for (name, help, value) in [
            (
                "portcullis_controller_snapshot_bytes",
                "Size of the current snapshot as pushed.",
                self.snapshot_bytes.load(Ordering::Relaxed),
            ),
            (
                "portcullis_controller_dataplanes",
                "Dataplane replicas found.",
                self.dataplanes.load(Ordering::Relaxed),
            ),
            (
                "portcullis_controller_leader",
                "1 while this replica holds the leader Lease.",
                u64::from(self.leader.load(Ordering::Relaxed)),
            ),
        ] {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}
