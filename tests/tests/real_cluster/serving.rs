//! mTLS through real pods: a client outside the cluster reaches the dataplane Service's
//! ClusterIP (kube-proxy's rules), the dataplane pods verify it and proxy to backend pods
//! found through EndpointSlices Kubernetes filled; refusals are answered and logged as
//! documented, and `kubectl logs` shows them.

use std::collections::BTreeSet;
use std::time::Duration;

use portcullis_tests::node::Node;
use portcullis_tests::pki::Ca;

use super::chart::NAMESPACE;
use super::tenant::Tenant;

pub fn mtls_through_dataplane_service(node: &Node) {
    let tenant = Tenant::create(node, "tenant-serve");
    let config = tenant.config(Some(&tenant.client));
    let echo = tenant.first_ok(node, &config, Duration::from_secs(30));
    assert_eq!(echo["namespace"], "tenant-serve", "{echo}");
    assert_eq!(echo["path"], "/hello", "{echo}");
    let addr = Tenant::address(node);
    // Both backend pods answer: the dataplane balances over the EndpointSlice's endpoints
    // (the second pod's endpoint may reach the dataplanes a push after the first). Every
    // answer is a 200 carrying the client's identity, as ingress-nginx passes it.
    let mut pods = BTreeSet::new();
    node.wait_for(
        "both backend pods to answer",
        Duration::from_secs(30),
        |_| {
            let (status, body) = tenant.get(&config, addr, "/who").expect("request");
            assert_eq!(status, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).expect("echo JSON");
            pods.insert(v["pod"].as_str().unwrap_or_default().to_owned());
            let headers = &v["headers"];
            assert_eq!(headers["Ssl-Client-Verify"][0], "SUCCESS", "{headers}");
            assert!(
                headers["Ssl-Client-Subject-Dn"][0]
                    .as_str()
                    .is_some_and(|dn| dn.contains("CN=device-1.tenant-serve")),
                "{headers}"
            );
            if pods.len() == 2 {
                Ok(())
            } else {
                Err(pods.clone())
            }
        },
    );

    let none = tenant
        .get(&tenant.config(None), addr, "/who")
        .expect("request");
    assert_eq!(
        (none.0, none.1.trim()),
        (
            400,
            "400 Bad Request: client certificate refused: no client certificate presented"
        )
    );
    let other = Ca::root("Other Root");
    let intruder = other.client("intruder");
    let refused = tenant
        .get(&tenant.config(Some(&intruder)), addr, "/who")
        .expect("request");
    assert_eq!(
        (refused.0, refused.1.trim()),
        (
            400,
            "400 Bad Request: client certificate refused: unable to verify the first certificate"
        ),
    );
    // The refusal is in a dataplane pod's access log, read the way an operator reads it.
    node.wait(
        "the refusal in the dataplane's log",
        Duration::from_secs(20),
        |n| {
            let logs = n.kubectl(&[
                "logs",
                "-n",
                NAMESPACE,
                "-l",
                "app.kubernetes.io/component=dataplane",
                "--tail=200",
                "--prefix",
            ]);
            let text = String::from_utf8_lossy(&logs.stdout);
            text.contains("intruder") && text.contains("unable to verify the first certificate")
        },
    );
}
