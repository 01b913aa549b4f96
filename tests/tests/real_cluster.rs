//! The Helm chart's pods on a real single-node cluster (containerd, kubelet, kube-proxy,
//! `portcullis_tests::node`): install under the `restricted` Pod Security Standard, mTLS
//! through the dataplane Service to backend pods, rollouts and upgrades under load, the
//! controller leader's and a dataplane's pod deleted, CA rotation, uninstall — on the oldest
//! Kubernetes the chart supports and the newest this machine runs.
//!
//! One cluster per version is started once and shared by the tests, which run in order (some
//! build on what others installed) in namespaces of their own; the run fails if the host is not
//! restored afterwards. Run alone with `cargo test -p portcullis-tests --test real_cluster`;
//! `-- NAME` runs the tests whose names contain NAME (the chart is installed regardless),
//! `PORTCULLIS_K8S_VERSIONS=1.33.13` one version.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod real_cluster {
    pub mod chart;
    pub mod examples;
    pub mod failover;
    pub mod lifecycle;
    pub mod rotation;
    pub mod serving;
    pub mod tenant;
}

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use portcullis_tests::node::Node;
use real_cluster::{chart, examples, failover, lifecycle, rotation, serving};

/// The oldest Kubernetes the chart supports and the newest this machine's containerd (1.6,
/// Debian's) can run: the kubelet of 1.38 drops the fallback for containerd 1.6.
const VERSIONS: &[&str] = &["1.33.13", "1.37.2"];

type Test = fn(&Node);

/// In order: later tests use what earlier ones installed; uninstall is last.
const TESTS: &[(&str, Test)] = &[
    ("chart_pods_run_restricted", chart::pods_run_restricted),
    (
        "mtls_through_dataplane_service",
        serving::mtls_through_dataplane_service,
    ),
    (
        "ca_rotation_reaches_every_replica",
        rotation::ca_rotation_reaches_every_replica,
    ),
    (
        "examples_serve_on_the_node",
        examples::examples_serve_on_the_node,
    ),
    ("dataplane_pod_deleted", lifecycle::dataplane_pod_deleted),
    (
        "dataplane_serves_without_controller",
        lifecycle::dataplane_serves_without_controller,
    ),
    ("leader_pod_deleted", failover::leader_pod_deleted),
    (
        "rollout_restart_drops_nothing",
        lifecycle::rollout_restart_drops_nothing,
    ),
    (
        "helm_upgrade_drops_nothing",
        lifecycle::helm_upgrade_drops_nothing,
    ),
    (
        "helm_uninstall_leaves_nothing",
        chart::uninstall_leaves_nothing,
    ),
];

/// The host check can fail: an address, a netfilter table and a kernel parameter changed
/// here are each reported, and gone once undone.
fn host_check_sees_changes() {
    use portcullis_tests::node::host::HostState;
    let run = |program: &str, args: &[&str]| {
        let ok = std::process::Command::new(program)
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{program} {args:?}");
    };
    let before = HostState::read();
    let forwarding =
        std::fs::read_to_string("/proc/sys/net/ipv4/conf/lo/forwarding").expect("sysctl");
    let flipped = if forwarding.trim() == "0" { "1" } else { "0" };
    run("ip", &["addr", "add", "10.245.99.1/32", "dev", "lo"]);
    run("nft", &["add", "table", "ip", "portcullis_test_probe"]);
    std::fs::write("/proc/sys/net/ipv4/conf/lo/forwarding", flipped).expect("write sysctl");
    let changed = before.differences(&HostState::read());
    run("ip", &["addr", "del", "10.245.99.1/32", "dev", "lo"]);
    run("nft", &["delete", "table", "ip", "portcullis_test_probe"]);
    std::fs::write("/proc/sys/net/ipv4/conf/lo/forwarding", forwarding.trim())
        .expect("write sysctl");
    let text = changed.join("\n");
    assert!(
        text.contains("address added: lo inet 10.245.99.1/32"),
        "{text}"
    );
    assert!(text.contains("portcullis_test_probe"), "{text}");
    assert!(
        text.contains("sysctl net/ipv4/conf/lo/forwarding"),
        "{text}"
    );
    let left = before.differences(&HostState::read());
    assert!(left.is_empty(), "{left:?}");
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let versions: Vec<String> = std::env::var("PORTCULLIS_K8S_VERSIONS")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| VERSIONS.iter().map(|v| (*v).to_owned()).collect());
    let selected = |name: &str| {
        name == "chart_pods_run_restricted"
            || filter.is_empty()
            || filter.iter().any(|f| name.contains(f.as_str()))
    };
    let (mut passed, mut failed) = (0, Vec::new());
    if std::panic::catch_unwind(host_check_sees_changes).is_ok() {
        println!("test host_check_sees_changes ... ok");
        passed += 1;
    } else {
        println!("test host_check_sees_changes ... FAILED");
        failed.push("host_check_sees_changes".to_owned());
    }
    for version in &versions {
        let started = Instant::now();
        let node = Node::start(version, &[chart::TAG, chart::NEXT_TAG]);
        eprintln!(
            "Kubernetes v{version}: node Ready in {:.1?}",
            started.elapsed()
        );
        for (name, test) in TESTS.iter().filter(|(n, _)| selected(n)) {
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| test(&node)));
            let took = started.elapsed();
            if outcome.is_ok() {
                println!("test v{version}/{name} ... ok ({took:.1?})");
                passed += 1;
            } else {
                println!("test v{version}/{name} ... FAILED ({took:.1?})");
                failed.push(format!("v{version}/{name}"));
            }
        }
        let differences = node.teardown();
        if differences.is_empty() {
            println!("test v{version}/host_restored ... ok");
            passed += 1;
        } else {
            println!(
                "test v{version}/host_restored ... FAILED\n{}",
                differences.join("\n")
            );
            failed.push(format!("v{version}/host_restored"));
        }
    }
    let result = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {result}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out",
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures:\n    {}", failed.join("\n    "));
        std::process::exit(101);
    }
}
