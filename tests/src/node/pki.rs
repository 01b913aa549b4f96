//! The test cluster's certificates, made at start: one CA for the API server's serving
//! certificate and every client (administrator, kubelet, controller-manager, scheduler,
//! kube-proxy, the API server towards kubelets), and the service-account signing key.

use crate::node::config::{Layout, NODE_IP, NODE_NAME};
use crate::pki::{Ca, rcgen};

/// Writes `pki/` under the layout: `ca.crt`, `apiserver.{crt,key}`, `<user>.{crt,key}` for
/// each client, `sa.{key,pub}`.
pub fn write(layout: &Layout) {
    let dir = layout.path("pki");
    std::fs::create_dir_all(&dir).expect("pki dir");
    let put = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write pki");
    let ca = Ca::root("portcullis test cluster CA");
    put("ca.crt", &ca.pem());
    let serving = ca.server(&[
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        NODE_IP,
        "10.96.0.1",
        "127.0.0.1",
    ]);
    put("apiserver.crt", &serving.pem());
    put("apiserver.key", serving.key_pem());
    let node = format!("system:node:{NODE_NAME}");
    let clients: [(&str, &str, &[&str]); 6] = [
        ("admin", "admin", &["system:masters"]),
        ("kubelet", &node, &["system:nodes"]),
        ("controller-manager", "system:kube-controller-manager", &[]),
        ("scheduler", "system:kube-scheduler", &[]),
        ("kube-proxy", "system:kube-proxy", &[]),
        (
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            &["system:masters"],
        ),
    ];
    for (file, user, groups) in clients {
        let leaf = ca.client_with(user, |p| {
            let mut dn = rcgen::DistinguishedName::new();
            dn.push(rcgen::DnType::CommonName, user);
            for g in groups {
                dn.push(rcgen::DnType::OrganizationName, *g);
            }
            p.distinguished_name = dn;
        });
        put(&format!("{file}.crt"), &leaf.pem());
        put(&format!("{file}.key"), leaf.key_pem());
    }
    let sa = rcgen::KeyPair::generate().expect("service account key");
    put("sa.key", &sa.serialize_pem());
    put("sa.pub", &sa.public_key_pem());
}
