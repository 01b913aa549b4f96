//! An in-process HTTP backend that tells the test what reached it: path, method, headers and
//! how many body bytes. `/stream/<n>` answers `n` bytes slowly, for downloads that must
//! survive a configuration change.

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
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind backend");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(answer);
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        Self {
            addr: rx.recv().expect("backend address"),
        }
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
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
    let json =
        serde_json::json!({"path": path, "method": method, "headers": headers, "bodyBytes": bytes});
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
