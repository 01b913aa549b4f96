//! What a connection established and carries while it serves requests: the handshake's facts
//! and the verdict on its client certificate ([`TlsInfo`], [`ClientCertificate`]), the
//! per-connection context of the request pipeline ([`ConnCtx`]), and its activity for the idle
//! timeout ([`Activity`], [`TrackedIo`]). Shared by the listener, which makes them, and the
//! request pipeline, which reads them.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use rustls::pki_types::{CertificateDer, UnixTime};
use tokio::sync::watch;

use super::compiled::{CompiledServer, CompiledSnapshot};
use super::revocation::RevocationClient;
use super::telemetry::Telemetry;
use super::tls::ClientAuthVerifier;
use super::verdict::Verdict;
use crate::pki::CertificateInfo;

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
    pub activity: Arc<Activity>,
    /// The client's address and the local port as header values, made once per connection.
    pub(crate) forwarded: (HeaderValue, HeaderValue),
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
            activity: Arc::new(Activity::default()),
            forwarded: (
                HeaderValue::try_from(peer.ip().to_string())
                    .unwrap_or(HeaderValue::from_static("-")),
                HeaderValue::from(port),
            ),
        }
    }
}

/// The client certificate of a connection, parsed once.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// The leaf's facts.
    pub info: CertificateInfo,
    /// Intermediates the client sent, DER.
    pub chain: Vec<Vec<u8>>,
}

impl ClientCertificate {
    /// Parses the peer certificates of a connection (leaf first).
    pub fn from_peer(certs: &[rustls::pki_types::CertificateDer<'_>]) -> Option<Self> {
        let (leaf, rest) = certs.split_first()?;
        Some(Self {
            info: CertificateInfo::from_der(leaf).ok()?,
            chain: rest.iter().map(|c| c.to_vec()).collect(),
        })
    }

    /// PEM of the leaf.
    pub fn pem(&self) -> String {
        let b64 = STANDARD.encode(self.info.der());
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// SHA-1 thumbprint as uppercase hex without separators (Application Gateway's form).
    pub fn thumbprint(&self) -> String {
        self.info.sha1_fingerprint().replace(':', "")
    }
}

/// When a connection last moved bytes, and how many of its requests are in flight: what the
/// idle timeout judges. Atomics, because HTTP/2 serves each stream on its own task.
#[derive(Debug)]
pub struct Activity {
    since: Instant,
    /// Milliseconds after `since` of the last read or write.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Time since bytes last moved.
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.since.elapsed().saturating_sub(last)
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Marks a request in flight until the guard drops (the handler finished or was dropped).
    pub fn begin(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }
}

/// A request in flight; see [`Activity::begin`].
pub struct InFlight<'a>(&'a Activity);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A connection's byte stream (plain or TLS), recording each read and write in its
/// [`Activity`], for the idle timeout.
pub struct TrackedIo<T> {
    /// The stream.
    pub inner: T,
    /// Where reads and writes are recorded.
    pub activity: Arc<Activity>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if polled.is_ready() {
            this.activity.touch();
        }
        polled
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if polled.is_ready() {
            this.activity.touch();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
