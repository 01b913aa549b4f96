//! The expected behaviour, row by row with the source of each, and the headers the backend
//! must see: checked the same against `portcullis run` and against the controller and a
//! dataplane on a real kube-apiserver.

use portcullis_tests::pki::{Ca, Leaf};

use super::support::{Client, Seen, header, openssl_dn, unescape};
use super::world::World;

/// Asks `host` (over HTTPS, path `/x`) presenting the client given, with the headers given.
pub type Get<'a> = dyn Fn(&str, Client<'_>, &[&str]) -> Seen + 'a;

/// [`check`], [`check_headers`] and [`check_stripped`]: every row, then the headers; `log`
/// explains a failure.
pub fn assert_behaves(w: &World, get: &Get<'_>, log: &dyn Fn() -> String) {
    let failures = check(w, get, &|_| true);
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), log());
    check_headers(w, get);
    check_stripped(get);
}

/// Asks every row of the table whose host `keep` accepts with `get(host, client, &[])`; the
/// rows that differ.
pub fn check(w: &World, get: &Get<'_>, keep: &dyn Fn(&str) -> bool) -> Vec<String> {
    // How OpenSSL words an untrusted chain depends on what the client sent.
    let (with_issuer, to_root) = ([&w.other], [&w.other, &w.other_root]);
    // (host, client, status, ssl-client-verify seen by the backend, source)
    type Row<'a> = (
        &'a str,
        Option<(&'a Leaf, &'a [&'a Ca])>,
        u16,
        Option<&'a str>,
        &'a str,
    );
    let rows: Vec<Row<'_>> = vec![
        (
            "on.example",
            Some((&w.valid, &[])),
            200,
            Some("SUCCESS"),
            "e2e: should set sslClientCertificate… (200 with a valid certificate)",
        ),
        (
            "on.example",
            None,
            400,
            None,
            "e2e: should set sslClientCertificate… (400 without a certificate: nginx 496)",
        ),
        (
            "on.example",
            Some((&w.expired, &[])),
            400,
            None,
            "nginx ssl_verify_client on: a certificate that fails verification is 495, answered 400",
        ),
        (
            "on.example",
            Some((&w.stranger, &[])),
            400,
            None,
            "nginx ssl_verify_client on: 495 (unable to get local issuer certificate)",
        ),
        (
            "on.example",
            Some((&w.revoked, &[])),
            400,
            None,
            "nginx ssl_crl: certificate revoked is 495",
        ),
        (
            "off.example",
            None,
            200,
            Some("NONE"),
            "e2e: sslVerify to off (200 without a certificate); template sets ssl-client-verify",
        ),
        (
            "off.example",
            Some((&w.valid, &[])),
            200,
            Some("NONE"),
            "nginx ssl_verify_client off: no certificate is asked for",
        ),
        (
            "off.example",
            Some((&w.expired, &[])),
            200,
            Some("NONE"),
            "nginx ssl_verify_client off: no certificate is asked for, so none is judged",
        ),
        (
            "off.example",
            Some((&w.stranger, &[])),
            200,
            Some("NONE"),
            "nginx ssl_verify_client off: no certificate is asked for, so none is judged",
        ),
        (
            "off.example",
            Some((&w.revoked, &[])),
            200,
            Some("NONE"),
            "nginx ssl_verify_client off: no certificate is asked for, so none is judged",
        ),
        (
            "optional.example",
            None,
            200,
            Some("NONE"),
            "e2e: should validate auth-tls-verify-client (optional: 200 without)",
        ),
        (
            "optional.example",
            Some((&w.valid, &[])),
            200,
            Some("SUCCESS"),
            "nginx ssl_verify_client optional",
        ),
        (
            "optional.example",
            Some((&w.expired, &[])),
            400,
            None,
            "nginx optional: a presented certificate must verify (495)",
        ),
        (
            "optional.example",
            Some((&w.stranger, &[])),
            400,
            None,
            "nginx optional: 495",
        ),
        (
            "optional.example",
            Some((&w.revoked, &[])),
            400,
            None,
            "nginx optional with ssl_crl: 495",
        ),
        (
            "noca.example",
            None,
            200,
            Some("NONE"),
            "nginx optional_no_ca",
        ),
        (
            "noca.example",
            Some((&w.valid, &[])),
            200,
            Some("SUCCESS"),
            "nginx optional_no_ca",
        ),
        (
            "noca.example",
            Some((&w.stranger, &[])),
            200,
            Some("FAILED:unable to verify the first certificate"),
            "nginx ngx_ssl_verify_error_optional: an unknown issuer passes, FAILED:reason upstream (X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: the leaf alone)",
        ),
        // With ca.crl, OpenSSL (CRL_CHECK_ALL) finds no CRL for a foreign chain's CAs and that
        // error is its last, unless the leaf came alone ("unable to verify the first
        // certificate" is then set again last): learnt from the nginx oracle.
        (
            "noca.example",
            Some((&w.stranger, &with_issuer)),
            400,
            None,
            "nginx + OpenSSL 3 (oracle): with ssl_crl, X509_V_ERR_UNABLE_TO_GET_CRL is the last error, not optional",
        ),
        (
            "noca.example",
            Some((&w.stranger, &to_root)),
            400,
            None,
            "nginx + OpenSSL 3 (oracle): with ssl_crl, X509_V_ERR_UNABLE_TO_GET_CRL is the last error",
        ),
        (
            "noca.example",
            Some((&w.self_signed, &[])),
            400,
            None,
            "nginx + OpenSSL 3 (oracle): with ssl_crl, X509_V_ERR_UNABLE_TO_GET_CRL is the last error",
        ),
        (
            "on.example",
            Some((&w.forged, &[])),
            400,
            None,
            "nginx: the issuer is found by name and the signature fails (X509_V_ERR_CERT_SIGNATURE_FAILURE, 495)",
        ),
        (
            "noca-plain.example",
            Some((&w.forged, &[])),
            400,
            None,
            "nginx optional_no_ca: a signature failure is not optional (495)",
        ),
        // Without ca.crl, every untrusted chain passes, in OpenSSL's words.
        (
            "noca-plain.example",
            Some((&w.stranger, &[])),
            200,
            Some("FAILED:unable to verify the first certificate"),
            "ngx_ssl_verify_error_optional: X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        ),
        (
            "noca-plain.example",
            Some((&w.stranger, &with_issuer)),
            200,
            Some("FAILED:unable to get local issuer certificate"),
            "ngx_ssl_verify_error_optional: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY (its intermediate sent)",
        ),
        (
            "noca-plain.example",
            Some((&w.stranger, &to_root)),
            200,
            Some("FAILED:self-signed certificate in certificate chain"),
            "ngx_ssl_verify_error_optional: X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN (its root sent)",
        ),
        (
            "noca-plain.example",
            Some((&w.self_signed, &[])),
            200,
            Some("FAILED:self-signed certificate"),
            "ngx_ssl_verify_error_optional: X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT",
        ),
        (
            "noca-plain.example",
            Some((&w.expired, &[])),
            400,
            None,
            "nginx optional_no_ca: certificate has expired is not optional (495)",
        ),
        (
            "on.example",
            Some((&w.self_signed, &[])),
            400,
            None,
            "nginx ssl_verify_client on: a self-signed certificate is 495",
        ),
        (
            "noca.example",
            Some((&w.expired, &[])),
            400,
            None,
            "nginx optional_no_ca: only issuer errors pass, certificate has expired is 495",
        ),
        (
            "noca.example",
            Some((&w.revoked, &[])),
            400,
            None,
            "nginx optional_no_ca: certificate revoked is 495",
        ),
        (
            "errpage.example",
            Some((&w.valid, &[])),
            200,
            Some("SUCCESS"),
            "e2e: should 302 redirect to error page (200 with a certificate)",
        ),
        (
            "cn.example",
            Some((&w.valid, &[])),
            200,
            Some("SUCCESS"),
            "e2e: should return 200 using auth-tls-match-cn with matching CN",
        ),
        (
            "cn-other.example",
            Some((&w.valid, &[])),
            403,
            None,
            "e2e: should return 403 using auth-tls-match-cn with no matching CN",
        ),
        (
            "cn-optional.example",
            None,
            403,
            None,
            "template: $ssl_client_s_dn is empty without a certificate, so !~ matches: 403",
        ),
        (
            "depth1.example",
            Some((&w.valid, &[])),
            200,
            Some("SUCCESS"),
            "default depth 1 (authtls/main.go) admits one intermediate (openssl verify -verify_depth 1)",
        ),
        (
            "depth1.example",
            Some((&w.deep, &[])),
            400,
            None,
            "depth 1 refuses two intermediates: certificate chain too long (495)",
        ),
        (
            "depth2.example",
            Some((&w.deep, &[])),
            200,
            Some("SUCCESS"),
            "e2e: sslVerifyDepth to 2 admits two intermediates",
        ),
        (
            "plain.example",
            None,
            200,
            None,
            "an Ingress without auth-tls: no client certificate, no ssl-client-* headers",
        ),
        // 0: no TLS session at all (curl's 000).
        (
            "conflict.example",
            Some((&w.valid, &[])),
            0,
            None,
            "Portcullis: Ingresses of one host disagreeing on auth-tls-secret fail closed: the handshake is refused",
        ),
    ];
    let named = [
        (&w.valid, "valid"),
        (&w.expired, "expired"),
        (&w.revoked, "revoked"),
        (&w.stranger, "other-CA"),
        (&w.deep, "deep"),
        (&w.self_signed, "self-signed"),
        (&w.forged, "forged"),
    ];
    let name_of = |c: Option<(&Leaf, &[&Ca])>| {
        c.map_or("no certificate", |(l, _)| {
            named
                .iter()
                .find(|(n, _)| n.pem() == l.pem())
                .map_or("?", |(_, n)| n)
        })
    };
    let mut failures = Vec::new();
    for (host, client, status, verify, source) in rows.iter().filter(|r| keep(r.0)) {
        let seen = get(host, *client, &[]);
        let got_verify = seen
            .echoed
            .as_ref()
            .and_then(|e| header(e, "ssl-client-verify"));
        if seen.status != *status || got_verify != *verify {
            failures.push(format!(
                "{host}, {}: got {} {got_verify:?}, want {status} {verify:?} ({source})",
                name_of(*client),
                seen.status
            ));
        }
    }
    failures
}

/// The headers ingress-nginx sends, in its formats (template: `proxy_set_header
/// ssl-client-*`), as the backend received them, and the error page's redirect.
pub fn check_headers(w: &World, get: &Get<'_>) {
    let valid = &w.valid;
    // The headers ingress-nginx sends, in its formats (template: proxy_set_header ssl-client-*).
    let seen = get("on.example", Some((valid, &[])), &[]);
    let echoed = seen.echoed.expect("echoed");
    assert_eq!(
        header(&echoed, "ssl-client-subject-dn"),
        Some(openssl_dn(&valid.pem(), "-subject").as_str())
    );
    assert_eq!(
        header(&echoed, "ssl-client-issuer-dn"),
        Some(openssl_dn(&valid.pem(), "-issuer").as_str())
    );
    let cert = header(&echoed, "ssl-client-cert").expect("pass-certificate-to-upstream");
    // e2e: should pass URL-encoded certificate to upstream.
    assert!(
        cert.starts_with("-----BEGIN%20CERTIFICATE-----%0A"),
        "{cert}"
    );
    assert_eq!(unescape(cert), valid.pem());
    // Byte for byte as nginx escapes it (ngx_escape_uri, NGX_ESCAPE_URI_COMPONENT): every
    // byte but letters, digits and `-._~` as %XX, so `+`, `/` and `=` of the base64 too.
    let component: String = valid
        .pem()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    assert_eq!(cert, component);
    // Without pass-certificate-to-upstream, no certificate; with match-cn the same headers.
    let echoed = get("cn.example", Some((valid, &[])), &[])
        .echoed
        .expect("echoed");
    assert_eq!(header(&echoed, "ssl-client-cert"), None);
    assert_eq!(
        header(&echoed, "ssl-client-subject-dn"),
        Some(openssl_dn(&valid.pem(), "-subject").as_str())
    );

    // e2e: should 302 redirect to error page instead of 400: without a certificate, and for
    // each kind of refused one (error_page 495 496).
    let refused = [&w.expired, &w.stranger, &w.revoked, &w.deep];
    let clients = std::iter::once(None).chain(refused.map(|c| Some((c, &[] as &[&Ca]))));
    for client in clients {
        let seen = get("errpage.example", client, &[]);
        assert_eq!(
            (seen.status, seen.location.as_deref()),
            (302, Some("https://errors.example/cert"))
        );
    }
}

/// A client's own ssl-client-* headers never reach the backend (strip before set), on a host
/// with client certificates off and on one without `auth-tls-*` (where ingress-nginx, which
/// sets them only with a CA, passed them on: #8299).
pub fn check_stripped(get: &Get<'_>) {
    let spoof = [
        "ssl-client-verify: SUCCESS",
        "ssl-client-subject-dn: CN=admin",
    ];
    for host in ["off.example", "plain.example"] {
        let seen = get(host, None, &spoof);
        let echoed = seen.echoed.expect("echoed");
        let want = (host == "off.example").then_some("NONE");
        assert_eq!(header(&echoed, "ssl-client-verify"), want, "{host}");
        assert_eq!(header(&echoed, "ssl-client-subject-dn"), None, "{host}");
    }
}
