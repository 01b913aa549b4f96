//! One reconcile pass of the leader: read the stores, translate, push the snapshot to every
//! dataplane replica, write status; retried soon when something failed.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::runtime::events::Recorder;
use tokio::sync::Notify;

use super::metrics::Metrics;
use super::pki;
use super::push::{Pusher, Round};
use super::secrets::SecretCache;
use super::status::{Programmed, ProgrammedReason};
use super::watch::Stores;
use super::{ControllerOptions, RENEW_PUSH_CERT, RETRY};
use crate::translate::{Severity, Translation, translate};

/// What a leader needs to reconcile.
pub(super) struct Reconciler {
    pub(super) secrets: SecretCache,
    pub(super) client: Client,
    pub(super) opts: ControllerOptions,
    pub(super) metrics: Arc<Metrics>,
    pub(super) recorder: Recorder,
    /// The push client and when its certificate was issued.
    pub(super) pusher: Option<(Pusher, Instant)>,
    pub(super) retry: Arc<Notify>,
    /// The Ingress diagnostics announced as Events, so each is announced once.
    pub(super) announced_ingress: std::collections::BTreeSet<super::status::Announced>,
    /// The last snapshot published for new dataplane pods.
    pub(super) seed: super::seed::Seed,
    /// The owner of what the controller creates (the push Service): read at start, and again
    /// with each new push certificate or while missing.
    pub(super) owner: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
}

impl Reconciler {
    /// Translate, push, write status; on a failure, try again soon rather than wait for the
    /// next change. One span per pass: every line it logs carries it.
    #[tracing::instrument(name = "reconcile", skip_all)]
    pub(super) async fn reconcile(&mut self, stores: &Stores) {
        let started = Instant::now();
        let (inputs, malformed) = match stores.inputs(&mut self.secrets, &self.opts.ingress).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!("reading referenced Secrets: {e}");
                self.metrics.reconcile("error", started.elapsed());
                self.retry_soon();
                return;
            }
        };
        let translation = translate(&inputs, jiff::Timestamp::now());
        self.metrics
            .diagnostics(translation.diagnostics.iter().map(|d| {
                let severity = match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                (severity, d.reason)
            }));
        let round = self.push(&translation, &inputs.endpoint_slices).await;
        let programmed = match &round {
            Ok(round) => round.programmed(&self.opts.dataplanes),
            Err(e) => Programmed::not(
                ProgrammedReason::Pending,
                format!("the push channel is not ready: {e:#}"),
            ),
        };
        let complete = programmed.complete();
        let mut written = self
            .write_statuses(&inputs, &malformed, &translation, &programmed)
            .await;
        if written.is_ok() {
            written = self.write_ingress_statuses(&inputs, &translation).await;
        }
        tracing::debug!(
            errors = translation.diagnostics.len(),
            programmed = programmed.reason.as_str(),
            "reconciled"
        );
        let result = match &written {
            Err(e) => {
                tracing::warn!("writing status: {e:#}");
                "error"
            }
            Ok(()) if translation.has_errors() => "invalid",
            Ok(()) => "ok",
        };
        self.metrics.reconcile(result, started.elapsed());
        if written.is_err() || !complete {
            self.retry_soon();
        }
    }

    fn retry_soon(&self) {
        let retry = self.retry.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RETRY).await;
            retry.notify_one();
        });
    }

    async fn push(
        &mut self,
        translation: &Translation,
        slices: &[EndpointSlice],
    ) -> anyhow::Result<Round> {
        let stale = self
            .pusher
            .as_ref()
            .is_none_or(|(_, issued)| issued.elapsed() > RENEW_PUSH_CERT);
        if stale || self.owner.is_none() {
            self.owner = super::owner::push_service(&self.client, &self.opts).await;
        }
        if stale {
            let client =
                pki::ensure(&self.client, &self.opts.namespace, self.owner.as_ref()).await?;
            match self.pusher.as_mut() {
                Some((p, issued)) => {
                    p.set_client(client);
                    *issued = Instant::now();
                }
                None => self.pusher = Some((Pusher::new(client), Instant::now())),
            }
        }
        let Some((pusher, _)) = self.pusher.as_mut() else {
            anyhow::bail!("no push client");
        };
        let (version, envelope) = dataplane::push::envelope(&translation.snapshot)?;
        self.seed
            .publish(
                &self.client,
                &self.opts.namespace,
                self.owner.as_ref(),
                &version,
                &envelope,
            )
            .await;
        let targets = self.opts.dataplanes.targets(slices);
        self.metrics.snapshot(envelope.len(), targets.len());
        Ok(pusher
            .round(&targets, &version, &Bytes::from(envelope), &self.metrics)
            .await)
    }
}
