//! The client's identity as headers for the backend: Application Gateway's server variables
//! and the ready-made presets (App Service, ingress-nginx, Envoy XFCC, RFC 9440).
//!
//! Strip before set: the proxy removes every client-identity header a client could send, and
//! every name any rule sets (the compiled snapshot's `strip` set), on every listener, mTLS or
//! not, before [`set`] adds the gateway's own.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::config::{HeaderPreset, HeaderRule, ServerVariable, TemplatePart};
use crate::proxy::session::ClientCertificate;
use crate::proxy::verdict::Verdict;

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
            // As ingress-nginx sets them: nginx's `$ssl_client_verify`, `$ssl_client_s_dn`,
            // `$ssl_client_i_dn` (OpenSSL's rendering) and `$ssl_client_escaped_cert`.
            (HeaderPreset::NginxSslClient | HeaderPreset::NginxSslClientNoCert, c) => {
                put("ssl-client-verify", verdict.to_string());
                if let Some(c) = c {
                    if *preset == HeaderPreset::NginxSslClient {
                        put("ssl-client-cert", url_encode(&c.pem()));
                    }
                    put("ssl-client-subject-dn", c.info.subject.openssl());
                    put("ssl-client-issuer-dn", c.info.issuer.openssl());
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
        ServerVariable::ClientCertificateStartDate => crate::time::openssl_date(c.info.not_before),
        ServerVariable::ClientCertificateEndDate => crate::time::openssl_date(c.info.not_after),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_only_unreserved() {
        assert_eq!(url_encode("a b+/=\n-._~"), "a%20b%2B%2F%3D%0A-._~");
    }
}
