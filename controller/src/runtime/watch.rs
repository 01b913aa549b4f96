//! Watching: reflector stores of SslProfiles, Listeners, Ingresses, Secrets (metadata only),
//! Services and EndpointSlices, in each watched namespace, and of IngressClasses; every event
//! wakes the reconciler. SslProfiles
//! and Listeners are parsed one by one, so one object this version cannot read is refused on
//! its own.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::{ClusterResourceScope, NamespaceResourceScope, PartialObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::Notify;

use super::secrets::SecretCache;
use crate::api::{Listener, SslProfile};
use crate::translate::{IngressOptions, Inputs, Malformed, namespace_of, referenced_secrets};

/// SslProfiles, watched and written untyped (see [`Stores`]).
pub(super) fn profile_resource() -> ApiResource {
    ApiResource::erase::<SslProfile>(&())
}

/// Listeners, watched and written untyped (see [`Stores`]).
pub(super) fn listener_resource() -> ApiResource {
    ApiResource::erase::<Listener>(&())
}

/// The stores the reconciler reads, one per watched namespace (or one for all). Secrets are
/// watched by their metadata only: the controller never holds the contents of Secrets nothing
/// references (see [`SecretCache`]). SslProfiles and Listeners are watched untyped and parsed
/// one by one, so that one object this version cannot read is refused on its own instead of
/// failing the whole list (and with it every other object of its kind).
pub(super) struct Stores {
    pub(super) profiles: Watched<DynamicObject>,
    pub(super) listeners: Watched<DynamicObject>,
    pub(super) secrets: Watched<PartialObjectMeta<Secret>>,
    pub(super) services: Watched<Service>,
    pub(super) slices: Watched<EndpointSlice>,
    pub(super) ingresses: Watched<Ingress>,
    /// Cluster-scoped: one store.
    pub(super) ingress_classes: Watched<IngressClass>,
}

/// The stores of one kind.
pub(super) struct Watched<K: Resource + 'static>(Vec<Store<K>>)
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
    pub(super) fn typed(client: &Client, namespaces: &[String], changed: &Arc<Notify>) -> Self {
        let dyntype = K::DynamicType::default();
        Self::start(namespaces, &dyntype, changed, |ns| match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        })
    }
}

impl<K> Watched<K>
where
    K: Resource<Scope = ClusterResourceScope>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync + Default,
{
    /// Watches the cluster-scoped `K`.
    pub(super) fn cluster(client: &Client, changed: &Arc<Notify>) -> Self {
        let dyntype = K::DynamicType::default();
        Self::start(&[], &dyntype, changed, |_| Api::all(client.clone()))
    }
}

impl Watched<DynamicObject> {
    /// Watches objects of `resource` in each of `namespaces` (all namespaces when empty).
    pub(super) fn untyped(
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

    pub(super) fn get(&self, key: &reflector::ObjectRef<K>) -> Option<Arc<K>> {
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
                namespace: namespace_of(&o),
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
    pub(super) async fn inputs(
        &self,
        cache: &mut SecretCache,
        ingress_options: &IngressOptions,
    ) -> kube::Result<(Inputs, Vec<(Malformed, DynamicObject)>)> {
        let mut malformed = Vec::new();
        let mut inputs = Inputs {
            ssl_profiles: parse_all("SslProfile", self.profiles.contents(), &mut malformed),
            listeners: parse_all("Listener", self.listeners.contents(), &mut malformed),
            services: self.services.contents(),
            endpoint_slices: self.slices.contents(),
            ingresses: self.ingresses.contents(),
            ingress_classes: self.ingress_classes.contents(),
            ingress_options: ingress_options.clone(),
            malformed: malformed.iter().map(|(m, _)| m.clone()).collect(),
            ..Inputs::default()
        };
        let wanted = referenced_secrets(&inputs);
        inputs.secrets = cache.refresh(&wanted, &self.secrets).await?;
        Ok((inputs, malformed))
    }

    /// Waits until every watch has listed once: a snapshot built from half-filled caches
    /// would, for example, make listeners refuse for want of a Secret not yet seen.
    pub(super) async fn ready(&self) -> anyhow::Result<()> {
        self.profiles.ready().await?;
        self.listeners.ready().await?;
        self.secrets.ready().await?;
        self.services.ready().await?;
        self.slices.ready().await?;
        self.ingresses.ready().await?;
        self.ingress_classes.ready().await?;
        Ok(())
    }
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
                Err(e) => tracing::warn!("watching {kind}: {e}"),
            }
        }
    });
    reader
}
