//! Writing status: the conditions of every SslProfile and Listener with server-side apply,
//! only when they changed, and a Warning Event for each condition that newly turned False.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ApiResource, DynamicObject, ObjectMeta, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{Programmed, ProgrammedReason, apply_body, conditions, same};
use crate::runtime::reconcile::Reconciler;
use crate::runtime::watch::{listener_resource, profile_resource};
use crate::translate::{Inputs, Malformed, ObjectRef, Translation, namespace_of};

impl Reconciler {
    /// Writes the status of every SslProfile and Listener (the malformed ones included).
    pub(crate) async fn write_statuses(
        &self,
        inputs: &Inputs,
        malformed: &[(Malformed, DynamicObject)],
        t: &Translation,
        programmed: &Programmed,
    ) -> kube::Result<()> {
        let params = PatchParams::apply(&self.opts.field_manager).force();
        let now = jiff::Timestamp::now();
        let profiles = profile_resource();
        for p in &inputs.ssl_profiles {
            let previous = p.status.as_ref().map(|s| s.conditions.clone());
            let key = (namespace_of(p), p.name_any());
            let issuer_dns = t.issuer_dns.get(&key).cloned().unwrap_or_default();
            let current_dns = p.status.as_ref().map(|s| s.issuer_dns.clone());
            let changed = issuer_dns != current_dns.unwrap_or_default();
            let patch = StatusPatch {
                object: Written {
                    kind: "SslProfile",
                    resource: &profiles,
                    meta: p.meta(),
                },
                previous: &previous.unwrap_or_default(),
                issuer_dns: Some((issuer_dns, changed)),
            };
            self.write_status(&params, patch, t, programmed, now)
                .await?;
        }
        let listeners = listener_resource();
        for l in &inputs.listeners {
            let previous = l.status.as_ref().map(|s| s.conditions.clone());
            let patch = StatusPatch {
                object: Written {
                    kind: "Listener",
                    resource: &listeners,
                    meta: l.meta(),
                },
                previous: &previous.unwrap_or_default(),
                issuer_dns: None,
            };
            self.write_status(&params, patch, t, programmed, now)
                .await?;
        }
        for (m, o) in malformed {
            // Its status may not parse either; its conditions are read on their own.
            let previous: Vec<Condition> = o
                .data
                .pointer("/status/conditions")
                .and_then(|c| serde_json::from_value(c.clone()).ok())
                .unwrap_or_default();
            let resource = if m.kind == "SslProfile" {
                &profiles
            } else {
                &listeners
            };
            let patch = StatusPatch {
                object: Written {
                    kind: m.kind,
                    resource,
                    meta: &o.metadata,
                },
                previous: &previous,
                issuer_dns: None,
            };
            self.write_status(&params, patch, t, programmed, now)
                .await?;
        }
        Ok(())
    }

    /// Writes the conditions `t` gives the object (and its issuer DNs) with server-side apply
    /// when they changed, and announces new refusals.
    async fn write_status(
        &self,
        params: &PatchParams,
        patch: StatusPatch<'_>,
        t: &Translation,
        programmed: &Programmed,
        now: jiff::Timestamp,
    ) -> kube::Result<()> {
        let StatusPatch {
            object,
            previous,
            issuer_dns,
        } = patch;
        let meta = object.meta;
        let reference = ObjectRef {
            kind: object.kind,
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
        };
        let conditions = conditions(
            &reference,
            &t.diagnostics,
            meta.generation,
            previous,
            Some(programmed),
            now,
        );
        let dns_changed = issuer_dns.as_ref().is_some_and(|(_, changed)| *changed);
        if same(previous, &conditions) && !dns_changed {
            return Ok(());
        }
        let mut body = json!({"conditions": conditions, "observedGeneration": meta.generation});
        if let Some((dns, _)) = issuer_dns {
            body["issuerDNs"] = json!(dns);
        }
        let body = apply_body(&object.resource.api_version, object.kind, body);
        Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &reference.namespace,
            object.resource,
        )
        .patch_status(&reference.name, params, &Patch::Apply(&body))
        .await?;
        self.announce(&object, previous, &conditions).await;
        Ok(())
    }

    /// A Warning Event for each condition that newly turned False for a reason other than
    /// waiting (`kubectl describe` and `kubectl get events` show why an object was refused).
    async fn announce(
        &self,
        object: &Written<'_>,
        previous: &[Condition],
        conditions: &[Condition],
    ) {
        let reference = ObjectReference {
            api_version: Some(object.resource.api_version.clone()),
            kind: Some(object.kind.to_owned()),
            name: object.meta.name.clone(),
            namespace: object.meta.namespace.clone(),
            uid: object.meta.uid.clone(),
            resource_version: object.meta.resource_version.clone(),
            field_path: None,
        };
        for c in conditions {
            let was = previous
                .iter()
                .find(|p| p.type_ == c.type_)
                .map(|p| (p.status.as_str(), p.reason.as_str()));
            if c.status != "False"
                || c.reason == ProgrammedReason::Pending.as_str()
                || was == Some(("False", c.reason.as_str()))
            {
                continue;
            }
            let event = Event {
                type_: EventType::Warning,
                reason: c.reason.clone(),
                note: Some(c.message.chars().take(1000).collect()),
                action: format!("Set{}", c.type_),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                tracing::warn!("recording an event: {e}");
            }
        }
    }
}

/// An object whose status is written.
struct Written<'a> {
    kind: &'static str,
    resource: &'a ApiResource,
    meta: &'a ObjectMeta,
}

/// One status write: the object, the conditions it has now, and for an SslProfile its issuer
/// DNs with whether they changed.
struct StatusPatch<'a> {
    object: Written<'a>,
    previous: &'a [Condition],
    issuer_dns: Option<(Vec<String>, bool)>,
}
