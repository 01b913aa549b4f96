//! Translation rules, each from a clean world with one deviation: the diagnostics it must
//! produce (object, field, reason) and nothing else, and what the snapshot serves meanwhile.

use dataplane::config::ClientAuth;
use portcullis_tests::pki::Ca;

use super::fixtures::{World, listener, profile};
use super::{Reason, Severity, Translation};
use crate::api::ClientAuthMode;

/// A partner API: one HTTPS listener requiring client certificates from `partner-ca`.
fn clean() -> World {
    let (root, server_root) = (Ca::root("Partner Root"), Ca::root("Server Root"));
    World::new()
        .ca("partner-ca", &root)
        .tls("server-tls", &server_root.server(&["api.example.com"]))
        .service("echo")
        .profile(
            profile("partner")
                .trusting("partner-ca")
                .excluding("/health"),
        )
        .listener(listener("api").with_profile("partner"))
}

/// The errors of a translation: (object, field, reason).
fn errors(t: &Translation) -> Vec<(String, String, &'static str)> {
    t.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.object.to_string(), d.field.clone(), d.reason))
        .collect()
}

fn one_error(t: &Translation, object: &str, field: &str, reason: Reason) {
    assert_eq!(
        errors(t),
        [(object.to_owned(), field.to_owned(), reason.as_str())],
        "{:#?}",
        t.diagnostics
    );
    let d = t
        .diagnostics
        .iter()
        .find(|d| d.reason == reason.as_str())
        .expect("the diagnostic");
    // One sentence that names what to do, never a bare code.
    assert!(
        d.message.len() > 20 && !d.message.ends_with(' '),
        "{}",
        d.message
    );
}

#[test]
fn a_clean_world_serves_what_it_says() {
    let t = clean().translate();
    assert!(errors(&t).is_empty(), "{:#?}", t.diagnostics);
    let [port] = t.snapshot.ports.as_slice() else {
        panic!("one port: {:?}", t.snapshot.ports);
    };
    assert_eq!(port.port, 443);
    let server = &port.servers[0];
    assert_eq!(server.name, "default/api");
    assert!(server.refusal.is_none());
    let tls = server.tls.as_ref().expect("TLS");
    let ClientAuth::Required(v) = &tls.client_auth else {
        panic!("{:?}", tls.client_auth);
    };
    assert_eq!(v.exclusion_paths, ["/health"]);
    assert_eq!(v.trust.len(), 1);
}

#[test]
fn a_second_protocol_on_a_port_is_refused_on_the_newcomer() {
    let t = clean()
        .listener(listener("plain").plain().hostnames(&["www.example.com"]))
        .translate();
    one_error(
        &t,
        "Listener/default/plain",
        "spec.port",
        Reason::PortConflict,
    );
}

#[test]
fn a_hostname_belongs_to_one_listener_of_a_port() {
    let t = clean()
        .listener(listener("twin").with_profile("partner"))
        .translate();
    one_error(
        &t,
        "Listener/default/twin",
        "spec.hostnames",
        Reason::HostnameConflict,
    );
    // Another port may use the name.
    let t = clean()
        .listener(listener("twin").with_profile("partner").port(8443))
        .translate();
    assert!(errors(&t).is_empty(), "{:#?}", t.diagnostics);
}

#[test]
fn a_missing_profile_refuses_traffic_rather_than_serve_without_it() {
    let t = clean()
        .listener(
            listener("orphan")
                .with_profile("nope")
                .hostnames(&["b.example.com"]),
        )
        .translate();
    one_error(
        &t,
        "Listener/default/orphan",
        "spec.sslProfile",
        Reason::SslProfileNotFound,
    );
    let orphan = t.snapshot.ports[0]
        .servers
        .iter()
        .find(|s| s.name == "default/orphan")
        .expect("its hostnames stay claimed");
    assert!(orphan.refusal.is_some(), "fail closed");
}

#[test]
fn a_profile_trusting_a_missing_secret_makes_its_listeners_refuse() {
    let t = clean()
        .profile(profile("broken").trusting("absent-ca"))
        .listener(
            listener("b")
                .with_profile("broken")
                .hostnames(&["b.example.com"]),
        )
        .translate();
    let found = errors(&t);
    assert!(
        found.contains(&(
            "SslProfile/default/broken".into(),
            "spec.clientAuthConfiguration.trustedClientCertificates[0]".into(),
            "SecretNotFound"
        )),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|(o, _, r)| o == "Listener/default/b" && *r == "InvalidSslProfile"),
        "{found:#?}"
    );
    assert!(
        t.snapshot.ports[0]
            .servers
            .iter()
            .any(|s| s.name == "default/b" && s.refusal.is_some())
    );
}

#[test]
fn exclusion_paths_must_be_canonical() {
    let t = clean()
        .profile(
            profile("loose")
                .trusting("partner-ca")
                .excluding("/public/../admin"),
        )
        .translate();
    one_error(
        &t,
        "SslProfile/default/loose",
        "spec.clientAuthConfiguration.exclusionPaths[0]",
        Reason::InvalidExclusionPath,
    );
}

#[test]
fn a_rule_cannot_require_a_certificate_its_listener_never_verifies() {
    for mode in [ClientAuthMode::None, ClientAuthMode::Passthrough] {
        let t = World::new()
            .ca("partner-ca", &Ca::root("Partner Root"))
            .tls("server-tls", &Ca::root("S").server(&["api.example.com"]))
            .service("echo")
            .profile(profile("p").mode(mode).trusting("partner-ca"))
            .listener(
                listener("api")
                    .with_profile("p")
                    .prefix_rule("/admin", true),
            )
            .translate();
        let found = errors(&t);
        assert!(
            found
                .iter()
                .any(|(o, _, r)| o == "Listener/default/api"
                    && *r == "ClientCertificateNotRequested"),
            "{mode:?}: {found:#?}"
        );
    }
}
