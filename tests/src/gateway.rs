//! `portcullis run` as a user runs it: the real binary as a child process, on a directory of
//! manifests, stopped by its PID when the test ends.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `portcullis run`.
pub struct Standalone {
    child: Child,
    /// The admin server.
    pub admin: SocketAddr,
    stderr: PathBuf,
    stdout: PathBuf,
    _logs: tempfile::TempDir,
}

/// The `portcullis` binary next to the test executables (built by `cargo test --workspace`).
pub fn portcullis_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("portcullis"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bin portcullis` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// A free port on 127.0.0.1 (bound and released; the gateway binds it right after), never
/// one this test process was given before: the tests of one binary run in parallel, and the
/// kernel may hand a released port out again, so two gateways could be told the same port
/// and one test talk to the other's gateway.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind port 0")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no port on 127.0.0.1 not given out before in 1000 tries");
}

impl Standalone {
    /// Starts `portcullis run -f dir`, waits until it is ready and `ports` accept connections.
    pub fn start(dir: &Path, ports: &[u16]) -> Self {
        Self::start_with(dir, ports, &[])
    }

    /// [`Standalone::start`] with more command-line arguments (limits, say).
    pub fn start_with(dir: &Path, ports: &[u16], args: &[&str]) -> Self {
        let logs = tempfile::tempdir().expect("log dir");
        let stderr = logs.path().join("stderr.log");
        let stdout = logs.path().join("stdout.log");
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("admin addr");
        let child = Command::new(portcullis_bin())
            .args([
                "run",
                "--bind",
                "127.0.0.1",
                "--poll-ms",
                "200",
                "--admin",
                &admin.to_string(),
            ])
            .args(args)
            .arg("-f")
            .arg(dir)
            .stdout(Stdio::from(
                std::fs::File::create(&stdout).expect("stdout log"),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(&stderr).expect("stderr log"),
            ))
            .spawn()
            .expect("start portcullis run");
        let gw = Self {
            child,
            admin,
            stderr,
            stdout,
            _logs: logs,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in ports {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "port {port} never opened; stderr:\n{}",
                    gw.stderr()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        gw
    }

    /// The gateway's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the gateway wrote on stderr (its operational log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The access log (stdout), one JSON object per line.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Whether the access log holds `needle`, waiting up to 5 s: the log is written by its own
    /// task, so the line of the answer just received can trail it.
    pub fn logged(&self, needle: &str) -> bool {
        Self::eventually(Duration::from_secs(5), || {
            self.access_log().contains(needle)
        })
    }

    /// The value of the metric whose line starts with `series` (name and labels), 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, text, _) = crate::client::curl(&[&format!("http://{}/metrics", self.admin)]);
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Polls `check` every 50 ms until it holds or `limit` passes; returns whether it held.
    pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if check() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        // Only the process this harness started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process stopped (by its PID) when the guard drops, even if the test panics.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asserts that `logs` hold no part of any of `keys` (PEM): no 24-character run of a key's
/// base64 body, which would show it leaked in part or whole, and no PEM key header.
pub fn assert_no_key_material(logs: &str, keys: &[&str]) {
    for key in keys {
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(body.len() >= 24, "not a PEM key: {key:?}");
        for chunk in body.as_bytes().chunks(24).filter(|c| c.len() == 24) {
            let chunk = String::from_utf8_lossy(chunk);
            assert!(
                !logs.contains(chunk.as_ref()),
                "key material in a log: {chunk}"
            );
        }
    }
    assert!(!logs.contains("PRIVATE KEY"), "a PEM key header in a log");
}
