//! The lean pool of plain-HTTP backends: a request takes the most recently used idle
//! HTTP/1.1 connection of its endpoint, and its response body puts the connection back when it
//! ends (hyper-util's general client spends a pool lookup, a connect race and a spawned task per
//! request on the same).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use super::Body;
use super::tls::error_chain;
use crate::config::Endpoint;

/// Idle connections kept per endpoint, and for how long.
pub(super) const MAX_IDLE: usize = 256;
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a request waits for an idle connection to be ready before taking another.
const READY_WAIT: Duration = Duration::from_millis(100);
/// How long connecting to an endpoint may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request failed before an answer, and whether it never left (a failed connect).
pub(super) struct SendError {
    pub(super) connect: bool,
    pub(super) text: String,
}

/// One endpoint's idle HTTP/1.1 connections, the most recently used last.
#[derive(Default)]
pub(super) struct Idle(Mutex<Vec<(Instant, http1::SendRequest<Body>)>>);

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
pub(super) async fn send_plain(
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
