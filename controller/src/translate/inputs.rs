//! Everything translation reads, indexed for lookups by namespace and name.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use crate::api::{Listener, SslProfile};

/// The objects translation reads, as fetched from the API server or read from files.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// SslProfiles.
    pub ssl_profiles: Vec<SslProfile>,
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Secrets (only referenced ones matter).
    pub secrets: Vec<Secret>,
    /// Services.
    pub services: Vec<Service>,
    /// EndpointSlices.
    pub endpoint_slices: Vec<EndpointSlice>,
}

/// `(namespace, name)`.
pub(crate) type Key = (String, String);

/// Namespace of an object, `default` when unset (as kubectl applies it).
pub(crate) fn namespace_of<K: ResourceExt>(obj: &K) -> String {
    obj.namespace().unwrap_or_else(|| "default".to_owned())
}

/// Indexes a list by `(namespace, name)`.
pub(crate) fn index<K: ResourceExt>(items: &[K]) -> BTreeMap<Key, &K> {
    items
        .iter()
        .map(|o| ((namespace_of(o), o.name_any()), o))
        .collect()
}

/// The bytes of `key` in a Secret, from `data` or (in manifests not yet applied) `stringData`.
pub(crate) fn secret_value(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.0.clone());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|s| s.as_bytes().to_vec())
}

/// The EndpointSlices of Service `namespace/service`: those carrying its
/// `kubernetes.io/service-name` label in its namespace.
pub fn slices_of<'a>(
    slices: &'a [EndpointSlice],
    namespace: &'a str,
    service: &'a str,
) -> impl Iterator<Item = &'a EndpointSlice> {
    slices.iter().filter(move |s| {
        s.metadata.namespace.as_deref().unwrap_or("default") == namespace
            && s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .map(String::as_str)
                == Some(service)
    })
}
