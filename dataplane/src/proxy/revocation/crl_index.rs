//! The CRLs of a snapshot (from `ca.crl`), indexed by issuer: signatures verified once, at
//! load, lookups by issuer and serial.

use std::collections::HashMap;

use super::Status;
use crate::config::Der;
use crate::pki::{CertificateInfo, RevocationList};
use crate::proxy::verdict::Unknown;

/// CRLs by issuer (DER name).
#[derive(Debug, Default)]
pub struct CrlIndex {
    by_issuer: HashMap<Vec<u8>, Vec<RevocationList>>,
}

impl CrlIndex {
    /// Parses and verifies the snapshot's CRLs against the trusted CAs (once, here).
    pub fn build(crls: &[Der], cas: &[CertificateInfo]) -> Result<Self, crate::pki::crl::CrlError> {
        let mut by_issuer: HashMap<Vec<u8>, Vec<RevocationList>> = HashMap::new();
        for der in crls {
            let crl = RevocationList::from_der(&der.0, cas)?;
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
