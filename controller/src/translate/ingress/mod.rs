//! Ingress (`networking.k8s.io/v1`) → virtual servers, one per host and port, through the
//! same backends, certificates and placement rules as Listeners: no second rule engine.
//!
//! As ingress-nginx does: the Ingresses of one host are merged into one server, oldest first
//! (an older Ingress keeps a path both name); hosts in `spec.tls` are served over HTTPS and
//! redirected from plain HTTP; `auth-tls-*` applies to the whole host. Unlike it: Ingresses of
//! a host that disagree on `auth-tls-*` make the host refuse traffic, and a host with
//! client-certificate authentication is never served over plain HTTP.

mod annotations;
mod auth_tls;
mod class;
mod host;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use dataplane::config::{
    Backend, BackendProtocol as WireProtocol, Hostname, PathMatch, Port, ServerCertificate,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

use super::diagnostic::{Diagnostic, Reporter};
use super::inputs::{Inputs, Key};
use super::listener::ListenerContext;
use super::{Reason, age_key, namespace_of, object};
use crate::api::{self, SecretRef};
use annotations::{Annotations, AuthTls, BackendProtocol};
use auth_tls::AuthModel;

/// The name of a host's virtual servers: `ingress:` and the host (`*` for every host).
pub(crate) const SERVER_PREFIX: &str = "ingress:";

/// One served Ingress, translated on its own.
struct Model {
    pub(super) key: Key,
    pub(super) annotations: Annotations,
    /// The `auth-tls-*` annotations and what they resolved to (`None` on errors).
    pub(super) auth: Option<(AuthTls, Option<AuthModel>)>,
    /// `spec.tls`: the hosts (empty: any the certificate covers), the Secret's name, and its
    /// certificate when usable.
    pub(super) tls: Vec<(Vec<String>, String, Option<ServerCertificate>)>,
    /// Errors other than missing backends: the Ingress's hosts refuse traffic.
    pub(super) blocking_errors: usize,
}

/// One Ingress to read: the object, its key, the annotation prefix and its place in age order.
struct Source<'a> {
    ing: &'a Ingress,
    key: &'a Key,
    prefix: &'a str,
    index: usize,
}

/// The paths of one host, from every Ingress that names it.
#[derive(Default)]
struct Host {
    /// Indexes into the models, oldest first.
    pub(super) ingresses: Vec<usize>,
    pub(super) routes: Vec<(PathMatch, Backend, usize)>,
    /// `spec.defaultBackend` of its Ingresses, for paths none of its rules match.
    pub(super) fallback: Option<Backend>,
}

/// Translates the Ingresses Portcullis serves and places their servers in `ports`.
pub(crate) fn translate(
    inputs: &Inputs,
    ctx: &ListenerContext<'_>,
    now: jiff::Timestamp,
    ports: &mut BTreeMap<u16, Port>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let options = &inputs.ingress_options;
    let mut served: Vec<&Ingress> = served(inputs).collect();
    served.sort_by_key(|i| age_key(*i));
    let mut models = Vec::new();
    let mut hosts: BTreeMap<Option<String>, Host> = BTreeMap::new();
    for ing in served {
        let key = (
            namespace_of(ing),
            ing.metadata.name.clone().unwrap_or_default(),
        );
        let mut report = Reporter::new(object("Ingress", &key), diagnostics);
        let index = models.len();
        let source = Source {
            ing,
            key: &key,
            prefix: &options.annotation_prefix,
            index,
        };
        let (model, backend_errors) = read(&source, ctx, now, &mut hosts, &mut report);
        models.push(Model {
            blocking_errors: report.errors() - backend_errors,
            ..model
        });
    }
    for (host, paths) in hosts {
        host::serve(host.as_deref(), paths, &models, options, ports, diagnostics);
    }
}

/// The Ingresses of `inputs` that Portcullis serves.
pub(crate) fn served(inputs: &Inputs) -> impl Iterator<Item = &Ingress> {
    inputs
        .ingresses
        .iter()
        .filter(|i| class::served(i, &inputs.ingress_classes, &inputs.ingress_options))
}

/// Whether Portcullis serves `ing` only as a guest of ingress-nginx (class `nginx`, with
/// `serve_nginx_class`): ingress-nginx writes its status.
pub(crate) fn guest(inputs: &Inputs, ing: &Ingress) -> bool {
    class::guest(ing, &inputs.ingress_classes, &inputs.ingress_options)
}

/// The Secrets the served Ingresses name in their own namespace: `spec.tls` and the
/// `auth-tls-secret` and `proxy-ssl-secret` annotations.
pub(crate) fn referenced_secrets(inputs: &Inputs) -> Vec<Key> {
    let prefix = &inputs.ingress_options.annotation_prefix;
    let mut out = Vec::new();
    for ing in served(inputs) {
        let namespace = namespace_of(ing);
        let spec = ing.spec.as_ref();
        out.extend(
            spec.and_then(|s| s.tls.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|t| t.secret_name.clone())
                .map(|name| (namespace.clone(), name)),
        );
        for name in ["auth-tls-secret", "proxy-ssl-secret"] {
            let value = ing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(&format!("{prefix}/{name}")));
            if let Some(v) = value {
                let (ns, secret) = v.split_once('/').unwrap_or((namespace.as_str(), v));
                if ns == namespace {
                    out.push((namespace.clone(), secret.to_owned()));
                }
            }
        }
    }
    out
}

/// Reads one Ingress: its annotations, TLS and rules (into `hosts`). Returns the model and
/// how many of its errors are missing backends (which do not refuse the host).
fn read(
    source: &Source<'_>,
    ctx: &ListenerContext<'_>,
    now: jiff::Timestamp,
    hosts: &mut BTreeMap<Option<String>, Host>,
    report: &mut Reporter<'_>,
) -> (Model, usize) {
    let Source {
        ing,
        key,
        prefix,
        index,
    } = *source;
    let namespace = &key.0;
    let annotations = annotations::parse(ing, prefix, report);
    let auth = annotations.auth_tls.clone().map(|a| {
        let field = format!("metadata.annotations[{prefix}/auth-tls-secret]");
        let resolved = auth_tls::resolve(&a, &field, ctx.secrets, now, report);
        (a, resolved)
    });
    let spec = ing.spec.clone().unwrap_or_default();
    let mut tls = Vec::new();
    for (i, t) in spec.tls.iter().flatten().enumerate() {
        let field = format!("spec.tls[{i}].secretName");
        let Some(name) = t.secret_name.clone().filter(|n| !n.is_empty()) else {
            report.invalid(
                field,
                Reason::MissingSslCertificate,
                "a TLS entry needs secretName: a kubernetes.io/tls Secret with tls.crt and tls.key",
            );
            continue;
        };
        let r = SecretRef {
            name: name.clone(),
            namespace: None,
        };
        let cert = super::listener::server_certificate(&r, namespace, ctx.secrets, &field, report);
        tls.push((t.hosts.clone().unwrap_or_default(), name, cert));
    }
    let mut backend_errors = 0;
    let mut backend = |b: &IngressBackend, field: &str, report: &mut Reporter<'_>| {
        let before = report.errors();
        let out = resolve_backend(b, (namespace, prefix), &annotations, ctx, field, report);
        backend_errors += report.errors() - before;
        out
    };
    let fallback = spec
        .default_backend
        .as_ref()
        .and_then(|b| backend(b, "spec.defaultBackend", report));
    let rules = spec.rules.clone().unwrap_or_default();
    if rules.is_empty() && fallback.is_none() {
        report.invalid(
            "spec",
            Reason::InvalidRules,
            "an Ingress needs rules or a defaultBackend",
        );
    }
    let mut named_hosts = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let host = match rule.host.as_deref().filter(|h| !h.is_empty()) {
            None => None,
            Some(h) => match Hostname::parse(h) {
                Ok(h) => Some(h.as_str().to_owned()),
                Err(e) => {
                    report.invalid(
                        format!("spec.rules[{i}].host"),
                        Reason::InvalidHostname,
                        e.to_string(),
                    );
                    continue;
                }
            },
        };
        named_hosts.push(host.clone());
        let entry = hosts.entry(host).or_default();
        if entry.ingresses.last() != Some(&index) {
            entry.ingresses.push(index);
        }
        for (j, p) in rule.http.iter().flat_map(|h| &h.paths).enumerate() {
            let field = format!("spec.rules[{i}].http.paths[{j}]");
            let Some(path) = path_match(p.path.as_deref(), &p.path_type, &field, report) else {
                continue;
            };
            let Some(b) = backend(&p.backend, &format!("{field}.backend"), report) else {
                continue;
            };
            if entry.routes.iter().any(|(m, _, _)| *m == path) {
                report.warn(format!("{field}.path"), Reason::IngressPathConflict, format!("{path:?} of this host is already served by an older Ingress, which keeps it (as ingress-nginx does)"));
                continue;
            }
            entry.routes.push((path, b, index));
        }
    }
    if rules.is_empty() {
        named_hosts.push(None);
        hosts.entry(None).or_default().ingresses.push(index);
    }
    if let Some(f) = fallback {
        for h in named_hosts {
            let entry = hosts.entry(h).or_default();
            entry.fallback.get_or_insert_with(|| f.clone());
        }
    }
    let model = Model {
        key: key.clone(),
        annotations,
        auth,
        tls,
        blocking_errors: 0,
    };
    (model, backend_errors)
}

/// A path of a rule: `Exact`, `Prefix` (the trailing `/` ignored, as the API defines it) or
/// `ImplementationSpecific`, which Portcullis reads as `Prefix`.
fn path_match(
    path: Option<&str>,
    kind: &str,
    field: &str,
    report: &mut Reporter<'_>,
) -> Option<PathMatch> {
    let value = path.unwrap_or("/");
    let trimmed = match value.trim_end_matches('/') {
        "" => "/",
        t => t,
    };
    let canonical = |v: &str, report: &mut Reporter<'_>| {
        super::canonical_path(v, &format!("{field}.path"), Reason::InvalidPath, report)
    };
    match kind {
        "Exact" => canonical(value, report).map(PathMatch::Exact),
        "Prefix" | "ImplementationSpecific" => canonical(trimmed, report).map(PathMatch::Prefix),
        other => {
            report.invalid(
                format!("{field}.pathType"),
                Reason::InvalidPath,
                format!("pathType {other:?} is not Exact, Prefix or ImplementationSpecific"),
            );
            None
        }
    }
}

/// An Ingress backend: a Service port by number or name, with the Ingress's backend
/// protocol; `None` (reported) for a resource backend.
fn resolve_backend(
    b: &IngressBackend,
    (namespace, prefix): (&str, &str),
    annotations: &Annotations,
    ctx: &ListenerContext<'_>,
    field: &str,
    report: &mut Reporter<'_>,
) -> Option<Backend> {
    let Some(svc) = &b.service else {
        report.invalid(field, Reason::InvalidIngressBackend, "only Service backends are served (a resource backend is not): name a Service and its port");
        return None;
    };
    let port = svc.port.as_ref();
    let number = match (
        port.and_then(|p| p.number),
        port.and_then(|p| p.name.as_deref()),
    ) {
        (Some(n), _) => n,
        (None, Some(name)) => ctx
            .backends
            .services
            .get(&(namespace.to_owned(), svc.name.clone()))
            .and_then(|s| {
                s.spec
                    .as_ref()?
                    .ports
                    .as_ref()?
                    .iter()
                    .find(|p| p.name.as_deref() == Some(name))
            })
            .map_or(0, |p| p.port),
        (None, None) => {
            report.invalid(
                format!("{field}.service.port"),
                Reason::InvalidIngressBackend,
                "a Service backend needs a port number or name",
            );
            return None;
        }
    };
    let settings = match annotations.backend_protocol {
        BackendProtocol::Http => None,
        BackendProtocol::Https => {
            if !annotations.proxy_ssl_verify || annotations.proxy_ssl_secret.is_none() {
                report.invalid(field, Reason::BackendTrustMissing, "backend-protocol HTTPS: Portcullis always verifies the backend's certificate (ingress-nginx did not by default); set proxy-ssl-secret to a Secret with the backend's CA in ca.crt and proxy-ssl-verify: \"on\"");
                return None;
            }
            Some(api::BackendSettings {
                protocol: api::BackendProtocol::Https,
                trusted_root_certificates: annotations
                    .proxy_ssl_secret
                    .iter()
                    .map(|(_, name)| SecretRef {
                        name: name.clone(),
                        namespace: None,
                    })
                    .collect(),
                ..api::BackendSettings::default()
            })
        }
    };
    let rule = api::RoutingRule {
        matches: Vec::new(),
        backend: api::BackendRef {
            service: svc.name.clone(),
            port: number,
        },
        backend_settings: settings,
        request_headers: None,
        require_client_certificate: false,
    };
    let settings_field = format!("metadata.annotations[{prefix}/backend-protocol]");
    let mut backend = ctx
        .backends
        .resolve(&rule, namespace, (field, &settings_field), report);
    // proxy-ssl-name names the certificate only: the backend still gets the client's Host.
    if let (Some(name), WireProtocol::Https { server_name, .. }) =
        (&annotations.proxy_ssl_name, &mut backend.protocol)
    {
        server_name.clone_from(name);
    }
    Some(backend)
}
