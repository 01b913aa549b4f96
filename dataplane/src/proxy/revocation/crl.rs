//! CRLs from the distribution points of client certificates (`fetchCrlDistributionPoints`),
//! downloaded once per `nextUpdate` window, verified against the certificate's issuer on the
//! verified path, and shared by every connection.

use std::sync::Arc;

use super::{NEGATIVE_TTL_SECS, RevocationClient, Status, valid_until};
use crate::pki::{CertificateInfo, RevocationList};
use crate::proxy::verdict::Unknown;

/// A downloaded, verified CRL, or why there is none.
pub(super) type CrlLookup = Result<Arc<RevocationList>, Unknown>;

impl RevocationClient {
    /// The status at `now` of `cert` from the CRL at its distribution point (verified against
    /// `issuer`).
    pub async fn crl_status(
        &self,
        cert: &CertificateInfo,
        issuer: &CertificateInfo,
        now: i64,
    ) -> Status {
        let Some(url) = cert
            .crl_urls
            .iter()
            .find(|u| u.starts_with("http://") || u.starts_with("https://"))
        else {
            return Status::Unknown(Unknown::NoCrl);
        };
        let cached = self
            .crls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url.as_str(), now);
        let lookup = match cached {
            Some(l) => l,
            None => {
                let (lookup, until) = self
                    .crl_flights
                    .run(url, || self.download(url, issuer, now))
                    .await;
                self.crls.lock().unwrap_or_else(|e| e.into_inner()).insert(
                    url.clone(),
                    lookup.clone(),
                    until,
                    now,
                );
                lookup
            }
        };
        status_in(&lookup, cert, now)
    }

    async fn download(&self, url: &str, issuer: &CertificateInfo, now: i64) -> (CrlLookup, i64) {
        let none = (Err(Unknown::NoCrl), now + NEGATIVE_TTL_SECS);
        let Ok(bytes) = self.fetcher.crl(url).await else {
            self.telemetry.crl_download("unreachable");
            return none;
        };
        match RevocationList::parse_all(&bytes, std::slice::from_ref(issuer)) {
            Ok(mut lists) if !lists.is_empty() => {
                self.telemetry.crl_download("ok");
                let list = lists.swap_remove(0);
                let until = valid_until(list.next_update, now).max(now + NEGATIVE_TTL_SECS);
                (Ok(Arc::new(list)), until)
            }
            _ => {
                self.telemetry.crl_download("invalid");
                none
            }
        }
    }
}

/// The status of `cert` in a downloaded CRL: only a list of its own issuer speaks for it.
fn status_in(lookup: &CrlLookup, cert: &CertificateInfo, now: i64) -> Status {
    match lookup {
        Err(u) => Status::Unknown(*u),
        Ok(list) if list.issuer != cert.issuer => Status::Unknown(Unknown::NoCrl),
        Ok(list) => match list.lookup(&cert.serial) {
            Some(r) => Status::Revoked(r),
            None if list.is_expired(now) => Status::Unknown(Unknown::CrlExpired),
            None => Status::Good,
        },
    }
}
