//! The client's identity as headers for the backend: Application Gateway's server variables
//! and the ready-made presets (App Service, ingress-nginx, Envoy XFCC, RFC 9440).
//!
//! Strip before set: the proxy removes every client-identity header a client could send, and
//! every name any rule sets ([`stripped_header_names`]), on every listener, mTLS or not,
//! before [`set`] adds the gateway's own.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use super::client_auth::Verdict;
use crate::config::{HeaderPreset, HeaderRule, ServerVariable, TemplatePart};
use crate::pki::CertificateInfo;

/// Identity headers the presets set; always removed from client requests.
pub const IDENTITY_HEADERS: [&str; 10] = [
    "x-arr-clientcert",
    "ssl-client-cert",
    "ssl-client-verify",
    "ssl-client-subject-dn",
    "ssl-client-issuer-dn",
    "x-forwarded-client-cert",
    "client-cert",
    "client-cert-chain",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
];

/// The client certificate of a connection, parsed once.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// The leaf's facts.
    pub info: CertificateInfo,
    /// Intermediates the client sent, DER.
    pub chain: Vec<Vec<u8>>,
}

impl ClientCertificate {
    /// Parses the peer certificates of a connection (leaf first).
    pub fn from_peer(certs: &[rustls::pki_types::CertificateDer<'_>]) -> Option<Self> {
        let (leaf, rest) = certs.split_first()?;
        Some(Self {
            info: CertificateInfo::from_der(leaf).ok()?,
            chain: rest.iter().map(|c| c.to_vec()).collect(),
        })
    }

    /// PEM of the leaf.
    pub fn pem(&self) -> String {
        let b64 = STANDARD.encode(self.info.der());
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// SHA-1 thumbprint as uppercase hex without separators (Application Gateway's form).
    pub fn thumbprint(&self) -> String {
        self.info.sha1_fingerprint().replace(':', "")
    }
}

/// Every header a client may not send, on any listener: the presets' identity headers and
/// every header any rule sets, server variables or literal values (`X-Internal-Auth:
/// granted`), since a backend behind two listeners, or two routes, may trust it from either.
/// Parsed once per snapshot, not per request; a name that is no header name cannot be sent.
pub fn stripped_header_names<'a>(
    rules: impl IntoIterator<Item = &'a HeaderRule>,
) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = IDENTITY_HEADERS
        .iter()
        .map(|s| HeaderName::from_static(s))
        .collect();
    for rule in rules {
        if let Ok(name) = HeaderName::from_bytes(rule.name.as_bytes())
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

/// Sets the presets' and rules' headers for this connection's identity.
pub fn set(
    headers: &mut HeaderMap,
    presets: &[HeaderPreset],
    rules: &[HeaderRule],
    cert: Option<&ClientCertificate>,
    verdict: &Verdict,
) {
    let mut put = |name: &str, value: String| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.insert(n, v);
        }
    };
    for preset in presets {
        match (preset, cert) {
            (HeaderPreset::ArrClientCert, Some(c)) => {
                put("x-arr-clientcert", STANDARD.encode(c.info.der()))
            }
            (HeaderPreset::NginxSslClient, c) => {
                put("ssl-client-verify", verdict.to_string());
                if let Some(c) = c {
                    put("ssl-client-cert", url_encode(&c.pem()));
                    put("ssl-client-subject-dn", c.info.subject.to_string());
                    put("ssl-client-issuer-dn", c.info.issuer.to_string());
                }
            }
            (HeaderPreset::EnvoyXfcc, Some(c)) => {
                let hash = c
                    .info
                    .sha256_fingerprint()
                    .replace(':', "")
                    .to_ascii_lowercase();
                let subject = c
                    .info
                    .subject
                    .to_string()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"");
                put(
                    "x-forwarded-client-cert",
                    format!(
                        "Hash={hash};Cert=\"{}\";Subject=\"{subject}\"",
                        url_encode(&c.pem())
                    ),
                );
            }
            (HeaderPreset::Rfc9440ClientCert, Some(c)) => {
                put(
                    "client-cert",
                    format!(":{}:", STANDARD.encode(c.info.der())),
                );
                if !c.chain.is_empty() {
                    let chain: Vec<String> = c
                        .chain
                        .iter()
                        .map(|d| format!(":{}:", STANDARD.encode(d)))
                        .collect();
                    put("client-cert-chain", chain.join(", "));
                }
            }
            _ => {}
        }
    }
    for rule in rules {
        let value: String = rule
            .value
            .0
            .iter()
            .map(|part| match part {
                TemplatePart::Literal(s) => s.clone(),
                TemplatePart::Variable(v) => variable(*v, cert, verdict),
            })
            .collect();
        // A header whose variables are all empty (no certificate) is left out, not sent empty.
        if !value.is_empty() {
            put(&rule.name, value);
        }
    }
}

/// The value of a server variable; empty when there is no certificate (but the verification).
pub fn variable(
    var: ServerVariable,
    cert: Option<&ClientCertificate>,
    verdict: &Verdict,
) -> String {
    if var == ServerVariable::ClientCertificateVerification {
        return verdict.to_string();
    }
    let Some(c) = cert else { return String::new() };
    match var {
        ServerVariable::ClientCertificate => url_encode(&c.pem()),
        ServerVariable::ClientCertificateFingerprint => c.thumbprint(),
        ServerVariable::ClientCertificateIssuer => c.info.issuer.to_string(),
        ServerVariable::ClientCertificateSubject => c.info.subject.to_string(),
        ServerVariable::ClientCertificateSerial => c.info.serial_hex.to_ascii_uppercase(),
        ServerVariable::ClientCertificateStartDate => openssl_date(c.info.not_before),
        ServerVariable::ClientCertificateEndDate => openssl_date(c.info.not_after),
        _ => String::new(),
    }
}

/// Percent-encodes all but RFC 3986 unreserved characters (nginx's `$ssl_client_escaped_cert`).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Nov 22 18:21:13 2026 GMT`, the form OpenSSL, nginx and Application Gateway print.
pub fn openssl_date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss) = civil(unix);
    let month = MONTHS[usize::try_from(m - 1).unwrap_or(0)];
    format!("{month} {d:2} {hh:02}:{mm:02}:{ss:02} {y} GMT")
}

/// `2026-11-22T18:21:13Z`.
pub fn rfc3339(unix: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(unix);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// Civil date and time (UTC) from seconds since the epoch (Howard Hinnant's algorithm).
fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_openssl_does() {
        assert_eq!(openssl_date(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(openssl_date(1_795_372_873), "Nov 22 18:41:13 2026 GMT");
        assert_eq!(openssl_date(951_782_400), "Feb 29 00:00:00 2000 GMT");
        assert_eq!(rfc3339(1_795_372_873), "2026-11-22T18:41:13Z");
    }

    #[test]
    fn url_encoding_keeps_only_unreserved() {
        assert_eq!(url_encode("a b+/=\n-._~"), "a%20b%2B%2F%3D%0A-._~");
    }
}
