//! Test PKI, generated at test time with rcgen: roots, intermediates, client and server leaves.
//!
//! Nothing here is committed as a file; every run makes fresh keys. Builders are fluent so a
//! test reads as the PKI it needs: `Ca::root("Partner Root").intermediate("Partner Issuing")`.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// A certificate authority: its certificate and the means to issue from it.
pub struct Ca {
    cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
    key_pem: String,
}

/// An end-entity certificate and its key.
pub struct Leaf {
    cert: rcgen::Certificate,
    key_pem: String,
}

impl Ca {
    /// A self-signed root CA named `CN=<cn>,O=Portcullis Test`.
    pub fn root(cn: &str) -> Self {
        let key = key();
        let params = ca_params(cn);
        let cert = params.self_signed(&key).expect("self-sign root");
        Self::from_parts(cert, params, key)
    }

    /// A root with a custom validity window, in days relative to now.
    pub fn root_valid(cn: &str, from_days: i64, to_days: i64) -> Self {
        let key = key();
        let mut params = ca_params(cn);
        params.not_before = OffsetDateTime::now_utc() + Duration::days(from_days);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(to_days);
        let cert = params.self_signed(&key).expect("self-sign root");
        Self::from_parts(cert, params, key)
    }

    /// An intermediate CA issued by this CA.
    pub fn intermediate(&self, cn: &str) -> Self {
        let key = key();
        let params = ca_params(cn);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign intermediate");
        Self::from_parts(cert, params, key)
    }

    /// A client certificate (clientAuth EKU) issued by this CA.
    pub fn client(&self, cn: &str) -> Leaf {
        self.leaf(cn, vec![], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// A server certificate (serverAuth EKU) for `hosts`, issued by this CA.
    pub fn server(&self, hosts: &[&str]) -> Leaf {
        let sans = hosts.iter().map(|h| (*h).to_owned()).collect();
        self.leaf(
            hosts.first().copied().unwrap_or("server"),
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn leaf(&self, cn: &str, sans: Vec<String>, eku: ExtendedKeyUsagePurpose) -> Leaf {
        let key = key();
        let mut params = CertificateParams::new(sans).expect("leaf params");
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert,
            key_pem: key.serialize_pem(),
        }
    }

    fn from_parts(cert: rcgen::Certificate, params: CertificateParams, key: KeyPair) -> Self {
        let key_pem = key.serialize_pem();
        Self {
            cert,
            issuer: Issuer::new(params, key),
            key_pem,
        }
    }

    /// The CA certificate as PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate as DER.
    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// The CA's private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

impl Leaf {
    /// A self-signed certificate with no CA flag: what users upload by mistake.
    pub fn self_signed(cn: &str) -> Self {
        let key = key();
        let mut params = CertificateParams::new(vec![]).expect("leaf params");
        params.distinguished_name = dn(cn);
        let cert = params.self_signed(&key).expect("self-sign leaf");
        Self {
            cert,
            key_pem: key.serialize_pem(),
        }
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The certificate as DER.
    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

/// Concatenates PEM texts into one bundle, in the order given.
pub fn bundle(parts: &[String]) -> String {
    parts.concat()
}

/// The RFC 4514 form of the DN every fixture uses: `CN=<cn>,O=Portcullis Test`.
pub fn rfc4514(cn: &str) -> String {
    format!("CN={cn},O=Portcullis Test")
}

fn key() -> KeyPair {
    KeyPair::generate().expect("generate P-256 key")
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Portcullis Test");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![]).expect("ca params");
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}
