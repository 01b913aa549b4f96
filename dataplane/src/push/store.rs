//! The last accepted snapshot on local disk, so a restarted dataplane serves it while the
//! controller is unreachable.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Envelope;

/// A directory holding `snapshot.json`.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir` (created when missing).
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self::read_only(dir))
    }

    /// The store in `dir`, only to load from (a mounted Secret).
    pub fn read_only(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("snapshot.json")
    }

    /// Saves the envelope's bytes: written aside, flushed to disk, then renamed over the old
    /// file, so a crash leaves the old snapshot or the new one, never half of one.
    pub fn save(&self, bytes: &[u8]) -> std::io::Result<()> {
        let staging = self.dir.join(".snapshot.json.tmp");
        let mut file = std::fs::File::create(&staging)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
        std::fs::rename(&staging, self.path())
    }

    /// The saved snapshot, if there is one. A file that does not parse (for example written by
    /// another version) is reported and ignored.
    pub fn load(&self) -> Result<Option<(Envelope, Vec<u8>)>, String> {
        let bytes = match std::fs::read(self.path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", self.path().display())),
        };
        serde_json::from_slice(&bytes)
            .map(|env| Some((env, bytes)))
            .map_err(|e| format!("{}: {e}", self.path().display()))
    }
}
