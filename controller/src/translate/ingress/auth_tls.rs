//! `auth-tls-*` → the client authentication of a host, with ingress-nginx's semantics: the
//! Secret's `ca.crt` as the trusted chain, its `ca.crl` checked for every certificate of the
//! path and failing closed (nginx's `ssl_crl` with `CRL_CHECK_ALL`), the verify depth as the
//! most intermediates, the mode as nginx's `ssl_verify_client`, and the headers ingress-nginx
//! sends upstream.

use std::collections::BTreeMap;

use dataplane::config::{
    ClientAuth, ClientVerification, FailurePolicy, HeaderPreset, Revocation, TrustBundleWire,
};
use dataplane::pki::TrustBundle;
use k8s_openapi::api::core::v1::Secret;

use super::super::Reason;
use super::super::diagnostic::Reporter;
use super::super::inputs::{Key, secret_value};
use super::annotations::{AuthTls, VerifyClient};

/// What a host's `auth-tls-*` annotations make of it.
#[derive(Clone, Debug)]
pub(super) struct AuthModel {
    pub client_auth: ClientAuth,
    /// The identity headers for the backend.
    pub preset: HeaderPreset,
    pub subject_pattern: Option<String>,
    pub error_page: Option<String>,
}

/// Resolves `auth` against the Secrets; `None` (with errors reported) when it cannot be
/// served as asked.
pub(super) fn resolve(
    auth: &AuthTls,
    field: &str,
    secrets: &BTreeMap<Key, &Secret>,
    now: jiff::Timestamp,
    report: &mut Reporter<'_>,
) -> Option<AuthModel> {
    let (namespace, name) = &auth.secret;
    let secret_name = format!("Secret {namespace}/{name}");
    let Some(secret) = secrets.get(&auth.secret) else {
        report.unresolved(field, Reason::SecretNotFound, format!("{secret_name} does not exist; the host refuses traffic until it does (ingress-nginx answered 403)"));
        return None;
    };
    let Some(bytes) = secret_value(secret, "ca.crt") else {
        report.unresolved(
            field,
            Reason::CACertificateKeyMissing,
            format!("{secret_name} has no key ca.crt: put the client CA chain (PEM) under ca.crt"),
        );
        return None;
    };
    let bundle = match TrustBundle::parse(&bytes) {
        Ok(bundle) => bundle,
        Err(rejected) => {
            for problem in rejected.problems {
                report.unresolved(field, problem.reason(), format!("{secret_name} key ca.crt {problem} (ingress-nginx passed such a bundle to OpenSSL; Portcullis refuses it: see \"CA bundles\" in docs/migration.md)"));
            }
            return None;
        }
    };
    for w in bundle.warnings() {
        report.warn(field, w.reason(), format!("{secret_name} key ca.crt: {w}"));
    }
    super::super::revocation::ca_expiry(&bundle, &secret_name, field, now, report);
    let mut verification = ClientVerification {
        max_intermediates: Some(auth.depth),
        ..ClientVerification::trusting(Vec::new())
    };
    if secret_value(secret, "ca.crl").is_some() {
        verification.crls = super::super::revocation::crls(
            secret,
            &bundle,
            &secret_name,
            field,
            false,
            now,
            report,
        );
        verification.revocation = Revocation::Crl(FailurePolicy::FailClosed);
        verification.revocation_chain = true;
    }
    verification.trust.push(TrustBundleWire(bundle));
    let client_auth = match auth.verify {
        VerifyClient::On => ClientAuth::Required(verification),
        VerifyClient::Optional => ClientAuth::Optional(verification),
        VerifyClient::OptionalNoCa => ClientAuth::OptionalNoCa(verification),
        VerifyClient::Off => ClientAuth::Off,
    };
    Some(AuthModel {
        client_auth,
        preset: if auth.pass_certificate {
            HeaderPreset::NginxSslClient
        } else {
            HeaderPreset::NginxSslClientNoCert
        },
        subject_pattern: auth.match_cn.clone(),
        error_page: auth.error_page.clone(),
    })
}
