//! Backend pools: ready endpoints picked round robin, pooled keep-alive connections (HTTP/1.1,
//! or HTTP/2 when an HTTPS backend offers it by ALPN), the backend's certificate verified.
//!
//! Plain-HTTP backends, the common case behind a gateway, use a lean pool of their own
//! ([`Idle`]): a request takes the most recently used idle connection of its endpoint and its
//! response body puts it back when it ends. hyper-util's general client, used for HTTPS
//! backends, spends a pool lookup, a connect race and a spawned task per request on the same.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::config::{Backend, BackendProtocol, Endpoint};

/// The body type the proxy sends and answers with.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Why a request could not be proxied, each mapped to a status the client can read.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No ready endpoint (503).
    #[error("backend {0} has no ready endpoints")]
    NoEndpoints(String),
    /// The backend did not answer in time (504).
    #[error("backend {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// Connecting or talking to the backend failed (502).
    #[error("backend {0} failed: {1}")]
    Failed(String, String),
}

/// One backend Service port.
pub struct BackendPool {
    /// `namespace/service:port`.
    pub name: String,
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    transport: Transport,
    /// Host header sent instead of the client's.
    pub host_override: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for BackendPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendPool")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

impl BackendPool {
    /// Builds the pool of a snapshot backend.
    pub fn new(
        b: &Backend,
        provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, rustls::Error> {
        let transport = match &b.protocol {
            BackendProtocol::Http => Transport::Plain(Arc::new(
                b.endpoints.iter().map(|_| Idle::default()).collect(),
            )),
            BackendProtocol::Https {
                trusted_roots,
                well_known,
                server_name,
            } => {
                let mut roots = RootCertStore::empty();
                if *well_known {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                for der in trusted_roots {
                    roots.add(CertificateDer::from(der.0.clone()))?;
                }
                Transport::Tls(Box::new(tls_client(roots, server_name, provider)?))
            }
        };
        Ok(Self {
            name: b.name.clone(),
            endpoints: b.endpoints.clone(),
            next: AtomicUsize::new(0),
            transport,
            host_override: b.host_override.clone(),
            timeout: Duration::from_millis(b.request_timeout_ms),
        })
    }

    /// The next endpoint, round robin.
    pub fn pick(&self) -> Option<Endpoint> {
        self.pick_index().map(|i| self.endpoints[i].clone())
    }

    fn pick_index(&self) -> Option<usize> {
        if self.endpoints.is_empty() {
            return None;
        }
        Some(self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len())
    }

    /// Sends `req` (its URI's path and query are kept) to the next endpoint. A request that
    /// never reached its endpoint (the connection could not be made) goes to the next one when
    /// it can be replayed: an idempotent method (RFC 9110 section 9.2.2) without a body. At
    /// most [`MAX_ATTEMPTS`] endpoints, each once; a request that reached one is never sent
    /// twice.
    pub async fn send(
        &self,
        mut req: Request<Body>,
    ) -> Result<(Endpoint, Response<Body>), BackendError> {
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let replayable =
            self.endpoints.len() > 1 && req.method().is_idempotent() && req.body().is_end_stream();
        // What a replay needs, taken only when one is possible.
        let replay =
            replayable.then(|| (req.method().clone(), req.version(), req.headers().clone()));
        let mut attempts = if replayable {
            self.endpoints.len().min(MAX_ATTEMPTS)
        } else {
            1
        };
        loop {
            let i = self
                .pick_index()
                .ok_or_else(|| BackendError::NoEndpoints(self.name.clone()))?;
            let endpoint = &self.endpoints[i];
            let sent = match &self.transport {
                Transport::Plain(idle) => {
                    // Origin form: the path as the client sent it; Host is set by the caller.
                    *req.uri_mut() = Uri::try_from(path.as_str())
                        .map_err(|e| BackendError::Failed(self.name.clone(), e.to_string()))?;
                    tokio::time::timeout(self.timeout, send_plain(idle, i, endpoint, req)).await
                }
                Transport::Tls(client) => {
                    *req.uri_mut() = Uri::builder()
                        .scheme("https")
                        .authority(endpoint.connect_authority())
                        .path_and_query(path.as_str())
                        .build()
                        .map_err(|e| BackendError::Failed(self.name.clone(), e.to_string()))?;
                    tokio::time::timeout(self.timeout, async {
                        match client.request(req).await {
                            Ok(resp) => Ok(resp.map(|b| b.boxed())),
                            Err(e) => Err(SendError {
                                connect: e.is_connect(),
                                text: error_chain(&e),
                            }),
                        }
                    })
                    .await
                }
            };
            let err = match sent {
                Err(_) => return Err(BackendError::Timeout(self.name.clone(), self.timeout)),
                Ok(Ok(resp)) => return Ok((endpoint.clone(), resp)),
                Ok(Err(e)) => e,
            };
            attempts -= 1;
            match &replay {
                Some((method, version, headers)) if err.connect && attempts > 0 => {
                    let mut next = Request::new(empty());
                    *next.method_mut() = method.clone();
                    *next.version_mut() = *version;
                    *next.headers_mut() = headers.clone();
                    req = next;
                }
                _ => return Err(BackendError::Failed(self.name.clone(), err.text)),
            }
        }
    }
}

/// How a pool reaches its endpoints.
enum Transport {
    /// Plain HTTP/1.1: the idle connections of each endpoint, by endpoint index.
    Plain(Arc<Vec<Idle>>),
    /// TLS (HTTP/1.1 or HTTP/2 by ALPN): hyper-util's pooled client.
    Tls(Box<Client<HttpsConnector<HttpConnector>, Body>>),
}

/// Idle connections kept per endpoint, and for how long.
const MAX_IDLE: usize = 256;
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a request waits for an idle connection to be ready before taking another.
const READY_WAIT: Duration = Duration::from_millis(100);
/// How long connecting to an endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request failed before an answer, and whether it never left (a failed connect).
struct SendError {
    connect: bool,
    text: String,
}

/// One endpoint's idle HTTP/1.1 connections, the most recently used last.
#[derive(Default)]
struct Idle(Mutex<Vec<(Instant, http1::SendRequest<Body>)>>);

impl Idle {
    /// The most recently used connection still open and not idle too long.
    fn take(&self) -> Option<http1::SendRequest<Body>> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((since, sender)) = idle.pop() {
            if !sender.is_closed() && since.elapsed() < IDLE_TIMEOUT {
                return Some(sender);
            }
        }
        None
    }

    fn put(&self, sender: http1::SendRequest<Body>) {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE && !sender.is_closed() {
            idle.push((Instant::now(), sender));
        }
    }
}

/// Sends `req` (origin form, with Host) to endpoint `i` of a plain-HTTP pool: on an idle
/// connection, or a new one. A request an idle connection refused unsent (the backend closed
/// it meanwhile) goes on the next connection; the loop ends at a new connection at the latest.
async fn send_plain(
    idle: &Arc<Vec<Idle>>,
    i: usize,
    endpoint: &Endpoint,
    mut req: Request<Body>,
) -> Result<Response<Body>, SendError> {
    loop {
        let (mut sender, reused) = match idle[i].take() {
            Some(sender) => (sender, true),
            None => (connect(endpoint).await?, false),
        };
        // A connection is put back when its response has been read, which can be a moment
        // before its driver is ready for the next request, or while it still sends a request
        // body the backend answered early: wait a little, never on a busy connection.
        let ready = if reused && !sender.is_ready() {
            matches!(
                tokio::time::timeout(READY_WAIT, sender.ready()).await,
                Ok(Ok(()))
            )
        } else {
            sender.ready().await.is_ok()
        };
        if !ready {
            if reused {
                continue;
            }
            return Err(SendError {
                connect: true,
                text: "connection closed before the request".into(),
            });
        }
        match sender.try_send_request(req).await {
            Ok(resp) => {
                let home = Some((idle.clone(), i, sender));
                return Ok(resp.map(|inner| ReturnOnEnd { inner, home }.boxed()));
            }
            Err(mut e) => match e.take_message() {
                Some(unsent) if reused => req = unsent,
                _ => {
                    return Err(SendError {
                        connect: false,
                        text: error_chain(e.error()),
                    });
                }
            },
        }
    }
}

/// A response body that puts its connection back in the idle pool once it has been read to
/// the end; a body dropped before its end takes the connection with it (hyper closes it).
struct ReturnOnEnd {
    inner: Incoming,
    home: Option<(Arc<Vec<Idle>>, usize, http1::SendRequest<Body>)>,
}

impl ReturnOnEnd {
    fn go_home(&mut self) {
        if let Some((idle, i, sender)) = self.home.take() {
            idle[i].put(sender);
        }
    }
}

impl HttpBody for ReturnOnEnd {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.go_home(),
            Poll::Ready(Some(Err(_))) => self.home = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ReturnOnEnd {
    fn drop(&mut self) {
        // An empty body may never be polled: it ended all the same.
        if self.inner.is_end_stream() {
            self.go_home();
        }
    }
}

/// A new HTTP/1.1 connection to `endpoint`, its driver spawned.
async fn connect(endpoint: &Endpoint) -> Result<http1::SendRequest<Body>, SendError> {
    let failed = |text: String| SendError {
        connect: true,
        text: format!("connect to {}: {text}", endpoint.connect_authority()),
    };
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((endpoint.connect_host(), endpoint.port())),
    )
    .await
    .map_err(|_| failed(format!("no answer within {CONNECT_TIMEOUT:?}")))?
    .map_err(|e| failed(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| failed(error_chain(&e)))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Endpoints one request may try when connections fail (see [`BackendPool::send`]).
const MAX_ATTEMPTS: usize = 3;

fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// hyper-util's pooled client for an HTTPS backend trusting `roots`, its certificate checked
/// for `server_name` (the backend is addressed by endpoint IP).
fn tls_client(
    roots: RootCertStore,
    server_name: &str,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Client<HttpsConnector<HttpConnector>, Body>, rustls::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|e| rustls::Error::General(format!("backend server name: {e}")))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(roots, provider)?)
        .https_or_http()
        .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE)
        .build(connector))
}

fn client_config(
    roots: RootCertStore,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<ClientConfig, rustls::Error> {
    // ALPN (h2, http/1.1) is set by the connector builder from the enabled versions.
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
