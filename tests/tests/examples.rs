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
        "ingress-nginx",
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
        "sslprofiles,listeners,ingresses,certificates.cert-manager.io,issuers.cert-manager.io",
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
        "ingress.networking.k8s.io/devices",
    ] {
        assert!(stored.contains(object), "{object} missing:\n{stored}");
    }
}

/// The first `sh` block after `heading` in `doc`.
fn shell_block(doc: &str, heading: &str) -> String {
    let section = doc.split_once(heading).expect("heading").1;
    let block = section.split_once("```sh\n").expect("an sh block").1;
    block.split_once("```").expect("closed block").0.to_owned()
}

#[test]
fn the_migration_guide_runs_as_written_against_ingress_nginx_objects() {
    // ingress-nginx's objects: its IngressClass and the example Ingress of class nginx,
    // with the Secrets the example names.
    let cluster = TestCluster::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pki = ExamplePki::new(&dir.path().join("pki"));
    let example = portcullis_tests::examples::examples_root().join("ingress-nginx");
    let secrets = dir.path().join("secrets-in.yaml");
    std::fs::write(&secrets, pki.secrets(&cluster, &example)).expect("write secrets");
    let ingress = std::fs::read_to_string(example.join("ingress-nginx.yaml"))
        .expect("example")
        .replace("ingressClassName: portcullis", "ingressClassName: nginx");
    let nginx_class = "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\nspec: {controller: k8s.io/ingress-nginx}\n";
    for yaml in [
        std::fs::read_to_string(&secrets).expect("secrets"),
        ingress,
        nginx_class.into(),
    ] {
        let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &yaml);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Step 1 of docs/migration.md, as written, in a shell with kubectl and portcullis.
    let doc = std::fs::read_to_string(
        portcullis_tests::examples::examples_root().join("../docs/migration.md"),
    )
    .expect("migration guide");
    let script = shell_block(&doc, "## From ingress-nginx: the drop-in path");
    let kubectl = portcullis_tests::cluster::harness_cache("build-k8s.sh");
    let bin = portcullis_bin();
    let path = format!(
        "{}:{}:{}",
        kubectl.display(),
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("KUBECONFIG", cluster.kubeconfig())
        .output()
        .expect("run the guide's commands");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script}\n{text}");
    // The Ingress of class nginx is served, its Secrets found, nothing refused.
    assert!(
        text.contains("1 Ingress(es) (1 served, 0 of other classes left alone)"),
        "{text}"
    );
    assert!(text.contains(" 0 error(s)"), "{text}");
}
