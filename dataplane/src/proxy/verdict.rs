//! The verdict vocabulary (DESIGN §4): why a client certificate was refused ([`Reason`]), why
//! its revocation status is unknown ([`Unknown`]), and what was decided about a connection
//! ([`Verdict`]). One value feeds the HTTP 400 body, the access log, the metric label and the
//! verification header; nothing here decides anything.

use std::borrow::Cow;
use std::fmt;

use rustls::CertificateError;

/// Why a client certificate was refused: one value feeds the HTTP 400 body, the access log's
/// `sslClientVerify`, the metric label and `{var_client_certificate_verification}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No certificate was presented where one is required.
    NoCertificate,
    /// The certificate does not chain to a trusted CA; how it fell short.
    UnknownCa(Untrusted),
    /// The certificate (or one in its chain) has expired.
    Expired,
    /// The certificate (or one in its chain) is not valid yet.
    NotYetValid,
    /// The immediate issuer is not the SslProfile's issuer DN.
    IssuerDnMismatch,
    /// The certificate has an EKU without clientAuth.
    WrongPurpose,
    /// The certificate could not be parsed or its signature is wrong.
    BadCertificate,
    /// The client sent more certificates than [`MAX_PRESENTED_CERTIFICATES`].
    ChainTooLong,
    /// The certificate (or, with scope Chain, an intermediate) is revoked.
    Revoked {
        /// RFC 5280 reason code, when given.
        code: Option<u8>,
        /// When it was revoked, seconds since the epoch.
        at: i64,
    },
    /// Revocation status could not be established, and the policy is FailClosed.
    RevocationUnknown(Unknown),
}

impl Reason {
    /// One of each kind (every label once), for catalogues and the docs check.
    pub const ALL: [Self; 15] = [
        Self::NoCertificate,
        Self::UnknownCa(Untrusted::Issuer),
        Self::Expired,
        Self::NotYetValid,
        Self::IssuerDnMismatch,
        Self::WrongPurpose,
        Self::BadCertificate,
        Self::ChainTooLong,
        Self::Revoked { code: None, at: 0 },
        Self::RevocationUnknown(Unknown::NoCrl),
        Self::RevocationUnknown(Unknown::CrlExpired),
        Self::RevocationUnknown(Unknown::OcspUnreachable),
        Self::RevocationUnknown(Unknown::OcspUnknownStatus),
        Self::RevocationUnknown(Unknown::OcspInvalidResponse),
        Self::RevocationUnknown(Unknown::OcspNoResponder),
    ];

    /// Stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoCertificate => "NoCertificate",
            Self::UnknownCa(_) => "UnknownCA",
            Self::Expired => "Expired",
            Self::NotYetValid => "NotYetValid",
            Self::IssuerDnMismatch => "IssuerDNMismatch",
            Self::WrongPurpose => "WrongPurpose",
            Self::BadCertificate => "BadCertificate",
            Self::ChainTooLong => "ChainTooLong",
            Self::Revoked { .. } => "Revoked",
            Self::RevocationUnknown(u) => u.label(),
        }
    }

    /// The words after `FAILED:` (OpenSSL's, as nginx and Application Gateway report them).
    pub fn description(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::NoCertificate => "no client certificate presented",
            Self::UnknownCa(u) => u.description(),
            Self::Expired => "certificate has expired",
            Self::NotYetValid => "certificate is not yet valid",
            Self::IssuerDnMismatch => "unable to verify the client certificate issuer",
            Self::WrongPurpose => "unsupported certificate purpose",
            Self::BadCertificate => "certificate signature failure",
            Self::ChainTooLong => "certificate chain too long",
            Self::RevocationUnknown(u) => u.description(),
            Self::Revoked { code, at } => {
                let reason = code.map_or(String::new(), |c| {
                    format!(" ({})", crate::pki::crl::reason_name(c))
                });
                return Cow::Owned(format!(
                    "certificate revoked{reason} at {}",
                    crate::time::rfc3339(at)
                ));
            }
        })
    }

    pub(crate) fn from_webpki(e: &webpki::Error) -> Self {
        use webpki::Error as E;
        match e {
            E::CertExpired { .. } | E::InvalidCertValidity => Self::Expired,
            E::CertNotValidYet { .. } => Self::NotYetValid,
            E::UnknownIssuer => Self::UnknownCa(Untrusted::Issuer),
            // Only the depth limit (`max_intermediates`) ends a search this way: webpki's own
            // limit of six CAs is far above any real chain.
            E::MaximumPathDepthExceeded => Self::ChainTooLong,
            #[allow(deprecated)]
            E::RequiredEkuNotFound => Self::WrongPurpose,
            E::RequiredEkuNotFoundContext(_) => Self::WrongPurpose,
            _ => Self::BadCertificate,
        }
    }

    pub(crate) fn to_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(match self {
            Self::Expired => CertificateError::Expired,
            Self::NotYetValid => CertificateError::NotValidYet,
            Self::UnknownCa(_) | Self::IssuerDnMismatch => CertificateError::UnknownIssuer,
            Self::WrongPurpose => CertificateError::InvalidPurpose,
            Self::Revoked { .. } => CertificateError::Revoked,
            Self::RevocationUnknown(_) => CertificateError::UnknownRevocationStatus,
            Self::NoCertificate | Self::BadCertificate => CertificateError::BadEncoding,
            // Used for nothing else, so the handshake's failure reason can name it.
            Self::ChainTooLong => CertificateError::ApplicationVerificationFailure,
        })
    }
}

/// Most certificates a client may present, leaf included. webpki accepts at most six CAs
/// between leaf and root, so a real chain (leaf, intermediates, perhaps the root) is far
/// shorter; Google Cloud's load balancer refuses more than ten the same way. rustls already
/// refuses a Certificate message over 64 KiB, whatever it holds.
pub const MAX_PRESENTED_CERTIFICATES: usize = 10;

/// What was decided about a connection's client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Verdict {
    /// No certificate requested, or none presented where that is allowed.
    #[default]
    None,
    /// Presented and valid.
    Success,
    /// Presented and valid, but its revocation status could not be established and the
    /// policy is FailOpen.
    SuccessRevocationUnknown(Unknown),
    /// Presented and refused, or missing where required.
    Failed(Reason),
}

impl fmt::Display for Verdict {
    /// `SUCCESS`, `FAILED:<reason>` or `NONE`: the `client_certificate_verification` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("NONE"),
            Self::Success => f.write_str("SUCCESS"),
            Self::SuccessRevocationUnknown(u) => {
                write!(f, "SUCCESS:revocation status unknown ({})", u.description())
            }
            Self::Failed(r) => write!(f, "FAILED:{}", r.description()),
        }
    }
}

/// How a certificate fell short of a trusted CA, told as OpenSSL's verify error tells it (what
/// nginx puts in `$ssl_client_verify`), from the certificates the client sent. webpki has
/// already refused the chain; this only words the refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Untrusted {
    /// The client sent its certificate alone, and no trusted CA issued it
    /// (`X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE`).
    Leaf,
    /// The CAs the client sent end at one whose issuer is not trusted
    /// (`X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY`).
    Issuer,
    /// The certificate is self-signed (`X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT`).
    SelfSigned,
    /// The CAs the client sent end at a self-signed root that is not trusted
    /// (`X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN`).
    SelfSignedInChain,
}

impl Untrusted {
    /// OpenSSL 3's words.
    pub fn description(self) -> &'static str {
        match self {
            Self::Leaf => "unable to verify the first certificate",
            Self::Issuer => "unable to get local issuer certificate",
            Self::SelfSigned => "self-signed certificate",
            Self::SelfSignedInChain => "self-signed certificate in certificate chain",
        }
    }
}

/// Why a revocation status could not be established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unknown {
    /// No CRL from the certificate's issuer.
    NoCrl,
    /// The issuer's CRL is past its `nextUpdate`.
    CrlExpired,
    /// The OCSP responder could not be reached in time.
    OcspUnreachable,
    /// The responder answered `unknown`.
    OcspUnknownStatus,
    /// The responder's answer did not verify or parse.
    OcspInvalidResponse,
    /// The certificate names no OCSP responder and none is configured.
    OcspNoResponder,
}

impl Unknown {
    /// Every reason.
    pub const ALL: [Self; 6] = [
        Self::NoCrl,
        Self::CrlExpired,
        Self::OcspUnreachable,
        Self::OcspUnknownStatus,
        Self::OcspInvalidResponse,
        Self::OcspNoResponder,
    ];

    /// Stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoCrl => "CRLUnavailable",
            Self::CrlExpired => "CRLExpired",
            Self::OcspUnreachable => "OCSPUnreachable",
            Self::OcspUnknownStatus => "OCSPUnknown",
            Self::OcspInvalidResponse => "OCSPInvalidResponse",
            Self::OcspNoResponder => "OCSPNoResponder",
        }
    }

    /// Words for the 400 body and the verification variable (OpenSSL's where it has them).
    pub fn description(self) -> &'static str {
        match self {
            Self::NoCrl => "unable to get certificate CRL",
            Self::CrlExpired => "CRL has expired",
            Self::OcspUnreachable => "OCSP responder unreachable",
            Self::OcspUnknownStatus => "OCSP status unknown",
            Self::OcspInvalidResponse => "invalid OCSP response",
            Self::OcspNoResponder => "no OCSP responder for the certificate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once() {
        let mut labels: Vec<&str> = Reason::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Reason::ALL.len());
        for u in Unknown::ALL {
            assert!(Reason::ALL.contains(&Reason::RevocationUnknown(u)), "{u:?}");
        }
    }

    #[test]
    fn verdicts_print_as_the_verification_variable() {
        assert_eq!(Verdict::None.to_string(), "NONE");
        assert_eq!(Verdict::Success.to_string(), "SUCCESS");
        assert_eq!(
            Verdict::Failed(Reason::UnknownCa(Untrusted::Issuer)).to_string(),
            "FAILED:unable to get local issuer certificate"
        );
        assert_eq!(
            Verdict::Failed(Reason::Revoked {
                code: Some(1),
                at: 0
            })
            .to_string(),
            "FAILED:certificate revoked (keyCompromise) at 1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Verdict::SuccessRevocationUnknown(Unknown::OcspUnreachable).to_string(),
            "SUCCESS:revocation status unknown (OCSP responder unreachable)"
        );
    }
}
