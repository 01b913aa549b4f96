//! What can be wrong with a trust bundle, in words that say what to do: the refusals
//! ([`BundleError`]) and warnings ([`BundleWarning`]), each with a stable reason.

use std::fmt;

use super::MAX_BUNDLE_BYTES;

/// Why a bundle is refused. Each variant has a stable [`BundleError::reason`] label that becomes
/// a status reason and a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Nothing in the file.
    #[error(
        "is empty: put the PEM or DER encoded CA chain that issued your client certificates in it"
    )]
    Empty,
    /// Bytes that are not a certificate.
    #[error(
        "is not a certificate ({detail}): upload the CA chain as PEM (-----BEGIN CERTIFICATE-----) or DER (.cer), not a .pfx/.p12 archive"
    )]
    NotACertificate {
        /// What the parser said.
        detail: String,
    },
    /// A private key of any kind.
    #[error(
        "holds a private key (PEM block \"{label}\"): a trust bundle holds only public CA certificates; remove the key and keep it secret"
    )]
    PrivateKey {
        /// The PEM label of the key block.
        label: String,
    },
    /// A PEM block that is neither a certificate nor a key.
    #[error(
        "holds a PEM block \"{label}\": only CERTIFICATE blocks belong in ca.crt (a CRL goes in ca.crl)"
    )]
    UnexpectedPemBlock {
        /// The PEM label.
        label: String,
    },
    /// Only end-entity certificates: the most common mistake.
    #[error(
        "holds only a leaf (end-entity) certificate ({subject}), no CA certificate: upload the CA chain that issued your client certificates (its root CA and any intermediates), not a client's own certificate or the server's certificate"
    )]
    LeafCertificateOnly {
        /// The first leaf's subject.
        subject: String,
    },
    /// CA certificates, but none self-signed.
    #[error(
        "has no root CA: the chain stops at {top}, issued by {issuer}, which is not in the file; add that root CA certificate"
    )]
    NoRootCa {
        /// The topmost CA found.
        top: String,
        /// Its issuer, the missing root.
        issuer: String,
    },
    /// More than one self-signed CA.
    #[error(
        "holds {count} root CAs ({subjects}): a bundle is one chain with exactly one root; put each root and its intermediates in a Secret of its own"
    )]
    MultipleRootCas {
        /// How many roots.
        count: usize,
        /// Their subjects, `; `-separated.
        subjects: String,
    },
    /// An intermediate whose issuer is not in the file.
    #[error(
        "holds intermediate CA {subject}, but its issuer {issuer} is not in the file; add that CA certificate"
    )]
    OrphanIntermediate {
        /// The intermediate.
        subject: String,
        /// The issuer it names.
        issuer: String,
    },
    /// An intermediate whose issuer is in the file by name but did not sign it.
    #[error(
        "holds intermediate CA {subject}, whose issuer {issuer} is in the file but did not sign it (a different key with the same name); upload the matching issuer"
    )]
    IntermediateSignatureInvalid {
        /// The intermediate.
        subject: String,
        /// The issuer it names.
        issuer: String,
    },
    /// An intermediate signed with an algorithm the handshake's verifier does not accept.
    #[error(
        "holds intermediate CA {subject}, signed by {issuer} with {algorithm}, which the handshake's verifier refuses (every client of it would be refused): re-issue it with SHA-256 or stronger (RSA of 2,048 bits or more, ECDSA P-256/P-384/P-521, or Ed25519)"
    )]
    UnsupportedSignatureAlgorithm {
        /// The intermediate.
        subject: String,
        /// Its issuer.
        issuer: String,
        /// The signature algorithm's name.
        algorithm: String,
    },
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error(
        "is {size} bytes, over the limit of 25 KB ({MAX_BUNDLE_BYTES} bytes) for one chain: put each chain in a Secret of its own"
    )]
    TooLarge {
        /// The file's size.
        size: usize,
    },
}

impl BundleError {
    /// One of each kind (fields empty), for the catalogue of reasons the docs are checked
    /// against. A new variant belongs here too.
    pub const ALL: [Self; 11] = [
        Self::Empty,
        Self::NotACertificate {
            detail: String::new(),
        },
        Self::PrivateKey {
            label: String::new(),
        },
        Self::UnexpectedPemBlock {
            label: String::new(),
        },
        Self::LeafCertificateOnly {
            subject: String::new(),
        },
        Self::NoRootCa {
            top: String::new(),
            issuer: String::new(),
        },
        Self::MultipleRootCas {
            count: 0,
            subjects: String::new(),
        },
        Self::OrphanIntermediate {
            subject: String::new(),
            issuer: String::new(),
        },
        Self::IntermediateSignatureInvalid {
            subject: String::new(),
            issuer: String::new(),
        },
        Self::UnsupportedSignatureAlgorithm {
            subject: String::new(),
            issuer: String::new(),
            algorithm: String::new(),
        },
        Self::TooLarge { size: 0 },
    ];

    /// The stable CamelCase label used as a status reason and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "EmptyBundle",
            Self::NotACertificate { .. } => "InvalidCertificate",
            Self::PrivateKey { .. } => "PrivateKeyInBundle",
            Self::UnexpectedPemBlock { .. } => "UnexpectedPemBlock",
            Self::LeafCertificateOnly { .. } => "LeafCertificateOnly",
            Self::NoRootCa { .. } => "NoRootCA",
            Self::MultipleRootCas { .. } => "MultipleRootCAs",
            Self::OrphanIntermediate { .. } => "IntermediateWithoutIssuer",
            Self::IntermediateSignatureInvalid { .. } => "IntermediateSignatureInvalid",
            Self::UnsupportedSignatureAlgorithm { .. } => "UnsupportedSignatureAlgorithm",
            Self::TooLarge { .. } => "BundleTooLarge",
        }
    }
}

/// Something accepted but worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleWarning {
    /// A leaf certificate mixed into a valid chain; it is not trusted.
    #[error("leaf certificate {subject} is ignored: only CA certificates are trusted")]
    LeafIgnored {
        /// The leaf's subject.
        subject: String,
    },
    /// The same certificate twice.
    #[error("certificate {subject} appears more than once; the copies are ignored")]
    Duplicate {
        /// The duplicated certificate's subject.
        subject: String,
    },
}

impl BundleWarning {
    /// One of each kind (fields empty), for the catalogue of reasons the docs are checked
    /// against. A new variant belongs here too.
    pub const ALL: [Self; 2] = [
        Self::LeafIgnored {
            subject: String::new(),
        },
        Self::Duplicate {
            subject: String::new(),
        },
    ];

    /// The stable CamelCase label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::LeafIgnored { .. } => "LeafCertificateIgnored",
            Self::Duplicate { .. } => "DuplicateCertificate",
        }
    }
}

/// A refused bundle: every problem found, in the order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRejected {
    /// At least one problem.
    pub problems: Vec<BundleError>,
}

impl fmt::Display for BundleRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&text.join("; "))
    }
}

impl std::error::Error for BundleRejected {}
