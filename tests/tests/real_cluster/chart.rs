//! The chart installed as the README says (helm, into a namespace that enforces the
//! `restricted` Pod Security Standard), what its pods really run as, and `helm uninstall`.

use std::time::Duration;

use portcullis_tests::node::Node;
use portcullis_tests::node::images::PORTCULLIS_REPOSITORY;

/// The release namespace.
pub const NAMESPACE: &str = "portcullis-system";
/// The image tag installed first, and the one upgrades move to (the same binary: an upgrade
/// is a new pod template either way).
pub const TAG: &str = "t1";
pub const NEXT_TAG: &str = "t2";

/// Every object before the install, for the uninstall to compare with.
static BEFORE: std::sync::Mutex<Option<std::collections::BTreeSet<String>>> =
    std::sync::Mutex::new(None);

/// `helm install` arguments with `tag` and extra `--set` values. ClusterIP: no load-balancer
/// controller runs here (the default LoadBalancer Service would never get an address).
pub fn values(tag: &str) -> Vec<String> {
    [
        format!("image.repository={PORTCULLIS_REPOSITORY}"),
        format!("image.tag={tag}"),
        "image.pullPolicy=Never".into(),
        "dataplane.service.type=ClusterIP".into(),
    ]
    .into_iter()
    .flat_map(|v| ["--set".to_owned(), v])
    .collect()
}

/// Runs helm and panics with its output when it fails.
pub fn helm(node: &Node, args: &[&str]) -> String {
    let out = node.helm(args);
    assert!(
        out.status.success(),
        "helm {}: {}{}\npods:\n{}\nevents:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        node.kubectl_ok(&["get", "pods", "-A", "-o", "wide"]),
        node.kubectl_ok(&["get", "events", "-n", NAMESPACE]),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything in the cluster as `kind/namespace/name` lines, for before/after comparisons.
pub fn all_objects(node: &Node) -> std::collections::BTreeSet<String> {
    let kinds = node.kubectl_ok(&["api-resources", "--verbs=list", "-o", "name"]);
    let kinds: Vec<&str> = kinds
        .lines()
        // Events come and go by themselves.
        .filter(|k| !k.starts_with("events"))
        .collect();
    let out = node.kubectl_ok(&[
        "get",
        &kinds.join(","),
        "-A",
        "--ignore-not-found",
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_owned).collect()
}

/// The chart installs under `restricted`, every pod becomes Ready, and each container runs as
/// the chart says — read from the processes themselves, not from the pod spec: UID and GID
/// 65532, no capability at all (the dataplane binds 443 through its pod's unprivileged-port
/// sysctl, as the runtime here grants no low ports), no new privileges, a seccomp filter, a
/// read-only root; the image has no shell to exec.
pub fn pods_run_restricted(node: &Node) {
    *BEFORE.lock().unwrap() = Some(all_objects(node));
    node.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n  labels:\n    \
         pod-security.kubernetes.io/enforce: restricted\n    \
         pod-security.kubernetes.io/enforce-version: latest\n"
    ));
    let chart = Node::chart().display().to_string();
    // Ready takes about 10 s; the bound catches dataplanes waiting for the kubelet's next
    // volume sync (60-90 s) instead of starting once the push Secret exists.
    let mut args = vec![
        "install",
        "portcullis",
        &chart,
        "-n",
        NAMESPACE,
        "--wait",
        "--timeout",
        "60s",
    ];
    let values = values(TAG);
    args.extend(values.iter().map(String::as_str));
    let started = std::time::Instant::now();
    helm(node, &args);
    eprintln!(
        "helm install: every pod Ready after {:.1?}",
        started.elapsed()
    );

    // Enforcement is on: a pod that does not say what `restricted` asks (non-root, no
    // privilege escalation, capabilities dropped, a seccomp profile) is refused there.
    let refused = node.kubectl(&[
        "run",
        "plain",
        "-n",
        NAMESPACE,
        "--image",
        "portcullis.test/echo-basic:1",
        "--image-pull-policy=Never",
    ]);
    assert!(
        !refused.status.success(),
        "a pod breaking `restricted` was admitted"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("violates PodSecurity \"restricted:latest\""),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    for component in ["controller", "dataplane"] {
        let pods = node.kubectl_ok(&[
            "get", "pods", "-n", NAMESPACE, "-l",
            &format!("app.kubernetes.io/component={component}"),
            "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].containerID}{\"\\n\"}{end}",
        ]);
        let pods: Vec<(&str, &str)> = pods.lines().filter_map(|l| l.split_once(' ')).collect();
        assert_eq!(pods.len(), 2, "two {component} pods: {pods:?}");
        for (pod, id) in pods {
            let id = id.trim_start_matches("containerd://");
            let pid = node.container_pid(id);
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            };
            assert_eq!(field("Uid:"), "65532 65532 65532 65532", "{pod}");
            assert_eq!(field("Gid:"), "65532 65532 65532 65532", "{pod}: group");
            assert_eq!(field("Groups:"), "65532", "{pod}: supplementary groups");
            for set in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
                assert_eq!(field(set), "0000000000000000", "{pod}: {set}");
            }
            assert_eq!(field("NoNewPrivs:"), "1", "{pod}");
            assert_eq!(field("Seccomp:"), "2", "{pod}: a seccomp filter");
            let mounts =
                std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
            let root = mounts
                .lines()
                .find(|l| l.split(' ').nth(4) == Some("/"))
                .expect("root mount");
            assert!(
                root.split(' ')
                    .nth(5)
                    .is_some_and(|o| o.split(',').any(|f| f == "ro")),
                "{pod}: root filesystem not read-only: {root}"
            );
            let shell = node.kubectl(&["exec", "-n", NAMESPACE, pod, "--", "sh", "-c", "true"]);
            assert!(!shell.status.success(), "{pod}: a shell ran in the image");
        }
    }
}

/// `helm uninstall` removes every object the chart and its controller made; what stays is
/// what docs/install.md says stays (the CRDs) and the namespace the user created.
pub fn uninstall_leaves_nothing(node: &Node) {
    helm(
        node,
        &[
            "uninstall",
            "portcullis",
            "-n",
            NAMESPACE,
            "--wait",
            "--timeout",
            "120s",
        ],
    );
    node.wait(
        "the chart's pods to be gone",
        Duration::from_secs(90),
        |n| {
            n.kubectl_ok(&["get", "pods", "-n", NAMESPACE, "-o", "name"])
                .trim()
                .is_empty()
        },
    );
    let before = BEFORE
        .lock()
        .unwrap()
        .take()
        .expect("objects read before the install");
    let leftovers = || -> Vec<String> {
        all_objects(node)
            .difference(&before)
            // The chart's namespaced objects live in its namespace; tenants' objects are theirs.
            .filter(|o| o.contains(&format!("/{NAMESPACE}/")) || o.contains("//"))
            // Helm keeps CRDs (docs/install.md), and Kubernetes serves their group while they
            // exist; namespaces are the user's (and the tests').
            .filter(|o| {
                !o.starts_with("CustomResourceDefinition/")
                && *o != "APIService//v1alpha1.portcullis.io"
                && !o.starts_with("Namespace/")
                // A Service's ClusterIP record (cluster-scoped): the Services are checked.
                && !o.starts_with("IPAddress/")
            })
            // What Kubernetes itself puts in every namespace.
            .filter(|o| {
                *o != &format!("ServiceAccount/{NAMESPACE}/default")
                    && *o != &format!("ConfigMap/{NAMESPACE}/kube-root-ca.crt")
            })
            .cloned()
            .collect()
    };
    // The garbage collector and the ClusterIP allocator clean up after the API calls return.
    node.wait_for(
        "nothing of the chart left behind",
        Duration::from_secs(60),
        |_| {
            let left = leftovers();
            if left.is_empty() { Ok(()) } else { Err(left) }
        },
    );
}
