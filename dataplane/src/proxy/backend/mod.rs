//! Backend pools: ready endpoints picked round robin, pooled keep-alive connections (HTTP/1.1,
//! or HTTP/2 when an HTTPS backend offers it by ALPN), the backend's certificate verified.
//!
//! Plain-HTTP backends, the common case behind a gateway, use a lean pool of their own
//! ([`plain`]); HTTPS backends hyper-util's client ([`tls`]).

mod plain;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Body as HttpBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use crate::config::{Backend, BackendProtocol, Endpoint};
use plain::{Idle, SendError, send_plain};
use tls::{error_chain, tls_client};

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

/// Endpoints one request may try when connections fail (see [`BackendPool::send`]).
const MAX_ATTEMPTS: usize = 3;

fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}
