//! The snapshot: everything one dataplane runs, parsed and typed.
//!
//! The controller's translation builds it from custom resources; the push channel carries it as
//! JSON; the proxy runs it. Deserializing re-runs the parsers (trust bundles, hostnames, header
//! templates), so a snapshot that does not validate cannot be loaded: parse, don't validate.
//! Nothing here knows about Kubernetes.

mod der;
mod names;
mod server_cert;

use serde::{Deserialize, Serialize};

use crate::pki::TrustBundle;
pub use der::Der;
pub use names::{
    Endpoint, HeaderTemplate, Hostname, HostnameError, ServerVariable, TemplateError, TemplatePart,
};
pub use server_cert::{PrivateKey, ServerCertError, ServerCertificate};

/// Everything a dataplane serves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// One entry per listening port, sorted by port.
    pub ports: Vec<Port>,
}

/// One listening port and the virtual servers (Listeners) that share it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// The TCP port.
    pub port: u16,
    /// What is spoken on it.
    pub protocol: Protocol,
    /// The Listeners on this port, chosen by SNI (TLS) or Host (HTTP).
    pub servers: Vec<VirtualServer>,
}

/// The protocol of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TLS, then HTTP/1.1 or HTTP/2 by ALPN.
    Https,
    /// TLS, then the bytes proxied to one backend.
    Tls,
    /// Plain HTTP.
    Http,
}

/// One Listener: the hostnames it answers, its TLS settings and its routes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServer {
    /// `namespace/name` of the Listener, for logs and status.
    pub name: String,
    /// The hostnames it answers; empty means any.
    pub hostnames: Vec<Hostname>,
    /// Server certificate, policy and client authentication; `None` on plain HTTP.
    pub tls: Option<ServerTls>,
    /// Routes in match order.
    pub routes: Vec<Route>,
    /// Plain HTTP only: redirect every request to HTTPS on this port instead of routing.
    #[serde(default)]
    pub redirect_https_port: Option<u16>,
    /// A regular expression the client certificate's subject must match, or the request gets
    /// 403 (ingress-nginx's `auth-tls-match-cn`). The subject is read as nginx's
    /// `$ssl_client_s_dn` (OpenSSL's RFC 2253 rendering); without a certificate it is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_pattern: Option<String>,
    /// Where a request whose client certificate is missing or refused is redirected (302)
    /// instead of answered 400 (ingress-nginx's `auth-tls-error-page`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_error_page: Option<String>,
    /// Set when the Listener's configuration is invalid: the dataplane refuses its traffic
    /// rather than serve it with less protection than asked for (fail closed).
    pub refusal: Option<Refusal>,
}

/// Why a virtual server refuses all traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// Stable CamelCase reason.
    pub reason: String,
    /// One sentence for logs.
    pub message: String,
}

/// TLS settings of a virtual server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls {
    /// The server certificate chain and key.
    pub certificate: ServerCertificate,
    /// Protocol versions and cipher suites.
    pub policy: SslPolicy,
    /// What is asked of clients.
    pub client_auth: ClientAuth,
}

/// Protocol versions and cipher suites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SslPolicy {
    /// The lowest version accepted.
    pub min_version: TlsVersion,
    /// Cipher suites by their IANA names, in preference order; empty means the policy default.
    pub cipher_suites: Vec<String>,
}

/// A TLS protocol version. Only versions rustls speaks exist here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// Client authentication of a virtual server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientAuth {
    /// No certificate is requested.
    Off,
    /// A valid certificate is required, except on exclusion paths.
    Required(ClientVerification),
    /// A certificate is requested; one that is presented must be valid.
    Optional(ClientVerification),
    /// A certificate is requested and never refused; the backend is told the verdict.
    Passthrough(Option<ClientVerification>),
    /// A certificate is requested; one that chains to no trusted CA is admitted with its
    /// `FAILED` verdict for the backend to judge, any other failure (expired, revoked, too
    /// long a chain) is refused, as nginx's `ssl_verify_client optional_no_ca` does.
    OptionalNoCa(ClientVerification),
}

/// How a client certificate is judged.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVerification {
    /// The trusted chains.
    pub trust: Vec<TrustBundleWire>,
    /// Whether the client's immediate issuer must equal a bundle's issuer DN.
    pub verify_issuer_dn: bool,
    /// Revocation checking.
    pub revocation: Revocation,
    /// Check revocation of the intermediates too, not only the client's certificate.
    #[serde(default)]
    pub revocation_chain: bool,
    /// CRLs (DER) from the trust Secrets' `ca.crl`; verified against the bundles on load.
    #[serde(default)]
    pub crls: Vec<Der>,
    /// With CRL checks: also fetch CRLs from the certificates' distribution points when no
    /// current CRL from `ca.crl` covers them.
    #[serde(default)]
    pub fetch_crl_distribution_points: bool,
    /// OCSP responder used instead of the certificates' AIA URL.
    #[serde(default)]
    pub ocsp_responder: Option<String>,
    /// Canonical path prefixes that need no client certificate (matched case-sensitively).
    pub exclusion_paths: Vec<String>,
    /// Most CA certificates allowed between the client's certificate and the trusted root on
    /// the verified path (nginx's `ssl_verify_depth`); `None` leaves webpki's own limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_intermediates: Option<u8>,
}

impl ClientVerification {
    /// Verification against `trust` alone: the chain, with no issuer-DN pin, no revocation
    /// check and no exclusion path; each is a field to set on top.
    pub fn trusting(trust: Vec<TrustBundleWire>) -> Self {
        Self {
            trust,
            verify_issuer_dn: false,
            revocation: Revocation::None,
            revocation_chain: false,
            crls: Vec::new(),
            fetch_crl_distribution_points: false,
            ocsp_responder: None,
            exclusion_paths: Vec::new(),
            max_intermediates: None,
        }
    }
}

/// A trust bundle as carried in the snapshot: its CA certificates, re-judged on load.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "Vec<Der>", into = "Vec<Der>")]
pub struct TrustBundleWire(pub TrustBundle);

impl TryFrom<Vec<Der>> for TrustBundleWire {
    type Error = crate::pki::BundleRejected;
    fn try_from(ders: Vec<Der>) -> Result<Self, Self::Error> {
        let ders: Vec<Vec<u8>> = ders.into_iter().map(|d| d.0).collect();
        TrustBundle::from_ders(&ders).map(Self)
    }
}

impl From<TrustBundleWire> for Vec<Der> {
    fn from(b: TrustBundleWire) -> Self {
        b.0.cas().iter().map(|c| Der(c.der().to_vec())).collect()
    }
}

/// Revocation checking of client certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Revocation {
    /// No check.
    None,
    /// OCSP, with what to do when no answer can be had.
    Ocsp(FailurePolicy),
    /// CRLs, with what to do when none is current.
    Crl(FailurePolicy),
}

/// What to do when revocation status cannot be established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailurePolicy {
    /// Refuse the client (the default).
    FailClosed,
    /// Admit the client and say so in the verification variable and the access log.
    FailOpen,
}

/// A route: match, backend, header rules.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Host this route is limited to; `None` means every hostname of the server.
    pub host: Option<Hostname>,
    /// Path match.
    pub path: PathMatch,
    /// Where matching requests go.
    pub backend: Backend,
    /// Ready-made client-identity header sets.
    pub presets: Vec<HeaderPreset>,
    /// Headers set on the request to the backend.
    pub request_headers: Vec<HeaderRule>,
    /// Matching requests need a verified client certificate, whatever the mode and the
    /// exclusion paths.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_client_certificate: bool,
}

/// Ready-made client-identity header sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeaderPreset {
    /// `X-ARR-ClientCert`: base64 DER, as Azure App Service.
    ArrClientCert,
    /// ingress-nginx `ssl-client-*`.
    NginxSslClient,
    /// ingress-nginx `ssl-client-verify`, `ssl-client-subject-dn` and `ssl-client-issuer-dn`
    /// without `ssl-client-cert`: what it sends unless `auth-tls-pass-certificate-to-upstream`
    /// is set.
    NginxSslClientNoCert,
    /// Envoy `x-forwarded-client-cert`.
    EnvoyXfcc,
    /// RFC 9440 `Client-Cert` and `Client-Cert-Chain`.
    Rfc9440ClientCert,
}

/// A path match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PathMatch {
    /// Matches the path and everything under it, on segment boundaries.
    Prefix(String),
    /// Matches the path only.
    Exact(String),
}

/// A backend Service port, resolved to endpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    /// `namespace/service:port`, for logs.
    pub name: String,
    /// Ready endpoints.
    pub endpoints: Vec<Endpoint>,
    /// HTTP or HTTPS to the backend.
    pub protocol: BackendProtocol,
    /// Host header (and SNI) sent to the backend instead of the client's.
    pub host_override: Option<String>,
    /// Time allowed for the backend's response, in milliseconds.
    pub request_timeout_ms: u64,
}

/// How the gateway talks to a backend.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BackendProtocol {
    /// Plain HTTP.
    Http,
    /// HTTPS, with the backend's certificate verified against these roots.
    Https {
        /// Trusted root certificates (DER); empty with `well_known` set means system roots.
        trusted_roots: Vec<Der>,
        /// Whether the well-known public CAs are trusted too.
        well_known: bool,
        /// The name sent as SNI and checked against the backend's certificate: the host
        /// override, or the Service's cluster DNS name.
        server_name: String,
    },
}

/// A header set on requests to the backend, after every client-sent header of the same name
/// and every client-identity header was removed (strip before set).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRule {
    /// Lowercase header name.
    pub name: String,
    /// The value with server variables.
    pub value: HeaderTemplate,
}

/// Most memory one compiled subject pattern may take: a pattern is configuration, not input,
/// but a typo such as `CN=.{1000}{1000}` must not take the dataplane's memory.
const SUBJECT_PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a subject pattern as nginx's `!~` applies it: case-sensitive, matching anywhere in
/// the subject unless anchored.
pub fn subject_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(SUBJECT_PATTERN_SIZE_LIMIT)
        .build()
}
