//! Diagnostics: what translation has to say about an object, in the words status and the CLI
//! use. One diagnostic names the object, the field, a stable reason and one sentence.

use std::fmt;

/// The object a diagnostic is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// `SslProfile`, `Listener`, `Secret`...
    pub kind: &'static str,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// How bad it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something is refused: the object (or part of it) is not served as written.
    Error,
    /// Accepted, but worth attention.
    Warning,
}

/// Which status condition a diagnostic turns false.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// The object itself is invalid.
    Accepted,
    /// Something it references is missing, not permitted or invalid.
    ResolvedRefs,
}

/// One finding of translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The object concerned.
    pub object: ObjectRef,
    /// The field path in that object, e.g. `spec.sslCertificate`.
    pub field: String,
    /// Error or warning.
    pub severity: Severity,
    /// Stable CamelCase reason (a status condition reason and metric label).
    pub reason: &'static str,
    /// The condition it affects.
    pub condition: ConditionKind,
    /// One sentence: what is wrong, where, what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {} ({})",
            self.object, self.field, self.message, self.reason
        )
    }
}

/// Collects diagnostics for one object.
pub(crate) struct Reporter<'a> {
    object: ObjectRef,
    out: &'a mut Vec<Diagnostic>,
    errors: usize,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(object: ObjectRef, out: &'a mut Vec<Diagnostic>) -> Self {
        Self {
            object,
            out,
            errors: 0,
        }
    }

    /// An error against the object itself (`Accepted`).
    pub(crate) fn invalid(
        &mut self,
        field: impl Into<String>,
        reason: impl Into<&'static str>,
        message: impl Into<String>,
    ) {
        self.push(
            field.into(),
            Severity::Error,
            ConditionKind::Accepted,
            reason.into(),
            message.into(),
        );
    }

    /// An error about something referenced (`ResolvedRefs`).
    pub(crate) fn unresolved(
        &mut self,
        field: impl Into<String>,
        reason: impl Into<&'static str>,
        message: impl Into<String>,
    ) {
        self.push(
            field.into(),
            Severity::Error,
            ConditionKind::ResolvedRefs,
            reason.into(),
            message.into(),
        );
    }

    /// A warning.
    pub(crate) fn warn(
        &mut self,
        field: impl Into<String>,
        reason: impl Into<&'static str>,
        message: impl Into<String>,
    ) {
        self.push(
            field.into(),
            Severity::Warning,
            ConditionKind::ResolvedRefs,
            reason.into(),
            message.into(),
        );
    }

    fn push(
        &mut self,
        field: String,
        severity: Severity,
        condition: ConditionKind,
        reason: &'static str,
        message: String,
    ) {
        if severity == Severity::Error {
            self.errors += 1;
        }
        self.out.push(Diagnostic {
            object: self.object.clone(),
            field,
            severity,
            reason,
            condition,
            message,
        });
    }

    /// How many errors were reported through this reporter so far.
    pub(crate) fn errors(&self) -> usize {
        self.errors
    }
}
