//! The examples a user starts from, applied with kubectl on the real node after the Secrets
//! their comments name (made by running those very commands): every Listener is Programmed,
//! the Ingress gets the dataplane Service's address, and the public website serves its pages
//! and its staff-only `/admin` from real backend pods, refusing what the example says it
//! refuses. (cert-manager's needs cert-manager running; the quickstart is for `portcullis
//! run`.)

use std::time::Duration;

use portcullis_tests::client::{Identity, rustls_config, rustls_send_to};
use portcullis_tests::examples::{ExamplePki, examples_root, yaml_files};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::node::Node;

use super::tenant::{Tenant, echo_deployment};

const EXAMPLES: &[&str] = &[
    "public-site",
    "partner-api",
    "passthrough",
    "https-backend",
    "ingress-nginx",
];

pub fn examples_serve_on_the_node(node: &Node) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pki = ExamplePki::new(dir.path());
    for name in EXAMPLES {
        let example = examples_root().join(name);
        node.apply(&pki.secrets_with(&|args| node.kubectl(args), &example));
        for file in yaml_files(&example) {
            node.kubectl_ok(&["apply", "-f", &file.display().to_string()]);
        }
    }
    node.kubectl_ok(&[
        "wait",
        "--for=condition=Programmed",
        "listener",
        "--all",
        "-n",
        "default",
        "--timeout=60s",
    ]);
    let service_ip = Tenant::address(node).ip().to_string();
    node.wait(
        "the Ingress's status to name the dataplane Service",
        Duration::from_secs(30),
        |n| {
            n.kubectl_ok(&[
                "get",
                "ingress",
                "devices",
                "-n",
                "default",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}",
            ]) == service_ip
        },
    );

    // The public website, end to end, from the backend pods its Services select.
    node.apply(
        &Manifests::new()
            .with(echo_deployment("default", "site", 8080))
            .with(echo_deployment("default", "site-admin", 8080))
            .to_yaml(),
    );
    for deployment in ["site", "site-admin"] {
        node.kubectl_ok(&[
            "rollout",
            "status",
            &format!("deployment/{deployment}"),
            "-n",
            "default",
            "--timeout=120s",
        ]);
    }
    let addr = Tenant::address(node);
    let staff = pki.client("staff-ca-chain.pem", "alice");
    let (chain, key) = (staff.pem(), staff.key_pem().to_owned());
    let anonymous = rustls_config(&pki.server_root_pem(), None).expect("client config");
    let with_staff = rustls_config(
        &pki.server_root_pem(),
        Some(Identity {
            chain_pem: &chain,
            key_pem: &key,
        }),
    )
    .expect("client config");
    let get = |config, path: &str| {
        let head = format!("GET {path} HTTP/1.1\r\nHost: www.example.com\r\n");
        rustls_send_to(config, addr, "www.example.com", &head).map(|(s, b, _)| (s, b))
    };
    // The pod that answered, from the echo.
    let pod = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["pod"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    node.wait_for(
        "the public site's home page, from a site pod",
        Duration::from_secs(30),
        |_| match get(&anonymous, "/") {
            Ok((200, b)) if pod(&b).starts_with("site-") && !pod(&b).starts_with("site-admin-") => {
                Ok(())
            }
            other => Err(other),
        },
    );
    let (status, body) = get(&anonymous, "/admin").expect("request");
    assert_eq!(
        (status, body.trim()),
        (
            400,
            "400 Bad Request: client certificate refused: no client certificate presented"
        ),
        "/admin without a certificate"
    );
    // Each backend's endpoints reach the dataplanes in their own push: wait for site-admin's
    // as for site's.
    node.wait_for(
        "staff-only /admin, from a site-admin pod",
        Duration::from_secs(30),
        |_| match get(&with_staff, "/admin") {
            Ok((200, b)) if pod(&b).starts_with("site-admin-") => Ok(()),
            other => Err(other),
        },
    );
}
