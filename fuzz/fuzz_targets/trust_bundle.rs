//! A trust Secret's `ca.crt` as a user (or an attacker with write access to one namespace)
//! uploads it: PEM or DER, judged whole (chains, leaf-only, keys, size). The same bytes as a
//! client's certificate: its names rendered as nginx's headers carry them (any client under
//! `optional_no_ca` reaches that rendering with a certificate of its own making).
#![no_main]

use dataplane::pki::{CertificateInfo, TrustBundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = CertificateInfo::from_der(data) {
        for name in [&cert.subject, &cert.issuer] {
            let rendered = name.openssl();
            // Every byte outside printable ASCII is escaped: the value is a valid header.
            assert!(
                rendered.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{rendered:?}"
            );
        }
    }
    let inspection = TrustBundle::inspect(data);
    let _ = format!("{inspection:?}");
    if let Ok(bundle) = TrustBundle::parse(data) {
        let _ = bundle.issuer_dn().to_string();
        for chain in bundle.chains() {
            assert!(!chain.is_empty());
        }
    }
});
