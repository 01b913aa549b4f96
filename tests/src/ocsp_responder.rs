//! A real OCSP responder: `openssl ocsp` serving an `openssl ca` index, signing with a
//! delegated responder certificate. Started on a free port, stopped by its PID.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pki::{Ca, Leaf};

/// What the responder says of a certificate.
pub enum Entry<'a> {
    /// Valid.
    Good(&'a Leaf),
    /// Revoked for keyCompromise an hour ago.
    Revoked(&'a Leaf),
    /// An intermediate CA revoked for keyCompromise an hour ago.
    RevokedCa(&'a Ca),
}

/// The `openssl ca` index (`index.txt`) listing `entries`, which `openssl ocsp -index` answers
/// from.
pub fn index(entries: &[Entry<'_>]) -> String {
    entries
        .iter()
        .map(|e| match e {
            Entry::Good(l) => format!(
                "V\t300101000000Z\t\t{0}\tunknown\t/CN={0}\n",
                l.serial_hex()
            ),
            Entry::Revoked(l) => revoked(&l.serial_hex()),
            Entry::RevokedCa(c) => revoked(&c.serial_hex()),
        })
        .collect()
}

/// An index line: `serial` revoked for keyCompromise an hour ago.
fn revoked(serial: &str) -> String {
    format!(
        "R\t300101000000Z\t{},keyCompromise\t{serial}\tunknown\t/CN={serial}\n",
        an_hour_ago()
    )
}

/// A running `openssl ocsp`.
pub struct OcspResponder {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl OcspResponder {
    /// Starts a responder for certificates issued by `issuer`, answering from `entries`,
    /// signing with `responder` (an OCSPSigning certificate from `issuer`). Answers are valid
    /// for 5 minutes (`nextUpdate`).
    pub fn start(issuer: &Ca, responder: &Leaf, entries: &[Entry<'_>], port: u16) -> Self {
        let dir = tempfile::tempdir().expect("responder dir");
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write responder file");
            p
        };
        let index = file("index.txt", &index(entries));
        file("index.txt.attr", "unique_subject = no\n");
        let ca = file("ca.pem", &issuer.pem());
        let rsigner = file("responder.pem", &responder.pem());
        let rkey = file("responder.key", responder.key_pem());
        let log = dir.path().join("responder.log");
        // stdbuf: unbuffered output, so the log can be read while the responder runs.
        let child = Command::new("stdbuf")
            .args(["-o0", "-e0", "openssl", "ocsp", "-index"])
            .arg(&index)
            .args(["-port", &port.to_string(), "-CA"])
            .arg(&ca)
            .arg("-rsigner")
            .arg(&rsigner)
            .arg("-rkey")
            .arg(&rkey)
            .args(["-nmin", "5", "-text"])
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log")))
            .stderr(Stdio::from(
                std::fs::File::options()
                    .append(true)
                    .open(&log)
                    .expect("log"),
            ))
            .spawn()
            .expect("start openssl ocsp (the test command installs openssl)");
        // Wait for its banner rather than probing the port: `openssl ocsp` serves one
        // connection at a time, and a probe that connects and closes without a request wedges
        // it (seen with OpenSSL 3.0).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("waiting for OCSP client connections")
        {
            assert!(
                Instant::now() < deadline,
                "openssl ocsp did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child: Some(child),
            port,
            log,
            _dir: dir,
        }
    }

    /// The responder URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// How many requests named `leaf`'s serial so far.
    pub fn requests_for(&self, leaf: &Leaf) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let serial = leaf.serial_hex();
        log.split("OCSP Request Data:")
            .skip(1)
            .filter(|req| {
                let req = req.split("OCSP Response Data:").next().unwrap_or_default();
                req.contains(&format!("Serial Number: {serial}"))
            })
            .count()
    }

    /// What the responder printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the responder (by the PID it was started with).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `YYMMDDHHMMSSZ` an hour ago, as `openssl ca` index files write revocation times.
fn an_hour_ago() -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year() % 100,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
