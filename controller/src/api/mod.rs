//! The custom resources users apply: [`SslProfile`] and [`Listener`] (`portcullis.io/v1alpha1`).
//!
//! Wire types only, no logic: doc comments become `kubectl explain` text and the CRD schema
//! (`portcullis crds`). Schema rules the API server can enforce on its own (enums, ranges, list
//! sizes, required fields, CEL rules across fields) are declared here; every rule that needs
//! other objects (Secrets, Services) lives in [`crate::translate`].

mod listener;
mod refs;
mod ssl_profile;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use listener::*;
pub use refs::*;
pub use ssl_profile::*;

/// The API group of every Portcullis resource.
pub const GROUP: &str = "portcullis.io";

/// Condition types written to status, as Gateway API names them.
pub mod condition {
    /// The object is valid on its own terms.
    pub const ACCEPTED: &str = "Accepted";
    /// Every object it references exists, is permitted and is valid.
    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    /// The dataplanes acknowledged a snapshot holding this generation.
    pub const PROGRAMMED: &str = "Programmed";
}

/// Every CRD, in a stable order (what `portcullis crds` prints and `crds/` holds).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![SslProfile::crd(), Listener::crd()]
}

/// Every CRD as one multi-document YAML stream.
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
