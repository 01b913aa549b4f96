//! The access log: one JSON object per line on stdout, every line with the same keys (`null`
//! where a key does not apply), built from one type ([`AccessLogEntry`]) and written by a
//! dedicated thread fed through a bounded channel, so a slow stdout never stalls a request;
//! lines that do not fit are counted as dropped.

use std::net::IpAddr;
use std::sync::mpsc::{SyncSender, sync_channel};

use serde::Serialize;

/// Lines queued for the writer before new ones are dropped.
const QUEUE: usize = 8192;

/// One access-log line: an HTTP request, a proxied TCP connection, or a refused handshake.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessLogEntry<'a> {
    /// When the line was made, RFC 3339 UTC.
    pub time: String,
    /// The Listener (`namespace/name`), once one was chosen.
    pub listener: Option<&'a str>,
    /// The client's address.
    pub client_ip: IpAddr,
    /// HTTP method.
    pub method: Option<String>,
    /// The judged host.
    pub host: Option<&'a str>,
    /// The canonical path (the raw one of a refused request).
    pub path: Option<&'a str>,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub protocol: Option<String>,
    /// The status answered.
    pub status: Option<u16>,
    /// The backend endpoint.
    pub upstream: Option<String>,
    /// Time until the response headers (HTTP) or the connection's end (TCP).
    pub duration_ms: Option<f64>,
    /// Bytes sent to the client (TCP).
    pub bytes_sent: Option<u64>,
    /// Bytes received from the client (TCP).
    pub bytes_received: Option<u64>,
    /// The server name the client sent.
    pub sni: Option<&'a str>,
    /// `TLSv1.3`, `TLSv1.2`.
    pub ssl_protocol: Option<&'a str>,
    /// The negotiated cipher suite, IANA name.
    pub ssl_cipher: Option<&'a str>,
    /// The verdict: `SUCCESS`, `FAILED:<reason>`, `NONE`.
    pub ssl_client_verify: Option<String>,
    /// SHA-1 of the client certificate, uppercase hex.
    pub ssl_client_certificate_fingerprint: Option<String>,
    /// Issuer DN of the client certificate.
    pub ssl_client_certificate_issuer_name: Option<String>,
    /// Subject DN of the client certificate.
    pub ssl_client_certificate_subject_name: Option<String>,
    /// Why the request or connection failed.
    pub error: Option<String>,
}

impl<'a> AccessLogEntry<'a> {
    /// A line about a client at `client_ip`, stamped now, every other key empty.
    pub(crate) fn new(client_ip: IpAddr) -> Self {
        Self {
            time: crate::time::rfc3339(crate::time::unix_now()),
            listener: None,
            client_ip,
            method: None,
            host: None,
            path: None,
            protocol: None,
            status: None,
            upstream: None,
            duration_ms: None,
            bytes_sent: None,
            bytes_received: None,
            sni: None,
            ssl_protocol: None,
            ssl_cipher: None,
            ssl_client_verify: None,
            ssl_client_certificate_fingerprint: None,
            ssl_client_certificate_issuer_name: None,
            ssl_client_certificate_subject_name: None,
            error: None,
        }
    }

    /// The JSON line.
    pub(crate) fn to_line(&self) -> String {
        // Serialising a struct of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Starts the writer thread; lines sent to the returned channel go to stdout in order.
pub(super) fn writer() -> SyncSender<String> {
    let (tx, rx) = sync_channel::<String>(QUEUE);
    std::thread::spawn(move || {
        use std::io::Write as _;
        let stdout = std::io::stdout();
        for line in rx {
            let _ = writeln!(stdout.lock(), "{line}");
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_has_every_key() {
        let mut http = AccessLogEntry::new([127, 0, 0, 1].into());
        http.status = Some(200);
        http.ssl_client_verify = Some("SUCCESS".into());
        let tcp = AccessLogEntry::new([10, 0, 0, 2].into());
        let keys = |e: &AccessLogEntry<'_>| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_str(&e.to_line()).expect("json");
            v.as_object().expect("object").keys().cloned().collect()
        };
        assert_eq!(keys(&http), keys(&tcp));
        assert!(keys(&tcp).contains(&"time".to_owned()));
        let line = http.to_line();
        assert!(line.contains("\"clientIp\":\"127.0.0.1\""), "{line}");
        assert!(line.contains("\"sslClientVerify\":\"SUCCESS\""), "{line}");
        assert!(line.contains("\"error\":null"), "{line}");
    }
}
