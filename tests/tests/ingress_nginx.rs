//! Ingresses written as ingress-nginx's documentation writes them, with its `auth-tls-*`
//! annotations, served by `portcullis run` and asked by curl (OpenSSL) with a valid, an
//! expired, an other-CA, a revoked and no client certificate. Every expected row names its
//! source: ingress-nginx's e2e tests (test/e2e/annotations/authtls.go), its nginx template
//! (rootfs/etc/nginx/template/nginx.tmpl), or nginx's and OpenSSL's documented behaviour.

use std::process::Command;

use portcullis_tests::gateway::portcullis_bin;
use portcullis_tests::pki::{Ca, Leaf};
use support::{ask, ask_http, header, openssl_dn, unescape};
use world::World;

#[path = "ingress_nginx/annotations.rs"]
mod annotations;
#[path = "ingress_nginx/support.rs"]
mod support;
#[path = "ingress_nginx/world.rs"]
mod world;

#[test]
fn auth_tls_annotations_behave_as_ingress_nginx_documents() {
    let World {
        valid,
        expired,
        revoked,
        stranger,
        deep,
        root_pem,
        dir,
        http,
        https,
        gw,
        ..
    } = World::start();
    let get = |host: &str, client: Option<(&Leaf, &[&Ca])>| {
        ask(
            &format!("https://{host}:{https}/x"),
            https,
            &root_pem,
            client,
            &[],
        )
    };
    let unknown_ca = "FAILED:unable to get local issuer certificate";
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
            Some((&valid, &[])),
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
            Some((&expired, &[])),
            400,
            None,
            "nginx ssl_verify_client on: a certificate that fails verification is 495, answered 400",
        ),
        (
            "on.example",
            Some((&stranger, &[])),
            400,
            None,
            "nginx ssl_verify_client on: 495 (unable to get local issuer certificate)",
        ),
        (
            "on.example",
            Some((&revoked, &[])),
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
            Some((&valid, &[])),
            200,
            Some("NONE"),
            "nginx ssl_verify_client off: no certificate is asked for",
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
            Some((&valid, &[])),
            200,
            Some("SUCCESS"),
            "nginx ssl_verify_client optional",
        ),
        (
            "optional.example",
            Some((&expired, &[])),
            400,
            None,
            "nginx optional: a presented certificate must verify (495)",
        ),
        (
            "optional.example",
            Some((&stranger, &[])),
            400,
            None,
            "nginx optional: 495",
        ),
        (
            "optional.example",
            Some((&revoked, &[])),
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
            Some((&valid, &[])),
            200,
            Some("SUCCESS"),
            "nginx optional_no_ca",
        ),
        (
            "noca.example",
            Some((&stranger, &[])),
            200,
            Some(unknown_ca),
            "nginx ngx_ssl_verify_error_optional: an unknown issuer passes, FAILED:reason upstream",
        ),
        (
            "noca.example",
            Some((&expired, &[])),
            400,
            None,
            "nginx optional_no_ca: only issuer errors pass, certificate has expired is 495",
        ),
        (
            "noca.example",
            Some((&revoked, &[])),
            400,
            None,
            "nginx optional_no_ca: certificate revoked is 495",
        ),
        (
            "errpage.example",
            Some((&valid, &[])),
            200,
            Some("SUCCESS"),
            "e2e: should 302 redirect to error page (200 with a certificate)",
        ),
        (
            "cn.example",
            Some((&valid, &[])),
            200,
            Some("SUCCESS"),
            "e2e: should return 200 using auth-tls-match-cn with matching CN",
        ),
        (
            "cn-other.example",
            Some((&valid, &[])),
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
            Some((&valid, &[])),
            200,
            Some("SUCCESS"),
            "default depth 1 (authtls/main.go) admits one intermediate (openssl verify -verify_depth 1)",
        ),
        (
            "depth1.example",
            Some((&deep, &[])),
            400,
            None,
            "depth 1 refuses two intermediates: certificate chain too long (495)",
        ),
        (
            "depth2.example",
            Some((&deep, &[])),
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
            Some((&valid, &[])),
            0,
            None,
            "Portcullis: Ingresses of one host disagreeing on auth-tls-secret fail closed: the handshake is refused",
        ),
    ];
    let named = [
        (&valid, "valid"),
        (&expired, "expired"),
        (&revoked, "revoked"),
        (&stranger, "other-CA"),
        (&deep, "deep"),
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
    for (host, client, status, verify, source) in &rows {
        let seen = get(host, *client);
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
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        gw.stderr()
    );

    // The headers ingress-nginx sends, in its formats (template: proxy_set_header ssl-client-*).
    let seen = get("on.example", Some((&valid, &[])));
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
    // Without pass-certificate-to-upstream, no certificate; with match-cn the same headers.
    let echoed = get("cn.example", Some((&valid, &[])))
        .echoed
        .expect("echoed");
    assert_eq!(header(&echoed, "ssl-client-cert"), None);
    assert_eq!(
        header(&echoed, "ssl-client-subject-dn"),
        Some(openssl_dn(&valid.pem(), "-subject").as_str())
    );

    // A client's own ssl-client-* headers never reach the backend (strip before set).
    let spoof = [
        "ssl-client-verify: SUCCESS",
        "ssl-client-subject-dn: CN=admin",
    ];
    for host in ["off.example", "plain.example"] {
        let url = format!("https://{host}:{https}/x");
        let seen = ask(&url, https, &root_pem, None, &spoof);
        let echoed = seen.echoed.expect("echoed");
        let want = (host == "off.example").then_some("NONE");
        assert_eq!(header(&echoed, "ssl-client-verify"), want, "{host}");
        assert_eq!(header(&echoed, "ssl-client-subject-dn"), None, "{host}");
    }

    // e2e: should 302 redirect to error page instead of 400 (no certificate, and a bad one).
    for client in [None, Some((&expired, &[] as &[&Ca]))] {
        let seen = get("errpage.example", client);
        assert_eq!(
            (seen.status, seen.location.as_deref()),
            (302, Some("https://errors.example/cert"))
        );
    }

    // ssl-redirect (default true for hosts in spec.tls): plain HTTP is redirected with 308.
    let seen = ask(
        &format!("http://on.example:{http}/a?b=1"),
        http,
        &root_pem,
        None,
        &[],
    );
    assert_eq!(seen.status, 308);
    assert_eq!(
        seen.location,
        Some(format!("https://on.example:{https}/a?b=1"))
    );

    // The conflicting host refuses plain HTTP too.
    let seen = ask_http("conflict.example", http, &root_pem);
    assert_eq!(seen.status, 503);

    // An Ingress of another class is left alone: neither port serves its host.
    let seen = ask_http("other-class.example", http, &root_pem);
    assert_eq!(seen.status, 404);
    assert!(get("other-class.example", None).echoed.is_none());

    drop(gw);
    // `portcullis validate` says the same: the conflict on both Ingresses, and only those.
    let out = Command::new(portcullis_bin())
        .args(["validate", "-f"])
        .arg(dir.path())
        .output()
        .expect("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for name in ["conflict-a", "conflict-b"] {
        assert!(text.contains(&format!("Ingress/default/{name}: metadata.annotations[nginx.ingress.kubernetes.io/auth-tls-secret]")) && text.contains("(AuthTlsConflict)"), "{text}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| !l.starts_with("warning:") && !l.starts_with("checked"))
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.contains(
            "14 Ingress(es) (13 served, 1 of other classes left alone), 2 IngressClass(es)"
        ),
        "{text}"
    );
}
