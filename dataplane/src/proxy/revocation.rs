//! Revocation status of client certificates: the CRL index (signatures verified once, at
//! load; lookups by issuer and serial) and the failure policy that decides what an unknown
//! status means.

use std::collections::HashMap;

use crate::config::{Der, FailurePolicy};
use crate::pki::{CertificateInfo, RevocationList, Revoked};

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

/// The status of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked(Revoked),
    /// Could not be established.
    Unknown(Unknown),
}

/// CRLs by issuer (DER name).
#[derive(Debug, Default)]
pub struct CrlIndex {
    by_issuer: HashMap<Vec<u8>, Vec<RevocationList>>,
}

impl CrlIndex {
    /// Parses and verifies the snapshot's CRLs against the trusted CAs (once, here).
    pub fn build(crls: &[Der], cas: &[CertificateInfo]) -> Result<Self, rustls::Error> {
        let mut by_issuer: HashMap<Vec<u8>, Vec<RevocationList>> = HashMap::new();
        for der in crls {
            let crl = RevocationList::from_der(&der.0, cas)
                .map_err(|e| rustls::Error::General(format!("CRL {e}")))?;
            by_issuer
                .entry(crl.issuer.as_der().to_vec())
                .or_default()
                .push(crl);
        }
        Ok(Self { by_issuer })
    }

    /// Every loaded list.
    pub fn lists(&self) -> impl Iterator<Item = &RevocationList> {
        self.by_issuer.values().flatten()
    }

    /// The status of `cert` at `now`: revoked if any CRL of its issuer lists it; unknown if its
    /// issuer has no CRL, or only expired ones.
    pub fn status(&self, cert: &CertificateInfo, now: i64) -> Status {
        let Some(lists) = self.by_issuer.get(cert.issuer.as_der()) else {
            return Status::Unknown(Unknown::NoCrl);
        };
        if let Some(r) = lists.iter().find_map(|l| l.lookup(&cert.serial)) {
            return Status::Revoked(r);
        }
        if lists.iter().all(|l| l.is_expired(now)) {
            return Status::Unknown(Unknown::CrlExpired);
        }
        Status::Good
    }
}

/// Combines the statuses of the checked certificates under `policy`: any revoked refuses;
/// otherwise any unknown refuses under FailClosed and is reported under FailOpen.
pub fn combine(
    statuses: impl IntoIterator<Item = Status>,
    policy: FailurePolicy,
) -> Result<Option<Unknown>, Status> {
    let mut unknown = None;
    for s in statuses {
        match s {
            Status::Good => {}
            Status::Revoked(_) => return Err(s),
            Status::Unknown(u) => unknown = unknown.or(Some(u)),
        }
    }
    match (unknown, policy) {
        (Some(u), FailurePolicy::FailClosed) => Err(Status::Unknown(u)),
        (u, _) => Ok(u),
    }
}
