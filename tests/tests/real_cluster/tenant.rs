//! A tenant of the cluster as a user sets one up: a namespace (under `restricted`), an echo
//! backend Deployment of two pods behind a Service, a client CA and server certificate in
//! Secrets, an SslProfile and a Listener on the chart's HTTPS port — and a client that reaches
//! it through the dataplane Service's ClusterIP, as traffic from outside would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_tests::client::{Identity, Load, LoadResult, rustls_config, rustls_send_to};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::node::Node;
use portcullis_tests::node::images::ECHO_IMAGE;
use portcullis_tests::pki::{Ca, Leaf};
use serde_json::{Value, json};

use super::chart::NAMESPACE;

/// The Listener port: the chart's Service exposes 443.
const PORT: u16 = 443;

/// One tenant's objects and PKI.
pub struct Tenant {
    pub ns: String,
    pub host: String,
    pub client_ca: Ca,
    pub client: Leaf,
    pub server_ca: Ca,
}

impl Tenant {
    /// Creates namespace `ns` with the backend, Secrets, SslProfile `mtls` (Required) and
    /// Listener `app` for `<ns>.example`, and waits until the Listener is Programmed.
    pub fn create(node: &Node, ns: &str) -> Self {
        let host = format!("{ns}.example");
        let client_ca = Ca::root(&format!("{ns} clients"));
        let client = client_ca.client(&format!("device-1.{ns}"));
        let server_ca = Ca::root(&format!("{ns} servers"));
        let server = server_ca.server(&[&host]);
        let yaml = Manifests::new()
            .with(namespace(ns))
            .with(echo_deployment(ns, "echo", 3000))
            .with(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "echo", "namespace": ns},
                "spec": {"selector": {"app": "echo"},
                         "ports": [{"port": 80, "targetPort": 3000, "protocol": "TCP"}]},
            }))
            .ca_secret(ns, "client-ca", client_ca.pem().as_bytes())
            .tls_secret(ns, "server-tls", &server.pem(), server.key_pem())
            .ssl_profile(ns, "mtls", "Required", &["client-ca"])
            .https_listener(
                &format!("{ns}/app"),
                PORT,
                &host,
                Some("server-tls"),
                Some("mtls"),
                "echo",
            )
            .edit("Listener", "app", |l| {
                l["spec"]["rules"][0]["requestHeaders"] = json!({"presets": ["NginxSslClient"]});
            })
            .to_yaml();
        node.apply(&yaml);
        let tenant = Self {
            ns: ns.to_owned(),
            host,
            client_ca,
            client,
            server_ca,
        };
        node.kubectl_ok(&[
            "rollout",
            "status",
            "deployment/echo",
            "-n",
            ns,
            "--timeout=120s",
        ]);
        tenant.wait_programmed(node);
        tenant
    }

    /// [`Tenant::create`], then waits until its client is answered through the Service.
    pub fn ready(node: &Node, ns: &str) -> Self {
        let tenant = Self::create(node, ns);
        tenant.first_ok(
            node,
            &tenant.config(Some(&tenant.client)),
            Duration::from_secs(30),
        );
        tenant
    }

    /// Makes `/<path>` a rule of its own before the catch-all (a change of the Listener's
    /// spec, so of its generation) and waits until its status observed it.
    pub fn change_rules(&self, node: &Node, path: &str) {
        let patch = json!({"spec": {"rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": path}}],
             "backend": {"service": "echo", "port": 80}},
            {"backend": {"service": "echo", "port": 80}},
        ]}});
        node.kubectl_ok(&[
            "patch",
            "listener",
            "app",
            "-n",
            &self.ns,
            "--type=merge",
            "-p",
            &patch.to_string(),
        ]);
        node.wait("the Listener's status to observe its generation", Duration::from_secs(30), |n| {
            let out = n.kubectl_ok(&[
                "get", "listener", "app", "-n", &self.ns, "-o",
                "jsonpath={.metadata.generation} {.status.conditions[?(@.type==\"Programmed\")].observedGeneration} {.status.conditions[?(@.type==\"Programmed\")].status}",
            ]);
            let f: Vec<&str> = out.split_whitespace().collect();
            f.len() == 3 && f[0] == f[1] && f[2] == "True"
        });
    }

    /// Waits until the Listener says `Programmed=True`.
    pub fn wait_programmed(&self, node: &Node) {
        node.kubectl_ok(&[
            "wait",
            "--for=condition=Programmed",
            "listener/app",
            "-n",
            &self.ns,
            "--timeout=60s",
        ]);
    }

    /// The dataplane Service's ClusterIP and HTTPS port.
    pub fn address(node: &Node) -> SocketAddr {
        let ip = dataplane_service(node, "{.spec.clusterIP}");
        format!("{ip}:{PORT}").parse().expect("ClusterIP")
    }

    /// A client configuration trusting the server CA and presenting `id`.
    pub fn config(&self, id: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
        let pem = id.map(|l| (l.pem(), l.key_pem().to_owned()));
        rustls_config(
            &self.server_ca.pem(),
            pem.as_ref().map(|(c, k)| Identity {
                chain_pem: c,
                key_pem: k,
            }),
        )
        .expect("client config")
    }

    /// GET `path` on a new connection: (status, body) or the error.
    pub fn get(
        &self,
        config: &Arc<rustls::ClientConfig>,
        addr: SocketAddr,
        path: &str,
    ) -> Result<(u16, String), String> {
        rustls_send_to(
            config,
            addr,
            &self.host,
            &format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.host),
        )
        .map(|(status, body, _)| (status, body))
    }

    /// Sends until a request is answered 200 (kube-proxy programs a new Service's rules about
    /// a second after its endpoints are ready), at most `limit`; returns the echo.
    pub fn first_ok(
        &self,
        node: &Node,
        config: &Arc<rustls::ClientConfig>,
        limit: Duration,
    ) -> Value {
        let addr = Self::address(node);
        node.wait_for(
            &format!("a 200 for {} through {addr}", self.host),
            limit,
            |_| match self.get(config, addr, "/hello") {
                Ok((200, body)) => Ok(serde_json::from_str(&body).expect("echo JSON")),
                Ok((status, body)) => Err(format!("{status} {body}")),
                Err(e) => Err(e),
            },
        )
    }
}

impl Tenant {
    /// Two client threads sending requests through the dataplane Service as `id`, each on a
    /// new connection (a full handshake: what a rollout must not break), until stopped.
    pub fn load(&self, node: &Node, id: &Leaf) -> Load {
        let (config, addr, host) = (
            self.config(Some(id)),
            Self::address(node),
            self.host.clone(),
        );
        Load::start(2, Duration::from_secs(600), move |_, _| {
            std::thread::sleep(Duration::from_millis(10));
            let head = format!("GET /load HTTP/1.1\r\nHost: {host}\r\n");
            match rustls_send_to(&config, addr, &host, &head) {
                Ok((200, _, _)) => Ok(()),
                Ok((status, body, _)) => Err(format!("{status} {body}")),
                Err(e) => Err(e),
            }
        })
    }

    /// GET on one dataplane pod directly (its pod IP): (status, body) or the error.
    pub fn get_from_pod(&self, id: Option<&Leaf>, ip: &str) -> Result<(u16, String), String> {
        let addr = format!("{ip}:{PORT}").parse().expect("pod address");
        self.get(&self.config(id), addr, "/pod")
    }
}

/// Asserts a load saw every request answered, and enough of them to mean something.
pub fn assert_all_answered(what: &str, seen: &LoadResult) {
    assert!(
        seen.failed == 0 && seen.ok >= 20,
        "{what}: {} answered, {} failed; first failures: {:#?}",
        seen.ok,
        seen.failed,
        seen.first_failures
    );
    eprintln!("{what}: {} requests, none failed", seen.ok);
}

/// The dataplane pods that are not being deleted: (name, pod IP).
pub fn dataplane_pods(node: &Node) -> Vec<(String, String)> {
    node.kubectl_ok(&[
        "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=dataplane", "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.podIP} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ])
    .lines()
    .filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 2).then(|| (f[0].to_owned(), f[1].to_owned()))
    })
    .collect()
}

/// A field of the dataplane Service (a kubectl JSONPath template).
pub fn dataplane_service(node: &Node, jsonpath: &str) -> String {
    node.kubectl_ok(&[
        "get",
        "service",
        "portcullis-dataplane",
        "-n",
        NAMESPACE,
        "-o",
        &format!("jsonpath={jsonpath}"),
    ])
}

/// The CRI ID of the first container of chart pod `pod` (empty until the kubelet reports it).
pub fn container_id(node: &Node, pod: &str) -> String {
    node.kubectl_ok(&[
        "get",
        "pod",
        pod,
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.status.containerStatuses[0].containerID}",
    ])
    .trim_start_matches("containerd://")
    .to_owned()
}

/// A namespace enforcing the `restricted` Pod Security Standard.
pub fn namespace(ns: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        }},
    })
}

/// Gateway API's echo backend `name` (label `app: <name>`) answering on `port`, two replicas,
/// as `restricted` requires.
pub fn echo_deployment(ns: &str, name: &str, port: u16) -> Value {
    let env = |name: &str, path: &str| json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}});
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "echo", "image": ECHO_IMAGE, "imagePullPolicy": "Never",
                        "env": [
                            env("POD_NAME", "metadata.name"),
                            env("NAMESPACE", "metadata.namespace"),
                            json!({"name": "HTTP_PORT", "value": port.to_string()}),
                        ],
                        "ports": [{"containerPort": port}],
                        "readinessProbe": {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 2},
                        "securityContext": {
                            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }],
                },
            },
        },
    })
}
