//! Every manifest in `examples/`: with the Secrets its comments tell the reader to create
//! (made by those very `kubectl create secret` commands), `portcullis validate` is clean, and
//! `kubectl apply` is accepted by the test kube-apiserver with our CRDs and the real
//! cert-manager CRDs installed. Without the Secrets, validation fails: the check can fail.

use std::process::Command;

use portcullis_tests::cluster::TestCluster;
use portcullis_tests::examples::{ExamplePki, example_dirs, secret_commands};
use portcullis_tests::gateway::portcullis_bin;
use portcullis_tests::incluster::{install_crds, install_third_party_crds};

fn validate(paths: &[&std::path::Path]) -> (bool, String) {
    let mut cmd = Command::new(portcullis_bin());
    cmd.arg("validate");
    for p in paths {
        cmd.arg("-f").arg(p);
    }
    let out = cmd.output().expect("run portcullis validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_example_validates_and_applies() {
    let cluster = TestCluster::start();
    install_crds(&cluster);
    install_third_party_crds(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pki = ExamplePki::new(&dir.path().join("pki"));
    let examples = example_dirs();
    let names: Vec<String> = examples
        .iter()
        .map(|d| {
            d.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in [
        "cert-manager",
        "https-backend",
        "partner-api",
        "passthrough",
        "public-site",
        "quickstart",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    for example in &examples {
        let name = example.file_name().unwrap_or_default().to_string_lossy();
        assert!(
            !secret_commands(example).is_empty(),
            "{name}: no `kubectl create secret` instructions"
        );
        let (ok, out) = validate(&[example]);
        assert!(
            !ok && out.contains("SecretNotFound"),
            "{name} validated without its Secrets:\n{out}"
        );

        let secrets = dir.path().join(format!("{name}-secrets.yaml"));
        std::fs::write(&secrets, pki.secrets(&cluster, example)).expect("write secrets");
        let (ok, out) = validate(&[example, &secrets]);
        assert!(ok, "{name}: portcullis validate:\n{out}");
        assert!(out.contains(" 0 error(s)"), "{name}:\n{out}");

        for path in [&secrets, example] {
            let applied = cluster.kubectl(&["apply", "-f", &path.display().to_string()]);
            assert!(
                applied.status.success(),
                "{name}: kubectl apply -f {}: {}",
                path.display(),
                String::from_utf8_lossy(&applied.stderr)
            );
        }
    }
    // Everything the examples define is stored.
    let out = cluster.kubectl(&[
        "get",
        "sslprofiles,listeners,certificates.cert-manager.io,issuers.cert-manager.io",
        "-n",
        "default",
        "-o",
        "name",
    ]);
    let stored = String::from_utf8_lossy(&out.stdout).into_owned();
    for object in [
        "sslprofile.portcullis.io/partner-mtls",
        "listener.portcullis.io/www",
        "listener.portcullis.io/devices",
        "listener.portcullis.io/orders",
        "certificate.cert-manager.io/shop",
        "issuer.cert-manager.io/shop-issuer",
        "listener.portcullis.io/demo",
    ] {
        assert!(stored.contains(object), "{object} missing:\n{stored}");
    }
}
