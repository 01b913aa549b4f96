//! `portcullis controller` on a real kube-apiserver: status tells the truth about what was
//! applied with kubectl.

use std::time::Duration;

use portcullis_tests::cluster::TestCluster;
use portcullis_tests::gateway::Standalone;
use portcullis_tests::incluster::{
    Controller, conditions, controller_kubeconfig, has_condition, install_crds,
};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;

#[test]
fn status_reports_bad_bundles_and_recovers() {
    let cluster = TestCluster::start();
    install_crds(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    // The controller runs with the chart's RBAC, not as an administrator.
    let kubeconfig = controller_kubeconfig(&cluster, dir.path());
    let controller = Controller::start(&kubeconfig, dir.path(), 0);

    // A client's own certificate uploaded as the CA: refused, and said so in status.
    let leaf = Ca::root("Partner Root").client("device-1");
    let bad = Manifests::partner_api(leaf.pem().as_bytes()).edit("EndpointSlice", "echo-1", |s| {
        s["endpoints"][0]["addresses"] = serde_json::json!(["192.0.2.10"])
    });
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &bad.to_yaml());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reported = Standalone::eventually(Duration::from_secs(30), || {
        has_condition(
            &cluster,
            "sslprofile",
            "partner",
            ("ResolvedRefs", "False", "LeafCertificateOnly"),
        )
    });
    assert!(
        reported,
        "{:?}",
        conditions(&cluster, "sslprofile", "default", "partner")
    );
    // Status is written object by object: the Listener's may land a moment after the profile's.
    let listener_reported = Standalone::eventually(Duration::from_secs(10), || {
        has_condition(
            &cluster,
            "listener",
            "api",
            ("ResolvedRefs", "False", "InvalidSslProfile"),
        )
    });
    let listener = conditions(&cluster, "listener", "default", "api");
    assert!(listener_reported, "{listener:?}");
    assert!(
        has_condition(
            &cluster,
            "listener",
            "api",
            ("Programmed", "False", "Invalid")
        ),
        "{listener:?}"
    );
    // The refusal is an Event too, for `kubectl describe` and `kubectl get events`.
    let events = Standalone::eventually(Duration::from_secs(10), || {
        let out = cluster.kubectl(&["get", "events", "-n", "default", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["items"].as_array().is_some_and(|items| {
            items.iter().any(|e| {
                e["reason"] == "LeafCertificateOnly"
                    && e["type"] == "Warning"
                    && e["involvedObject"]["kind"] == "SslProfile"
                    && e["involvedObject"]["name"] == "partner"
            })
        })
    });
    assert!(
        events,
        "no Warning event for the refused SslProfile; controller log:\n{}",
        controller.log()
    );

    // The right upload: the CA chain. Status recovers, and shows the issuer DN.
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let good = Manifests::new().ca_secret(
        "default",
        "partner-ca",
        format!("{}{}", root.pem(), int.pem()).as_bytes(),
    );
    assert!(
        cluster
            .kubectl_stdin(&["apply", "-f", "-"], &good.to_yaml())
            .status
            .success()
    );
    let recovered = Standalone::eventually(Duration::from_secs(30), || {
        has_condition(
            &cluster,
            "sslprofile",
            "partner",
            ("ResolvedRefs", "True", "ResolvedRefs"),
        )
    });
    assert!(
        recovered,
        "{:?}",
        conditions(&cluster, "sslprofile", "default", "partner")
    );
    let table = String::from_utf8_lossy(
        &cluster
            .kubectl(&["get", "sslprofiles", "-n", "default"])
            .stdout,
    )
    .into_owned();
    assert!(
        table.contains("CN=Partner Issuing,O=Portcullis Test"),
        "{table}"
    );
    assert!(Standalone::eventually(Duration::from_secs(30), || {
        has_condition(
            &cluster,
            "listener",
            "api",
            ("ResolvedRefs", "True", "ResolvedRefs"),
        )
    }));
    // Valid, but no dataplane replica exists to serve it: Programmed says so.
    let listener = conditions(&cluster, "listener", "default", "api");
    assert!(
        has_condition(
            &cluster,
            "listener",
            "api",
            ("Programmed", "False", "NoDataplanes")
        ),
        "{listener:?}"
    );

    // The controller's metrics count reconciles by result and the current diagnostics.
    let (_, metrics, _) = portcullis_tests::client::curl(&[&format!(
        "http://127.0.0.1:{}/metrics",
        controller.admin_port
    )]);
    assert!(
        metrics.contains("portcullis_controller_reconciles_total{result=\"invalid\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_controller_reconciles_total{result=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_controller_leader 1"),
        "{metrics}"
    );
}

/// An SslProfile this version cannot read (here: a `mode` from a newer CRD) is refused on its
/// own, with the field named; every other object is still served. With `--watch-namespaces`,
/// objects elsewhere are left alone.
#[test]
fn an_unreadable_object_is_refused_alone_and_other_namespaces_are_left_alone() {
    let cluster = TestCluster::start();
    install_crds(&cluster);
    // A newer CRD: `mode` accepts values this controller does not know.
    let out = cluster.kubectl(&[
        "patch",
        "crd",
        "sslprofiles.portcullis.io",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/clientAuthConfiguration/properties/mode/enum"}]"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        cluster
            .kubectl(&["create", "namespace", "other"])
            .status
            .success()
    );

    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let bundle = format!("{}{}", root.pem(), int.pem());
    let objects = Manifests::partner_api(bundle.as_bytes())
        .edit("EndpointSlice", "echo-1", |s| {
            s["endpoints"][0]["addresses"] = serde_json::json!(["192.0.2.10"])
        })
        .ssl_profile("default", "future", "Sometimes", &["partner-ca"])
        .https_listener(
            "default/future-api",
            8444,
            "future.example.com",
            Some("api-tls"),
            Some("future"),
            "echo",
        )
        .ca_secret("other", "other-ca", bundle.as_bytes())
        .ssl_profile("other", "elsewhere", "Required", &["other-ca"]);
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &objects.to_yaml());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = controller_kubeconfig(&cluster, dir.path());
    let controller = Controller::start_with(
        &kubeconfig,
        dir.path(),
        0,
        &["--watch-namespaces", "default"],
    );

    // The readable objects are translated and reported despite their unreadable neighbour.
    let good = Standalone::eventually(Duration::from_secs(30), || {
        has_condition(
            &cluster,
            "sslprofile",
            "partner",
            ("ResolvedRefs", "True", "ResolvedRefs"),
        ) && has_condition(
            &cluster,
            "listener",
            "api",
            ("ResolvedRefs", "True", "ResolvedRefs"),
        )
    });
    assert!(
        good,
        "{:?}\ncontroller:\n{}",
        conditions(&cluster, "sslprofile", "default", "partner"),
        controller.log()
    );
    // The unreadable one says which field and why; its Listener refuses rather than serve
    // without the client authentication it asked for.
    let refused = Standalone::eventually(Duration::from_secs(10), || {
        has_condition(
            &cluster,
            "sslprofile",
            "future",
            ("Accepted", "False", "MalformedObject"),
        ) && has_condition(
            &cluster,
            "listener",
            "future-api",
            ("ResolvedRefs", "False", "InvalidSslProfile"),
        )
    });
    let future = conditions(&cluster, "sslprofile", "default", "future");
    assert!(refused, "{future:?}\ncontroller:\n{}", controller.log());
    let message = future
        .iter()
        .find(|(t, ..)| t == "Accepted")
        .map(|(.., m)| m.clone())
        .unwrap_or_default();
    assert!(
        message.contains("spec.clientAuthConfiguration.mode") && message.contains("Sometimes"),
        "{message}"
    );
    // Not watched: no status at all.
    assert!(
        conditions(&cluster, "sslprofile", "other", "elsewhere").is_empty(),
        "{:?}",
        conditions(&cluster, "sslprofile", "other", "elsewhere")
    );

    // Fixing the field is picked up like any change.
    let out = cluster.kubectl(&[
        "patch",
        "sslprofile",
        "future",
        "--type=merge",
        "-p",
        r#"{"spec":{"clientAuthConfiguration":{"mode":"Optional"}}}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        Standalone::eventually(Duration::from_secs(30), || has_condition(
            &cluster,
            "listener",
            "future-api",
            ("ResolvedRefs", "True", "ResolvedRefs")
        )),
        "{:?}",
        conditions(&cluster, "listener", "default", "future-api")
    );
}
