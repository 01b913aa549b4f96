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

#[test]
fn the_push_channel_applies_refuses_authenticates_and_persists() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut dp = Dataplane::start(dir.path(), 0);
    let push_ca = Ca::root("Push CA");
    let dataplane_cert = push_ca.server(&[dataplane::push::DATAPLANE_NAME]);
    write_push_files(&dp.tls_dir, &push_ca, &dataplane_cert);
    let controller = client(
        &push_ca,
        &push_ca.client_named(dataplane::push::CONTROLLER_NAME),
    );
    let target = Endpoint::ip(format!("127.0.0.1:{}", dp.push_port).parse().expect("addr"));

    // Until the certificate files load, and then until a snapshot arrives: not ready.
    assert!(Standalone::eventually(Duration::from_secs(20), || rt
        .block_on(controller.version(&target))
        .is_ok_and(|v| v.is_none())));
    assert_eq!(dp.readyz(), 503);

    // A snapshot translated from manifests, as the controller makes it.
    let backend = EchoBackend::start();
    let port = free_port();
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let device = int.client("device-1");
    let manifests = Manifests::partner_api(format!("{}{}", root.pem(), int.pem()).as_bytes())
        .edit("Listener", "api", |l| l["spec"]["port"] = port.into())
        .edit("EndpointSlice", "echo-1", |s| {
            s["ports"][0]["port"] = backend.addr.port().into();
        });
    let server_root = Ca::root("Server Root");
    let server = server_root.server(&["api.example.com"]);
    let manifests = manifests.tls_secret("default", "api-tls", &server.pem(), server.key_pem());
    let files = tempfile::tempdir().expect("manifest dir");
    manifests.write(files.path());
    let loaded = controller::manifests::load(&[files.path().to_owned()]);
    let translation = translate(&loaded.inputs, jiff::Timestamp::now());
    assert!(!translation.has_errors(), "{:?}", translation.diagnostics);
    let (version, envelope) = dataplane::push::envelope(&translation.snapshot).expect("envelope");

    let ack = rt
        .block_on(controller.push(&target, Bytes::from(envelope.clone())))
        .expect("push");
    assert!(ack.accepted, "{ack:?}\n{}", dp.log());
    assert_eq!(ack.version.as_deref(), Some(version.as_str()));
    assert_eq!(dp.readyz(), 200);
    let get = || {
        rustls_get_as(
            port,
            "api.example.com",
            "/",
            &server_root.pem(),
            &device,
            &[&int],
        )
    };
    assert!(Standalone::eventually(Duration::from_secs(10), || get()
        .is_ok_and(|(s, _)| s == 200)));

    // A snapshot that does not parse is rejected with its reason; the last good one serves.
    let garbage = br#"{"version":"bad","snapshot":{"ports":[{"port":"eighty"}]}}"#;
    let ack = rt
        .block_on(controller.push(&target, Bytes::from_static(garbage)))
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

    // Nobody else gets in: no certificate, the dataplane's own certificate (serverAuth
    // only), a clientAuth certificate of the push CA for another name, the right name from
    // another CA.
    let url = format!("https://127.0.0.1:{}/v1/snapshot", dp.push_port);
    let (code, out, _) = curl(&["-k", &url]);
    assert_ne!(code, 0, "read without a certificate: {out}");
    let impostors = [
        client(&push_ca, &dataplane_cert),
        client(&push_ca, &push_ca.client_named("someone-else")),
        client(
            &push_ca,
            &Ca::root("Other CA").client_named(dataplane::push::CONTROLLER_NAME),
        ),
    ];
    for (i, impostor) in impostors.iter().enumerate() {
        assert!(
            rt.block_on(impostor.version(&target)).is_err(),
            "impostor {i} could read the configuration"
        );
        assert!(
            rt.block_on(impostor.push(&target, Bytes::from(envelope.clone())))
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
        .block_on(controller.version(&target))
        .is_ok_and(|v| v.as_deref() == Some(version.as_str()))));
}
