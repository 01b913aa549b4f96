//! A name as OpenSSL prints it with `XN_FLAG_RFC2253`: nginx's `$ssl_client_s_dn` and
//! `$ssl_client_i_dn`, so the ingress-nginx headers and `auth-tls-match-cn` read the very
//! string ingress-nginx gave its backends and its regular expressions.
//!
//! What differs from RFC 4514 ([`super::rfc4514`]): every attribute is printed last to first
//! (also within a multi-valued RDN), OpenSSL's short names (`emailAddress`, `serialNumber`…),
//! every byte of a UTF-8 character above 0x7F and every control character escaped as `\XX`,
//! string types OpenSSL does not print (and attributes it has no name for) dumped as `#` and
//! the uppercase hex of their DER.

use x509_parser::der_parser::asn1_rs::{Any, Tag};
use x509_parser::x509::X509Name;

/// `name` as `X509_NAME_print_ex(…, XN_FLAG_RFC2253)` prints it.
pub(crate) fn rfc2253(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    let mut previous_rdn = None;
    let entries: Vec<(usize, _)> = name
        .iter()
        .enumerate()
        .flat_map(|(i, rdn)| rdn.iter().map(move |atv| (i, atv)))
        .collect();
    for (rdn, atv) in entries.iter().rev() {
        if let Some(p) = previous_rdn {
            out.push(if p == *rdn { '+' } else { ',' });
        }
        previous_rdn = Some(*rdn);
        let oid = atv.attr_type().to_id_string();
        match short_name(&oid) {
            Some(sn) => {
                out.push_str(sn);
                out.push('=');
                value(atv.attr_value(), &mut out);
            }
            None => {
                out.push_str(&oid);
                out.push('=');
                hex_der(atv.attr_value(), &mut out);
            }
        }
    }
    out
}

/// OpenSSL's short names (`OBJ_nid2sn`) of the attribute types certificates carry.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

/// A value: the string types OpenSSL decodes (`tag2nbyte`) as UTF-8, escaped; others dumped.
fn value(v: &Any<'_>, out: &mut String) {
    let text: Option<String> = match v.tag() {
        Tag::Utf8String => std::str::from_utf8(v.data).ok().map(str::to_owned),
        // One byte per character, read as Latin-1 (as OpenSSL reads T61String too).
        Tag::NumericString
        | Tag::PrintableString
        | Tag::T61String
        | Tag::Ia5String
        | Tag::UtcTime
        | Tag::GeneralizedTime
        | Tag::VisibleString => Some(v.data.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString => utf16(v.data),
        Tag::UniversalString => v
            .data
            .chunks(4)
            .map(|c| {
                <[u8; 4]>::try_from(c)
                    .ok()
                    .and_then(|b| char::from_u32(u32::from_be_bytes(b)))
            })
            .collect(),
        _ => None,
    };
    match text {
        Some(t) => escape(&t, out),
        None => hex_der(v, out),
    }
}

fn utf16(data: &[u8]) -> Option<String> {
    if !data.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// `do_buf` with `ASN1_STRFLGS_RFC2253`: the RFC 2253 specials behind a backslash, `#` first
/// and a space first or last too, and each byte of a control or non-ASCII character as `\XX`.
fn escape(text: &str, out: &mut String) {
    let count = text.chars().count();
    for (i, c) in text.chars().enumerate() {
        let mut utf8 = [0u8; 4];
        for &b in c.encode_utf8(&mut utf8).as_bytes() {
            match b {
                b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                b'#' if i == 0 => out.push_str("\\#"),
                b' ' if i == 0 || i + 1 == count => out.push_str("\\ "),
                0..=0x1f | 0x7f..=0xff => out.push_str(&format!("\\{b:02X}")),
                _ => out.push(char::from(b)),
            }
        }
    }
}

/// `#` and the uppercase hex of the value's DER (tag, length, content).
fn hex_der(v: &Any<'_>, out: &mut String) {
    out.push('#');
    for b in super::der_of(v) {
        out.push_str(&format!("{b:02X}"));
    }
}
