//! A trust Secret's `ca.crt` as a user (or an attacker with write access to one namespace)
//! uploads it: PEM or DER, judged whole (chains, leaf-only, keys, size).
#![no_main]

use dataplane::pki::TrustBundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let inspection = TrustBundle::inspect(data);
    let _ = format!("{inspection:?}");
    if let Ok(bundle) = TrustBundle::parse(data) {
        let _ = bundle.issuer_dn().to_string();
        for chain in bundle.chains() {
            assert!(!chain.is_empty());
        }
    }
});
