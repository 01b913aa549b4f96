//! Small validated values of the snapshot: hostnames, header templates and their server
//! variables. Each parses once and is then trusted by the proxy.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A lowercase DNS hostname, or a wildcard `*.example.com` that matches exactly one more label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hostname(String);

/// Why a hostname was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid hostname: {why}")]
pub struct HostnameError {
    /// The input.
    pub value: String,
    /// What is wrong.
    pub why: &'static str,
}

impl Hostname {
    /// Parses `value` as an RFC 1123 hostname, optionally prefixed with `*.`.
    pub fn parse(value: &str) -> Result<Self, HostnameError> {
        let err = |why| HostnameError {
            value: value.to_owned(),
            why,
        };
        let lower = value.to_ascii_lowercase();
        let name = lower.strip_prefix("*.").unwrap_or(&lower);
        if name.is_empty() || name.len() > 253 {
            return Err(err("it must be 1 to 253 characters"));
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(err(
                    "each dot-separated label must be 1 to 63 letters, digits or inner hyphens (a wildcard only as a leading \"*.\")",
                ));
            }
        }
        if !lower.starts_with("*.") && !name.contains('.') && name.parse::<u32>().is_ok() {
            return Err(err("it must not be a number"));
        }
        Ok(Self(lower))
    }

    /// Whether this is a `*.` wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// Whether `host` (already lowercase, without port) is matched: exactly, or for a wildcard
    /// by exactly one label in front of the suffix.
    pub fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix('*') {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            None => self.0 == host,
        }
    }

    /// The hostname text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Hostname {
    type Error = HostnameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Hostname> for String {
    fn from(h: Hostname) -> Self {
        h.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The mutual-authentication server variables, as Application Gateway names them
/// (`{var_client_certificate_subject}` in a header value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerVariable {
    /// The client certificate, PEM, URL-encoded for a header.
    ClientCertificate,
    /// SHA-1 fingerprint of the client certificate, hex.
    ClientCertificateFingerprint,
    /// Issuer DN of the client certificate, RFC 4514.
    ClientCertificateIssuer,
    /// Subject DN of the client certificate, RFC 4514.
    ClientCertificateSubject,
    /// Serial number, hex.
    ClientCertificateSerial,
    /// Start of validity.
    ClientCertificateStartDate,
    /// End of validity.
    ClientCertificateEndDate,
    /// `SUCCESS`, `FAILED:<reason>` or `NONE`.
    ClientCertificateVerification,
}

impl ServerVariable {
    /// Every variable, for error messages and documentation.
    pub const ALL: [ServerVariable; 8] = [
        Self::ClientCertificate,
        Self::ClientCertificateFingerprint,
        Self::ClientCertificateIssuer,
        Self::ClientCertificateSubject,
        Self::ClientCertificateSerial,
        Self::ClientCertificateStartDate,
        Self::ClientCertificateEndDate,
        Self::ClientCertificateVerification,
    ];

    /// The name inside `{var_...}`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientCertificate => "client_certificate",
            Self::ClientCertificateFingerprint => "client_certificate_fingerprint",
            Self::ClientCertificateIssuer => "client_certificate_issuer",
            Self::ClientCertificateSubject => "client_certificate_subject",
            Self::ClientCertificateSerial => "client_certificate_serial",
            Self::ClientCertificateStartDate => "client_certificate_start_date",
            Self::ClientCertificateEndDate => "client_certificate_end_date",
            Self::ClientCertificateVerification => "client_certificate_verification",
        }
    }
}

/// One piece of a header value template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TemplatePart {
    /// Text copied as is.
    Literal(String),
    /// A server variable substituted per request.
    Variable(ServerVariable),
}

/// A header value with `{var_...}` placeholders, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderTemplate(pub Vec<TemplatePart>);

/// Why a header value template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// `{var_x}` where x is not a known variable.
    #[error("unknown server variable {{var_{0}}}; known: {known}", known = known_variables())]
    UnknownVariable(String),
    /// A `{` without its `}`.
    #[error("unclosed '{{' in header value")]
    Unclosed,
    /// A control character (CR, LF, NUL...) that would split or corrupt the header.
    #[error("header value contains a control character")]
    ControlCharacter,
}

impl HeaderTemplate {
    /// Parses `{var_<name>}` placeholders; other text, including other braces, is literal.
    pub fn parse(value: &str) -> Result<Self, TemplateError> {
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(TemplateError::ControlCharacter);
        }
        let mut parts = Vec::new();
        let mut rest = value;
        while let Some(start) = rest.find("{var_") {
            if start > 0 {
                parts.push(TemplatePart::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 5..];
            let end = after.find('}').ok_or(TemplateError::Unclosed)?;
            let name = &after[..end];
            let var = ServerVariable::ALL
                .into_iter()
                .find(|v| v.name() == name)
                .ok_or_else(|| TemplateError::UnknownVariable(name.to_owned()))?;
            parts.push(TemplatePart::Variable(var));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_owned()));
        }
        Ok(Self(parts))
    }
}

fn known_variables() -> String {
    ServerVariable::ALL
        .iter()
        .map(|v| format!("{{var_{}}}", v.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_parse_and_match() {
        let exact = Hostname::parse("API.Example.com").expect("valid");
        assert_eq!(exact.as_str(), "api.example.com");
        assert!(exact.matches("api.example.com"));
        assert!(!exact.matches("x.api.example.com"));
        let wild = Hostname::parse("*.example.com").expect("valid");
        assert!(wild.matches("a.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("a.b.example.com"));
        for bad in [
            "",
            "a..b",
            "-a.com",
            "a_b.com",
            "*.",
            "foo.*.com",
            "123",
            "a b",
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn templates_parse_variables() {
        let t = HeaderTemplate::parse("CN {var_client_certificate_subject}!").expect("valid");
        assert_eq!(
            t.0,
            vec![
                TemplatePart::Literal("CN ".into()),
                TemplatePart::Variable(ServerVariable::ClientCertificateSubject),
                TemplatePart::Literal("!".into()),
            ]
        );
        assert_eq!(
            HeaderTemplate::parse("{var_client_cert}"),
            Err(TemplateError::UnknownVariable("client_cert".into()))
        );
        assert_eq!(
            HeaderTemplate::parse("{var_client"),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            HeaderTemplate::parse("a\r\nb"),
            Err(TemplateError::ControlCharacter)
        );
    }
}
