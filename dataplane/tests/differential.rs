//! The differential test of the one X.509 judge: a seeded corpus of generated chains, each
//! judged by the production verifier (bundle rules, remembered signatures, the verified path)
//! and by rustls' plain `WebPkiClientVerifier` with the same roots and the same intermediates
//! available. Any disagreement on admitting a client fails, with the case that shows it.
//!
//! The corpus varies what verifiers get wrong: signature algorithms (P-256, P-384, P-521 with
//! SHA-512, Ed25519, RSA), the intermediates' extendedKeyUsage (none, clientAuth, serverAuth,
//! anyExtendedKeyUsage, mixes), keyUsage and basicConstraints (path length 0 and 1, not a CA),
//! name constraints on the root, validity windows to the second around the verification time,
//! chain depth (up to three intermediates, each held in the bundle or sent by the client),
//! same-named CAs with other keys, and the order the client sends its certificates in.
//!
//! `PORTCULLIS_DIFF_SEED` and `PORTCULLIS_DIFF_CASES` run another or a larger corpus.

use std::sync::Arc;
use std::time::Duration;

use dataplane::config::{ClientAuth, ClientVerification, TrustBundleWire};
use dataplane::pki::TrustBundle;
use dataplane::proxy::tls::ClientAuthVerifier;
use dataplane::proxy::verdict::Verdict;
use portcullis_tests::pki::rcgen::{
    self, BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose as Eku, GeneralSubtree,
    IsCa, KeyUsagePurpose, NameConstraints, SanType,
};
use portcullis_tests::pki::{Ca, Leaf};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use time::OffsetDateTime;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Validity windows, relative to the verification time `t` (seconds): the edges webpki and
/// a lenient reader may round differently.
const WINDOWS: [(i64, i64); 6] = [
    (-86_400, 30 * 86_400),
    (-86_400, 30 * 86_400),
    (-30 * 86_400, -1),
    (-30 * 86_400, 0),
    (1, 30 * 86_400),
    (0, 30 * 86_400),
];

fn window(rng: &mut Rng, t: i64, p: &mut CertificateParams) -> String {
    // Mostly valid, so that the other variations are reached.
    let (from, to) = if rng.one_in(4) {
        *rng.pick(&WINDOWS)
    } else {
        WINDOWS[0]
    };
    let at = |s: i64| OffsetDateTime::from_unix_timestamp(t + s).expect("time");
    p.not_before = at(from);
    p.not_after = at(to);
    format!("valid {from}..{to}")
}

fn intermediate_params(rng: &mut Rng, t: i64, p: &mut CertificateParams) -> String {
    let ekus: [&[Eku]; 7] = [
        &[],
        &[],
        &[Eku::ClientAuth],
        &[Eku::ServerAuth],
        &[Eku::Any],
        &[Eku::Any, Eku::ClientAuth],
        &[Eku::ClientAuth, Eku::ServerAuth],
    ];
    let eku = rng.pick(&ekus).to_vec();
    let usages: [&[KeyUsagePurpose]; 4] = [
        &[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
        &[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
        &[KeyUsagePurpose::DigitalSignature],
        &[],
    ];
    let usage = rng.pick(&usages).to_vec();
    let constraints = [
        IsCa::Ca(BasicConstraints::Unconstrained),
        IsCa::Ca(BasicConstraints::Unconstrained),
        IsCa::Ca(BasicConstraints::Constrained(0)),
        IsCa::Ca(BasicConstraints::Constrained(1)),
        IsCa::ExplicitNoCa,
    ];
    let ca = *rng.pick(&constraints);
    let described = format!(
        "eku {eku:?}, usage {usage:?}, {ca:?}, {}",
        window(rng, t, p)
    );
    p.extended_key_usages = eku;
    p.key_usages = usage;
    p.is_ca = ca;
    described
}

/// One generated case: the bundle file, the client's chain (leaf first), and what it is.
struct Case {
    bundle: String,
    root: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    what: String,
}

fn generate(rng: &mut Rng, i: usize, t: i64) -> Case {
    let algs: [&'static rcgen::SignatureAlgorithm; 8] = [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ECDSA_P521_SHA512,
        &rcgen::PKCS_ED25519,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    ];
    // RSA keys are slow to generate: one case in twenty.
    let alg = if rng.one_in(20) {
        &rcgen::PKCS_RSA_SHA256
    } else {
        *rng.pick(&algs)
    };
    let constrained = rng.one_in(6);
    let mut what = format!("case {i}: {alg:?}");
    let root = Ca::root_alg_with(&format!("Root {i}"), alg, |p| {
        if constrained {
            p.name_constraints = Some(NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DnsName("allowed.test".into())],
                excluded_subtrees: Vec::new(),
            });
        }
    });
    if constrained {
        what.push_str(", root permits only allowed.test");
    }
    let depth = *rng.pick(&[0, 1, 1, 2, 2, 3]);
    let mut cas: Vec<Ca> = Vec::new();
    for level in 0..depth {
        let parent = cas.last().unwrap_or(&root);
        let mut described = String::new();
        let ca = parent.intermediate_with(&format!("Int {i}.{level}"), |p| {
            described = intermediate_params(rng, t, p);
        });
        what.push_str(&format!("; int {level}: {described}"));
        cas.push(ca);
    }
    let issuer = cas.last().unwrap_or(&root);
    let leaf_ekus: [&[Eku]; 6] = [
        &[Eku::ClientAuth],
        &[Eku::ClientAuth],
        &[Eku::ClientAuth],
        &[Eku::ServerAuth],
        &[Eku::Any],
        &[],
    ];
    let mut leaf_described = String::new();
    let leaf: Leaf = issuer.client_with(&format!("leaf {i}"), |p| {
        p.extended_key_usages = rng.pick(&leaf_ekus).to_vec();
        let names = ["", "allowed.test", "other.test"];
        let name = *rng.pick(&names);
        if !name.is_empty() {
            p.subject_alt_names = vec![SanType::DnsName(name.try_into().expect("dns name"))];
        }
        let eku = format!("{:?}", p.extended_key_usages);
        leaf_described = format!("eku {eku}, san {name:?}, {}", window(rng, t, p));
    });
    what.push_str(&format!("; leaf: {leaf_described}"));
    // The top `held` intermediates are in the bundle; the client sends the others.
    let held = rng.below(depth + 1);
    let mut bundle = root.pem();
    for ca in &cas[..held] {
        bundle.push_str(&ca.pem());
    }
    let mut sent: Vec<CertificateDer<'static>> = cas[held..]
        .iter()
        .rev()
        .map(|c| CertificateDer::from(c.der()))
        .collect();
    if rng.one_in(3) && !sent.is_empty() {
        // The client sends them in another order.
        sent.reverse();
        what.push_str("; sent reversed");
    }
    if rng.one_in(4) {
        // A same-named CA with another key, anywhere in what the client sends.
        let named = cas
            .last()
            .map_or(format!("Root {i}"), |_| format!("Int {i}.{}", depth - 1));
        let impostor = Ca::root(&format!("Forger {i}")).intermediate(&named);
        let at = rng.below(sent.len() + 1);
        sent.insert(at, CertificateDer::from(impostor.der()));
        what.push_str(&format!("; impostor {named:?} sent at {at}"));
    }
    if rng.one_in(8) && !cas.is_empty() {
        // The client also sends a CA the bundle holds.
        sent.push(CertificateDer::from(cas[0].der()));
        what.push_str("; sends a held CA too");
    }
    what.push_str(&format!("; {held} of {depth} intermediates held"));
    let mut chain = vec![CertificateDer::from(leaf.der())];
    chain.extend(sent);
    Case {
        bundle,
        root: root.der(),
        chain,
        what,
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_production_verifier_agrees_with_webpki_on_every_generated_chain() {
    let seed = env_or("PORTCULLIS_DIFF_SEED", 0x0005_EED0_F0DD);
    let cases = usize::try_from(env_or("PORTCULLIS_DIFF_CASES", 320)).unwrap_or(320);
    let mut rng = Rng(seed | 1);
    let t = OffsetDateTime::now_utc().unix_timestamp();
    let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(t).expect("time")));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (mut disagreements, mut admitted, mut refused, mut bundles_refused) = (Vec::new(), 0, 0, 0);
    for i in 0..cases {
        let case = generate(&mut rng, i, t);
        let bundle = match TrustBundle::parse(case.bundle.as_bytes()) {
            Ok(b) => b,
            Err(_) => {
                // Refused at upload: no listener would trust it, nothing to compare.
                bundles_refused += 1;
                continue;
            }
        };
        let intermediates: Vec<CertificateDer<'static>> = bundle
            .cas()
            .iter()
            .filter(|c| !c.is_self_issued())
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect();
        let ours = ClientAuthVerifier::new(
            &ClientAuth::Required(ClientVerification::trusting(vec![TrustBundleWire(bundle)])),
            false,
            &provider,
        )
        .expect("verifier");
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(case.root.clone()))
            .expect("root");
        let plain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .expect("plain verifier");
        let mut available = case.chain[1..].to_vec();
        available.extend(intermediates);
        let expected = plain
            .verify_client_cert(&case.chain[0], &available, at)
            .is_ok();
        // Twice: the second time with the CA signatures remembered.
        for round in 0..2 {
            let verdict = ours.verdict(Some(&case.chain), at);
            if (verdict == Verdict::Success) != expected {
                disagreements.push(format!(
                    "{} (round {round}): ours {verdict:?}, webpki admits: {expected}",
                    case.what
                ));
            }
        }
        if expected {
            admitted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements (seed {seed:#x}):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    // Not vacuous: both outcomes, and most bundles reach the handshake.
    assert!(
        admitted >= cases / 10 && refused >= cases / 10,
        "admitted {admitted}, refused {refused}, bundles refused {bundles_refused}"
    );
    assert!(
        bundles_refused < cases / 2,
        "bundles refused {bundles_refused} of {cases}"
    );
    eprintln!(
        "{cases} chains (seed {seed:#x}): {admitted} admitted, {refused} refused by both, {bundles_refused} bundles refused at upload"
    );
}
