//! Distinguished names: the raw DER used for comparisons, and the RFC 4514 string users read.
//!
//! Comparisons are on the DER encoding, byte for byte, as webpki and OpenSSL's issuer lookup do:
//! two names that print alike but encode differently (PrintableString versus UTF8String) are
//! different names to a verifier, so they must be different to us too.

use std::fmt;

mod openssl;

use x509_parser::der_parser::asn1_rs::Any;
use x509_parser::x509::X509Name;

/// A distinguished name, kept as its DER encoding plus its RFC 4514 rendering.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DistinguishedName {
    der: Vec<u8>,
    text: String,
}

impl DistinguishedName {
    /// Captures a name parsed by x509-parser.
    pub fn from_x509(name: &X509Name<'_>) -> Self {
        Self {
            der: name.as_raw().to_vec(),
            text: rfc4514(name),
        }
    }

    /// The DER encoding of the `Name`, as it appears in certificates.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The RFC 4514 string, most specific RDN first (`CN=Issuing CA,O=Example,C=US`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The name as OpenSSL prints it with `XN_FLAG_RFC2253` (nginx's `$ssl_client_s_dn`), see
    /// [`openssl`]; empty if the DER no longer parses (it parsed when captured).
    pub fn openssl(&self) -> String {
        use x509_parser::prelude::FromDer;
        X509Name::from_der(&self.der).map_or_else(|_| String::new(), |(_, n)| openssl::rfc2253(&n))
    }
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistinguishedName({})", self.text)
    }
}

/// Renders a name as RFC 4514 does: RDNs in reverse order separated by `,`, multi-valued RDNs
/// joined by `+`, the short names of RFC 4514 section 3 (others as dotted OIDs), string values
/// escaped, and non-string values as `#` followed by the hex of their DER encoding.
fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let key = short_name(&oid).map_or(oid, str::to_owned);
                    let value = match atv.as_str() {
                        Ok(s) => escape(s),
                        Err(_) => hex_der(atv.attr_value()),
                    };
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

fn hex_der(value: &Any<'_>) -> String {
    let hex: String = der_of(value).iter().map(|b| format!("{b:02x}")).collect();
    format!("#{hex}")
}

/// The DER encoding of a value: its tag, its length and its content.
fn der_of(value: &Any<'_>) -> Vec<u8> {
    let data = value.data;
    let mut der = vec![value.tag().0 as u8];
    if data.len() < 0x80 {
        der.push(data.len() as u8);
    } else {
        let len = data.len().to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        der.push(0x80 | (len.len() - skip) as u8);
        der.extend_from_slice(&len[skip..]);
    }
    der.extend_from_slice(data);
    der
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_rfc4514_specials() {
        assert_eq!(escape("Acme, Inc."), "Acme\\, Inc.");
        assert_eq!(escape("#1 CA"), "\\#1 CA");
        assert_eq!(escape(" padded "), "\\ padded\\ ");
        assert_eq!(escape("a+b;c<d>e\"f\\g"), "a\\+b\\;c\\<d\\>e\\\"f\\\\g");
        assert_eq!(escape("plain"), "plain");
    }
}
