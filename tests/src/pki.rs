//! Test PKI, generated at test time with rcgen: roots, intermediates, client and server leaves.
//!
//! Nothing here is committed as a file; every run makes fresh keys. Builders are fluent so a
//! test reads as the PKI it needs: `Ca::root("Partner Root").intermediate("Partner Issuing")`.

use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

/// rcgen, for tests that edit certificate parameters.
pub use rcgen;

mod crl;
mod params;
mod scenarios;

use params::{aia_ocsp, ca_params, dn, key, key_of, next_serial};

pub use scenarios::{Scenario, issuer_dn_scenarios};

/// A certificate authority: its certificate and the means to issue from it.
pub struct Ca {
    cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
    key_pem: String,
    serial: Vec<u8>,
    /// The key algorithm of this CA's intermediates and leaves.
    alg: &'static rcgen::SignatureAlgorithm,
}

/// Revocation URLs written into a leaf.
#[derive(Default, Clone, Copy)]
struct Urls<'a> {
    ocsp: Option<&'a str>,
    crl: Option<&'a str>,
}

/// An end-entity certificate and its key.
pub struct Leaf {
    cert: rcgen::Certificate,
    key_pem: String,
    serial: Vec<u8>,
}

impl Ca {
    /// A self-signed root CA named `CN=<cn>,O=Portcullis Test`.
    pub fn root(cn: &str) -> Self {
        let key = key();
        let params = ca_params(cn);
        let cert = params.self_signed(&key).expect("self-sign root");
        Self::from_parts(cert, params, key, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// [`Ca::root`] with an RSA-2048 key, whose intermediates and leaves get RSA keys too.
    pub fn root_rsa(cn: &str) -> Self {
        Self::root_alg(cn, &rcgen::PKCS_RSA_SHA256)
    }

    /// [`Ca::root`] with a key of `alg` (which also signs), for its intermediates and leaves
    /// too: `PKCS_ECDSA_P521_SHA512`, `PKCS_ED25519`, …
    pub fn root_alg(cn: &str, alg: &'static rcgen::SignatureAlgorithm) -> Self {
        Self::root_alg_with(cn, alg, |_| {})
    }

    /// [`Ca::root_alg`] whose parameters are changed by `edit`.
    pub fn root_alg_with(
        cn: &str,
        alg: &'static rcgen::SignatureAlgorithm,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        let key = key_of(alg);
        let mut params = ca_params(cn);
        edit(&mut params);
        let cert = params.self_signed(&key).expect("self-sign root");
        Self::from_parts(cert, params, key, alg)
    }

    /// A leaf issued by this CA from the parameters of [`Ca::client`], changed by `edit`
    /// (extended key usages, names, validity, …).
    pub fn client_with(&self, cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = key_of(self.alg);
        let mut params = CertificateParams::new(vec![]).expect("leaf params");
        let serial = next_serial();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert,
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    /// A root with a custom validity window, in days relative to now.
    pub fn root_valid(cn: &str, from_days: i64, to_days: i64) -> Self {
        Self::root_with(cn, |p| {
            p.not_before = OffsetDateTime::now_utc() + Duration::days(from_days);
            p.not_after = OffsetDateTime::now_utc() + Duration::days(to_days);
        })
    }

    /// A root whose parameters are changed by `edit`.
    pub fn root_with(cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Self {
        let key = key();
        let mut params = ca_params(cn);
        edit(&mut params);
        let cert = params.self_signed(&key).expect("self-sign root");
        Self::from_parts(cert, params, key, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// An intermediate CA issued by this CA whose Authority Information Access names
    /// `ocsp_url` as its OCSP responder.
    pub fn intermediate_with_ocsp(&self, cn: &str, ocsp_url: &str) -> Self {
        self.intermediate_with(cn, |p| p.custom_extensions.push(aia_ocsp(ocsp_url)))
    }

    /// The CA certificate's serial number, uppercase hex (as an `openssl ca` index has it).
    pub fn serial_hex(&self) -> String {
        self.serial.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// An intermediate CA issued by this CA.
    pub fn intermediate(&self, cn: &str) -> Self {
        self.intermediate_with(cn, |_| {})
    }

    /// An intermediate CA issued by this CA, its parameters changed by `edit` (validity,
    /// constraints, key usages).
    pub fn intermediate_with(&self, cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Self {
        let key = key_of(self.alg);
        let mut params = ca_params(cn);
        edit(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign intermediate");
        Self::from_parts(cert, params, key, self.alg)
    }

    /// An intermediate CA named `CN=<cn>,O=Portcullis Test` that this CA signs with
    /// ECDSA-SHA1, made by openssl (rcgen signs with nothing that old), as PEM.
    pub fn intermediate_sha1_pem(&self, cn: &str) -> String {
        let dir = tempfile::tempdir().expect("dir");
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("ca.pem"), self.pem()).expect("CA");
        std::fs::write(path("ca.key"), self.key_pem()).expect("CA key");
        std::fs::write(
            path("ext.cnf"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .expect("extensions");
        let subject = format!("/O=Portcullis Test/CN={cn}");
        let (key, csr, ca, ca_key, ext, pem) = (
            path("int.key"),
            path("int.csr"),
            path("ca.pem"),
            path("ca.key"),
            path("ext.cnf"),
            path("int.pem"),
        );
        for args in [
            vec![
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-subj",
                &subject,
                "-out",
                &csr,
            ],
            vec![
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-sha1",
                "-days",
                "30",
                "-set_serial",
                "7",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        ] {
            let out = std::process::Command::new("openssl")
                .args(&args)
                .output()
                .expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        }
        std::fs::read_to_string(pem).expect("intermediate")
    }

    /// A client certificate (clientAuth EKU) issued by this CA.
    pub fn client(&self, cn: &str) -> Leaf {
        self.leaf(
            cn,
            vec![],
            ExtendedKeyUsagePurpose::ClientAuth,
            Urls::default(),
        )
    }

    /// A client certificate (clientAuth EKU) whose subject alternative name is the DNS name
    /// `name`.
    pub fn client_named(&self, name: &str) -> Leaf {
        self.leaf(
            name,
            vec![name.to_owned()],
            ExtendedKeyUsagePurpose::ClientAuth,
            Urls::default(),
        )
    }

    /// A client certificate valid from `from_days` to `to_days` relative to now.
    pub fn client_valid(&self, cn: &str, from_days: i64, to_days: i64) -> Leaf {
        let key = key_of(self.alg);
        let mut params = CertificateParams::new(vec![]).expect("leaf params");
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = OffsetDateTime::now_utc() + Duration::days(from_days);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(to_days);
        let serial = next_serial();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert,
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    /// A client certificate whose Authority Information Access names `ocsp_url` as its OCSP
    /// responder.
    pub fn client_with_ocsp(&self, cn: &str, ocsp_url: &str) -> Leaf {
        self.leaf(
            cn,
            vec![],
            ExtendedKeyUsagePurpose::ClientAuth,
            Urls {
                ocsp: Some(ocsp_url),
                crl: None,
            },
        )
    }

    /// A client certificate whose CRL Distribution Point is `crl_url`.
    pub fn client_with_crl_dp(&self, cn: &str, crl_url: &str) -> Leaf {
        self.leaf(
            cn,
            vec![],
            ExtendedKeyUsagePurpose::ClientAuth,
            Urls {
                ocsp: None,
                crl: Some(crl_url),
            },
        )
    }

    /// A server certificate for `hosts` whose AIA names `ocsp_url` (for stapling).
    pub fn server_with_ocsp(&self, hosts: &[&str], ocsp_url: &str) -> Leaf {
        let sans = hosts.iter().map(|h| (*h).to_owned()).collect();
        self.leaf(
            hosts.first().copied().unwrap_or("server"),
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            Urls {
                ocsp: Some(ocsp_url),
                crl: None,
            },
        )
    }

    /// A delegated OCSP responder certificate (OCSPSigning EKU) issued by this CA.
    pub fn ocsp_responder(&self, cn: &str) -> Leaf {
        self.leaf(
            cn,
            vec![],
            ExtendedKeyUsagePurpose::OcspSigning,
            Urls::default(),
        )
    }

    /// A server certificate (serverAuth EKU) for `hosts`, issued by this CA.
    pub fn server(&self, hosts: &[&str]) -> Leaf {
        let sans = hosts.iter().map(|h| (*h).to_owned()).collect();
        self.leaf(
            hosts.first().copied().unwrap_or("server"),
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            Urls::default(),
        )
    }

    fn leaf(
        &self,
        cn: &str,
        sans: Vec<String>,
        eku: ExtendedKeyUsagePurpose,
        urls: Urls<'_>,
    ) -> Leaf {
        let key = key_of(self.alg);
        let mut params = CertificateParams::new(sans).expect("leaf params");
        let serial = next_serial();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.custom_extensions.extend(urls.ocsp.map(aia_ocsp));
        params.crl_distribution_points = urls
            .crl
            .map(|u| rcgen::CrlDistributionPoint {
                uris: vec![u.to_owned()],
            })
            .into_iter()
            .collect();
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert,
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    fn from_parts(
        cert: rcgen::Certificate,
        params: CertificateParams,
        key: KeyPair,
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> Self {
        let key_pem = key.serialize_pem();
        let serial = params
            .serial_number
            .as_ref()
            .map(|s| s.to_bytes())
            .unwrap_or_default();
        Self {
            cert,
            issuer: Issuer::new(params, key),
            key_pem,
            serial,
            alg,
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
            serial: Vec::new(),
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

    /// The serial number as uppercase hex (as `openssl ca` index files write it).
    pub fn serial_hex(&self) -> String {
        self.serial.iter().map(|b| format!("{b:02X}")).collect()
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
