//! Revocation inputs of an SslProfile: the CRLs in trust Secrets' `ca.crl`, verified against
//! their bundle, and the expiry signals (a CRL close to `nextUpdate`, a CA close to expiry)
//! that warn before every client is refused.

use dataplane::config::Der;
use dataplane::pki::{RevocationList, TrustBundle};
use dataplane::time::rfc3339;
use k8s_openapi::api::core::v1::Secret;

use super::Reason;
use super::diagnostic::Reporter;
use super::inputs::secret_value;

/// A CRL this close to its `nextUpdate` is worth a warning, unless its whole lifetime is
/// short: see [`crl_warning_secs`].
const CRL_WARNING_SECS: i64 = 7 * 86_400;

/// How close to `nextUpdate` a CRL issued at `this_update` is worth a warning: 7 days, or the
/// last quarter of its lifetime when that is shorter, so a freshly issued 7-day CRL (a common
/// lifetime) does not warn at once.
fn crl_warning_secs(this_update: i64, next_update: i64) -> i64 {
    CRL_WARNING_SECS.min((next_update - this_update) / 4)
}
/// A CA this close to expiry is worth a warning.
const CA_WARNING_SECS: i64 = 30 * 86_400;

/// Warns about CAs in `bundle` that expired or expire within 30 days.
pub(crate) fn ca_expiry(
    bundle: &TrustBundle,
    secret_name: &str,
    field: &str,
    now: jiff::Timestamp,
    report: &mut Reporter<'_>,
) {
    let now = now.as_second();
    for ca in bundle.cas() {
        let at = rfc3339(ca.not_after);
        if ca.not_after < now {
            report.warn(field, Reason::CACertificateExpired, format!("{secret_name} key ca.crt: CA {} expired at {at}; no client certificate chains to it any more", ca.subject));
        } else if ca.not_after - now < CA_WARNING_SECS {
            report.warn(field, Reason::CACertificateExpiringSoon, format!("{secret_name} key ca.crt: CA {} expires at {at}; upload its successor before then", ca.subject));
        }
    }
}

/// Reads and verifies `ca.crl` of a trust Secret; reports problems and expiry. A missing CRL is
/// a warning unless distribution points are fetched (`fetch`).
pub(crate) fn crls(
    secret: &Secret,
    bundle: &TrustBundle,
    secret_name: &str,
    field: &str,
    fetch: bool,
    now: jiff::Timestamp,
    report: &mut Reporter<'_>,
) -> Vec<Der> {
    let Some(bytes) = secret_value(secret, "ca.crl") else {
        if !fetch {
            report.warn(field, Reason::CRLMissing, format!("{secret_name} has no key ca.crl: certificates from this chain have no revocation status and follow revocationFailurePolicy (or set fetchCrlDistributionPoints)"));
        }
        return Vec::new();
    };
    let lists = match RevocationList::parse_all(&bytes, bundle.cas()) {
        Ok(lists) => lists,
        Err(e) => {
            report.unresolved(field, e.reason(), format!("{secret_name} key ca.crl {e}"));
            return Vec::new();
        }
    };
    let now = now.as_second();
    for crl in &lists {
        match crl.next_update {
            Some(next) if next < now => report.warn(field, Reason::CRLExpired, format!("{secret_name} key ca.crl: the CRL of {} expired at {} (nextUpdate); its clients follow revocationFailurePolicy until a current CRL is uploaded", crl.issuer, rfc3339(next))),
            Some(next) if next - now < crl_warning_secs(crl.this_update, next) => report.warn(field, Reason::CRLExpiringSoon, format!("{secret_name} key ca.crl: the CRL of {} expires at {} (nextUpdate); upload its successor before then", crl.issuer, rfc3339(next))),
            _ => {}
        }
    }
    let tips = bundle
        .chains()
        .filter_map(|c| c.last().map(|ca| ca.subject.clone()))
        .collect::<Vec<_>>();
    for tip in tips
        .iter()
        .filter(|t| !fetch && !lists.iter().any(|l| &l.issuer == *t))
    {
        report.warn(field, Reason::CRLMissingForCA, format!("{secret_name} key ca.crl has no CRL from {tip}: its certificates have no revocation status and follow revocationFailurePolicy"));
    }
    lists.iter().map(|l| Der(l.der().to_vec())).collect()
}
