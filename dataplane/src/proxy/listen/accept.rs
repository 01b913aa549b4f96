//! The accept loop of one port: a connection permit (or an immediate close at the limit), then
//! one task per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::Closure;
use super::connection::connection;
use super::limits::{HttpServers, Limits};
use crate::proxy::compiled::CompiledSnapshot;
use crate::proxy::revocation::RevocationClient;
use crate::proxy::session::{ConnCtx, TlsInfo};
use crate::proxy::telemetry::Telemetry;

/// What every connection of a port shares.
pub(crate) struct Shared {
    /// The latest snapshot.
    pub config: watch::Receiver<Arc<CompiledSnapshot>>,
    /// Counters and the access log.
    pub telemetry: Arc<Telemetry>,
    /// The OCSP and CRL client.
    pub ocsp: Arc<RevocationClient>,
    /// Permits for open connections, all ports together.
    pub connections: Arc<Semaphore>,
    /// What one client may hold.
    pub limits: Limits,
}

impl Shared {
    /// The context of a connection on local `port` from `peer`, with `tls` the handshake's.
    pub(super) fn context(&self, port: u16, peer: SocketAddr, tls: Option<TlsInfo>) -> ConnCtx {
        ConnCtx::new(
            port,
            peer,
            tls,
            self.config.clone(),
            self.telemetry.clone(),
            self.ocsp.clone(),
        )
    }
}

/// Accepts connections on one port until the task is aborted (a new snapshot dropped the
/// port); connections already accepted run to completion.
pub(crate) async fn accept_loop(listener: TcpListener, port: u16, shared: Shared) {
    let shared = Arc::new(shared);
    let http = Arc::new(HttpServers::new(&shared.limits));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept on port {port}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // At the limit the connection is closed at once: the client learns now, instead of
        // waiting in the kernel's backlog behind connections that may never finish.
        let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
            shared.telemetry.closed(Closure::ConnectionLimit.label());
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Some(port_cfg) = shared.config.borrow().ports.get(&port).cloned() else {
            continue;
        };
        let (shared, http) = (shared.clone(), http.clone());
        tokio::spawn(async move {
            shared.telemetry.connections(1);
            connection(stream, peer, port_cfg, &shared, &http).await;
            shared.telemetry.connections(-1);
            drop(permit);
        });
    }
}
