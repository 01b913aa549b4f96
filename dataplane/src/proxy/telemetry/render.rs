//! The Prometheus text exposition of the counters.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{Telemetry, lock};
use crate::admin::{labelled_counter, metric_header as header};

impl Telemetry {
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
        let now = crate::time::unix_now();
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

/// Escapes a Prometheus label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
