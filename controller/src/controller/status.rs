//! Status of SslProfiles and Listeners from translation diagnostics: the conditions Argo CD,
//! Flux and `kubectl get` read, written with server-side apply by one field manager, and only
//! when they change (so a status write never triggers another).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use crate::api::condition;
use crate::translate::{ConditionKind, Diagnostic, ObjectRef, Severity};

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "portcullis-controller";

/// The conditions of one object, computed from its diagnostics.
pub fn conditions(
    object: &ObjectRef,
    diagnostics: &[Diagnostic],
    generation: Option<i64>,
    previous: &[Condition],
    programmed: Option<(bool, &str, &str)>,
) -> Vec<Condition> {
    let errors = |kind: ConditionKind| {
        diagnostics
            .iter()
            .filter(|d| &d.object == object && d.severity == Severity::Error && d.condition == kind)
            .collect::<Vec<_>>()
    };
    let (invalid, unresolved) = (
        errors(ConditionKind::Accepted),
        errors(ConditionKind::ResolvedRefs),
    );
    let judged = |found: &[&Diagnostic], ok_reason: &str, ok_message: &str| match found.first() {
        Some(d) => (false, d.reason.to_owned(), summary(found)),
        None => (true, ok_reason.to_owned(), ok_message.to_owned()),
    };
    let accepted = judged(&invalid, "Accepted", "the object is valid");
    let resolved = judged(
        &unresolved,
        "ResolvedRefs",
        "every reference resolved and is valid",
    );
    let programmed = match programmed {
        _ if !(accepted.0 && resolved.0) => (false, "Invalid".to_owned(), "not programmed as written: fix the errors in Accepted and ResolvedRefs; until then listeners that use it refuse traffic".to_owned()),
        Some((ok, reason, message)) => (ok, reason.to_owned(), message.to_owned()),
        None => (false, "Pending".to_owned(), "waiting for the dataplanes to acknowledge this generation".to_owned()),
    };
    [
        (condition::ACCEPTED, accepted),
        (condition::RESOLVED_REFS, resolved),
        (condition::PROGRAMMED, programmed),
    ]
    .into_iter()
    .map(|(kind, (ok, reason, message))| {
        let status = if ok { "True" } else { "False" };
        // Keep the transition time while the status stays the same.
        let since = previous
            .iter()
            .find(|c| c.type_ == kind && c.status == status)
            .map(|c| c.last_transition_time.clone());
        Condition {
            type_: kind.to_owned(),
            status: status.to_owned(),
            reason,
            message,
            observed_generation: generation,
            last_transition_time: since.unwrap_or_else(|| Time(jiff::Timestamp::now())),
        }
    })
    .collect()
}

/// Whether two condition lists say the same (times aside).
pub fn same(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &Condition| {
        (
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.message.clone(),
            c.observed_generation,
        )
    };
    a.len() == b.len() && a.iter().map(key).eq(b.iter().map(key))
}

/// The server-side apply body for a status.
pub fn apply_body(api_version: &str, kind: &str, status: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "status": status})
}

/// Every error message of an object, in one line (the first names the main problem).
fn summary(found: &[&Diagnostic]) -> String {
    let mut text: Vec<String> = found
        .iter()
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect();
    text.dedup();
    text.join("; ")
}
