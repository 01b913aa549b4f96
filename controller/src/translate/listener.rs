//! Listener → virtual server. Any error in the Listener or in what it references makes the
//! virtual server refuse traffic (fail closed) instead of serving it with less than was asked.

use std::collections::BTreeMap;

use dataplane::config::{
    ClientAuth, HeaderPreset, HeaderRule, HeaderTemplate, Hostname, PathMatch, Protocol, Refusal,
    Route, ServerCertificate, ServerTls, VirtualServer,
};
use k8s_openapi::api::core::v1::Secret;

use super::Reason;
use super::backend::BackendIndex;
use super::diagnostic::Reporter;
use super::inputs::{Key, secret_value};
use super::profile::{ProfileModel, default_policy};
use crate::api::{self, Listener, ListenerProtocol, PathMatchType, SecretRef};

/// What a Listener's translation reads besides the Listener.
pub(crate) struct ListenerContext<'a> {
    pub profiles: &'a BTreeMap<Key, Option<ProfileModel>>,
    pub secrets: &'a BTreeMap<Key, &'a Secret>,
    pub backends: &'a BackendIndex<'a>,
}

/// The protocol of a Listener in the snapshot.
pub(crate) fn protocol(p: ListenerProtocol) -> Protocol {
    match p {
        ListenerProtocol::Https => Protocol::Https,
        ListenerProtocol::Tls => Protocol::Tls,
        ListenerProtocol::Http => Protocol::Http,
    }
}

/// Translates one Listener. Always yields a virtual server (so its hostnames stay claimed);
/// one with errors carries a [`Refusal`].
pub(crate) fn translate(
    l: &Listener,
    namespace: &str,
    ctx: &ListenerContext<'_>,
    report: &mut Reporter<'_>,
) -> VirtualServer {
    let spec = &l.spec;
    if !(1..=65535).contains(&spec.port) {
        report.invalid(
            "spec.port",
            Reason::InvalidPort,
            format!("port {} is outside 1-65535", spec.port),
        );
    }
    let mut hostnames = Vec::new();
    for (i, h) in spec.hostnames.iter().enumerate() {
        match Hostname::parse(h) {
            Ok(h) => hostnames.push(h),
            Err(e) => report.invalid(
                format!("spec.hostnames[{i}]"),
                Reason::InvalidHostname,
                e.to_string(),
            ),
        }
    }
    let tls = match spec.protocol {
        ListenerProtocol::Http => {
            if spec.ssl_certificate.is_some() || spec.ssl_profile.is_some() {
                report.invalid("spec.protocol", Reason::TlsOnPlainListener, "an HTTP listener takes neither sslCertificate nor sslProfile: use protocol HTTPS to terminate TLS and authenticate clients");
            }
            None
        }
        ListenerProtocol::Https | ListenerProtocol::Tls => server_tls(l, namespace, ctx, report),
    };
    if let Some(t) = &tls {
        for (i, h) in hostnames.iter().enumerate() {
            if !t.certificate.covers(h) {
                report.warn(
                    format!("spec.hostnames[{i}]"),
                    Reason::CertificateHostnameMismatch,
                    format!("the server certificate in spec.sslCertificate does not cover {h}; clients that check the name will refuse it"),
                );
            }
        }
    }
    let routes = routes(l, namespace, &hostnames, ctx, report);
    // Without a profile that requests and verifies certificates, a rule's requirement could
    // never be met. (When the profile itself failed, that error is reported already.)
    let unverified = match &tls {
        Some(t) => !matches!(
            t.client_auth,
            ClientAuth::Required(_) | ClientAuth::Optional(_)
        ),
        None => spec.ssl_profile.is_none(),
    };
    for (i, rule) in spec.rules.iter().enumerate() {
        if rule.require_client_certificate && unverified {
            report.invalid(
                format!("spec.rules[{i}].requireClientCertificate"),
                Reason::ClientCertificateNotRequested,
                "requireClientCertificate needs spec.sslProfile naming an SslProfile of mode Optional or Required, so that certificates are requested and verified",
            );
        }
    }
    let redirect_https_port = spec.redirect_to_https_port.and_then(|p| {
        if spec.protocol != ListenerProtocol::Http {
            report.invalid(
                "spec.redirectToHttpsPort",
                Reason::InvalidRedirect,
                "redirectToHttpsPort applies only to HTTP listeners",
            );
        }
        let port = u16::try_from(p).ok().filter(|p| *p > 0);
        if port.is_none() {
            report.invalid(
                "spec.redirectToHttpsPort",
                Reason::InvalidPort,
                format!("port {p} is outside 1-65535"),
            );
        }
        port
    });
    let refusal = (report.errors() > 0).then(|| Refusal {
        reason: "InvalidListener".into(),
        message: format!(
            "Listener {namespace}/{} has errors and refuses traffic until they are fixed",
            l.metadata.name.as_deref().unwrap_or_default()
        ),
    });
    VirtualServer {
        name: format!(
            "{namespace}/{}",
            l.metadata.name.as_deref().unwrap_or_default()
        ),
        hostnames,
        tls: if refusal.is_some() { None } else { tls },
        routes: if refusal.is_some() {
            Vec::new()
        } else {
            routes
        },
        redirect_https_port,
        subject_pattern: None,
        certificate_error_page: None,
        refusal,
    }
}

fn server_tls(
    l: &Listener,
    namespace: &str,
    ctx: &ListenerContext<'_>,
    report: &mut Reporter<'_>,
) -> Option<ServerTls> {
    let certificate = match &l.spec.ssl_certificate {
        None => {
            report.invalid("spec.sslCertificate", Reason::MissingSslCertificate, "HTTPS and TLS listeners need sslCertificate: name a kubernetes.io/tls Secret with tls.crt and tls.key");
            None
        }
        Some(r) => server_certificate(r, namespace, ctx.secrets, "spec.sslCertificate", report),
    };
    let (policy, client_auth) = match &l.spec.ssl_profile {
        None => (default_policy(), ClientAuth::Off),
        Some(r) => {
            let field = "spec.sslProfile";
            if r.namespace.as_deref().is_some_and(|n| n != namespace) {
                report.unresolved(field, Reason::RefNotPermitted, format!("SslProfile {}/{} is in another namespace; references must stay in namespace {namespace}", r.namespace.as_deref().unwrap_or_default(), r.name));
                return None;
            }
            match ctx.profiles.get(&(namespace.to_owned(), r.name.clone())) {
                None => {
                    report.unresolved(field, Reason::SslProfileNotFound, format!("SslProfile {namespace}/{} does not exist; the listener refuses traffic until it does", r.name));
                    return None;
                }
                Some(None) => {
                    report.unresolved(field, Reason::InvalidSslProfile, format!("SslProfile {namespace}/{} is invalid (see its status); the listener refuses traffic rather than serve without the client authentication it asks for", r.name));
                    return None;
                }
                Some(Some(p)) => (p.policy.clone(), p.client_auth.clone()),
            }
        }
    };
    Some(ServerTls {
        certificate: certificate?,
        policy,
        client_auth,
    })
}

/// The server certificate of a `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`) named at
/// `field`, as Listeners and Ingresses name it; `None` when it cannot be used (reported).
pub(crate) fn server_certificate(
    r: &SecretRef,
    namespace: &str,
    secrets: &BTreeMap<Key, &Secret>,
    field: &str,
    report: &mut Reporter<'_>,
) -> Option<ServerCertificate> {
    let secret = super::resolve_secret(r, namespace, secrets, field, report)?;
    let (Some(crt), Some(key)) = (
        secret_value(secret, "tls.crt"),
        secret_value(secret, "tls.key"),
    ) else {
        report.unresolved(
            field,
            Reason::InvalidServerCertificate,
            format!(
                "Secret {namespace}/{} needs keys tls.crt and tls.key (a kubernetes.io/tls Secret)",
                r.name
            ),
        );
        return None;
    };
    ServerCertificate::from_pem(&crt, &key)
        .map_err(|e| {
            report.unresolved(
                field,
                e.reason(),
                format!("Secret {namespace}/{}: {e}", r.name),
            )
        })
        .ok()
}

fn routes(
    l: &Listener,
    namespace: &str,
    hostnames: &[Hostname],
    ctx: &ListenerContext<'_>,
    report: &mut Reporter<'_>,
) -> Vec<Route> {
    let spec = &l.spec;
    if spec.protocol == ListenerProtocol::Tls
        && (spec.rules.len() != 1 || !spec.rules[0].matches.is_empty())
    {
        report.invalid(
            "spec.rules",
            Reason::InvalidRules,
            "a TLS listener has exactly one rule, without matches, naming its backend",
        );
    }
    let mut out = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        let field = format!("spec.rules[{i}]");
        let fields = (
            format!("{field}.backend"),
            format!("{field}.backendSettings"),
        );
        let backend = ctx
            .backends
            .resolve(rule, namespace, (&fields.0, &fields.1), report);
        let (presets, request_headers) = headers(rule.request_headers.as_ref(), &field, report);
        let matches = if rule.matches.is_empty() {
            vec![api::RouteMatch::default()]
        } else {
            rule.matches.clone()
        };
        for (j, m) in matches.iter().enumerate() {
            let host = m.host.as_deref().and_then(|h| match Hostname::parse(h) {
                Ok(h) if hostnames.is_empty() || hostnames.iter().any(|l| l == &h || l.matches(h.as_str())) => Some(h),
                Ok(h) => {
                    report.invalid(format!("{field}.matches[{j}].host"), Reason::HostNotInListener, format!("host {h} is not among the listener's hostnames; add it to spec.hostnames or remove the match"));
                    None
                }
                Err(e) => {
                    report.invalid(format!("{field}.matches[{j}].host"), Reason::InvalidHostname, e.to_string());
                    None
                }
            });
            let path = match &m.path {
                None => PathMatch::Prefix("/".into()),
                Some(p) => {
                    let field = format!("{field}.matches[{j}].path.value");
                    let Some(value) =
                        super::canonical_path(&p.value, &field, Reason::InvalidPath, report)
                    else {
                        continue;
                    };
                    match p.kind {
                        PathMatchType::PathPrefix => PathMatch::Prefix(value),
                        PathMatchType::Exact => PathMatch::Exact(value),
                    }
                }
            };
            out.push(Route {
                host,
                path,
                backend: backend.clone(),
                presets: presets.clone(),
                request_headers: request_headers.clone(),
                require_client_certificate: rule.require_client_certificate,
            });
        }
    }
    out
}

fn headers(
    h: Option<&api::RequestHeaders>,
    field: &str,
    report: &mut Reporter<'_>,
) -> (Vec<HeaderPreset>, Vec<HeaderRule>) {
    let Some(h) = h else {
        return (Vec::new(), Vec::new());
    };
    let presets = h
        .presets
        .iter()
        .map(|p| match p {
            api::HeaderPreset::ArrClientCert => HeaderPreset::ArrClientCert,
            api::HeaderPreset::NginxSslClient => HeaderPreset::NginxSslClient,
            api::HeaderPreset::EnvoyXfcc => HeaderPreset::EnvoyXfcc,
            api::HeaderPreset::Rfc9440ClientCert => HeaderPreset::Rfc9440ClientCert,
        })
        .collect();
    let mut rules: Vec<HeaderRule> = Vec::new();
    for (i, s) in h.set.iter().enumerate() {
        let f = format!("{field}.requestHeaders.set[{i}]");
        let name = s.name.to_ascii_lowercase();
        if !dataplane::canon::header::is_plain_name(&name) {
            report.invalid(
                format!("{f}.name"),
                Reason::InvalidHeaderName,
                format!("{:?} is not a header name of letters, digits and '-' only: backends that map '_' to '-' (CGI, WSGI, PHP, Rack) would read a client's header as yours, and the gateway drops such names from requests", s.name),
            );
            continue;
        }
        if rules.iter().any(|r| r.name == name) {
            report.invalid(
                format!("{f}.name"),
                Reason::DuplicateHeader,
                format!("header {name} is set twice in this rule"),
            );
            continue;
        }
        match HeaderTemplate::parse(&s.value) {
            Ok(value) => rules.push(HeaderRule { name, value }),
            Err(e) => report.invalid(
                format!("{f}.value"),
                Reason::InvalidHeaderValue,
                e.to_string(),
            ),
        }
    }
    (presets, rules)
}
