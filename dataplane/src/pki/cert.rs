//! One parsed X.509 certificate: the facts the trust-bundle rules and `inspect-ca` need, owned,
//! so that nothing borrows from the input buffer after parsing.

use aws_lc_rs::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::dn::DistinguishedName;

/// The facts of one certificate, extracted once.
#[derive(Clone, Debug)]
pub struct CertificateInfo {
    der: Vec<u8>,
    /// The subject name.
    pub subject: DistinguishedName,
    /// The issuer name.
    pub issuer: DistinguishedName,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// The serial number as colon-free lowercase hex.
    pub serial_hex: String,
    /// The serial number's DER INTEGER content bytes (what CRLs and OCSP compare).
    pub serial: Vec<u8>,
    /// DNS names in the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// OCSP responder URLs from the Authority Information Access extension.
    pub ocsp_urls: Vec<String>,
    /// CRL distribution point URLs.
    pub crl_urls: Vec<String>,
    /// The subjectPublicKey bits: what an OCSP CertID's issuerKeyHash hashes.
    pub public_key: Vec<u8>,
    /// Whether BasicConstraints says `cA: TRUE`. Like Application Gateway, only this makes a CA:
    /// a self-signed certificate without it is a leaf, however it is used.
    pub is_ca: bool,
}

/// A certificate that is not DER X.509.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an X.509 certificate: {0}")]
pub struct NotACertificate(pub String);

impl CertificateInfo {
    /// Parses one DER certificate. Trailing bytes after the certificate are refused.
    pub fn from_der(der: &[u8]) -> Result<Self, NotACertificate> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| NotACertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(NotACertificate(format!(
                "{} unexpected bytes after the certificate",
                rest.len()
            )));
        }
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        let dns_names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let ocsp_urls = cert
            .extensions()
            .iter()
            .filter_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::AuthorityInfoAccess(aia) => Some(aia),
                _ => None,
            })
            .flat_map(|aia| aia.accessdescs.iter())
            // 1.3.6.1.5.5.7.48.1: id-ad-ocsp
            .filter(|d| d.access_method.to_id_string() == "1.3.6.1.5.5.7.48.1")
            .filter_map(|d| match &d.access_location {
                x509_parser::extensions::GeneralName::URI(u) => Some((*u).to_owned()),
                _ => None,
            })
            .collect();
        let crl_urls = cert
            .extensions()
            .iter()
            .filter_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::CRLDistributionPoints(points) => {
                    Some(points)
                }
                _ => None,
            })
            .flat_map(|points| points.points.iter())
            .filter_map(|p| match &p.distribution_point {
                Some(x509_parser::extensions::DistributionPointName::FullName(names)) => {
                    Some(names)
                }
                _ => None,
            })
            .flatten()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::URI(u) => Some((*u).to_owned()),
                _ => None,
            })
            .collect();
        Ok(Self {
            der: der.to_vec(),
            subject: DistinguishedName::from_x509(cert.subject()),
            issuer: DistinguishedName::from_x509(cert.issuer()),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial_hex: cert
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            serial: cert.raw_serial().to_vec(),
            dns_names,
            ocsp_urls,
            crl_urls,
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            is_ca,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The signed part (TBSCertificate, with its tag and length): what the issuer's signature
    /// covers.
    pub fn signed_data(&self) -> Option<&[u8]> {
        let (_, cert) = X509Certificate::from_der(&self.der).ok()?;
        let tbs = cert.tbs_certificate.as_ref();
        // A slice of `self.der`: its place there, so the borrow is of `self`.
        let start = (tbs.as_ptr() as usize).checked_sub(self.der.as_ptr() as usize)?;
        self.der.get(start..start + tbs.len())
    }

    /// Whether subject and issuer are the same name (a root, when it is also a CA).
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// SHA-1 fingerprint as `AA:BB:...` (what Application Gateway shows as the thumbprint).
    pub fn sha1_fingerprint(&self) -> String {
        colon_hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der).as_ref())
    }

    /// SHA-256 fingerprint as `AA:BB:...`.
    pub fn sha256_fingerprint(&self) -> String {
        colon_hex(digest::digest(&digest::SHA256, &self.der).as_ref())
    }

    /// How this certificate's signature fares under `issuer`'s key, judged as the handshake's
    /// verifier judges it: webpki picks the algorithm whose identifiers equal, byte for byte,
    /// the certificate's signature algorithm and the issuer's key algorithm, among aws-lc-rs's
    /// (so SHA-1 is unsupported, P-521 and SHA-512 are not), and verifies with it.
    pub fn signature_by(&self, issuer: &CertificateInfo) -> Signature {
        let (Some((algorithm, signature, signed)), Some((key_algorithm, key))) =
            (signed_parts(&self.der), key_parts(&issuer.der))
        else {
            return Signature::Invalid;
        };
        let algorithms = rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all;
        let mut candidates = algorithms
            .iter()
            .filter(|a| a.signature_alg_id().as_ref() == algorithm)
            .filter(|a| a.public_key_alg_id().as_ref() == key_algorithm);
        match candidates.next() {
            None => Signature::UnsupportedAlgorithm,
            Some(a) if a.verify_signature(key, signed, signature).is_ok() => Signature::Valid,
            Some(_) => Signature::Invalid,
        }
    }

    /// Whether `issuer`'s key verifies this certificate's signature ([`Self::signature_by`]).
    pub fn is_signed_by(&self, issuer: &CertificateInfo) -> bool {
        self.signature_by(issuer) == Signature::Valid
    }

    /// The name of the signature algorithm (`sha1WithRSAEncryption`, or its OID).
    pub fn signature_algorithm_name(&self) -> String {
        X509Certificate::from_der(&self.der).map_or_else(
            |_| "an unreadable algorithm".into(),
            |(_, c)| {
                let oid = c.signature_algorithm.algorithm.to_id_string();
                // The legacy ones a refusal names most often, which the registry lacks.
                let legacy = match oid.as_str() {
                    "1.2.840.10045.4.1" => Some("ecdsa-with-SHA1"),
                    "1.2.840.113549.1.1.5" => Some("sha1WithRSAEncryption"),
                    "1.2.840.113549.1.1.4" => Some("md5WithRSAEncryption"),
                    "1.2.840.10040.4.3" => Some("dsa-with-SHA1"),
                    _ => None,
                };
                let registered = || {
                    x509_parser::objects::oid2sn(
                        &c.signature_algorithm.algorithm,
                        x509_parser::objects::oid_registry(),
                    )
                    .ok()
                    .map(str::to_owned)
                };
                legacy.map(str::to_owned).or_else(registered).unwrap_or(oid)
            },
        )
    }
}

/// A certificate's signature under an issuer's key, as the handshake's verifier sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// It verifies.
    Valid,
    /// It does not (another key, a corrupted signature, an RSA key under 2,048 bits).
    Invalid,
    /// The verifier has no algorithm for this signature and key (SHA-1, for one).
    UnsupportedAlgorithm,
}

/// A certificate's signature algorithm (the AlgorithmIdentifier's contents), signature and
/// signed data (the TBSCertificate, whole), as webpki reads them.
fn signed_parts(der: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (cert, _) = super::der::expect(der, 0x30, "certificate").ok()?;
    let (tbs, rest) = super::der::expect(cert.content, 0x30, "tbsCertificate").ok()?;
    let (algorithm, rest) = super::der::expect(rest, 0x30, "signatureAlgorithm").ok()?;
    let (signature, _) = super::der::expect(rest, 0x03, "signature").ok()?;
    let (&unused, signature) = signature.content.split_first()?;
    (unused == 0).then_some((algorithm.content, signature, tbs.raw))
}

/// A certificate's key algorithm (the AlgorithmIdentifier's contents) and key bits.
fn key_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (cert, _) = super::der::expect(der, 0x30, "certificate").ok()?;
    let (tbs, _) = super::der::expect(cert.content, 0x30, "tbsCertificate").ok()?;
    let mut rest = tbs.content;
    if rest.first() == Some(&0xa0) {
        rest = super::der::read(rest).ok()?.1;
    }
    // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
    for tag in [0x02, 0x30, 0x30, 0x30, 0x30] {
        rest = super::der::expect(rest, tag, "tbsCertificate field")
            .ok()?
            .1;
    }
    let (spki, _) = super::der::expect(rest, 0x30, "subjectPublicKeyInfo").ok()?;
    let (algorithm, rest) = super::der::expect(spki.content, 0x30, "algorithm").ok()?;
    let (key, _) = super::der::expect(rest, 0x03, "subjectPublicKey").ok()?;
    let (&unused, key) = key.content.split_first()?;
    (unused == 0).then_some((algorithm.content, key))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
