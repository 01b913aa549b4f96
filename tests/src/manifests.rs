//! Manifests as a user writes them, built fluently for tests and written to a temp directory
//! as multi-document YAML.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// A set of manifests being built; `write` puts them in one YAML file.
#[derive(Default, Clone)]
pub struct Manifests {
    docs: Vec<Value>,
}

impl Manifests {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds any object, replacing one of the same kind, namespace and name: a set holds each
    /// object once, as the API server does. (Two copies in one `kubectl apply` would be
    /// applied one after the other, and a controller may act on the first.)
    pub fn with(mut self, doc: Value) -> Self {
        let same = |d: &Value| {
            d["kind"] == doc["kind"]
                && d["metadata"]["namespace"] == doc["metadata"]["namespace"]
                && d["metadata"]["name"] == doc["metadata"]["name"]
        };
        match self.docs.iter_mut().find(|d| same(d)) {
            Some(existing) => *existing = doc,
            None => self.docs.push(doc),
        }
        self
    }

    /// Changes the object of `kind` named `name` in place (the test's one deviation from a
    /// clean set). Panics when there is no such object, so a typo cannot make a test vacuous.
    pub fn edit(mut self, kind: &str, name: &str, f: impl FnOnce(&mut Value)) -> Self {
        let doc = self
            .docs
            .iter_mut()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} to edit"));
        f(doc);
        self
    }

    /// An Opaque Secret whose `ca.crt` holds `bundle`.
    pub fn ca_secret(self, ns: &str, name: &str, bundle: &[u8]) -> Self {
        self.with(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": "Opaque",
            "data": {"ca.crt": STANDARD.encode(bundle)},
        }))
    }

    /// An Opaque Secret with `ca.crt` and `ca.crl`.
    pub fn ca_secret_with_crl(self, ns: &str, name: &str, bundle: &[u8], crl: &[u8]) -> Self {
        self.with(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": "Opaque",
            "data": {"ca.crt": STANDARD.encode(bundle), "ca.crl": STANDARD.encode(crl)},
        }))
    }

    /// A `kubernetes.io/tls` Secret.
    pub fn tls_secret(self, ns: &str, name: &str, crt: &str, key: &str) -> Self {
        self.with(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": STANDARD.encode(crt), "tls.key": STANDARD.encode(key)},
        }))
    }

    /// An SslProfile with `mode` trusting the Secrets named in `trusted` (namespace `ns`
    /// unless written `other-ns/name`).
    pub fn ssl_profile(self, ns: &str, name: &str, mode: &str, trusted: &[&str]) -> Self {
        let refs: Vec<Value> = trusted
            .iter()
            .map(|t| match t.split_once('/') {
                Some((n, s)) => json!({"name": s, "namespace": n}),
                None => json!({"name": t}),
            })
            .collect();
        self.with(json!({
            "apiVersion": "portcullis.io/v1alpha1", "kind": "SslProfile",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clientAuthConfiguration": {
                "mode": mode,
                "trustedClientCertificates": refs,
                "verifyClientCertIssuerDN": true,
            }},
        }))
    }

    /// An HTTPS Listener `namespace/name` on `port` for `host`, with its certificate Secret,
    /// an optional profile, and one rule to `service:80`.
    pub fn https_listener(
        self,
        id: &str,
        port: u16,
        host: &str,
        cert: Option<&str>,
        profile: Option<&str>,
        service: &str,
    ) -> Self {
        let (ns, name) = id.split_once('/').expect("namespace/name");
        let mut spec = json!({
            "protocol": "HTTPS", "port": port, "hostnames": [host],
            "rules": [{"backend": {"service": service, "port": 80}}],
        });
        if let Some(c) = cert {
            spec["sslCertificate"] = json!({"name": c});
        }
        if let Some(p) = profile {
            spec["sslProfile"] = json!({"name": p});
        }
        self.with(json!({
            "apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }))
    }

    /// An SslProfile `default/name` whose `clientAuthConfiguration` is `auth`.
    pub fn client_auth(self, name: &str, auth: Value) -> Self {
        self.with(json!({
            "apiVersion": "portcullis.io/v1alpha1", "kind": "SslProfile",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"clientAuthConfiguration": auth},
        }))
    }

    /// An HTTPS Listener `default/name` on `port` for `host`, with the certificate Secret
    /// `gw-tls`, the SslProfile `profile` when given, and `rules`.
    pub fn https_rules(
        self,
        name: &str,
        port: u16,
        host: &str,
        profile: Option<&str>,
        rules: Value,
    ) -> Self {
        let mut spec = json!({
            "protocol": "HTTPS", "port": port, "hostnames": [host],
            "sslCertificate": {"name": "gw-tls"}, "rules": rules,
        });
        if let Some(p) = profile {
            spec["sslProfile"] = json!({"name": p});
        }
        self.with(json!({
            "apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec,
        }))
    }

    /// A Service with port 80 → 8080 and an EndpointSlice with one ready endpoint on
    /// `address:target`.
    pub fn service(self, ns: &str, name: &str, address: &str, target: u16) -> Self {
        self.with(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"port": 80, "targetPort": target, "protocol": "TCP"}]},
        }))
        .with(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{name}-1"), "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": true}}],
            "ports": [{"port": target, "protocol": "TCP"}],
        }))
    }

    /// The HTTPS listener `default/chain` for `chain.example` on `port` (certificate `server`),
    /// using the SslProfile `chain` (added before) with revocation checked along the whole
    /// verified path (scope `Chain`), and its echo Service on `backend_port`.
    pub fn chain_scope_listener(
        self,
        server: &crate::pki::Leaf,
        port: u16,
        backend_port: u16,
    ) -> Self {
        self.tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
            .edit("SslProfile", "chain", |p| {
                p["spec"]["clientAuthConfiguration"]["revocationScope"] = json!("Chain")
            })
            .https_listener(
                "default/chain",
                port,
                "chain.example",
                Some("gw-tls"),
                Some("chain"),
                "echo",
            )
            .service("default", "echo", "127.0.0.1", backend_port)
    }

    /// An IngressClass `name` of `controller`, the cluster's default when `default`.
    pub fn ingress_class(self, name: &str, controller: &str, default: bool) -> Self {
        let annotations = if default {
            json!({"ingressclass.kubernetes.io/is-default-class": "true"})
        } else {
            json!({})
        };
        self.with(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"controller": controller},
        }))
    }

    /// An Ingress as ingress-nginx's documentation writes one: class `class`, host `host`
    /// with path `/` (Prefix) to Service `service` port 80, in `spec.tls` with Secret `tls`
    /// when given, and `annotations` (names without the `nginx.ingress.kubernetes.io/`
    /// prefix).
    pub fn ingress(
        self,
        name: &str,
        class: &str,
        host: &str,
        tls: Option<&str>,
        annotations: &[(&str, &str)],
        service: &str,
    ) -> Self {
        let annotations: serde_json::Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| (format!("nginx.ingress.kubernetes.io/{k}"), json!(v)))
            .collect();
        let mut doc = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "default", "annotations": annotations},
            "spec": {
                "ingressClassName": class,
                "rules": [{"host": host, "http": {"paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": service, "port": {"number": 80}}},
                }]}}],
            },
        });
        if let Some(secret) = tls {
            doc["spec"]["tls"] = json!([{"hosts": [host], "secretName": secret}]);
        }
        self.with(doc)
    }

    /// The objects as one multi-document YAML stream.
    pub fn to_yaml(&self) -> String {
        self.docs
            .iter()
            .map(|d| {
                format!(
                    "---\n{}",
                    serde_saphyr::to_string(d).expect("serialize YAML")
                )
            })
            .collect()
    }

    /// Replaces `dir/manifests.yaml` atomically (write aside, then rename), as editors and
    /// GitOps agents do, so a watcher never reads half a file.
    pub fn publish(&self, dir: &Path) {
        let staging = dir.join(".manifests.yaml.tmp");
        std::fs::write(&staging, self.to_yaml()).expect("write manifests");
        std::fs::rename(&staging, dir.join("manifests.yaml")).expect("rename manifests");
    }

    /// Writes `manifests.yaml` into `dir` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("manifests.yaml");
        std::fs::write(&path, self.to_yaml()).expect("write manifests");
        path
    }
}

impl Manifests {
    /// The common case, clean: a CA Secret `partner-ca` holding `ca_bundle`, a server
    /// certificate for `api.example.com` (from its own test root), a Required SslProfile
    /// `partner`, an HTTPS Listener `api` on 8443 and a Service `echo` with an endpoint on
    /// 127.0.0.1:8080, all in namespace `default`.
    pub fn partner_api(ca_bundle: &[u8]) -> Self {
        let server = crate::pki::Ca::root("Server Root").server(&["api.example.com"]);
        Self::new()
            .ca_secret("default", "partner-ca", ca_bundle)
            .tls_secret("default", "api-tls", &server.pem(), server.key_pem())
            .ssl_profile("default", "partner", "Required", &["partner-ca"])
            .https_listener(
                "default/api",
                8443,
                "api.example.com",
                Some("api-tls"),
                Some("partner"),
                "echo",
            )
            .service("default", "echo", "127.0.0.1", 8080)
    }

    /// A standalone gateway's common case: a CA Secret `partner-ca` holding `ca_bundle`, the
    /// `server` certificate, a Required SslProfile `partner`, an HTTPS Listener `default/api`
    /// for `secure.example` on `port`, and a Service `echo` on 127.0.0.1:`backend_port`.
    pub fn secure_example(
        ca_bundle: &[u8],
        server: &crate::pki::Leaf,
        port: u16,
        backend_port: u16,
    ) -> Self {
        Self::new()
            .ca_secret("default", "partner-ca", ca_bundle)
            .tls_secret("default", "gw-tls", &server.pem(), server.key_pem())
            .ssl_profile("default", "partner", "Required", &["partner-ca"])
            .https_listener(
                "default/api",
                port,
                "secure.example",
                Some("gw-tls"),
                Some("partner"),
                "echo",
            )
            .service("default", "echo", "127.0.0.1", backend_port)
    }
}
