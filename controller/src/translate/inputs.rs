//! Everything translation reads, indexed for lookups by namespace and name.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
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
    /// Ingresses (of every class: translation picks those Portcullis serves).
    pub ingresses: Vec<Ingress>,
    /// IngressClasses.
    pub ingress_classes: Vec<IngressClass>,
    /// How Ingresses are read and served.
    pub ingress_options: IngressOptions,
    /// SslProfiles and Listeners the API server holds but this version cannot read (a CRD
    /// newer than the controller, say). They are refused, never skipped: a Listener naming a
    /// malformed SslProfile refuses traffic.
    pub malformed: Vec<Malformed>,
}

/// How Ingresses are read and served: which classes, which annotation prefix, which ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressOptions {
    /// The `spec.controller` of the IngressClasses Portcullis serves.
    pub controller: String,
    /// Also serve the class `nginx` (ingress-nginx's), so a migration can switch hosts by
    /// moving them to Portcullis's Service, with no edit of the Ingress.
    pub serve_nginx_class: bool,
    /// The prefix of ingress-nginx's annotations (its `--annotations-prefix`).
    pub annotation_prefix: String,
    /// The port Ingress rules are served on over plain HTTP.
    pub http_port: u16,
    /// The port Ingress hosts in `spec.tls` are served on over HTTPS.
    pub https_port: u16,
}

/// The controller name of Portcullis's IngressClasses.
pub const INGRESS_CONTROLLER: &str = "portcullis.io/ingress-controller";

/// ingress-nginx's default annotation prefix.
pub const NGINX_ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io";

impl Default for IngressOptions {
    fn default() -> Self {
        Self {
            controller: INGRESS_CONTROLLER.to_owned(),
            serve_nginx_class: false,
            annotation_prefix: NGINX_ANNOTATION_PREFIX.to_owned(),
            http_port: 80,
            https_port: 443,
        }
    }
}

/// An object that did not parse, and why.
#[derive(Clone, Debug)]
pub struct Malformed {
    /// `SslProfile` or `Listener`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The field that did not parse (`spec.clientAuthConfiguration.mode`).
    pub field: String,
    /// What was wrong with it.
    pub error: String,
}

impl Malformed {
    /// Parses `value` (an object of `kind` as JSON) as `K`, or says which field kept it from
    /// parsing.
    pub fn parse<K: serde::de::DeserializeOwned>(
        kind: &'static str,
        value: serde_json::Value,
    ) -> Result<K, Self> {
        let meta = |key: &str| {
            value["metadata"][key]
                .as_str()
                .unwrap_or(if key == "namespace" { "default" } else { "" })
                .to_owned()
        };
        let (namespace, name) = (meta("namespace"), meta("name"));
        serde_path_to_error::deserialize(value).map_err(|e| Self {
            kind,
            namespace,
            name,
            field: e.path().to_string(),
            error: e.into_inner().to_string(),
        })
    }
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
