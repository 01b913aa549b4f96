//! `portcullis dataplane` and its push channel, driven by the controller's own push client
//! with a test-made internal CA: what it accepts, what it refuses (and keeps serving through),
//! who may talk to it at all, and what it serves after a restart.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use controller::translate::translate;
use dataplane::config::Endpoint;
use dataplane::push::client::PushClient;
use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{curl, rustls_get_as};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::incluster::Dataplane;
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf};

fn write_push_files(dir: &Path, ca: &Ca, server: &Leaf) {
    std::fs::write(dir.join("ca.crt"), ca.pem()).expect("write ca.crt");
    std::fs::write(dir.join("tls.crt"), server.pem()).expect("write tls.crt");
    std::fs::write(dir.join("tls.key"), server.key_pem()).expect("write tls.key");
}

fn client(ca: &Ca, leaf: &Leaf) -> PushClient {
    PushClient::new(
        ca.pem().as_bytes(),
        leaf.pem().as_bytes(),
        leaf.key_pem().as_bytes(),
    )
    .expect("push client")
}

/// Sends the headers and the first half of a PUT of `envelope` to the dataplane's push
/// channel, as the controller would, then drops the connection: the controller killed
/// mid-push.
fn cut_off_push(dp: &Dataplane, push_ca: &Ca, envelope: &[u8]) {
    use std::io::Write as _;
    let leaf = push_ca.client_named(dataplane::push::CONTROLLER_NAME);
    let config =
        portcullis_tests::client::config_as(&push_ca.pem(), &leaf, &[]).expect("client config");
    let name =
        rustls::pki_types::ServerName::try_from(dataplane::push::DATAPLANE_NAME).expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", dp.push_port)).expect("connect");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let head = format!(
        "PUT /v1/snapshot HTTP/1.1\r\nHost: dataplane\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        envelope.len()
    );
    tls.write_all(head.as_bytes()).expect("headers");
    tls.write_all(&envelope[..envelope.len() / 2])
        .expect("half the body");
    tls.flush().expect("flush");
    // Give the dataplane the half it will get, then vanish without a close_notify.
    std::thread::sleep(Duration::from_millis(300));
    let _ = tls.sock.shutdown(std::net::Shutdown::Both);
}

/// A dataplane with push certificates from a fresh push CA, and the controller's push client.
struct PushRig {
    rt: tokio::runtime::Runtime,
    dp: Dataplane,
    push_ca: Ca,
    dataplane_cert: Leaf,
    controller: PushClient,
    target: Endpoint,
    _dir: tempfile::TempDir,
}

impl PushRig {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let dp = Dataplane::start(dir.path(), 0);
        let push_ca = Ca::root("Push CA");
        let dataplane_cert = push_ca.server(&[dataplane::push::DATAPLANE_NAME]);
        write_push_files(&dp.tls_dir, &push_ca, &dataplane_cert);
        let controller = client(
            &push_ca,
            &push_ca.client_named(dataplane::push::CONTROLLER_NAME),
        );
        let target = Endpoint::ip(format!("127.0.0.1:{}", dp.push_port).parse().expect("addr"));
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            dp,
            push_ca,
            dataplane_cert,
            controller,
            target,
            _dir: dir,
        }
    }
}

/// A partner API as the controller pushes it, and what a client needs to call it.
struct PartnerApi {
    int: Ca,
    device: Leaf,
    server_root: Ca,
    port: u16,
    manifests: Manifests,
    _backend: EchoBackend,
}

impl PartnerApi {
    fn new() -> Self {
        let backend = EchoBackend::start();
        let port = free_port();
        let root = Ca::root("Partner Root");
        let int = root.intermediate("Partner Issuing");
        let server_root = Ca::root("Server Root");
        let server = server_root.server(&["api.example.com"]);
        let manifests = Manifests::partner_api(format!("{}{}", root.pem(), int.pem()).as_bytes())
            .edit("Listener", "api", |l| l["spec"]["port"] = port.into())
            .edit("EndpointSlice", "echo-1", |s| {
                s["ports"][0]["port"] = backend.addr.port().into();
            })
            .tls_secret("default", "api-tls", &server.pem(), server.key_pem());
        Self {
            device: int.client("device-1"),
            int,
            server_root,
            port,
            manifests,
            _backend: backend,
        }
    }

    /// The push envelope (version, bytes) of the snapshot translated from the manifests as
    /// `edit` changes them.
    fn envelope(&self, edit: impl FnOnce(Manifests) -> Manifests) -> (String, Vec<u8>) {
        let files = tempfile::tempdir().expect("manifest dir");
        edit(self.manifests.clone()).write(files.path());
        let loaded = controller::manifests::load(&[files.path().to_owned()]);
        let translation = translate(&loaded.inputs, jiff::Timestamp::now());
        assert!(!translation.has_errors(), "{:?}", translation.diagnostics);
        dataplane::push::envelope(&translation.snapshot).expect("envelope")
    }

    /// [`PartnerApi::envelope`] with ingress-nginx's identity headers on the rule: another
    /// version.
    fn with_identity_headers(&self) -> (String, Vec<u8>) {
        self.envelope(|m| {
            m.edit("Listener", "api", |l| {
                l["spec"]["rules"][0]["requestHeaders"] =
                    serde_json::json!({"presets": ["NginxSslClient"]})
            })
        })
    }

    fn get(&self) -> Result<(u16, String), String> {
        rustls_get_as(
            self.port,
            "api.example.com",
            "/",
            &self.server_root.pem(),
            &self.device,
            &[&self.int],
        )
    }
}

#[test]
fn the_push_channel_applies_refuses_authenticates_and_persists() {
    let rig = PushRig::start();
    let (rt, mut dp, controller, target) = (&rig.rt, rig.dp, &rig.controller, &rig.target);
    let (push_ca, dataplane_cert) = (&rig.push_ca, &rig.dataplane_cert);

    // Until the certificate files load, and then until a snapshot arrives: not ready.
    assert!(Standalone::eventually(Duration::from_secs(20), || rt
        .block_on(controller.version(target))
        .is_ok_and(|v| v.is_none())));
    assert_eq!(dp.readyz(), 503);

    // A snapshot translated from manifests, as the controller makes it.
    let api = PartnerApi::new();
    let (version, envelope) = api.envelope(|m| m);

    let ack = rt
        .block_on(controller.push(target, Bytes::from(envelope.clone())))
        .expect("push");
    assert!(ack.accepted, "{ack:?}\n{}", dp.log());
    assert_eq!(ack.version.as_deref(), Some(version.as_str()));
    assert_eq!(dp.readyz(), 200);
    let get = || api.get();
    assert!(Standalone::eventually(Duration::from_secs(10), || get()
        .is_ok_and(|(s, _)| s == 200)));

    // A snapshot that does not parse is rejected with its reason; the last good one serves.
    let garbage = br#"{"version":"bad","snapshot":{"ports":[{"port":"eighty"}]}}"#;
    let ack = rt
        .block_on(controller.push(target, Bytes::from_static(garbage)))
        .expect("push");
    assert!(!ack.accepted);
    assert!(
        ack.error
            .as_deref()
            .is_some_and(|e| e.contains("does not parse")),
        "{ack:?}"
    );
    assert_eq!(ack.version.as_deref(), Some(version.as_str()));
    assert_eq!(get().map(|(s, _)| s), Ok(200));

    // The controller dies halfway through sending a new snapshot: the dataplane never sees
    // the rest, applies nothing, and the last good snapshot keeps serving.
    let (other, other_envelope) = api.envelope(|m| {
        m.edit("Listener", "api", |l| {
            l["spec"]["rules"][0]["requestHeaders"] =
                serde_json::json!({"presets": ["NginxSslClient"]})
        })
    });
    cut_off_push(&dp, push_ca, &other_envelope);
    // The dataplane has had the broken connection for a while; nothing may apply it later.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        rt.block_on(controller.version(target)).expect("version"),
        Some(version.clone()),
        "{}",
        dp.log()
    );
    assert!(!dp.log().contains(&other), "{}", dp.log());
    assert_eq!(get().map(|(s, _)| s), Ok(200));

    // Nobody else gets in: no certificate, the dataplane's own certificate (serverAuth
    // only), a clientAuth certificate of the push CA for another name, the right name from
    // another CA.
    let url = format!("https://127.0.0.1:{}/v1/snapshot", dp.push_port);
    let (code, out, _) = curl(&["-k", &url]);
    assert_ne!(code, 0, "read without a certificate: {out}");
    let impostors = [
        client(push_ca, dataplane_cert),
        client(push_ca, &push_ca.client_named("someone-else")),
        client(
            push_ca,
            &Ca::root("Other CA").client_named(dataplane::push::CONTROLLER_NAME),
        ),
    ];
    for (i, impostor) in impostors.iter().enumerate() {
        assert!(
            rt.block_on(impostor.version(target)).is_err(),
            "impostor {i} could read the configuration"
        );
        assert!(
            rt.block_on(impostor.push(target, Bytes::from(envelope.clone())))
                .is_err(),
            "impostor {i} could push"
        );
    }

    // After a restart (no controller around) the saved snapshot serves.
    dp.restart();
    assert!(
        Standalone::eventually(Duration::from_secs(20), || get()
            .is_ok_and(|(s, _)| s == 200)),
        "{}",
        dp.log()
    );
    assert_eq!(dp.readyz(), 200);
    assert!(Standalone::eventually(Duration::from_secs(10), || rt
        .block_on(controller.version(target))
        .is_ok_and(|v| v.as_deref() == Some(version.as_str()))));
}

/// Pushes `envelope` and asserts the dataplane accepted it.
fn push_accepted(
    rt: &tokio::runtime::Runtime,
    controller: &PushClient,
    target: &Endpoint,
    envelope: Vec<u8>,
) {
    let ack = rt
        .block_on(controller.push(target, Bytes::from(envelope)))
        .expect("push");
    assert!(ack.accepted, "{ack:?}");
}

/// Restarts `dp` and waits until it serves `version` (asked over the push channel).
fn restart_serving(
    rt: &tokio::runtime::Runtime,
    dp: &mut Dataplane,
    controller: &PushClient,
    target: &Endpoint,
    version: &str,
) {
    dp.restart();
    assert!(
        Standalone::eventually(Duration::from_secs(20), || rt
            .block_on(controller.version(target))
            .is_ok_and(|v| v.as_deref() == Some(version))),
        "{}",
        dp.log()
    );
}

/// A new replica (nothing saved) serves the snapshot the controller published, before any
/// push; a replica with a saved snapshot serves its own; a seed that does not parse serves
/// nothing (not ready) rather than anything else.
#[test]
fn a_new_dataplane_serves_the_published_snapshot_before_a_push() {
    let rig = PushRig::start();
    let (rt, mut dp, controller, target) = (&rig.rt, rig.dp, &rig.controller, &rig.target);
    let api = PartnerApi::new();
    let (published, envelope) = api.envelope(|m| m);
    std::fs::write(dp.seed_dir.join("snapshot.json"), &envelope).expect("write seed");
    restart_serving(rt, &mut dp, controller, target, &published);
    assert_eq!(api.get().map(|(s, _)| s), Ok(200));
    assert_eq!(dp.readyz(), 200);
    assert!(
        !dp.state_dir.join("snapshot.json").exists(),
        "nothing pushed, nothing saved"
    );

    // Its own saved snapshot wins over an older published one.
    let (pushed, newer) = api.with_identity_headers();
    push_accepted(rt, controller, target, newer);
    restart_serving(rt, &mut dp, controller, target, &pushed);

    // A new replica whose published snapshot is damaged stays not ready.
    std::fs::remove_file(dp.state_dir.join("snapshot.json")).expect("forget the saved one");
    std::fs::write(
        dp.seed_dir.join("snapshot.json"),
        &envelope[..envelope.len() / 2],
    )
    .expect("write seed");
    dp.restart();
    assert!(
        Standalone::eventually(Duration::from_secs(20), || dp
            .log()
            .contains("ignoring the saved snapshot")),
        "{}",
        dp.log()
    );
    assert_eq!(dp.readyz(), 503);
    assert!(
        rt.block_on(controller.version(target))
            .is_ok_and(|v| v.is_none())
    );
}

#[test]
fn a_full_disk_loses_the_saved_copy_not_the_snapshot() {
    let rig = PushRig::start();
    let (rt, mut dp, controller, target) = (&rig.rt, rig.dp, &rig.controller, &rig.target);
    assert!(Standalone::eventually(Duration::from_secs(20), || rt
        .block_on(controller.version(target))
        .is_ok_and(|v| v.is_none())));

    // The staging file the dataplane writes is /dev/full: the write fails with ENOSPC, as on
    // a full disk. The snapshot is still accepted and served; the failure is logged.
    std::os::unix::fs::symlink("/dev/full", dp.state_dir.join(".snapshot.json.tmp"))
        .expect("symlink to /dev/full");
    let api = PartnerApi::new();
    let (first, envelope) = api.envelope(|m| m);
    let ack = rt
        .block_on(controller.push(target, Bytes::from(envelope)))
        .expect("push");
    assert!(ack.accepted, "{ack:?}\n{}", dp.log());
    assert!(Standalone::eventually(Duration::from_secs(10), || api
        .get()
        .is_ok_and(|(s, _)| s == 200)));
    assert!(
        dp.log().contains(&format!("cannot save snapshot {first}"))
            && dp.log().contains("No space left on device"),
        "{}",
        dp.log()
    );
    assert!(!dp.state_dir.join("snapshot.json").exists());

    // Space again: the next snapshot is saved, and a restart serves it.
    let (second, envelope) = api.with_identity_headers();
    assert_ne!(first, second);
    push_accepted(rt, controller, target, envelope);
    restart_serving(rt, &mut dp, controller, target, &second);
    assert_eq!(api.get().map(|(s, _)| s), Ok(200));
}
