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

/// A root and an intermediate it issued; the intermediate's issuer signs leaves.
fn chain(
    alg: Alg,
    root_cn: &str,
    int_cn: &str,
) -> anyhow::Result<(Certificate, Certificate, Issuer<'static, KeyPair>)> {
    let (root, root_issuer) = self_signed_ca(alg, root_cn)?;
    let key = alg.key()?;
    let p = params(int_cn, true)?;
    let int = p.signed_by(&key, &root_issuer)?;
    Ok((root, int, Issuer::new(p, key)))
}

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

/// Writes `client-ca.pem` (root and intermediate, what the servers trust), `client.pem`
/// (leaf and intermediate, what the client sends) and `client.key`; `server-root.pem`,
/// `server.pem`, `server.key` and `server-combined.pem` (certificate then key, for haproxy).
pub fn write(dir: &Path, alg: Alg) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text);

    let (root, int, int_issuer) = chain(alg, "Bench Client Root", "Bench Client Issuing CA")?;
    let leaf_key = alg.key()?;
    let mut leaf_params = params("bench-client", false)?;
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &int_issuer)?;
    w("client-ca.pem", &format!("{}{}", root.pem(), int.pem()))?;
    w("client.pem", &format!("{}{}", leaf.pem(), int.pem()))?;
    w("client.key", &leaf_key.serialize_pem())?;

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
    let (root, int, _) = chain(alg, &format!("{name} Root"), &format!("{name} Issuing"))?;
    Ok(format!("{}{}", root.pem(), int.pem()))
}

/// A self-signed server certificate for `host` and its key, PEM.
pub fn server_for(alg: Alg, host: &str) -> anyhow::Result<(String, String)> {
    let (cert, key) = server(alg, host, None)?;
    Ok((cert.pem(), key.serialize_pem()))
}
