//! What one client may hold, and how the gateway takes it back: the limits, the per-connection
//! activity record the idle timeout reads, and the HTTP server settings built from them.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;

/// Bounds on what clients may hold. The gateway faces the internet, so every resource a
/// client can tie up without sending a valid request is bounded by default: a connection that
/// never finishes its handshake or its headers (slowloris), an idle connection, oversized or
/// countless headers, an unbounded number of connections or HTTP/2 streams. Each is a flag of
/// `portcullis run` and `portcullis dataplane` (`docs/security.md` lists them).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Time to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time to receive a request's headers, counted from when the connection starts waiting
    /// for them; for HTTP/1.1 that includes the wait for the next request on a keep-alive
    /// connection (haproxy's `timeout http-request`, nginx's `client_header_timeout`).
    pub header_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this long is closed
    /// (HTTP/2: GOAWAY); a TLS passthrough connection with no bytes moving either way.
    pub idle_timeout: Duration,
    /// Bytes of request line and headers (HTTP/1.1), of the header list (HTTP/2); more is
    /// answered 431.
    pub max_header_bytes: usize,
    /// Header fields per HTTP/1.1 request; more is answered 431.
    pub max_headers: usize,
    /// Open client connections, all ports together; beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Concurrent streams per HTTP/2 connection (announced in SETTINGS).
    pub max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Limits {
    /// The defaults, as a constant for command-line defaults.
    pub const DEFAULT: Self = Self {
        handshake_timeout: Duration::from_secs(10),
        // haproxy's common `timeout http-request 10s`: long enough for any real client on
        // a slow network, short enough that a slowloris connection is released soon.
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        // nginx's `large_client_header_buffers 4 8k` total; hyper's minimum buffer is 8 KiB.
        max_header_bytes: 32 * 1024,
        max_headers: 100,
        // Each client connection may hold a backend connection too: two descriptors.
        max_connections: 10_000,
        // nginx allows 128, Envoy Gateway 100.
        max_concurrent_streams: 100,
    };
}

/// The HTTP servers of a port, one per protocol a connection can have agreed on.
pub struct HttpServers {
    /// No ALPN (plain HTTP, or a TLS client that offered none): the protocol is detected from
    /// the first bytes (the HTTP/2 preface, else HTTP/1.1).
    detect: Builder<TokioExecutor>,
    /// ALPN `http/1.1`.
    http1: Builder<TokioExecutor>,
    /// ALPN `h2`.
    http2: Builder<TokioExecutor>,
}

impl HttpServers {
    /// The servers with `limits`.
    pub fn new(limits: &Limits) -> Self {
        let detect = http_builder(limits);
        Self {
            http1: detect.clone().http1_only(),
            http2: detect.clone().http2_only(),
            detect,
        }
    }

    /// The server for the protocol the TLS handshake agreed on. ALPN is binding (RFC 7301,
    /// RFC 9113 §3.3): a connection that agreed on `h2` speaks HTTP/2 only, and its bytes are
    /// never read as HTTP/1.1, nor the reverse.
    pub fn for_alpn(&self, alpn: Option<&[u8]>) -> &Builder<TokioExecutor> {
        match alpn {
            Some(b"h2") => &self.http2,
            Some(b"http/1.1") => &self.http1,
            _ => &self.detect,
        }
    }
}

/// The HTTP server settings every connection of a port uses.
fn http_builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper answers 431 when the request line and headers outgrow the read buffer, whose
        // smallest size is 8 KiB.
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}
