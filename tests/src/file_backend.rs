//! Backends that serve files and normalise request paths as real application servers do
//! (`tests/harness/normalising_backend.py`): python's own `http.server`, and a looser reader
//! (IIS, Tomcat and Windows: `\` as `/`, case folded, `;parameters` and trailing dots dropped).
//! A gateway that judges a path differently from them lets a client reach a file it should
//! not; the tests ask these backends, not a model of them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// How the backend reads a path.
#[derive(Clone, Copy, Debug)]
pub enum Normalises {
    /// python's `http.server`: the whole path percent-decoded, `..` resolved, `//` merged.
    Python,
    /// On top of that: `\` is `/`, case folded, `;parameters` and trailing dots and spaces of
    /// each segment dropped.
    Loose,
}

/// A running file backend, stopped by its PID when dropped.
pub struct FileBackend {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
}

impl FileBackend {
    /// Serves `dir` on 127.0.0.1, port 0, reading paths as `mode` says.
    pub fn start(dir: &Path, mode: Normalises) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/normalising_backend.py");
        let mode = match mode {
            Normalises::Python => "python",
            Normalises::Loose => "loose",
        };
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir)
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 (the test command installs it)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the backend's port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the {mode} backend printed no port: {line:?}"));
        Self { port, child }
    }
}

impl Drop for FileBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
