//! The test cluster's images, built here (no registry is reachable) and imported into
//! containerd: the pod sandbox's pause (a static C program), Portcullis (the binary just
//! compiled, statically linked, the only file in its image, as the Dockerfile promises) and
//! Gateway API's conformance echo backend. Pods use them with `imagePullPolicy: Never`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cluster::harness_cache;
use crate::node::config::{Layout, PAUSE_IMAGE};

/// The Portcullis image's repository; tags are chosen by the tests (an upgrade is a new tag).
pub const PORTCULLIS_REPOSITORY: &str = "portcullis.test/portcullis";
/// The echo backend's image.
pub const ECHO_IMAGE: &str = "portcullis.test/echo-basic:1";
/// UID and GID of the images' user: the conventional "nonroot" the Dockerfile uses.
const NONROOT: &str = "65532:65532";

/// Image tars ready to import.
pub struct Images {
    tars: Vec<PathBuf>,
    /// The Portcullis binary in the image.
    pub portcullis: PathBuf,
}

impl Images {
    /// Builds the images: Portcullis under each of `tags`.
    pub fn build(layout: &Layout, tags: &[&str]) -> Self {
        let dir = layout.path("images");
        std::fs::create_dir_all(&dir).expect("images dir");
        let pause = dir.join("pause");
        let source = harness_dir().join("node/pause.c");
        checked(
            Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(&pause)
                .arg(&source),
            "build the pause program",
        );
        let portcullis = static_portcullis();
        let echo = harness_cache("build-echo.sh").join("echo-basic");
        let mut tars = vec![oci(&dir, PAUSE_IMAGE, "/pause", &[(&pause, "/pause")])];
        for tag in tags {
            tars.push(oci(
                &dir,
                &format!("{PORTCULLIS_REPOSITORY}:{tag}"),
                "/portcullis",
                &[(&portcullis, "/portcullis")],
            ));
        }
        tars.push(oci(
            &dir,
            ECHO_IMAGE,
            "/echo-basic",
            &[(&echo, "/echo-basic")],
        ));
        Self { tars, portcullis }
    }

    /// Imports every image into containerd's `k8s.io` namespace (the CRI's).
    pub fn import(&self, layout: &Layout) {
        for tar in &self.tars {
            checked(
                Command::new("ctr")
                    .arg("--address")
                    .arg(layout.containerd_socket())
                    .args(["-n", "k8s.io", "images", "import"])
                    .arg(tar),
                "import an image into containerd",
            );
        }
    }
}

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("harness")
}

/// Builds `portcullis` statically linked (glibc, `crt-static`) for the image, into the
/// workspace's target directory beside the dynamic build the other tests use.
fn static_portcullis() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let triple = "x86_64-unknown-linux-gnu";
    checked(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&workspace)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .args([
                "build",
                "--locked",
                "--bin",
                "portcullis",
                "--target",
                triple,
            ]),
        "build the static portcullis binary",
    );
    let bin = target_dir().join(triple).join("debug/portcullis");
    let ldd = Command::new("ldd").arg(&bin).output().expect("run ldd");
    let said =
        String::from_utf8_lossy(&ldd.stdout).into_owned() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "{} is not static: {said}",
        bin.display()
    );
    bin
}

/// The workspace's target directory: the test executable is `<target>/debug/deps/<name>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// Writes an OCI image layout tar for `name` holding `files` (source, path in the image),
/// running `entrypoint` as the nonroot user.
fn oci(dir: &Path, name: &str, entrypoint: &str, files: &[(&Path, &str)]) -> PathBuf {
    let out = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
    let mut cmd = Command::new("python3");
    cmd.arg(harness_dir().join("node/oci-image.py"))
        .args([
            "--name",
            name,
            "--entrypoint",
            entrypoint,
            "--user",
            NONROOT,
            "--out",
        ])
        .arg(&out);
    for (source, target) in files {
        cmd.arg(format!("{}={target}", source.display()));
    }
    checked(&mut cmd, "write an image");
    out
}

/// Runs `cmd` and panics with its output, saying what it was for, when it fails.
pub(crate) fn checked(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {:?} failed:\n{}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
