//! The in-cluster processes as a platform runs them, on a [`TestCluster`]: `portcullis
//! controller` with the credentials of the Helm chart's ServiceAccount (a token for it, bound
//! to exactly the chart's RBAC rules — not `system:masters`), and `portcullis dataplane`
//! replicas found through their push Service's EndpointSlices.
//!
//! The harness plays the kubelet's part where there is none: it copies the push Secret the
//! controller issues into each dataplane's directory, as a Secret volume would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::cluster::TestCluster;
use crate::gateway::{free_port, portcullis_bin};

/// The namespace the chart installs into.
pub const SYSTEM_NAMESPACE: &str = "portcullis-system";
/// The dataplanes' push Service.
pub const PUSH_SERVICE: &str = "portcullis-dataplane-push";
/// The Secret dataplanes mount.
pub const PUSH_SECRET: &str = "portcullis-dataplane-push";

fn chart_rules(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/portcullis/files")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("read chart RBAC rules");
    serde_saphyr::from_str(&text).expect("parse chart RBAC rules")
}

fn apply(cluster: &TestCluster, docs: &[Value]) {
    let yaml: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_saphyr::to_string(d).expect("yaml")))
        .collect();
    let out = cluster.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &yaml);
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Applies the CRDs and waits until they are served.
pub fn install_crds(cluster: &TestCluster) {
    install_crd_files(
        cluster,
        concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/portcullis.io.yaml"),
        &[
            "crd/sslprofiles.portcullis.io",
            "crd/listeners.portcullis.io",
        ],
    );
}

/// Applies the CRDs in `path` (a file or directory) and waits until each of `crds` is
/// served. (`kubectl wait` errors instead of waiting while a new CRD has no status yet, so
/// it is retried.)
fn install_crd_files(cluster: &TestCluster, path: &str, crds: &[&str]) {
    let out = cluster.kubectl(&["apply", "--server-side", "-f", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut args = vec!["wait", "--for", "condition=Established", "--timeout=30s"];
        args.extend_from_slice(crds);
        let out = cluster.kubectl(&args);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{crds:?} not established: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Applies the real CRDs of the third-party kinds the chart and the examples use
/// (prometheus-operator's ServiceMonitor, cert-manager's Certificate, Issuer and
/// ClusterIssuer; fetched once by `tests/harness/fetch-crds.sh`) and waits until they are
/// served.
pub fn install_third_party_crds(cluster: &TestCluster) {
    let dir = crate::cluster::harness_cache("fetch-crds.sh");
    install_crd_files(
        cluster,
        &dir.display().to_string(),
        &[
            "crd/servicemonitors.monitoring.coreos.com",
            "crd/certificates.cert-manager.io",
            "crd/issuers.cert-manager.io",
            "crd/clusterissuers.cert-manager.io",
        ],
    );
}

/// Creates the system namespace, the controller's ServiceAccount bound to the chart's rules,
/// and a kubeconfig with a token for that account; returns the kubeconfig's path.
pub fn controller_kubeconfig(cluster: &TestCluster, dir: &Path) -> PathBuf {
    let sa = "portcullis-controller";
    let subject = json!([{"kind": "ServiceAccount", "name": sa, "namespace": SYSTEM_NAMESPACE}]);
    apply(
        cluster,
        &[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": sa, "namespace": SYSTEM_NAMESPACE}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": sa}, "rules": chart_rules("controller-cluster-rules.yaml")}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": sa}, "subjects": subject,
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": sa}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": sa, "namespace": SYSTEM_NAMESPACE},
                   "rules": chart_rules("controller-namespace-rules.yaml")}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": sa, "namespace": SYSTEM_NAMESPACE}, "subjects": subject,
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa}}),
        ],
    );
    service_account_kubeconfig(cluster, dir, sa)
}

/// A kubeconfig with a token (TokenRequest) for ServiceAccount `sa` of the system namespace:
/// a process using it has exactly the permissions bound to that account.
pub fn service_account_kubeconfig(cluster: &TestCluster, dir: &Path, sa: &str) -> PathBuf {
    let out = cluster.kubectl(&[
        "create",
        "token",
        sa,
        "-n",
        SYSTEM_NAMESPACE,
        "--duration=2h",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\n\
         users:\n- name: controller\n  user:\n    token: {token}\n\
         contexts:\n- name: test\n  context: {{cluster: test, user: controller}}\ncurrent-context: test\n",
        cluster.url
    );
    let path = dir.join("controller.kubeconfig");
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    path
}

/// The dataplanes' push Service (headless, as the chart ships it).
pub fn push_service(cluster: &TestCluster) {
    apply(
        cluster,
        &[json!({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": PUSH_SERVICE, "namespace": SYSTEM_NAMESPACE},
                 "spec": {"clusterIP": "None", "publishNotReadyAddresses": true,
                          "ports": [{"name": "push", "port": 9443, "protocol": "TCP"}]}})],
    );
}

/// A running `portcullis controller`.
pub struct Controller {
    child: Child,
    stderr: PathBuf,
    /// Its admin server port.
    pub admin_port: u16,
}

impl Controller {
    /// Starts a controller replica with `kubeconfig`, logging to `dir/controller-<n>.log`.
    pub fn start(kubeconfig: &Path, dir: &Path, n: usize) -> Self {
        Self::start_with(kubeconfig, dir, n, &[])
    }

    /// [`Controller::start`] with more command-line arguments.
    pub fn start_with(kubeconfig: &Path, dir: &Path, n: usize, args: &[&str]) -> Self {
        let stderr = dir.join(format!("controller-{n}.log"));
        let admin_port = free_port();
        let child = Command::new(portcullis_bin())
            .args(["controller", "--namespace", SYSTEM_NAMESPACE])
            .args(["--identity", &format!("controller-{n}")])
            .args(["--admin", &format!("127.0.0.1:{admin_port}")])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(&stderr).expect("controller log"),
            ))
            .spawn()
            .expect("start portcullis controller");
        Self {
            child,
            stderr,
            admin_port,
        }
    }

    /// Its PID (part of its Lease identity).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Kills it with SIGKILL, as a node failure would: no clean release of the Lease.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `portcullis dataplane`, with its state and push-certificate directories.
pub struct Dataplane {
    child: Option<Child>,
    /// Where it keeps its last snapshot.
    pub state_dir: PathBuf,
    /// Where its push Secret is "mounted".
    pub tls_dir: PathBuf,
    /// Where the Secret holding the controller's published snapshot is "mounted" (empty: none).
    pub seed_dir: PathBuf,
    /// The push channel port.
    pub push_port: u16,
    /// The admin port.
    pub admin_port: u16,
    log: PathBuf,
}

impl Dataplane {
    /// Starts a replica whose files live under `dir/dataplane-<n>`.
    pub fn start(dir: &Path, n: usize) -> Self {
        let base = dir.join(format!("dataplane-{n}"));
        let mut dp = Self {
            child: None,
            state_dir: base.join("state"),
            tls_dir: base.join("push-tls"),
            seed_dir: base.join("seed"),
            push_port: free_port(),
            admin_port: free_port(),
            log: base.join("dataplane.log"),
        };
        std::fs::create_dir_all(&dp.tls_dir).expect("tls dir");
        std::fs::create_dir_all(&dp.seed_dir).expect("seed dir");
        dp.spawn();
        dp
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("dataplane log");
        let child = Command::new(portcullis_bin())
            .args(["dataplane", "--bind", "127.0.0.1", "--no-access-log"])
            .args(["--admin", &format!("127.0.0.1:{}", self.admin_port)])
            .args(["--push-listen", &format!("127.0.0.1:{}", self.push_port)])
            .arg("--push-tls-dir")
            .arg(&self.tls_dir)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--seed-dir")
            .arg(&self.seed_dir)
            .args(["--drain-seconds", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start portcullis dataplane");
        self.child = Some(child);
    }

    /// Stops it (SIGKILL) and starts it again with the same directories and ports.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /readyz` on its admin port: the status code, or 0 when it does not answer.
    pub fn readyz(&self) -> u16 {
        let (code, out, _) = crate::client::curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{}/readyz", self.admin_port),
        ]);
        if code == 0 {
            out.trim().parse().unwrap_or(0)
        } else {
            0
        }
    }

    /// Its EndpointSlice in the push Service: the FQDN `dataplane.localhost` (the API server
    /// refuses loopback IPs in EndpointSlices) on its push port, not ready — a dataplane becomes ready
    /// only once it serves a snapshot, so the controller must push to not-ready endpoints.
    pub fn endpoint_slice(&self, n: usize) -> Value {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": format!("{PUSH_SERVICE}-{n}"), "namespace": SYSTEM_NAMESPACE,
                            "labels": {"kubernetes.io/service-name": PUSH_SERVICE}},
               "addressType": "FQDN",
               "endpoints": [{"addresses": ["dataplane.localhost"], "conditions": {"ready": false}}],
               "ports": [{"name": "push", "port": self.push_port, "protocol": "TCP"}]})
    }

    /// Registers it in the push Service.
    pub fn register(&self, cluster: &TestCluster, n: usize) {
        apply(cluster, &[self.endpoint_slice(n)]);
    }

    /// Copies the push Secret into its directory once the controller has created it (the
    /// kubelet's part for a Secret volume).
    pub fn mount_push_secret(&self, cluster: &TestCluster) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = cluster.kubectl(&[
                "get",
                "secret",
                PUSH_SECRET,
                "-n",
                SYSTEM_NAMESPACE,
                "-o",
                "json",
            ]);
            if out.status.success() {
                let secret: Value = serde_json::from_slice(&out.stdout).expect("secret json");
                for key in ["tls.crt", "tls.key", "ca.crt"] {
                    let b64 = secret["data"][key].as_str().expect("push secret key");
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .expect("base64");
                    std::fs::write(self.tls_dir.join(key), bytes).expect("write push file");
                }
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the controller never created Secret {SYSTEM_NAMESPACE}/{PUSH_SECRET}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `(type, status, reason, message)` of each condition of `kind/name` in `namespace`.
pub fn conditions(
    cluster: &TestCluster,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Vec<(String, String, String, String)> {
    let out = cluster.kubectl(&["get", kind, name, "-n", namespace, "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or("").to_owned();
                    (s("type"), s("status"), s("reason"), s("message"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `kind/name` has condition `type_` with `status` and `reason`.
pub fn has_condition(
    cluster: &TestCluster,
    kind: &str,
    name: &str,
    (type_, status, reason): (&str, &str, &str),
) -> bool {
    conditions(cluster, kind, "default", name)
        .iter()
        .any(|(t, s, r, _)| t == type_ && s == status && r == reason)
}
