//! `portcullis controller` on a real kube-apiserver: status tells the truth about what was
//! applied with kubectl.

use std::process::{Command, Stdio};
use std::time::Duration;

use portcullis_tests::cluster::TestCluster;
use portcullis_tests::gateway::{KillOnDrop, Standalone, portcullis_bin};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::Value;

/// The conditions of `kind/name` in namespace default as (type → (status, reason)).
fn conditions(cluster: &TestCluster, kind: &str, name: &str) -> Vec<(String, String, String)> {
    let out = cluster.kubectl(&["get", kind, name, "-n", "default", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["type"].as_str().unwrap_or("").to_owned(),
                        c["status"].as_str().unwrap_or("").to_owned(),
                        c["reason"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has(cs: &[(String, String, String)], kind: &str, status: &str, reason: &str) -> bool {
    cs.iter()
        .any(|(k, s, r)| k == kind && s == status && r == reason)
}

#[test]
fn status_reports_bad_bundles_and_recovers() {
    let cluster = TestCluster::start();
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/portcullis.io.yaml");
    assert!(
        cluster
            .kubectl(&["apply", "--server-side", "-f", crds])
            .status
            .success()
    );
    assert!(
        cluster
            .kubectl(&[
                "wait",
                "--for",
                "condition=Established",
                "--timeout=60s",
                "crd/sslprofiles.portcullis.io",
                "crd/listeners.portcullis.io"
            ])
            .status
            .success()
    );
    let _controller = KillOnDrop(
        Command::new(portcullis_bin())
            .arg("controller")
            .env("KUBECONFIG", cluster.kubeconfig())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start controller"),
    );

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
            &conditions(&cluster, "sslprofile", "partner"),
            "ResolvedRefs",
            "False",
            "LeafCertificateOnly",
        )
    });
    assert!(
        reported,
        "{:?}",
        conditions(&cluster, "sslprofile", "partner")
    );
    let listener = conditions(&cluster, "listener", "api");
    assert!(
        has(&listener, "ResolvedRefs", "False", "InvalidSslProfile"),
        "{listener:?}"
    );
    assert!(
        has(&listener, "Programmed", "False", "Invalid"),
        "{listener:?}"
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
            &conditions(&cluster, "sslprofile", "partner"),
            "ResolvedRefs",
            "True",
            "ResolvedRefs",
        )
    });
    assert!(
        recovered,
        "{:?}",
        conditions(&cluster, "sslprofile", "partner")
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
        &conditions(&cluster, "listener", "api"),
        "ResolvedRefs",
        "True",
        "ResolvedRefs"
    )));
}
