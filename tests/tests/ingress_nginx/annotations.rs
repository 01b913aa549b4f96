//! Annotations Portcullis does not carry out: named by `validate`, and refusing the Ingress
//! when they restrict who gets in.

use std::process::Command;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::gateway::{free_port, portcullis_bin};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;

use super::support::{ask_http, serve_ingresses};

#[test]
fn unsupported_annotations_are_named_and_access_restricting_ones_refuse_the_ingress() {
    let server = Ca::root("Server Root").server(&["app.example", "locked.example"]);
    let backend = EchoBackend::start();
    let (http, https) = (free_port(), free_port());
    let m = Manifests::new()
        .ingress_class("portcullis", "portcullis.io/ingress-controller", true)
        .tls_secret("default", "site-tls", &server.pem(), server.key_pem())
        .service("default", "echo", "127.0.0.1", backend.addr.port())
        .ingress(
            "app",
            "portcullis",
            "app.example",
            Some("site-tls"),
            &[("rewrite-target", "/"), ("proxy-body-size", "8m")],
            "echo",
        )
        .ingress(
            "locked",
            "portcullis",
            "locked.example",
            Some("site-tls"),
            &[("whitelist-source-range", "10.0.0.0/8")],
            "echo",
        )
        .edit("Ingress", "app", |i| {
            // No class: the default IngressClass (Portcullis's here) takes it.
            i["spec"]
                .as_object_mut()
                .expect("spec")
                .remove("ingressClassName");
        });
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let out = Command::new(portcullis_bin())
        .args(["validate", "-f"])
        .arg(dir.path())
        .output()
        .expect("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let annotation = |ingress: &str, name: &str| {
        format!(
            "Ingress/default/{ingress}: metadata.annotations[nginx.ingress.kubernetes.io/{name}]"
        )
    };
    for (line, reason) in [
        (
            format!("warning: {}", annotation("app", "rewrite-target")),
            "(AnnotationIgnored)",
        ),
        (
            format!("warning: {}", annotation("app", "proxy-body-size")),
            "(AnnotationIgnored)",
        ),
        (
            annotation("locked", "whitelist-source-range"),
            "(UnsupportedSecurityAnnotation)",
        ),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&line) && l.ends_with(reason)),
            "{line}\n{text}"
        );
    }
    let root_pem = dir.path().join("server-root.pem");
    std::fs::write(&root_pem, Ca::root("unused").pem()).expect("root");
    let _gw = serve_ingresses(dir.path(), http, https);
    // The class-less Ingress is served (by the default class): its host in spec.tls is
    // redirected from plain HTTP.
    let seen = ask_http("app.example", http, &root_pem);
    assert_eq!(seen.status, 308);
    // The Ingress whose source-range restriction cannot be carried out refuses traffic.
    let seen = ask_http("locked.example", http, &root_pem);
    assert_eq!(seen.status, 503);
}
