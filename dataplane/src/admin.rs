//! A small HTTP server for probes and metrics, shared by the dataplane and the controller.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// An answer: status code, content type and body.
pub type Answer = (u16, &'static str, String);

/// Plain text.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// The Prometheus text exposition format.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4";

/// Writes the `# HELP` and `# TYPE` lines of metric `name`.
pub fn metric_header(out: &mut String, name: &str, kind: &str, help: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes counter `name` with one sample per entry of `counts`, each labelled `label`.
pub fn labelled_counter(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    counts: &BTreeMap<&'static str, u64>,
) {
    use std::fmt::Write as _;
    metric_header(out, name, "counter", help);
    for (value, n) in counts {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

/// Time a client of the admin port has to send its request headers (and, kept alive, its
/// next request's). Probes and scrapes send theirs at once; a slow client must not hold a
/// descriptor.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Admin connections served at once; more are closed at once. Kubelet probes and a few
/// Prometheus scrapers need a handful; a flood must not take the process's descriptors.
pub const MAX_CONNECTIONS: usize = 64;

/// Serves `GET` requests on `listener`, answering each path with `handler`, until the task is
/// dropped.
pub async fn serve<F>(listener: TcpListener, handler: F)
where
    F: Fn(&str) -> Answer + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let (handler, http) = (handler.clone(), http.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (status, content_type, body) = handler(req.uri().path());
                    let mut resp = http::Response::new(Full::new(Bytes::from(body)));
                    *resp.status_mut() =
                        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static(content_type),
                    );
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                });
            let _ = http
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}
