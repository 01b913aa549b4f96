//! The one crypto provider of the binary.
//!
//! rustls, kube's client and rcgen can each pull a provider; two installed providers make
//! rustls refuse to pick one at run time. Portcullis uses aws-lc-rs everywhere (it is faster
//! than ring for handshakes, which is what a gateway spends its CPU on) and installs it once,
//! first thing in `main`.

use rustls::SupportedCipherSuite;
use rustls::crypto::aws_lc_rs;

/// Installs aws-lc-rs as the process-wide rustls provider. Calling it again is harmless.
pub fn install_default_provider() {
    // Err means a provider is already installed; that can only be this one, installed by an
    // earlier call (nothing else in the binary installs one).
    let _ = aws_lc_rs::default_provider().install_default();
}

/// The provider's cipher suite with this IANA name (`TLS_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`...). rustls spells TLS 1.3 suites `TLS13_*`; the
/// IANA registry, Application Gateway and our CRD spell them `TLS_*`.
pub fn cipher_suite(iana_name: &str) -> Option<SupportedCipherSuite> {
    aws_lc_rs::default_provider()
        .cipher_suites
        .into_iter()
        .find(|s| self::iana_name(s.suite()) == iana_name)
}

/// The IANA name of a suite; rustls spells the TLS 1.3 ones `TLS13_*`.
pub fn iana_name(suite: rustls::CipherSuite) -> &'static str {
    use rustls::CipherSuite as C;
    match suite {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        other => other.as_str().unwrap_or("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_aws_lc_rs_once_and_again() {
        install_default_provider();
        install_default_provider();
        // The installed provider is this one: its suites are aws-lc-rs's, in its order.
        let installed = rustls::crypto::CryptoProvider::get_default().expect("installed");
        let names = |p: &rustls::crypto::CryptoProvider| -> Vec<&'static str> {
            p.cipher_suites
                .iter()
                .map(|s| iana_name(s.suite()))
                .collect()
        };
        assert_eq!(names(installed), names(&aws_lc_rs::default_provider()));
    }

    #[test]
    fn finds_suites_by_iana_name() {
        let tls13 = cipher_suite("TLS_AES_256_GCM_SHA384").expect("TLS 1.3 suite");
        assert_eq!(tls13.version(), &rustls::version::TLS13);
        let tls12 = cipher_suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").expect("TLS 1.2 suite");
        assert_eq!(tls12.version(), &rustls::version::TLS12);
        assert!(cipher_suite("TLS_RSA_WITH_RC4_128_SHA").is_none());
        assert!(
            cipher_suite("TLS13_AES_256_GCM_SHA384").is_none(),
            "only IANA names"
        );
    }
}
