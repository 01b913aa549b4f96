//! The Helm chart, rendered by a real helm (built once into the shared cache) and checked by
//! the test kube-apiserver: lint, template for the default values and a matrix, a server-side
//! dry-run of every rendered object (ServiceMonitor against prometheus-operator's real CRD),
//! and `helm install`, after which a controller with the chart's ServiceAccount token programs
//! an example end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::curl;
use portcullis_tests::cluster::{TestCluster, harness_cache};
use portcullis_tests::examples::{ExamplePki, examples_root};
use portcullis_tests::gateway::{Standalone, free_port, portcullis_bin};
use portcullis_tests::incluster::{
    Controller, Dataplane, SYSTEM_NAMESPACE, conditions, has_condition, install_third_party_crds,
    service_account_kubeconfig,
};

fn helm() -> PathBuf {
    harness_cache("build-helm.sh").join("helm")
}

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/portcullis")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `helm template` of the chart with `--set` values.
fn template(helm: &Path, set: &[&str]) -> Output {
    let mut cmd = Command::new(helm);
    cmd.args(["template", "portcullis"]).arg(chart()).args([
        "--namespace",
        SYSTEM_NAMESPACE,
        "--kube-version",
        "1.33.0",
    ]);
    for s in set {
        cmd.args(["--set", s]);
    }
    cmd.output().expect("helm template")
}

#[test]
fn the_chart_lints_renders_and_applies_server_side() {
    let helm = helm();
    let lint = Command::new(&helm)
        .args(["lint", "--strict"])
        .arg(chart())
        .output()
        .expect("helm lint");
    assert!(lint.status.success(), "{}", text(&lint));

    // The chart carries the generated CRDs unchanged.
    let crds = |p: PathBuf| std::fs::read_to_string(p).expect("read CRDs");
    assert_eq!(
        crds(chart().join("crds/portcullis.io.yaml")),
        crds(chart().join("../../crds/portcullis.io.yaml")),
        "charts/portcullis/crds/ drifted from crds/: copy crds/portcullis.io.yaml"
    );

    // values.schema.json and the template's own checks refuse bad values with a message.
    for (set, message) in [
        (
            &["dataplane.kind=StatefulSet"][..],
            "value must be one of 'Deployment', 'DaemonSet'",
        ),
        (&["dataplane.replica=3"][..], "additional properties"),
        (
            &["controller.watchNamespaces={Team_A}"][..],
            "does not match pattern",
        ),
        (
            &[
                "dataplane.kind=DaemonSet",
                "dataplane.autoscaling.enabled=true",
            ][..],
            "dataplane.autoscaling.enabled needs dataplane.kind=Deployment",
        ),
    ] {
        let out = template(&helm, set);
        assert!(
            !out.status.success() && text(&out).contains(message),
            "{set:?}: {}",
            text(&out)
        );
    }

    // Every flag the chart passes to a container is one the binary takes (optional flags
    // turned on).
    let all_flags = template(&helm, &["controller.watchNamespaces={team-a,team-b}"]);
    let rendered = String::from_utf8_lossy(&all_flags.stdout).into_owned();
    assert!(
        rendered.contains("--watch-namespaces=team-a,team-b"),
        "{rendered}"
    );
    for sub in ["controller", "dataplane"] {
        let help = Command::new(portcullis_bin())
            .args([sub, "--help"])
            .output()
            .expect("portcullis --help");
        let help = String::from_utf8_lossy(&help.stdout).into_owned();
        let args = rendered
            .split(&format!("            - {sub}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {sub} container args in\n{rendered}"));
        let flags: Vec<&str> = args
            .lines()
            .take_while(|l| l.starts_with("            - --"))
            .filter_map(|l| l.trim_start_matches("            - ").split('=').next())
            .collect();
        assert!(!flags.is_empty(), "{sub}: no flags found");
        for flag in flags {
            assert!(
                help.contains(flag),
                "the chart passes {flag} to `portcullis {sub}`, which does not take it:\n{help}"
            );
        }
    }

    let cluster = TestCluster::start();
    install_third_party_crds(&cluster);
    let ns = cluster.kubectl(&["create", "namespace", SYSTEM_NAMESPACE]);
    assert!(ns.status.success());
    let matrix: [(&[&str], &[&str]); 7] = [
        (
            &[],
            &[
                "deployment.apps/portcullis-controller",
                "deployment.apps/portcullis-dataplane",
                "service/portcullis-dataplane-push",
                "service/portcullis-dataplane ",
                "poddisruptionbudget.policy/portcullis-controller",
                "poddisruptionbudget.policy/portcullis-dataplane",
                "clusterrole.rbac.authorization.k8s.io/portcullis-portcullis-controller",
                "ingressclass.networking.k8s.io/portcullis",
            ],
        ),
        (
            &[
                "ingress.serveNginxClass=true",
                "ingress.ingressClass.default=true",
                "ingress.annotationsPrefix=custom.example",
            ],
            &["ingressclass.networking.k8s.io/portcullis"],
        ),
        (
            &["dataplane.kind=DaemonSet"],
            &["daemonset.apps/portcullis-dataplane"],
        ),
        (
            &["networkPolicy.enabled=true"],
            &[
                "networkpolicy.networking.k8s.io/portcullis-dataplane",
                "networkpolicy.networking.k8s.io/portcullis-controller",
            ],
        ),
        (
            &["serviceMonitor.enabled=true"],
            &[
                "servicemonitor.monitoring.coreos.com/portcullis",
                "service/portcullis-controller-metrics",
                "service/portcullis-dataplane-metrics",
            ],
        ),
        (
            &["dataplane.autoscaling.enabled=true"],
            &["horizontalpodautoscaler.autoscaling/portcullis-dataplane"],
        ),
        (
            &[
                "networkPolicy.enabled=true",
                "serviceMonitor.enabled=true",
                "dataplane.autoscaling.enabled=true",
                "dataplane.service.type=NodePort",
                "controller.replicas=1",
            ],
            &["horizontalpodautoscaler.autoscaling/portcullis-dataplane"],
        ),
    ];
    for (set, kinds) in matrix {
        let out = template(&helm, set);
        assert!(out.status.success(), "{set:?}: {}", text(&out));
        let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
        let applied = cluster.kubectl_stdin(
            &["apply", "--dry-run=server", "--validate=strict", "-f", "-"],
            &rendered,
        );
        assert!(
            applied.status.success(),
            "{set:?}: {}\n{rendered}",
            text(&applied)
        );
        let created = String::from_utf8_lossy(&applied.stdout).into_owned();
        for kind in kinds {
            assert!(
                created.contains(kind),
                "{set:?}: {kind} missing in\n{created}"
            );
        }
        if set.contains(&"ingress.serveNginxClass=true") {
            for arg in [
                "- --serve-nginx-class\n",
                "- --annotations-prefix=custom.example\n",
                "ingressclass.kubernetes.io/is-default-class: \"true\"",
            ] {
                assert!(rendered.contains(arg), "{arg} missing in\n{rendered}");
            }
        } else {
            assert!(!rendered.contains("--serve-nginx-class"), "{rendered}");
        }
        if set.contains(&"controller.replicas=1") {
            // One controller replica: a PodDisruptionBudget would block every node drain.
            assert!(
                !created.contains("poddisruptionbudget.policy/portcullis-controller"),
                "{created}"
            );
        }
        if set.contains(&"dataplane.autoscaling.enabled=true") {
            // The HPA owns the replica count.
            let deployment = rendered
                .split("\n---")
                .find(|d| d.contains("kind: Deployment\nmetadata:\n  name: portcullis-dataplane\n"))
                .expect("the dataplane Deployment");
            assert!(!deployment.contains("\n  replicas:"), "{deployment}");
        }
    }
}

/// `helm install` into the test apiserver; the controller then runs (as a process) with a
/// token of the chart's ServiceAccount and programs the public-site example on a dataplane.
#[test]
fn helm_install_then_the_chart_account_programs_an_example() {
    let helm = helm();
    let cluster = TestCluster::start();
    let install = Command::new(&helm)
        .args(["install", "portcullis"])
        .arg(chart())
        .args(["--namespace", SYSTEM_NAMESPACE, "--create-namespace"])
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .output()
        .expect("helm install");
    assert!(install.status.success(), "{}", text(&install));
    let notes = text(&install);
    assert!(notes.contains("STATUS: deployed"), "{notes}");
    assert!(notes.contains("kind: SslProfile"), "NOTES.txt:\n{notes}");
    // Helm installed the CRDs from the chart's crds/ directory.
    let crds = cluster.kubectl(&[
        "get",
        "crd",
        "sslprofiles.portcullis.io",
        "listeners.portcullis.io",
    ]);
    assert!(crds.status.success(), "{}", text(&crds));

    // No kubelet runs the pods: the harness starts the processes, the controller with a token
    // of the ServiceAccount and RBAC the chart installed (nothing else is bound to it).
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = service_account_kubeconfig(&cluster, dir.path(), "portcullis-controller");
    let dataplane = Dataplane::start(dir.path(), 0);
    dataplane.register(&cluster, 0);
    let controller = Controller::start(&kubeconfig, dir.path(), 0);
    dataplane.mount_push_secret(&cluster);

    // The public-site example, with the Secrets its comments name, its Listener on a free
    // port, and its two Services backed by an echo server.
    let example = examples_root().join("public-site");
    let mut pki = ExamplePki::new(&dir.path().join("pki"));
    let secrets = pki.secrets(&cluster, &example);
    let applied = cluster.kubectl_stdin(&["apply", "-f", "-"], &secrets);
    assert!(applied.status.success(), "{}", text(&applied));
    let port = free_port();
    let manifest = std::fs::read_to_string(example.join("public-site.yaml"))
        .expect("read example")
        .replace("  port: 443\n", &format!("  port: {port}\n"));
    assert!(manifest.contains(&format!("port: {port}")));
    // The backend's endpoints first, so the first snapshot with the Listener can route.
    let backend = EchoBackend::start();
    for service in ["site", "site-admin"] {
        let slice = serde_json::json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{service}-1"), "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "FQDN",
            "endpoints": [{"addresses": ["echo.localhost"], "conditions": {"ready": true}}],
            "ports": [{"port": backend.addr.port(), "protocol": "TCP"}]});
        let applied = cluster.kubectl_stdin(&["apply", "-f", "-"], &slice.to_string());
        assert!(applied.status.success(), "{}", text(&applied));
    }
    let applied = cluster.kubectl_stdin(&["apply", "-f", "-"], &manifest);
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(
        Standalone::eventually(Duration::from_secs(60), || has_condition(
            &cluster,
            "listener",
            "www",
            ("Programmed", "True", "Programmed")
        )),
        "listener: {:?}\ncontroller:\n{}\ndataplane:\n{}",
        conditions(&cluster, "listener", "default", "www"),
        controller.log(),
        dataplane.log()
    );

    let root = dir.path().join("server-root.pem");
    std::fs::write(&root, pki.server_root_pem()).expect("write root");
    let staff = pki.client("staff-ca-chain.pem", "alice");
    let (chain, key) = (dir.path().join("alice.pem"), dir.path().join("alice.key"));
    std::fs::write(&chain, staff.pem()).expect("write");
    std::fs::write(&key, staff.key_pem()).expect("write");
    // The intermediate rides in the Secret's chain, so the leaf alone suffices.
    let get = |path: &str, cert: bool| {
        let resolve = format!("www.example.com:{port}:127.0.0.1");
        let url = format!("https://www.example.com:{port}{path}");
        let (root, chain, key) = (
            root.display().to_string(),
            chain.display().to_string(),
            key.display().to_string(),
        );
        let mut args = vec![
            "--resolve",
            &resolve,
            "--cacert",
            &root,
            "-w",
            "\n%{http_code}",
        ];
        if cert {
            args.extend(["--cert", &chain, "--key", &key]);
        }
        args.push(&url);
        let (_, out, err) = curl(&args);
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", ""));
        (code.to_owned(), body.to_owned(), err)
    };
    // The controller watches EndpointSlices and Listeners separately and may see the
    // Listener first: bounded wait for the snapshot that routes.
    let mut last = (String::new(), String::new(), String::new());
    let routed = Standalone::eventually(Duration::from_secs(15), || {
        last = get("/", false);
        last.0 == "200"
    });
    let (_, body, err) = &last;
    assert!(routed, "the public site needs no certificate: {body}{err}");
    let (code, body, _) = get("/admin/users", false);
    assert_eq!(code, "400", "{body}");
    assert!(body.contains("no client certificate presented"), "{body}");
    let (code, body, err) = get("/admin/users", true);
    assert_eq!(code, "200", "{body}{err}\n{}", dataplane.log());
    assert!(
        body.to_ascii_lowercase().contains("x-staff-subject") && body.contains("alice"),
        "the admin backend learns who: {body}"
    );
}
