//! The last snapshot, published in the Secret `portcullis-dataplane-snapshot` that dataplane
//! pods mount: a new pod (a rollout, a rescheduled replica) serves it before the controller
//! pushes — and serves at all while no controller runs. Written before each push of a new
//! version, so a pod starting during a push round gets the version being pushed.
//!
//! A Secret, not a ConfigMap: snapshots hold the Listeners' server keys. Whoever can write
//! Secrets in the controller's namespace could already replace the push channel's CA and push
//! anything; this adds no power to that. Best effort: a failed write is logged and retried with
//! the next version; a snapshot over what a Secret can hold is not published (the pods then
//! wait for the push, as without a seed).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

/// The Secret the chart mounts into dataplane pods (`--seed-dir`).
pub const SEED_SECRET: &str = "portcullis-dataplane-snapshot";
/// Its key: the dataplane's own file name for a saved snapshot.
const KEY: &str = "snapshot.json";
/// Kubernetes limits a Secret to 1 MiB; keep a margin for metadata.
const MAX_BYTES: usize = 900 * 1024;
/// The published version, to skip writing what is already there.
const VERSION_ANNOTATION: &str = "portcullis.io/snapshot-version";

/// Publishes snapshots; remembers the last version written.
#[derive(Default)]
pub struct Seed {
    published: Option<String>,
}

impl Seed {
    /// Writes `envelope` (version `version`) unless it is the version already published.
    pub async fn publish(
        &mut self,
        client: &Client,
        namespace: &str,
        owner: Option<&OwnerReference>,
        version: &str,
        envelope: &[u8],
    ) {
        if self.published.as_deref() == Some(version) {
            return;
        }
        if envelope.len() > MAX_BYTES {
            tracing::warn!(
                "snapshot {version} is {} KiB, over the {} KiB a Secret can hold: not published \
                 in {namespace}/{SEED_SECRET}; new dataplane pods wait for the push",
                envelope.len() / 1024,
                MAX_BYTES / 1024
            );
            self.published = Some(version.to_owned());
            return;
        }
        match write(client, namespace, owner, version, envelope).await {
            Ok(()) => self.published = Some(version.to_owned()),
            Err(e) => tracing::warn!(
                "publishing snapshot {version} in Secret {namespace}/{SEED_SECRET}: {e}"
            ),
        }
    }
}

async fn write(
    client: &Client,
    namespace: &str,
    owner: Option<&OwnerReference>,
    version: &str,
    envelope: &[u8],
) -> kube::Result<()> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let existing = api.get_opt(SEED_SECRET).await?;
    let same = existing
        .as_ref()
        .and_then(|s| s.metadata.annotations.as_ref())
        .and_then(|a| a.get(VERSION_ANNOTATION))
        .is_some_and(|v| v == version);
    if same {
        return Ok(());
    }
    let secret = Secret {
        metadata: ObjectMeta {
            resource_version: existing
                .as_ref()
                .and_then(|s| s.metadata.resource_version.clone()),
            annotations: Some(BTreeMap::from([(
                VERSION_ANNOTATION.to_owned(),
                version.to_owned(),
            )])),
            ..super::pki::meta(SEED_SECRET, namespace, owner)
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            KEY.to_owned(),
            ByteString(envelope.to_vec()),
        )])),
        ..Secret::default()
    };
    match existing {
        Some(_) => {
            api.replace(SEED_SECRET, &PostParams::default(), &secret)
                .await?
        }
        None => api.create(&PostParams::default(), &secret).await?,
    };
    Ok(())
}
