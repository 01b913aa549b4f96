//! Table-driven tests of translation rules: each case is the clean partner-API set with one
//! deviation, and the diagnostic it must produce (object, field, reason).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use controller::manifests;
use controller::translate::{Severity, Translation, translate};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::json;

fn run(m: &Manifests) -> Translation {
    let loaded = manifests::load_text(std::path::Path::new("cases.yaml"), &m.to_yaml());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    translate(&loaded.inputs, jiff::Timestamp::now())
}

#[test]
fn each_rule_reports_object_field_and_reason() {
    let root = Ca::root("Partner Root");
    let base = || Manifests::partner_api(root.pem().as_bytes());
    let expired = Ca::root_valid("Old Root", -30, -1);
    let second_listener = |protocol: &str, host: &str| {
        json!({
            "apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
            "metadata": {"name": "second", "namespace": "default",
                         "creationTimestamp": "2030-01-01T00:00:00Z"},
            "spec": {"protocol": protocol, "port": 8443, "hostnames": [host],
                     "rules": [{"backend": {"service": "echo", "port": 80}}]},
        })
    };
    type Case = (
        &'static str,
        Manifests,
        &'static str,
        &'static str,
        &'static str,
        Severity,
    );
    let cases: Vec<Case> = vec![
        ("port shared across protocols", base().with(second_listener("HTTP", "www.example.com")),
         "Listener/default/second", "spec.port", "PortConflict", Severity::Error),
        ("hostname taken on the port", base().with(second_listener("HTTPS", "api.example.com")),
         "Listener/default/second", "spec.hostnames", "HostnameConflict", Severity::Error),
        ("invalid hostname", base().edit("Listener", "api", |l| l["spec"]["hostnames"] = json!(["bad_host.example.com"])),
         "Listener/default/api", "spec.hostnames[0]", "InvalidHostname", Severity::Error),
        ("match host outside the listener", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["matches"] = json!([{"host": "other.example.com"}])),
         "Listener/default/api", "spec.rules[0].matches[0].host", "HostNotInListener", Severity::Error),
        ("path without a slash", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["matches"] = json!([{"path": {"type": "Exact", "value": "api"}}])),
         "Listener/default/api", "spec.rules[0].matches[0].path.value", "InvalidPath", Severity::Error),
        ("path not in canonical form", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["matches"] = json!([{"path": {"type": "PathPrefix", "value": "/a/../%61dmin//x"}}])),
         "Listener/default/api", "spec.rules[0].matches[0].path.value", "InvalidPath", Severity::Error),
        ("path no request can have", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["matches"] = json!([{"path": {"type": "Exact", "value": "/a%2Fb"}}])),
         "Listener/default/api", "spec.rules[0].matches[0].path.value", "InvalidPath", Severity::Error),
        ("exclusion path not in canonical form", base().edit("SslProfile", "partner", |p| p["spec"]["clientAuthConfiguration"]["exclusionPaths"] = json!(["/health", "/public/./x"])),
         "SslProfile/default/partner", "spec.clientAuthConfiguration.exclusionPaths[1]", "InvalidExclusionPath", Severity::Error),
        ("header name with an underscore", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["requestHeaders"] = json!({"set": [{"name": "X_Client_DN", "value": "{var_client_certificate_subject}"}]})),
         "Listener/default/api", "spec.rules[0].requestHeaders.set[0].name", "InvalidHeaderName", Severity::Error),
        ("missing Service", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["backend"]["service"] = json!("nope")),
         "Listener/default/api", "spec.rules[0].backend.service", "BackendNotFound", Severity::Error),
        ("missing Service port", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["backend"]["port"] = json!(81)),
         "Listener/default/api", "spec.rules[0].backend.port", "BackendPortNotFound", Severity::Error),
        ("rule requiring a certificate under a Passthrough profile", base()
            .edit("SslProfile", "partner", |p| p["spec"]["clientAuthConfiguration"]["mode"] = json!("Passthrough"))
            .edit("Listener", "api", |l| l["spec"]["rules"][0]["requireClientCertificate"] = json!(true)),
         "Listener/default/api", "spec.rules[0].requireClientCertificate", "ClientCertificateNotRequested", Severity::Error),
        ("rule requiring a certificate without a profile", base()
            .edit("Listener", "api", |l| { l["spec"].as_object_mut().map(|o| o.remove("sslProfile")); l["spec"]["rules"][0]["requireClientCertificate"] = json!(true) }),
         "Listener/default/api", "spec.rules[0].requireClientCertificate", "ClientCertificateNotRequested", Severity::Error),
        ("HTTPS backend without trust", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["backendSettings"] = json!({"protocol": "HTTPS"})),
         "Listener/default/api", "spec.rules[0].backendSettings", "BackendTrustMissing", Severity::Error),
        ("unknown server variable", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["requestHeaders"] = json!({"set": [{"name": "X-Cert", "value": "{var_client_cert}"}]})),
         "Listener/default/api", "spec.rules[0].requestHeaders.set[0].value", "InvalidHeaderValue", Severity::Error),
        ("header set twice", base().edit("Listener", "api", |l| l["spec"]["rules"][0]["requestHeaders"] = json!({"set": [{"name": "X-A", "value": "1"}, {"name": "x-a", "value": "2"}]})),
         "Listener/default/api", "spec.rules[0].requestHeaders.set[1].name", "DuplicateHeader", Severity::Error),
        ("TLS settings on an HTTP listener", base().edit("Listener", "api", |l| l["spec"]["protocol"] = json!("HTTP")),
         "Listener/default/api", "spec.protocol", "TlsOnPlainListener", Severity::Error),
        ("TLS listener with two rules", base().edit("Listener", "api", |l| {
            l["spec"]["protocol"] = json!("TLS");
            l["spec"]["rules"] = json!([{"backend": {"service": "echo", "port": 80}}, {"backend": {"service": "echo", "port": 80}}]);
         }), "Listener/default/api", "spec.rules", "InvalidRules", Severity::Error),
        ("profile in another namespace", base().edit("Listener", "api", |l| l["spec"]["sslProfile"]["namespace"] = json!("other")),
         "Listener/default/api", "spec.sslProfile", "RefNotPermitted", Severity::Error),
        ("TLS Secret without a key", base().edit("Secret", "api-tls", |s| { s["data"].as_object_mut().expect("data").remove("tls.key"); }),
         "Listener/default/api", "spec.sslCertificate", "InvalidServerCertificate", Severity::Error),
        ("TLS Secret with garbage", base().edit("Secret", "api-tls", |s| s["data"]["tls.crt"] = json!("Z2FyYmFnZQ==")),
         "Listener/default/api", "spec.sslCertificate", "InvalidServerCertificate", Severity::Error),
        ("CA Secret without ca.crt", base().edit("Secret", "partner-ca", |s| s["data"] = json!({"tls.crt": "eA=="})),
         "SslProfile/default/partner", "spec.clientAuthConfiguration.trustedClientCertificates[0]", "CACertificateKeyMissing", Severity::Error),
        ("Required without trusted certificates", base().edit("SslProfile", "partner", |p| p["spec"]["clientAuthConfiguration"] = json!({"mode": "Required"})),
         "SslProfile/default/partner", "spec.clientAuthConfiguration.trustedClientCertificates", "NoTrustedCertificates", Severity::Error),
        ("exclusion paths outside Required", base().edit("SslProfile", "partner", |p| {
            p["spec"]["clientAuthConfiguration"]["mode"] = json!("Optional");
            p["spec"]["clientAuthConfiguration"]["exclusionPaths"] = json!(["/health"]);
         }), "SslProfile/default/partner", "spec.clientAuthConfiguration.exclusionPaths", "InvalidClientAuth", Severity::Error),
        ("Predefined policy with a version", base().edit("SslProfile", "partner", |p| p["spec"]["sslPolicy"] = json!({"policyType": "Predefined", "minProtocolVersion": "TLSv1_2"})),
         "SslProfile/default/partner", "spec.sslPolicy", "InvalidSslPolicy", Severity::Error),
        ("TLS 1.3 minimum with only TLS 1.2 suites", base().edit("SslProfile", "partner", |p| p["spec"]["sslPolicy"] = json!({"policyType": "Custom", "minProtocolVersion": "TLSv1_3", "cipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]})),
         "SslProfile/default/partner", "spec.sslPolicy.cipherSuites", "NoUsableCipherSuite", Severity::Error),
        ("server key of another certificate", base().edit("Secret", "api-tls", |s| s["data"]["tls.key"] = json!(STANDARD.encode(Ca::root("Unrelated").key_pem()))),
         "Listener/default/api", "spec.sslCertificate", "ServerKeyMismatch", Severity::Error),
        ("certificate not covering the hostname", base().edit("Listener", "api", |l| l["spec"]["hostnames"] = json!(["www.example.org"])),
         "Listener/default/api", "spec.hostnames[0]", "CertificateHostnameMismatch", Severity::Warning),
        ("expired CA", base().ca_secret("default", "partner-ca", expired.pem().as_bytes()),
         "SslProfile/default/partner", "spec.clientAuthConfiguration.trustedClientCertificates[0]", "CACertificateExpired", Severity::Warning),
    ];
    for (name, manifests, object, field, reason, severity) in cases {
        let t = run(&manifests);
        let found = t.diagnostics.iter().find(|d| d.reason == reason);
        let Some(d) = found else {
            panic!("{name}: no {reason} in {:#?}", t.diagnostics);
        };
        assert_eq!(d.object.to_string(), object, "{name}");
        assert_eq!(d.field, field, "{name}");
        assert_eq!(d.severity, severity, "{name}");
        assert!(
            d.message.ends_with(|c: char| c != ' ') && !d.message.is_empty(),
            "{name}: message"
        );
    }
}

#[test]
fn clean_set_has_no_diagnostics() {
    let root = Ca::root("Partner Root");
    let t = run(&Manifests::partner_api(root.pem().as_bytes()));
    assert!(t.diagnostics.is_empty(), "{:#?}", t.diagnostics);
}

#[test]
fn a_path_not_in_canonical_form_names_the_form_to_write() {
    let root = Ca::root("Partner Root");
    let t = run(
        &Manifests::partner_api(root.pem().as_bytes()).edit("Listener", "api", |l| {
            l["spec"]["rules"][0]["matches"] =
                json!([{"path": {"type": "PathPrefix", "value": "/a/../%61dmin//x"}}])
        }),
    );
    let messages: Vec<&str> = t.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "path \"/a/../%61dmin//x\" is not in canonical form: write \"/admin/x\" (requests are matched after dot segments are removed, escapes of unreserved characters decoded and repeated slashes merged)"
        ]
    );
}

#[test]
fn a_crl_warns_near_its_next_update_by_its_lifetime() {
    let root = Ca::root("Partner Root");
    let warned = |from_days: i64, to_days: i64| {
        let crl = root.crl(&[], from_days, to_days);
        let m = Manifests::partner_api(root.pem().as_bytes())
            .ca_secret_with_crl(
                "default",
                "partner-ca",
                root.pem().as_bytes(),
                crl.as_bytes(),
            )
            .edit("SslProfile", "partner", |p| {
                p["spec"]["clientAuthConfiguration"]["verifyClientRevocation"] = json!("CRL")
            });
        run(&m)
            .diagnostics
            .iter()
            .any(|d| d.reason == "CRLExpiringSoon")
    };
    assert!(!warned(0, 7), "a fresh 7-day CRL");
    assert!(warned(-6, 1), "a 7-day CRL with a day left");
    assert!(warned(-25, 5), "a 30-day CRL with 5 days left");
    assert!(!warned(-10, 20), "a 30-day CRL with 20 days left");
}
