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

/// A backend endpoint: an IP address or a DNS name (EndpointSlices of `addressType: FQDN`),
/// and a port. Written `host:port` (`[v6]:port` for IPv6).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint {
    host: EndpointHost,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum EndpointHost {
    Ip(std::net::IpAddr),
    Name(Hostname),
}

impl Endpoint {
    /// An endpoint at an IP address.
    pub fn ip(addr: std::net::SocketAddr) -> Self {
        Self {
            host: EndpointHost::Ip(addr.ip()),
            port: addr.port(),
        }
    }

    /// An endpoint at `host` (an IP address or a DNS name, without a wildcard) and `port`.
    pub fn new(host: &str, port: u16) -> Result<Self, HostnameError> {
        let host = match host.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(ip) => EndpointHost::Ip(ip),
            Err(_) => {
                let name = Hostname::parse(host)?;
                if name.is_wildcard() {
                    return Err(HostnameError {
                        value: host.to_owned(),
                        why: "an endpoint cannot be a wildcard",
                    });
                }
                EndpointHost::Name(name)
            }
        };
        Ok(Self { host, port })
    }

    /// The host as written: an IP address or a DNS name.
    pub fn host(&self) -> String {
        match &self.host {
            EndpointHost::Ip(ip) => ip.to_string(),
            EndpointHost::Name(n) => n.as_str().to_owned(),
        }
    }

    /// The host to connect to: the IP address, or the name to resolve — except that
    /// `localhost` and names under `.localhost` are the loopback address, as RFC 6761 (section
    /// 6.3) asks resolvers to answer without asking DNS. (EndpointSlices of `addressType: FQDN`
    /// need two labels, so `backend.localhost` is how one names a process on the node.)
    pub fn connect_host(&self) -> String {
        match &self.host {
            EndpointHost::Name(n)
                if n.as_str() == "localhost" || n.as_str().ends_with(".localhost") =>
            {
                "127.0.0.1".to_owned()
            }
            _ => self.host(),
        }
    }

    /// `connect_host:port`, as a URI authority.
    pub fn connect_authority(&self) -> String {
        match &self.host {
            EndpointHost::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            _ => format!("{}:{}", self.connect_host(), self.port),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            EndpointHost::Ip(std::net::IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host(), self.port),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = HostnameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why| HostnameError {
            value: s.to_owned(),
            why,
        };
        let (host, port) = s.rsplit_once(':').ok_or(bad("it must be host:port"))?;
        let port = port
            .parse()
            .map_err(|_| bad("the port must be 0 to 65535"))?;
        Self::new(host, port)
    }
}

impl TryFrom<String> for Endpoint {
    type Error = HostnameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> Self {
        e.to_string()
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::Endpoint;

    #[test]
    fn endpoints_parse_and_print_round_trip() {
        for (input, host, port) in [
            ("10.0.0.5:8080", "10.0.0.5", 8080),
            ("[2001:db8::1]:443", "2001:db8::1", 443),
            ("Backend.Example.COM:80", "backend.example.com", 80),
            ("localhost:9000", "localhost", 9000),
        ] {
            let e: Endpoint = input.parse().expect(input);
            assert_eq!((e.host().as_str(), e.port()), (host, port), "{input}");
            let again: Endpoint = e.to_string().parse().expect("round trip");
            assert_eq!(again, e);
        }
        let local: Endpoint = "echo.localhost:8080".parse().expect("localhost name");
        assert_eq!(local.connect_authority(), "127.0.0.1:8080");
        let remote: Endpoint = "echo.example:8080".parse().expect("name");
        assert_eq!(remote.connect_authority(), "echo.example:8080");
        for bad in [
            "no-port",
            "*.example.com:80",
            "host:99999",
            "bad_name:80",
            ":80",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad} should be refused");
        }
    }
}
