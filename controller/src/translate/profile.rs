//! SslProfile → TLS policy and client authentication, with the trust-bundle and chain-limit
//! rules. A profile with any error yields no model: its Listeners then refuse traffic.

use std::collections::BTreeMap;

use dataplane::config::{
    ClientAuth, ClientVerification, FailurePolicy, Revocation, SslPolicy, TlsVersion,
    TrustBundleWire,
};
use dataplane::pki::TrustBundle;
use k8s_openapi::api::core::v1::Secret;

use super::Reason;
use super::diagnostic::Reporter;
use super::inputs::{Key, secret_value};
use crate::api::{
    ClientAuthMode, PredefinedPolicy, RevocationCheck, RevocationFailurePolicy, RevocationScope,
    SslPolicyType, SslProfile, TlsProtocolVersion,
};

/// Most chains one SslProfile may trust (Application Gateway: 100 per SSL profile).
pub const MAX_CHAINS_PER_PROFILE: usize = 100;
/// Most chains all SslProfiles together may trust (Application Gateway: 200 per gateway).
pub const MAX_CHAINS_PER_GATEWAY: usize = 200;

/// A valid profile, ready for Listeners.
#[derive(Clone, Debug)]
pub(crate) struct ProfileModel {
    pub policy: SslPolicy,
    pub client_auth: ClientAuth,
    /// Chains per referenced Secret, for the gateway-wide limit.
    pub chains: BTreeMap<Key, usize>,
    /// Issuer DN per chain, for status.
    pub issuer_dns: Vec<String>,
}

/// Translates one profile; `None` when it has errors (they are reported).
pub(crate) fn translate(
    profile: &SslProfile,
    namespace: &str,
    secrets: &BTreeMap<Key, &Secret>,
    now: jiff::Timestamp,
    report: &mut Reporter<'_>,
) -> Option<ProfileModel> {
    let policy = policy(profile, report);
    let (client_auth, chains, issuer_dns) = client_auth(profile, namespace, secrets, now, report);
    if report.errors() > 0 {
        return None;
    }
    Some(ProfileModel {
        policy: policy?,
        client_auth,
        chains,
        issuer_dns,
    })
}

/// The default policy: TLS 1.2 and 1.3 with forward-secret AEAD suites only (rustls offers
/// nothing weaker, so the empty list means exactly that).
pub(crate) fn default_policy() -> SslPolicy {
    SslPolicy {
        min_version: TlsVersion::Tls12,
        cipher_suites: Vec::new(),
    }
}

fn policy(profile: &SslProfile, report: &mut Reporter<'_>) -> Option<SslPolicy> {
    let Some(p) = &profile.spec.ssl_policy else {
        return Some(default_policy());
    };
    let field = "spec.sslPolicy";
    match p.policy_type {
        SslPolicyType::Predefined => {
            if p.min_protocol_version.is_some() || p.cipher_suites.is_some() {
                report.invalid(field, Reason::InvalidSslPolicy, "a Predefined policy takes only policyName; set policyType: Custom to choose minProtocolVersion and cipherSuites");
                return None;
            }
            Some(match p.policy_name.unwrap_or_default() {
                PredefinedPolicy::Tls12Strict => default_policy(),
                PredefinedPolicy::Tls13Only => SslPolicy {
                    min_version: TlsVersion::Tls13,
                    cipher_suites: Vec::new(),
                },
            })
        }
        SslPolicyType::Custom => {
            let Some(min) = p.min_protocol_version else {
                report.invalid(
                    format!("{field}.minProtocolVersion"),
                    Reason::InvalidSslPolicy,
                    "a Custom policy needs minProtocolVersion (TLSv1_2 or TLSv1_3)",
                );
                return None;
            };
            let min_version = match min {
                TlsProtocolVersion::Tls12 => TlsVersion::Tls12,
                TlsProtocolVersion::Tls13 => TlsVersion::Tls13,
            };
            let suites = p.cipher_suites.clone().unwrap_or_default();
            if min_version == TlsVersion::Tls13
                && !suites.is_empty()
                && !suites.iter().any(|s| s.is_tls13())
            {
                report.invalid(format!("{field}.cipherSuites"), Reason::NoUsableCipherSuite, "minProtocolVersion TLSv1_3 needs at least one TLS 1.3 suite (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256)");
                return None;
            }
            Some(SslPolicy {
                min_version,
                cipher_suites: suites
                    .iter()
                    .map(|s| {
                        serde_json::to_value(s)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    })
                    .collect(),
            })
        }
    }
}

type ClientAuthParts = (ClientAuth, BTreeMap<Key, usize>, Vec<String>);

fn client_auth(
    profile: &SslProfile,
    namespace: &str,
    secrets: &BTreeMap<Key, &Secret>,
    now: jiff::Timestamp,
    report: &mut Reporter<'_>,
) -> ClientAuthParts {
    let Some(c) = &profile.spec.client_auth_configuration else {
        return (ClientAuth::Off, BTreeMap::new(), Vec::new());
    };
    let base = "spec.clientAuthConfiguration";
    if c.mode == ClientAuthMode::None {
        if c.verify_client_revocation != RevocationCheck::None {
            report.invalid(
                format!("{base}.verifyClientRevocation"),
                Reason::InvalidClientAuth,
                "verifyClientRevocation needs a mode other than None",
            );
        }
        return (ClientAuth::Off, BTreeMap::new(), Vec::new());
    }
    let needs_trust = matches!(c.mode, ClientAuthMode::Required | ClientAuthMode::Optional)
        || c.verify_client_cert_issuer_dn;
    if needs_trust && c.trusted_client_certificates.is_empty() {
        report.invalid(format!("{base}.trustedClientCertificates"), Reason::NoTrustedCertificates, format!("mode {:?} needs at least one Secret whose ca.crt holds the CA chain that issued your client certificates", c.mode));
    }
    if !c.exclusion_paths.is_empty() && c.mode != ClientAuthMode::Required {
        report.invalid(
            format!("{base}.exclusionPaths"),
            Reason::InvalidClientAuth,
            "exclusionPaths apply only to mode Required",
        );
    }
    let exclusion_paths = c
        .exclusion_paths
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let field = format!("{base}.exclusionPaths[{i}]");
            super::canonical_path(&p.0, &field, Reason::InvalidExclusionPath, report)
        })
        .collect();

    let mut trust = Vec::new();
    let mut chains = BTreeMap::new();
    let mut issuer_dns = Vec::new();
    let mut crls = Vec::new();
    for (i, r) in c.trusted_client_certificates.iter().enumerate() {
        let field = format!("{base}.trustedClientCertificates[{i}]");
        let Some(secret) = super::resolve_secret(r, namespace, secrets, &field, report) else {
            continue;
        };
        let secret_name = format!("Secret {namespace}/{}", r.name);
        let Some(bytes) = secret_value(secret, "ca.crt") else {
            report.unresolved(field, Reason::CACertificateKeyMissing, format!("{secret_name} has no key ca.crt: put the client CA chain (PEM or DER) under ca.crt"));
            continue;
        };
        match TrustBundle::parse(&bytes) {
            Ok(bundle) => {
                for w in bundle.warnings() {
                    report.warn(&field, w.reason(), format!("{secret_name} key ca.crt: {w}"));
                }
                super::revocation::ca_expiry(&bundle, &secret_name, &field, now, report);
                if c.verify_client_revocation == RevocationCheck::Crl {
                    crls.extend(super::revocation::crls(
                        secret,
                        &bundle,
                        &secret_name,
                        &field,
                        c.fetch_crl_distribution_points,
                        now,
                        report,
                    ));
                }
                chains.insert((namespace.to_owned(), r.name.clone()), bundle.chain_count());
                issuer_dns.push(bundle.issuer_dn().to_string());
                trust.push(TrustBundleWire(bundle));
            }
            Err(rejected) => {
                for problem in rejected.problems {
                    report.unresolved(
                        &field,
                        problem.reason(),
                        format!("{secret_name} key ca.crt {problem}"),
                    );
                }
            }
        }
    }
    let total: usize = chains.values().sum();
    if total > MAX_CHAINS_PER_PROFILE {
        report.invalid(format!("{base}.trustedClientCertificates"), Reason::TooManyChains, format!("the profile trusts {total} chains; at most {MAX_CHAINS_PER_PROFILE} are allowed per SslProfile: split the clients across profiles"));
    }

    let failure = match c.revocation_failure_policy {
        RevocationFailurePolicy::FailClosed => FailurePolicy::FailClosed,
        RevocationFailurePolicy::FailOpen => FailurePolicy::FailOpen,
    };
    let verification = ClientVerification {
        trust,
        verify_issuer_dn: c.verify_client_cert_issuer_dn,
        revocation: match c.verify_client_revocation {
            RevocationCheck::None => Revocation::None,
            RevocationCheck::Ocsp => Revocation::Ocsp(failure),
            RevocationCheck::Crl => Revocation::Crl(failure),
        },
        revocation_chain: c.revocation_scope == RevocationScope::Chain,
        crls,
        ocsp_responder: c.ocsp_responder_url.clone(),
        fetch_crl_distribution_points: c.fetch_crl_distribution_points,
        exclusion_paths,
        max_intermediates: None,
    };
    let auth = match c.mode {
        ClientAuthMode::Required => ClientAuth::Required(verification),
        ClientAuthMode::Optional => ClientAuth::Optional(verification),
        ClientAuthMode::Passthrough if verification.trust.is_empty() => {
            ClientAuth::Passthrough(None)
        }
        ClientAuthMode::Passthrough => ClientAuth::Passthrough(Some(verification)),
        ClientAuthMode::None => ClientAuth::Off,
    };
    (auth, chains, issuer_dns)
}
