//! The trust bundle: the client CA chain a user uploads in a Secret's `ca.crt`.
//!
//! Every rule about what may be uploaded lives here, once, in [`TrustBundle::inspect`]; the
//! controller's translation, `portcullis validate`, `portcullis inspect-ca` and the dataplane all
//! reach it through [`TrustBundle::parse`]. The rules follow Azure Application Gateway's trusted
//! client certificates: exactly one root CA plus any intermediates, CA certificates only (leaves
//! are ignored with a warning), no private key, at most 25 KB.
//!
//! A file may hold several chains under its one root (root→int1 and root→int2); each path from
//! the root to a CA that issued no other CA in the file is one chain.

use std::collections::HashSet;

use super::cert::{CertificateInfo, Signature};
use super::dn::DistinguishedName;
use super::pem;

mod error;

pub use error::{BundleError, BundleRejected, BundleWarning};

/// Largest accepted bundle, in bytes. Application Gateway's documented limit is 25 KB per
/// uploaded chain; a larger file is almost always a mistake (a whole OS trust store, or a
/// bundle of unrelated CAs that should be separate Secrets).
pub const MAX_BUNDLE_BYTES: usize = 25 * 1024;

/// Everything learned from a bundle file, valid or not: what `inspect-ca` prints.
#[derive(Debug, Clone)]
pub struct BundleInspection {
    /// Size of the input in bytes.
    pub size: usize,
    /// Every certificate parsed, in file order (duplicates dropped).
    pub certificates: Vec<CertificateInfo>,
    /// Why the bundle would be refused; empty when it is valid.
    pub problems: Vec<BundleError>,
    /// What is accepted but worth saying.
    pub warnings: Vec<BundleWarning>,
    /// Each chain as indices into `certificates`, root first.
    pub chains: Vec<Vec<usize>>,
    /// Index of the CA whose subject `verifyClientCertIssuerDN` enforces.
    pub issuer_dn: Option<usize>,
}

/// A validated client CA chain: one root, its intermediates, the chains they form and the issuer
/// DN that `verifyClientCertIssuerDN` enforces. Only [`TrustBundle::parse`] makes one.
#[derive(Clone, Debug)]
pub struct TrustBundle {
    /// The CA certificates, in file order.
    cas: Vec<CertificateInfo>,
    /// Chains as indices into `cas`, root first.
    chains: Vec<Vec<usize>>,
    issuer_dn: usize,
    warnings: Vec<BundleWarning>,
}

impl TrustBundle {
    /// Parses and judges a bundle (PEM with one or more certificates, or one DER certificate).
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleRejected> {
        Self::inspect(bytes).into_bundle()
    }

    /// Judges a bundle given as DER certificates (how the snapshot carries it).
    pub fn from_ders(ders: &[Vec<u8>]) -> Result<Self, BundleRejected> {
        let size = ders.iter().map(Vec::len).sum();
        let parsed = ders.iter().map(|d| CertificateInfo::from_der(d)).collect();
        judge(size, parsed, Vec::new()).into_bundle()
    }

    /// Everything about a bundle, with every problem rather than a verdict.
    pub fn inspect(bytes: &[u8]) -> BundleInspection {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return judge(bytes.len(), Vec::new(), vec![BundleError::Empty]);
        }
        if !pem::looks_like_pem(bytes) {
            return judge(
                bytes.len(),
                vec![CertificateInfo::from_der(bytes)],
                Vec::new(),
            );
        }
        let blocks = match pem::parse(bytes) {
            Ok(blocks) => blocks,
            Err(e) => {
                let detail = e.to_string();
                return judge(
                    bytes.len(),
                    Vec::new(),
                    vec![BundleError::NotACertificate { detail }],
                );
            }
        };
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for block in blocks {
            if block.label.contains("PRIVATE KEY") {
                problems.push(BundleError::PrivateKey { label: block.label });
            } else if block.label == "CERTIFICATE" {
                parsed.push(CertificateInfo::from_der(&block.der));
            } else {
                problems.push(BundleError::UnexpectedPemBlock { label: block.label });
            }
        }
        judge(bytes.len(), parsed, problems)
    }

    /// The one root CA.
    pub fn root(&self) -> &CertificateInfo {
        &self.cas[self.chains[0][0]]
    }

    /// All CA certificates (root and intermediates), in file order.
    pub fn cas(&self) -> &[CertificateInfo] {
        &self.cas
    }

    /// The chains, each root first.
    pub fn chains(&self) -> impl Iterator<Item = Vec<&CertificateInfo>> {
        self.chains
            .iter()
            .map(|chain| chain.iter().map(|&i| &self.cas[i]).collect())
    }

    /// How many chains the file holds (what the 100-per-profile and 200-per-gateway limits count).
    pub fn chain_count(&self) -> usize {
        self.chains.len()
    }

    /// The issuer DN that `verifyClientCertIssuerDN` enforces, by Application Gateway's rules:
    /// the deepest CA of the longest chain, the first such in file order when chains tie.
    pub fn issuer_dn(&self) -> &DistinguishedName {
        &self.cas[self.issuer_dn].subject
    }

    /// What was accepted but is worth telling the user.
    pub fn warnings(&self) -> &[BundleWarning] {
        &self.warnings
    }
}

impl BundleInspection {
    /// The verdict: a bundle when there are no problems.
    pub fn into_bundle(self) -> Result<TrustBundle, BundleRejected> {
        if !self.problems.is_empty() {
            return Err(BundleRejected {
                problems: self.problems,
            });
        }
        let Some(issuer) = self.issuer_dn else {
            // judge() always sets it when there is no problem; stay closed if that ever breaks.
            return Err(BundleRejected {
                problems: vec![BundleError::Empty],
            });
        };
        // Keep only CAs, remapping indices.
        let mut map = vec![usize::MAX; self.certificates.len()];
        let mut cas = Vec::new();
        for (i, cert) in self.certificates.into_iter().enumerate() {
            if cert.is_ca {
                map[i] = cas.len();
                cas.push(cert);
            }
        }
        Ok(TrustBundle {
            cas,
            chains: self
                .chains
                .iter()
                .map(|c| c.iter().map(|&i| map[i]).collect())
                .collect(),
            issuer_dn: map[issuer],
            warnings: self.warnings,
        })
    }
}

/// Applies the chain rules to parsed certificates.
fn judge(
    size: usize,
    parsed: Vec<Result<CertificateInfo, super::cert::NotACertificate>>,
    mut problems: Vec<BundleError>,
) -> BundleInspection {
    if size > MAX_BUNDLE_BYTES {
        problems.push(BundleError::TooLarge { size });
    }
    let mut warnings = Vec::new();
    let mut certificates: Vec<CertificateInfo> = Vec::new();
    let mut seen = HashSet::new();
    for (n, cert) in parsed.into_iter().enumerate() {
        match cert {
            Ok(cert) if !seen.insert(cert.der().to_vec()) => {
                warnings.push(BundleWarning::Duplicate {
                    subject: cert.subject.to_string(),
                })
            }
            Ok(cert) => match unreadable_to_webpki(&cert) {
                Some(error) => problems.push(BundleError::NotACertificate {
                    detail: format!(
                        "certificate #{} ({}): its encoding is refused by the TLS library's \
                         verifier ({error:?}); re-export it from the issuing CA",
                        n + 1,
                        cert.subject
                    ),
                }),
                None => certificates.push(cert),
            },
            Err(e) => problems.push(BundleError::NotACertificate {
                detail: format!("certificate #{}: {}", n + 1, e.0),
            }),
        }
    }
    let mut inspection = BundleInspection {
        size,
        certificates,
        problems,
        warnings,
        chains: Vec::new(),
        issuer_dn: None,
    };
    link(&mut inspection);
    inspection
}

/// Why webpki, which verifies client chains in the handshake, cannot read CA `cert`, if it
/// cannot. x509-parser (behind [`CertificateInfo`]) is more lenient about some malformed DER
/// (fuzzing found a root whose extensions' outer length was one byte short); a CA only one of
/// the two can read would pass translation and then fail every handshake or the compile, so it
/// is refused here with the other rules. A root is read as webpki reads a trust anchor, an
/// intermediate as it reads a certificate in a presented path. Leaves are ignored, not checked.
fn unreadable_to_webpki(cert: &CertificateInfo) -> Option<webpki::Error> {
    if !cert.is_ca {
        return None;
    }
    let der = rustls::pki_types::CertificateDer::from(cert.der());
    let read = if cert.is_self_issued() {
        webpki::anchor_from_trusted_cert(&der).map(drop)
    } else {
        webpki::EndEntityCert::try_from(&der).map(drop)
    };
    read.err()
}

/// Finds the root, links each intermediate to its issuer and derives chains and the issuer DN.
fn link(ins: &mut BundleInspection) {
    let certs = &ins.certificates;
    let cas: Vec<usize> = (0..certs.len()).filter(|&i| certs[i].is_ca).collect();
    if certs.is_empty() {
        if ins.problems.is_empty() {
            ins.problems.push(BundleError::NotACertificate {
                detail: "no CERTIFICATE block found".into(),
            });
        }
        return;
    }
    if cas.is_empty() {
        ins.problems.push(BundleError::LeafCertificateOnly {
            subject: certs[0].subject.to_string(),
        });
        return;
    }
    for cert in certs.iter().filter(|c| !c.is_ca) {
        ins.warnings.push(BundleWarning::LeafIgnored {
            subject: cert.subject.to_string(),
        });
    }

    let roots: Vec<usize> = cas
        .iter()
        .copied()
        .filter(|&i| certs[i].is_self_issued())
        .collect();
    // parent[i]: the CA in the file that issued CA i (roots have none).
    let mut parent = vec![None; certs.len()];
    for &i in cas.iter().filter(|&&i| !certs[i].is_self_issued()) {
        let named: Vec<usize> = cas
            .iter()
            .copied()
            .filter(|&j| j != i && certs[j].subject == certs[i].issuer)
            .collect();
        let subject = certs[i].subject.to_string();
        let issuer = certs[i].issuer.to_string();
        if named.is_empty() {
            if !roots.is_empty() {
                ins.problems
                    .push(BundleError::OrphanIntermediate { subject, issuer });
            }
        } else {
            // Judged as the handshake judges it (see `CertificateInfo::signature_by`).
            let signatures: Vec<(usize, Signature)> = named
                .iter()
                .map(|&j| (j, certs[i].signature_by(&certs[j])))
                .collect();
            if let Some(&(j, _)) = signatures.iter().find(|(_, s)| *s == Signature::Valid) {
                parent[i] = Some(j);
            } else if signatures
                .iter()
                .any(|(_, s)| *s == Signature::UnsupportedAlgorithm)
            {
                ins.problems
                    .push(BundleError::UnsupportedSignatureAlgorithm {
                        subject,
                        issuer,
                        algorithm: certs[i].signature_algorithm_name(),
                    });
            } else {
                ins.problems
                    .push(BundleError::IntermediateSignatureInvalid { subject, issuer });
            }
        }
    }

    match roots.len() {
        0 => {
            // Climb from the first CA in the file: where it stops is where the root is missing.
            let top = climb(&parent, cas[0]).0;
            ins.problems.push(BundleError::NoRootCa {
                top: certs[top].subject.to_string(),
                issuer: certs[top].issuer.to_string(),
            });
            return;
        }
        1 => {}
        count => {
            let subjects: Vec<String> = roots
                .iter()
                .map(|&i| certs[i].subject.to_string())
                .collect();
            ins.problems.push(BundleError::MultipleRootCas {
                count,
                subjects: subjects.join("; "),
            });
            return;
        }
    }

    let root = roots[0];
    let is_parent: HashSet<usize> = parent.iter().flatten().copied().collect();
    for &tip in cas.iter().filter(|&&i| !is_parent.contains(&i)) {
        let (top, mut path) = climb(&parent, tip);
        if top != root {
            continue; // an orphan, already reported
        }
        path.reverse();
        ins.chains.push(path);
    }
    // The deepest CA of the longest chain; the first in file order among equals (chains are
    // already in file order of their tips, and max_by_key would keep the last, so compare by
    // reversed position).
    ins.issuer_dn = ins
        .chains
        .iter()
        .max_by_key(|c| (c.len(), std::cmp::Reverse(c[c.len() - 1])))
        .map(|c| c[c.len() - 1]);
}

/// Walks from `start` to the top through `parent`, returning the top and the path (start first).
/// Bounded by the number of certificates, so a cycle of CAs cannot loop.
fn climb(parent: &[Option<usize>], start: usize) -> (usize, Vec<usize>) {
    let mut path = vec![start];
    let mut at = start;
    while let Some(p) = parent[at] {
        if path.len() > parent.len() || path.contains(&p) {
            break;
        }
        path.push(p);
        at = p;
    }
    (at, path)
}
