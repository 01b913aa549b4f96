//! TLS listeners: the decrypted bytes of a connection relayed to one backend endpoint, until
//! either side closes or the connection is idle too long.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::Closure;
use super::limits::Limits;
use crate::proxy::compiled::CompiledServer;
use crate::proxy::session::{Activity, TlsInfo, TrackedIo};
use crate::proxy::telemetry::{AccessLogEntry, Telemetry};

/// TLS listener: the decrypted bytes go to one backend endpoint.
pub(super) async fn tcp_proxy(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    server: &CompiledServer,
    peer: SocketAddr,
    info: &TlsInfo,
    telemetry: &Telemetry,
    limits: &Limits,
) {
    let Some(endpoint) = server.routes.first().and_then(|r| r.backend.pick()) else {
        let mut line = entry(server, peer, info);
        line.error = Some("no ready endpoints".into());
        telemetry.access(&line);
        return;
    };
    let started = std::time::Instant::now();
    let (up, down, error) =
        match TcpStream::connect((endpoint.connect_host(), endpoint.port())).await {
            Ok(mut backend) => {
                let activity = Arc::new(Activity::default());
                let mut client = TrackedIo {
                    inner: tls,
                    activity: activity.clone(),
                };
                let relay = tokio::io::copy_bidirectional(&mut client, &mut backend);
                tokio::pin!(relay);
                loop {
                    let idle = activity.idle_for();
                    if idle >= limits.idle_timeout {
                        telemetry.closed(Closure::IdleTimeout.label());
                        break (0, 0, Some("closed: idle timeout".to_owned()));
                    }
                    tokio::select! {
                        result = &mut relay => break match result {
                            Ok((up, down)) => (up, down, None),
                            Err(e) => (0, 0, Some(e.to_string())),
                        },
                        () = tokio::time::sleep(limits.idle_timeout - idle) => {}
                    }
                }
            }
            Err(e) => (0, 0, Some(e.to_string())),
        };
    let mut line = entry(server, peer, info);
    line.upstream = Some(endpoint.to_string());
    line.bytes_sent = Some(down);
    line.bytes_received = Some(up);
    line.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    line.error = error;
    telemetry.access(&line);
}

/// The access-log line of a TLS listener's connection.
fn entry<'a>(
    server: &'a CompiledServer,
    peer: SocketAddr,
    info: &'a TlsInfo,
) -> AccessLogEntry<'a> {
    let mut line = AccessLogEntry::new(peer.ip());
    line.listener = Some(&server.name);
    line.sni = info.sni.as_deref();
    line.ssl_protocol = Some(info.version);
    line.ssl_cipher = Some(info.cipher);
    line.ssl_client_verify = Some(info.verdict.to_string());
    line
}
