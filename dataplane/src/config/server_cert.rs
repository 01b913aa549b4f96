//! The gateway's own certificate: a `kubernetes.io/tls` Secret's `tls.crt` and `tls.key`.

use serde::{Deserialize, Serialize};

use super::Der;
use crate::pki::{CertificateInfo, pem};

/// The server certificate chain (leaf first) and its private key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCertificate {
    /// Leaf first, then intermediates.
    pub chain: Vec<Der>,
    /// The private key.
    pub key: PrivateKey,
}

/// A private key and its encoding.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrivateKey {
    /// PKCS#8 (`PRIVATE KEY`).
    Pkcs8(Der),
    /// PKCS#1 RSA (`RSA PRIVATE KEY`).
    Pkcs1(Der),
    /// SEC1 EC (`EC PRIVATE KEY`).
    Sec1(Der),
}

impl PrivateKey {
    /// The key in rustls' form.
    pub fn to_rustls(&self) -> rustls::pki_types::PrivateKeyDer<'static> {
        use rustls::pki_types::{
            PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
        };
        match self {
            Self::Pkcs8(d) => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d.0.clone())),
            Self::Pkcs1(d) => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(d.0.clone())),
            Self::Sec1(d) => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(d.0.clone())),
        }
    }
}

/// Why a TLS Secret's contents were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerCertError {
    /// `tls.crt` holds no certificate.
    #[error("tls.crt holds no PEM certificate")]
    NoCertificate,
    /// A certificate in `tls.crt` does not parse.
    #[error("tls.crt: {0}")]
    BadCertificate(String),
    /// `tls.key` does not belong to the leaf in `tls.crt`.
    #[error(
        "tls.key is not the private key of the first certificate in tls.crt (the leaf); put the leaf first and pair it with its own key"
    )]
    KeyMismatch,
    /// `tls.key` holds no usable key, or more than one.
    #[error(
        "tls.key must hold exactly one unencrypted PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )]
    BadKey,
}

impl ServerCertError {
    /// One of each kind (fields empty), for the catalogue of reasons the docs are checked
    /// against. A new variant belongs here too.
    pub const ALL: [Self; 4] = [
        Self::NoCertificate,
        Self::BadCertificate(String::new()),
        Self::KeyMismatch,
        Self::BadKey,
    ];

    /// The stable CamelCase label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoCertificate | Self::BadCertificate(_) => "InvalidServerCertificate",
            Self::BadKey => "InvalidServerKey",
            Self::KeyMismatch => "ServerKeyMismatch",
        }
    }
}

impl ServerCertificate {
    /// Parses PEM `tls.crt` (leaf first) and `tls.key`.
    pub fn from_pem(crt: &[u8], key: &[u8]) -> Result<Self, ServerCertError> {
        let blocks = pem::parse(crt).map_err(|e| ServerCertError::BadCertificate(e.to_string()))?;
        let chain: Vec<Der> = blocks
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| Der(b.der))
            .collect();
        if chain.is_empty() {
            return Err(ServerCertError::NoCertificate);
        }
        for der in &chain {
            CertificateInfo::from_der(&der.0)
                .map_err(|e| ServerCertError::BadCertificate(e.to_string()))?;
        }
        let keys: Vec<PrivateKey> = pem::parse(key)
            .map_err(|_| ServerCertError::BadKey)?
            .into_iter()
            .filter_map(|b| match b.label.as_str() {
                "PRIVATE KEY" => Some(PrivateKey::Pkcs8(Der(b.der))),
                "RSA PRIVATE KEY" => Some(PrivateKey::Pkcs1(Der(b.der))),
                "EC PRIVATE KEY" => Some(PrivateKey::Sec1(Der(b.der))),
                _ => None,
            })
            .collect();
        let [key] = <[PrivateKey; 1]>::try_from(keys).map_err(|_| ServerCertError::BadKey)?;
        let cert = Self { chain, key };
        cert.check_key()?;
        Ok(cert)
    }

    /// Checks that the key loads and belongs to the leaf, as the TLS library will need.
    fn check_key(&self) -> Result<(), ServerCertError> {
        match self.certified_key(&rustls::crypto::aws_lc_rs::default_provider()) {
            Ok(_) => Ok(()),
            Err(rustls::Error::InconsistentKeys(_)) => Err(ServerCertError::KeyMismatch),
            Err(_) => Err(ServerCertError::BadKey),
        }
    }

    /// The chain and key as rustls serves them.
    pub fn certified_key(
        &self,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<rustls::sign::CertifiedKey, rustls::Error> {
        rustls::sign::CertifiedKey::from_der(self.chain_der(), self.key.to_rustls(), provider)
    }

    /// The chain (leaf first) in rustls' form.
    pub fn chain_der(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.chain
            .iter()
            .map(|d| rustls::pki_types::CertificateDer::from(d.0.clone()))
            .collect()
    }

    /// Whether the leaf's DNS names cover `host` (exactly, or by a one-label wildcard).
    pub fn covers(&self, host: &super::Hostname) -> bool {
        let Some(leaf) = self.leaf() else {
            return false;
        };
        leaf.dns_names.iter().any(|dns| {
            super::Hostname::parse(dns).is_ok_and(|d| {
                d == *host || (d.is_wildcard() && !host.is_wildcard() && d.matches(host.as_str()))
            })
        })
    }

    /// The leaf certificate's facts.
    pub fn leaf(&self) -> Option<CertificateInfo> {
        self.chain
            .first()
            .and_then(|d| CertificateInfo::from_der(&d.0).ok())
    }
}
