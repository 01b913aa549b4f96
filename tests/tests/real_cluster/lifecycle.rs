//! The dataplane's life on a real node, with clients sending all along: `kubectl rollout
//! restart`, `helm upgrade` to a new image tag and configuration (and a NodePort Service), a pod deleted, a container
//! killed while no controller runs. Each request is a new connection and must be answered
//! 200: the preStop sleep keeps a leaving pod serving while kube-proxy stops sending it new
//! connections, SIGTERM then drains, and a new pod is Ready only once it has a snapshot.

use std::time::Duration;

use portcullis_tests::node::Node;
use portcullis_tests::node::config::NODE_IP;

use super::chart::{self, NAMESPACE, NEXT_TAG};
use super::tenant::{Tenant, assert_all_answered, container_id, dataplane_pods, dataplane_service};

fn rollout_status(node: &Node, deployment: &str) {
    node.kubectl_ok(&[
        "rollout",
        "status",
        &format!("deployment/{deployment}"),
        "-n",
        NAMESPACE,
        "--timeout=240s",
    ]);
}

/// The dataplane Deployment's ready replicas.
fn ready_replicas(node: &Node) -> String {
    node.kubectl_ok(&[
        "get",
        "deployment",
        "portcullis-dataplane",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.status.readyReplicas}",
    ])
}

pub fn rollout_restart_drops_nothing(node: &Node) {
    let tenant = Tenant::ready(node, "tenant-rollout");
    let before = dataplane_pods(node);
    let load = tenant.load(node, &tenant.client);
    node.kubectl_ok(&[
        "rollout",
        "restart",
        "deployment/portcullis-dataplane",
        "-n",
        NAMESPACE,
    ]);
    rollout_status(node, "portcullis-dataplane");
    std::thread::sleep(Duration::from_secs(2));
    assert_all_answered("rollout restart", &load.stop());
    let after = dataplane_pods(node);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "every dataplane pod was replaced: {before:?} → {after:?}"
    );
}

pub fn helm_upgrade_drops_nothing(node: &Node) {
    let tenant = Tenant::ready(node, "tenant-upgrade");
    let load = tenant.load(node, &tenant.client);
    let chart = Node::chart().display().to_string();
    let mut args = vec![
        "upgrade",
        "portcullis",
        &chart,
        "-n",
        NAMESPACE,
        "--reuse-values",
        "--wait",
        "--timeout",
        "300s",
        "--set",
        "log.format=json",
    ];
    let values = chart::values(NEXT_TAG);
    args.extend(values.iter().map(String::as_str));
    // And the Service becomes a NodePort (its ClusterIP stays): clients keep using it.
    args.extend(["--set", "dataplane.service.type=NodePort"]);
    chart::helm(node, &args);
    rollout_status(node, "portcullis-dataplane");
    rollout_status(node, "portcullis-controller");
    std::thread::sleep(Duration::from_secs(2));
    assert_all_answered("helm upgrade", &load.stop());
    for deployment in ["portcullis-dataplane", "portcullis-controller"] {
        let spec = node.kubectl_ok(&[
            "get", "deployment", deployment, "-n", NAMESPACE, "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].args}",
        ]);
        assert!(
            spec.starts_with(&format!("portcullis.test/portcullis:{NEXT_TAG} ")),
            "{spec}"
        );
        assert!(spec.contains("--log-format=json"), "{spec}");
    }
    // The node port answers on the node's address (kube-proxy's --nodeport-addresses).
    let node_port = dataplane_service(node, "{.spec.ports[?(@.name==\"https\")].nodePort}");
    let via_node = format!("{NODE_IP}:{node_port}")
        .parse()
        .expect("node port address");
    let (status, body) = tenant
        .get(
            &tenant.config(Some(&tenant.client)),
            via_node,
            "/via-node-port",
        )
        .expect("request through the node port");
    assert_eq!(status, 200, "{body}");
    // The new controller pods lead and write status: a change is programmed and observed.
    tenant.change_rules(node, "/v2");
    tenant.first_ok(
        node,
        &tenant.config(Some(&tenant.client)),
        Duration::from_secs(30),
    );
}

pub fn dataplane_pod_deleted(node: &Node) {
    let tenant = Tenant::ready(node, "tenant-replace");
    let before = dataplane_pods(node);
    let load = tenant.load(node, &tenant.client);
    node.kubectl_ok(&[
        "delete",
        "pod",
        &before[0].0,
        "-n",
        NAMESPACE,
        "--wait=false",
    ]);
    node.wait(
        "a replacement dataplane pod",
        Duration::from_secs(120),
        |n| {
            let now = dataplane_pods(n);
            now.len() == 2 && !now.contains(&before[0])
        },
    );
    rollout_status(node, "portcullis-dataplane");
    std::thread::sleep(Duration::from_secs(2));
    assert_all_answered("a dataplane pod deleted", &load.stop());
    // The new pod was Ready only with the snapshot: it serves the tenant at once.
    for (pod, ip) in dataplane_pods(node) {
        let (status, body) = tenant
            .get_from_pod(Some(&tenant.client), &ip)
            .expect("request");
        assert_eq!(status, 200, "{pod}: {body}");
    }
}

/// With no controller running: a dataplane container killed (SIGKILL, as the OOM killer
/// would) is restarted by the kubelet in the same pod and serves its last snapshot from its
/// state directory; a dataplane pod deleted is replaced by a new pod that serves the snapshot
/// the controller last published — both without a push, and with clients sending throughout.
pub fn dataplane_serves_without_controller(node: &Node) {
    let tenant = Tenant::ready(node, "tenant-restart");
    node.kubectl_ok(&[
        "scale",
        "deployment/portcullis-controller",
        "-n",
        NAMESPACE,
        "--replicas=0",
    ]);
    node.wait(
        "the controller pods to be gone",
        Duration::from_secs(60),
        |n| {
            n.kubectl_ok(&[
                "get",
                "pods",
                "-n",
                NAMESPACE,
                "-l",
                "app.kubernetes.io/component=controller",
                "-o",
                "name",
            ])
            .trim()
            .is_empty()
        },
    );
    let (pod, ip) = dataplane_pods(node).remove(0);
    let restarts = |n: &Node| {
        n.kubectl_ok(&[
            "get", "pod", &pod, "-n", NAMESPACE, "-o",
            "jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}",
        ])
    };
    let before = restarts(node);
    let count: u32 = before
        .split(' ')
        .next()
        .and_then(|c| c.parse().ok())
        .expect("restart count");
    node.kill_container(&container_id(node, &pod));
    node.wait(
        "the kubelet to restart the dataplane container, Ready",
        Duration::from_secs(60),
        |n| restarts(n) == format!("{} true", count + 1),
    );
    let (status, body) = tenant
        .get_from_pod(Some(&tenant.client), &ip)
        .expect("request");
    assert_eq!(status, 200, "{pod}, restarted without a controller: {body}");

    let load = tenant.load(node, &tenant.client);
    let (gone, _) = dataplane_pods(node).remove(1);
    node.kubectl_ok(&["delete", "pod", &gone, "-n", NAMESPACE, "--wait=false"]);
    node.wait(
        "a new dataplane pod, Ready without a controller",
        Duration::from_secs(90),
        |n| {
            let pods = dataplane_pods(n);
            pods.len() == 2 && pods.iter().all(|(p, _)| *p != gone) && ready_replicas(n) == "2"
        },
    );
    for (pod, ip) in dataplane_pods(node) {
        let (status, body) = tenant
            .get_from_pod(Some(&tenant.client), &ip)
            .expect("request");
        assert_eq!(status, 200, "{pod}, without a controller: {body}");
    }
    assert_all_answered("dataplanes replaced without a controller", &load.stop());
    node.kubectl_ok(&[
        "scale",
        "deployment/portcullis-controller",
        "-n",
        NAMESPACE,
        "--replicas=2",
    ]);
    rollout_status(node, "portcullis-controller");
}
