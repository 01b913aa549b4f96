//! `Listener`: a port, its hostnames, its server certificate, its SSL profile and its routes.

// clippy reads the repeated `type_ = ...` inside separate `printcolumn(...)` entries of the
// kube derive as duplicated attributes; they are distinct columns.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{SecretRef, SslProfileRef};

/// A listener: where the gateway accepts connections and where it sends them.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "portcullis.io",
    version = "v1alpha1",
    kind = "Listener",
    namespaced,
    status = "ListenerStatus",
    shortname = "pcl",
    category = "portcullis",
    doc = "A listener: a port and protocol, the hostnames it answers, its server certificate and SSL profile, and the rules that route its traffic to backend Services.",
    printcolumn(name = "Protocol", type_ = "string", json_path = ".spec.protocol"),
    printcolumn(name = "Port", type_ = "integer", json_path = ".spec.port"),
    printcolumn(
        name = "Profile",
        type_ = "string",
        json_path = ".spec.sslProfile.name"
    ),
    printcolumn(
        name = "Programmed",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Programmed\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.protocol == 'HTTP' || has(self.sslCertificate)").message("HTTPS and TLS listeners need sslCertificate (a kubernetes.io/tls Secret)"),
    validation = Rule::new("self.protocol != 'HTTP' || (!has(self.sslCertificate) && !has(self.sslProfile))").message("an HTTP listener takes neither sslCertificate nor sslProfile; use protocol HTTPS"),
    validation = Rule::new("self.protocol != 'TLS' || (has(self.rules) && size(self.rules) == 1)").message("a TLS listener has exactly one rule, naming its backend"),
    validation = Rule::new("!has(self.redirectToHttpsPort) || self.protocol == 'HTTP'").message("redirectToHttpsPort applies only to HTTP listeners")
)]
pub struct ListenerSpec {
    /// `HTTPS` (TLS, then HTTP/1.1 or HTTP/2), `TLS` (TLS-terminating TCP proxy) or `HTTP`.
    pub protocol: ListenerProtocol,
    /// TCP port. Listeners may share a port when they have the same protocol and distinct
    /// hostnames; the hostname (SNI) picks the Listener.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Hostnames this listener answers, exact (`api.example.com`) or wildcard
    /// (`*.example.com`, one label). Empty means any hostname not claimed by another Listener
    /// on the port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub hostnames: Vec<String>,
    /// The server certificate: a `kubernetes.io/tls` Secret with `tls.crt` (leaf first, then
    /// intermediates) and `tls.key`. Required for HTTPS and TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_certificate: Option<SecretRef>,
    /// The SslProfile (TLS policy and client authentication). Without one, the listener uses
    /// the default policy and asks for no client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_profile: Option<SslProfileRef>,
    /// HTTP listeners only: answer every request with a permanent redirect (308) to the same
    /// host and path over HTTPS on this port, instead of routing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub redirect_to_https_port: Option<i32>,
    /// Routing rules, first match wins. A TLS listener has exactly one, without matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub rules: Vec<RoutingRule>,
}

/// Listener protocol.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ListenerProtocol {
    /// TLS, then HTTP/1.1 or HTTP/2 (ALPN).
    #[default]
    #[serde(rename = "HTTPS")]
    Https,
    /// TLS terminated at the gateway, then the bytes proxied to one backend.
    #[serde(rename = "TLS")]
    Tls,
    /// Plain HTTP.
    #[serde(rename = "HTTP")]
    Http,
}

/// A routing rule: which requests, which backend, how.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoutingRule {
    /// Requests this rule takes; any one must match. Empty matches every request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub matches: Vec<RouteMatch>,
    /// The backend Service port.
    pub backend: BackendRef,
    /// How the gateway talks to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_settings: Option<BackendSettings>,
    /// Headers set on requests to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<RequestHeaders>,
    /// Requests this rule takes need a valid client certificate (HTTP 400 otherwise), also
    /// on the profile's `exclusionPaths`: a public site protects `/admin` with a rule that
    /// sets it under an SslProfile of mode `Optional`. Needs an SslProfile of mode `Optional`
    /// or `Required` (one that requests certificates and verifies them). The requirement errs
    /// on the closed side: it also applies to every request whose path a backend may read as
    /// this rule's (case folded as IIS does, `;parameters` dropped as Tomcat does, trailing
    /// dots, spaces and slashes dropped, nothing from an encoded `?` or `#` on), even when
    /// another rule serves that request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_client_certificate: bool,
}

/// A host and path match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    /// Exact or wildcard host; must be one of the listener's hostnames or covered by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub host: Option<String>,
    /// Path match; defaults to prefix `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatchSpec>,
}

/// A path match, against the request's canonical path: escapes of unreserved characters
/// decoded (`%61` is `a`), dot segments removed, repeated slashes merged; the backend receives
/// that same path. Requests whose paths backends read in more than one way (`%2F`, `\`,
/// `..;`, control characters, double escapes) are refused with 400 before any rule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathMatchSpec {
    /// `PathPrefix` (whole segments: `/admin` takes `/admin` and `/admin/…`, never
    /// `/administrator`) or `Exact`. Case-sensitive.
    #[serde(default, rename = "type")]
    pub kind: PathMatchType,
    /// The path, starting with `/`, in canonical form (`portcullis validate` names the form to
    /// write when it is not).
    #[schemars(regex(pattern = r"^/"), length(max = 1024))]
    pub value: String,
}

/// Kind of path match.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PathMatchType {
    /// The path and everything under it.
    #[default]
    PathPrefix,
    /// The path only.
    Exact,
}

/// A Service port in the Listener's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendRef {
    /// Service name.
    #[schemars(length(min = 1, max = 63))]
    pub service: String,
    /// Service port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

/// How the gateway talks to a backend, as Application Gateway's backend settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.protocol == 'HTTPS' || ((!has(self.trustedRootCertificates) || size(self.trustedRootCertificates) == 0) && (!has(self.useWellKnownCACertificate) || !self.useWellKnownCACertificate))").message("trustedRootCertificates and useWellKnownCACertificate apply only to protocol HTTPS"))]
pub struct BackendSettings {
    /// `HTTP` (default) or `HTTPS` to the backend.
    #[serde(default)]
    pub protocol: BackendProtocol,
    /// Secrets whose `ca.crt` holds root certificates the backend's certificate must chain to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub trusted_root_certificates: Vec<SecretRef>,
    /// Trust the well-known public CAs for the backend's certificate.
    #[serde(default, rename = "useWellKnownCACertificate")]
    pub use_well_known_ca_certificate: bool,
    /// Host header and SNI sent to the backend instead of the client's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub host_name: Option<String>,
    /// Seconds allowed for the backend's response. Defaults to 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub request_timeout_seconds: Option<i32>,
}

/// Protocol to the backend.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum BackendProtocol {
    /// Plain HTTP.
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    /// HTTPS, with the backend's certificate verified.
    #[serde(rename = "HTTPS")]
    Https,
}

/// Headers added to requests to the backend. Client-sent headers of the same names, and every
/// client-identity header the presets use, are removed first, on every listener.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestHeaders {
    /// Ready-made header sets carrying the client identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    pub presets: Vec<HeaderPreset>,
    /// Headers to set; values may use the server variables `{var_client_certificate}`,
    /// `{var_client_certificate_fingerprint}`, `{var_client_certificate_issuer}`,
    /// `{var_client_certificate_subject}`, `{var_client_certificate_serial}`,
    /// `{var_client_certificate_start_date}`, `{var_client_certificate_end_date}` and
    /// `{var_client_certificate_verification}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub set: Vec<HeaderValue>,
}

/// A header and its value template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderValue {
    /// Header name: letters, digits and `-` only. A backend that maps `_` to `-` (CGI, WSGI,
    /// PHP, Rack) would read a client's `x-client-dn` as your `x_client_dn`; the gateway drops
    /// request headers whose names hold other characters, and removes every name a rule of the
    /// listener sets from all client requests to it before setting its own.
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]+$"), length(min = 1, max = 256))]
    pub name: String,
    /// Value, with `{var_...}` server variables.
    #[schemars(length(max = 4096))]
    pub value: String,
}

/// Ready-made client-identity header sets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HeaderPreset {
    /// `X-ARR-ClientCert`: the base64 DER certificate, as Azure App Service sends it.
    ArrClientCert,
    /// ingress-nginx's `ssl-client-cert`, `ssl-client-verify`, `ssl-client-subject-dn` and
    /// `ssl-client-issuer-dn`.
    NginxSslClient,
    /// Envoy's `x-forwarded-client-cert` (`Hash`, `Cert`, `Subject`).
    EnvoyXfcc,
    /// RFC 9440 `Client-Cert` (and `Client-Cert-Chain`).
    Rfc9440ClientCert,
}

/// Observed state of a Listener.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    /// `Accepted`, `ResolvedRefs` and `Programmed`, with reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
