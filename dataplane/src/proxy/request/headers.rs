//! The request's headers on their way to the backend: hop-by-hop headers removed, names a
//! backend could read as others dropped, the gateway's own headers stripped before they are set
//! (strip before set), and the forwarding headers written from what the gateway judged.

use std::collections::HashSet;

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

use crate::canon::header::is_plain_name;
use crate::proxy::session::ConnCtx;

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded. Parsed names: removing by
/// string would parse each name again on every request.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes, in one pass over the request's headers, those a client may not send: names a
/// backend could read as another name (`_` for `-`, see [`crate::canon::header`]), and the
/// gateway's own (`strip`: identity, rule and routing headers). Returns how many fields had
/// aliasable names.
pub(super) fn strip_client_headers(headers: &mut HeaderMap, strip: &HashSet<HeaderName>) -> u64 {
    let mut doomed: Vec<HeaderName> = Vec::new();
    let mut aliasable = 0;
    for name in headers.keys() {
        if !is_plain_name(name.as_str()) {
            aliasable += headers.get_all(name).iter().count() as u64;
            doomed.push(name.clone());
        } else if strip.contains(name) {
            doomed.push(name.clone());
        }
    }
    for name in doomed {
        headers.remove(&name);
    }
    aliasable
}

/// The gateway's own forwarding headers. It is the edge: what a client says of earlier hops
/// is not evidence, so `X-Forwarded-For` and `X-Real-IP` hold the client's address alone (as
/// Traefik does for untrusted clients), and the host, protocol and port are those the gateway
/// judged and served.
pub(super) fn forwarded(headers: &mut HeaderMap, ctx: &ConnCtx, host: &str) {
    let (ip, port) = &ctx.forwarded;
    let proto = HeaderValue::from_static(if ctx.tls.is_some() { "https" } else { "http" });
    headers.insert(X_FORWARDED_FOR, ip.clone());
    headers.insert(X_REAL_IP, ip.clone());
    headers.insert(X_FORWARDED_PROTO, proto);
    headers.insert(X_FORWARDED_PORT, port.clone());
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(X_FORWARDED_HOST, v);
    }
}
