//! Test PKI, generated at test time with rcgen: roots, intermediates, client and server leaves.
//!
//! Nothing here is committed as a file; every run makes fresh keys. Builders are fluent so a
//! test reads as the PKI it needs: `Ca::root("Partner Root").intermediate("Partner Issuing")`.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// rcgen, for tests that edit certificate parameters.
pub use rcgen;

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

    /// A CRL signed by this CA revoking `revoked` (reason keyCompromise), issued `from_days` and
    /// due `to_days` relative to now, as PEM.
    pub fn crl(&self, revoked: &[&Leaf], from_days: i64, to_days: i64) -> String {
        let serials: Vec<&[u8]> = revoked.iter().map(|l| l.serial.as_slice()).collect();
        self.crl_of(&serials, from_days, to_days)
    }

    /// A CRL signed by this CA revoking the CAs in `revoked` (for chain checks).
    pub fn crl_of_cas(&self, revoked: &[&Ca], from_days: i64, to_days: i64) -> String {
        let serials: Vec<&[u8]> = revoked.iter().map(|c| c.serial.as_slice()).collect();
        self.crl_of(&serials, from_days, to_days)
    }

    fn crl_of(&self, serials: &[&[u8]], from_days: i64, to_days: i64) -> String {
        let now = OffsetDateTime::now_utc();
        let params = rcgen::CertificateRevocationListParams {
            this_update: now + Duration::days(from_days),
            next_update: now + Duration::days(to_days),
            crl_number: rcgen::SerialNumber::from_slice(&next_serial()),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(serial),
                    revocation_time: now - Duration::hours(1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .expect("sign CRL")
            .pem()
            .expect("CRL PEM")
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

/// An Authority Information Access extension with one OCSP responder URI.
fn aia_ocsp(url: &str) -> rcgen::CustomExtension {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128, "short form lengths only");
        [vec![tag, content.len() as u8], content.to_vec()].concat()
    }
    // id-ad-ocsp, 1.3.6.1.5.5.7.48.1
    let method = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    // uniformResourceIdentifier [6] IA5String
    let location = tlv(0x86, url.as_bytes());
    let content = tlv(0x30, &tlv(0x30, &[method, location].concat()));
    // id-pe-authorityInfoAccess, 1.3.6.1.5.5.7.1.1
    rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], content)
}

/// Concatenates PEM texts into one bundle, in the order given.
pub fn bundle(parts: &[String]) -> String {
    parts.concat()
}

/// The RFC 4514 form of the DN every fixture uses: `CN=<cn>,O=Portcullis Test`.
pub fn rfc4514(cn: &str) -> String {
    format!("CN={cn},O=Portcullis Test")
}

/// A fresh positive serial: nanoseconds and a counter, high bit clear so the DER encoding is
/// the same bytes in certificates and CRLs.
fn next_serial() -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut bytes = (nanos ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(40))
        .to_be_bytes()
        .to_vec();
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    bytes
}

fn key() -> KeyPair {
    key_of(&rcgen::PKCS_ECDSA_P256_SHA256)
}

/// A key for `alg`: RSA ones of 2,048 bits.
fn key_of(alg: &'static rcgen::SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg)
        .or_else(|_| KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048))
        .expect("generate key")
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Portcullis Test");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![]).expect("ca params");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&next_serial()));
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// A valid bundle and what Application Gateway's issuer-DN rules make of it.
pub struct Scenario {
    /// What it shows.
    pub name: &'static str,
    /// The bundle file's bytes.
    pub bundle: Vec<u8>,
    /// CN of the CA whose subject `verifyClientCertIssuerDN` enforces.
    pub issuer_cn: &'static str,
    /// Chains in the file.
    pub chains: usize,
    /// Leaf certificates mixed in (each ignored with a warning).
    pub leaves: usize,
}

/// Application Gateway's five documented issuer-DN scenarios, plus a plain PEM chain, a DER
/// root and a reordered file.
pub fn issuer_dn_scenarios() -> Vec<Scenario> {
    let root = Ca::root("Root");
    let int1 = root.intermediate("Int1");
    let int2 = int1.intermediate("Int2");
    let int_b = root.intermediate("IntB");
    let int_c = int_b.intermediate("IntC");
    let leaf = |ca: &Ca| ca.client("client").pem();
    let s = |name, parts: &[String], issuer_cn, chains, leaves| Scenario {
        name,
        bundle: bundle(parts).into_bytes(),
        issuer_cn,
        chains,
        leaves,
    };
    vec![
        s(
            "root and intermediate, PEM",
            &[root.pem(), int1.pem()],
            "Int1",
            1,
            0,
        ),
        Scenario {
            name: "root alone, DER",
            bundle: root.der(),
            issuer_cn: "Root",
            chains: 1,
            leaves: 0,
        },
        s(
            "scenario 1: root, intermediate, leaf",
            &[root.pem(), int1.pem(), leaf(&int1)],
            "Int1",
            1,
            1,
        ),
        s(
            "scenario 2: root, int1, int2, leaf (any order)",
            &[leaf(&int2), int2.pem(), root.pem(), int1.pem()],
            "Int2",
            1,
            1,
        ),
        s(
            "scenario 3: root, leaf",
            &[root.pem(), leaf(&root)],
            "Root",
            1,
            1,
        ),
        s(
            "scenario 4: equal-length chains, the first wins",
            &[
                root.pem(),
                int1.pem(),
                leaf(&int1),
                int_b.pem(),
                leaf(&int_b),
            ],
            "Int1",
            2,
            2,
        ),
        s(
            "scenario 4, other order",
            &[root.pem(), int_b.pem(), int1.pem()],
            "IntB",
            2,
            0,
        ),
        s(
            "scenario 5: chains of different lengths, the longest wins",
            &[
                root.pem(),
                int1.pem(),
                leaf(&int1),
                int_b.pem(),
                int_c.pem(),
                leaf(&int_c),
            ],
            "IntC",
            2,
            2,
        ),
    ]
}
