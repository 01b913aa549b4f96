//! The API's enums agree with what the dataplane can do.

use controller::api::CipherSuite;

/// Every cipher suite the CRD offers exists in the binary's crypto provider, with the TLS
/// version the CRD says it has.
#[test]
fn every_crd_cipher_suite_is_offered_by_the_provider() {
    let all: Vec<CipherSuite> = serde_json::from_value(serde_json::json!([
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ]))
    .expect("every name is a CipherSuite");
    let crd = serde_json::to_string(&controller::api::crds()).expect("serialize CRDs");
    for suite in all {
        let name = serde_json::to_value(suite).expect("name");
        let name = name.as_str().expect("string");
        assert!(crd.contains(name), "{name} missing from the CRD enum");
        let found = dataplane::crypto::cipher_suite(name)
            .unwrap_or_else(|| panic!("{name} not offered by aws-lc-rs"));
        let is13 = found.version() == &rustls::version::TLS13;
        assert_eq!(is13, suite.is_tls13(), "{name}: TLS version");
    }
}
