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
    /// `tls.key` holds no usable key, or more than one.
    #[error(
        "tls.key must hold exactly one unencrypted PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )]
    BadKey,
}

impl ServerCertError {
    /// The stable CamelCase label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoCertificate | Self::BadCertificate(_) => "InvalidServerCertificate",
            Self::BadKey => "InvalidServerKey",
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
        Ok(Self { chain, key })
    }

    /// The leaf certificate's facts.
    pub fn leaf(&self) -> Option<CertificateInfo> {
        self.chain
            .first()
            .and_then(|d| CertificateInfo::from_der(&d.0).ok())
    }
}
