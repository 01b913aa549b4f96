//! Ingresses written as ingress-nginx's documentation writes them, with its `auth-tls-*`
//! annotations, served by `portcullis run` and asked by curl (OpenSSL) with a valid, an
//! expired, an other-CA, a revoked and no client certificate. Every expected row names its
//! source: ingress-nginx's e2e tests (test/e2e/annotations/authtls.go), its nginx template
//! (rootfs/etc/nginx/template/nginx.tmpl), or nginx's and OpenSSL's documented behaviour.

use std::process::Command;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::gateway::free_port;
use portcullis_tests::gateway::portcullis_bin;
use support::{ask, ask_http, https_get, serve_ingresses};
use world::World;

#[path = "ingress_nginx/annotations.rs"]
mod annotations;
#[path = "ingress_nginx/cluster.rs"]
mod cluster;
#[path = "ingress_nginx/oracle.rs"]
mod oracle;
#[path = "ingress_nginx/rows.rs"]
mod rows;
#[path = "ingress_nginx/support.rs"]
mod support;
#[path = "ingress_nginx/world.rs"]
mod world;

#[test]
fn auth_tls_annotations_behave_as_ingress_nginx_documents() {
    let backend = EchoBackend::start();
    let w = World::new(backend.addr.port());
    let (http, https) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("dir");
    w.manifests.write(dir.path());
    let root_pem = dir.path().join("server-root.pem");
    std::fs::write(&root_pem, w.server_root.pem()).expect("root");
    let gw = serve_ingresses(dir.path(), http, https);
    let get = https_get(https, &root_pem);
    rows::assert_behaves(&w, &get, &|| gw.stderr());

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
    assert!(get("other-class.example", None, &[]).echoed.is_none());

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
            .filter(|l| !l.starts_with("warning:")
                && !l.starts_with("checked")
                && !l.ends_with(": served as written"))
            .count(),
        2,
        "{text}"
    );
    // The Ingresses with nothing to report say so (the other class's is not served).
    assert!(
        text.contains("Ingress/default/on.example: served as written"),
        "{text}"
    );
    assert!(
        !text.contains("Ingress/default/other-class: served"),
        "{text}"
    );
    assert!(
        text.contains(
            "15 Ingress(es) (14 served, 1 of other classes left alone), 2 IngressClass(es)"
        ),
        "{text}"
    );
}
