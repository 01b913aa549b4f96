//! Status of SslProfiles and Listeners from translation diagnostics: the conditions Argo CD,
//! Flux and `kubectl get` read ([`conditions`], pure), written with server-side apply by one
//! field manager, and only when they change (so a status write never triggers another), with
//! a Warning Event for each new refusal. Ingresses, which have no conditions, get their
//! addresses and Events in [`ingress`].

mod ingress;
mod write;

pub(crate) use ingress::Announced;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use crate::api::condition;
use crate::translate::{ConditionKind, Diagnostic, ObjectRef, Severity};

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "portcullis-controller";

/// Why an object is, or is not yet, served: the reason of its `Programmed` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgrammedReason {
    /// Every dataplane replica serves the snapshot holding this generation.
    Programmed,
    /// Waiting for replicas (unreachable, or the push channel not ready yet).
    Pending,
    /// A replica refused the snapshot; the previous one keeps serving.
    Rejected,
    /// No dataplane replica in the Service's EndpointSlices.
    NoDataplanes,
    /// The object has errors (see `Accepted` and `ResolvedRefs`).
    Invalid,
}

impl ProgrammedReason {
    /// Every reason.
    pub const ALL: [Self; 5] = [
        Self::Programmed,
        Self::Pending,
        Self::Rejected,
        Self::NoDataplanes,
        Self::Invalid,
    ];

    /// The reason as status writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Programmed => "Programmed",
            Self::Pending => "Pending",
            Self::Rejected => "Rejected",
            Self::NoDataplanes => "NoDataplanes",
            Self::Invalid => "Invalid",
        }
    }
}

/// The `Programmed` condition a push round supports for valid objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programmed {
    /// Whether every replica serves it.
    pub ready: bool,
    /// Why (not).
    pub reason: ProgrammedReason,
    /// One sentence for `kubectl describe`.
    pub message: String,
}

impl Programmed {
    /// Served by every replica.
    pub fn ready(message: String) -> Self {
        Self {
            ready: true,
            reason: ProgrammedReason::Programmed,
            message,
        }
    }

    /// Not served (yet), for `reason`.
    pub fn not(reason: ProgrammedReason, message: String) -> Self {
        Self {
            ready: false,
            reason,
            message,
        }
    }

    /// Whether the round is over: every replica answered, or there is none to wait for.
    pub fn complete(&self) -> bool {
        self.ready || self.reason == ProgrammedReason::NoDataplanes
    }
}

/// The conditions of one object at `now`, computed from its diagnostics and the push round.
pub fn conditions(
    object: &ObjectRef,
    diagnostics: &[Diagnostic],
    generation: Option<i64>,
    previous: &[Condition],
    programmed: Option<&Programmed>,
    now: jiff::Timestamp,
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
        _ if !(accepted.0 && resolved.0) => (
            false,
            ProgrammedReason::Invalid.as_str().to_owned(),
            "not programmed as written: fix the errors in Accepted and ResolvedRefs; until then listeners that use it refuse traffic".to_owned(),
        ),
        Some(p) => (p.ready, p.reason.as_str().to_owned(), p.message.clone()),
        None => (
            false,
            ProgrammedReason::Pending.as_str().to_owned(),
            "waiting for the dataplanes to acknowledge this generation".to_owned(),
        ),
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
            last_transition_time: since.unwrap_or(Time(now)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> ObjectRef {
        ObjectRef {
            kind: "Listener",
            namespace: "default".into(),
            name: "web".into(),
        }
    }

    fn error(condition: ConditionKind, reason: &'static str, message: &str) -> Diagnostic {
        Diagnostic {
            object: object(),
            field: "spec.x".into(),
            severity: Severity::Error,
            reason,
            condition,
            message: message.into(),
        }
    }

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(second).expect("time")
    }

    fn find<'a>(conditions: &'a [Condition], kind: &str) -> &'a Condition {
        conditions.iter().find(|c| c.type_ == kind).expect(kind)
    }

    #[test]
    fn a_valid_object_takes_the_rounds_programmed_condition() {
        let ready = Programmed::ready("all 2 dataplane replicas serve configuration v1".into());
        let c = conditions(&object(), &[], Some(3), &[], Some(&ready), at(100));
        for kind in [condition::ACCEPTED, condition::RESOLVED_REFS] {
            assert_eq!(find(&c, kind).status, "True");
        }
        let p = find(&c, condition::PROGRAMMED);
        assert_eq!(
            (p.status.as_str(), p.reason.as_str()),
            ("True", "Programmed")
        );
        assert_eq!(p.observed_generation, Some(3));
        assert_eq!(p.last_transition_time, Time(at(100)));
        // No round yet: Pending.
        let c = conditions(&object(), &[], Some(3), &[], None, at(100));
        assert_eq!(find(&c, condition::PROGRAMMED).reason, "Pending");
    }

    #[test]
    fn errors_turn_their_condition_false_and_programmed_invalid() {
        let others = Diagnostic {
            object: ObjectRef {
                name: "other".into(),
                ..object()
            },
            ..error(ConditionKind::Accepted, "PortConflict", "not mine")
        };
        let diagnostics = [
            error(ConditionKind::ResolvedRefs, "SecretNotFound", "first"),
            error(ConditionKind::ResolvedRefs, "RefNotPermitted", "second"),
            others,
        ];
        let ready = Programmed::ready("served".into());
        let c = conditions(&object(), &diagnostics, None, &[], Some(&ready), at(0));
        assert_eq!(
            find(&c, condition::ACCEPTED).status,
            "True",
            "another object's error"
        );
        let resolved = find(&c, condition::RESOLVED_REFS);
        assert_eq!(
            (resolved.status.as_str(), resolved.reason.as_str()),
            ("False", "SecretNotFound")
        );
        assert_eq!(resolved.message, "spec.x: first; spec.x: second");
        let p = find(&c, condition::PROGRAMMED);
        assert_eq!((p.status.as_str(), p.reason.as_str()), ("False", "Invalid"));
    }

    #[test]
    fn the_transition_time_stays_while_the_status_does() {
        let ready = Programmed::ready("served".into());
        let first = conditions(&object(), &[], Some(1), &[], Some(&ready), at(100));
        let again = conditions(&object(), &[], Some(2), &first, Some(&ready), at(200));
        assert_eq!(
            find(&again, condition::PROGRAMMED).last_transition_time,
            Time(at(100))
        );
        assert!(!same(&first, &again), "the generation changed");
        let pending = Programmed::not(ProgrammedReason::Pending, "waiting".into());
        let flipped = conditions(&object(), &[], Some(2), &again, Some(&pending), at(300));
        assert_eq!(
            find(&flipped, condition::PROGRAMMED).last_transition_time,
            Time(at(300))
        );
        let later = conditions(&object(), &[], Some(2), &flipped, Some(&pending), at(400));
        assert!(same(&flipped, &later), "nothing to write");
    }

    #[test]
    fn a_round_is_complete_when_served_or_nothing_to_wait_for() {
        assert!(Programmed::ready(String::new()).complete());
        assert!(Programmed::not(ProgrammedReason::NoDataplanes, String::new()).complete());
        assert!(!Programmed::not(ProgrammedReason::Pending, String::new()).complete());
        assert!(!Programmed::not(ProgrammedReason::Rejected, String::new()).complete());
    }
}
