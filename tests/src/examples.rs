//! The manifests in `examples/`, with the Secrets each one tells its reader to create.
//!
//! Every example names its Secrets in comments as the `kubectl create secret` commands a user
//! runs. The harness makes the files those commands read (PKI generated here: a client CA
//! chain for `--from-file=ca.crt=…chain.pem`, a lone root for `…root.pem`, a server certificate
//! for `--cert=<host>.pem`) and runs the very commands with `--dry-run=client -o yaml`, so the
//! instructions in the examples are what is tested.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cluster::TestCluster;
use crate::pki::{Ca, Leaf};

/// `examples/` in the repository.
pub fn examples_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The entries of `dir` that `keep` accepts, sorted.
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| keep(p))
        .collect();
    paths.sort();
    paths
}

/// The example directories (each holds YAML manifests), sorted.
pub fn example_dirs() -> Vec<PathBuf> {
    sorted_entries(&examples_root(), |p| p.is_dir())
}

/// The YAML files of an example directory, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    sorted_entries(dir, |p| {
        p.extension().is_some_and(|x| x == "yaml" || x == "yml")
    })
}

/// The `kubectl create secret …` commands in the comments of an example's files, as the
/// arguments after `kubectl`.
pub fn secret_commands(dir: &Path) -> Vec<Vec<String>> {
    yaml_files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read example")
                .lines()
                .filter_map(|l| {
                    let l = l.trim_start().strip_prefix('#')?.trim();
                    let l = l.strip_prefix('(').unwrap_or(l).trim_end_matches(')');
                    let rest = l.strip_prefix("kubectl create secret ")?;
                    let mut args: Vec<String> = vec!["create".into(), "secret".into()];
                    args.extend(rest.split_whitespace().map(str::to_owned));
                    Some(args)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The PKI behind the examples' Secrets, keeping the CAs so tests can issue client
/// certificates that chain to them.
pub struct ExamplePki {
    dir: PathBuf,
    server_root: Ca,
    /// Client CA chains by file name: (root, issuing intermediate).
    chains: BTreeMap<String, (Ca, Ca)>,
    /// The chain file made last, whose CRLs a `ca.crl` file next to it holds.
    last_chain: Option<String>,
}

impl ExamplePki {
    /// Files are written under `dir`.
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("pki dir");
        Self {
            dir: dir.to_owned(),
            server_root: Ca::root("Example Server Root"),
            chains: BTreeMap::new(),
            last_chain: None,
        }
    }

    /// The root every example server certificate chains to, as PEM.
    pub fn server_root_pem(&self) -> String {
        self.server_root.pem()
    }

    /// A client certificate issued by the intermediate of chain file `chain` (e.g.
    /// `staff-ca-chain.pem`), which the Secrets must already have used.
    pub fn client(&self, chain: &str, cn: &str) -> Leaf {
        let (_, int) = self.chains.get(chain).expect("a chain the examples use");
        int.client(cn)
    }

    /// `args` with each file it reads made and named by absolute path.
    fn materialize(&mut self, args: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut key_for_cert: Option<(String, Leaf)> = None;
        for a in args {
            if let Some(file) = a.strip_prefix("--cert=") {
                let host = file.strip_suffix(".pem").expect("--cert=<host>.pem");
                let leaf = self.server_root.server(&[host]);
                let path = self.write(file, &leaf.pem());
                key_for_cert = Some((host.to_owned(), leaf));
                out.push(format!("--cert={path}"));
            } else if let Some(file) = a.strip_prefix("--key=") {
                let (host, leaf) = key_for_cert.take().expect("--cert before --key");
                assert_eq!(file, format!("{host}.key"), "key file named after its host");
                let path = self.write(file, leaf.key_pem());
                out.push(format!("--key={path}"));
            } else if let Some(spec) = a.strip_prefix("--from-file=") {
                let (key, file) = spec.split_once('=').expect("--from-file=KEY=FILE");
                let pem = if file.ends_with("crl.pem") {
                    // One current CRL from each CA of the chain made just before (nginx's
                    // ssl_crl wants one per CA), revoking nothing.
                    let chain = self
                        .last_chain
                        .as_ref()
                        .expect("a ca.crt before its ca.crl");
                    let (root, int) = &self.chains[chain];
                    format!("{}{}", int.crl(&[], 0, 7), root.crl_of_cas(&[], 0, 7))
                } else if file.contains("root") {
                    Ca::root(file).pem()
                } else {
                    let stem = file.trim_end_matches(".pem");
                    let root = Ca::root(&format!("{stem} root"));
                    let int = root.intermediate(&format!("{stem} issuing"));
                    let pem = format!("{}{}", root.pem(), int.pem());
                    self.chains.insert(file.to_owned(), (root, int));
                    self.last_chain = Some(file.to_owned());
                    pem
                };
                let path = self.write(file, &pem);
                out.push(format!("--from-file={key}={path}"));
            } else {
                out.push(a.clone());
            }
        }
        out
    }

    fn write(&self, file: &str, content: &str) -> String {
        let path = self.dir.join(file);
        std::fs::write(&path, content).expect("write example PKI file");
        path.display().to_string()
    }

    /// The Secrets an example tells its reader to create, made by running its own commands
    /// (`--dry-run=client -o yaml`, namespace `default`), as one YAML stream.
    pub fn secrets(&mut self, cluster: &TestCluster, example: &Path) -> String {
        self.secrets_with(&|args| cluster.kubectl(args), example)
    }

    /// [`ExamplePki::secrets`] with another cluster's kubectl.
    pub fn secrets_with(
        &mut self,
        kubectl: &dyn Fn(&[&str]) -> std::process::Output,
        example: &Path,
    ) -> String {
        let mut yaml = String::new();
        for cmd in secret_commands(example) {
            let mut args = self.materialize(&cmd);
            args.extend(["-n", "default", "--dry-run=client", "-o", "yaml"].map(String::from));
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = kubectl(&argv);
            assert!(
                out.status.success(),
                "{}: kubectl {}: {}",
                example.display(),
                cmd.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            yaml.push_str("---\n");
            yaml.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        yaml
    }
}
