//! `SslProfile`: how a listener's TLS is negotiated and how clients are authenticated.
//! Vocabulary from Azure Application Gateway SSL profiles.

// clippy reads the repeated `type_ = ...` inside separate `printcolumn(...)` entries of the
// kube derive as duplicated attributes; they are distinct columns.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretRef;

/// An SSL profile: TLS policy and client (mutual TLS) authentication, attached to Listeners.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "portcullis.io",
    version = "v1alpha1",
    kind = "SslProfile",
    namespaced,
    status = "SslProfileStatus",
    shortname = "sslp",
    category = "portcullis",
    doc = "An SSL profile: the TLS policy and the client-certificate (mutual TLS) authentication of the Listeners that reference it.",
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".spec.clientAuthConfiguration.mode"
    ),
    printcolumn(
        name = "Issuer DN",
        type_ = "string",
        json_path = ".status.issuerDNs[0]"
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
pub struct SslProfileSpec {
    /// TLS protocol versions and cipher suites. Defaults to the predefined policy
    /// `Tls12Strict` (TLS 1.2 and 1.3, forward-secret AEAD suites only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<SslPolicy>,
    /// Client certificate (mutual TLS) authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth_configuration: Option<ClientAuthConfiguration>,
}

/// TLS protocol versions and cipher suites, as Application Gateway's `sslPolicy`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.policyType == 'Custom' ? has(self.minProtocolVersion) : (!has(self.minProtocolVersion) && !has(self.cipherSuites))").message("a Custom policy needs minProtocolVersion; a Predefined policy takes only policyName"))]
pub struct SslPolicy {
    /// `Predefined` (choose `policyName`) or `Custom` (choose `minProtocolVersion` and
    /// optionally `cipherSuites`).
    #[serde(default)]
    pub policy_type: SslPolicyType,
    /// The predefined policy, when `policyType` is `Predefined`. Defaults to `Tls12Strict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<PredefinedPolicy>,
    /// Lowest TLS version accepted, when `policyType` is `Custom`. TLS 1.0 and 1.1 are not
    /// offered: they are deprecated (RFC 8996) and the TLS library does not speak them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_protocol_version: Option<TlsProtocolVersion>,
    /// Cipher suites in preference order, by IANA name, when `policyType` is `Custom`. Empty
    /// means every suite the gateway supports for the chosen versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub cipher_suites: Option<Vec<CipherSuite>>,
}

/// Kind of SSL policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SslPolicyType {
    /// A named, curated policy.
    #[default]
    Predefined,
    /// Your own minimum version and cipher suites.
    Custom,
}

/// The predefined SSL policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PredefinedPolicy {
    /// TLS 1.2 and 1.3; TLS 1.2 only with ECDHE and AEAD ciphers (AES-GCM, ChaCha20-Poly1305).
    #[default]
    Tls12Strict,
    /// TLS 1.3 only.
    Tls13Only,
}

/// A TLS protocol version, named as Application Gateway names them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TlsProtocolVersion {
    /// TLS 1.2.
    #[serde(rename = "TLSv1_2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLSv1_3")]
    Tls13,
}

/// A cipher suite the gateway's TLS library offers, by IANA name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[allow(non_camel_case_types, missing_docs)]
pub enum CipherSuite {
    TLS_AES_128_GCM_SHA256,
    TLS_AES_256_GCM_SHA384,
    TLS_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

impl CipherSuite {
    /// Whether the suite belongs to TLS 1.3.
    pub fn is_tls13(self) -> bool {
        matches!(
            self,
            Self::TLS_AES_128_GCM_SHA256
                | Self::TLS_AES_256_GCM_SHA384
                | Self::TLS_CHACHA20_POLY1305_SHA256
        )
    }
}

/// Client certificate authentication, as Application Gateway's `clientAuthConfiguration`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.mode == 'Passthrough' || self.mode == 'None' || (has(self.trustedClientCertificates) && size(self.trustedClientCertificates) > 0)").message("modes Required and Optional need at least one entry in trustedClientCertificates"),
    validation = Rule::new("!has(self.verifyClientCertIssuerDN) || !self.verifyClientCertIssuerDN || (has(self.trustedClientCertificates) && size(self.trustedClientCertificates) > 0)").message("verifyClientCertIssuerDN needs trustedClientCertificates to take the issuer DN from"),
    validation = Rule::new("!has(self.verifyClientRevocation) || self.verifyClientRevocation == 'None' || self.mode != 'None'").message("verifyClientRevocation needs a mode other than None"),
    validation = Rule::new("!has(self.exclusionPaths) || size(self.exclusionPaths) == 0 || self.mode == 'Required'").message("exclusionPaths apply only to mode Required")
)]
pub struct ClientAuthConfiguration {
    /// What is asked of clients: `Required` (a valid certificate, except on
    /// `exclusionPaths`), `Optional` (a presented certificate must be valid), `Passthrough`
    /// (a certificate is requested, never refused, and the verdict is passed to the backend) or
    /// `None`. Defaults to `Required`: a profile that lists trusted CAs but forgets the mode
    /// must not silently let unauthenticated clients in.
    #[serde(default)]
    pub mode: ClientAuthMode,
    /// Secrets whose `ca.crt` holds one client CA chain each: exactly one root CA plus any
    /// intermediates, PEM or DER, CA certificates only, no private key, at most 25 KB. At most
    /// 100 chains per profile and 200 per gateway. Upload the CA that issued your clients'
    /// certificates, never a client's own certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub trusted_client_certificates: Vec<SecretRef>,
    /// Also require the client certificate's immediate issuer to equal the issuer DN taken
    /// from the uploaded chains (the deepest CA of the longest chain; shown in status).
    #[serde(default, rename = "verifyClientCertIssuerDN")]
    pub verify_client_cert_issuer_dn: bool,
    /// Revocation check of client certificates: `None`, `OCSP` (responder from the
    /// certificate's AIA extension) or `CRL` (from the trust Secret's `ca.crl`).
    #[serde(default)]
    pub verify_client_revocation: RevocationCheck,
    /// What to do when revocation status cannot be established (responder unreachable, no
    /// current CRL): `FailClosed` (default: refuse) or `FailOpen` (admit and say so).
    #[serde(default)]
    pub revocation_failure_policy: RevocationFailurePolicy,
    /// Which certificates' revocation is checked: `Leaf` (default: the client's certificate)
    /// or `Chain` (its intermediates too). With CRLs, `Chain` needs a CRL from every CA.
    #[serde(default)]
    pub revocation_scope: RevocationScope,
    /// With `verifyClientRevocation: CRL`: also download CRLs from the certificates' CRL
    /// Distribution Point (HTTP) when `ca.crl` has no current CRL from their issuer; each is
    /// verified against the trusted CA and cached until its `nextUpdate`.
    #[serde(default)]
    pub fetch_crl_distribution_points: bool,
    /// With `verifyClientRevocation: OCSP`: the responder to ask instead of the one named in
    /// each certificate's Authority Information Access extension (`http://` or `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"), length(max = 2048))]
    pub ocsp_responder_url: Option<String>,
    /// Path prefixes (each starting with `/`, in canonical form) that need no client
    /// certificate in mode `Required`, as App Service's exclusion paths. An exclusion path
    /// excuses only what it names: whole segments of the request's canonical path, case
    /// included (`/public` excuses `/public` and `/public/…`, never `/publicity`, `/PUBLIC/…`
    /// or `/public;x/…`), and only when the path a backend may read more loosely (case folded,
    /// `;parameters` and trailing dots dropped) is under it too. Enforced per
    /// request after a certificate-optional handshake: no TLS renegotiation, so TLS 1.3, HTTP/2
    /// and large uploads keep working.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub exclusion_paths: Vec<ExclusionPath>,
}

/// A path prefix that starts with `/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct ExclusionPath(#[schemars(regex(pattern = r"^/"), length(max = 1024))] pub String);

/// Client authentication mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ClientAuthMode {
    /// A valid client certificate is required (HTTP 400 otherwise, except on exclusion paths).
    #[default]
    Required,
    /// A certificate is requested; if presented it must be valid.
    Optional,
    /// A certificate is requested and never refused; the backend gets the verdict.
    Passthrough,
    /// No client certificate is requested.
    None,
}

/// Revocation check of client certificates.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RevocationCheck {
    /// No revocation check.
    #[default]
    None,
    /// OCSP, responder from the certificate's Authority Information Access extension.
    #[serde(rename = "OCSP")]
    Ocsp,
    /// Certificate revocation lists from the trust Secret's `ca.crl`.
    #[serde(rename = "CRL")]
    Crl,
}

/// Which certificates revocation is checked for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RevocationScope {
    /// The client's certificate.
    #[default]
    Leaf,
    /// The client's certificate and its intermediates.
    Chain,
}

/// What to do when revocation status cannot be established.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RevocationFailurePolicy {
    /// Refuse the client.
    #[default]
    FailClosed,
    /// Admit the client, and say so in the verification variable and the access log.
    FailOpen,
}

/// Observed state of an SslProfile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SslProfileStatus {
    /// `Accepted`, `ResolvedRefs` and `Programmed`, with reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The issuer DN enforced per trusted chain when `verifyClientCertIssuerDN` is set.
    #[serde(default, rename = "issuerDNs", skip_serializing_if = "Vec::is_empty")]
    pub issuer_dns: Vec<String>,
    /// The trusted chains as loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_chains: Vec<TrustedChainStatus>,
}

/// One trusted chain as loaded from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrustedChainStatus {
    /// `namespace/name` of the Secret.
    pub secret: String,
    /// Subjects from the root down.
    pub subjects: Vec<String>,
    /// The earliest expiry in the chain, RFC 3339.
    pub not_after: String,
}
