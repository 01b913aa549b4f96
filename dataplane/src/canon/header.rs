//! Header names a backend cannot alias, and the proxy headers only the gateway may write.
//!
//! CGI, WSGI, PHP and Rack hand headers to applications as `HTTP_<NAME>` with `-` mapped to `_`
//! and the case folded, so `ssl_client_verify` and `ssl-client-verify` arrive as the same
//! variable. Strip-before-set removes the gateway's names with `-`; a name with `_` (or any other
//! character outside letters, digits and `-`) would slip past it. Such request headers are
//! dropped, as nginx does by default (`underscores_in_headers off`, `ignore_invalid_headers on`),
//! and a header rule may not use such a name.

use http::HeaderName;

/// Whether a header name uses only letters, digits and `-`: the names no backend reads as
/// another name.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Headers that tell a backend which URL, host, scheme or client a request is about. Clients
/// may not send them: IIS, Symfony and Zend route on `X-Original-URL` and `X-Rewrite-URL`,
/// frameworks build URLs and decide "is this HTTPS" from the scheme ones, and take the client's
/// address from the address ones. The gateway writes its own `X-Forwarded-For`,
/// `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Forwarded-Port` and `X-Real-IP`; it writes no
/// `Forwarded` (RFC 7239), so a client's would contradict them.
pub const PROXY_HEADERS: [HeaderName; 21] = [
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-original-uri"),
    HeaderName::from_static("x-forwarded-uri"),
    HeaderName::from_static("x-forwarded-path"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-envoy-original-path"),
    HeaderName::from_static("x-original-host"),
    HeaderName::from_static("x-host"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-scheme"),
    HeaderName::from_static("x-forwarded-ssl"),
    HeaderName::from_static("front-end-https"),
    HeaderName::from_static("x-original-forwarded-for"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("fastly-client-ip"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_letters_digits_and_hyphens_are_plain() {
        for ok in ["ssl-client-verify", "X-ARR-ClientCert", "a1"] {
            assert!(is_plain_name(ok), "{ok}");
        }
        for bad in ["ssl_client_verify", "X_ARR_ClientCert", "a.b", "", "a b"] {
            assert!(!is_plain_name(bad), "{bad}");
        }
    }
}
