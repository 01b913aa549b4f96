//! The proxy: serves a [`Snapshot`](crate::config::Snapshot) on real sockets.
//!
//! Hot swap: each snapshot is compiled (rustls configs, verifiers, backend pools) before it is
//! published through a `watch` channel; a snapshot that does not compile is rejected whole and
//! the previous one keeps serving. New connections read the latest value; connections in
//! flight keep the handshake they made and finish; each request reads the latest routes.

//!
//! Layout, each folder answering one question, imports running one way (top to bottom):
//! - [`verdict`]: the vocabulary of refusals (leaf);
//! - [`telemetry`]: counters and the access log (leaf);
//! - [`revocation`]: revocation status, CRLs and the network client for OCSP and CRLs;
//! - [`tls`]: rustls configs, the client verifier, the X.509 judge, stapling;
//! - [`backend`]: backend pools;
//! - [`compiled`]: a snapshot ready to serve, and the choices within it (server, route);
//! - [`session`]: what a connection established;
//! - [`request`]: the HTTP request pipeline;
//! - [`listen`]: accept loops and connections, which hand requests to [`request`].

mod backend;
mod compiled;
pub mod listen;
pub mod request;
mod revocation;
mod session;
mod telemetry;
pub mod tls;
pub mod verdict;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use compiled::{CompileError, CompiledSnapshot};
pub use listen::limits::Limits;
pub use telemetry::Telemetry;
use tls::stapling::Stapler;

use crate::config::{Protocol, Snapshot};

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Address the Listener ports bind on.
    pub bind: IpAddr,
    /// Write the JSON access log to stdout.
    pub access_log: bool,
    /// What one client may hold: time, header bytes, connections, streams.
    pub limits: Limits,
}

/// A running gateway.
#[derive(Clone)]
pub struct Gateway {
    config: watch::Sender<Arc<CompiledSnapshot>>,
    provider: Arc<CryptoProvider>,
    telemetry: Arc<Telemetry>,
    ocsp: Arc<revocation::RevocationClient>,
    staples: Arc<Stapler>,
    /// Permits for open client connections (`Limits::max_connections`), all ports together.
    connections: Arc<tokio::sync::Semaphore>,
    options: GatewayOptions,
}

impl Gateway {
    /// A gateway serving nothing yet.
    pub fn new(options: GatewayOptions) -> Self {
        crate::crypto::install_default_provider();
        let (config, _) = watch::channel(Arc::new(CompiledSnapshot::default()));
        let telemetry = Arc::new(Telemetry::new(options.access_log));
        let ocsp = Arc::new(revocation::RevocationClient::new(telemetry.clone()));
        Self {
            config,
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            staples: Arc::new(Stapler::new(ocsp.clone())),
            ocsp,
            telemetry,
            connections: Arc::new(tokio::sync::Semaphore::new(
                options
                    .limits
                    .max_connections
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
            options,
        }
    }

    /// Compiles and publishes `snapshot`. On error nothing changes: the previous snapshot
    /// keeps serving.
    pub fn apply(&self, snapshot: &Snapshot) -> Result<(), CompileError> {
        let span = tracing::info_span!("apply", ports = snapshot.ports.len());
        let _entered = span.enter();
        match CompiledSnapshot::compile(snapshot, &self.provider) {
            Ok(compiled) => {
                self.telemetry.set_expiries(compiled.expiries());
                self.config.send_replace(Arc::new(compiled));
                self.telemetry.config_applied();
                tracing::debug!("snapshot compiled and published");
                Ok(())
            }
            Err(e) => {
                self.telemetry.config_rejected();
                Err(e)
            }
        }
    }

    /// Counters and the access log.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Opens and closes Listener ports as snapshots change; runs until the process ends.
    pub async fn run(&self) {
        // OCSP answers used recently are refreshed before they expire, off the request path.
        // The gateway's own certificates are stapled and re-stapled the same way.
        let (ocsp, staples) = (self.ocsp.clone(), self.staples.clone());
        let config = self.config.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = crate::time::unix_now();
                ocsp.refresh_due(now).await;
                let current = config.borrow().clone();
                for stapled in current
                    .ports
                    .values()
                    .flat_map(|p| &p.servers)
                    .filter_map(|s| s.stapled.as_ref())
                {
                    stapled.refresh(&staples, now).await;
                }
            }
        });
        let mut rx = self.config.subscribe();
        let mut running: HashMap<u16, (Protocol, JoinHandle<()>)> = HashMap::new();
        loop {
            let current = rx.borrow_and_update().clone();
            running.retain(|port, (protocol, task)| {
                let keep = current
                    .ports
                    .get(port)
                    .is_some_and(|p| p.protocol == *protocol);
                if !keep {
                    task.abort();
                }
                keep
            });
            for (port, cfg) in &current.ports {
                if running.contains_key(port) {
                    continue;
                }
                let addr = SocketAddr::new(self.options.bind, *port);
                match TcpListener::bind(addr).await {
                    Ok(listener) => {
                        let task = tokio::spawn(listen::accept::accept_loop(
                            listener,
                            *port,
                            listen::accept::Shared {
                                config: rx.clone(),
                                telemetry: self.telemetry.clone(),
                                ocsp: self.ocsp.clone(),
                                connections: self.connections.clone(),
                                limits: self.options.limits.clone(),
                            },
                        ));
                        running.insert(*port, (cfg.protocol, task));
                    }
                    Err(e) => tracing::warn!(
                        "cannot listen on {addr}: {e}; will retry on the next configuration change"
                    ),
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Serves `/healthz`, `/readyz` (ready once a snapshot is applied, until shutdown begins)
    /// and `/metrics`.
    pub async fn serve_admin(&self, listener: TcpListener) {
        use crate::admin::{PROMETHEUS, TEXT};
        let t = self.telemetry.clone();
        crate::admin::serve(listener, move |path| match path {
            "/healthz" => (200, TEXT, "ok\n".into()),
            "/readyz" if t.draining() => (503, TEXT, "shutting down\n".into()),
            "/readyz" if t.config_version() > 0 => (200, TEXT, "ready\n".into()),
            "/readyz" => (503, TEXT, "no configuration applied yet\n".into()),
            "/metrics" => (200, PROMETHEUS, t.render()),
            _ => (404, TEXT, "not found\n".into()),
        })
        .await;
    }
}
