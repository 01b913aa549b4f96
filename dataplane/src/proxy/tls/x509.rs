//! The one X.509 judge: rustls-webpki's full path building, called exactly as rustls'
//! `WebPkiClientVerifier` calls it (the same trust anchors, algorithms and clientAuth usage),
//! returning the path it verified so that revocation checks the certificates that were
//! actually verified, never ones picked by name.
//!
//! What makes it fast is not a shortcut around webpki: the signature of each CA certificate of
//! the trusted bundles is verified once and the result remembered ([`Remembered`]), keyed by
//! the exact bytes verified (the signed data, the key, the signature) and the algorithm. Every
//! other check webpki makes — validity, purpose, constraints, path length, encoding — runs on
//! every handshake, so the verdict is webpki's by construction.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    TrustAnchor, UnixTime,
};

use crate::pki::{CertificateInfo, TrustBundle};

/// The trust of one client-authentication configuration: its roots and the bundles'
/// intermediates, and the algorithms webpki verifies signatures with.
#[derive(Debug)]
pub(super) struct Judge {
    /// The bundles' roots as webpki's trust anchors, and the same roots parsed (same order).
    anchors: Vec<TrustAnchor<'static>>,
    anchor_cas: Vec<CertificateInfo>,
    /// The bundles' intermediates, so that clients sending only their leaf still chain.
    intermediates: Vec<CertificateDer<'static>>,
    algorithms: Vec<Remembered>,
    /// Most CA certificates between leaf and root on an acceptable path (nginx's
    /// `ssl_verify_depth`); webpki looks on for a shorter path past a longer one.
    pub(super) max_intermediates: Option<usize>,
}

/// A path webpki verified: the certificates above the leaf, the leaf's issuer first, ending
/// with the trust anchor's CA.
#[derive(Debug)]
pub(super) struct VerifiedPath {
    /// The intermediates of the path (as sent or from the bundles), the leaf's issuer first.
    pub intermediates: Vec<CertificateDer<'static>>,
    /// Which root the path ends at (an index into the judge's anchors).
    anchor: usize,
}

impl Judge {
    /// The judge of `bundles`, verifying with `provider`'s algorithms.
    pub(super) fn new(
        bundles: &[&TrustBundle],
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<Self, rustls::Error> {
        let mut anchors = Vec::new();
        let mut anchor_cas = Vec::new();
        let mut intermediates = Vec::new();
        let mut signed = HashMap::new();
        for bundle in bundles {
            let root = bundle.root();
            let der = CertificateDer::from(root.der().to_vec());
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| {
                    rustls::Error::General(format!("trust anchor {}: {e:?}", root.subject))
                })?
                .to_owned();
            anchors.push(anchor);
            anchor_cas.push(root.clone());
            for ca in bundle.cas() {
                if !ca.is_self_issued() {
                    intermediates.push(CertificateDer::from(ca.der().to_vec()));
                }
                if let Some(tbs) = ca.signed_data() {
                    let next = signed.len();
                    signed.entry(tbs.to_vec()).or_insert(next);
                }
            }
        }
        let signed = Arc::new(signed);
        let algorithms = provider
            .signature_verification_algorithms
            .all
            .iter()
            .map(|&inner| Remembered {
                inner,
                signed: signed.clone(),
                verified: RwLock::default(),
            })
            .collect();
        Ok(Self {
            anchors,
            anchor_cas,
            intermediates,
            algorithms,
            max_intermediates: None,
        })
    }

    /// webpki's verdict on `leaf` with the intermediates the client `sent` and the bundles'
    /// own, for client authentication at `now`; the path it verified.
    pub(super) fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        sent: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedPath, webpki::Error> {
        let cert = webpki::EndEntityCert::try_from(leaf)?;
        let mut intermediates: Vec<CertificateDer<'_>> = sent.to_vec();
        intermediates.extend(self.intermediates.iter().cloned());
        let algorithms: Vec<&dyn SignatureVerificationAlgorithm> = self
            .algorithms
            .iter()
            .map(|a| a as &dyn SignatureVerificationAlgorithm)
            .collect();
        // A path longer than the depth allows is one more dead end for webpki's search
        // (not fatal), so a shorter path through other intermediates is still found.
        let within_depth = |path: &webpki::VerifiedPath<'_>| match self.max_intermediates {
            Some(max) if path.intermediate_certificates().count() > max => {
                Err(webpki::Error::MaximumPathDepthExceeded)
            }
            _ => Ok(()),
        };
        let path = cert.verify_for_usage(
            &algorithms,
            &self.anchors,
            &intermediates,
            now,
            webpki::KeyUsage::client_auth(),
            None,
            Some(&within_depth),
        )?;
        let anchor = self
            .anchors
            .iter()
            .position(|a| std::ptr::eq(a, path.anchor()))
            .unwrap_or_default();
        let intermediates = path
            .intermediate_certificates()
            .map(|c| c.der().into_owned())
            .collect();
        Ok(VerifiedPath {
            intermediates,
            anchor,
        })
    }

    /// How many CA signatures are remembered as verified (each was verified once).
    pub(super) fn remembered_signatures(&self) -> usize {
        self.algorithms
            .iter()
            .map(|a| {
                a.verified
                    .read()
                    .map_or(0, |v| v.values().map(Vec::len).sum::<usize>())
            })
            .sum()
    }

    /// The root a path ends at.
    pub(super) fn anchor_ca(&self, path: &VerifiedPath) -> Option<&CertificateInfo> {
        self.anchor_cas.get(path.anchor)
    }
}

impl VerifiedPath {
    /// The certificates of the path above the leaf, parsed (those of the bundles `cas` are
    /// taken as already parsed), the leaf's issuer first and the root last.
    pub(super) fn above(&self, judge: &Judge, cas: &[CertificateInfo]) -> Vec<CertificateInfo> {
        let mut path: Vec<CertificateInfo> = self
            .intermediates
            .iter()
            .filter_map(|der| match cas.iter().find(|c| c.der() == der.as_ref()) {
                Some(known) => Some(known.clone()),
                None => CertificateInfo::from_der(der).ok(),
            })
            .collect();
        path.extend(judge.anchor_ca(self).cloned());
        path
    }
}

/// A signature algorithm that remembers which signatures of the trusted CA certificates it
/// verified, so each is verified once rather than in every handshake. It remembers only
/// successes over the signed data of a bundle CA (a fixed, small set), keyed by the exact
/// key and signature bytes; anything else is verified every time.
struct Remembered {
    inner: &'static dyn SignatureVerificationAlgorithm,
    /// The signed data (TBSCertificate) of every bundle CA, numbered.
    signed: Arc<HashMap<Vec<u8>, usize>>,
    /// Signatures verified by this algorithm, by signed data: (public key, signature). A
    /// handful per CA at most, compared as slices so a lookup allocates nothing.
    verified: RwLock<HashMap<usize, Vec<KeyAndSignature>>>,
}

/// A public key and a signature it was found to make over some signed data.
type KeyAndSignature = (Vec<u8>, Vec<u8>);

impl std::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remembered")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl SignatureVerificationAlgorithm for Remembered {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let Some(&index) = self.signed.get(message) else {
            return self.inner.verify_signature(public_key, message, signature);
        };
        let seen = |v: &[KeyAndSignature]| {
            v.iter()
                .any(|(k, s)| k.as_slice() == public_key && s.as_slice() == signature)
        };
        let known = self
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&index)
            .is_some_and(|v| seen(v));
        if known {
            return Ok(());
        }
        self.inner
            .verify_signature(public_key, message, signature)?;
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        let entry = verified.entry(index).or_default();
        if !seen(entry) {
            entry.push((public_key.to_vec(), signature.to_vec()));
        }
        Ok(())
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}
