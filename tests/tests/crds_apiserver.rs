//! The CRDs on a real kube-apiserver: they install, `kubectl explain` documents them, valid
//! objects apply, and the schema's own rules (enums, ranges, list limits, patterns, CEL rules
//! across fields, unknown fields) are enforced by the API server itself.

use portcullis_tests::cluster::TestCluster;
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::{Value, json};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn profile(client_auth: Value) -> Value {
    json!({
        "apiVersion": "portcullis.io/v1alpha1", "kind": "SslProfile",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"clientAuthConfiguration": client_auth},
    })
}

fn listener(spec: Value) -> Value {
    json!({
        "apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": spec,
    })
}

#[test]
fn crds_install_document_and_enforce_their_schema() {
    let cluster = TestCluster::start();
    // The CRDs apply and become Established.
    portcullis_tests::incluster::install_crds(&cluster);

    // A clean set applies as is.
    let root = Ca::root("Partner Root");
    // The API server refuses loopback endpoints; this test sends no traffic, so a
    // documentation address (TEST-NET-1) stands in.
    let clean = Manifests::partner_api(root.pem().as_bytes())
        .edit("EndpointSlice", "echo-1", |s| {
            s["endpoints"][0]["addresses"] = json!(["192.0.2.10"])
        })
        .to_yaml();
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &clean);
    assert!(
        out.status.success(),
        "clean manifests refused: {}",
        text(&out)
    );

    let out = cluster.kubectl(&["explain", "sslprofile.spec.clientAuthConfiguration.mode"]);
    assert!(
        text(&out).contains("Defaults to `Required`"),
        "{}",
        text(&out)
    );
    let out = cluster.kubectl(&["get", "sslprofiles", "-n", "default"]);
    let table = text(&out);
    for column in ["MODE", "ISSUER DN", "PROGRAMMED", "partner", "Required"] {
        assert!(table.contains(column), "{column} missing from\n{table}");
    }

    let many: Vec<Value> = (0..101)
        .map(|i| json!({"name": format!("ca-{i}")}))
        .collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "HTTPS without sslCertificate",
            listener(
                json!({"protocol": "HTTPS", "port": 443, "rules": [{"backend": {"service": "s", "port": 80}}]}),
            ),
            "HTTPS and TLS listeners need sslCertificate",
        ),
        (
            "port out of range",
            listener(json!({"protocol": "HTTP", "port": 70000})),
            "spec.port",
        ),
        (
            "unknown protocol",
            listener(json!({"protocol": "QUIC", "port": 443})),
            "Unsupported value: \"QUIC\"",
        ),
        (
            "TLS listener with two rules",
            listener(
                json!({"protocol": "TLS", "port": 443, "sslCertificate": {"name": "t"},
                         "rules": [{"backend": {"service": "s", "port": 80}}, {"backend": {"service": "s", "port": 80}}]}),
            ),
            "a TLS listener has exactly one rule",
        ),
        (
            "Required without trusted certificates",
            profile(json!({"mode": "Required"})),
            "modes Required and Optional need at least one entry in trustedClientCertificates",
        ),
        (
            "unknown mode",
            profile(json!({"mode": "Strict", "trustedClientCertificates": [{"name": "ca"}]})),
            "Unsupported value: \"Strict\"",
        ),
        (
            "101 trusted chains",
            profile(json!({"mode": "Required", "trustedClientCertificates": many})),
            "must have at most 100 items",
        ),
        (
            "exclusion path without a slash",
            profile(
                json!({"mode": "Required", "trustedClientCertificates": [{"name": "ca"}], "exclusionPaths": ["health"]}),
            ),
            "spec.clientAuthConfiguration.exclusionPaths[0]",
        ),
        (
            "exclusion paths with Optional",
            profile(
                json!({"mode": "Optional", "trustedClientCertificates": [{"name": "ca"}], "exclusionPaths": ["/health"]}),
            ),
            "exclusionPaths apply only to mode Required",
        ),
        (
            "revocation with mode None",
            profile(json!({"mode": "None", "verifyClientRevocation": "OCSP"})),
            "verifyClientRevocation needs a mode other than None",
        ),
        (
            "misspelt field",
            profile(json!({"mode": "Passthrough", "verifyClientCertIssuerDn": true})),
            "unknown field \"spec.clientAuthConfiguration.verifyClientCertIssuerDn\"",
        ),
    ];
    for (name, object, expected) in cases {
        let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &object.to_string());
        let said = text(&out);
        assert!(
            !out.status.success(),
            "{name}: the API server accepted it:\n{said}"
        );
        assert!(
            said.contains(expected),
            "{name}: expected {expected:?} in\n{said}"
        );
    }
}
