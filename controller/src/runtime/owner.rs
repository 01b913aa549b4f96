//! What owns the objects the controller creates in its own namespace — the push channel's two
//! Secrets, the published snapshot's Secret and the leader Lease: the dataplanes' push Service, which the chart installs beside
//! the controller. Kubernetes' garbage collector then deletes them with it, so `helm uninstall`
//! leaves nothing of Portcullis behind but the CRDs; objects made by an older version get the
//! reference when next written.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Api, Client};

use super::ControllerOptions;

/// The push Service as an owner, when it exists in the controller's namespace (a controller
/// run outside the chart may have none: its objects then have no owner).
pub async fn push_service(client: &Client, opts: &ControllerOptions) -> Option<OwnerReference> {
    if opts.dataplanes.namespace != opts.namespace {
        return None;
    }
    let api: Api<Service> = Api::namespaced(client.clone(), &opts.namespace);
    match api.get_opt(&opts.dataplanes.name).await {
        Ok(Some(service)) => Some(OwnerReference {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: opts.dataplanes.name.clone(),
            uid: service.metadata.uid?,
            ..OwnerReference::default()
        }),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(
                "reading Service {}/{} to own the controller's Secrets and Lease: {e}",
                opts.namespace,
                opts.dataplanes.name
            );
            None
        }
    }
}

/// Adds `owner` to `meta`'s owners if it is not there; returns whether it changed.
pub fn adopt(meta: &mut ObjectMeta, owner: Option<&OwnerReference>) -> bool {
    let Some(owner) = owner else {
        return false;
    };
    let owners = meta.owner_references.get_or_insert_with(Vec::new);
    if owners.iter().any(|o| o.uid == owner.uid) {
        return false;
    }
    owners.push(owner.clone());
    true
}
