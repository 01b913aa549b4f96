//! Intermediates checked once, when a configuration is loaded, instead of in every handshake.
//!
//! For a client chain leaf ← intermediate ← root, webpki's path building verifies two
//! signatures per handshake, and the second one (the intermediate's, made by the root) is the
//! same for every client of that CA. Where it is safe, a bundle's intermediates are also made
//! trust anchors of a second verifier, so a handshake verifies only the leaf's signature (and
//! the client's CertificateVerify, which rustls always checks).
//!
//! "Safe" means: webpki, building the whole path to the root, would accept the part from the
//! intermediate up for any leaf directly below it. So an intermediate is promoted only if, for
//! it and every CA between it and the root (the CAs whose checks the shortcut skips):
//! - the bundle already verified its signature ([`crate::pki::TrustBundle`]), its issuer name
//!   matches its parent's subject byte for byte, exactly one CA of the bundle has that name,
//!   and the signature uses an algorithm webpki accepts (RSA keys of at least 2,048 bits);
//! - it is X.509 v3 and a CA (`basicConstraints` cA) without `pathLenConstraint` (as an anchor
//!   its limit would no longer count CAs a client sends below it), `keyUsage` is absent or has
//!   keyCertSign, `extendedKeyUsage` is absent or allows clientAuth, and it has no critical
//!   extension webpki does not understand;
//! - no CA above it carries `nameConstraints` (the anchor keeps its own; those above would be
//!   lost);
//! - it is valid now. The verifier records the window in which every promoted certificate is
//!   valid; outside it, the full verifier judges (and reports an expired intermediate as
//!   `Expired`, as before).
//!
//! The root's own checks are unchanged: webpki never checks a trust anchor's validity or
//! extensions.

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use crate::pki::{CertificateInfo, TrustBundle};

/// Signature algorithms (OIDs) webpki verifies with aws-lc-rs: ECDSA with SHA-256/384,
/// RSA PKCS#1 with SHA-256/384/512, Ed25519. Anything else is left to the full path.
const SIGNATURE_ALGORITHMS: [&str; 6] = [
    "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3",
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    "1.3.101.112",
];

/// Extensions webpki reads; a critical extension outside this list makes it refuse a path.
const UNDERSTOOD_EXTENSIONS: [&str; 6] = [
    "2.5.29.19", // basicConstraints
    "2.5.29.15", // keyUsage
    "2.5.29.37", // extKeyUsage
    "2.5.29.30", // nameConstraints
    "2.5.29.17", // subjectAltName
    "2.5.29.31", // cRLDistributionPoints
];

/// webpki's limit on intermediates in a path.
const MAX_SUB_CAS: usize = 6;

/// The intermediates promoted to trust anchors, and when all of them are valid.
#[derive(Debug)]
pub(super) struct Promoted {
    /// The promoted intermediates (DER).
    pub anchors: Vec<CertificateDer<'static>>,
    /// `[not_before, not_after]` of every promoted certificate and the CAs above it
    /// (seconds since the epoch).
    pub window: (i64, i64),
}

/// The intermediates of `bundles` that can be trust anchors at `now` (seconds since the epoch).
pub(super) fn promote<'a>(bundles: impl Iterator<Item = &'a TrustBundle>, now: i64) -> Promoted {
    let mut promoted = Promoted {
        anchors: Vec::new(),
        window: (i64::MIN, i64::MAX),
    };
    for bundle in bundles {
        let cas = bundle.cas();
        for ca in cas.iter().filter(|c| !c.is_self_issued()) {
            if let Some((from, to)) = promotable(ca, cas, now) {
                promoted
                    .anchors
                    .push(CertificateDer::from(ca.der().to_vec()));
                promoted.window = (promoted.window.0.max(from), promoted.window.1.min(to));
            }
        }
    }
    promoted
}

/// The validity window of `ca` and the CAs above it, if `ca` can be a trust anchor.
fn promotable(ca: &CertificateInfo, cas: &[CertificateInfo], now: i64) -> Option<(i64, i64)> {
    let mut window = (i64::MIN, i64::MAX);
    let mut current = ca;
    // `current` is the CA at position `below` above the leaf: 0 for `ca` itself.
    for below in 0..MAX_SUB_CAS {
        let mut parents = cas.iter().filter(|p| p.subject == current.issuer);
        let (Some(parent), None) = (parents.next(), parents.next()) else {
            return None;
        };
        let (Ok((_, cert)), Ok((_, issuer))) = (
            X509Certificate::from_der(current.der()),
            X509Certificate::from_der(parent.der()),
        ) else {
            return None;
        };
        if !skipped_checks_pass(&cert, &issuer, below) {
            return None;
        }
        window = (
            window.0.max(current.not_before),
            window.1.min(current.not_after),
        );
        if parent.is_self_issued() {
            let root_constrained = issuer.name_constraints().ok().flatten().is_some();
            return (!root_constrained && window.0 <= now && now <= window.1).then_some(window);
        }
        current = parent;
    }
    None
}

/// Whether `cert` (signed by `issuer`, with `below` CAs between it and the leaf) passes what
/// webpki would check of it in a full path.
fn skipped_checks_pass(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    below: usize,
) -> bool {
    if cert.version() != X509Version::V3 || cert.issuer().as_raw() != issuer.subject().as_raw() {
        return false;
    }
    let algorithm = cert.signature_algorithm.algorithm.to_id_string();
    if !SIGNATURE_ALGORITHMS.contains(&algorithm.as_str()) {
        return false;
    }
    if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = issuer.public_key().parsed()
        && rsa.key_size() < 2048
    {
        return false;
    }
    // No pathLenConstraint at all: an anchor's is never checked, and a client may send CAs
    // of its own below the promoted one, which a constraint here would have refused.
    let ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca && bc.value.path_len_constraint.is_none());
    let key_usage = match cert.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    };
    let eku = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku.value.any || eku.value.client_auth,
        Ok(None) => true,
        Err(_) => false,
    };
    // Its own name constraints travel with the anchor; a CA above it must have none.
    let constraints = below == 0 || matches!(cert.name_constraints(), Ok(None));
    let understood = cert
        .extensions()
        .iter()
        .all(|e| !e.critical || UNDERSTOOD_EXTENSIONS.contains(&e.oid.to_id_string().as_str()));
    ca && key_usage && eku && constraints && understood
}
