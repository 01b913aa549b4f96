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
use kube::api::{Api, ApiResource, DynamicObject, ObjectMeta, Patch, PatchParams};
use kube::core::{NamespaceResourceScope, PartialObjectMeta};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::api::{Listener, SslProfile};
use crate::translate::{
    Inputs, Malformed, ObjectRef, Severity, Translation, referenced_secrets, translate,
};
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
    /// The namespaces whose SslProfiles, Listeners, Secrets, Services and EndpointSlices are
    /// watched; all when empty.
    pub watch_namespaces: Vec<String>,
}

/// SslProfiles, watched and written untyped (see [`Stores`]).
fn profile_resource() -> ApiResource {
    ApiResource::erase::<SslProfile>(&())
}

/// Listeners, watched and written untyped (see [`Stores`]).
fn listener_resource() -> ApiResource {
    ApiResource::erase::<Listener>(&())
}

/// The stores the reconciler reads, one per watched namespace (or one for all). Secrets are
/// watched by their metadata only: the controller never holds the contents of Secrets nothing
/// references (see [`SecretCache`]). SslProfiles and Listeners are watched untyped and parsed
/// one by one, so that one object this version cannot read is refused on its own instead of
/// failing the whole list (and with it every other object of its kind).
struct Stores {
    profiles: Watched<DynamicObject>,
    listeners: Watched<DynamicObject>,
    secrets: Watched<PartialObjectMeta<Secret>>,
    services: Watched<Service>,
    slices: Watched<EndpointSlice>,
}

/// The stores of one kind.
struct Watched<K: Resource + 'static>(Vec<Store<K>>)
where
    K::DynamicType: std::hash::Hash + Eq + Clone;

impl<K> Watched<K>
where
    K: Resource<Scope = NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync + Default,
{
    /// Watches `K` in each of `namespaces` (all namespaces when empty).
    fn typed(client: &Client, namespaces: &[String], changed: &Arc<Notify>) -> Self {
        let dyntype = K::DynamicType::default();
        Self::start(namespaces, &dyntype, changed, |ns| match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        })
    }
}

impl Watched<DynamicObject> {
    /// Watches objects of `resource` in each of `namespaces` (all namespaces when empty).
    fn untyped(
        client: &Client,
        namespaces: &[String],
        resource: &ApiResource,
        changed: &Arc<Notify>,
    ) -> Self {
        Self::start(namespaces, resource, changed, |ns| match ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
            None => Api::all_with(client.clone(), resource),
        })
    }
}

impl<K> Watched<K>
where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + serde::de::DeserializeOwned + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
{
    /// One reflector per namespace (`api(Some(ns))`), or one over all (`api(None)`).
    fn start(
        namespaces: &[String],
        dyntype: &K::DynamicType,
        changed: &Arc<Notify>,
        api: impl Fn(Option<&str>) -> Api<K>,
    ) -> Self {
        let apis: Vec<Api<K>> = if namespaces.is_empty() {
            vec![api(None)]
        } else {
            namespaces.iter().map(|ns| api(Some(ns))).collect()
        };
        Self(
            apis.into_iter()
                .map(|a| watch(watcher(a, Default::default()), dyntype, changed))
                .collect(),
        )
    }

    fn contents(&self) -> Vec<K> {
        self.0
            .iter()
            .flat_map(|s| s.state())
            .map(|o| (*o).clone())
            .collect()
    }

    fn get(&self, key: &reflector::ObjectRef<K>) -> Option<Arc<K>> {
        self.0.iter().find_map(|s| s.get(key))
    }

    async fn ready(&self) -> anyhow::Result<()> {
        for s in &self.0 {
            s.wait_until_ready().await?;
        }
        Ok(())
    }
}

/// SslProfiles or Listeners that parsed, and a record of each that did not.
fn parse_all<K: serde::de::DeserializeOwned>(
    kind: &'static str,
    objects: Vec<DynamicObject>,
    malformed: &mut Vec<(Malformed, DynamicObject)>,
) -> Vec<K> {
    let mut parsed = Vec::with_capacity(objects.len());
    for o in objects {
        match serde_json::to_value(&o)
            .map_err(|e| Malformed {
                kind,
                namespace: namespace(&o),
                name: o.name_any(),
                field: String::new(),
                error: e.to_string(),
            })
            .and_then(|v| Malformed::parse(kind, v))
        {
            Ok(k) => parsed.push(k),
            Err(m) => malformed.push((m, o)),
        }
    }
    parsed
}

impl Stores {
    /// Everything translation reads, and the malformed objects as the API server holds them
    /// (for their status); referenced Secrets come from `cache`, refreshed first.
    async fn inputs(
        &self,
        cache: &mut SecretCache,
    ) -> kube::Result<(Inputs, Vec<(Malformed, DynamicObject)>)> {
        let mut malformed = Vec::new();
        let ssl_profiles = parse_all("SslProfile", self.profiles.contents(), &mut malformed);
        let listeners = parse_all("Listener", self.listeners.contents(), &mut malformed);
        let wanted = referenced_secrets(&ssl_profiles, &listeners);
        let secrets = cache.refresh(&wanted, &self.secrets).await?;
        let inputs = Inputs {
            ssl_profiles,
            listeners,
            secrets,
            services: self.services.contents(),
            endpoint_slices: self.slices.contents(),
            malformed: malformed.iter().map(|(m, _)| m.clone()).collect(),
        };
        Ok((inputs, malformed))
    }

    /// Waits until every watch has listed once: a snapshot built from half-filled caches
    /// would, for example, make listeners refuse for want of a Secret not yet seen.
    async fn ready(&self) -> anyhow::Result<()> {
        self.profiles.ready().await?;
        self.listeners.ready().await?;
        self.secrets.ready().await?;
        self.services.ready().await?;
        self.slices.ready().await?;
        Ok(())
    }
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
        meta: &Watched<PartialObjectMeta<Secret>>,
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
        let (inputs, malformed) = match stores.inputs(&mut self.secrets).await {
            Ok(read) => read,
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
            .write_statuses(&inputs, &malformed, &translation, &programmed)
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
        malformed: &[(Malformed, DynamicObject)],
        t: &Translation,
        programmed: &(bool, &'static str, String),
    ) -> anyhow::Result<()> {
        let params = PatchParams::apply(&self.opts.field_manager).force();
        let programmed = Some((programmed.0, programmed.1, programmed.2.as_str()));
        let profiles = profile_resource();
        for p in &inputs.ssl_profiles {
            let previous = p.status.as_ref().map(|s| s.conditions.clone());
            let key = (namespace(p), p.name_any());
            let issuer_dns = t.issuer_dns.get(&key).cloned().unwrap_or_default();
            let current_dns = p.status.as_ref().map(|s| s.issuer_dns.clone());
            let changed = issuer_dns != current_dns.unwrap_or_default();
            let object = Written {
                kind: "SslProfile",
                resource: &profiles,
                meta: p.meta(),
            };
            let extra = ("issuerDNs", json!(issuer_dns));
            self.write_status(
                &params,
                object,
                &previous.unwrap_or_default(),
                t,
                programmed,
                Some(extra),
                changed,
            )
            .await?;
        }
        let listeners = listener_resource();
        for l in &inputs.listeners {
            let previous = l.status.as_ref().map(|s| s.conditions.clone());
            let object = Written {
                kind: "Listener",
                resource: &listeners,
                meta: l.meta(),
            };
            self.write_status(
                &params,
                object,
                &previous.unwrap_or_default(),
                t,
                programmed,
                None,
                false,
            )
            .await?;
        }
        for (m, o) in malformed {
            // Its status may not parse either; its conditions are read on their own.
            let previous: Vec<Condition> = o
                .data
                .pointer("/status/conditions")
                .and_then(|c| serde_json::from_value(c.clone()).ok())
                .unwrap_or_default();
            let resource = if m.kind == "SslProfile" {
                &profiles
            } else {
                &listeners
            };
            let object = Written {
                kind: m.kind,
                resource,
                meta: &o.metadata,
            };
            self.write_status(&params, object, &previous, t, programmed, None, false)
                .await?;
        }
        Ok(())
    }

    /// Writes the conditions `t` gives `object` (and an `extra` status field) with server-side
    /// apply when they changed, and announces new refusals.
    #[allow(clippy::too_many_arguments)]
    async fn write_status(
        &self,
        params: &PatchParams,
        object: Written<'_>,
        previous: &[Condition],
        t: &Translation,
        programmed: Option<(bool, &str, &str)>,
        extra: Option<(&str, serde_json::Value)>,
        extra_changed: bool,
    ) -> kube::Result<()> {
        let meta = object.meta;
        let reference = ObjectRef {
            kind: object.kind,
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
        };
        let conditions = status::conditions(
            &reference,
            &t.diagnostics,
            meta.generation,
            previous,
            programmed,
        );
        if status::same(previous, &conditions) && !extra_changed {
            return Ok(());
        }
        let mut body = json!({"conditions": conditions, "observedGeneration": meta.generation});
        if let Some((key, value)) = extra {
            body[key] = value;
        }
        let body = status::apply_body(&object.resource.api_version, object.kind, body);
        Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &reference.namespace,
            object.resource,
        )
        .patch_status(&reference.name, params, &Patch::Apply(&body))
        .await?;
        self.announce(&object, previous, &conditions).await;
        Ok(())
    }

    /// A Warning Event for each condition that newly turned False for a reason other than
    /// waiting (`kubectl describe` and `kubectl get events` show why an object was refused).
    async fn announce(
        &self,
        object: &Written<'_>,
        previous: &[Condition],
        conditions: &[Condition],
    ) {
        let reference = ObjectReference {
            api_version: Some(object.resource.api_version.clone()),
            kind: Some(object.kind.to_owned()),
            name: object.meta.name.clone(),
            namespace: object.meta.namespace.clone(),
            uid: object.meta.uid.clone(),
            resource_version: object.meta.resource_version.clone(),
            field_path: None,
        };
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

/// Starts a reflector over `events`; every event wakes the reconciler.
fn watch<K, S>(events: S, dyntype: &K::DynamicType, changed: &Arc<Notify>) -> Store<K>
where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let writer = reflector::store::Writer::new(dyntype.clone());
    let reader = writer.as_reader();
    let kind = K::kind(dyntype).into_owned();
    let stream = reflector::reflector(writer, events)
        .default_backoff()
        .touched_objects();
    let changed = changed.clone();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                // A lost watch is reported and retried with backoff; it never stalls the other
                // watches. (Objects are parsed later, one by one: see `parse_all`.)
                Err(e) => eprintln!("portcullis: watching {kind}: {e}"),
            }
        }
    });
    reader
}

fn namespace<K: ResourceExt>(obj: &K) -> String {
    obj.namespace().unwrap_or_else(|| "default".into())
}

/// An object whose status is written.
struct Written<'a> {
    kind: &'static str,
    resource: &'a ApiResource,
    meta: &'a ObjectMeta,
}
