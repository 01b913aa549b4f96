//! OCSP status of client certificates: from the cache, or asked of the responder (a fresh
//! nonce per request, the answer verified against the certificate's issuer), refreshed in the
//! background while in use.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CLOCK_SKEW_SECS, NEGATIVE_TTL_SECS, RevocationClient, Status, valid_until};
use crate::pki::ocsp::{self, CertId, CertStatus};
use crate::pki::{CertificateInfo, Revoked};
use crate::proxy::verdict::Unknown;

/// Answers used within this many seconds are refreshed before they expire.
const RECENT_SECS: i64 = 600;

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    Status(CertStatus),
    Failed(Unknown),
}

/// A cached answer, with what is needed to ask again.
pub(super) type Answer = (Lookup, Arc<Job>);

/// What is needed to ask again.
#[derive(Debug)]
pub(super) struct Job {
    id: CertId,
    cert: CertificateInfo,
    issuer: CertificateInfo,
    url: Option<String>,
}

impl RevocationClient {
    /// The revocation status at `now` of `cert` (issued by `issuer`), from the cache or the
    /// responder (`url`, else the certificate's AIA).
    pub async fn ocsp_status(
        &self,
        cert: &CertificateInfo,
        issuer: &CertificateInfo,
        url: Option<&str>,
        now: i64,
    ) -> Status {
        let id = CertId::new(cert, issuer);
        let cached = self.lock_ocsp().get(&id, now);
        self.telemetry.ocsp_cache(cached.is_some());
        if let Some((lookup, _)) = cached {
            return to_status(lookup);
        }
        let job = Arc::new(Job {
            id,
            cert: cert.clone(),
            issuer: issuer.clone(),
            url: url.map(str::to_owned),
        });
        to_status(self.refresh(job, now).await)
    }

    /// Asks again, before they expire, for answers used recently; call periodically.
    pub async fn refresh_due(&self, now: i64) {
        let due: Vec<Arc<Job>> = self
            .lock_ocsp()
            .due(now, RECENT_SECS)
            .filter(|(lookup, _)| matches!(lookup, Lookup::Status(_)))
            .map(|(_, job)| job.clone())
            .collect();
        for job in due {
            self.refresh(job, now).await;
        }
    }

    fn lock_ocsp(&self) -> std::sync::MutexGuard<'_, super::Cache<CertId, Answer>> {
        self.ocsp.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the responder, at most once at a time per certificate, and caches the answer.
    async fn refresh(&self, job: Arc<Job>, now: i64) -> Lookup {
        let (lookup, until) = self
            .ocsp_flights
            .run(&job.id, || self.fetch(&job, now))
            .await;
        let id = job.id.clone();
        self.lock_ocsp().insert(id, (lookup, job), until, now);
        lookup
    }

    async fn fetch(&self, job: &Job, now: i64) -> (Lookup, i64) {
        let failed = |u| (Lookup::Failed(u), now + NEGATIVE_TTL_SECS);
        let Some(url) = job.url.as_ref().or_else(|| job.cert.ocsp_urls.first()) else {
            self.telemetry.ocsp_request("no_responder", Duration::ZERO);
            return failed(Unknown::OcspNoResponder);
        };
        let mut nonce = [0u8; 16];
        let nonce = aws_lc_rs::rand::fill(&mut nonce).ok().map(|()| nonce);
        let nonce = nonce.as_ref().map(|n| n.as_slice());
        let started = Instant::now();
        let answer = self.fetcher.ocsp(url, ocsp::request(&job.id, nonce)).await;
        let elapsed = started.elapsed();
        let Ok(bytes) = answer else {
            self.telemetry.ocsp_request("unreachable", elapsed);
            return failed(Unknown::OcspUnreachable);
        };
        match ocsp::verify_response(&bytes, &job.id, &job.issuer, nonce, now, CLOCK_SKEW_SECS) {
            Ok(single) => {
                let result = match single.status {
                    CertStatus::Good => "good",
                    CertStatus::Revoked { .. } => "revoked",
                    CertStatus::Unknown => "unknown",
                };
                self.telemetry.ocsp_request(result, elapsed);
                let until = valid_until(single.next_update, now);
                (Lookup::Status(single.status), until)
            }
            Err(_) => {
                self.telemetry.ocsp_request("invalid", elapsed);
                failed(Unknown::OcspInvalidResponse)
            }
        }
    }
}

fn to_status(lookup: Lookup) -> Status {
    match lookup {
        Lookup::Status(CertStatus::Good) => Status::Good,
        Lookup::Status(CertStatus::Revoked { at, reason }) => {
            Status::Revoked(Revoked { reason, at })
        }
        Lookup::Status(CertStatus::Unknown) => Status::Unknown(Unknown::OcspUnknownStatus),
        Lookup::Failed(u) => Status::Unknown(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::telemetry::Telemetry;
    use portcullis_tests::pki::Ca;

    #[tokio::test]
    async fn a_cached_answer_serves_until_it_expires_then_the_responder_is_asked() {
        let root = Ca::root("Root");
        let info = |der: Vec<u8>| CertificateInfo::from_der(&der).expect("parse");
        // No AIA: once the cached answer expires, asking again finds no responder (no network).
        let (cert, issuer) = (info(root.client("c").der()), info(root.der()));
        let telemetry = Arc::new(Telemetry::new(false));
        let client = RevocationClient::new(telemetry);
        let job = Arc::new(Job {
            id: CertId::new(&cert, &issuer),
            cert: cert.clone(),
            issuer: issuer.clone(),
            url: None,
        });
        let revoked = CertStatus::Revoked {
            at: 50,
            reason: Some(1),
        };
        client
            .lock_ocsp()
            .insert(job.id.clone(), (Lookup::Status(revoked), job), 1_000, 100);
        let at = |now| client.ocsp_status(&cert, &issuer, None, now);
        let revoked = Status::Revoked(Revoked {
            reason: Some(1),
            at: 50,
        });
        assert_eq!(at(100).await, revoked);
        assert_eq!(at(999).await, revoked, "still valid");
        assert_eq!(
            at(1_000).await,
            Status::Unknown(Unknown::OcspNoResponder),
            "expired: asked again"
        );
        // The failure is remembered briefly, then asked again.
        assert_eq!(
            at(1_000 + NEGATIVE_TTL_SECS - 1).await,
            Status::Unknown(Unknown::OcspNoResponder)
        );
    }
}
