//! The same Ingresses on a real kube-apiserver, applied with kubectl: the controller (with the
//! chart's RBAC) serves them through a `portcullis dataplane`, writes their
//! `status.loadBalancer` from the publish Service, and announces their diagnostics as Events;
//! Ingresses of other classes are left alone.

use std::time::Duration;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::cluster::TestCluster;
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::incluster::{
    Controller, Dataplane, SYSTEM_NAMESPACE, controller_kubeconfig, install_crds, push_service,
};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::{Value, json};

use super::rows;
use super::support::https_get;
use super::world::World;

fn apply(cluster: &TestCluster, m: &Manifests) {
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &m.to_yaml());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get_json(cluster: &TestCluster, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let out = cluster.kubectl(&args);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// `(regarding name, reason)` of every Event in namespace `default`.
fn events(cluster: &TestCluster) -> Vec<(String, String)> {
    let v = get_json(cluster, &["get", "events.events.k8s.io", "-n", "default"]);
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&e["regarding"]["name"]), s(&e["reason"]))
        })
        .collect()
}

#[test]
fn ingresses_applied_with_kubectl_are_served_by_the_controller_and_a_dataplane() {
    let cluster = TestCluster::start();
    install_crds(&cluster);
    let dir = tempfile::tempdir().expect("dir");
    let kubeconfig = controller_kubeconfig(&cluster, dir.path());
    push_service(&cluster);
    let backend = EchoBackend::start();
    let backend_port = backend.addr.port();
    let w = World::new(backend_port);
    // The publish Service (ClusterIP: the API server assigns its address).
    let publish = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "portcullis-dataplane", "namespace": SYSTEM_NAMESPACE},
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}});
    // ingress-nginx's own class, with an Ingress of it, and an Ingress with an annotation
    // Portcullis does not carry out.
    let m = w
        .manifests
        .clone()
        .with(publish)
        .ingress_class("nginx", "k8s.io/ingress-nginx", false)
        .ingress("legacy", "nginx", "legacy.example", None, &[], "echo")
        .ingress(
            "rewritten",
            "portcullis",
            "rewritten.example",
            None,
            &[("rewrite-target", "/")],
            "echo",
        )
        // The API server refuses loopback addresses in EndpointSlices; `.localhost` names
        // are the loopback address (RFC 6761).
        .edit("EndpointSlice", "echo-1", |s| {
            s["addressType"] = "FQDN".into();
            s["endpoints"][0]["addresses"] = json!(["echo.localhost"]);
            s["ports"][0]["port"] = backend_port.into();
        });
    apply(&cluster, &m);
    let (http, https) = (free_port(), free_port());
    let dp = Dataplane::start(dir.path(), 0);
    dp.register(&cluster, 0);
    let flags = [
        format!("--ingress-http-port={http}"),
        format!("--ingress-https-port={https}"),
        format!("--publish-service={SYSTEM_NAMESPACE}/portcullis-dataplane"),
    ];
    let controller = Controller::start_with(
        &kubeconfig,
        dir.path(),
        0,
        &[flags[0].as_str(), flags[1].as_str(), flags[2].as_str()],
    );
    dp.mount_push_secret(&cluster);
    let root_pem = dir.path().join("server-root.pem");
    std::fs::write(&root_pem, w.server_root.pem()).expect("root");
    let get = https_get(https, &root_pem);
    let valid = Some((&w.valid, &[] as &[&Ca]));
    assert!(
        Standalone::eventually(Duration::from_secs(60), || get("on.example", valid, &[])
            .status
            == 200),
        "controller:\n{}\ndataplane:\n{}",
        controller.log(),
        dp.log()
    );
    rows::assert_behaves(&w, &get, &|| controller.log());

    // status.loadBalancer: the publish Service's cluster IP, on served Ingresses only.
    let svc = get_json(
        &cluster,
        &[
            "get",
            "service",
            "portcullis-dataplane",
            "-n",
            SYSTEM_NAMESPACE,
        ],
    );
    let ip = svc["spec"]["clusterIP"]
        .as_str()
        .expect("cluster IP")
        .to_owned();
    let address = |name: &str| {
        get_json(&cluster, &["get", "ingress", name, "-n", "default"])["status"]["loadBalancer"]
            ["ingress"][0]["ip"]
            .as_str()
            .map(str::to_owned)
    };
    assert!(
        Standalone::eventually(Duration::from_secs(30), || address("on.example").as_deref()
            == Some(ip.as_str())),
        "{:?}\n{}",
        address("on.example"),
        controller.log()
    );
    assert_eq!(
        address("legacy"),
        None,
        "an Ingress of class nginx was written to"
    );
    assert_eq!(address("other-class"), None);
    // An Ingress moved to another class: its address is given up, once (no write loop).
    let moved = cluster.kubectl(&[
        "patch",
        "ingress",
        "on.example",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"ingressClassName":"other"}}"#,
    ]);
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert!(
        Standalone::eventually(Duration::from_secs(30), || address("on.example").is_none()),
        "{:?}\n{}",
        address("on.example"),
        controller.log()
    );
    let version = || {
        get_json(&cluster, &["get", "ingress", "on.example", "-n", "default"])["metadata"]
            ["resourceVersion"]
            .as_str()
            .map(str::to_owned)
    };
    let released = version();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        version(),
        released,
        "the controller kept writing a released status"
    );

    // Diagnostics of Ingresses are Warning Events: the conflict on both Ingresses, the
    // annotation not carried out on its own.
    let expected = [
        ("conflict-a", "AuthTlsConflict"),
        ("conflict-b", "AuthTlsConflict"),
        ("rewritten", "AnnotationIgnored"),
    ];
    assert!(
        Standalone::eventually(Duration::from_secs(30), || {
            let seen = events(&cluster);
            expected
                .iter()
                .all(|(n, r)| seen.iter().any(|(sn, sr)| sn == n && sr == r))
        }),
        "{:?}",
        events(&cluster)
    );
    assert!(
        !events(&cluster).iter().any(|(n, _)| n == "legacy"),
        "an Ingress of another class got an Event"
    );
}
