//! The reasons translation gives, one catalogue: the `reason` of a status condition, a
//! Warning Event, a `portcullis validate` line and the `portcullis_diagnostics` metric label.
//! Diagnostics about certificates, CRLs and server certificates carry the dataplane's own
//! reasons (`BundleError::reason`, `CrlError::reason`, `ServerCertError::reason`).

/// Why translation refused or warns about (part of) an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An ingress-nginx annotation Portcullis does not carry out; nothing it guards is lost.
    AnnotationIgnored,
    /// Ingresses for one host ask for different client-certificate authentication.
    AuthTlsConflict,
    /// An Ingress asks for client certificates on a host it serves without TLS.
    AuthTlsWithoutTls,
    /// A rule names a Service that does not exist.
    BackendNotFound,
    /// A rule names a port the Service does not have.
    BackendPortNotFound,
    /// An HTTPS backend has no CA to verify it by.
    BackendTrustMissing,
    /// A trusted CA certificate has expired.
    CACertificateExpired,
    /// A trusted CA certificate expires soon.
    CACertificateExpiringSoon,
    /// A trusted CA Secret holds a private key.
    CACertificateKeyMissing,
    /// A CRL is past its nextUpdate.
    CRLExpired,
    /// A CRL reaches its nextUpdate soon.
    CRLExpiringSoon,
    /// CRL checking is asked for but no CRL is given.
    CRLMissing,
    /// A trusted CA has no CRL of its own.
    CRLMissingForCA,
    /// The server certificate does not name the Listener's hostnames.
    CertificateHostnameMismatch,
    /// A rule requires a client certificate its Listener never asks for.
    ClientCertificateNotRequested,
    /// Portcullis serves a setting otherwise than ingress-nginx did (more strictly, or as near as it can).
    DiffersFromIngressNginx,
    /// Two header rules set the same header.
    DuplicateHeader,
    /// All SslProfiles together trust too many chains.
    GatewayChainLimitExceeded,
    /// A rule's host is not one of the Listener's hostnames.
    HostNotInListener,
    /// Two Listeners on a port claim the same hostname.
    HostnameConflict,
    /// A path of a host is already served by an older Ingress.
    IngressPathConflict,
    /// An ingress-nginx annotation has a value that cannot be used.
    InvalidAnnotation,
    /// The client authentication settings contradict each other.
    InvalidClientAuth,
    /// An exclusion path is not in canonical form or can never match.
    InvalidExclusionPath,
    /// A header rule names no valid header.
    InvalidHeaderName,
    /// A header template is not valid.
    InvalidHeaderValue,
    /// A hostname is not valid.
    InvalidHostname,
    /// An Ingress backend cannot be served (a resource backend, no Service).
    InvalidIngressBackend,
    /// A rule path is not in canonical form or can never match.
    InvalidPath,
    /// A port is out of range or reserved.
    InvalidPort,
    /// An HTTPS redirect names no HTTPS Listener.
    InvalidRedirect,
    /// The rules of a Listener cannot be served as written.
    InvalidRules,
    /// The Listener's server certificate Secret is unusable.
    InvalidServerCertificate,
    /// The SSL policy is not valid.
    InvalidSslPolicy,
    /// The Listener's SslProfile is invalid.
    InvalidSslProfile,
    /// A trusted client CA bundle is refused.
    InvalidTrustedRootCertificate,
    /// The object cannot be read by this version.
    MalformedObject,
    /// An HTTPS or TLS Listener names no server certificate.
    MissingSslCertificate,
    /// A backend Service has no ready endpoints.
    NoReadyEndpoints,
    /// Client authentication is on with no trusted CA.
    NoTrustedCertificates,
    /// The policy leaves no cipher suite for its TLS versions.
    NoUsableCipherSuite,
    /// Two Listeners use one port with different protocols.
    PortConflict,
    /// A reference leaves the namespace.
    RefNotPermitted,
    /// A referenced Secret does not exist.
    SecretNotFound,
    /// The Listener names an SslProfile that does not exist.
    SslProfileNotFound,
    /// A plain HTTP Listener has TLS settings.
    TlsOnPlainListener,
    /// Ingresses for one host name different TLS Secrets; the oldest's is served.
    TlsSecretConflict,
    /// An SslProfile trusts too many chains.
    TooManyChains,
    /// An ingress-nginx annotation that restricts access, which Portcullis cannot carry out.
    UnsupportedSecurityAnnotation,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Self; 49] = [
        Self::AnnotationIgnored,
        Self::AuthTlsConflict,
        Self::AuthTlsWithoutTls,
        Self::BackendNotFound,
        Self::BackendPortNotFound,
        Self::BackendTrustMissing,
        Self::CACertificateExpired,
        Self::CACertificateExpiringSoon,
        Self::CACertificateKeyMissing,
        Self::CRLExpired,
        Self::CRLExpiringSoon,
        Self::CRLMissing,
        Self::CRLMissingForCA,
        Self::CertificateHostnameMismatch,
        Self::ClientCertificateNotRequested,
        Self::DiffersFromIngressNginx,
        Self::DuplicateHeader,
        Self::GatewayChainLimitExceeded,
        Self::HostNotInListener,
        Self::HostnameConflict,
        Self::IngressPathConflict,
        Self::InvalidAnnotation,
        Self::InvalidClientAuth,
        Self::InvalidExclusionPath,
        Self::InvalidHeaderName,
        Self::InvalidHeaderValue,
        Self::InvalidHostname,
        Self::InvalidIngressBackend,
        Self::InvalidPath,
        Self::InvalidPort,
        Self::InvalidRedirect,
        Self::InvalidRules,
        Self::InvalidServerCertificate,
        Self::InvalidSslPolicy,
        Self::InvalidSslProfile,
        Self::InvalidTrustedRootCertificate,
        Self::MalformedObject,
        Self::MissingSslCertificate,
        Self::NoReadyEndpoints,
        Self::NoTrustedCertificates,
        Self::NoUsableCipherSuite,
        Self::PortConflict,
        Self::RefNotPermitted,
        Self::SecretNotFound,
        Self::SslProfileNotFound,
        Self::TlsOnPlainListener,
        Self::TlsSecretConflict,
        Self::TooManyChains,
        Self::UnsupportedSecurityAnnotation,
    ];

    /// The reason as status, events and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnnotationIgnored => "AnnotationIgnored",
            Self::AuthTlsConflict => "AuthTlsConflict",
            Self::AuthTlsWithoutTls => "AuthTlsWithoutTls",
            Self::BackendNotFound => "BackendNotFound",
            Self::BackendPortNotFound => "BackendPortNotFound",
            Self::BackendTrustMissing => "BackendTrustMissing",
            Self::CACertificateExpired => "CACertificateExpired",
            Self::CACertificateExpiringSoon => "CACertificateExpiringSoon",
            Self::CACertificateKeyMissing => "CACertificateKeyMissing",
            Self::CRLExpired => "CRLExpired",
            Self::CRLExpiringSoon => "CRLExpiringSoon",
            Self::CRLMissing => "CRLMissing",
            Self::CRLMissingForCA => "CRLMissingForCA",
            Self::CertificateHostnameMismatch => "CertificateHostnameMismatch",
            Self::ClientCertificateNotRequested => "ClientCertificateNotRequested",
            Self::DiffersFromIngressNginx => "DiffersFromIngressNginx",
            Self::DuplicateHeader => "DuplicateHeader",
            Self::GatewayChainLimitExceeded => "GatewayChainLimitExceeded",
            Self::HostNotInListener => "HostNotInListener",
            Self::HostnameConflict => "HostnameConflict",
            Self::IngressPathConflict => "IngressPathConflict",
            Self::InvalidAnnotation => "InvalidAnnotation",
            Self::InvalidClientAuth => "InvalidClientAuth",
            Self::InvalidExclusionPath => "InvalidExclusionPath",
            Self::InvalidHeaderName => "InvalidHeaderName",
            Self::InvalidHeaderValue => "InvalidHeaderValue",
            Self::InvalidHostname => "InvalidHostname",
            Self::InvalidIngressBackend => "InvalidIngressBackend",
            Self::InvalidPath => "InvalidPath",
            Self::InvalidPort => "InvalidPort",
            Self::InvalidRedirect => "InvalidRedirect",
            Self::InvalidRules => "InvalidRules",
            Self::InvalidServerCertificate => "InvalidServerCertificate",
            Self::InvalidSslPolicy => "InvalidSslPolicy",
            Self::InvalidSslProfile => "InvalidSslProfile",
            Self::InvalidTrustedRootCertificate => "InvalidTrustedRootCertificate",
            Self::MalformedObject => "MalformedObject",
            Self::MissingSslCertificate => "MissingSslCertificate",
            Self::NoReadyEndpoints => "NoReadyEndpoints",
            Self::NoTrustedCertificates => "NoTrustedCertificates",
            Self::NoUsableCipherSuite => "NoUsableCipherSuite",
            Self::PortConflict => "PortConflict",
            Self::RefNotPermitted => "RefNotPermitted",
            Self::SecretNotFound => "SecretNotFound",
            Self::SslProfileNotFound => "SslProfileNotFound",
            Self::TlsOnPlainListener => "TlsOnPlainListener",
            Self::TlsSecretConflict => "TlsSecretConflict",
            Self::TooManyChains => "TooManyChains",
            Self::UnsupportedSecurityAnnotation => "UnsupportedSecurityAnnotation",
        }
    }
}

impl From<Reason> for &'static str {
    fn from(r: Reason) -> Self {
        r.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_spelled_as_its_name_once() {
        let mut seen: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        for r in Reason::ALL {
            assert_eq!(format!("{r:?}"), r.as_str());
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), Reason::ALL.len());
    }
}
