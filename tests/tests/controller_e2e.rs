//! End to end in cluster mode, on a real kube-apiserver: resources applied with kubectl, the
//! controller (with the Helm chart's RBAC) pushing snapshots over the mutually authenticated
//! channel to `portcullis dataplane` processes, and real clients (curl) through them.

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::curl;
use portcullis_tests::cluster::TestCluster;
use portcullis_tests::gateway::{Standalone, assert_no_key_material, free_port};
use portcullis_tests::incluster::{
    Controller, Dataplane, SYSTEM_NAMESPACE, conditions, controller_kubeconfig, has_condition,
    install_crds, push_service,
};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf};

/// A cluster with the CRDs, the controller's account, the push Service, one echo backend and
/// the PKI of one partner.
struct Env {
    cluster: TestCluster,
    dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
    backend: EchoBackend,
    /// The Listener's port on 127.0.0.1.
    port: u16,
    server: Leaf,
}

impl Env {
    fn start() -> Self {
        let cluster = TestCluster::start();
        install_crds(&cluster);
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = controller_kubeconfig(&cluster, dir.path());
        push_service(&cluster);
        let server_root = Ca::root("Server Root");
        let server = server_root.server(&["api.example.com"]);
        std::fs::write(dir.path().join("server-root.pem"), server_root.pem()).expect("write");
        Self {
            cluster,
            dir,
            kubeconfig,
            backend: EchoBackend::start(),
            port: free_port(),
            server,
        }
    }

    /// The partner API trusting `bundle`: the Listener on this test's port, the backend
    /// Service's EndpointSlice naming `echo.localhost` (the API server refuses loopback IPs in
    /// EndpointSlices; RFC 6761 `.localhost` names are the loopback address).
    fn manifests(&self, bundle: &str) -> Manifests {
        let (port, backend) = (self.port, self.backend.addr.port());
        Manifests::partner_api(bundle.as_bytes())
            .tls_secret(
                "default",
                "api-tls",
                &self.server.pem(),
                self.server.key_pem(),
            )
            .edit("Listener", "api", |l| l["spec"]["port"] = port.into())
            .edit("EndpointSlice", "echo-1", |s| {
                s["addressType"] = "FQDN".into();
                s["endpoints"][0]["addresses"] = serde_json::json!(["echo.localhost"]);
                s["ports"][0]["port"] = backend.into();
            })
    }

    fn apply(&self, m: &Manifests) {
        let out = self
            .cluster
            .kubectl_stdin(&["apply", "-f", "-"], &m.to_yaml());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes the partner CA Secret with `bundle`.
    fn set_ca(&self, bundle: &str) {
        self.apply(&Manifests::new().ca_secret("default", "partner-ca", bundle.as_bytes()));
    }

    /// `curl https://api.example.com:<port><path>` presenting `leaf` and `int`; returns the
    /// HTTP status, or 0 when the connection failed (for example a refused handshake).
    fn curl(&self, leaf: &Leaf, int: &Ca, path: &str) -> u16 {
        let name = format!("{:x}", leaf.der().len() ^ leaf.key_pem().len());
        let chain = self.dir.path().join(format!("{name}-chain.pem"));
        let key = self.dir.path().join(format!("{name}-key.pem"));
        std::fs::write(&chain, format!("{}{}", leaf.pem(), int.pem())).expect("write chain");
        std::fs::write(&key, leaf.key_pem()).expect("write key");
        let resolve = format!("api.example.com:{}:127.0.0.1", self.port);
        let url = format!("https://api.example.com:{}{path}", self.port);
        let root = self.dir.path().join("server-root.pem");
        let (code, out, _) = curl(&[
            "--resolve",
            &resolve,
            "--cacert",
            &root.display().to_string(),
            "--cert",
            &chain.display().to_string(),
            "--key",
            &key.display().to_string(),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ]);
        if code == 0 {
            out.trim().parse().unwrap_or(0)
        } else {
            0
        }
    }

    fn programmed(&self) -> bool {
        has_condition(
            &self.cluster,
            "listener",
            "api",
            ("Programmed", "True", "Programmed"),
        ) && has_condition(
            &self.cluster,
            "sslprofile",
            "partner",
            ("Programmed", "True", "Programmed"),
        )
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A partner CA: root, issuing intermediate, the bundle to upload, and a client.
struct Partner {
    int: Ca,
    bundle: String,
    client: Leaf,
}

fn partner(name: &str) -> Partner {
    let root = Ca::root(&format!("{name} Root"));
    let int = root.intermediate(&format!("{name} Issuing"));
    let bundle = format!("{}{}", root.pem(), int.pem());
    let client = int.client(&format!("{name} device"));
    Partner {
        int,
        bundle,
        client,
    }
}

fn eventually(limit: Duration, check: impl FnMut() -> bool) -> bool {
    Standalone::eventually(limit, check)
}

#[test]
fn kubectl_applied_resources_serve_through_a_dataplane_and_rotate() {
    let env = Env::start();
    let dp = Dataplane::start(env.path(), 0);
    dp.register(&env.cluster, 0);
    // Not ready before its first snapshot.
    assert!(
        eventually(Duration::from_secs(20), || dp.readyz() == 503),
        "{}",
        dp.log()
    );
    let controller = Controller::start(&env.kubeconfig, env.path(), 0);
    dp.mount_push_secret(&env.cluster);

    let a = partner("Alpha");
    env.apply(&env.manifests(&a.bundle));
    assert!(
        eventually(Duration::from_secs(60), || env.programmed()),
        "listener: {:?}\ncontroller:\n{}\ndataplane:\n{}",
        conditions(&env.cluster, "listener", "default", "api"),
        controller.log(),
        dp.log()
    );
    let programmed = conditions(&env.cluster, "listener", "default", "api");
    assert!(
        programmed
            .iter()
            .any(|(t, _, _, m)| t == "Programmed" && m.contains("all 1 dataplane replicas")),
        "{programmed:?}"
    );
    assert_eq!(dp.readyz(), 200);
    // Programmed says the listener is on every replica; its endpoints can come in a later
    // snapshot (seen once: 503, then a second snapshot served), so wait for them.
    assert!(
        eventually(Duration::from_secs(10), || env
            .curl(&a.client, &a.int, "/hello")
            == 200),
        "{}",
        dp.log()
    );
    let stranger = partner("Stranger");
    assert_eq!(
        env.curl(&stranger.client, &stranger.int, "/hello"),
        400,
        "a client of another CA is refused"
    );

    // A bad bundle (a client certificate uploaded as the CA): status says why, and the
    // listener refuses traffic rather than serving without client authentication.
    env.set_ca(&a.client.pem());
    assert!(
        eventually(Duration::from_secs(30), || has_condition(
            &env.cluster,
            "sslprofile",
            "partner",
            ("ResolvedRefs", "False", "LeafCertificateOnly")
        )),
        "{:?}",
        conditions(&env.cluster, "sslprofile", "default", "partner")
    );
    assert!(
        eventually(Duration::from_secs(10), || env.curl(&a.client, &a.int, "/")
            == 0),
        "the listener kept serving after its profile became invalid"
    );
    env.set_ca(&a.bundle);
    assert!(eventually(Duration::from_secs(30), || env
        .curl(&a.client, &a.int, "/")
        == 200));

    // Rotation to another CA while a request is in flight: the new CA admits within 5 s,
    // the old one is refused, and the request in flight completes.
    let b = partner("Bravo");
    let in_flight = std::thread::scope(|s| {
        let slow = s.spawn(|| env.curl(&a.client, &a.int, "/sleep/3000"));
        std::thread::sleep(Duration::from_millis(500));
        let rotated = Instant::now();
        env.set_ca(&b.bundle);
        assert!(
            eventually(Duration::from_secs(5), || env.curl(&b.client, &b.int, "/")
                == 200),
            "the rotated CA was not admitted within 5 s"
        );
        eprintln!("rotation applied in {:?}", rotated.elapsed());
        slow.join().expect("slow request")
    });
    assert_eq!(
        in_flight, 200,
        "the request in flight during rotation failed"
    );
    assert_eq!(
        env.curl(&a.client, &a.int, "/"),
        400,
        "the old CA still admits"
    );

    // Neither process logged key material: not the Listener's server key (in a Secret the
    // controller read and pushed), nor the push channel's key (which the controller made).
    let push_key = std::fs::read_to_string(dp.tls_dir.join("tls.key")).expect("push key");
    assert_no_key_material(
        &[controller.log(), dp.log()].join("\n"),
        &[env.server.key_pem(), &push_key],
    );
    drop(controller);
}

#[test]
fn traffic_survives_the_controller_and_a_standby_takes_over() {
    let env = Env::start();
    let mut dp = Dataplane::start(env.path(), 0);
    dp.register(&env.cluster, 0);
    let mut controllers = [
        Controller::start(&env.kubeconfig, env.path(), 0),
        Controller::start(&env.kubeconfig, env.path(), 1),
    ];
    dp.mount_push_secret(&env.cluster);
    let a = partner("Alpha");
    env.apply(&env.manifests(&a.bundle));
    assert!(
        eventually(Duration::from_secs(60), || env.programmed()),
        "{:?}\n{}",
        conditions(&env.cluster, "listener", "default", "api"),
        dp.log()
    );
    assert_eq!(env.curl(&a.client, &a.int, "/"), 200);

    // Kill the leader outright (no clean release of its Lease).
    let holder = || {
        let out = env.cluster.kubectl(&[
            "get",
            "lease",
            "portcullis-controller",
            "-n",
            SYSTEM_NAMESPACE,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let leader = holder();
    let index = controllers
        .iter()
        .position(|c| {
            leader == format!("controller-{}_{}", 0, c.pid())
                || leader == format!("controller-{}_{}", 1, c.pid())
        })
        .unwrap_or_else(|| panic!("Lease holder {leader:?} is neither controller"));
    let killed = Instant::now();
    controllers[index].kill();
    assert_eq!(
        env.curl(&a.client, &a.int, "/"),
        200,
        "traffic stopped with the controller"
    );

    // A change made now is served once the standby has taken over: within 15 s.
    let b = partner("Bravo");
    env.set_ca(&b.bundle);
    assert!(
        eventually(Duration::from_secs(15), || env.curl(&b.client, &b.int, "/")
            == 200),
        "the standby did not take over within 15 s; standby log:\n{}",
        controllers[1 - index].log()
    );
    eprintln!(
        "standby served the change {:?} after the leader was killed",
        killed.elapsed()
    );
    assert_ne!(holder(), leader);

    // No controller at all: traffic flows, and a restarted dataplane serves its last
    // snapshot from disk.
    controllers[1 - index].kill();
    assert_eq!(env.curl(&b.client, &b.int, "/"), 200);
    dp.restart();
    assert!(
        eventually(Duration::from_secs(20), || env.curl(&b.client, &b.int, "/")
            == 200),
        "the restarted dataplane does not serve its saved snapshot:\n{}",
        dp.log()
    );
    assert_eq!(dp.readyz(), 200);
    assert_eq!(env.curl(&a.client, &a.int, "/"), 400);
}

/// The API server restarts under a running controller: its watches resume, and a change made
/// right after the restart, before they have, is not lost.
#[test]
fn watches_resume_after_an_apiserver_restart_and_no_update_is_lost() {
    let mut env = Env::start();
    let dp = Dataplane::start(env.path(), 0);
    dp.register(&env.cluster, 0);
    let controller = Controller::start(&env.kubeconfig, env.path(), 0);
    dp.mount_push_secret(&env.cluster);
    let a = partner("Alpha");
    env.apply(&env.manifests(&a.bundle));
    assert!(
        eventually(Duration::from_secs(60), || env.curl(&a.client, &a.int, "/")
            == 200),
        "controller:\n{}\ndataplane:\n{}",
        controller.log(),
        dp.log()
    );

    env.cluster.restart_apiserver(Duration::from_secs(3));
    let b = partner("Bravo");
    let changed = Instant::now();
    env.set_ca(&b.bundle);
    assert!(
        eventually(Duration::from_secs(60), || env.curl(&b.client, &b.int, "/")
            == 200),
        "the change made after the restart was not served; controller:\n{}",
        controller.log()
    );
    eprintln!("served {:?} after the change", changed.elapsed());
    assert_eq!(
        env.curl(&a.client, &a.int, "/"),
        400,
        "the old CA still admits"
    );
    drop(controller);
}
