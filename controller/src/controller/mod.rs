//! `portcullis controller`: watches the resources, translates them with the same function
//! `validate` and `run` use, and writes status. Reflector stores hold the objects; any change
//! wakes one debounced reconcile of everything (translation is pure and fast, and every object
//! can affect others: a Secret, the profiles that trust it, the listeners that use those).

pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::api::{Listener, SslProfile};
use crate::translate::{Inputs, ObjectRef, Translation, translate};

/// How long a burst of changes is collected before one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Options of `portcullis controller`.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Field manager for status writes.
    pub field_manager: String,
}

/// The stores the reconciler reads.
struct Stores {
    profiles: Store<SslProfile>,
    listeners: Store<Listener>,
    secrets: Store<Secret>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
}

/// Runs until the process ends.
pub async fn run(client: Client, opts: ControllerOptions) -> anyhow::Result<()> {
    let changed = Arc::new(Notify::new());
    let stores = Stores {
        profiles: watch::<SslProfile>(&client, &changed),
        listeners: watch::<Listener>(&client, &changed),
        secrets: watch::<Secret>(&client, &changed),
        services: watch::<Service>(&client, &changed),
        slices: watch::<EndpointSlice>(&client, &changed),
    };
    eprintln!(
        "portcullis: controller watching SslProfiles, Listeners, Secrets, Services and EndpointSlices"
    );
    loop {
        changed.notified().await;
        tokio::time::sleep(DEBOUNCE).await;
        let inputs = Inputs {
            ssl_profiles: stores
                .profiles
                .state()
                .iter()
                .map(|o| (**o).clone())
                .collect(),
            listeners: stores
                .listeners
                .state()
                .iter()
                .map(|o| (**o).clone())
                .collect(),
            secrets: stores
                .secrets
                .state()
                .iter()
                .map(|o| (**o).clone())
                .collect(),
            services: stores
                .services
                .state()
                .iter()
                .map(|o| (**o).clone())
                .collect(),
            endpoint_slices: stores
                .slices
                .state()
                .iter()
                .map(|o| (**o).clone())
                .collect(),
        };
        let translation = translate(&inputs, jiff::Timestamp::now());
        if let Err(e) = write_statuses(&client, &inputs, &translation, &opts).await {
            eprintln!("portcullis: writing status: {e:#}");
            // Try again soon rather than wait for the next change.
            let retry = changed.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                retry.notify_one();
            });
        }
    }
}

/// Starts a reflector for `K` in all namespaces; every event wakes the reconciler.
fn watch<K>(client: &Client, changed: &Arc<Notify>) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
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
                Err(e) => eprintln!("portcullis: watching {}: {e}", K::kind(&())),
            }
        }
    });
    reader
}

async fn write_statuses(
    client: &Client,
    inputs: &Inputs,
    t: &Translation,
    opts: &ControllerOptions,
) -> anyhow::Result<()> {
    let params = PatchParams::apply(&opts.field_manager).force();
    for p in &inputs.ssl_profiles {
        let previous = p
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let conditions = conditions_for("SslProfile", p, &previous, t);
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
        patch_status(client, &params, p, body).await?;
    }
    for l in &inputs.listeners {
        let previous = l
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let conditions = conditions_for("Listener", l, &previous, t);
        if status::same(&previous, &conditions) {
            continue;
        }
        let body = json!({"conditions": conditions, "observedGeneration": l.metadata.generation});
        patch_status(client, &params, l, body).await?;
    }
    Ok(())
}

fn namespace<K: ResourceExt>(obj: &K) -> String {
    obj.namespace().unwrap_or_else(|| "default".into())
}

/// The conditions translation gives `obj` (diagnostics name it as `kind`), keeping transition times from `previous`.
fn conditions_for<K: Resource<DynamicType = ()>>(
    kind: &'static str,
    obj: &K,
    previous: &[Condition],
    t: &Translation,
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
        None,
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
