//! The Ingresses of the auth-tls tests, as ingress-nginx's documentation writes them, and the
//! clients that ask them: valid, expired, other-CA, revoked, and one two CAs deep.

use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::rcgen::{DnType, DnValue};
use portcullis_tests::pki::{Ca, Leaf};

/// The clients, and the manifests that serve them.
pub struct World {
    pub valid: Leaf,
    pub expired: Leaf,
    pub revoked: Leaf,
    pub stranger: Leaf,
    /// The stranger's issuing CA and root (trusted by no Secret but `other-ca`).
    pub other: Ca,
    pub other_root: Ca,
    pub self_signed: Leaf,
    /// Issued in the name of the devices' issuing CA by another key.
    pub forged: Leaf,
    pub deep: Leaf,
    /// The root of the server certificate, and the certificate (for every host).
    pub server_root: Ca,
    pub server: Leaf,
    /// Secret `devices-ca`: the chain (root, issuing CA) and a CRL from each.
    pub devices_chain: String,
    pub devices_crls: String,
    /// Secret `deep-ca`: the chain with a second intermediate.
    pub deep_chain: String,
    /// Every object: IngressClasses, Secrets, the Ingresses and Service `echo`.
    pub manifests: Manifests,
}

impl World {
    /// The PKI and manifests, with Service `echo` on 127.0.0.1:`backend`.
    pub fn new(backend: u16) -> Self {
        let root = Ca::root("Devices Root");
        let int = root.intermediate("Devices Issuing");
        let deeper = int.intermediate("Devices Sub-Issuing");
        let other_root = Ca::root("Other Root");
        let other = other_root.intermediate("Other Issuing");
        let valid = int.client_with("valid", |p| {
            p.distinguished_name
                .push(DnType::OrganizationName, "Devices, Inc.");
            p.distinguished_name.push(
                DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
                DnValue::Ia5String("ops@devices.example".try_into().expect("ia5")),
            );
        });
        let expired = int.client_valid("expired", -30, -1);
        let revoked = int.client("revoked");
        let stranger = other.client("valid");
        let deep = deeper.client("deep");
        // ingress-nginx's ca.crl goes to nginx's ssl_crl, which checks every certificate of the
        // chain (CRL_CHECK_ALL): one CRL from each CA.
        let crls = format!(
            "{}{}",
            int.crl(&[&revoked], 0, 7),
            root.crl_of_cas(&[], 0, 7)
        );
        let server_root = Ca::root("Server Root");
        let hosts = [
            "on.example",
            "off.example",
            "optional.example",
            "noca.example",
            "noca-plain.example",
            "errpage.example",
            "cn.example",
            "cn-other.example",
            "cn-optional.example",
            "depth1.example",
            "depth2.example",
            "other-class.example",
            "conflict.example",
            "plain.example",
        ];
        let server = server_root.server(&hosts);
        let chain = format!("{}{}", root.pem(), int.pem());
        let deep_chain = format!("{}{}{}", root.pem(), int.pem(), deeper.pem());
        let mut m = Manifests::new()
            .ingress_class("portcullis", "portcullis.io/ingress-controller", false)
            .ingress_class("other", "example.com/other-controller", false)
            .ca_secret_with_crl("default", "devices-ca", chain.as_bytes(), crls.as_bytes())
            .ca_secret("default", "deep-ca", deep_chain.as_bytes())
            .ca_secret("default", "devices-ca-plain", chain.as_bytes())
            .ca_secret(
                "default",
                "other-ca",
                format!("{}{}", other_root.pem(), other.pem()).as_bytes(),
            )
            .tls_secret("default", "site-tls", &server.pem(), server.key_pem())
            .service("default", "echo", "127.0.0.1", backend);
        let secret = ("auth-tls-secret", "default/devices-ca");
        let ingresses = ingresses();
        for (host, annotations) in &ingresses {
            m = m.ingress(
                host,
                "portcullis",
                host,
                Some("site-tls"),
                annotations,
                "echo",
            );
        }
        m = m
            .ingress(
                "other-class",
                "other",
                "other-class.example",
                Some("site-tls"),
                &[],
                "echo",
            )
            .ingress(
                "conflict-a",
                "portcullis",
                "conflict.example",
                Some("site-tls"),
                &[secret],
                "echo",
            )
            .ingress(
                "conflict-b",
                "portcullis",
                "conflict.example",
                Some("site-tls"),
                &[("auth-tls-secret", "default/other-ca")],
                "echo",
            );
        Self {
            valid,
            expired,
            revoked,
            stranger,
            other,
            other_root,
            self_signed: Leaf::self_signed("self-made"),
            forged: Ca::root("Forger Root")
                .intermediate("Devices Issuing")
                .client("forged"),
            deep,
            server_root,
            server,
            devices_chain: chain,
            devices_crls: crls,
            deep_chain,
            manifests: m,
        }
    }
}

/// The Ingresses of the table, one per host: the annotations (without the prefix) each sets.
pub fn ingresses() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let secret = ("auth-tls-secret", "default/devices-ca");
    vec![
        (
            "on.example",
            vec![
                secret,
                ("auth-tls-verify-client", "on"),
                ("auth-tls-pass-certificate-to-upstream", "true"),
            ],
        ),
        (
            "off.example",
            vec![secret, ("auth-tls-verify-client", "off")],
        ),
        (
            "optional.example",
            vec![secret, ("auth-tls-verify-client", "optional")],
        ),
        (
            "noca.example",
            vec![secret, ("auth-tls-verify-client", "optional_no_ca")],
        ),
        (
            "noca-plain.example",
            vec![
                ("auth-tls-secret", "default/devices-ca-plain"),
                ("auth-tls-verify-client", "optional_no_ca"),
            ],
        ),
        (
            "errpage.example",
            vec![
                secret,
                ("auth-tls-error-page", "https://errors.example/cert"),
            ],
        ),
        (
            "cn.example",
            vec![secret, ("auth-tls-match-cn", "CN=valid")],
        ),
        (
            "cn-other.example",
            vec![secret, ("auth-tls-match-cn", "CN=(nobody|someone)")],
        ),
        (
            "cn-optional.example",
            vec![
                secret,
                ("auth-tls-verify-client", "optional"),
                ("auth-tls-match-cn", "CN=valid"),
            ],
        ),
        (
            "depth1.example",
            vec![("auth-tls-secret", "default/deep-ca")],
        ),
        (
            "depth2.example",
            vec![
                ("auth-tls-secret", "default/deep-ca"),
                ("auth-tls-verify-depth", "2"),
            ],
        ),
        ("plain.example", vec![]),
    ]
}
