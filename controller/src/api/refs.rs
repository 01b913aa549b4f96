//! References from one resource to another.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to a Secret. References stay in the referring object's namespace: a
/// `namespace` naming another one is refused with reason `RefNotPermitted`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Secret. Defaults to the referring object's namespace; another
    /// namespace is refused (cross-namespace references are not permitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// A reference to an SslProfile in the Listener's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SslProfileRef {
    /// Name of the SslProfile.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the SslProfile. Defaults to the Listener's namespace; another namespace
    /// is refused (cross-namespace references are not permitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}
