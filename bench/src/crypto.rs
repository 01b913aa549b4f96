//! The crypto bound: the public-key operations a server performs in one full TLS 1.3 mTLS
//! handshake with an X25519 key exchange, timed one by one with aws-lc (the library every
//! server under test could use at best), and the handshake rate per core they allow.
//!
//! Per handshake the server: generates an X25519 key share and derives the shared secret;
//! signs its CertificateVerify; verifies the client's CertificateVerify, the client leaf's
//! signature (by the intermediate) and the intermediate's (by the root). Hashing, HKDF and
//! record encryption are left out: they are small next to these.

use std::time::Instant;

use aws_lc_rs::{agreement, rand, signature};
use signature::KeyPair as _;

use crate::pki::Alg;

/// Calls `op` repeatedly for `seconds`; returns seconds per call.
fn per_op(seconds: f64, mut op: impl FnMut()) -> f64 {
    // Warm-up.
    for _ in 0..50 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..20 {
            op();
        }
        n += 20;
    }
    start.elapsed().as_secs_f64() / n as f64
}

/// Prints the cost of each operation and the bound, and one JSON line.
pub fn run(alg: Alg, seconds: f64) -> anyhow::Result<()> {
    let rng = rand::SystemRandom::new();
    let msg = [7u8; 100];
    let (sign, verify) = match alg {
        Alg::Ecdsa => {
            let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &rng,
            )
            .map_err(|_| anyhow::anyhow!("P-256 key"))?;
            let key = signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                pkcs8.as_ref(),
            )
            .map_err(|_| anyhow::anyhow!("P-256 key"))?;
            let sig = key.sign(&rng, &msg).map_err(|_| anyhow::anyhow!("sign"))?;
            let public = signature::UnparsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_ASN1,
                key.public_key().as_ref().to_vec(),
            );
            let sign = per_op(seconds, || {
                let _ = key.sign(&rng, &msg);
            });
            let verify = per_op(seconds, || {
                let _ = public.verify(&msg, sig.as_ref());
            });
            (sign, verify)
        }
        Alg::Rsa => {
            let key = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| anyhow::anyhow!("RSA key"))?;
            let mut sig = vec![0; key.public_modulus_len()];
            key.sign(&signature::RSA_PSS_SHA256, &rng, &msg, &mut sig)
                .map_err(|_| anyhow::anyhow!("sign"))?;
            let public = signature::UnparsedPublicKey::new(
                &signature::RSA_PSS_2048_8192_SHA256,
                key.public_key().as_ref().to_vec(),
            );
            let sign = per_op(seconds, || {
                let mut out = vec![0; key.public_modulus_len()];
                let _ = key.sign(&signature::RSA_PSS_SHA256, &rng, &msg, &mut out);
            });
            let verify = per_op(seconds, || {
                let _ = public.verify(&msg, &sig);
            });
            (sign, verify)
        }
    };
    let peer = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
        .map_err(|_| anyhow::anyhow!("X25519"))?
        .compute_public_key()
        .map_err(|_| anyhow::anyhow!("X25519"))?;
    let peer = peer.as_ref().to_vec();
    let kx = per_op(seconds, || {
        if let Ok(k) = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng) {
            let _ = k.compute_public_key();
            let _ = agreement::agree_ephemeral(
                k,
                agreement::UnparsedPublicKey::new(&agreement::X25519, &peer),
                (),
                |_| Ok(()),
            );
        }
    });
    let handshake = sign + 3.0 * verify + kx;
    let bound = 1.0 / handshake;
    eprintln!(
        "crypto bound ({alg:?}, aws-lc, one core): sign {:.1} µs, verify {:.1} µs (x3), X25519 {:.1} µs → {:.0} full mTLS handshakes/s",
        sign * 1e6,
        verify * 1e6,
        kx * 1e6,
        bound
    );
    println!(
        "{}",
        serde_json::json!({"alg": format!("{alg:?}"), "sign_us": sign * 1e6,
            "verify_us": verify * 1e6, "x25519_us": kx * 1e6, "handshakes_per_s": bound})
    );
    Ok(())
}
