//! The snapshot translation builds: what is served, and that invalid input fails closed.

use controller::manifests;
use controller::translate::{Malformed, translate};
use dataplane::config::{ClientAuth, Protocol, VirtualServer};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, rfc4514};

fn server_of(m: &Manifests) -> (VirtualServer, controller::translate::Translation) {
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = manifests::load(&[m.write(dir.path())]);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let t = translate(&loaded.inputs, jiff::Timestamp::now());
    assert_eq!(t.snapshot.ports.len(), 1, "{:?}", t.diagnostics);
    assert_eq!(t.snapshot.ports[0].protocol, Protocol::Https);
    (t.snapshot.ports[0].servers[0].clone(), t)
}

#[test]
fn valid_profile_becomes_required_client_auth_with_routes() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let (server, t) = server_of(&Manifests::partner_api(
        format!("{}{}", root.pem(), int.pem()).as_bytes(),
    ));
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    assert!(server.refusal.is_none());
    let tls = server.tls.expect("tls");
    let ClientAuth::Required(v) = tls.client_auth else {
        panic!("expected Required, got {:?}", tls.client_auth)
    };
    assert_eq!(v.trust.len(), 1);
    assert!(v.verify_issuer_dn);
    assert_eq!(
        v.trust[0].0.issuer_dn().as_str(),
        rfc4514("Partner Issuing")
    );
    assert_eq!(server.routes.len(), 1);
    assert_eq!(
        server.routes[0].backend.endpoints,
        vec![
            "127.0.0.1:8080"
                .parse::<dataplane::config::Endpoint>()
                .expect("addr")
        ]
    );
    let key = ("default".to_owned(), "partner".to_owned());
    assert_eq!(t.issuer_dns[&key], vec![rfc4514("Partner Issuing")]);

    // The snapshot survives the push channel's encoding, re-judging its bundles on the way in.
    let json = serde_json::to_string(&t.snapshot).expect("serialize");
    let back: dataplane::config::Snapshot = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back.ports[0].servers[0].name, "default/api");
}

/// A profile that lists CAs but says nothing of `mode` requires a certificate.
#[test]
fn a_profile_without_a_mode_requires_a_certificate() {
    let root = Ca::root("Partner Root");
    let m = Manifests::partner_api(root.pem().as_bytes()).edit("SslProfile", "partner", |p| {
        p["spec"]["clientAuthConfiguration"]
            .as_object_mut()
            .map(|c| c.remove("mode"));
    });
    let (server, t) = server_of(&m);
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    let client_auth = server.tls.expect("tls").client_auth;
    assert!(
        matches!(client_auth, ClientAuth::Required(_)),
        "{client_auth:?}"
    );
}

#[test]
fn invalid_profile_makes_listener_refuse_never_serve_open() {
    let leaf_only = Ca::root("Partner Root").client("device-1");
    let (server, t) = server_of(&Manifests::partner_api(leaf_only.pem().as_bytes()));
    assert!(t.has_errors());
    let refusal = server.refusal.expect("listener must refuse");
    assert_eq!(refusal.reason, "InvalidListener");
    assert!(
        server.tls.is_none(),
        "no TLS config may be served without its client auth"
    );
    assert!(server.routes.is_empty());
    // The hostname stays claimed, so no other listener can answer it without mTLS.
    assert_eq!(server.hostnames[0].as_str(), "api.example.com");
}

/// An SslProfile the controller could not parse (a newer CRD's value) is refused with the
/// field named, and its Listener refuses like it would for an invalid profile.
#[test]
fn unreadable_profile_is_refused_and_its_listener_refuses() {
    let root = Ca::root("Partner Root");
    let dir = tempfile::tempdir().expect("temp dir");
    let m = Manifests::partner_api(root.pem().as_bytes());
    let mut inputs = manifests::load(&[m.write(dir.path())]).inputs;
    let mut profile = serde_json::to_value(inputs.ssl_profiles.remove(0)).expect("json");
    profile["spec"]["clientAuthConfiguration"]["mode"] = serde_json::json!("Sometimes");
    let malformed =
        Malformed::parse::<controller::api::SslProfile>("SslProfile", profile).expect_err("mode");
    assert_eq!(malformed.field, "spec.clientAuthConfiguration.mode");
    assert!(malformed.error.contains("Sometimes"), "{}", malformed.error);
    inputs.malformed.push(malformed);

    let t = translate(&inputs, jiff::Timestamp::now());
    let found = t
        .diagnostics
        .iter()
        .find(|d| d.reason == "MalformedObject")
        .expect("a MalformedObject diagnostic");
    assert_eq!(found.object.to_string(), "SslProfile/default/partner");
    assert_eq!(found.field, "spec.clientAuthConfiguration.mode");
    assert!(
        t.diagnostics
            .iter()
            .any(|d| d.reason == "InvalidSslProfile" && d.object.kind == "Listener"),
        "{:?}",
        t.diagnostics
    );
    let server = &t.snapshot.ports[0].servers[0];
    assert!(
        server.refusal.is_some() && server.tls.is_none(),
        "{server:?}"
    );
}

#[test]
fn the_controller_fetches_only_referenced_secrets() {
    let root = Ca::root("Partner Root");
    let other = Ca::root("Unrelated");
    let m = Manifests::partner_api(root.pem().as_bytes())
        .ca_secret("default", "unrelated", other.pem().as_bytes())
        .edit("Listener", "api", |l| {
            l["spec"]["rules"][0]["backendSettings"] = serde_json::json!({
                "protocol": "HTTPS",
                "trustedRootCertificates": [{"name": "backend-ca"}, {"name": "x", "namespace": "elsewhere"}],
            })
        });
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = manifests::load(&[m.write(dir.path())]);
    let wanted = controller::translate::referenced_secrets(&loaded.inputs);
    let names: Vec<&str> = wanted.iter().map(|(_, n)| n.as_str()).collect();
    // The CA bundle, the server certificate and the backend CA; not the unrelated Secret,
    // and not a cross-namespace reference (which translation refuses).
    assert_eq!(names, ["api-tls", "backend-ca", "partner-ca"]);
    assert!(wanted.iter().all(|(ns, _)| ns == "default"));
}
