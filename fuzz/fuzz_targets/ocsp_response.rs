//! An OCSP responder's answer, verified for one certificate. Input: 2-byte big-endian lengths
//! and the issuer's DER, the certificate's DER, then the response.
#![no_main]

use dataplane::pki::CertificateInfo;
use dataplane::pki::ocsp::{CertId, verify_response};
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let Some((issuer, rest)) = split(data) else {
        return;
    };
    let Some((cert, response)) = split(rest) else {
        return;
    };
    let (Ok(issuer), Ok(cert)) = (
        CertificateInfo::from_der(issuer),
        CertificateInfo::from_der(cert),
    ) else {
        return;
    };
    let id = CertId::new(&cert, &issuer);
    // Now, and far in the past and future: the time checks run on both sides.
    for now in [cert.not_before + 1, 0, i64::MAX / 2] {
        let _ = verify_response(response, &id, &issuer, None, now, 300);
        let _ = verify_response(response, &id, &issuer, Some(b"nonce"), now, 300);
    }
});
