//! One HTTP request through the gateway, in the order the checks apply:
//! one host and canonical target (400, [`target`]) → SNI/Host agreement (421) → listener
//! refused (503) → client certificate gate (400 or the error page's 302, except on exclusion
//! paths) → certificate subject pattern (403) → route (404) →
//! the certificate requirement of the rules (400) → drop aliasable header names, strip identity
//! and routing headers, set the gateway's ([`headers`], [`identity`]) → backend (502/503/504)
//! → access log.

mod headers;
pub mod identity;
mod response;
pub(crate) mod target;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::backend::{BackendError, Body};
use super::compiled::{CompiledRoute, CompiledServer, CompiledSnapshot};
use super::session::ConnCtx;
use super::telemetry::AccessLogEntry;
use super::verdict::{Reason, Verdict};
use crate::canon::host::Authority;
use response::{Answer, text};

/// Serves one request.
pub(crate) async fn handle(
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
    let mut facts = Facts::default();
    let mut response = proxy(req, &ctx, &mut facts).await;
    // The gateway answers in its own HTTP version, whatever the backend's (RFC 9110 §6.2):
    // HTTP/1.1 to an HTTP/1.x client, HTTP/2 to an HTTP/2 one.
    *response.version_mut() = if version == Version::HTTP_2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let listener = facts.listener.as_ref().map_or("-", |s| s.name.as_str());
    ctx.telemetry.request(listener, status, elapsed);
    if let Some((method, protocol)) = logged {
        let tls = ctx.tls.as_ref();
        let cert = tls.and_then(|t| t.cert.as_ref());
        let mut line = AccessLogEntry::new(ctx.peer.ip());
        line.listener = Some(listener);
        line.method = Some(method);
        line.host = Some(&facts.host);
        line.path = Some(&facts.path);
        line.protocol = Some(protocol);
        line.status = Some(status);
        line.upstream = facts.upstream.map(|u| u.to_string());
        line.duration_ms = Some(elapsed.as_secs_f64() * 1000.0);
        line.sni = tls.and_then(|t| t.sni.as_deref());
        line.ssl_protocol = tls.map(|t| t.version);
        line.ssl_cipher = tls.map(|t| t.cipher);
        line.ssl_client_verify = Some(facts.verdict.to_string());
        line.ssl_client_certificate_fingerprint = cert.map(|c| c.thumbprint());
        line.ssl_client_certificate_issuer_name = cert.map(|c| c.info.issuer.to_string());
        line.ssl_client_certificate_subject_name = cert.map(|c| c.info.subject.to_string());
        line.error = facts.error;
        ctx.telemetry.access(&line);
    }
    Ok(response)
}

/// What the access log and the metrics learn along the way.
#[derive(Default)]
struct Facts {
    /// The virtual server that answered, once chosen.
    listener: Option<Arc<CompiledServer>>,
    /// The judged host (empty when the request was refused before it had one).
    host: String,
    /// The canonical path the request was judged and forwarded by; the raw one when refused.
    path: String,
    upstream: Option<crate::config::Endpoint>,
    verdict: Verdict,
    error: Option<String>,
}

/// The pipeline: each step answers the request itself or hands it on.
async fn proxy(mut req: Request<Incoming>, ctx: &ConnCtx, facts: &mut Facts) -> Response<Body> {
    let config = ctx.config.borrow().clone();
    // Every decision below reads the request in this one form, and the backend gets it.
    let sni = ctx.tls.as_ref().and_then(|t| t.sni.as_deref());
    let read = target::canonicalize(&mut req, sni);
    // The canonical path, or the raw one of a refused request (left as it came).
    if ctx.telemetry.access_log_enabled() {
        facts.path = req.uri().path().to_owned();
    }
    let authority = match read {
        Ok(a) => a,
        Err(e) => {
            facts.error = Some(e.to_string());
            ctx.telemetry.request_refused(e.label());
            return text(StatusCode::BAD_REQUEST, &format!("400 Bad Request: {e}"));
        }
    };
    if ctx.telemetry.access_log_enabled() {
        facts.host = authority.host().to_owned();
    }
    let server = match select_server(&config, ctx, authority.host(), facts) {
        Ok(s) => s,
        Err(answer) => return answer.response(),
    };
    if let Some(https) = server.redirect_https_port {
        return redirect(&req, authority.host(), https);
    }
    let route = match client_cert_gate(server, &req, ctx, authority.host(), facts).await {
        Ok(route) => route,
        Err(answer) => return answer.response(),
    };
    forward(req, ctx, &config, route, &authority, facts).await
}

/// The virtual server for `host` on the connection's port: one that agrees with the SNI, and
/// is not refused.
fn select_server<'c>(
    config: &'c CompiledSnapshot,
    ctx: &ConnCtx,
    host: &str,
    facts: &mut Facts,
) -> Result<&'c Arc<CompiledServer>, Answer> {
    let Some(port) = config.ports.get(&ctx.port) else {
        return Err(Answer::Text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: this port is no longer configured",
        ));
    };
    let server = match (&ctx.tls, port.select(Some(host))) {
        (Some(tls), Some(s)) if s.name != tls.server.name => {
            // The Host belongs to another TLS configuration than the one the connection was
            // opened with (SNI): answering would let a client reach an mTLS host over a
            // connection that never presented that host's client-certificate requirements.
            facts.listener = Some(tls.server.clone());
            return Err(Answer::Text(
                StatusCode::MISDIRECTED_REQUEST,
                "421 Misdirected Request: the Host header does not match the TLS server name (SNI) of this connection",
            ));
        }
        (_, Some(s)) => s,
        (_, None) => {
            return Err(Answer::Text(
                StatusCode::NOT_FOUND,
                "404 Not Found: no listener for this host",
            ));
        }
    };
    facts.listener = Some(server.clone());
    if let Some(r) = &server.refusal {
        facts.error = Some(r.message.clone());
        return Err(Answer::Text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: this listener's configuration is invalid and it refuses traffic",
        ));
    }
    Ok(server)
}

/// A plain-HTTP listener's answer: the same target over HTTPS on port `https`.
fn redirect(req: &Request<Incoming>, host: &str, https: u16) -> Response<Body> {
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
    resp
}

/// The client certificate against the server's mode (outside exclusion paths), the route, and
/// the route's own requirement; the verdict is recorded in `facts`.
async fn client_cert_gate<'s>(
    server: &'s CompiledServer,
    req: &Request<Incoming>,
    ctx: &ConnCtx,
    host: &str,
    facts: &mut Facts,
) -> Result<&'s CompiledRoute, Answer> {
    let verdict = match &ctx.tls {
        Some(t) => t.verdict_under(server.verifier.as_ref(), &ctx.ocsp).await,
        None => Verdict::None,
    };
    facts.verdict = verdict.clone();
    let path = req.uri().path();
    if let Some(reason) = server.refusal_of(&verdict)
        && !server.is_excluded(path)
    {
        // Logged as the refusal it is (`FAILED:no client certificate presented`), not `NONE`.
        facts.verdict = Verdict::Failed(reason);
        return Err(Answer::certificate(server, reason));
    }
    if let Some(pattern) = &server.subject_pattern {
        // nginx's `$ssl_client_s_dn`: empty without a certificate, so a pattern that needs
        // one refuses a client that sent none.
        let subject = ctx
            .tls
            .as_ref()
            .and_then(|t| t.cert.as_ref())
            .map(|c| c.info.subject.openssl())
            .unwrap_or_default();
        if !pattern.is_match(&subject) {
            facts.error = Some(format!(
                "client certificate subject {subject:?} does not match {}",
                pattern.as_str()
            ));
            return Err(Answer::Text(
                StatusCode::FORBIDDEN,
                "403 Forbidden: client certificate unauthorized",
            ));
        }
    }
    let Some(route) = server.route(host, path) else {
        return Err(Answer::Text(
            StatusCode::NOT_FOUND,
            "404 Not Found: no route matches this path",
        ));
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
        facts.verdict = Verdict::Failed(reason);
        return Err(Answer::certificate(server, reason));
    }
    Ok(route)
}

/// The request as the backend gets it: headers stripped and set, then sent.
async fn forward(
    mut req: Request<Incoming>,
    ctx: &ConnCtx,
    config: &CompiledSnapshot,
    route: &CompiledRoute,
    authority: &Authority,
    facts: &mut Facts,
) -> Response<Body> {
    let request_headers = req.headers_mut();
    headers::strip_hop_by_hop(request_headers);
    let dropped = headers::strip_client_headers(request_headers, &config.strip);
    if dropped > 0 {
        ctx.telemetry.headers_dropped(dropped);
    }
    let cert = ctx.tls.as_ref().and_then(|t| t.cert.as_ref());
    identity::set(
        request_headers,
        &route.presets,
        &route.headers,
        cert,
        &facts.verdict,
    );
    headers::forwarded(request_headers, ctx, authority.host());
    // The judged host, or the configured override; a client's `Host` already in that form is
    // kept as it is (nothing to build).
    let host_header = match route.backend.host_override.as_deref() {
        Some(h) => Some(h),
        None if request_headers
            .get(header::HOST)
            .is_some_and(|v| v.as_bytes() == authority.as_str().as_bytes()) =>
        {
            None
        }
        None => Some(authority.as_str()),
    };
    if let Some(Ok(h)) = host_header.map(HeaderValue::from_str) {
        request_headers.insert(header::HOST, h);
    }
    *req.version_mut() = Version::HTTP_11;
    let req = req.map(|b| b.boxed());
    match route.backend.send(req).await {
        Ok((endpoint, mut resp)) => {
            facts.upstream = Some(endpoint);
            headers::strip_hop_by_hop(resp.headers_mut());
            resp
        }
        Err(e) => {
            facts.error = Some(e.to_string());
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
