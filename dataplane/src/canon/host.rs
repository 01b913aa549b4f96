//! The one host of a request: parsed from the absolute-form authority, HTTP/2's `:authority` or
//! `Host`, normalised (lowercase, one trailing dot dropped), and sent to the backend in that
//! form, so the host the gateway judged is the host the backend dispatches on.
//!
//! Anything a backend could read as another host is refused: userinfo (`open.test:443@mtls.test`
//! is `mtls.test` to a URL parser), characters outside a DNS name or IP literal, a bad port.

use std::fmt;

/// Why a request's host is refused (HTTP 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// No host at all (HTTP/1.1 requires `Host`).
    #[error("the request has no Host")]
    Missing,
    /// More than one `Host` field.
    #[error("the request has more than one Host header")]
    Duplicate,
    /// An HTTP/2 `host` field that names another host than `:authority`.
    #[error("the Host header and :authority name different hosts")]
    Conflicting,
    /// `user@host`.
    #[error("the host holds userinfo ('@'), which backends read as another host")]
    Userinfo,
    /// Not a DNS name, an IPv4 address or a bracketed IPv6 address.
    #[error(
        "the host is not a valid name (letters, digits, '-', '_' and '.') or IP address literal"
    )]
    InvalidName,
    /// A port that is not 1 to 5 digits up to 65535.
    #[error("the host's port is not a number from 0 to 65535")]
    InvalidPort,
}

impl HostError {
    /// Every refusal, for docs and metrics.
    pub const ALL: [Self; 6] = [
        Self::Missing,
        Self::Duplicate,
        Self::Conflicting,
        Self::Userinfo,
        Self::InvalidName,
        Self::InvalidPort,
    ];

    /// A stable label for metrics and the access log.
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "MissingHost",
            Self::Duplicate => "DuplicateHost",
            Self::Conflicting => "ConflictingHost",
            Self::Userinfo => "HostUserinfo",
            Self::InvalidName => "InvalidHost",
            Self::InvalidPort => "InvalidHostPort",
        }
    }
}

/// A request's host and optional port, normalised, kept as the text the backend receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    /// `host[:port]`.
    text: String,
    host_len: usize,
    port: Option<u16>,
}

impl Authority {
    /// Parses `host[:port]` (an authority without userinfo).
    pub fn parse(value: &str) -> Result<Self, HostError> {
        if value.contains('@') {
            return Err(HostError::Userinfo);
        }
        let (host, port) = if let Some(rest) = value.strip_prefix('[') {
            let (v6, after) = rest.split_once(']').ok_or(HostError::InvalidName)?;
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| HostError::InvalidName)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(HostError::InvalidPort)?),
            };
            (format!("[{}]", v6.to_ascii_lowercase()), port)
        } else {
            let (name, port) = match value.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (value, None),
            };
            (reg_name(name)?, port)
        };
        let port = match port {
            None => None,
            Some(p) if (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().map_err(|_| HostError::InvalidPort)?)
            }
            Some(_) => return Err(HostError::InvalidPort),
        };
        Ok(Self::new(host, port))
    }

    fn new(mut host: String, port: Option<u16>) -> Self {
        let host_len = host.len();
        if let Some(p) = port {
            host.push(':');
            host.push_str(&p.to_string());
        }
        Self {
            text: host,
            host_len,
            port,
        }
    }

    /// A host taken from the TLS server name (SNI), which rustls has already validated.
    pub fn from_server_name(sni: &str) -> Result<Self, HostError> {
        Ok(Self::new(reg_name(sni)?, None))
    }

    /// The host, lowercase, without port or trailing dot: what listeners and routes match.
    pub fn host(&self) -> &str {
        &self.text[..self.host_len]
    }

    /// `host[:port]`: the `Host` the backend receives.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether two authorities name the same host (ports compared when both carry one).
    pub fn same_host(&self, other: &Self) -> bool {
        self.host() == other.host()
            && match (self.port, other.port) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for Authority {
    /// `host[:port]`: the `Host` the backend receives.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A DNS name or IPv4 address: labels of letters, digits, `-` and `_`, one trailing dot
/// dropped, lowercase.
fn reg_name(name: &str) -> Result<String, HostError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid {
        return Err(HostError::InvalidName);
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise_to_one_form() {
        for (raw, host, shown) in [
            ("mtls.test", "mtls.test", "mtls.test"),
            ("MTLS.Test.", "mtls.test", "mtls.test"),
            ("mtls.test:8443", "mtls.test", "mtls.test:8443"),
            ("mtls.test.:443", "mtls.test", "mtls.test:443"),
            ("127.0.0.1:80", "127.0.0.1", "127.0.0.1:80"),
            ("[::1]:8443", "[::1]", "[::1]:8443"),
            ("[FE80::1]", "[fe80::1]", "[fe80::1]"),
            ("my_host.internal", "my_host.internal", "my_host.internal"),
        ] {
            let a = Authority::parse(raw).expect(raw);
            assert_eq!((a.host(), a.to_string().as_str()), (host, shown), "{raw}");
        }
    }

    #[test]
    fn what_backends_read_as_another_host_is_refused() {
        use HostError::*;
        for (raw, why) in [
            ("open.test:443@mtls.test", Userinfo),
            ("user@mtls.test", Userinfo),
            ("", InvalidName),
            ("mtls.test..", InvalidName),
            ("mtls..test", InvalidName),
            (".mtls.test", InvalidName),
            ("mtls.test/x", InvalidName),
            ("mtls test", InvalidName),
            ("mtls.test\\x", InvalidName),
            ("mtls%2etest", InvalidName),
            ("[::1", InvalidName),
            ("[not-v6]", InvalidName),
            ("[::1]x", InvalidPort),
            ("mtls.test:", InvalidPort),
            ("mtls.test:65536", InvalidPort),
            ("mtls.test:+80", InvalidPort),
            ("mtls.test:80:80", InvalidPort),
            ("mtls.test:008443", InvalidPort),
        ] {
            assert_eq!(Authority::parse(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn same_host_compares_ports_only_when_both_are_given() {
        let p = |s| Authority::parse(s).expect("valid");
        assert!(p("a.test").same_host(&p("A.TEST.:443")));
        assert!(!p("a.test:443").same_host(&p("a.test:8443")));
        assert!(!p("a.test").same_host(&p("b.test")));
    }
}
