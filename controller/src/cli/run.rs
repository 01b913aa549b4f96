//! `portcullis run -f DIR`: standalone mode. Reads manifests, translates them with the same
//! function the controller uses, serves the snapshot, and reloads when the files change.
//!
//! Last known good: a change whose translation has errors, or whose snapshot does not compile,
//! is logged with its diagnostics and not applied; the previous configuration keeps serving.
//! At start there is no previous configuration, so what is valid is served and what is not
//! refuses traffic (fail closed).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use dataplane::proxy::{Gateway, GatewayOptions};

use crate::manifests;
use crate::translate::{IngressOptions, Severity, Translation, translate};

/// Options of `portcullis run`.
pub struct RunOptions {
    /// Files or directories to read.
    pub paths: Vec<PathBuf>,
    /// Bind address of Listener ports.
    pub bind: std::net::IpAddr,
    /// Admin server address.
    pub admin: std::net::SocketAddr,
    /// How often files are checked.
    pub poll: Duration,
    /// Whether to write the access log.
    pub access_log: bool,
    /// What one client may hold.
    pub limits: dataplane::proxy::Limits,
    /// Which Ingresses are served, and how.
    pub ingress: IngressOptions,
}

/// Runs until interrupted.
pub fn run(opts: RunOptions) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(opts))
}

async fn serve(opts: RunOptions) -> anyhow::Result<ExitCode> {
    let gateway = Gateway::new(GatewayOptions {
        bind: opts.bind,
        access_log: opts.access_log,
        limits: opts.limits.clone(),
    });
    let (loaded, mut stamp) = load(&opts.paths, &opts.ingress);
    let translation = loaded.translation;
    gateway
        .apply(&translation.snapshot)
        .map_err(|e| anyhow::anyhow!("the configuration cannot be served: {e}"))?;
    // What is served, to skip recompiling a touched file whose translation did not change:
    // a recompiled snapshot makes open connections re-check their client certificates.
    let mut served = serde_json::to_vec(&translation.snapshot)?;
    let ports: Vec<String> = translation
        .snapshot
        .ports
        .iter()
        .map(|p| format!("{}/{:?}", p.port, p.protocol))
        .collect();
    tracing::info!(
        "serving {} on {} (ports {})",
        describe(&opts.paths),
        opts.bind,
        ports.join(", ")
    );

    let admin = tokio::net::TcpListener::bind(opts.admin).await?;
    tracing::info!("admin on http://{}", admin.local_addr()?);
    let runner = gateway.clone();
    tokio::spawn(async move { runner.run().await });
    let admin_gateway = gateway.clone();
    tokio::spawn(async move { admin_gateway.serve_admin(admin).await });

    let mut ticker = tokio::time::interval(opts.poll);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted, exiting");
                return Ok(ExitCode::SUCCESS);
            }
            _ = terminate.recv() => {
                tracing::info!("terminated, exiting");
                return Ok(ExitCode::SUCCESS);
            }
            _ = ticker.tick() => {}
        }
        let now = fingerprint(&opts.paths);
        if now == stamp {
            continue;
        }
        stamp = now;
        let (loaded, _) = load(&opts.paths, &opts.ingress);
        if loaded.has_errors() {
            tracing::warn!(
                "configuration change rejected (see errors above); the last good configuration keeps serving"
            );
            gateway.telemetry().config_rejected();
            continue;
        }
        let snapshot = serde_json::to_vec(&loaded.translation.snapshot)?;
        if snapshot == served {
            continue;
        }
        match gateway.apply(&loaded.translation.snapshot) {
            Ok(()) => {
                served = snapshot;
                tracing::info!("configuration reloaded");
            }
            Err(e) => tracing::warn!(
                "configuration change rejected: {e}; the last good configuration keeps serving"
            ),
        }
    }
}

/// A translated set of files, and the files or objects that could not be read.
struct Loaded {
    translation: Translation,
    read_errors: Vec<String>,
}

impl Loaded {
    /// Whether anything would be refused.
    fn has_errors(&self) -> bool {
        self.translation.has_errors() || !self.read_errors.is_empty()
    }
}

/// Reads, translates and prints every error and warning.
fn load(paths: &[PathBuf], ingress: &IngressOptions) -> (Loaded, Vec<(PathBuf, SystemTime, u64)>) {
    let stamp = fingerprint(paths);
    let mut loaded = manifests::load(paths);
    loaded.inputs.ingress_options = ingress.clone();
    manifests::assume_chart_ingress_class(&mut loaded.inputs);
    let translation = translate(&loaded.inputs, jiff::Timestamp::now());
    for e in &loaded.errors {
        tracing::error!("{e}");
    }
    for d in &translation.diagnostics {
        let (object, field, reason) = (&d.object, d.field.as_str(), d.reason);
        match d.severity {
            Severity::Error => tracing::error!(%object, field, reason, "{}", d.message),
            Severity::Warning => tracing::warn!(%object, field, reason, "{}", d.message),
        }
    }
    (
        Loaded {
            translation,
            read_errors: loaded.errors,
        },
        stamp,
    )
}

/// Every manifest file with its modification time and size: a change in any reloads.
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, SystemTime, u64)> {
    // Only the files that are read: a log or editor file written next to the manifests must
    // not trigger a reload (a log in the directory would otherwise reload on every line).
    let mut out = Vec::new();
    for path in paths {
        for f in manifests::manifest_files(path).unwrap_or_default() {
            if let Ok(m) = std::fs::metadata(&f) {
                out.push((f, m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            }
        }
    }
    out.sort();
    out
}

fn describe(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
