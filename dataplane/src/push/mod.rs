//! The push channel: how the controller hands a snapshot to each dataplane replica.
//!
//! HTTPS with mutual authentication on both sides, with certificates from the controller's
//! own internal CA (kept in a Secret the controller bootstraps): the dataplane serves a
//! certificate for [`DATAPLANE_NAME`] with the serverAuth usage only, the controller presents
//! one for [`CONTROLLER_NAME`] with the clientAuth usage only. Snapshots carry private keys, so
//! there is no way to read or write configuration without a certificate from that CA — and a
//! dataplane's certificate cannot be used to push to another dataplane (wrong usage).
//!
//! - `PUT /v1/snapshot` with an [`Envelope`]: the dataplane compiles it, and on success serves
//!   it, saves it to disk and answers an accepted [`Ack`]; otherwise it keeps the previous
//!   snapshot and answers `422` with the reason.
//! - `GET /v1/snapshot`: the version being served.

pub mod client;
pub mod server;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::config::Snapshot;

/// The DNS name in every dataplane's push certificate; the controller verifies it whatever
/// address it connects to.
pub const DATAPLANE_NAME: &str = "portcullis-dataplane";

/// The DNS name in the controller's client certificate; the dataplane accepts no other.
pub const CONTROLLER_NAME: &str = "portcullis-controller";

/// Largest snapshot accepted: 200 CA chains of 25 KB, 1,000 server certificates and their
/// keys fit with room to spare; anything larger is refused before it is parsed.
pub const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// A snapshot and its version, as pushed and as saved on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The snapshot's version: a digest of its content (see [`version_of`]).
    pub version: String,
    /// What to serve.
    pub snapshot: Snapshot,
}

/// The dataplane's answer to a push or a version query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The version now served (`None` before the first snapshot).
    pub version: Option<String>,
    /// Whether the pushed version was accepted.
    pub accepted: bool,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The version of a snapshot: the first 16 hex digits of the SHA-256 of its JSON. The same
/// configuration always has the same version, whichever controller replica computed it.
pub fn version_of(snapshot_json: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, snapshot_json);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One end's TLS material from PEM: its certificate and key (`tls.crt`, `tls.key`, the key
/// checked against the leaf) and the CA that must have issued the other end's (`ca.crt`).
fn tls_material(
    crt: &[u8],
    key: &[u8],
    ca: &[u8],
) -> Result<(crate::config::ServerCertificate, rustls::RootCertStore), String> {
    let cert = crate::config::ServerCertificate::from_pem(crt, key).map_err(|e| e.to_string())?;
    Ok((cert, roots_from_pem(ca)?))
}

/// The certificates of a PEM `ca.crt` as trust anchors.
fn roots_from_pem(ca: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for block in crate::pki::pem::parse(ca).map_err(|e| format!("ca.crt: {e}"))? {
        if block.label == "CERTIFICATE" {
            roots
                .add(rustls::pki_types::CertificateDer::from(block.der))
                .map_err(|e| format!("ca.crt: {e}"))?;
        }
    }
    if roots.is_empty() {
        return Err("ca.crt holds no certificate".into());
    }
    Ok(roots)
}

/// Serializes `snapshot` into the bytes of a push: `(version, envelope JSON)`. The snapshot is
/// serialized once; the envelope wraps those bytes (an [`Envelope`] when read back).
pub fn envelope(snapshot: &Snapshot) -> Result<(String, Vec<u8>), serde_json::Error> {
    let json = serde_json::to_vec(snapshot)?;
    let version = version_of(&json);
    let mut body = Vec::with_capacity(json.len() + 48);
    body.extend_from_slice(b"{\"version\":");
    serde_json::to_writer(&mut body, &version)?;
    body.extend_from_slice(b",\"snapshot\":");
    body.extend_from_slice(&json);
    body.push(b'}');
    Ok((version, body))
}

#[cfg(test)]
mod tests {
    use super::{Envelope, envelope, version_of};
    use crate::config::Snapshot;

    #[test]
    fn an_envelope_reads_back_with_the_digest_of_its_snapshot() {
        let (version, bytes) = envelope(&Snapshot::default()).expect("envelope");
        let back: Envelope = serde_json::from_slice(&bytes).expect("parse envelope");
        assert_eq!(back.version, version);
        let json = serde_json::to_vec(&back.snapshot).expect("snapshot json");
        assert_eq!(version_of(&json), version);
        assert_eq!(version.len(), 16);
    }
}
