//! The test cluster's addresses and the configuration files of its parts: containerd, CNI, the
//! kubelet, kubeconfigs. Everything lives under one directory; the comments say why each
//! setting departs from a default (most are the walls of running on this machine).

use std::path::{Path, PathBuf};

/// The node's address, put on `lo` (no dummy interface driver here): the API server binds and
/// advertises it, so pods reach the `kubernetes` Service through the bridge (127.0.0.1 is not
/// reachable from a pod).
pub const NODE_IP: &str = "10.245.0.1";
/// The node's name (never resolved: the API server prefers the InternalIP).
pub const NODE_NAME: &str = "portcullis-node";
/// Pod addresses, on a bridge that exists only inside this machine.
pub const POD_CIDR: &str = "10.244.0.0/24";
/// The bridge the CNI plugin creates and the harness removes.
pub const BRIDGE: &str = "portcullis0";
/// Service ClusterIPs.
pub const SERVICE_CIDR: &str = "10.96.0.0/24";
/// The API server's secure port on [`NODE_IP`].
pub const API_PORT: u16 = 6443;
/// The names the pause, Portcullis and backend images are imported as.
pub const PAUSE_IMAGE: &str = "portcullis.test/pause:1";

/// Where each part keeps its state, under one directory.
pub struct Layout {
    /// The root of everything.
    pub root: PathBuf,
}

impl Layout {
    /// A path under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// containerd's gRPC socket.
    pub fn containerd_socket(&self) -> PathBuf {
        self.path("containerd/containerd.sock")
    }

    /// containerd's configuration: the CRI plugin with runc, cgroupfs, the test CNI.
    pub fn containerd_config(&self) -> String {
        let p = |rel: &str| self.path(rel).display().to_string();
        format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # CAP_SYS_RESOURCE is not in this machine's bounding set: runc cannot lower oom_score_adj,
  # so it must not try.
  restrict_oom_score_adj = true
  # containerd 1.6's default, said out loud: pods get no unprivileged low ports from the
  # runtime. The chart binds 443 as UID 65532 through its own pod sysctl.
  enable_unprivileged_ports = false
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # Cgroups are v1 here and there is no systemd.
        SystemdCgroup = false
        Root = "{runc}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"#,
            root = p("containerd/root"),
            state = p("containerd/state"),
            sock = self.containerd_socket().display(),
            opt = p("containerd/opt"),
            runc = p("containerd/runc"),
            cni = p("cni/net.d"),
        )
    }

    /// The pod network: a bridge with the node as gateway, addresses from a private range.
    pub fn cni_conflist(&self) -> String {
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "portcullis-test",
            "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": true, "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": self.path("cni/ipam"),
                },
            }],
        })
        .to_string()
    }

    /// The kubelet's configuration file.
    pub fn kubelet_config(&self) -> String {
        let p = |rel: &str| self.path(rel).display().to_string();
        format!(
            r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: "{ca}"}}
authorization:
  mode: Webhook
# Cgroups v1 and no systemd; from 1.35 the kubelet refuses v1 unless told.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://{sock}"
# Pods must not inherit the host's resolver: no DNS query leaves the machine.
resolvConf: "{resolv}"
podLogsDir: "{logs}"
# The images are imported, never pulled: they must not be collected.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
"#,
            ca = p("pki/ca.crt"),
            sock = self.containerd_socket().display(),
            resolv = p("resolv.conf"),
            logs = p("pod-logs"),
        )
    }

    /// A kubeconfig for the client certificate `pki/<user>.crt`.
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        let path = self.path(&format!("{user}.kubeconfig"));
        let pki = |f: &str| self.path(&format!("pki/{f}")).display().to_string();
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://{NODE_IP}:{API_PORT}\n    certificate-authority: {ca}\n\
             users:\n- name: {user}\n  user:\n    client-certificate: {crt}\n    client-key: {key}\n\
             contexts:\n- name: test\n  context: {{cluster: test, user: {user}}}\ncurrent-context: test\n",
            ca = pki("ca.crt"),
            crt = pki(&format!("{user}.crt")),
            key = pki(&format!("{user}.key")),
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

/// Creates `path`'s directory and writes `text`.
pub fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create config dir");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
