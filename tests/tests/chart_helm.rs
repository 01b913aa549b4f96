//! The Helm chart, rendered by a real helm (built once into the shared cache) and checked by
//! the test kube-apiserver: lint, template for the default values and a matrix, and a
//! server-side dry-run of every rendered object.

use std::path::{Path, PathBuf};
use std::process::Command;

use portcullis_tests::cluster::{TestCluster, harness_cache};

fn helm() -> PathBuf {
    harness_cache("build-helm.sh").join("helm")
}

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/portcullis")
}

#[test]
fn the_chart_lints_renders_and_applies_server_side() {
    let helm = helm();
    let lint = Command::new(&helm)
        .args(["lint", "--strict"])
        .arg(chart())
        .output()
        .expect("helm lint");
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    // The chart carries the generated CRDs unchanged.
    let crds = |p: PathBuf| std::fs::read_to_string(p).expect("read CRDs");
    assert_eq!(
        crds(chart().join("crds/portcullis.io.yaml")),
        crds(chart().join("../../crds/portcullis.io.yaml")),
        "charts/portcullis/crds/ drifted from crds/: copy crds/portcullis.io.yaml"
    );

    let cluster = TestCluster::start();
    let ns = cluster.kubectl(&["create", "namespace", "portcullis-system"]);
    assert!(ns.status.success());
    for set in [&[][..], &["dataplane.kind=DaemonSet"][..]] {
        let mut cmd = Command::new(&helm);
        cmd.args(["template", "portcullis"]).arg(chart()).args([
            "--namespace",
            "portcullis-system",
            "--kube-version",
            "1.33.0",
        ]);
        for s in set {
            cmd.args(["--set", s]);
        }
        let out = cmd.output().expect("helm template");
        assert!(
            out.status.success(),
            "{set:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
        let applied = cluster.kubectl_stdin(
            &["apply", "--dry-run=server", "--validate=strict", "-f", "-"],
            &rendered,
        );
        assert!(
            applied.status.success(),
            "{set:?}: {}\n{rendered}",
            String::from_utf8_lossy(&applied.stderr)
        );
        let kinds = String::from_utf8_lossy(&applied.stdout).into_owned();
        for kind in [
            "deployment.apps/portcullis-controller",
            "service/portcullis-dataplane-push",
        ] {
            assert!(kinds.contains(kind), "{set:?}: {kinds}");
        }
    }
}
