//! `portcullis controller` on a real kube-apiserver: status tells the truth about what was
//! applied with kubectl.

use std::time::Duration;

use portcullis_tests::cluster::TestCluster;
use portcullis_tests::gateway::Standalone;
use portcullis_tests::incluster::{Controller, conditions, controller_kubeconfig, install_crds};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;

/// `(type, status, reason)` of each condition of `kind/name` in namespace default.
fn condition_keys(cluster: &TestCluster, kind: &str, name: &str) -> Vec<(String, String, String)> {
    conditions(cluster, kind, "default", name)
        .into_iter()
        .map(|(t, s, r, _)| (t, s, r))
        .collect()
}

fn has(cs: &[(String, String, String)], kind: &str, status: &str, reason: &str) -> bool {
    cs.iter()
        .any(|(k, s, r)| k == kind && s == status && r == reason)
}

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
        has(
            &condition_keys(&cluster, "sslprofile", "partner"),
            "ResolvedRefs",
            "False",
            "LeafCertificateOnly",
        )
    });
    assert!(
        reported,
        "{:?}",
        condition_keys(&cluster, "sslprofile", "partner")
    );
    // Status is written object by object: the Listener's may land a moment after the profile's.
    let listener_reported = Standalone::eventually(Duration::from_secs(10), || {
        has(
            &condition_keys(&cluster, "listener", "api"),
            "ResolvedRefs",
            "False",
            "InvalidSslProfile",
        )
    });
    let listener = condition_keys(&cluster, "listener", "api");
    assert!(listener_reported, "{listener:?}");
    assert!(
        has(&listener, "Programmed", "False", "Invalid"),
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
        has(
            &condition_keys(&cluster, "sslprofile", "partner"),
            "ResolvedRefs",
            "True",
            "ResolvedRefs",
        )
    });
    assert!(
        recovered,
        "{:?}",
        condition_keys(&cluster, "sslprofile", "partner")
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
    assert!(Standalone::eventually(Duration::from_secs(30), || has(
        &condition_keys(&cluster, "listener", "api"),
        "ResolvedRefs",
        "True",
        "ResolvedRefs"
    )));
    // Valid, but no dataplane replica exists to serve it: Programmed says so.
    let listener = condition_keys(&cluster, "listener", "api");
    assert!(
        has(&listener, "Programmed", "False", "NoDataplanes"),
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
