//! An in-process HTTP(S) backend that tells the test what reached it: path, the request target
//! as sent, method, headers (and how many fields of each name),
//! body size, HTTP version, which address served it and from which address the connection
//! came (`"client"`: the gateway's side of the backend connection). `/stream/<n>` answers `n` bytes
//! slowly, for downloads that must survive a configuration change; `/sleep/<ms>` answers late.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A running echo backend; it lives as long as the test process.
pub struct EchoBackend {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl EchoBackend {
    /// Starts the backend on 127.0.0.1, port 0, in a thread of its own.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), None)
    }

    /// Starts the backend on `addr`, speaking HTTPS with `tls` (certificate chain PEM, key
    /// PEM) when given; answers report which address served them (`"server"`).
    pub fn start_on(addr: SocketAddr, tls: Option<(String, String)>) -> Self {
        let acceptor = tls.map(|(chain, key)| tls_acceptor(&chain, &key));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .expect("bind backend");
                let local = listener.local_addr().expect("addr");
                tx.send(local).expect("send addr");
                loop {
                    let Ok((stream, peer)) = listener.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| answer(req, local, peer));
                        let builder =
                            hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        match acceptor {
                            Some(a) => {
                                if let Ok(tls) = a.accept(stream).await {
                                    let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                                }
                            }
                            None => {
                                let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                            }
                        }
                    });
                }
            });
        });
        Self {
            addr: rx.recv().expect("backend address"),
        }
    }
}

fn tls_acceptor(chain: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("backend chain");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("backend key");
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("backend cert");
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg))
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    req: Request<Incoming>,
    server: SocketAddr,
    client: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(ms) = path
        .strip_prefix("/sleep/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = path
        .strip_prefix("/stream/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        // 64 KiB every 20 ms: a 3 MiB download takes about a second.
        let chunks = n.div_ceil(65_536);
        let stream = futures_stream(n, chunks);
        return Ok(Response::new(StreamBody::new(stream).boxed()));
    }
    let method = req.method().to_string();
    // The request target as it arrived (path and query, unnormalised), and every header field,
    // repeated ones included, by name.
    let target = req.uri().path_and_query().map(|p| p.as_str().to_owned());
    let mut header_count = serde_json::Map::new();
    for name in req.headers().keys() {
        let n = req.headers().get_all(name).iter().count();
        header_count.insert(name.to_string(), n.into());
    }
    let req_version = req.version();
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let mut body = req.into_body();
    let mut bytes = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            bytes += data.len();
        }
    }
    let json = serde_json::json!({
        "path": path, "target": target, "method": method, "headers": headers,
        "headerCount": header_count, "bodyBytes": bytes,
        "server": server.to_string(), "client": client.to_string(),
        "version": format!("{req_version:?}"),
    });
    Ok(Response::new(
        http_body_util::Full::new(Bytes::from(json.to_string())).boxed(),
    ))
}

fn futures_stream(
    total: usize,
    chunks: usize,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let mut left = total;
        for _ in 0..chunks {
            let n = left.min(65_536);
            left -= n;
            if tx
                .send(Ok(Frame::data(Bytes::from(vec![b'x'; n]))))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    ReceiverStream(rx)
}

struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
