//! Certificate revocation lists: parsed and signature-checked **once**, when loaded, then
//! looked up by serial in a hash map. (rustls' stock verifier re-checks CRL signatures on every
//! handshake, which costs about a quarter of the handshake rate with one 1,000-entry CRL.)

use std::collections::HashMap;

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::cert::CertificateInfo;
use super::dn::DistinguishedName;
use super::pem;

/// One revocation entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// RFC 5280 reason code, when the CRL gives one.
    pub reason: Option<u8>,
    /// When the certificate was revoked, seconds since the epoch.
    pub at: i64,
}

/// A verified CRL.
#[derive(Clone, Debug)]
pub struct RevocationList {
    der: Vec<u8>,
    /// The CA that signed it.
    pub issuer: DistinguishedName,
    /// When it was issued.
    pub this_update: i64,
    /// When the next one is due; after this it is expired.
    pub next_update: Option<i64>,
    revoked: HashMap<Vec<u8>, Revoked>,
}

/// Why a `ca.crl` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// Not a CRL.
    #[error(
        "is not a certificate revocation list ({0}): put PEM (-----BEGIN X509 CRL-----) or DER CRLs in ca.crl"
    )]
    NotACrl(String),
    /// Signed by a CA that is not in the Secret's `ca.crt`.
    #[error(
        "holds a CRL issued by {0}, which is not a CA in ca.crt; add that CA or remove its CRL"
    )]
    IssuerNotInBundle(String),
    /// The signature does not verify with the issuer's key.
    #[error(
        "holds a CRL for {0} whose signature does not verify with that CA's key; upload the CRL that CA signed"
    )]
    BadSignature(String),
}

impl CrlError {
    /// One of each kind (fields empty), for the catalogue of reasons the docs are checked
    /// against. A new variant belongs here too.
    pub const ALL: [Self; 3] = [
        Self::NotACrl(String::new()),
        Self::IssuerNotInBundle(String::new()),
        Self::BadSignature(String::new()),
    ];

    /// Stable CamelCase label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotACrl(_) => "InvalidCRL",
            Self::IssuerNotInBundle(_) => "CRLIssuerNotInBundle",
            Self::BadSignature(_) => "CRLSignatureInvalid",
        }
    }
}

impl RevocationList {
    /// Parses every CRL in `bytes` (PEM `X509 CRL` blocks, or one DER CRL) and verifies each
    /// against the CA in `cas` that issued it.
    pub fn parse_all(bytes: &[u8], cas: &[CertificateInfo]) -> Result<Vec<Self>, CrlError> {
        let ders: Vec<Vec<u8>> = if pem::looks_like_pem(bytes) {
            pem::parse(bytes)
                .map_err(|e| CrlError::NotACrl(e.to_string()))?
                .into_iter()
                .filter(|b| b.label == "X509 CRL")
                .map(|b| b.der)
                .collect()
        } else {
            vec![bytes.to_vec()]
        };
        if ders.is_empty() {
            return Err(CrlError::NotACrl("no X509 CRL block found".into()));
        }
        ders.iter().map(|d| Self::from_der(d, cas)).collect()
    }

    /// Parses one DER CRL and verifies its signature with its issuer from `cas`.
    pub fn from_der(der: &[u8], cas: &[CertificateInfo]) -> Result<Self, CrlError> {
        let (_, crl) = CertificateRevocationList::from_der(der)
            .map_err(|e| CrlError::NotACrl(e.to_string()))?;
        let issuer = DistinguishedName::from_x509(crl.issuer());
        let candidates: Vec<&CertificateInfo> =
            cas.iter().filter(|c| c.subject == issuer).collect();
        if candidates.is_empty() {
            return Err(CrlError::IssuerNotInBundle(issuer.to_string()));
        }
        let signed = candidates.iter().any(|ca| {
            x509_parser::parse_x509_certificate(ca.der())
                .is_ok_and(|(_, cert)| crl.verify_signature(cert.public_key()).is_ok())
        });
        if !signed {
            return Err(CrlError::BadSignature(issuer.to_string()));
        }
        let revoked = crl
            .iter_revoked_certificates()
            .map(|r| {
                let reason = r.reason_code().map(|(_, code)| code.0);
                (
                    r.raw_serial().to_vec(),
                    Revoked {
                        reason,
                        at: r.revocation_date.timestamp(),
                    },
                )
            })
            .collect();
        Ok(Self {
            der: der.to_vec(),
            issuer,
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            revoked,
        })
    }

    /// The entry for a certificate serial (DER INTEGER content bytes), if revoked.
    pub fn lookup(&self, raw_serial: &[u8]) -> Option<Revoked> {
        self.revoked.get(raw_serial).copied()
    }

    /// How many certificates it revokes.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    /// Whether it revokes nothing.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    /// Whether it is past its `nextUpdate` at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.next_update.is_some_and(|n| n < now)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// RFC 5280 reason code names.
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown",
    }
}
