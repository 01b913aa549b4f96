//! The controller's end of the push channel.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::{Ack, DATAPLANE_NAME, MAX_SNAPSHOT_BYTES};
use crate::config::Endpoint;

/// Time allowed for one push or query, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a push did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Connecting, the handshake or HTTP failed.
    #[error("{0}")]
    Transport(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Pushes snapshots to dataplanes with the controller's certificate.
#[derive(Clone)]
pub struct PushClient {
    config: Arc<ClientConfig>,
}

impl PushClient {
    /// A client presenting `crt`/`key` (PEM) and trusting dataplanes whose certificates chain
    /// to `ca` (PEM).
    pub fn new(ca: &[u8], crt: &[u8], key: &[u8]) -> Result<Self, String> {
        crate::crypto::install_default_provider();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (cert, roots) = super::tls_material(crt, key, ca)?;
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(cert.chain_der(), cert.key.to_rustls())
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Pushes an envelope (from [`super::envelope`]); the dataplane's answer, accepted or not.
    pub async fn push(&self, endpoint: &Endpoint, envelope: Bytes) -> Result<Ack, PushError> {
        self.call(endpoint, Method::PUT, envelope).await
    }

    /// The version a dataplane serves.
    pub async fn version(&self, endpoint: &Endpoint) -> Result<Option<String>, PushError> {
        Ok(self
            .call(endpoint, Method::GET, Bytes::new())
            .await?
            .version)
    }

    async fn call(
        &self,
        endpoint: &Endpoint,
        method: Method,
        body: Bytes,
    ) -> Result<Ack, PushError> {
        match tokio::time::timeout(TIMEOUT, self.exchange(endpoint, method, body)).await {
            Ok(result) => result.map_err(PushError::Transport),
            Err(_) => Err(PushError::Timeout(TIMEOUT)),
        }
    }

    async fn exchange(
        &self,
        endpoint: &Endpoint,
        method: Method,
        body: Bytes,
    ) -> Result<Ack, String> {
        let tcp = TcpStream::connect((endpoint.connect_host(), endpoint.port()))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(DATAPLANE_NAME).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP: {e}"))?;
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri("/v1/snapshot")
            .header(http::header::HOST, DATAPLANE_NAME)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = resp.status();
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_SNAPSHOT_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("HTTP {status}: unexpected answer ({e})"))
    }
}
