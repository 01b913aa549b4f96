//! The dataplane's end of the push channel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};

use super::store::Store;
use super::{Ack, CONTROLLER_NAME, Envelope, MAX_SNAPSHOT_BYTES};
use crate::pki::CertificateInfo;
use crate::proxy::Gateway;

/// Time allowed for the controller's TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives snapshots, serves them through the gateway and keeps the last one on disk.
pub struct PushServer {
    gateway: Gateway,
    store: Option<Store>,
    /// The version served; held while a snapshot is applied, so pushes apply one at a time.
    current: Mutex<Option<String>>,
}

impl PushServer {
    /// A push server for `gateway`, saving accepted snapshots in `store`.
    pub fn new(gateway: Gateway, store: Option<Store>) -> Self {
        Self {
            gateway,
            store,
            current: Mutex::new(None),
        }
    }

    /// Serves the snapshot saved on disk, if any; returns its version.
    pub async fn restore(&self) -> Option<String> {
        self.restore_from(self.store.as_ref()?).await
    }

    /// Serves the snapshot saved in `store` (this server's own, or a seed the controller
    /// published), if any; returns its version. One that does not parse or compile is logged
    /// and nothing is served: the dataplane stays not ready until a push.
    pub async fn restore_from(&self, store: &Store) -> Option<String> {
        match store.load() {
            Ok(Some((env, _))) => {
                let mut current = self.current.lock().await;
                match self.gateway.apply(&env.snapshot) {
                    Ok(()) => {
                        *current = Some(env.version.clone());
                        Some(env.version)
                    }
                    Err(e) => {
                        tracing::warn!("the saved snapshot cannot be served: {e}");
                        None
                    }
                }
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("ignoring the saved snapshot: {e}");
                None
            }
        }
    }

    /// The version served.
    pub async fn version(&self) -> Option<String> {
        self.current.lock().await.clone()
    }

    /// Applies a pushed envelope: parse, compile, serve, save. A snapshot that fails any step
    /// before serving changes nothing; a failed save is logged and the snapshot still serves.
    pub async fn apply(&self, bytes: &[u8]) -> Ack {
        let mut current = self.current.lock().await;
        let reject = |version: Option<String>, error: String| Ack {
            version,
            accepted: false,
            error: Some(error),
        };
        let env: Envelope = match serde_json::from_slice(bytes) {
            Ok(env) => env,
            Err(e) => {
                self.gateway.telemetry().config_rejected();
                return reject(current.clone(), format!("the snapshot does not parse: {e}"));
            }
        };
        if current.as_deref() == Some(env.version.as_str()) {
            return Ack {
                version: current.clone(),
                accepted: true,
                error: None,
            };
        }
        // Every line about this snapshot carries its version.
        let span = tracing::info_span!("snapshot", version = %env.version);
        let _entered = span.enter();
        if let Err(e) = self.gateway.apply(&env.snapshot) {
            tracing::warn!(
                "snapshot {} rejected: {e}; the previous one keeps serving",
                env.version
            );
            return reject(current.clone(), e.to_string());
        }
        tracing::info!("serving snapshot {}", env.version);
        if let Some(store) = &self.store
            && let Err(e) = store.save(bytes)
        {
            tracing::warn!(
                "cannot save snapshot {} to disk: {e}; it serves, but a restart before the next save would start from the previous one",
                env.version
            );
        }
        *current = Some(env.version);
        Ack {
            version: current.clone(),
            accepted: true,
            error: None,
        }
    }

    /// Accepts the controller's connections until the task is dropped. Connections arriving
    /// while no TLS configuration is loaded are closed.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: watch::Receiver<Option<Arc<ServerConfig>>>,
    ) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let Some(config) = tls.borrow().clone() else {
                continue;
            };
            let server = self.clone();
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let tls =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::warn!("push connection from {peer} refused: {e}");
                            return;
                        }
                        Err(_) => return,
                    };
                if !presents_controller(tls.get_ref().1.peer_certificates()) {
                    tracing::warn!(
                        "push connection from {peer} refused: the client certificate is not the controller's"
                    );
                    return;
                }
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/v1/snapshot") => {
                let version = self.version().await;
                json(
                    StatusCode::OK,
                    &Ack {
                        version,
                        accepted: true,
                        error: None,
                    },
                )
            }
            (&Method::PUT, "/v1/snapshot") => {
                let body = match Limited::new(req.into_body(), MAX_SNAPSHOT_BYTES)
                    .collect()
                    .await
                {
                    Ok(b) => b.to_bytes(),
                    Err(e) => {
                        let ack = Ack {
                            version: self.version().await,
                            accepted: false,
                            error: Some(format!(
                                "the snapshot could not be read (at most {MAX_SNAPSHOT_BYTES} bytes): {e}"
                            )),
                        };
                        return json(StatusCode::PAYLOAD_TOO_LARGE, &ack);
                    }
                };
                let ack = self.apply(&body).await;
                let status = if ack.accepted {
                    StatusCode::OK
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                json(status, &ack)
            }
            _ => json(
                StatusCode::NOT_FOUND,
                &Ack {
                    version: None,
                    accepted: false,
                    error: Some("not found".into()),
                },
            ),
        }
    }
}

fn json(status: StatusCode, ack: &Ack) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(ack).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Whether the verified client certificate names the controller. The chain and the clientAuth
/// usage were checked in the handshake; this keeps any other clientAuth certificate the
/// internal CA might issue from pushing.
fn presents_controller(certs: Option<&[CertificateDer<'_>]>) -> bool {
    certs
        .and_then(|c| c.first())
        .and_then(|leaf| CertificateInfo::from_der(leaf).ok())
        .is_some_and(|info| info.dns_names.iter().any(|n| n == CONTROLLER_NAME))
}

/// The files of a mounted push Secret: `tls.crt`, `tls.key` and `ca.crt`.
fn read_dir_files(dir: &Path) -> std::io::Result<[Vec<u8>; 3]> {
    Ok([
        std::fs::read(dir.join("tls.crt"))?,
        std::fs::read(dir.join("tls.key"))?,
        std::fs::read(dir.join("ca.crt"))?,
    ])
}

/// Builds the push server's TLS configuration from the three files' contents.
pub fn server_config(
    crt: &[u8],
    key: &[u8],
    ca: &[u8],
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<ServerConfig>, String> {
    let (cert, roots) = super::tls_material(crt, key, ca)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    // The channel is ours on both ends: TLS 1.3 only.
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert.chain_der(), cert.key.to_rustls())
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Loads the push TLS files from `dir` and reloads them when they change (a mounted Secret is
/// updated in place by the kubelet). Until they exist the channel refuses connections.
pub fn watch_tls_dir(dir: PathBuf) -> watch::Receiver<Option<Arc<ServerConfig>>> {
    crate::crypto::install_default_provider();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut last: Option<[Vec<u8>; 3]> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let files = match read_dir_files(&dir) {
                Ok(f) => f,
                Err(_) if last.is_none() => continue,
                Err(e) => {
                    tracing::warn!(
                        "push TLS files in {}: {e}; keeping the loaded ones",
                        dir.display()
                    );
                    continue;
                }
            };
            if last.as_ref() == Some(&files) {
                continue;
            }
            match server_config(&files[0], &files[1], &files[2], &provider) {
                Ok(config) => {
                    tracing::info!("push channel certificate loaded from {}", dir.display());
                    tx.send_replace(Some(config));
                }
                Err(e) => tracing::warn!(
                    "push TLS files in {}: {e}; keeping the loaded ones",
                    dir.display()
                ),
            }
            last = Some(files);
        }
    });
    rx
}
