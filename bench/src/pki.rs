//! The benchmark PKI: the same files for every server under test.

use std::path::Path;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};

/// Key algorithm of every certificate.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256.
    Ecdsa,
    /// RSA 2048 with SHA-256 (PKCS#1 v1.5 signatures on certificates).
    Rsa,
}

impl Alg {
    fn signature(self) -> &'static SignatureAlgorithm {
        match self {
            Self::Ecdsa => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::Rsa => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// A new key pair.
    pub fn key(self) -> anyhow::Result<KeyPair> {
        Ok(KeyPair::generate_for(self.signature())?)
    }
}

fn params(cn: &str, ca: bool) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(DnType::OrganizationName, "Portcullis Bench");
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(365);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    Ok(p)
}

/// A self-signed CA: its certificate and the means to issue from it.
fn self_signed_ca(alg: Alg, cn: &str) -> anyhow::Result<(Certificate, Issuer<'static, KeyPair>)> {
    let key = alg.key()?;
    let p = params(cn, true)?;
    let cert = p.self_signed(&key)?;
    Ok((cert, Issuer::new(p, key)))
}

/// A root CA and an intermediate it issued, with the means to issue from each.
struct Chain {
    root: Certificate,
    root_issuer: Issuer<'static, KeyPair>,
    int: Certificate,
    int_issuer: Issuer<'static, KeyPair>,
}

fn chain(alg: Alg, root_cn: &str, int_cn: &str) -> anyhow::Result<Chain> {
    let (root, root_issuer) = self_signed_ca(alg, root_cn)?;
    let key = alg.key()?;
    let p = params(int_cn, true)?;
    let int = p.signed_by(&key, &root_issuer)?;
    Ok(Chain {
        root,
        root_issuer,
        int,
        int_issuer: Issuer::new(p, key),
    })
}

/// A CRL from `issuer` revoking `count` serials (none of them a certificate written here:
/// those are random 20-byte serials, these count up from 1), PEM.
fn crl(issuer: &Issuer<'static, KeyPair>, count: u32) -> anyhow::Result<String> {
    let now = time::OffsetDateTime::now_utc();
    let params = rcgen::CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update: now + time::Duration::days(7),
        crl_number: rcgen::SerialNumber::from(u64::from(count) + 1),
        issuing_distribution_point: None,
        revoked_certs: (1..=count)
            .map(|n| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(u64::from(n)),
                revocation_time: now - time::Duration::hours(2),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(issuer)?.pem()?)
}

/// The client certificate's serial: 16 hex digits with a high bit clear, so its DER integer
/// and the OCSP index's hex agree without padding.
const CLIENT_SERIAL: u64 = 0x5EED_B00C_1234_5678;

/// Entries of the intermediate's CRL in `client-ca.crl`.
pub const CRL_ENTRIES: u32 = 1000;

/// A server certificate for `host` (serverAuth) and its key, issued by `issuer`, or
/// self-signed without one.
fn server(
    alg: Alg,
    host: &str,
    issuer: Option<&Issuer<'static, KeyPair>>,
) -> anyhow::Result<(Certificate, KeyPair)> {
    let key = alg.key()?;
    let mut p = CertificateParams::new(vec![host.to_owned()])?;
    p.distinguished_name.push(DnType::CommonName, host);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = match issuer {
        Some(issuer) => p.signed_by(&key, issuer)?,
        None => p.self_signed(&key)?,
    };
    Ok((cert, key))
}

/// Writes `client-ca.pem` (root and intermediate, what the servers trust), `client-ca.crl`
/// (the intermediate's CRL of [`CRL_ENTRIES`] serials and the root's empty one), `client.pem`
/// (leaf and intermediate, what the client sends) and `client.key`; `server-root.pem`,
/// `server.pem`, `server.key` and `server-combined.pem` (certificate then key, for haproxy);
/// `ocsp-*` for an OCSP responder that calls the client certificate good.
pub fn write(dir: &Path, alg: Alg) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text);

    let c = chain(alg, "Bench Client Root", "Bench Client Issuing CA")?;
    let leaf_key = alg.key()?;
    let mut leaf_params = params("bench-client", false)?;
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    // A fixed serial, so the OCSP responder's index can name it (the CRL's count up from 1).
    leaf_params.serial_number = Some(rcgen::SerialNumber::from(CLIENT_SERIAL));
    let leaf = leaf_params.signed_by(&leaf_key, &c.int_issuer)?;
    w("client-ca.pem", &format!("{}{}", c.root.pem(), c.int.pem()))?;
    w(
        "client-ca.crl",
        &format!(
            "{}{}",
            crl(&c.int_issuer, CRL_ENTRIES)?,
            crl(&c.root_issuer, 0)?
        ),
    )?;
    w("client.pem", &format!("{}{}", leaf.pem(), c.int.pem()))?;
    w("client.key", &leaf_key.serialize_pem())?;

    // The intermediate's delegated OCSP responder and an `openssl ca` index calling the client
    // certificate good, for `openssl ocsp -index ocsp-index.txt -CA client-ca.pem -rsigner
    // ocsp-responder.pem -rkey ocsp-responder.key`.
    let responder_key = alg.key()?;
    let mut responder = params("Bench OCSP Responder", false)?;
    responder.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    let responder = responder.signed_by(&responder_key, &c.int_issuer)?;
    w("ocsp-responder.pem", &responder.pem())?;
    w("ocsp-responder.key", &responder_key.serialize_pem())?;
    w("ocsp-issuer.pem", &c.int.pem())?;
    w(
        "ocsp-index.txt",
        &format!("V\t300101000000Z\t\t{CLIENT_SERIAL:016X}\tunknown\t/CN=bench-client\n"),
    )?;
    w("ocsp-index.txt.attr", "unique_subject = no\n")?;

    let (sroot, sroot_issuer) = self_signed_ca(alg, "Bench Server Root")?;
    let (server, server_key) = server(alg, "bench.example", Some(&sroot_issuer))?;
    w("server-root.pem", &sroot.pem())?;
    w("server.pem", &server.pem())?;
    w("server.key", &server_key.serialize_pem())?;
    w(
        "server-combined.pem",
        &format!("{}{}", server.pem(), server_key.serialize_pem()),
    )?;
    Ok(())
}

/// A root and an intermediate named after `name`, as one PEM bundle (what a CA Secret holds).
pub fn ca_chain(alg: Alg, name: &str) -> anyhow::Result<String> {
    let c = chain(alg, &format!("{name} Root"), &format!("{name} Issuing"))?;
    Ok(format!("{}{}", c.root.pem(), c.int.pem()))
}

/// A self-signed server certificate for `host` and its key, PEM.
pub fn server_for(alg: Alg, host: &str) -> anyhow::Result<(String, String)> {
    let (cert, key) = server(alg, host, None)?;
    Ok((cert.pem(), key.serialize_pem()))
}
