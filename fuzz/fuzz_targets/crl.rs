//! A CRL (`ca.crl`, or one downloaded from a distribution point) judged against the CA that
//! should have signed it. Input: a 2-byte big-endian length, the CA's DER, then the CRL (PEM or
//! DER), so the fuzzer can keep both consistent and reach past the signature check.
#![no_main]

use dataplane::pki::{CertificateInfo, RevocationList};
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let Some((ca, crl)) = split(data) else { return };
    let cas: Vec<CertificateInfo> = CertificateInfo::from_der(ca).into_iter().collect();
    if let Ok(lists) = RevocationList::parse_all(crl, &cas) {
        for list in lists {
            let _ = list.lookup(&[1]);
            let _ = list.is_expired(0);
        }
    }
});
