//! Revocation status of client certificates: what one certificate's status is ([`Status`]),
//! how the statuses of a path combine under the failure policy ([`combine`]), the snapshot's
//! CRLs ([`crl_index`]), and the data fetched from the network ([`RevocationClient`]): OCSP
//! answers ([`ocsp`]) and CRLs from distribution points ([`crl`]).
//!
//! One client is shared by every connection and snapshot. Its caches are keyed by (issuer,
//! serial) for OCSP and by URL for CRLs, bounded, valid until `nextUpdate` ([`cache`]); one
//! request at a time per key ([`single_flight`]); a cold cache waits for the responder (bounded
//! by a timeout) instead of failing the first request; OCSP answers used recently are refreshed
//! in the background before they expire. Every decision takes `now` from its caller.

mod cache;
pub(crate) mod client;
mod crl;
mod crl_index;
mod ocsp;
mod single_flight;

use std::sync::{Arc, Mutex};

use crate::config::FailurePolicy;
use crate::pki::Revoked;
use crate::pki::ocsp::CertId;
use crate::proxy::telemetry::Telemetry;
use crate::proxy::verdict::Unknown;
pub(crate) use cache::Cache;
pub(crate) use crl_index::CrlIndex;
use single_flight::SingleFlight;

/// Clock difference tolerated on `thisUpdate` / `nextUpdate`.
pub(crate) const CLOCK_SKEW_SECS: i64 = 300;
/// How long a failed lookup is remembered, so a dead responder is not asked on every handshake.
const NEGATIVE_TTL_SECS: i64 = 10;
/// Cache lifetime of an answer without `nextUpdate`.
const DEFAULT_TTL_SECS: i64 = 300;
/// Longest any answer is cached, whatever its `nextUpdate` says.
const MAX_TTL_SECS: i64 = 7 * 86_400;
/// Most cached certificates (or CRLs); beyond this the least recently used are dropped.
const MAX_ENTRIES: usize = 100_000;

/// Until when an answer fetched at `now` with this `nextUpdate` may be used.
pub(crate) fn valid_until(next_update: Option<i64>, now: i64) -> i64 {
    next_update
        .unwrap_or(now + DEFAULT_TTL_SECS)
        .min(now + MAX_TTL_SECS)
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

/// Revocation data from the network, shared by every connection.
pub struct RevocationClient {
    fetcher: client::Fetcher,
    ocsp: Mutex<Cache<CertId, ocsp::Answer>>,
    ocsp_flights: SingleFlight<CertId, (ocsp::Lookup, i64)>,
    crls: Mutex<Cache<String, crl::CrlLookup>>,
    crl_flights: SingleFlight<String, (crl::CrlLookup, i64)>,
    telemetry: Arc<Telemetry>,
}

impl RevocationClient {
    /// A client with empty caches.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        Self {
            fetcher: client::Fetcher::new(),
            ocsp: Mutex::new(Cache::new(MAX_ENTRIES)),
            ocsp_flights: SingleFlight::default(),
            crls: Mutex::new(Cache::new(MAX_ENTRIES)),
            crl_flights: SingleFlight::default(),
            telemetry,
        }
    }

    /// The HTTP transport (also used to fetch the gateway's own staples).
    pub(crate) fn fetcher(&self) -> &client::Fetcher {
        &self.fetcher
    }

    /// Counters.
    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.telemetry
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

#[cfg(test)]
mod tests {
    use super::*;

    const REVOKED: Status = Status::Revoked(Revoked {
        reason: None,
        at: 0,
    });

    #[test]
    fn revoked_anywhere_refuses_under_either_policy() {
        for policy in [FailurePolicy::FailOpen, FailurePolicy::FailClosed] {
            let statuses = [Status::Unknown(Unknown::NoCrl), REVOKED, Status::Good];
            assert_eq!(combine(statuses, policy), Err(REVOKED));
        }
    }

    #[test]
    fn unknown_refuses_closed_and_is_reported_open() {
        let statuses = [Status::Good, Status::Unknown(Unknown::OcspUnreachable)];
        assert_eq!(
            combine(statuses, FailurePolicy::FailClosed),
            Err(Status::Unknown(Unknown::OcspUnreachable))
        );
        assert_eq!(
            combine(statuses, FailurePolicy::FailOpen),
            Ok(Some(Unknown::OcspUnreachable))
        );
        // The first unknown is the one reported.
        let two = [
            Status::Unknown(Unknown::CrlExpired),
            Status::Unknown(Unknown::NoCrl),
        ];
        assert_eq!(
            combine(two, FailurePolicy::FailOpen),
            Ok(Some(Unknown::CrlExpired))
        );
    }

    #[test]
    fn all_good_or_nothing_checked_is_good() {
        for policy in [FailurePolicy::FailOpen, FailurePolicy::FailClosed] {
            assert_eq!(combine([Status::Good, Status::Good], policy), Ok(None));
            assert_eq!(combine([], policy), Ok(None));
        }
    }

    #[test]
    fn answers_are_cached_until_next_update_within_bounds() {
        assert_eq!(valid_until(Some(500), 100), 500);
        assert_eq!(valid_until(None, 100), 100 + DEFAULT_TTL_SECS);
        assert_eq!(valid_until(Some(i64::MAX), 100), 100 + MAX_TTL_SECS);
    }
}
