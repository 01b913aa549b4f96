//! OCSP stapling for the gateway's own certificates: when a server certificate names an OCSP
//! responder (AIA) and `tls.crt` holds its issuer, a good, verified response is stapled to
//! handshakes and refreshed before its `nextUpdate`. Clients that ask (`status_request`) then
//! need not query the responder themselves.

use std::sync::{Arc, Mutex, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::fetch::RevocationClient;
use crate::pki::CertificateInfo;

/// Retry delay after a failed staple fetch.
const RETRY_SECS: i64 = 60;

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

    /// Whether a staple is attached now.
    pub fn is_stapled(&self) -> bool {
        self.key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .ocsp
            .is_some()
    }

    /// Fetches a staple when one is due; cheap when none is.
    pub async fn refresh(&self, ocsp: &RevocationClient) {
        let Some((leaf, issuer)) = &self.target else {
            return;
        };
        let now = super::serve::unix_now();
        {
            let mut next = self.next_attempt.lock().unwrap_or_else(|e| e.into_inner());
            if now < *next {
                return;
            }
            // Claim this attempt so concurrent refreshers do not duplicate it.
            *next = now + RETRY_SECS;
        }
        let Some((response, valid_until)) = ocsp.staple(leaf, issuer).await else {
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
