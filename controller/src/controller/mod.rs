//! `portcullis controller`: watches the resources, translates them with the same function
//! `validate` and `run` use, pushes the snapshot to every dataplane replica and writes status.
//!
//! Reflector stores hold the objects; any change wakes one debounced reconcile of everything
//! (translation is pure and fast, and every object can affect others: a Secret, the profiles
//! that trust it, the listeners that use those). Every replica watches; only the holder of the
//! leader Lease pushes and writes.

mod leader;
pub mod metrics;
mod pki;
pub mod push;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ObjectReference, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::api::{Listener, SslProfile};
use crate::translate::{Inputs, ObjectRef, Severity, Translation, referenced_secrets, translate};
use metrics::Metrics;
use push::{DataplaneService, Pusher, Round};

/// How long a burst of changes is collected before one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often every replica is asked what it serves, to catch one that restarted.
const RESYNC: Duration = Duration::from_secs(10);
/// How soon a failed reconcile (an unreachable replica, a refused write) is retried.
const RETRY: Duration = Duration::from_secs(2);
/// How often the controller's own push certificate is re-issued (it lives 30 days).
const RENEW_PUSH_CERT: Duration = Duration::from_secs(24 * 3600);

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
}

/// The stores the reconciler reads. Secrets are watched by their metadata only: the
/// controller never holds the contents of Secrets nothing references (see [`SecretCache`]).
struct Stores {
    profiles: Store<SslProfile>,
    listeners: Store<Listener>,
    secrets: Store<PartialObjectMeta<Secret>>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
}

fn contents<K>(store: &Store<K>) -> Vec<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store.state().iter().map(|o| (**o).clone()).collect()
}

impl Stores {
    /// Everything translation reads; referenced Secrets come from `cache`, refreshed first.
    async fn inputs(&self, cache: &mut SecretCache) -> kube::Result<Inputs> {
        let ssl_profiles = contents(&self.profiles);
        let listeners = contents(&self.listeners);
        let wanted = referenced_secrets(&ssl_profiles, &listeners);
        let secrets = cache.refresh(&wanted, &self.secrets).await?;
        Ok(Inputs {
            ssl_profiles,
            listeners,
            secrets,
            services: contents(&self.services),
            endpoint_slices: contents(&self.slices),
        })
    }

    /// Waits until every watch has listed once: a snapshot built from half-filled caches
    /// would, for example, make listeners refuse for want of a Secret not yet seen.
    async fn ready(&self) -> anyhow::Result<()> {
        self.profiles.wait_until_ready().await?;
        self.listeners.wait_until_ready().await?;
        self.secrets.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.slices.wait_until_ready().await?;
        Ok(())
    }
}

/// Runs until SIGTERM or Ctrl-C; a leader releases its Lease on the way out.
pub async fn run(client: Client, opts: ControllerOptions) -> anyhow::Result<()> {
    let changed = Arc::new(Notify::new());
    let stores = Stores {
        profiles: watch(
            watcher(Api::all(client.clone()), Default::default()),
            &changed,
        ),
        listeners: watch(
            watcher(Api::all(client.clone()), Default::default()),
            &changed,
        ),
        secrets: watch(
            // Metadata only: names and resourceVersions, never Secret contents.
            watcher(
                Api::<PartialObjectMeta<Secret>>::all(client.clone()),
                Default::default(),
            ),
            &changed,
        ),
        services: watch(
            watcher(Api::all(client.clone()), Default::default()),
            &changed,
        ),
        slices: watch(
            watcher(Api::all(client.clone()), Default::default()),
            &changed,
        ),
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
    let elector =
        leader::Elector::new(client.clone(), &opts.namespace, &opts.lease, &opts.identity);
    let (mut leading, election) = elector.clone().spawn();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    eprintln!(
        "portcullis: controller {} watching SslProfiles, Listeners, Secrets, Services and EndpointSlices; dataplanes from Service {}/{}",
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
        secrets: SecretCache {
            client: client.clone(),
            held: BTreeMap::new(),
        },
        client,
        opts,
        metrics,
        recorder,
        pusher: None,
        retry: changed.clone(),
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

/// The contents of referenced Secrets, fetched when their metadata shows a new
/// resourceVersion and dropped when no longer referenced.
struct SecretCache {
    client: Client,
    held: BTreeMap<(String, String), Secret>,
}

impl SecretCache {
    async fn refresh(
        &mut self,
        wanted: &BTreeSet<(String, String)>,
        meta: &Store<PartialObjectMeta<Secret>>,
    ) -> kube::Result<Vec<Secret>> {
        self.held.retain(|k, _| wanted.contains(k));
        for key in wanted {
            let found = meta.get(&reflector::ObjectRef::new(&key.1).within(&key.0));
            let Some(found) = found else {
                self.held.remove(key);
                continue;
            };
            let current = self
                .held
                .get(key)
                .and_then(|s| s.metadata.resource_version.as_ref());
            if current.is_some() && current == found.metadata.resource_version.as_ref() {
                continue;
            }
            match Api::<Secret>::namespaced(self.client.clone(), &key.0)
                .get_opt(&key.1)
                .await?
            {
                Some(secret) => self.held.insert(key.clone(), secret),
                None => self.held.remove(key),
            };
        }
        Ok(self.held.values().cloned().collect())
    }
}

/// What a leader needs to reconcile.
struct Reconciler {
    secrets: SecretCache,
    client: Client,
    opts: ControllerOptions,
    metrics: Arc<Metrics>,
    recorder: Recorder,
    /// The push client and when its certificate was issued.
    pusher: Option<(Pusher, Instant)>,
    retry: Arc<Notify>,
}

impl Reconciler {
    /// Translate, push, write status; on a failure, try again soon rather than wait for the
    /// next change.
    async fn reconcile(&mut self, stores: &Stores) {
        let started = Instant::now();
        let inputs = match stores.inputs(&mut self.secrets).await {
            Ok(inputs) => inputs,
            Err(e) => {
                eprintln!("portcullis: reading referenced Secrets: {e}");
                self.metrics.reconcile("error", started.elapsed());
                self.retry_soon();
                return;
            }
        };
        let translation = translate(&inputs, jiff::Timestamp::now());
        self.metrics
            .diagnostics(translation.diagnostics.iter().map(|d| {
                let severity = match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                (severity, d.reason)
            }));
        let round = self.push(&translation, &inputs.endpoint_slices).await;
        let programmed = match &round {
            Ok(round) => round.programmed(&self.opts.dataplanes),
            Err(e) => (
                false,
                "Pending",
                format!("the push channel is not ready: {e:#}"),
            ),
        };
        let complete = programmed.0 || programmed.1 == "NoDataplanes";
        let written = self
            .write_statuses(&inputs, &translation, &programmed)
            .await;
        let result = match &written {
            Err(e) => {
                eprintln!("portcullis: writing status: {e:#}");
                "error"
            }
            Ok(()) if translation.has_errors() => "invalid",
            Ok(()) => "ok",
        };
        self.metrics.reconcile(result, started.elapsed());
        if written.is_err() || !complete {
            self.retry_soon();
        }
    }

    fn retry_soon(&self) {
        let retry = self.retry.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RETRY).await;
            retry.notify_one();
        });
    }

    async fn push(
        &mut self,
        translation: &Translation,
        slices: &[EndpointSlice],
    ) -> anyhow::Result<Round> {
        let stale = self
            .pusher
            .as_ref()
            .is_none_or(|(_, issued)| issued.elapsed() > RENEW_PUSH_CERT);
        if stale {
            let client = pki::ensure(&self.client, &self.opts.namespace).await?;
            match self.pusher.as_mut() {
                Some((p, issued)) => {
                    p.set_client(client);
                    *issued = Instant::now();
                }
                None => self.pusher = Some((Pusher::new(client), Instant::now())),
            }
        }
        let Some((pusher, _)) = self.pusher.as_mut() else {
            anyhow::bail!("no push client");
        };
        let (version, envelope) = dataplane::push::envelope(&translation.snapshot)?;
        let targets = self.opts.dataplanes.targets(slices);
        self.metrics.snapshot(envelope.len(), targets.len());
        Ok(pusher
            .round(&targets, &version, &Bytes::from(envelope), &self.metrics)
            .await)
    }

    async fn write_statuses(
        &self,
        inputs: &Inputs,
        t: &Translation,
        programmed: &(bool, &'static str, String),
    ) -> anyhow::Result<()> {
        let params = PatchParams::apply(&self.opts.field_manager).force();
        let programmed = Some((programmed.0, programmed.1, programmed.2.as_str()));
        for p in &inputs.ssl_profiles {
            let previous = p
                .status
                .as_ref()
                .map(|s| s.conditions.clone())
                .unwrap_or_default();
            let conditions = conditions_for("SslProfile", p, &previous, t, programmed);
            let key = (namespace(p), p.name_any());
            let issuer_dns = t.issuer_dns.get(&key).cloned().unwrap_or_default();
            let current_dns = p
                .status
                .as_ref()
                .map(|s| s.issuer_dns.clone())
                .unwrap_or_default();
            if status::same(&previous, &conditions) && issuer_dns == current_dns {
                continue;
            }
            let body = json!({"conditions": conditions, "observedGeneration": p.metadata.generation, "issuerDNs": issuer_dns});
            patch_status(&self.client, &params, p, body).await?;
            self.announce(p, &previous, &conditions).await;
        }
        for l in &inputs.listeners {
            let previous = l
                .status
                .as_ref()
                .map(|s| s.conditions.clone())
                .unwrap_or_default();
            let conditions = conditions_for("Listener", l, &previous, t, programmed);
            if status::same(&previous, &conditions) {
                continue;
            }
            let body =
                json!({"conditions": conditions, "observedGeneration": l.metadata.generation});
            patch_status(&self.client, &params, l, body).await?;
            self.announce(l, &previous, &conditions).await;
        }
        Ok(())
    }

    /// A Warning Event for each condition that newly turned False for a reason other than
    /// waiting (`kubectl describe` and `kubectl get events` show why an object was refused).
    async fn announce<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        previous: &[Condition],
        conditions: &[Condition],
    ) {
        let reference: ObjectReference = obj.object_ref(&());
        for c in conditions {
            let was = previous
                .iter()
                .find(|p| p.type_ == c.type_)
                .map(|p| (p.status.as_str(), p.reason.as_str()));
            if c.status != "False"
                || c.reason == "Pending"
                || was == Some(("False", c.reason.as_str()))
            {
                continue;
            }
            let event = Event {
                type_: EventType::Warning,
                reason: c.reason.clone(),
                note: Some(c.message.chars().take(1000).collect()),
                action: format!("Set{}", c.type_),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                eprintln!("portcullis: recording an event: {e}");
            }
        }
    }
}

/// Whether the API server answered with a conflict (someone else won a race).
fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Starts a reflector over `events` (a watch of all namespaces); every event wakes the
/// reconciler.
fn watch<K, S>(events: S, changed: &Arc<Notify>) -> Store<K>
where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, events)
        .default_backoff()
        .touched_objects();
    let changed = changed.clone();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                // A malformed object or a lost watch is reported and retried with backoff; it
                // never stalls the other watches.
                Err(e) => eprintln!(
                    "portcullis: watching {}: {e}",
                    K::kind(&K::DynamicType::default())
                ),
            }
        }
    });
    reader
}

fn namespace<K: ResourceExt>(obj: &K) -> String {
    obj.namespace().unwrap_or_else(|| "default".into())
}

/// The conditions translation and the push give `obj` (diagnostics name it as `kind`),
/// keeping transition times from `previous`.
fn conditions_for<K: Resource<DynamicType = ()>>(
    kind: &'static str,
    obj: &K,
    previous: &[Condition],
    t: &Translation,
    programmed: Option<(bool, &str, &str)>,
) -> Vec<Condition> {
    let object = ObjectRef {
        kind,
        namespace: namespace(obj),
        name: obj.name_any(),
    };
    status::conditions(
        &object,
        &t.diagnostics,
        obj.meta().generation,
        previous,
        programmed,
    )
}

/// Writes `status` to `obj` with server-side apply.
async fn patch_status<K>(
    client: &Client,
    params: &PatchParams,
    obj: &K,
    status: serde_json::Value,
) -> kube::Result<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let body = status::apply_body(&K::api_version(&()), &K::kind(&()), status);
    Api::<K>::namespaced(client.clone(), &namespace(obj))
        .patch_status(&obj.name_any(), params, &Patch::Apply(&body))
        .await
}
