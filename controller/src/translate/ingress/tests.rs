//! Unit tests of Ingress translation: which Ingresses are served, how their paths are
//! ordered and merged, and which Secrets the controller fetches for them.

use dataplane::config::{PathMatch, Protocol, VirtualServer};
use portcullis_tests::pki::Ca;
use serde_json::{Value, json};

use super::super::fixtures::World;
use super::super::{Severity, Translation, referenced_secrets};

fn class(name: &str, controller: &str, default: bool) -> Value {
    let annotations = if default {
        json!({"ingressclass.kubernetes.io/is-default-class": "true"})
    } else {
        json!({})
    };
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
           "metadata": {"name": name, "annotations": annotations},
           "spec": {"controller": controller}})
}

/// An Ingress for `host` with `paths` (path, pathType, port) to Service `echo`.
fn ingress(name: &str, host: &str, paths: &[(&str, &str, Value)]) -> Value {
    let paths: Vec<Value> = paths
        .iter()
        .map(|(path, kind, port)| {
            json!({"path": path, "pathType": kind,
                   "backend": {"service": {"name": "echo", "port": port}}})
        })
        .collect();
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"ingressClassName": "portcullis", "tls": [{"hosts": [host], "secretName": "site"}],
                    "rules": [{"host": host, "http": {"paths": paths}}]}})
}

fn https_server<'a>(t: &'a Translation, host: &str) -> &'a VirtualServer {
    t.snapshot
        .ports
        .iter()
        .filter(|p| p.protocol == Protocol::Https)
        .flat_map(|p| &p.servers)
        .find(|s| s.hostnames.iter().any(|h| h.as_str() == host))
        .unwrap_or_else(|| panic!("no HTTPS server for {host}: {:?}", t.diagnostics))
}

fn world() -> World {
    let server = Ca::root("Server Root").server(&["a.example", "b.example"]);
    World::new()
        .tls("site", &server)
        .service("echo")
        .ingress(class(
            "portcullis",
            "portcullis.io/ingress-controller",
            false,
        ))
}

#[test]
fn an_ingress_is_served_by_its_class_the_legacy_annotation_or_the_default_class() {
    let ours = "portcullis.io/ingress-controller";
    /// The classes, `ingressClassName`, the legacy annotation, serve nginx, served.
    type Case<'a> = (Vec<Value>, Option<&'a str>, Option<&'a str>, bool, bool);
    let cases: [Case<'_>; 9] = [
        (
            vec![class("portcullis", ours, false)],
            Some("portcullis"),
            None,
            false,
            true,
        ),
        (
            vec![class("portcullis", ours, false)],
            Some("other"),
            None,
            false,
            false,
        ),
        (
            vec![class("mine", ours, false)],
            Some("mine"),
            None,
            false,
            true,
        ),
        (
            vec![class("portcullis", "k8s.io/ingress-nginx", false)],
            Some("portcullis"),
            None,
            false,
            false,
        ),
        (
            vec![class("portcullis", ours, false)],
            None,
            Some("portcullis"),
            false,
            true,
        ),
        (
            vec![class("portcullis", ours, false)],
            None,
            None,
            false,
            false,
        ),
        (
            vec![class("portcullis", ours, true)],
            None,
            None,
            false,
            true,
        ),
        (
            vec![class("nginx", "k8s.io/ingress-nginx", false)],
            Some("nginx"),
            None,
            false,
            false,
        ),
        (
            vec![class("nginx", "k8s.io/ingress-nginx", false)],
            Some("nginx"),
            None,
            true,
            true,
        ),
    ];
    for (i, (classes, name, legacy, nginx, served)) in cases.into_iter().enumerate() {
        let mut doc = ingress(
            "web",
            "a.example",
            &[("/", "Prefix", json!({"number": 80}))],
        );
        doc["spec"]["ingressClassName"] = json!(name);
        if let Some(l) = legacy {
            doc["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": l});
        }
        let mut w = World::new();
        for c in classes {
            w = w.ingress(c);
        }
        let mut w = w.ingress(doc);
        w.inputs_mut().ingress_options.serve_nginx_class = nginx;
        let inputs = w.inputs_mut().clone();
        assert_eq!(
            super::served(&inputs).count(),
            usize::from(served),
            "case {i}"
        );
    }
}

#[test]
fn paths_match_longest_first_exact_before_prefix_and_the_older_ingress_keeps_a_path() {
    let mut w = world()
        .ingress(ingress(
            "older",
            "a.example",
            &[
                ("/", "Prefix", json!({"number": 80})),
                ("/api", "Prefix", json!({"number": 80})),
                ("/api/v1/", "ImplementationSpecific", json!({"number": 80})),
                ("/api", "Exact", json!({"number": 80})),
            ],
        ))
        .ingress(ingress(
            "younger",
            "a.example",
            &[("/api", "Exact", json!({"name": "http"}))],
        ));
    w.inputs_mut().ingresses[0].metadata.creation_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().expect("time"),
        ));
    w.inputs_mut().ingresses[1].metadata.creation_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-02-01T00:00:00Z".parse().expect("time"),
        ));
    let t = w.translate();
    let paths: Vec<&PathMatch> = https_server(&t, "a.example")
        .routes
        .iter()
        .map(|r| &r.path)
        .collect();
    assert_eq!(
        paths,
        [
            &PathMatch::Prefix("/api/v1".into()),
            &PathMatch::Exact("/api".into()),
            &PathMatch::Prefix("/api".into()),
            &PathMatch::Prefix("/".into()),
        ]
    );
    let conflict: Vec<_> = t
        .diagnostics
        .iter()
        .filter(|d| d.reason == "IngressPathConflict")
        .collect();
    assert_eq!(conflict.len(), 1, "{:?}", t.diagnostics);
    assert_eq!(conflict[0].object.name, "younger");
    assert_eq!(conflict[0].severity, Severity::Warning);
}

#[test]
fn a_named_service_port_and_the_default_backend_are_resolved() {
    let mut doc = ingress(
        "web",
        "b.example",
        &[("/named", "Prefix", json!({"name": "http"}))],
    );
    doc["spec"]["defaultBackend"] = json!({"service": {"name": "echo", "port": {"number": 80}}});
    let mut w = world().ingress(doc);
    w.inputs_mut().services[0]
        .spec
        .as_mut()
        .and_then(|s| s.ports.as_mut())
        .expect("ports")[0]
        .name = Some("http".into());
    w.inputs_mut().endpoint_slices[0]
        .ports
        .as_mut()
        .expect("ports")[0]
        .name = Some("http".into());
    let t = w.translate();
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    let routes = &https_server(&t, "b.example").routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].backend.name, "default/echo:80");
    assert_eq!(
        routes[0].backend.endpoints.len(),
        1,
        "the named port's endpoints"
    );
    assert_eq!(
        routes[1].path,
        PathMatch::Prefix("/".into()),
        "the default backend, last"
    );
}

#[test]
fn the_controller_fetches_the_secrets_of_served_ingresses_only() {
    let mut served = ingress(
        "web",
        "a.example",
        &[("/", "Prefix", json!({"number": 80}))],
    );
    served["metadata"]["annotations"] = json!({
        "nginx.ingress.kubernetes.io/auth-tls-secret": "default/clients",
        "nginx.ingress.kubernetes.io/proxy-ssl-secret": "elsewhere/backend-ca",
    });
    let mut other = ingress(
        "other",
        "b.example",
        &[("/", "Prefix", json!({"number": 80}))],
    );
    other["spec"]["ingressClassName"] = json!("nginx");
    other["spec"]["tls"][0]["secretName"] = json!("other-site");
    let mut w = world().ingress(served).ingress(other);
    let wanted = referenced_secrets(w.inputs_mut());
    let names: Vec<&str> = wanted.iter().map(|(_, n)| n.as_str()).collect();
    // Not the cross-namespace proxy-ssl-secret (refused), nor another class's Secret.
    assert_eq!(names, ["clients", "site"]);
}

#[test]
fn an_https_backend_is_verified_by_the_proxy_ssl_secret_and_name() {
    let backend_root = Ca::root("Backend Root");
    let annotated = |annotations: Value| {
        let mut doc = ingress(
            "web",
            "a.example",
            &[("/", "Prefix", json!({"number": 80}))],
        );
        doc["metadata"]["annotations"] = annotations;
        world()
            .ca("backend-ca", &backend_root)
            .ingress(doc)
            .translate()
    };
    let p = "nginx.ingress.kubernetes.io";
    // ingress-nginx's default, no verification: refused rather than served unverified.
    let t = annotated(json!({format!("{p}/backend-protocol"): "HTTPS"}));
    assert!(
        t.diagnostics
            .iter()
            .any(|d| d.reason == "BackendTrustMissing" && d.severity == Severity::Error),
        "{:?}",
        t.diagnostics
    );
    let t = annotated(json!({
        format!("{p}/backend-protocol"): "HTTPS",
        format!("{p}/proxy-ssl-secret"): "default/backend-ca",
        format!("{p}/proxy-ssl-verify"): "on",
        format!("{p}/proxy-ssl-name"): "api.internal",
    }));
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    let backend = &https_server(&t, "a.example").routes[0].backend;
    let dataplane::config::BackendProtocol::Https {
        trusted_roots,
        server_name,
        ..
    } = &backend.protocol
    else {
        panic!("{:?}", backend.protocol)
    };
    assert_eq!(
        (trusted_roots.len(), server_name.as_str()),
        (1, "api.internal")
    );
    // proxy-ssl-name names the certificate only: the client's Host goes to the backend.
    assert_eq!(backend.host_override, None);
}

#[test]
fn client_certificate_annotations_under_another_prefix_refuse_the_ingress() {
    let mut doc = ingress(
        "web",
        "a.example",
        &[("/", "Prefix", json!({"number": 80}))],
    );
    doc["metadata"]["annotations"] = json!({"custom.example/auth-tls-secret": "default/clients"});
    let t = world().ingress(doc.clone()).translate();
    let refused: Vec<_> = t
        .diagnostics
        .iter()
        .filter(|d| d.reason == "UnsupportedSecurityAnnotation")
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", t.diagnostics);
    assert_eq!(
        refused[0].field,
        "metadata.annotations[custom.example/auth-tls-secret]"
    );
    assert!(https_server(&t, "a.example").refusal.is_some());
    // With that prefix configured, it is read (and here names a Secret that does not exist).
    let mut w = world().ingress(doc);
    w.inputs_mut().ingress_options.annotation_prefix = "custom.example".into();
    let t = w.translate();
    assert!(
        t.diagnostics.iter().any(|d| d.reason == "SecretNotFound"),
        "{:?}",
        t.diagnostics
    );
    assert!(
        !t.diagnostics
            .iter()
            .any(|d| d.reason == "UnsupportedSecurityAnnotation")
    );
}

#[test]
fn an_nginx_class_ingress_is_a_guest_only_when_served_for_the_option() {
    let mut doc = ingress(
        "web",
        "a.example",
        &[("/", "Prefix", json!({"number": 80}))],
    );
    doc["spec"]["ingressClassName"] = json!("nginx");
    let mut w = world().ingress(doc);
    w.inputs_mut().ingress_options.serve_nginx_class = true;
    let inputs = w.inputs_mut().clone();
    let ing = &inputs.ingresses[0];
    assert!(super::served(&inputs).count() == 1 && super::guest(&inputs, ing));
    // Once Portcullis's own class is named nginx, the Ingress is its own, status and all.
    let mut inputs = inputs.clone();
    inputs.ingress_classes.push(
        serde_json::from_value(class("nginx", "portcullis.io/ingress-controller", false))
            .expect("class"),
    );
    assert!(!super::guest(&inputs, &inputs.ingresses[0]));
}

#[test]
fn a_path_that_asked_not_to_be_redirected_is_told_why_it_is() {
    let mut quiet = ingress(
        "quiet",
        "a.example",
        &[("/q", "Prefix", json!({"number": 80}))],
    );
    quiet["metadata"]["annotations"] = json!({"nginx.ingress.kubernetes.io/ssl-redirect": "false"});
    let loud = ingress(
        "loud",
        "a.example",
        &[("/l", "Prefix", json!({"number": 80}))],
    );
    let t = world().ingress(quiet.clone()).ingress(loud).translate();
    let told: Vec<_> = t
        .diagnostics
        .iter()
        .filter(|d| d.reason == "DiffersFromIngressNginx")
        .map(|d| d.object.name.as_str())
        .collect();
    assert_eq!(told, ["quiet"]);
    // Alone, it is served over plain HTTP as asked, and nothing is said.
    let t = world().ingress(quiet).translate();
    assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);
    let http = t
        .snapshot
        .ports
        .iter()
        .find(|p| p.protocol == Protocol::Http)
        .expect("HTTP port");
    assert_eq!(http.servers[0].redirect_https_port, None);
    assert_eq!(http.servers[0].routes.len(), 1);
}
