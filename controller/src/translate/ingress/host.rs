//! The servers of one host, from the Ingresses that name it: its client authentication (the
//! one they agree on), its certificate, its routes in match order, and its plain-HTTP side.

use std::collections::BTreeMap;

use dataplane::config::{
    Backend, ClientAuth, HeaderPreset, Hostname, PathMatch, Port, Protocol, Refusal, Route,
    ServerCertificate, ServerTls, VirtualServer,
};

use super::super::diagnostic::{Diagnostic, Reporter};
use super::super::profile::default_policy;
use super::super::{IngressOptions, Reason, object, place};
use super::auth_tls::AuthModel;
use super::{Host, Model, SERVER_PREFIX};

/// The servers of one host: HTTPS when a TLS entry covers it, plain HTTP (routes or a
/// redirect) always; placed in `ports`.
pub(super) fn serve(
    host: Option<&str>,
    mut paths: Host,
    models: &[Model],
    options: &IngressOptions,
    ports: &mut BTreeMap<u16, Port>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let hostname = host.and_then(|h| Hostname::parse(h).ok());
    let contributors: Vec<&Model> = paths.ingresses.iter().map(|i| &models[*i]).collect();
    let mut refused = contributors.iter().any(|m| m.blocking_errors > 0);
    let auth = host_auth(host, &contributors, options, diagnostics, &mut refused);
    let certificate = host_certificate(host, hostname.as_ref(), &contributors, diagnostics);
    if let (Some(_), None) = (&auth, &certificate) {
        for m in contributors.iter().filter(|m| m.auth.is_some()) {
            let mut report = Reporter::new(object("Ingress", &m.key), diagnostics);
            report.invalid(format!("metadata.annotations[{}/auth-tls-secret]", options.annotation_prefix), Reason::AuthTlsWithoutTls, format!("host {} asks for client certificates but is in no spec.tls entry: add it to spec.tls with a server certificate (it is refused meanwhile; ingress-nginx served it over plain HTTP unauthenticated)", host.unwrap_or("*")));
        }
        refused = true;
    }
    // Longest path first, Exact before Prefix: the first route that matches serves.
    paths.routes.sort_by_key(|(m, _, _)| match m {
        PathMatch::Exact(p) => (std::cmp::Reverse(p.len()), 0),
        PathMatch::Prefix(p) => (std::cmp::Reverse(p.len()), 1),
    });
    let preset = auth.as_ref().map(|a| a.preset);
    let mut routes: Vec<Route> = paths
        .routes
        .iter()
        .map(|(path, backend, _)| route(path.clone(), backend.clone(), preset))
        .collect();
    let root = PathMatch::Prefix("/".into());
    if let Some(f) = paths
        .fallback
        .take()
        .filter(|_| !routes.iter().any(|r| r.path == root))
    {
        routes.push(route(root, f, preset));
    }
    let name = format!("{SERVER_PREFIX}{}", host.unwrap_or("*"));
    let refusal = refused.then(|| Refusal {
        reason: "InvalidIngress".into(),
        message: format!(
            "the Ingresses of host {} have errors and it refuses traffic until they are fixed",
            host.unwrap_or("*")
        ),
    });
    let wants_redirect = contributors
        .iter()
        .any(|m| m.annotations.force_ssl_redirect)
        || (certificate.is_some() && contributors.iter().any(|m| m.annotations.ssl_redirect))
        || (auth.is_some() && certificate.is_some());
    // ingress-nginx redirected per path; a host here redirects as a whole, so a path that
    // asked not to be redirected is told why it is.
    if wants_redirect {
        let why = if auth.is_some() {
            "a host with client-certificate authentication is never served over plain HTTP, where no certificate can be asked (ingress-nginx served such requests unauthenticated)"
        } else {
            "another Ingress of the host asks for the redirect, and a host redirects as a whole (ingress-nginx redirected path by path)"
        };
        for m in contributors.iter().filter(|m| !m.annotations.ssl_redirect) {
            let mut report = Reporter::new(object("Ingress", &m.key), diagnostics);
            report.warn(
                format!(
                    "metadata.annotations[{}/ssl-redirect]",
                    options.annotation_prefix
                ),
                Reason::DiffersFromIngressNginx,
                format!(
                    "plain-HTTP requests for {} are redirected to HTTPS all the same: {why}",
                    host.unwrap_or("every host")
                ),
            );
        }
    }
    let oldest = contributors[0].key.clone();
    let http = VirtualServer {
        name: name.clone(),
        hostnames: hostname.iter().cloned().collect(),
        tls: None,
        routes: if wants_redirect || refusal.is_some() {
            Vec::new()
        } else {
            routes.clone()
        },
        redirect_https_port: wants_redirect.then_some(options.https_port),
        subject_pattern: None,
        certificate_error_page: None,
        refusal: refusal.clone(),
    };
    let mut report = Reporter::new(object("Ingress", &oldest), diagnostics);
    place(
        ports,
        options.http_port,
        Protocol::Http,
        http,
        ("spec", "spec.rules"),
        &mut report,
    );
    let Some(certificate) = certificate else {
        return;
    };
    let (client_auth, subject_pattern, error_page) = match &auth {
        Some(a) => (
            a.client_auth.clone(),
            a.subject_pattern.clone(),
            a.error_page.clone(),
        ),
        None => (ClientAuth::Off, None, None),
    };
    let https = VirtualServer {
        name,
        hostnames: hostname.iter().cloned().collect(),
        tls: refusal.is_none().then(|| ServerTls {
            certificate,
            policy: default_policy(),
            client_auth,
        }),
        routes: if refusal.is_some() {
            Vec::new()
        } else {
            routes
        },
        redirect_https_port: None,
        subject_pattern,
        certificate_error_page: error_page,
        refusal,
    };
    place(
        ports,
        options.https_port,
        Protocol::Https,
        https,
        ("spec.tls", "spec.rules"),
        &mut report,
    );
}

fn route(path: PathMatch, backend: Backend, preset: Option<HeaderPreset>) -> Route {
    Route {
        host: None,
        path,
        backend,
        presets: preset.into_iter().collect(),
        request_headers: Vec::new(),
        require_client_certificate: false,
    }
}

/// The host's client authentication: the one its Ingresses agree on. Ingresses that set
/// `auth-tls-*` differently make the host refuse traffic (reported on each), as does one
/// whose `auth-tls-*` could not be resolved.
fn host_auth(
    host: Option<&str>,
    contributors: &[&Model],
    options: &IngressOptions,
    diagnostics: &mut Vec<Diagnostic>,
    refused: &mut bool,
) -> Option<AuthModel> {
    let with_auth: Vec<&Model> = contributors
        .iter()
        .copied()
        .filter(|m| m.auth.is_some())
        .collect();
    let first = with_auth.first()?;
    let (spec, resolved) = first.auth.as_ref()?;
    let disagree: Vec<&Model> = with_auth
        .iter()
        .copied()
        .filter(|m| m.auth.as_ref().is_some_and(|(a, _)| a != spec))
        .collect();
    if !disagree.is_empty() {
        let names: Vec<String> = with_auth
            .iter()
            .map(|m| format!("{}/{}", m.key.0, m.key.1))
            .collect();
        for m in &with_auth {
            let mut report = Reporter::new(object("Ingress", &m.key), diagnostics);
            report.invalid(format!("metadata.annotations[{}/auth-tls-secret]", options.annotation_prefix), Reason::AuthTlsConflict, format!("the Ingresses of host {} ({}) set auth-tls-* differently; the host refuses traffic until they agree (ingress-nginx silently kept one)", host.unwrap_or("*"), names.join(", ")));
        }
        *refused = true;
        return resolved.clone();
    }
    if resolved.is_none() {
        *refused = true;
    }
    resolved.clone()
}

/// The host's server certificate: from the oldest Ingress whose `spec.tls` lists the host,
/// else from an entry whose certificate covers it (as ingress-nginx falls back to).
fn host_certificate(
    host: Option<&str>,
    hostname: Option<&Hostname>,
    contributors: &[&Model],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ServerCertificate> {
    let listed: Vec<(&Model, &String, &Option<ServerCertificate>)> = contributors
        .iter()
        .flat_map(|m| m.tls.iter().map(move |t| (*m, t)))
        .filter(|(_, (hosts, _, _))| host.is_some_and(|h| hosts.iter().any(|x| x == h)))
        .map(|(m, (_, name, cert))| (m, name, cert))
        .collect();
    if let Some((_, first_name, cert)) = listed.first() {
        for (m, name, _) in listed.iter().skip(1).filter(|(_, n, _)| n != first_name) {
            let mut report = Reporter::new(object("Ingress", &m.key), diagnostics);
            report.warn(
                "spec.tls",
                Reason::TlsSecretConflict,
                format!(
                    "host {} is served with Secret {first_name} of an older Ingress, not {name}",
                    host.unwrap_or("*")
                ),
            );
        }
        return (*cert).clone();
    }
    contributors
        .iter()
        .flat_map(|m| m.tls.iter())
        .filter_map(|(_, _, cert)| cert.as_ref())
        .find(|c| hostname.is_none_or(|h| c.covers(h)))
        .cloned()
}
