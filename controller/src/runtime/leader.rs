//! Leader election on a `coordination.k8s.io/v1` Lease: every replica watches and keeps its
//! caches warm, one leads (pushes snapshots, writes status and Events).
//!
//! As in client-go, a Lease is taken over when its record has not changed for its duration as
//! observed by this replica's own clock (never by comparing clocks across machines). With an
//! 8 s duration renewed every 2 s, a standby takes over 8–10 s after the leader dies; a leader
//! that stops cleanly releases the Lease and a standby takes over at its next try.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

use super::is_conflict;

/// How long a Lease holds without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(8);
/// How often the leader renews and a standby tries.
pub const RETRY: Duration = Duration::from_secs(2);
/// A leader that could not renew for this long stops acting as one (before its Lease can
/// expire for others).
const RENEW_DEADLINE: Duration = Duration::from_secs(6);

/// What identifies a Lease's state: its holder and its last renewal.
type Record = (Option<String>, Option<MicroTime>);

/// One replica's participation in the election.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    /// What owns the Lease (deleted with it).
    owner: Option<OwnerReference>,
    /// The last record seen and when this replica first saw it.
    observed: Option<(Record, Instant)>,
}

impl Elector {
    /// Takes part in the election for Lease `namespace/name` as `identity`; the Lease is
    /// owned by `owner`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        owner: Option<OwnerReference>,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            owner,
            observed: None,
        }
    }

    /// Runs the election; the channel says whether this replica leads.
    pub fn spawn(mut self) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(async move {
            let mut last_renew: Option<Instant> = None;
            let mut tick = tokio::time::interval(RETRY);
            loop {
                tick.tick().await;
                let leading = match self.try_acquire_or_renew().await {
                    Ok(true) => {
                        last_renew = Some(Instant::now());
                        true
                    }
                    Ok(false) => false,
                    Err(e) => {
                        tracing::warn!("leader election: {e}");
                        last_renew.is_some_and(|t| t.elapsed() < RENEW_DEADLINE)
                    }
                };
                if !leading {
                    last_renew = None;
                }
                if *tx.borrow() != leading {
                    tracing::warn!(
                        "{} {} Lease {}",
                        self.identity,
                        if leading { "acquired" } else { "lost" },
                        self.name
                    );
                    tx.send_replace(leading);
                }
            }
        });
        (rx, handle)
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let now = MicroTime(jiff::Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt: `Ok(true)` when this replica holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> kube::Result<bool> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    owner_references: self.owner.clone().map(|o| vec![o]),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());
        let now = Instant::now();
        let seen_since = match &self.observed {
            Some((r, at)) if *r == record => *at,
            _ => {
                self.observed = Some((record, now));
                now
            }
        };
        let mine = holder.as_deref() == Some(self.identity.as_str());
        let duration = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        );
        let free = holder.is_none() || now.duration_since(seen_since) > duration;
        if !mine && !free {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine { spec.acquire_time } else { None };
        lease.spec = Some(self.spec(transitions, acquired));
        super::owner::adopt(&mut lease.metadata, self.owner.as_ref());
        // The read resourceVersion makes this a compare-and-swap: of two replicas trying at
        // once, one wins and the other gets a conflict.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up if this replica holds it, so a standby takes over without waiting
    /// for it to expire.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!("released Lease {}", self.name),
            Err(e) => tracing::warn!("releasing Lease {}: {e}", self.name),
        }
    }
}
