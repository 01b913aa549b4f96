//! `portcullis controller`: watches the resources, translates them with the same function
//! `validate` and `run` use, pushes the snapshot to every dataplane replica and writes status.
//!
//! Reflector stores hold the objects; any change wakes one debounced reconcile of everything
//! (translation is pure and fast, and every object can affect others: a Secret, the profiles
//! that trust it, the listeners that use those). Every replica watches; only the holder of the
//! leader Lease pushes and writes.

//!
//! Files: [`watch`] (stores), [`secrets`] (referenced Secret contents), [`reconcile`] (one
//! pass), [`status`] (conditions and their writes), [`push`] (the push round), [`leader`]
//! (the Lease), [`pki`] (the push channel's certificates), [`metrics`].

mod leader;
pub mod metrics;
mod owner;
mod pki;
pub mod push;
mod reconcile;
mod secrets;
mod seed;
pub mod status;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::Notify;

use metrics::Metrics;
use push::DataplaneService;
use reconcile::Reconciler;
use secrets::SecretCache;
use watch::{Stores, Watched, listener_resource, profile_resource};

/// How long a burst of changes is collected before one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often every replica is asked what it serves, to catch one that restarted.
const RESYNC: Duration = Duration::from_secs(10);
/// How soon a failed reconcile (an unreachable replica, a refused write) is retried.
pub(super) const RETRY: Duration = Duration::from_secs(2);
/// How often the controller's own push certificate is re-issued (it lives 30 days).
pub(super) const RENEW_PUSH_CERT: Duration = Duration::from_secs(24 * 3600);

/// Options of `portcullis controller`.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Field manager for status writes.
    pub field_manager: String,
    /// The controller's own namespace: its Lease and the push channel's Secrets.
    pub namespace: String,
    /// Where the dataplane replicas are found.
    pub dataplanes: DataplaneService,
    /// Name of the leader Lease.
    pub lease: String,
    /// This replica's name in the Lease.
    pub identity: String,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    pub admin: Option<SocketAddr>,
    /// The namespaces whose SslProfiles, Listeners, Ingresses, Secrets, Services and
    /// EndpointSlices are watched; all when empty.
    pub watch_namespaces: Vec<String>,
    /// Which Ingresses are served, and how.
    pub ingress: crate::translate::IngressOptions,
    /// The Service whose addresses are written to the status of served Ingresses
    /// (`namespace`, `name`), as ingress-nginx's `--publish-service`.
    pub publish_service: Option<(String, String)>,
}

/// Runs until SIGTERM or Ctrl-C; a leader releases its Lease on the way out.
pub async fn run(client: Client, opts: ControllerOptions) -> anyhow::Result<()> {
    let changed = Arc::new(Notify::new());
    let namespaces = &opts.watch_namespaces;
    // The dataplanes' EndpointSlices are read even when their namespace is not watched.
    let mut slice_namespaces = namespaces.clone();
    if !namespaces.is_empty() && !namespaces.contains(&opts.dataplanes.namespace) {
        slice_namespaces.push(opts.dataplanes.namespace.clone());
    }
    let stores = Stores {
        profiles: Watched::untyped(&client, namespaces, &profile_resource(), &changed),
        listeners: Watched::untyped(&client, namespaces, &listener_resource(), &changed),
        // Metadata only: names and resourceVersions, never Secret contents.
        secrets: Watched::typed(&client, namespaces, &changed),
        services: Watched::typed(&client, namespaces, &changed),
        slices: Watched::typed(&client, &slice_namespaces, &changed),
        ingresses: Watched::typed(&client, namespaces, &changed),
        ingress_classes: Watched::cluster(&client, &changed),
    };
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = opts.admin {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!(
            "portcullis: controller admin on http://{}",
            listener.local_addr()?
        );
        let m = metrics.clone();
        tokio::spawn(dataplane::admin::serve(listener, move |path| {
            use dataplane::admin::{PROMETHEUS, TEXT};
            match path {
                "/healthz" => (200, TEXT, "ok\n".into()),
                "/readyz" if m.synced() => (200, TEXT, "ready\n".into()),
                "/readyz" => (503, TEXT, "watches not synced yet\n".into()),
                "/metrics" => (200, PROMETHEUS, m.render()),
                _ => (404, TEXT, "not found\n".into()),
            }
        }));
    }
    let owner = owner::push_service(&client, &opts).await;
    let elector = leader::Elector::new(
        client.clone(),
        &opts.namespace,
        &opts.lease,
        &opts.identity,
        owner.clone(),
    );
    let (mut leading, election) = elector.clone().spawn();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    eprintln!(
        "portcullis: controller {} watching SslProfiles, Listeners, Ingresses, IngressClasses, Secrets, Services and EndpointSlices; dataplanes from Service {}/{}",
        opts.identity, opts.dataplanes.namespace, opts.dataplanes.name
    );
    tokio::select! {
        r = stores.ready() => r?,
        _ = terminate.recv() => return Ok(()),
    }
    metrics.set_synced();

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "portcullis-controller".into(),
            instance: Some(opts.identity.clone()),
        },
    );
    let mut reconciler = Reconciler {
        secrets: SecretCache::new(client.clone()),
        client,
        opts,
        metrics,
        recorder,
        pusher: None,
        retry: changed.clone(),
        announced_ingress: Default::default(),
        seed: seed::Seed::default(),
        owner,
    };
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        tokio::select! {
            _ = changed.notified() => tokio::time::sleep(DEBOUNCE).await,
            _ = resync.tick() => {
                if let Some((p, _)) = reconciler.pusher.as_mut() {
                    p.forget();
                }
            }
            r = leading.changed() => {
                if r.is_err() {
                    anyhow::bail!("leader election stopped");
                }
                // A new leader asks every replica what it serves before trusting old acks.
                if let Some((p, _)) = reconciler.pusher.as_mut() {
                    p.forget();
                }
            }
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        let is_leader = *leading.borrow();
        reconciler.metrics.set_leader(is_leader);
        if is_leader {
            reconciler.reconcile(&stores).await;
        }
    }
    election.abort();
    elector.release().await;
    eprintln!("portcullis: controller stopped");
    Ok(())
}

/// Whether the API server answered with a conflict (someone else won a race).
pub(super) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
