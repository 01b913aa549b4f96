//! `portcullis validate` on manifests written as a user would, with PKI made at test time.

use std::process::Command;

use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;

/// Runs `portcullis validate -f <file>`, returning (exit code, stdout).
fn validate(m: &Manifests) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = m.write(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["validate", "-f"])
        .arg(&file)
        .output()
        .expect("run portcullis");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// The clean common case, trusting `root` → `int`.
fn clean(root: &Ca, int: &Ca) -> Manifests {
    Manifests::partner_api(format!("{}{}", root.pem(), int.pem()).as_bytes())
}

#[test]
fn clean_manifests_exit_zero() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let (code, out) = validate(&clean(&root, &int));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 error(s)"), "{out}");
    assert!(
        out.contains(
            "1 SslProfile(s), 1 Listener(s), 2 Secret(s), 1 Service(s), 1 EndpointSlice(s)"
        ),
        "{out}"
    );
}

#[test]
fn each_problem_exits_one_naming_object_and_field() {
    let root = Ca::root("Partner Root");
    let int = root.intermediate("Partner Issuing");
    let client = int.client("device-1");
    let server = root.server(&["api.example.com"]);
    let base = clean(&root, &int);

    // 101 chains in one profile: 101 Secrets of one root each.
    let many: Vec<Ca> = (0..201).map(|i| Ca::root(&format!("Root {i}"))).collect();
    let with_roots = |mut m: Manifests, range: std::ops::Range<usize>| {
        for i in range {
            m = m.ca_secret("default", &format!("ca-{i}"), many[i].pem().as_bytes());
        }
        m
    };
    let names =
        |range: std::ops::Range<usize>| range.map(|i| format!("ca-{i}")).collect::<Vec<_>>();
    let n101 = names(0..101);
    let too_many = with_roots(Manifests::new(), 0..101).ssl_profile(
        "default",
        "big",
        "Required",
        &refs(&n101),
    );
    let (a, b, c) = (names(0..100), names(100..200), names(200..201));
    let gateway = with_roots(Manifests::new(), 0..201)
        .ssl_profile("default", "p1", "Required", &refs(&a))
        .ssl_profile("default", "p2", "Required", &refs(&b))
        .ssl_profile("default", "p3", "Required", &refs(&c));

    let cases: Vec<(&str, Manifests, &[&str])> = vec![
        (
            "a Secret with a leaf-only bundle",
            Manifests::new()
                .ca_secret("default", "leaf-ca", client.pem().as_bytes())
                .ssl_profile("default", "leafy", "Required", &["leaf-ca"]),
            &[
                "SslProfile/default/leafy: spec.clientAuthConfiguration.trustedClientCertificates[0]: Secret default/leaf-ca key ca.crt holds only a leaf",
                "(LeafCertificateOnly)",
            ],
        ),
        (
            "a Secret with two roots",
            Manifests::new()
                .ca_secret(
                    "default",
                    "two",
                    format!("{}{}", root.pem(), many[0].pem()).as_bytes(),
                )
                .ssl_profile("default", "p", "Required", &["two"]),
            &[
                "SslProfile/default/p: spec.clientAuthConfiguration.trustedClientCertificates[0]: Secret default/two key ca.crt holds 2 root CAs",
                "(MultipleRootCAs)",
            ],
        ),
        (
            "a Listener naming a missing SslProfile",
            Manifests::new()
                .tls_secret("default", "api-tls", &server.pem(), server.key_pem())
                .https_listener(
                    "default/api",
                    8443,
                    "api.example.com",
                    Some("api-tls"),
                    Some("nope"),
                    "echo",
                )
                .service("default", "echo", "127.0.0.1", 8080),
            &[
                "Listener/default/api: spec.sslProfile: SslProfile default/nope does not exist",
                "(SslProfileNotFound)",
            ],
        ),
        (
            "a Listener naming a missing Secret",
            Manifests::new()
                .https_listener(
                    "default/api",
                    8443,
                    "api.example.com",
                    Some("gone"),
                    None,
                    "echo",
                )
                .service("default", "echo", "127.0.0.1", 8080),
            &[
                "Listener/default/api: spec.sslCertificate: Secret default/gone does not exist",
                "(SecretNotFound)",
            ],
        ),
        (
            "an HTTPS Listener without sslCertificate",
            Manifests::new()
                .https_listener("default/api", 8443, "api.example.com", None, None, "echo")
                .service("default", "echo", "127.0.0.1", 8080),
            &[
                "Listener/default/api: spec.sslCertificate: HTTPS and TLS listeners need sslCertificate",
                "(MissingSslCertificate)",
            ],
        ),
        (
            "101 chains in a profile",
            too_many,
            &[
                "SslProfile/default/big: spec.clientAuthConfiguration.trustedClientCertificates: the profile trusts 101 chains; at most 100",
                "(TooManyChains)",
            ],
        ),
        (
            "201 chains in total",
            gateway,
            &[
                "SslProfile/default/p3: spec.clientAuthConfiguration.trustedClientCertificates: with this profile the gateway would trust 201 chains",
                "(GatewayChainLimitExceeded)",
            ],
        ),
        (
            "a cross-namespace Secret reference",
            base.clone()
                .ssl_profile("default", "xns", "Required", &["other/partner-ca"]),
            &[
                "SslProfile/default/xns: spec.clientAuthConfiguration.trustedClientCertificates[0]: Secret other/partner-ca is in another namespace",
                "(RefNotPermitted)",
            ],
        ),
        (
            "a Listener whose profile is invalid refuses",
            base.clone().ca_secret("default", "partner-ca", b"garbage"),
            &[
                "SslProfile/default/partner:",
                "(InvalidCertificate)",
                "Listener/default/api: spec.sslProfile: SslProfile default/partner is invalid",
                "(InvalidSslProfile)",
            ],
        ),
    ];
    for (name, manifests, expected) in cases {
        let (code, out) = validate(&manifests);
        assert_eq!(code, 1, "{name}: expected exit 1\n{out}");
        for e in expected {
            assert!(out.contains(e), "{name}: expected {e:?} in\n{out}");
        }
    }
}

#[test]
fn reads_hand_written_yaml_with_several_documents() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("listener.yaml");
    std::fs::write(
        &path,
        "# a plain HTTP listener, as a user writes it\n\
         apiVersion: portcullis.io/v1alpha1\nkind: Listener\nmetadata:\n  name: web\n  namespace: shop\n\
         spec:\n  protocol: HTTP\n  port: 8080\n  rules:\n    - backend: {service: web, port: 80}\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
         spec:\n  ports: [{port: 80, targetPort: 9000}]\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["validate", "-f"])
        .arg(dir.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 Listener(s)"), "{stdout}");
    assert!(stdout.contains("warning: Listener/shop/web: spec.rules[0].backend.service: Service shop/web port 80 has no ready endpoints"), "{stdout}");
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn misspelt_field_is_an_error_not_silently_dropped() {
    let root = Ca::root("Partner Root");
    let m = Manifests::new()
        .ca_secret("default", "partner-ca", root.pem().as_bytes())
        .with(serde_json::json!({
            "apiVersion": "portcullis.io/v1alpha1", "kind": "SslProfile",
            "metadata": {"name": "typo", "namespace": "default"},
            "spec": {"clientAuthConfiguration": {
                "mode": "Required",
                "trustedClientCertificates": [{"name": "partner-ca"}],
                "verifyClientCertIssuerDn": true,
            }},
        }));
    let (code, out) = validate(&m);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("SslProfile/default/typo: spec.clientAuthConfiguration.verifyClientCertIssuerDn: unknown field"),
        "{out}"
    );
}
