//! Finding the dataplane replicas and pushing each the current snapshot.
//!
//! Replicas are the endpoints of the dataplanes' push Service, read from its EndpointSlices —
//! including endpoints that are not ready, because a dataplane only becomes ready once it has
//! a snapshot. Terminating endpoints are left out.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use dataplane::config::Endpoint;
use dataplane::push::client::PushClient;
use futures::future::join_all;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::status::{Programmed, ProgrammedReason};
use crate::translate::slices_of;

/// The Service whose EndpointSlices list the dataplanes, and the port of the push channel.
#[derive(Clone, Debug)]
pub struct DataplaneService {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// Name of the push port in its EndpointSlices (`push`); a slice with a single port
    /// also matches.
    pub port_name: String,
}

impl DataplaneService {
    /// The push endpoints of every dataplane replica.
    pub fn targets(&self, slices: &[EndpointSlice]) -> BTreeSet<Endpoint> {
        let mut out = BTreeSet::new();
        for slice in slices_of(slices, &self.namespace, &self.name) {
            let ports = slice.ports.as_deref().unwrap_or_default();
            let port = ports
                .iter()
                .find(|p| p.name.as_deref() == Some(self.port_name.as_str()))
                .or(if ports.len() == 1 {
                    ports.first()
                } else {
                    None
                })
                .and_then(|p| p.port)
                .and_then(|p| u16::try_from(p).ok());
            let Some(port) = port else { continue };
            for ep in &slice.endpoints {
                if ep.conditions.as_ref().and_then(|c| c.terminating) == Some(true) {
                    continue;
                }
                out.extend(
                    ep.addresses
                        .iter()
                        .filter_map(|a| Endpoint::new(a, port).ok()),
                );
            }
        }
        out
    }
}

/// What one replica said about the current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It serves the version.
    Acked,
    /// It refused the version, with its reason; it keeps serving its previous one.
    Rejected(String),
    /// It could not be reached.
    Unreachable(String),
}

/// Pushes versions to replicas, remembering what each acknowledged so that an unchanged
/// version is not sent again.
pub struct Pusher {
    client: PushClient,
    acked: BTreeMap<Endpoint, String>,
}

/// The result of one round: every replica's outcome for `version`.
#[derive(Clone, Debug)]
pub struct Round {
    /// The version pushed.
    pub version: String,
    /// Per replica.
    pub outcomes: BTreeMap<Endpoint, Outcome>,
}

impl Pusher {
    /// A pusher presenting `client`'s certificate.
    pub fn new(client: PushClient) -> Self {
        Self {
            client,
            acked: BTreeMap::new(),
        }
    }

    /// Replaces the client (a renewed certificate), keeping what replicas acknowledged.
    pub fn set_client(&mut self, client: PushClient) {
        self.client = client;
    }

    /// Forgets acknowledgements, so the next round asks every replica what it serves (a
    /// replica may have restarted with an older snapshot from its disk).
    pub fn forget(&mut self) {
        self.acked.clear();
    }

    /// Brings every target to `version`, in parallel.
    pub async fn round(
        &mut self,
        targets: &BTreeSet<Endpoint>,
        version: &str,
        envelope: &Bytes,
        metrics: &super::metrics::Metrics,
    ) -> Round {
        self.acked.retain(|e, _| targets.contains(e));
        let client = &self.client;
        let acked = &self.acked;
        let results = join_all(targets.iter().map(|target| async move {
            if acked.get(target).map(String::as_str) == Some(version) {
                return (target.clone(), Outcome::Acked);
            }
            // A replica that already serves the version (say, from its disk after a restart)
            // needs no push.
            if let Ok(Some(v)) = client.version(target).await
                && v == version
            {
                return (target.clone(), Outcome::Acked);
            }
            let outcome = match client.push(target, envelope.clone()).await {
                Ok(ack) if ack.accepted => Outcome::Acked,
                Ok(ack) => Outcome::Rejected(ack.error.unwrap_or_default()),
                Err(e) => Outcome::Unreachable(e.to_string()),
            };
            metrics.push(match &outcome {
                Outcome::Acked => "acked",
                Outcome::Rejected(_) => "rejected",
                Outcome::Unreachable(_) => "unreachable",
            });
            match &outcome {
                Outcome::Acked => tracing::info!("dataplane {target} serves {version}"),
                Outcome::Rejected(e) => {
                    tracing::warn!("dataplane {target} rejected {version}: {e}")
                }
                Outcome::Unreachable(e) => {
                    tracing::warn!("dataplane {target} unreachable: {e}")
                }
            }
            (target.clone(), outcome)
        }))
        .await;
        for (target, outcome) in &results {
            if *outcome == Outcome::Acked {
                self.acked.insert(target.clone(), version.to_owned());
            } else {
                self.acked.remove(target);
            }
        }
        Round {
            version: version.to_owned(),
            outcomes: results.into_iter().collect(),
        }
    }
}

impl Round {
    /// The `Programmed` condition this round supports for valid objects.
    pub fn programmed(&self, service: &DataplaneService) -> Programmed {
        let total = self.outcomes.len();
        if total == 0 {
            return Programmed::not(
                ProgrammedReason::NoDataplanes,
                format!(
                    "no dataplane replica found in the EndpointSlices of Service {}/{}",
                    service.namespace, service.name
                ),
            );
        }
        if let Some((target, Outcome::Rejected(e))) = self
            .outcomes
            .iter()
            .find(|(_, o)| matches!(o, Outcome::Rejected(_)))
        {
            return Programmed::not(
                ProgrammedReason::Rejected,
                format!(
                    "dataplane {target} rejected configuration {}: {e}",
                    self.version
                ),
            );
        }
        let waiting: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|(t, o)| match o {
                Outcome::Unreachable(e) => Some(format!("{t} ({e})")),
                _ => None,
            })
            .collect();
        if !waiting.is_empty() {
            return Programmed::not(
                ProgrammedReason::Pending,
                format!(
                    "{} of {total} dataplane replicas serve configuration {}; waiting for {}",
                    total - waiting.len(),
                    self.version,
                    waiting.join(", ")
                ),
            );
        }
        Programmed::ready(format!(
            "all {total} dataplane replicas serve configuration {}",
            self.version
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(outcomes: &[(&str, Outcome)]) -> Round {
        Round {
            version: "v7".into(),
            outcomes: outcomes
                .iter()
                .map(|(e, o)| (e.parse().expect("endpoint"), o.clone()))
                .collect(),
        }
    }

    fn service() -> DataplaneService {
        DataplaneService {
            namespace: "portcullis".into(),
            name: "dataplane".into(),
            port_name: "push".into(),
        }
    }

    #[test]
    fn programmed_only_when_every_replica_serves_the_version() {
        let all = round(&[
            ("10.0.0.1:9443", Outcome::Acked),
            ("10.0.0.2:9443", Outcome::Acked),
        ]);
        let p = all.programmed(&service());
        assert!(p.ready);
        assert_eq!(p.message, "all 2 dataplane replicas serve configuration v7");

        let one_down = round(&[
            ("10.0.0.1:9443", Outcome::Acked),
            ("10.0.0.2:9443", Outcome::Unreachable("refused".into())),
        ]);
        let p = one_down.programmed(&service());
        assert_eq!((p.ready, p.reason), (false, ProgrammedReason::Pending));
        assert!(
            p.message.starts_with("1 of 2 dataplane replicas"),
            "{}",
            p.message
        );

        // A refusal outranks waiting: the message names the replica and its reason.
        let refused = round(&[
            ("10.0.0.1:9443", Outcome::Unreachable("refused".into())),
            ("10.0.0.2:9443", Outcome::Rejected("bad CRL".into())),
        ]);
        let p = refused.programmed(&service());
        assert_eq!(p.reason, ProgrammedReason::Rejected);
        assert!(p.message.contains("10.0.0.2:9443") && p.message.contains("bad CRL"));

        let none = round(&[]).programmed(&service());
        assert_eq!(none.reason, ProgrammedReason::NoDataplanes);
        assert!(
            none.message.contains("portcullis/dataplane"),
            "{}",
            none.message
        );
    }
}
