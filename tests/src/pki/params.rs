//! The parameters every test certificate shares: keys, names, serials, extensions.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// An Authority Information Access extension with one OCSP responder URI.
pub(super) fn aia_ocsp(url: &str) -> rcgen::CustomExtension {
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

/// A fresh positive serial: nanoseconds and a counter, high bit clear so the DER encoding is
/// the same bytes in certificates and CRLs.
pub(super) fn next_serial() -> Vec<u8> {
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

pub(super) fn key() -> KeyPair {
    key_of(&rcgen::PKCS_ECDSA_P256_SHA256)
}

/// A key for `alg`: RSA ones of 2,048 bits.
pub(super) fn key_of(alg: &'static rcgen::SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg)
        .or_else(|_| KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048))
        .expect("generate key")
}

pub(super) fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Portcullis Test");
    dn.push(DnType::CommonName, cn);
    dn
}

pub(super) fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![]).expect("ca params");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&next_serial()));
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}
