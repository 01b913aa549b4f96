//! Connections: accept, pick the virtual server by SNI, handshake, judge the client
//! certificate once, then serve HTTP or proxy TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::Acceptor;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::LazyConfigAcceptor;

use super::client_auth::{ClientAuthVerifier, Verdict};
use super::compiled::{CompiledPort, CompiledServer, CompiledSnapshot};
use super::fetch::RevocationClient;
use super::http::{ConnCtx, handle};
use super::identity::ClientCertificate;
use super::telemetry::Telemetry;
use crate::config::Protocol;

/// Time a client has to complete its TLS handshake: slow or stuck clients must not hold a
/// connection slot forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the TLS handshake established, kept for the connection's life.
#[derive(Debug)]
pub struct TlsInfo {
    /// SNI the client sent, lowercase.
    pub sni: Option<String>,
    /// The virtual server the SNI chose.
    pub server: Arc<CompiledServer>,
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: &'static str,
    /// The negotiated cipher suite.
    pub cipher: &'static str,
    /// The client's certificates, leaf first.
    pub peer: Vec<CertificateDer<'static>>,
    /// The client certificate, parsed.
    pub cert: Option<ClientCertificate>,
    /// The verdict under the server's verifier at handshake time.
    pub verdict: Verdict,
    /// The verdict under the last other verifier a request met (after a new snapshot), so
    /// a keep-alive connection re-checks its certificate once per configuration, not per
    /// request.
    pub rejudged: std::sync::Mutex<Option<(Arc<ClientAuthVerifier>, Verdict)>>,
}

impl TlsInfo {
    /// The verdict under `verifier`: the handshake's when it is the same verifier, else
    /// re-judged, so that a rotated CA applies to keep-alive connections too.
    pub async fn verdict_under(
        &self,
        verifier: Option<&Arc<ClientAuthVerifier>>,
        ocsp: &RevocationClient,
    ) -> Verdict {
        match (verifier, &self.server.verifier) {
            (Some(now), Some(then)) if Arc::ptr_eq(now, then) => self.verdict.clone(),
            (Some(now), _) => {
                if let Ok(cached) = self.rejudged.lock()
                    && let Some((v, verdict)) = cached.as_ref()
                    && Arc::ptr_eq(v, now)
                {
                    return verdict.clone();
                }
                let verdict = now.judge(self.peer_certs(), UnixTime::now(), ocsp).await;
                if let Ok(mut cached) = self.rejudged.lock() {
                    *cached = Some((now.clone(), verdict.clone()));
                }
                verdict
            }
            (None, _) => Verdict::None,
        }
    }

    fn peer_certs(&self) -> Option<&[CertificateDer<'static>]> {
        (!self.peer.is_empty()).then_some(self.peer.as_slice())
    }
}

/// Accepts connections on one port until the task is aborted (a new snapshot dropped the
/// port); connections already accepted run to completion.
pub async fn accept_loop(
    listener: TcpListener,
    port: u16,
    config: watch::Receiver<Arc<CompiledSnapshot>>,
    telemetry: Arc<Telemetry>,
    ocsp: Arc<RevocationClient>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("portcullis: accept on port {port}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Some(port_cfg) = config.borrow().ports.get(&port).cloned() else {
            continue;
        };
        let (config, telemetry, ocsp) = (config.clone(), telemetry.clone(), ocsp.clone());
        tokio::spawn(async move {
            telemetry.connections(1);
            connection(stream, peer, port_cfg, config, &telemetry, ocsp).await;
            telemetry.connections(-1);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    port_cfg: Arc<CompiledPort>,
    config: watch::Receiver<Arc<CompiledSnapshot>>,
    telemetry: &Arc<Telemetry>,
    ocsp: Arc<RevocationClient>,
) {
    let port = port_cfg.port;
    if port_cfg.protocol == Protocol::Http {
        let ctx = Arc::new(ConnCtx {
            port,
            peer,
            tls: None,
            config,
            telemetry: telemetry.clone(),
            ocsp: ocsp.clone(),
        });
        serve_http(TokioIo::new(stream), ctx).await;
        return;
    }
    let Ok(Ok(start)) = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        LazyConfigAcceptor::new(Acceptor::default(), stream),
    )
    .await
    else {
        telemetry.handshake("-", "failed", "ClientHello");
        return;
    };
    let sni = start
        .client_hello()
        .server_name()
        .map(str::to_ascii_lowercase);
    let Some(server) = port_cfg.select(sni.as_deref()).cloned() else {
        telemetry.handshake("-", "refused", "UnknownServerName");
        return;
    };
    let Some(tls_config) = server.tls.clone().filter(|_| server.refusal.is_none()) else {
        // Fail closed: an invalid Listener's hostnames stay claimed and refuse every handshake.
        telemetry.handshake(&server.name, "refused", "ListenerRefused");
        return;
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(tls_config)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let reason = if e.to_string().contains("certificate") {
                "ClientCertificateRefused"
            } else {
                "HandshakeFailed"
            };
            telemetry.handshake(&server.name, "failed", reason);
            return;
        }
        Err(_) => {
            telemetry.handshake(&server.name, "failed", "Timeout");
            return;
        }
    };
    let (_, conn) = tls.get_ref();
    let peer_certs: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    let verdict = match &server.verifier {
        Some(v) => {
            v.judge(
                (!peer_certs.is_empty()).then_some(peer_certs.as_slice()),
                UnixTime::now(),
                &ocsp,
            )
            .await
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
            .map_or("-", |s| iana_name(s.suite())),
        cert: ClientCertificate::from_peer(&peer_certs),
        peer: peer_certs,
        verdict,
        rejudged: std::sync::Mutex::new(None),
        server: server.clone(),
    };
    if port_cfg.protocol == Protocol::Tls {
        // The handshake already refused chain and CRL failures; OCSP is only known now.
        if let (true, Verdict::Failed(r)) = (server.required || server.optional, &info.verdict) {
            telemetry.access(serde_json::json!({
                "time": super::identity::rfc3339(unix_now()), "listener": server.name,
                "clientIp": peer.ip().to_string(), "sslClientVerify": info.verdict.to_string(),
                "error": format!("connection closed: client certificate refused: {}", r.description()),
            }));
            return;
        }
        tcp_proxy(tls, &server, peer, &info, telemetry).await;
        return;
    }
    let ctx = Arc::new(ConnCtx {
        port,
        peer,
        tls: Some(info),
        config,
        telemetry: telemetry.clone(),
        ocsp: ocsp.clone(),
    });
    serve_http(TokioIo::new(tls), ctx).await;
}

async fn serve_http<I>(io: I, ctx: Arc<ConnCtx>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, ctx.clone()));
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service)
        .await;
}

/// TLS listener: the decrypted bytes go to one backend endpoint.
async fn tcp_proxy(
    mut tls: tokio_rustls::server::TlsStream<TcpStream>,
    server: &CompiledServer,
    peer: SocketAddr,
    info: &TlsInfo,
    telemetry: &Telemetry,
) {
    let Some(endpoint) = server.routes.first().and_then(|r| r.backend.pick()) else {
        telemetry.access(serde_json::json!({"listener": server.name, "clientIp": peer.ip().to_string(), "error": "no ready endpoints", "sslClientVerify": info.verdict.to_string()}));
        return;
    };
    let started = std::time::Instant::now();
    let (up, down, error) =
        match TcpStream::connect((endpoint.connect_host(), endpoint.port())).await {
            Ok(mut backend) => match tokio::io::copy_bidirectional(&mut tls, &mut backend).await {
                Ok((up, down)) => (up, down, None),
                Err(e) => (0, 0, Some(e.to_string())),
            },
            Err(e) => (0, 0, Some(e.to_string())),
        };
    telemetry.access(serde_json::json!({
        "time": super::identity::rfc3339(unix_now()),
        "listener": server.name, "clientIp": peer.ip().to_string(), "upstream": endpoint.to_string(),
        "bytesSent": down, "bytesReceived": up, "durationMs": started.elapsed().as_millis() as u64,
        "sslProtocol": info.version, "sslCipher": info.cipher, "sslClientVerify": info.verdict.to_string(),
        "error": error,
    }));
}

/// The IANA name of a suite (rustls spells TLS 1.3 suites `TLS13_*`).
fn iana_name(suite: rustls::CipherSuite) -> &'static str {
    match suite {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        other => other.as_str().unwrap_or("-"),
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
