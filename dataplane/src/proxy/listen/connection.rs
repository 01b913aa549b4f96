//! One client connection: the handshake (the virtual server chosen by SNI, the client
//! certificate judged once), then HTTP or the TCP relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::Acceptor;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::accept::Shared;
use super::limits::{HttpServers, Limits};
use super::tcp::tcp_proxy;
use super::{Closure, HandshakeFailure};
use crate::config::Protocol;
use crate::proxy::compiled::CompiledPort;
use crate::proxy::request::handle;
use crate::proxy::session::{ClientCertificate, ConnCtx, TlsInfo, TrackedIo};
use crate::proxy::telemetry::AccessLogEntry;
use crate::proxy::tls::refuse_unknown_name;
use crate::proxy::verdict::Verdict;

/// Serves one accepted connection to its end.
pub(super) async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    port_cfg: Arc<CompiledPort>,
    shared: &Shared,
    http: &HttpServers,
) {
    if port_cfg.protocol == Protocol::Http {
        let ctx = Arc::new(shared.context(port_cfg.port, peer, None));
        serve_http(stream, ctx, http.for_alpn(None), &shared.limits).await;
        return;
    }
    let Some((tls, info)) = handshake(stream, peer, &port_cfg, shared).await else {
        return;
    };
    if port_cfg.protocol == Protocol::Tls {
        // The handshake already refused chain and CRL failures; OCSP is only known now.
        let server = info.server.clone();
        if let Some(r) = server.refusal_of(&info.verdict) {
            let mut line = AccessLogEntry::new(peer.ip());
            line.listener = Some(&server.name);
            line.ssl_client_verify = Some(info.verdict.to_string());
            line.error = Some(format!(
                "connection closed: client certificate refused: {}",
                r.description()
            ));
            shared.telemetry.access(&line);
            return;
        }
        tcp_proxy(tls, &server, peer, &info, &shared.telemetry, &shared.limits).await;
        return;
    }
    let server_http = http.for_alpn(tls.get_ref().1.alpn_protocol());
    let ctx = Arc::new(shared.context(port_cfg.port, peer, Some(info)));
    serve_http(tls, ctx, server_http, &shared.limits).await;
}

/// The TLS handshake, within one deadline from the first byte, and the verdict on the client
/// certificate; `None` when the handshake failed or was refused (counted here).
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    port_cfg: &CompiledPort,
    shared: &Shared,
) -> Option<(TlsStream<TcpStream>, TlsInfo)> {
    let telemetry = &shared.telemetry;
    let failed = |listener: &str, why: HandshakeFailure| {
        telemetry.handshake(listener, why.result(), why.label());
    };
    // One deadline for the whole handshake, ClientHello included.
    let deadline = tokio::time::Instant::now() + shared.limits.handshake_timeout;
    let accept = LazyConfigAcceptor::new(Acceptor::default(), stream);
    let Ok(Ok(start)) = tokio::time::timeout_at(deadline, accept).await else {
        failed("-", HandshakeFailure::ClientHello);
        return None;
    };
    let sni = start
        .client_hello()
        .server_name()
        .map(str::to_ascii_lowercase);
    let Some(server) = port_cfg.select(sni.as_deref()).cloned() else {
        failed("-", HandshakeFailure::UnknownServerName);
        let mut line = AccessLogEntry::new(peer.ip());
        line.sni = sni.as_deref();
        line.error = Some(
            "handshake refused: no listener of this port answers the server name (alert unrecognized_name)"
                .into(),
        );
        telemetry.access(&line);
        refuse_unknown_name(start).await;
        return None;
    };
    let Some(tls_config) = server.tls.clone().filter(|_| server.refusal.is_none()) else {
        // Fail closed: an invalid Listener's hostnames stay claimed and refuse every handshake.
        failed(&server.name, HandshakeFailure::ListenerRefused);
        return None;
    };
    let tls = match tokio::time::timeout_at(deadline, start.into_stream(tls_config)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            failed(&server.name, HandshakeFailure::of(&e));
            return None;
        }
        Err(_) => {
            failed(&server.name, HandshakeFailure::Timeout);
            return None;
        }
    };
    let conn = tls.get_ref().1;
    let peer_certs: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    let verdict = match &server.verifier {
        Some(v) => {
            let presented = (!peer_certs.is_empty()).then_some(peer_certs.as_slice());
            v.judge(presented, UnixTime::now(), &shared.ocsp).await
        }
        None => Verdict::None,
    };
    let (result, reason) = match &verdict {
        Verdict::None => ("ok", "NoClientCertificate"),
        Verdict::Success => ("ok", "ClientCertificateValid"),
        Verdict::SuccessRevocationUnknown(u) => ("ok_revocation_unknown", u.label()),
        Verdict::Failed(r) => ("client_certificate_failed", r.label()),
    };
    telemetry.handshake(&server.name, result, reason);
    let info = TlsInfo {
        sni,
        version: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "-",
        },
        cipher: conn
            .negotiated_cipher_suite()
            .map_or("-", |s| crate::crypto::iana_name(s.suite())),
        cert: ClientCertificate::from_peer(&peer_certs),
        peer: peer_certs,
        verdict,
        rejudged: std::sync::Mutex::new(None),
        server,
    };
    Some((tls, info))
}

/// Serves HTTP on one connection until the client closes it, a limit closes it, or it has been
/// idle (no request in flight, no bytes moving) for `limits.idle_timeout`.
async fn serve_http<T>(io: T, ctx: Arc<ConnCtx>, http: &Builder<TokioExecutor>, limits: &Limits)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let watched = ctx.clone();
    let io = TokioIo::new(TrackedIo {
        inner: io,
        activity: ctx.activity.clone(),
    });
    let service = service_fn(move |req| handle(req, ctx.clone()));
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let result = loop {
        let (idle, busy) = (
            watched.activity.idle_for(),
            watched.activity.in_flight() > 0,
        );
        if !busy && idle >= limits.idle_timeout {
            watched.telemetry.closed(Closure::IdleTimeout.label());
            // HTTP/1.1 closes at once; HTTP/2 sends GOAWAY and lets the client see it.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
            return;
        }
        let wait = if busy {
            limits.idle_timeout
        } else {
            limits.idle_timeout - idle
        };
        tokio::select! {
            result = conn.as_mut() => break result,
            () = tokio::time::sleep(wait) => {}
        }
    };
    if let Err(e) = result
        && let Some(e) = e.downcast_ref::<hyper::Error>()
    {
        if e.is_timeout() {
            watched.telemetry.closed(Closure::HeaderTimeout.label());
        } else if e.is_parse_too_large() {
            watched.telemetry.closed(Closure::HeadersTooLarge.label());
        }
    }
}
