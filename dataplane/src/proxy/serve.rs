//! Connections: accept, pick the virtual server by SNI, handshake, judge the client
//! certificate once, then serve HTTP or proxy TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::Acceptor;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::LazyConfigAcceptor;

use super::client_auth::{ClientAuthVerifier, Reason, Verdict};
use super::compiled::{CompiledPort, CompiledServer, CompiledSnapshot};
use super::fetch::RevocationClient;
use super::http::{ConnCtx, handle};
use super::identity::ClientCertificate;
use super::limits::{Activity, HttpServers, Limits, TrackedIo};
use super::telemetry::Telemetry;
use crate::config::Protocol;

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

/// What every connection of a port shares.
pub struct Shared {
    /// The latest snapshot.
    pub config: watch::Receiver<Arc<CompiledSnapshot>>,
    /// Counters and the access log.
    pub telemetry: Arc<Telemetry>,
    /// The OCSP and CRL client.
    pub ocsp: Arc<RevocationClient>,
    /// Permits for open connections, all ports together.
    pub connections: Arc<Semaphore>,
    /// What one client may hold.
    pub limits: Limits,
}

/// Accepts connections on one port until the task is aborted (a new snapshot dropped the
/// port); connections already accepted run to completion.
pub async fn accept_loop(listener: TcpListener, port: u16, shared: Shared) {
    let shared = Arc::new(shared);
    let http = Arc::new(HttpServers::new(&shared.limits));
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
        // At the limit the connection is closed at once: the client learns now, instead of
        // waiting in the kernel's backlog behind connections that may never finish.
        let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
            shared.telemetry.closed("ConnectionLimit");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Some(port_cfg) = shared.config.borrow().ports.get(&port).cloned() else {
            continue;
        };
        let (shared, http) = (shared.clone(), http.clone());
        tokio::spawn(async move {
            shared.telemetry.connections(1);
            connection(stream, peer, port_cfg, &shared, &http).await;
            shared.telemetry.connections(-1);
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    port_cfg: Arc<CompiledPort>,
    shared: &Shared,
    http: &HttpServers,
) {
    let (port, telemetry, ocsp) = (port_cfg.port, &shared.telemetry, &shared.ocsp);
    if port_cfg.protocol == Protocol::Http {
        let ctx = Arc::new(ConnCtx::new(
            port,
            peer,
            None,
            shared.config.clone(),
            telemetry.clone(),
            ocsp.clone(),
        ));
        serve_http(stream, ctx, http.for_alpn(None), &shared.limits).await;
        return;
    }
    // One deadline for the whole handshake, ClientHello included.
    let handshake_deadline = tokio::time::Instant::now() + shared.limits.handshake_timeout;
    let Ok(Ok(start)) = tokio::time::timeout_at(
        handshake_deadline,
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
        telemetry.access(serde_json::json!({
            "time": super::identity::rfc3339(unix_now()), "clientIp": peer.ip().to_string(),
            "sni": sni, "error": "handshake refused: no listener of this port answers the server name (alert unrecognized_name)",
        }));
        refuse_unknown_name(start).await;
        return;
    };
    let Some(tls_config) = server.tls.clone().filter(|_| server.refusal.is_none()) else {
        // Fail closed: an invalid Listener's hostnames stay claimed and refuse every handshake.
        telemetry.handshake(&server.name, "refused", "ListenerRefused");
        return;
    };
    let tls = match tokio::time::timeout_at(handshake_deadline, start.into_stream(tls_config)).await
    {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            telemetry.handshake(&server.name, "failed", handshake_failure(&e));
            return;
        }
        Err(_) => {
            telemetry.handshake(&server.name, "failed", "Timeout");
            return;
        }
    };
    let (_, conn) = tls.get_ref();
    let server_http = http.for_alpn(conn.alpn_protocol());
    let peer_certs: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    let verdict = match &server.verifier {
        Some(v) => {
            v.judge(
                (!peer_certs.is_empty()).then_some(peer_certs.as_slice()),
                UnixTime::now(),
                ocsp,
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
        tcp_proxy(tls, &server, peer, &info, telemetry, &shared.limits).await;
        return;
    }
    let ctx = Arc::new(ConnCtx::new(
        port,
        peer,
        Some(info),
        shared.config.clone(),
        telemetry.clone(),
        ocsp.clone(),
    ));
    serve_http(tls, ctx, server_http, &shared.limits).await;
}

/// Ends a handshake whose server name (or its absence) no listener of the port answers with
/// the fatal alert RFC 6066 names for it, `unrecognized_name`, so the client can tell why,
/// instead of a silent close. Nothing has been sent yet, so the alert is a plaintext record.
async fn refuse_unknown_name(start: tokio_rustls::StartHandshake<TcpStream>) {
    use tokio::io::AsyncWriteExt as _;
    /// Alert record: type 21, legacy version TLS 1.2, length 2, fatal (2), unrecognized_name
    /// (112).
    const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];
    // The handshake is never driven: the stream is only borrowed back to write the alert.
    let mut refused = start.into_stream(refusing_config());
    if let Some(io) = refused.get_mut() {
        let send = async {
            io.write_all(&UNRECOGNIZED_NAME).await?;
            io.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), send).await;
    }
}

/// A configuration that serves no certificate, to hand the refused handshake's stream back.
fn refusing_config() -> Arc<rustls::ServerConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ServerConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            #[derive(Debug)]
            struct NoCertificate;
            impl rustls::server::ResolvesServerCert for NoCertificate {
                fn resolve(
                    &self,
                    _: rustls::server::ClientHello<'_>,
                ) -> Option<Arc<rustls::sign::CertifiedKey>> {
                    None
                }
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            Arc::new(
                rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc-rs speaks rustls' default protocol versions")
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::new(NoCertificate)),
            )
        })
        .clone()
}

/// The reason label of a failed handshake.
fn handshake_failure(e: &std::io::Error) -> &'static str {
    match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        // A handshake message over 64 KiB (a 1 MB certificate, say): rustls refuses it from
        // its length field, before reading it.
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge)) => {
            "MessageTooLarge"
        }
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        )) => Reason::ChainTooLong.label(),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) => {
            "ClientCertificateRefused"
        }
        _ if e.to_string().contains("certificate") => "ClientCertificateRefused",
        _ => "HandshakeFailed",
    }
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
            watched.telemetry.closed("IdleTimeout");
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
            watched.telemetry.closed("HeaderTimeout");
        } else if e.is_parse_too_large() {
            watched.telemetry.closed("HeadersTooLarge");
        }
    }
}

/// TLS listener: the decrypted bytes go to one backend endpoint.
async fn tcp_proxy(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    server: &CompiledServer,
    peer: SocketAddr,
    info: &TlsInfo,
    telemetry: &Telemetry,
    limits: &Limits,
) {
    let Some(endpoint) = server.routes.first().and_then(|r| r.backend.pick()) else {
        telemetry.access(serde_json::json!({"listener": server.name, "clientIp": peer.ip().to_string(), "error": "no ready endpoints", "sslClientVerify": info.verdict.to_string()}));
        return;
    };
    let started = std::time::Instant::now();
    let (up, down, error) =
        match TcpStream::connect((endpoint.connect_host(), endpoint.port())).await {
            Ok(mut backend) => {
                let activity = Arc::new(Activity::default());
                let mut client = TrackedIo {
                    inner: tls,
                    activity: activity.clone(),
                };
                let relay = tokio::io::copy_bidirectional(&mut client, &mut backend);
                tokio::pin!(relay);
                loop {
                    let idle = activity.idle_for();
                    if idle >= limits.idle_timeout {
                        telemetry.closed("IdleTimeout");
                        break (0, 0, Some("closed: idle timeout".to_owned()));
                    }
                    tokio::select! {
                        result = &mut relay => break match result {
                            Ok((up, down)) => (up, down, None),
                            Err(e) => (0, 0, Some(e.to_string())),
                        },
                        () = tokio::time::sleep(limits.idle_timeout - idle) => {}
                    }
                }
            }
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
