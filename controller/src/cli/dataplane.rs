//! `portcullis dataplane`: serves what the controller pushes.
//!
//! Not ready (`/readyz` 503) until it serves a snapshot. Each accepted snapshot is saved on
//! local disk; after a restart the saved one serves at once, so traffic flows while the
//! controller is away. A new pod, with nothing saved, serves the snapshot the controller last
//! published in a Secret it mounts (`--seed-dir`), so a dataplane rescheduled while the
//! controller is down serves too. On SIGTERM it reports not ready, lets open connections finish for up to
//! the drain time, and exits.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use dataplane::proxy::{Gateway, GatewayOptions};
use dataplane::push::server::{PushServer, watch_tls_dir};
use dataplane::push::store::Store;

/// Options of `portcullis dataplane`.
pub struct DataplaneOptions {
    /// Bind address of Listener ports.
    pub bind: IpAddr,
    /// Admin server address.
    pub admin: SocketAddr,
    /// Push channel address.
    pub push: SocketAddr,
    /// Directory of the push Secret (`tls.crt`, `tls.key`, `ca.crt`).
    pub push_tls_dir: PathBuf,
    /// Where the last snapshot is kept.
    pub state_dir: PathBuf,
    /// Where the controller's published snapshot is mounted: served at start when the state
    /// directory holds none (a new pod).
    pub seed_dir: Option<PathBuf>,
    /// Whether to write the access log.
    pub access_log: bool,
    /// How long open connections may take to finish after SIGTERM.
    pub drain: Duration,
    /// What one client may hold.
    pub limits: dataplane::proxy::Limits,
}

/// Runs until terminated.
pub fn run(opts: DataplaneOptions) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(opts))
}

async fn serve(opts: DataplaneOptions) -> anyhow::Result<ExitCode> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let gateway = Gateway::new(GatewayOptions {
        bind: opts.bind,
        access_log: opts.access_log,
        limits: opts.limits.clone(),
    });
    let store = Store::new(&opts.state_dir).map_err(|e| {
        anyhow::anyhow!(
            "state directory {}: {e} (pass a writable --state-dir)",
            opts.state_dir.display()
        )
    })?;
    let push = Arc::new(PushServer::new(gateway.clone(), Some(store)));
    let restored = push.restore().await;
    let seeded = match (&restored, &opts.seed_dir) {
        (None, Some(dir)) => push
            .restore_from(&Store::read_only(dir))
            .await
            .map(|v| (v, dir)),
        _ => None,
    };
    match (restored, seeded) {
        (Some(version), _) => tracing::info!(
            "serving the saved snapshot {version} from {} until the controller pushes",
            opts.state_dir.display()
        ),
        (None, Some((version, dir))) => tracing::info!(
            "serving the snapshot {version} the controller published (in {}) until it pushes",
            dir.display()
        ),
        (None, None) => {
            tracing::info!("no saved snapshot; not ready until the controller pushes one")
        }
    }

    let admin = tokio::net::TcpListener::bind(opts.admin).await?;
    let push_listener = tokio::net::TcpListener::bind(opts.push).await?;
    tracing::info!(
        "dataplane admin on http://{}, push channel on {} (certificates from {})",
        admin.local_addr()?,
        push_listener.local_addr()?,
        opts.push_tls_dir.display()
    );
    let runner = gateway.clone();
    tokio::spawn(async move { runner.run().await });
    let admin_gateway = gateway.clone();
    tokio::spawn(async move { admin_gateway.serve_admin(admin).await });
    let tls = watch_tls_dir(opts.push_tls_dir.clone());
    tokio::spawn(push.serve(push_listener, tls));

    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    let telemetry = gateway.telemetry();
    telemetry.drain();
    tracing::info!(
        "shutting down: not ready, waiting up to {:?} for {} open connections",
        opts.drain,
        telemetry.open_connections()
    );
    let deadline = tokio::time::Instant::now() + opts.drain;
    while telemetry.open_connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(ExitCode::SUCCESS)
}
