//! One HTTP request through the gateway, in the order the checks apply:
//! one host and canonical target (400) → SNI/Host agreement (421) → listener refused (503) →
//! client certificate gate (400, except on exclusion paths) → route (404) → the certificate
//! requirement of the rules (400) → drop aliasable header names, strip identity and routing
//! headers, set the gateway's → backend (502/503/504) → access log.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::watch;

use super::backend::{BackendError, Body};
use super::client_auth::{Reason, Verdict};
use super::compiled::{CompiledServer, CompiledSnapshot};
use super::fetch::RevocationClient;
use super::identity;
use super::serve::{TlsInfo, unix_now};
use super::target;
use super::telemetry::Telemetry;
use crate::canon::header::is_plain_name;

/// What a connection knows while serving its requests.
pub struct ConnCtx {
    /// The local port.
    pub port: u16,
    /// The client's address.
    pub peer: SocketAddr,
    /// The handshake's facts; `None` on plain HTTP.
    pub tls: Option<TlsInfo>,
    /// The latest snapshot (routes and verifiers are read per request).
    pub config: watch::Receiver<Arc<CompiledSnapshot>>,
    /// Counters and the access log.
    pub telemetry: Arc<Telemetry>,
    /// The shared OCSP client, to re-judge after a configuration change.
    pub ocsp: Arc<RevocationClient>,
    /// Requests in flight and the last bytes moved, for the idle timeout.
    pub activity: Arc<super::limits::Activity>,
    /// The client's address and the local port as header values, made once per connection.
    forwarded: (HeaderValue, HeaderValue),
}

impl ConnCtx {
    /// What a connection on local `port` from `peer` knows, with `tls` the handshake's facts.
    pub fn new(
        port: u16,
        peer: SocketAddr,
        tls: Option<TlsInfo>,
        config: watch::Receiver<Arc<CompiledSnapshot>>,
        telemetry: Arc<Telemetry>,
        ocsp: Arc<RevocationClient>,
    ) -> Self {
        Self {
            port,
            peer,
            tls,
            config,
            telemetry,
            ocsp,
            activity: Arc::new(super::limits::Activity::default()),
            forwarded: (
                HeaderValue::try_from(peer.ip().to_string())
                    .unwrap_or(HeaderValue::from_static("-")),
                HeaderValue::from(port),
            ),
        }
    }
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded. Parsed names: removing by
/// string would parse each name again on every request.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Serves one request.
pub async fn handle(
    req: Request<Incoming>,
    ctx: Arc<ConnCtx>,
) -> Result<Response<Body>, Infallible> {
    let _in_flight = ctx.activity.begin();
    let started = Instant::now();
    let version = req.version();
    // What the access log needs of the request, taken before it moves on; nothing is built
    // for a log that is off.
    let logged = ctx
        .telemetry
        .access_log_enabled()
        .then(|| (req.method().to_string(), format!("{version:?}")));
    let mut log = Outcome {
        listener: "-".into(),
        host: String::new(),
        path: String::new(),
        upstream: None,
        verdict: Verdict::None,
        error: None,
    };
    let mut response = proxy(req, &ctx, &mut log).await;
    // The gateway answers in its own HTTP version, whatever the backend's (RFC 9110 §6.2):
    // HTTP/1.1 to an HTTP/1.x client, HTTP/2 to an HTTP/2 one.
    *response.version_mut() = if version == Version::HTTP_2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    ctx.telemetry.request(&log.listener, status, elapsed);
    let Some((method, version)) = logged else {
        return Ok(response);
    };
    let cert = ctx.tls.as_ref().and_then(|t| t.cert.as_ref());
    ctx.telemetry.access(serde_json::json!({
        "time": identity::rfc3339(unix_now()),
        "listener": log.listener,
        "clientIp": ctx.peer.ip().to_string(),
        "method": method,
        "host": log.host,
        "path": log.path,
        "protocol": version,
        "status": status,
        "upstream": log.upstream.map(|u| u.to_string()),
        "durationMs": elapsed.as_secs_f64() * 1000.0,
        "sni": ctx.tls.as_ref().and_then(|t| t.sni.clone()),
        "sslProtocol": ctx.tls.as_ref().map(|t| t.version),
        "sslCipher": ctx.tls.as_ref().map(|t| t.cipher),
        "sslClientVerify": log.verdict.to_string(),
        "sslClientCertificateFingerprint": cert.map(|c| c.thumbprint()),
        "sslClientCertificateIssuerName": cert.map(|c| c.info.issuer.to_string()),
        "sslClientCertificateSubjectName": cert.map(|c| c.info.subject.to_string()),
        "error": log.error,
    }));
    Ok(response)
}

/// What the access log learns along the way.
struct Outcome {
    listener: String,
    /// The judged host (empty when the request was refused before it had one).
    host: String,
    /// The canonical path the request was judged and forwarded by; the raw one when refused.
    path: String,
    upstream: Option<crate::config::Endpoint>,
    verdict: Verdict,
    error: Option<String>,
}

async fn proxy(mut req: Request<Incoming>, ctx: &ConnCtx, log: &mut Outcome) -> Response<Body> {
    let config = ctx.config.borrow().clone();
    let Some(port) = config.ports.get(&ctx.port) else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: this port is no longer configured",
        );
    };
    // Every decision below reads the request in this one form, and the backend gets it.
    let sni = ctx.tls.as_ref().and_then(|t| t.sni.as_deref());
    let read = target::canonicalize(&mut req, sni);
    // The canonical path, or the raw one of a refused request (left as it came).
    if ctx.telemetry.access_log_enabled() {
        log.path = req.uri().path().to_owned();
    }
    let authority = match read {
        Ok(a) => a,
        Err(e) => {
            log.error = Some(e.to_string());
            ctx.telemetry.request_refused(e.label());
            return text(StatusCode::BAD_REQUEST, &format!("400 Bad Request: {e}"));
        }
    };
    let host = authority.host();
    if ctx.telemetry.access_log_enabled() {
        log.host = host.to_owned();
    }
    let server: &Arc<CompiledServer> = match (&ctx.tls, port.select(Some(host))) {
        (Some(tls), Some(s)) if s.name != tls.server.name => {
            // The Host belongs to another TLS configuration than the one the connection was
            // opened with (SNI): answering would let a client reach an mTLS host over a
            // connection that never presented that host's client-certificate requirements.
            log.listener = tls.server.name.clone();
            return text(
                StatusCode::MISDIRECTED_REQUEST,
                "421 Misdirected Request: the Host header does not match the TLS server name (SNI) of this connection",
            );
        }
        (_, Some(s)) => s,
        (_, None) => {
            return text(
                StatusCode::NOT_FOUND,
                "404 Not Found: no listener for this host",
            );
        }
    };
    log.listener = server.name.clone();
    if let Some(r) = &server.refusal {
        log.error = Some(r.message.clone());
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: this listener's configuration is invalid and it refuses traffic",
        );
    }
    if let Some(https) = server.redirect_https_port {
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = match https {
            443 => format!("https://{host}{target}"),
            port => format!("https://{host}:{port}{target}"),
        };
        let mut resp = text(
            StatusCode::PERMANENT_REDIRECT,
            &format!("308 Permanent Redirect: {location}"),
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return resp;
    }
    let verdict = match &ctx.tls {
        Some(t) => t.verdict_under(server.verifier.as_ref(), &ctx.ocsp).await,
        None => Verdict::None,
    };
    log.verdict = verdict.clone();
    let refused = match &verdict {
        Verdict::Success => None,
        Verdict::Failed(r) if server.optional => Some(*r),
        Verdict::Failed(r) if server.required => Some(*r),
        Verdict::None if server.required => Some(Reason::NoCertificate),
        _ => None,
    };
    let path = req.uri().path();
    if let Some(reason) = refused
        && !server.is_excluded(path)
    {
        // Logged as the refusal it is (`FAILED:no client certificate presented`), not `NONE`.
        log.verdict = Verdict::Failed(reason);
        return certificate_refused(reason);
    }
    let Some(route) = server.route(host, path) else {
        return text(
            StatusCode::NOT_FOUND,
            "404 Not Found: no route matches this path",
        );
    };
    // A rule's own requirement: a verified certificate (FailOpen's unknown revocation status
    // is admitted, as the profile's policy says), whatever the exclusion paths; judged on
    // every reading a backend may take of the path, not only on the route that serves it.
    let missing = match &verdict {
        Verdict::Success | Verdict::SuccessRevocationUnknown(_) => None,
        Verdict::Failed(r) => Some(*r),
        Verdict::None => Some(Reason::NoCertificate),
    };
    if let Some(reason) = missing
        && server.requires_certificate(host, path)
    {
        log.verdict = Verdict::Failed(reason);
        return certificate_refused(reason);
    }

    let headers = req.headers_mut();
    strip_hop_by_hop(headers);
    let dropped = strip_client_headers(headers, &config.strip);
    if dropped > 0 {
        ctx.telemetry.headers_dropped(dropped);
    }
    let cert = ctx.tls.as_ref().and_then(|t| t.cert.as_ref());
    identity::set(headers, &route.presets, &route.headers, cert, &verdict);
    forwarded(headers, ctx, host);
    // The judged host, or the configured override; a client's `Host` already in that form is
    // kept as it is (nothing to build).
    let host_header = match route.backend.host_override.as_deref() {
        Some(h) => Some(h),
        None if headers
            .get(header::HOST)
            .is_some_and(|v| v.as_bytes() == authority.as_str().as_bytes()) =>
        {
            None
        }
        None => Some(authority.as_str()),
    };
    if let Some(Ok(h)) = host_header.map(HeaderValue::from_str) {
        headers.insert(header::HOST, h);
    }
    *req.version_mut() = Version::HTTP_11;
    let req = req.map(|b| b.boxed());
    match route.backend.send(req).await {
        Ok((endpoint, mut resp)) => {
            log.upstream = Some(endpoint);
            strip_hop_by_hop(resp.headers_mut());
            resp
        }
        Err(e) => {
            log.error = Some(e.to_string());
            match e {
                BackendError::NoEndpoints(_) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 Service Unavailable: the backend has no ready endpoints",
                ),
                BackendError::Timeout(..) => text(
                    StatusCode::GATEWAY_TIMEOUT,
                    "504 Gateway Timeout: the backend did not answer in time",
                ),
                BackendError::Failed(..) => text(
                    StatusCode::BAD_GATEWAY,
                    "502 Bad Gateway: the backend could not be reached",
                ),
            }
        }
    }
}

/// The answer to a client whose certificate is missing or refused: 400, as Application
/// Gateway answers, with the reason in OpenSSL's words.
fn certificate_refused(reason: Reason) -> Response<Body> {
    text(
        StatusCode::BAD_REQUEST,
        &format!(
            "400 Bad Request: client certificate refused: {}",
            reason.description()
        ),
    )
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes, in one pass over the request's headers, those a client may not send: names a
/// backend could read as another name (`_` for `-`, see [`crate::canon::header`]), and the
/// gateway's own (`strip`: identity, rule and routing headers). Returns how many fields had
/// aliasable names.
fn strip_client_headers(headers: &mut HeaderMap, strip: &HashSet<HeaderName>) -> u64 {
    let mut doomed: Vec<HeaderName> = Vec::new();
    let mut aliasable = 0;
    for name in headers.keys() {
        if !is_plain_name(name.as_str()) {
            aliasable += headers.get_all(name).iter().count() as u64;
            doomed.push(name.clone());
        } else if strip.contains(name) {
            doomed.push(name.clone());
        }
    }
    for name in doomed {
        headers.remove(&name);
    }
    aliasable
}

/// The gateway's own forwarding headers. It is the edge: what a client says of earlier hops
/// is not evidence, so `X-Forwarded-For` and `X-Real-IP` hold the client's address alone (as
/// Traefik does for untrusted clients), and the host, protocol and port are those the gateway
/// judged and served.
fn forwarded(headers: &mut HeaderMap, ctx: &ConnCtx, host: &str) {
    let (ip, port) = &ctx.forwarded;
    let proto = HeaderValue::from_static(if ctx.tls.is_some() { "https" } else { "http" });
    headers.insert(X_FORWARDED_FOR, ip.clone());
    headers.insert(X_REAL_IP, ip.clone());
    headers.insert(X_FORWARDED_PROTO, proto);
    headers.insert(X_FORWARDED_PORT, port.clone());
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(X_FORWARDED_HOST, v);
    }
}

/// A one-line plain-text answer from the gateway itself.
pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(format!("{body}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
