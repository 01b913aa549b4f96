//! What served Ingresses are told: `status.loadBalancer` from the publish Service's addresses
//! (as ingress-nginx's `--publish-service` writes it), and a Warning Event for each diagnostic
//! (an annotation not carried out, a conflict) when it first appears. Ingresses have no
//! conditions, so Events and `portcullis validate` are where their diagnostics show.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerIngress};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::runtime::reconcile::Reconciler;
use crate::translate::{Inputs, Translation, guest_ingress, namespace_of, served_ingresses};

/// A diagnostic already announced: (namespace, name, field, reason, message).
pub(crate) type Announced = (String, String, String, &'static str, String);

impl Reconciler {
    /// Writes the addresses of every served Ingress whose status differs, and announces its
    /// new diagnostics.
    pub(crate) async fn write_ingress_statuses(
        &mut self,
        inputs: &Inputs,
        t: &Translation,
    ) -> kube::Result<()> {
        let addresses = self.published_addresses().await?;
        let params = PatchParams::apply(&self.opts.field_manager).force();
        let mut current = BTreeSet::new();
        for ing in served_ingresses(inputs) {
            let (namespace, name) = (namespace_of(ing), ing.name_any());
            for d in t.diagnostics.iter().filter(|d| {
                d.object.kind == "Ingress"
                    && d.object.namespace == namespace
                    && d.object.name == name
            }) {
                let key = (
                    namespace.clone(),
                    name.clone(),
                    d.field.clone(),
                    d.reason,
                    d.message.clone(),
                );
                if !self.announced_ingress.contains(&key) {
                    self.announce_ingress(ing, d.reason, &format!("{}: {}", d.field, d.message))
                        .await;
                }
                current.insert(key);
            }
            // A guest's status is ingress-nginx's to write: two writers would flap it.
            let Some(addresses) = addresses.as_ref().filter(|_| !guest_ingress(inputs, ing)) else {
                continue;
            };
            let now = ing
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.clone())
                .unwrap_or_default();
            if &now == addresses {
                continue;
            }
            let body = json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "status": {"loadBalancer": {"ingress": addresses}},
            });
            Api::<Ingress>::namespaced(self.client.clone(), &namespace)
                .patch_status(&name, &params, &Patch::Apply(&body))
                .await?;
        }
        // Forgotten once gone, so a diagnostic that comes back is announced again.
        self.announced_ingress = current;
        self.release_ingress_statuses(inputs, &params).await
    }

    /// Gives up the status of every Ingress no longer served (its class changed, or it is a
    /// guest of ingress-nginx now) that still holds the addresses this field manager wrote:
    /// a server-side apply without them removes what only it owned, so `kubectl get ingress`
    /// stops showing an address that no longer serves it.
    async fn release_ingress_statuses(
        &self,
        inputs: &Inputs,
        params: &PatchParams,
    ) -> kube::Result<()> {
        let served: BTreeSet<(String, String)> = served_ingresses(inputs)
            .filter(|i| !guest_ingress(inputs, i))
            .map(|i| (namespace_of(i), i.name_any()))
            .collect();
        let ours = |ing: &Ingress| {
            ing.metadata.managed_fields.iter().flatten().any(|m| {
                // Owning a status field still: once released, the entry owns none, so a
                // release is never repeated (each write would wake the reconciler again).
                m.manager.as_deref() == Some(self.opts.field_manager.as_str())
                    && m.subresource.as_deref() == Some("status")
                    && m.operation.as_deref() == Some("Apply")
                    && m.fields_v1
                        .as_ref()
                        .is_some_and(|f| f.0.get("f:status").is_some())
            })
        };
        let body = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"});
        for ing in &inputs.ingresses {
            let key = (namespace_of(ing), ing.name_any());
            if served.contains(&key) || !ours(ing) {
                continue;
            }
            Api::<Ingress>::namespaced(self.client.clone(), &key.0)
                .patch_status(&key.1, params, &Patch::Apply(&body))
                .await?;
        }
        Ok(())
    }

    /// The publish Service's addresses: its load balancer's when it has one, else its
    /// external IPs, else its cluster IP (as ingress-nginx reads them); `None` when no
    /// Service is published.
    async fn published_addresses(&self) -> kube::Result<Option<Vec<IngressLoadBalancerIngress>>> {
        let Some((namespace, name)) = &self.opts.publish_service else {
            return Ok(None);
        };
        let Some(svc) = Api::<Service>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await?
        else {
            return Ok(Some(Vec::new()));
        };
        let balanced: Vec<IngressLoadBalancerIngress> = svc
            .status
            .iter()
            .flat_map(|s| s.load_balancer.iter())
            .flat_map(|l| l.ingress.iter().flatten())
            .map(|i| IngressLoadBalancerIngress {
                ip: i.ip.clone(),
                hostname: i.hostname.clone(),
                ports: None,
            })
            .collect();
        if !balanced.is_empty() {
            return Ok(Some(balanced));
        }
        let spec = svc.spec.unwrap_or_default();
        let ips: Vec<String> = match spec.external_ips {
            Some(ips) if !ips.is_empty() => ips,
            _ => spec
                .cluster_ip
                .into_iter()
                .filter(|ip| ip != "None")
                .collect(),
        };
        Ok(Some(
            ips.into_iter()
                .map(|ip| IngressLoadBalancerIngress {
                    ip: Some(ip),
                    ..IngressLoadBalancerIngress::default()
                })
                .collect(),
        ))
    }

    async fn announce_ingress(&self, ing: &Ingress, reason: &str, note: &str) {
        let reference = ObjectReference {
            api_version: Some(Ingress::api_version(&()).into_owned()),
            kind: Some("Ingress".into()),
            name: ing.metadata.name.clone(),
            namespace: ing.metadata.namespace.clone(),
            uid: ing.metadata.uid.clone(),
            resource_version: ing.metadata.resource_version.clone(),
            field_path: None,
        };
        let event = Event {
            type_: EventType::Warning,
            reason: reason.to_owned(),
            note: Some(note.chars().take(1000).collect()),
            action: "Translate".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!("recording an event: {e}");
        }
    }
}
