//! A real control plane for tests: kine (the etcd API on SQLite) and kube-apiserver, built once
//! by `tests/harness/build-k8s.sh` into a cache outside the checkout, started per test on
//! random loopback ports, and stopped by the PIDs this harness started.
//!
//! As in controller-runtime's envtest there is no kube-controller-manager: tests create what
//! a controller would (EndpointSlices) themselves.

use crate::gateway::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A running kine + kube-apiserver, and a kubeconfig for a `system:masters` user.
pub struct TestCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    kine: Child,
    apiserver: Child,
    apiserver_args: Vec<String>,
    /// The API server's URL.
    pub url: String,
}

impl TestCluster {
    /// Builds (first time only) and starts a control plane; waits for `/readyz`.
    pub fn start() -> Self {
        let bin = binaries();
        let dir = tempfile::tempdir().expect("temp dir");
        let etcd_port = free_port();
        let api_port = free_port();
        let kine = Command::new(bin.join("kine"))
            .current_dir(dir.path())
            .args(["--listen-address", &format!("127.0.0.1:{etcd_port}")])
            .args(["--metrics-bind-address", "0"])
            .stdout(log(dir.path(), "kine.log"))
            .stderr(log(dir.path(), "kine.log"))
            .spawn()
            .expect("start kine");

        let pki = dir.path().join("pki");
        std::fs::create_dir_all(&pki).expect("pki dir");
        let (_, admin_crt, admin_key) = client_pki(&pki);
        let sa = KeyPair::generate().expect("service account key");
        std::fs::write(pki.join("sa.key"), sa.serialize_pem()).expect("write sa.key");
        std::fs::write(pki.join("sa.pub"), sa.public_key_pem()).expect("write sa.pub");
        let url = format!("https://127.0.0.1:{api_port}");
        let p = |f: &str| pki.join(f).display().to_string();
        let apiserver_args = vec![
            format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
            format!("--cert-dir={}", p("serving")),
            format!("--secure-port={api_port}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-issuer={url}/"),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            format!("--client-ca-file={}", p("client-ca.crt")),
        ];
        let apiserver = spawn_apiserver(&bin, dir.path(), &apiserver_args);
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    insecure-skip-tls-verify: true\n\
             users:\n- name: admin\n  user:\n    client-certificate: {admin_crt}\n    client-key: {admin_key}\n\
             contexts:\n- name: test\n  context: {{cluster: test, user: admin}}\ncurrent-context: test\n"
        );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).expect("write kubeconfig");
        let cluster = Self {
            dir,
            bin,
            kine,
            apiserver,
            apiserver_args,
            url,
        };
        cluster.wait_ready(Duration::from_secs(120));
        cluster
    }

    /// Stops kube-apiserver (SIGKILL, by its PID), waits `down`, starts it again with the
    /// same flags, storage and serving certificate, and waits until it is ready: clients see
    /// their connections and watches break and must resume.
    pub fn restart_apiserver(&mut self, down: Duration) {
        let _ = self.apiserver.kill();
        let _ = self.apiserver.wait();
        std::thread::sleep(down);
        self.apiserver = spawn_apiserver(&self.bin, self.dir.path(), &self.apiserver_args);
        self.wait_ready(Duration::from_secs(120));
    }

    /// Runs kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(self.bin.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl with `stdin` as input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(self.bin.join("kubectl"));
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args);
        output_with_stdin(&mut cmd, stdin)
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready after {limit:?}:\n{}",
                std::fs::read_to_string(self.dir.path().join("apiserver.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Only the processes this harness started, by their PIDs.
        for child in [&mut self.apiserver, &mut self.kine] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_apiserver(bin: &Path, dir: &Path, args: &[String]) -> Child {
    Command::new(bin.join("kube-apiserver"))
        .args(args)
        .stdout(log(dir, "apiserver.log"))
        .stderr(log(dir, "apiserver.log"))
        .spawn()
        .expect("start kube-apiserver")
}

/// The cache directory with kube-apiserver, kubectl and kine, building them on first use.
fn binaries() -> PathBuf {
    harness_cache("build-k8s.sh")
}

/// Runs `cmd` with `stdin` written to its standard input; returns what it printed.
pub fn output_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("command output")
}

/// Runs `tests/harness/<script>`, which builds tools once into the shared cache outside the
/// checkout, and returns the directory it prints.
pub fn harness_cache(script: &str) -> PathBuf {
    harness_cache_with(script, &[])
}

/// [`harness_cache`] with environment variables for the script (a version to build, …).
pub fn harness_cache_with(script: &str, env: &[(&str, &str)]) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("harness")
        .join(script);
    let out = Command::new("bash")
        .arg(&path)
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(out.status.success(), "{script} failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn log(dir: &Path, name: &str) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("open log")
        .into()
}

/// Writes a client CA and an admin (`system:masters`) client certificate; returns paths.
fn client_pki(dir: &Path) -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(vec![]).expect("ca params");
    ca.distinguished_name
        .push(DnType::CommonName, "test client CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca.self_signed(&ca_key).expect("sign client CA");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("admin key");
    let mut admin = CertificateParams::new(vec![]).expect("admin params");
    admin.distinguished_name.push(DnType::CommonName, "admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    let admin_cert = admin.signed_by(&key, &issuer).expect("sign admin");
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write pki");
        path.display().to_string()
    };
    (
        write("client-ca.crt", ca_cert.pem()),
        write("admin.crt", admin_cert.pem()),
        write("admin.key", key.serialize_pem()),
    )
}
