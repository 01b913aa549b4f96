//! Backend pools: ready endpoints picked round robin, pooled keep-alive connections (HTTP/1.1,
//! or HTTP/2 when an HTTPS backend offers it by ALPN), the backend's certificate verified.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body as _, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
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
    scheme: &'static str,
    client: Client<HttpsConnector<HttpConnector>, Body>,
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
        let (scheme, tls, server_name) = match &b.protocol {
            BackendProtocol::Http => (
                "http",
                client_config(RootCertStore::empty(), provider)?,
                None,
            ),
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
                (
                    "https",
                    client_config(roots, provider)?,
                    Some(server_name.clone()),
                )
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match server_name {
            // The backend is addressed by endpoint IP; its certificate is checked for this name.
            Some(name) => {
                let name = rustls::pki_types::ServerName::try_from(name)
                    .map_err(|e| rustls::Error::General(format!("backend server name: {e}")))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().enable_http2().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Self {
            name: b.name.clone(),
            endpoints: b.endpoints.clone(),
            next: AtomicUsize::new(0),
            scheme,
            client,
            host_override: b.host_override.clone(),
            timeout: Duration::from_millis(b.request_timeout_ms),
        })
    }

    /// The next endpoint, round robin.
    pub fn pick(&self) -> Option<Endpoint> {
        if self.endpoints.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        Some(self.endpoints[i].clone())
    }

    /// Sends `req` (its URI's path and query are kept) to the next endpoint. A request that
    /// never reached its endpoint (the connection could not be made) goes to the next one when
    /// it can be replayed: an idempotent method (RFC 9110 section 9.2.2) without a body. At
    /// most [`MAX_ATTEMPTS`] endpoints, each once; a request that reached one is never sent
    /// twice.
    pub async fn send(
        &self,
        mut req: Request<Body>,
    ) -> Result<(Endpoint, Response<Incoming>), BackendError> {
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
            let endpoint = self
                .pick()
                .ok_or_else(|| BackendError::NoEndpoints(self.name.clone()))?;
            *req.uri_mut() = Uri::builder()
                .scheme(self.scheme)
                .authority(endpoint.connect_authority())
                .path_and_query(path.as_str())
                .build()
                .map_err(|e| BackendError::Failed(self.name.clone(), e.to_string()))?;
            let err = match tokio::time::timeout(self.timeout, self.client.request(req)).await {
                Err(_) => return Err(BackendError::Timeout(self.name.clone(), self.timeout)),
                Ok(Ok(resp)) => return Ok((endpoint, resp)),
                Ok(Err(e)) => e,
            };
            attempts -= 1;
            match &replay {
                Some((method, version, headers)) if err.is_connect() && attempts > 0 => {
                    let mut next = Request::new(empty());
                    *next.method_mut() = method.clone();
                    *next.version_mut() = *version;
                    *next.headers_mut() = headers.clone();
                    req = next;
                }
                _ => return Err(BackendError::Failed(self.name.clone(), error_chain(&err))),
            }
        }
    }
}

/// Endpoints one request may try when connections fail (see [`BackendPool::send`]).
const MAX_ATTEMPTS: usize = 3;

fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
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
