//! The HTTP transport of revocation data: OCSP requests and CRL downloads, each bounded in
//! time and size. It knows nothing of what the bytes mean.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Longest a responder may take before the status is unknown (and the failure policy applies).
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest OCSP response read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Largest CRL downloaded (a Kubernetes Secret holds at most 1 MiB; distribution points can
/// serve more).
const MAX_CRL_BYTES: usize = 16 * 1024 * 1024;

/// Why no answer was read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// The URL or request could not be built.
    #[error("bad request: {0}")]
    Request(#[from] http::Error),
    /// No answer within [`FETCH_TIMEOUT`].
    #[error("no answer within {FETCH_TIMEOUT:?}")]
    Timeout,
    /// Connecting or reading failed.
    #[error("{0}")]
    Transport(String),
    /// The server answered with an error status.
    #[error("HTTP {0}")]
    Status(http::StatusCode),
}

/// An HTTP(S) client for responders and distribution points (public CAs' roots for HTTPS).
pub(crate) struct Fetcher {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Fetcher {
    pub(crate) fn new() -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .expect("aws-lc-rs supports the default TLS versions");
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// POSTs an OCSP request (RFC 6960 appendix A) and reads the response.
    pub(crate) async fn ocsp(&self, url: &str, body: Vec<u8>) -> Result<Bytes, FetchError> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/ocsp-request")
            .header(header::ACCEPT, "application/ocsp-response")
            .body(Full::new(Bytes::from(body)))?;
        self.send(req, MAX_RESPONSE_BYTES).await
    }

    /// GETs a CRL.
    pub(crate) async fn crl(&self, url: &str) -> Result<Bytes, FetchError> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(url)
            .body(Full::new(Bytes::new()))?;
        self.send(req, MAX_CRL_BYTES).await
    }

    /// Sends a request and reads at most `limit` bytes of a successful answer, all within
    /// [`FETCH_TIMEOUT`].
    async fn send(&self, req: Request<Full<Bytes>>, limit: usize) -> Result<Bytes, FetchError> {
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| FetchError::Transport(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(FetchError::Status(resp.status()));
            }
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| FetchError::Transport(e.to_string()))?;
            Ok(body.to_bytes())
        };
        tokio::time::timeout(FETCH_TIMEOUT, exchange)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}
