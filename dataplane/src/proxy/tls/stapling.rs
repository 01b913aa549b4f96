//! OCSP stapling for the gateway's own certificates: when a server certificate names an OCSP
//! responder (AIA) and `tls.crt` holds its issuer, a good, verified response is stapled to
//! handshakes and refreshed before its `nextUpdate`. Clients that ask (`status_request`) then
//! need not query the responder themselves.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::pki::CertificateInfo;
use crate::pki::ocsp::{self, CertId, CertStatus};
use crate::proxy::revocation::{CLOCK_SKEW_SECS, Cache, RevocationClient, valid_until};

/// Retry delay after a failed staple fetch.
const RETRY_SECS: i64 = 60;
/// Most staples kept (one per server certificate that can be stapled).
const MAX_STAPLES: usize = 10_000;

/// Verified `good` answers for the gateway's own certificates, shared across snapshots until
/// they expire, fetched through the revocation client's transport.
pub struct Stapler {
    client: Arc<RevocationClient>,
    cache: Mutex<Cache<CertId, Vec<u8>>>,
}

impl Stapler {
    /// A stapler with no staples yet.
    pub fn new(client: Arc<RevocationClient>) -> Self {
        Self {
            client,
            cache: Mutex::new(Cache::new(MAX_STAPLES)),
        }
    }

    /// A verified `good` response for `cert` at `now`, to staple, with the time until which it
    /// may be served.
    async fn staple(
        &self,
        cert: &CertificateInfo,
        issuer: &CertificateInfo,
        now: i64,
    ) -> Option<(Vec<u8>, i64)> {
        let id = CertId::new(cert, issuer);
        // A staple is served until a minute before it expires.
        if let Some(fresh) = self.lock().get_until(&id, now + 60) {
            return Some(fresh);
        }
        let url = cert.ocsp_urls.first()?;
        let telemetry = self.client.telemetry();
        let started = Instant::now();
        // No nonce: a staple is shown to every client, not answered to one request.
        let bytes = self
            .client
            .fetcher()
            .ocsp(url, ocsp::request(&id, None))
            .await;
        let elapsed = started.elapsed();
        let Ok(bytes) = bytes else {
            telemetry.ocsp_request("staple_unreachable", elapsed);
            return None;
        };
        match ocsp::verify_response(&bytes, &id, issuer, None, now, CLOCK_SKEW_SECS) {
            Ok(single) if single.status == CertStatus::Good => {
                telemetry.ocsp_request("staple_good", elapsed);
                let until = valid_until(single.next_update, now);
                self.lock().insert(id, bytes.to_vec(), until, now);
                Some((bytes.to_vec(), until))
            }
            _ => {
                telemetry.ocsp_request("staple_refused", elapsed);
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache<CertId, Vec<u8>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A server certificate whose staple the stapler keeps fresh.
#[derive(Debug)]
pub struct StapledCert {
    key: RwLock<Arc<CertifiedKey>>,
    /// The leaf and its issuer, when the leaf can be stapled.
    target: Option<(CertificateInfo, CertificateInfo)>,
    next_attempt: Mutex<i64>,
}

impl StapledCert {
    /// Wraps a certified key; stapling applies when its chain has the leaf's issuer and the
    /// leaf names a responder.
    pub fn new(key: CertifiedKey) -> Self {
        let parse = |i: usize| {
            key.cert
                .get(i)
                .and_then(|c| CertificateInfo::from_der(c).ok())
        };
        let target = match (parse(0), parse(1)) {
            (Some(leaf), Some(issuer))
                if !leaf.ocsp_urls.is_empty()
                    && leaf.issuer == issuer.subject
                    && leaf.is_signed_by(&issuer) =>
            {
                Some((leaf, issuer))
            }
            _ => None,
        };
        Self {
            key: RwLock::new(Arc::new(key)),
            target,
            next_attempt: Mutex::new(0),
        }
    }

    /// Fetches a staple when one is due; cheap when none is.
    pub async fn refresh(&self, stapler: &Stapler, now: i64) {
        let Some((leaf, issuer)) = &self.target else {
            return;
        };
        {
            let mut next = self.next_attempt.lock().unwrap_or_else(|e| e.into_inner());
            if now < *next {
                return;
            }
            // Claim this attempt so concurrent refreshers do not duplicate it.
            *next = now + RETRY_SECS;
        }
        let Some((response, valid_until)) = stapler.staple(leaf, issuer, now).await else {
            return;
        };
        let mut key = (**self.key.read().unwrap_or_else(|e| e.into_inner())).clone();
        key.ocsp = Some(response);
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        // Refresh when three quarters of the validity have passed, and at least a minute out.
        let refresh_at = valid_until - ((valid_until - now) / 4).max(RETRY_SECS);
        *self.next_attempt.lock().unwrap_or_else(|e| e.into_inner()) =
            refresh_at.max(now + RETRY_SECS);
    }
}

impl ResolvesServerCert for StapledCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}
