//! A real single-node Kubernetes cluster for tests: containerd, runc and the CNI plugins from
//! Debian; kine, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
//! kube-proxy built from the Kubernetes Go module (`tests/harness/build-k8s.sh`); images built
//! here and imported. Pods run for real: Secret volumes, probes, Services and EndpointSlices
//! filled by Kubernetes itself, the kubelet's preStop and SIGTERM.
//!
//! The host is read before the start ([`host::HostState`]) and [`Node::teardown`] restores it
//! and reports anything still different. The harness stops only what it started: its own
//! children by PID, and the containers and shims its containerd started. No packet or DNS
//! query leaves the machine: the node's address is on `lo`, pods live on a bridge of their
//! own, and pods get a resolver that answers nothing.
//!
//! Needs root, and `containerd`, `runc`, the CNI plugins, `nft` and `gcc` (the test command
//! installs them).

pub mod config;
pub mod host;
pub mod images;
mod pki;
mod teardown;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::{harness_cache, harness_cache_with, output_with_stdin};
use config::{API_PORT, BRIDGE, Layout, NODE_IP, NODE_NAME, POD_CIDR, SERVICE_CIDR, write};
use host::HostState;
use images::{Images, checked};

/// The netfilter table that drops pod packets bound elsewhere than the bridge.
const CONTAIN_TABLE: &str = "portcullis_test_contain";

/// A running single-node cluster.
pub struct Node {
    layout: Layout,
    dir: Option<tempfile::TempDir>,
    before: HostState,
    /// Processes this harness started, in start order.
    processes: Vec<(&'static str, Child)>,
    bin: PathBuf,
    helm: PathBuf,
    /// The Kubernetes version running.
    pub version: String,
}

impl Node {
    /// Builds what is missing (Kubernetes `version`, the images with Portcullis under each of
    /// `tags`), starts every part, and waits until the node is Ready and pods can be created.
    pub fn start(version: &str, tags: &[&str]) -> Self {
        preflight();
        let bin = harness_cache_with("build-k8s.sh", &[("K8S_VERSION", version)]);
        let helm = harness_cache("build-helm.sh").join("helm");
        let dir = tempfile::Builder::new()
            .prefix("portcullis-node-")
            .tempdir()
            .expect("temp dir");
        let layout = Layout {
            root: dir.path().to_path_buf(),
        };
        // Everything that can fail without touching the host comes first.
        let images = Images::build(&layout, tags);
        pki::write(&layout);
        layout.kubeconfig("admin");
        write(
            &layout.path("containerd/config.toml"),
            &layout.containerd_config(),
        );
        write(
            &layout.path("cni/net.d/10-portcullis.conflist"),
            &layout.cni_conflist(),
        );
        write(
            &layout.path("kubelet/config.yaml"),
            &layout.kubelet_config(),
        );
        write(&layout.path("resolv.conf"), "nameserver 127.0.0.1\n");
        write(
            &layout.path("contain.nft"),
            &format!(
                "table ip {CONTAIN_TABLE} {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    \
                 ip saddr {POD_CIDR} oifname != \"{BRIDGE}\" counter drop\n  }}\n}}\n"
            ),
        );
        let before = HostState::read();
        let mut node = Self {
            layout,
            dir: Some(dir),
            before,
            processes: Vec::new(),
            bin,
            helm,
            version: version.to_owned(),
        };
        checked(
            Command::new("ip").args(["addr", "add", &format!("{NODE_IP}/32"), "dev", "lo"]),
            "put the node address on lo",
        );
        // Pods have a default route through the node, which forwards (the bridge plugin turns
        // forwarding on): nothing they send may leave through another interface.
        checked(
            Command::new("nft")
                .args(["-f", &node.layout.path("contain.nft").display().to_string()]),
            "keep pod traffic on the machine",
        );
        node.start_runtime(&images);
        node.start_control_plane();
        node.start_node_agents();
        node
    }

    fn start_runtime(&mut self, images: &Images) {
        let config = self.layout.path("containerd/config.toml");
        let mut containerd = Command::new("containerd");
        containerd.arg("--config").arg(config);
        self.spawn("containerd", containerd);
        self.wait("containerd to answer", Duration::from_secs(30), |n| {
            n.ctr(&["version"]).status.success()
        });
        images.import(&self.layout);
    }

    fn start_control_plane(&mut self) {
        let etcd_port = crate::gateway::free_port();
        let pki = self.layout.path("pki");
        let p = |f: &str| pki.join(f).display().to_string();
        let mut kine = Command::new(self.bin.join("kine"));
        kine.current_dir(&self.layout.root)
            .args(["--listen-address", &format!("127.0.0.1:{etcd_port}")])
            .args(["--metrics-bind-address", "0"]);
        let mut apiserver = Command::new(self.bin.join("kube-apiserver"));
        apiserver.args([
            format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
            format!("--bind-address={NODE_IP}"),
            format!("--advertise-address={NODE_IP}"),
            format!("--secure-port={API_PORT}"),
            format!("--cert-dir={}", self.layout.path("apiserver").display()),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--authorization-mode=Node,RBAC".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            format!(
                "--kubelet-client-certificate={}",
                p("apiserver-kubelet-client.crt")
            ),
            format!("--kubelet-client-key={}", p("apiserver-kubelet-client.key")),
            // Otherwise `kubectl logs` resolves the node's name through the host's resolver.
            "--kubelet-preferred-address-types=InternalIP".into(),
            "--profiling=false".into(),
        ]);
        self.spawn("kine", kine);
        self.spawn("kube-apiserver", apiserver);
        self.wait("kube-apiserver to be ready", Duration::from_secs(90), |n| {
            n.kubectl(&["get", "--raw", "/readyz"]).status.success()
        });
        let kubeconfig =
            |user: &str| format!("--kubeconfig={}", self.layout.kubeconfig(user).display());
        let mut cm = Command::new(self.bin.join("kube-controller-manager"));
        cm.args([
            kubeconfig("controller-manager"),
            "--secure-port=0".into(),
            "--leader-elect=false".into(),
            "--use-service-account-credentials".into(),
            format!("--root-ca-file={}", p("ca.crt")),
            format!("--service-account-private-key-file={}", p("sa.key")),
            format!("--cluster-cidr={POD_CIDR}"),
        ]);
        let mut scheduler = Command::new(self.bin.join("kube-scheduler"));
        scheduler.args([
            kubeconfig("scheduler"),
            "--secure-port=0".into(),
            "--leader-elect=false".into(),
        ]);
        self.spawn("kube-controller-manager", cm);
        self.spawn("kube-scheduler", scheduler);
    }

    fn start_node_agents(&mut self) {
        let mut kubelet = Command::new(self.bin.join("kubelet"));
        kubelet
            .arg(format!(
                "--config={}",
                self.layout.path("kubelet/config.yaml").display()
            ))
            .arg(format!(
                "--kubeconfig={}",
                self.layout.kubeconfig("kubelet").display()
            ))
            .arg(format!(
                "--root-dir={}",
                self.layout.path("kubelet/root").display()
            ))
            .arg(format!(
                "--cert-dir={}",
                self.layout.path("kubelet/pki").display()
            ))
            .arg(format!("--hostname-override={NODE_NAME}"))
            .arg(format!("--node-ip={NODE_IP}"));
        let (healthz, metrics) = (crate::gateway::free_port(), crate::gateway::free_port());
        let mut proxy = Command::new(self.bin.join("kube-proxy"));
        proxy.args([
            format!(
                "--kubeconfig={}",
                self.layout.kubeconfig("kube-proxy").display()
            ),
            "--proxy-mode=iptables".into(),
            format!("--cluster-cidr={POD_CIDR}"),
            format!("--nodeport-addresses={NODE_IP}/32"),
            format!("--hostname-override={NODE_NAME}"),
            format!("--healthz-bind-address=127.0.0.1:{healthz}"),
            format!("--metrics-bind-address=127.0.0.1:{metrics}"),
            // Leave the host's conntrack limits and timeouts alone.
            "--conntrack-max-per-core=0".into(),
            "--conntrack-tcp-timeout-established=0".into(),
            "--conntrack-tcp-timeout-close-wait=0".into(),
        ]);
        self.spawn("kubelet", kubelet);
        self.spawn("kube-proxy", proxy);
        self.wait("the node to be Ready", Duration::from_secs(120), |n| {
            n.kubectl(&[
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ])
            .stdout
                == b"True"
        });
        self.wait("the default ServiceAccount", Duration::from_secs(60), |n| {
            n.kubectl(&["get", "serviceaccount", "default", "-n", "default"])
                .status
                .success()
        });
    }

    /// Starts `name`, its output in `logs/<name>.log`.
    fn spawn(&mut self, name: &'static str, mut cmd: Command) {
        let log = self.log_file(name);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.processes.push((name, child));
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        let dir = self.layout.path("logs");
        std::fs::create_dir_all(&dir).expect("logs dir");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))
            .expect("open log")
    }

    /// The last `lines` lines of a part's log.
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.layout.path(&format!("logs/{name}.log")))
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits up to `limit` for `ready`; panics naming `what`, with the tails of the logs.
    pub fn wait(&self, what: &str, limit: Duration, mut ready: impl FnMut(&Self) -> bool) {
        self.wait_for(
            what,
            limit,
            |n| if ready(n) { Ok(()) } else { Err("not yet") },
        );
    }

    /// Tries `attempt` every 250 ms for up to `limit` and returns its first `Ok`; panics naming
    /// `what`, with the last `Err` (what was seen instead) and the tails of the logs.
    pub fn wait_for<T, E: std::fmt::Debug>(
        &self,
        what: &str,
        limit: Duration,
        mut attempt: impl FnMut(&Self) -> Result<T, E>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let last = match attempt(self) {
                Ok(done) => return done,
                Err(e) => e,
            };
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .processes
                    .iter()
                    .map(|(name, _)| format!("--- {name}\n{}", self.log_tail(name, 15)))
                    .collect();
                panic!(
                    "waited {limit:?} for {what}; last seen: {last:#?}\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs kubectl as the cluster's administrator.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(self.bin.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl and returns its standard output; panics with its error when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml`; panics with kubectl's error when it fails.
    pub fn apply(&self, yaml: &str) {
        let mut cmd = Command::new(self.bin.join("kubectl"));
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(["apply", "-f", "-"]);
        let out = output_with_stdin(&mut cmd, yaml);
        assert!(
            out.status.success(),
            "kubectl apply: {}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs helm against this cluster.
    pub fn helm(&self, args: &[&str]) -> Output {
        Command::new(&self.helm)
            .arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args)
            .output()
            .expect("run helm")
    }

    /// The administrator's kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.layout.path("admin.kubeconfig")
    }

    /// The chart in this checkout.
    pub fn chart() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/portcullis")
    }

    /// The host PID of the container `id`'s process (a CRI container ID, as a pod's
    /// `containerStatuses[].containerID` gives it after `containerd://`).
    pub fn container_pid(&self, id: &str) -> u32 {
        let out = self.ctr(&["tasks", "ls"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some(id))
                    .then(|| f.next()?.parse().ok())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("no running task for container {id}"))
    }

    /// Kills container `id`'s processes with SIGKILL (as the OOM killer would); the kubelet
    /// restarts it in the same pod.
    pub fn kill_container(&self, id: &str) {
        self.ctr_ok(&["tasks", "kill", "--all", "--signal", "SIGKILL", id]);
    }

    /// Freezes container `id` (the cgroup freezer): its processes stop where they are, as on
    /// a node cut off from the network, until [`Node::thaw_container`].
    pub fn freeze_container(&self, id: &str) {
        self.ctr_ok(&["tasks", "pause", id]);
    }

    /// Lets a frozen container run again.
    pub fn thaw_container(&self, id: &str) {
        self.ctr_ok(&["tasks", "resume", id]);
    }

    fn ctr_ok(&self, args: &[&str]) {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.layout.containerd_socket())
            .args(["-n", "k8s.io"])
            .args(args)
            .output()
            .expect("run ctr")
    }
}

/// Root, the tools, and no leftovers of an earlier run that did not finish its teardown.
fn preflight() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")),
        "the real-cluster tests need root (they run containerd and a kubelet)"
    );
    for tool in ["containerd", "runc", "ctr", "nft", "ip", "gcc", "python3"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: ./scripts/test.sh installs it (Debian: containerd runc \
             containernetworking-plugins nftables gcc)"
        );
    }
    assert!(
        Path::new("/usr/lib/cni/bridge").exists(),
        "/usr/lib/cni/bridge is missing: install Debian's containernetworking-plugins"
    );
    let addrs = host::run("ip", &["-o", "addr", "show", "dev", "lo"]);
    let links = host::run("ip", &["-o", "link", "show"]);
    assert!(
        !addrs.contains(&format!("{NODE_IP}/32")) && !links.contains(&format!(" {BRIDGE}:")),
        "{NODE_IP} on lo or the link {BRIDGE} is left from an earlier run that did not finish: \
         remove them (ip addr del {NODE_IP}/32 dev lo; ip link del {BRIDGE}) after checking \
         no such run is going on"
    );
}
