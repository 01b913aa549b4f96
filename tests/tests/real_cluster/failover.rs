//! The controller's leader election between real pods: the leader's pod deleted (it releases
//! the Lease on SIGTERM) and the leader frozen, as if cut off (the Lease must expire); either
//! way a standby leads within the documented time (about 10 s: an 8 s Lease, renewed or tried
//! every 2 s), traffic never stops (dataplanes serve what they have), and status is written
//! again. The frozen leader, thawed, finds it lost and stays a standby.

use std::time::{Duration, Instant};

use portcullis_tests::node::Node;

use super::chart::NAMESPACE;
use super::tenant::{Tenant, assert_all_answered, container_id};

/// The Lease's holder: `<pod>_<pid>`.
fn holder(node: &Node) -> String {
    node.kubectl_ok(&[
        "get",
        "lease",
        "portcullis-controller",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ])
}

/// Waits until the Lease names a holder other than `old`; returns how long that took.
fn takeover(node: &Node, old: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    node.wait("a standby to take the Lease", limit, |n| {
        let h = holder(n);
        !h.is_empty() && h != old
    });
    started.elapsed()
}

pub fn leader_pod_deleted(node: &Node) {
    let tenant = Tenant::ready(node, "tenant-failover");
    let load = tenant.load(node, &tenant.client);

    let leader = holder(node);
    let pod = leader.split('_').next().expect("pod name").to_owned();
    node.kubectl_ok(&["delete", "pod", &pod, "-n", NAMESPACE, "--wait=false"]);
    let took = takeover(node, &leader, Duration::from_secs(12));
    eprintln!("leader pod deleted: a standby led after {took:.1?}");
    tenant.change_rules(node, "/after-delete");

    // Frozen: no release, the standby waits the Lease out.
    let leader = holder(node);
    let pod = leader.split('_').next().expect("pod name").to_owned();
    // A replacement pod may have won the Lease before the kubelet reported its container.
    node.wait("the leader's container ID", Duration::from_secs(20), |n| {
        !container_id(n, &pod).is_empty()
    });
    let id = container_id(node, &pod);
    node.freeze_container(&id);
    let took = takeover(node, &leader, Duration::from_secs(14));
    eprintln!("leader frozen: a standby led after {took:.1?}");
    tenant.change_rules(node, "/after-freeze");
    node.thaw_container(&id);
    let new_leader = holder(node);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        holder(node),
        new_leader,
        "the thawed leader took the Lease back"
    );
    tenant.change_rules(node, "/after-thaw");

    std::thread::sleep(Duration::from_secs(1));
    assert_all_answered("controller failovers", &load.stop());
    node.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/portcullis-controller",
        "-n",
        NAMESPACE,
        "--timeout=120s",
    ]);
}
