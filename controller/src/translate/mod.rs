//! Translation: one pure function from everything fetched to the dataplane snapshot and the
//! diagnostics that become status conditions and CLI errors.
//!
//! No I/O and no clock but the `now` argument. Every validation rule lives here (or in the
//! dataplane's parsers it calls), once; the controller, `portcullis validate`, `portcullis run`
//! and the tests all call [`translate`].

mod backend;
mod diagnostic;
#[cfg(test)]
mod fixtures;
mod ingress;
mod inputs;
mod listener;
mod profile;
mod reason;
mod revocation;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use dataplane::config::{Port, Protocol, Snapshot, VirtualServer};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use diagnostic::Reporter;
pub use diagnostic::{ConditionKind, Diagnostic, ObjectRef, Severity};
pub(crate) use inputs::namespace_of;
pub use inputs::{
    INGRESS_CONTROLLER, IngressOptions, Inputs, Malformed, NGINX_ANNOTATION_PREFIX, slices_of,
};
use inputs::{Key, index};
pub use profile::{MAX_CHAINS_PER_GATEWAY, MAX_CHAINS_PER_PROFILE};
pub use reason::Reason;

use crate::api::SecretRef;

/// The result of translation.
#[derive(Clone, Debug, Default)]
pub struct Translation {
    /// What the dataplanes should run.
    pub snapshot: Snapshot,
    /// Errors and warnings, per object and field.
    pub diagnostics: Vec<Diagnostic>,
    /// The issuer DNs each valid SslProfile enforces, by `(namespace, name)`.
    pub issuer_dns: BTreeMap<(String, String), Vec<String>>,
}

impl Translation {
    /// Whether any diagnostic is an error (something would be refused).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Translates custom resources and what they reference into a snapshot.
pub fn translate(inputs: &Inputs, now: jiff::Timestamp) -> Translation {
    let mut diagnostics = Vec::new();
    let secrets = index(&inputs.secrets);

    // Profiles, oldest first, so that the gateway-wide chain limit refuses the newest.
    let mut profiles: Vec<_> = inputs.ssl_profiles.iter().collect();
    profiles.sort_by_key(|p| age_key(*p));
    let mut models = BTreeMap::new();
    let mut issuer_dns = BTreeMap::new();
    let mut gateway_chains: BTreeMap<Key, usize> = BTreeMap::new();
    for m in &inputs.malformed {
        let key = (m.namespace.clone(), m.name.clone());
        let mut report = Reporter::new(object(m.kind, &key), &mut diagnostics);
        report.invalid(&m.field, Reason::MalformedObject, format!("{} {}/{} cannot be read by this version of Portcullis: {}: {}; fix the field (or upgrade the controller to the version of its CRD)", m.kind, m.namespace, m.name, m.field, m.error));
        if m.kind == "SslProfile" {
            // Known but unusable: its Listeners refuse traffic (InvalidSslProfile).
            models.insert(key, None);
        }
    }
    for p in profiles {
        let namespace = namespace_of(p);
        let key = (namespace.clone(), p.name_any());
        let mut report = Reporter::new(object("SslProfile", &key), &mut diagnostics);
        let mut model = profile::translate(p, &namespace, &secrets, now, &mut report);
        if let Some(m) = &model {
            let mut with_this = gateway_chains.clone();
            with_this.extend(m.chains.iter().map(|(k, v)| (k.clone(), *v)));
            let total: usize = with_this.values().sum();
            if total > MAX_CHAINS_PER_GATEWAY {
                report.invalid("spec.clientAuthConfiguration.trustedClientCertificates", Reason::GatewayChainLimitExceeded, format!("with this profile the gateway would trust {total} chains; at most {MAX_CHAINS_PER_GATEWAY} are allowed across all SslProfiles: remove chains from this or another profile"));
                model = None;
            } else {
                gateway_chains = with_this;
                issuer_dns.insert(key.clone(), m.issuer_dns.clone());
            }
        }
        models.insert(key, model);
    }

    let backends = backend::BackendIndex {
        services: index(&inputs.services),
        slices: &inputs.endpoint_slices,
        secrets: &secrets,
    };
    let ctx = listener::ListenerContext {
        profiles: &models,
        secrets: &secrets,
        backends: &backends,
    };

    // Listeners, oldest first: on a conflict the older one keeps the port or hostname.
    let mut listeners: Vec<_> = inputs.listeners.iter().collect();
    listeners.sort_by_key(|l| age_key(*l));
    let mut ports: BTreeMap<u16, Port> = BTreeMap::new();
    for l in listeners {
        let namespace = namespace_of(l);
        let key = (namespace.clone(), l.name_any());
        let mut report = Reporter::new(object("Listener", &key), &mut diagnostics);
        let server = listener::translate(l, &namespace, &ctx, &mut report);
        let Ok(port) = u16::try_from(l.spec.port) else {
            continue;
        };
        let protocol = listener::protocol(l.spec.protocol);
        place(
            &mut ports,
            port,
            protocol,
            server,
            ("spec.port", "spec.hostnames"),
            &mut report,
        );
    }
    ingress::translate(inputs, &ctx, now, &mut ports, &mut diagnostics);

    Translation {
        snapshot: Snapshot {
            ports: ports.into_values().collect(),
        },
        diagnostics,
        issuer_dns,
    }
}

/// Adds `server` to `port` unless the port serves another protocol or a server already there
/// answers one of its hostnames (the one placed first, the older, keeps it); reports why not
/// against `fields` (the port's field, the hostnames' field).
pub(crate) fn place(
    ports: &mut BTreeMap<u16, Port>,
    port: u16,
    protocol: Protocol,
    server: VirtualServer,
    fields: (&str, &str),
    report: &mut Reporter<'_>,
) -> bool {
    let entry = ports.entry(port).or_insert_with(|| Port {
        port,
        protocol,
        servers: Vec::new(),
    });
    if entry.protocol != protocol {
        report.invalid(fields.0, Reason::PortConflict, format!("port {port} is already used with protocol {:?} by {}; servers share a port only with the same protocol", entry.protocol, entry.servers.first().map_or("?".to_owned(), |s| owner(&s.name))));
        return false;
    }
    let taken: BTreeSet<&str> = entry
        .servers
        .iter()
        .flat_map(|s| s.hostnames.iter().map(|h| h.as_str()))
        .collect();
    if let Some(h) = server.hostnames.iter().find(|h| taken.contains(h.as_str())) {
        let holder = entry
            .servers
            .iter()
            .find(|s| s.hostnames.contains(h))
            .map_or("?".to_owned(), |s| owner(&s.name));
        report.invalid(fields.1, Reason::HostnameConflict, format!("hostname {h} on port {port} already belongs to {holder}; give each server on a port distinct hostnames"));
        return false;
    }
    let catch_all = entry.servers.iter().find(|s| s.hostnames.is_empty());
    if let (true, Some(holder)) = (server.hostnames.is_empty(), catch_all) {
        report.invalid(fields.1, Reason::HostnameConflict, format!("{} already answers every hostname on port {port}; name the hostnames to share the port", owner(&holder.name)));
        return false;
    }
    entry.servers.push(server);
    true
}

/// Who owns a virtual server, for messages: a Listener or the Ingresses of a host.
fn owner(server: &str) -> String {
    match server.strip_prefix(ingress::SERVER_PREFIX) {
        Some(host) => format!("the Ingresses of host {host}"),
        None => format!("Listener {server}"),
    }
}

/// The Ingresses of `inputs` that Portcullis serves (by class).
pub fn served_ingresses(
    inputs: &Inputs,
) -> impl Iterator<Item = &k8s_openapi::api::networking::v1::Ingress> {
    ingress::served(inputs)
}

/// Whether a served Ingress is of class `nginx`, served as a guest of ingress-nginx (which
/// writes its status), because `serve_nginx_class` is on.
pub fn guest_ingress(inputs: &Inputs, ing: &k8s_openapi::api::networking::v1::Ingress) -> bool {
    ingress::guest(inputs, ing)
}

fn object(kind: &'static str, key: &Key) -> ObjectRef {
    ObjectRef {
        kind,
        namespace: key.0.clone(),
        name: key.1.clone(),
    }
}

/// Sort key: creation time (unset sorts first, as in files), then namespace and name.
fn age_key<K: ResourceExt>(o: &K) -> (Option<jiff::Timestamp>, String, String) {
    (
        o.creation_timestamp().map(|t| t.0),
        namespace_of(o),
        o.name_any(),
    )
}

/// A configured path (route match or exclusion path) if it is canonical, as every request path
/// is made before it is matched ([`dataplane::canon::path`]); a value that is not could never
/// match, or could match only by accident, so it is refused with the form to write instead.
pub(crate) fn canonical_path(
    value: &str,
    field: &str,
    reason: Reason,
    report: &mut Reporter<'_>,
) -> Option<String> {
    match dataplane::canon::canonical_path(value) {
        Ok(c) if c == value => Some(c.into_owned()),
        Ok(c) => {
            report.invalid(field, reason, format!("path {value:?} is not in canonical form: write {c:?} (requests are matched after dot segments are removed, escapes of unreserved characters decoded and repeated slashes merged)"));
            None
        }
        Err(e) => {
            report.invalid(
                field,
                reason,
                format!("path {value:?} can never match a request: {e}"),
            );
            None
        }
    }
}

/// Looks up a Secret reference, refusing other namespaces.
pub(crate) fn resolve_secret<'a>(
    r: &SecretRef,
    namespace: &str,
    secrets: &BTreeMap<Key, &'a Secret>,
    field: &str,
    report: &mut Reporter<'_>,
) -> Option<&'a Secret> {
    if let Some(other) = r.namespace.as_deref().filter(|n| *n != namespace) {
        report.unresolved(field, Reason::RefNotPermitted, format!("Secret {other}/{} is in another namespace; references must stay in namespace {namespace} (copy the Secret there)", r.name));
        return None;
    }
    let found = secrets
        .get(&(namespace.to_owned(), r.name.clone()))
        .copied();
    if found.is_none() {
        report.unresolved(
            field,
            Reason::SecretNotFound,
            format!(
                "Secret {namespace}/{} does not exist; create it or fix the name",
                r.name
            ),
        );
    }
    found
}

/// The Secrets translation can read, as `(namespace, name)`: every Secret reference of the
/// SslProfiles, Listeners and served Ingresses (their TLS Secrets, `auth-tls-secret` and
/// `proxy-ssl-secret`) that stays in its namespace (others are refused anyway). The
/// controller fetches and holds only these.
pub fn referenced_secrets(inputs: &Inputs) -> BTreeSet<(String, String)> {
    let (profiles, listeners) = (&inputs.ssl_profiles, &inputs.listeners);
    let mut out = BTreeSet::new();
    let mut add = |namespace: &str, r: &SecretRef| {
        if r.namespace.as_deref().is_none_or(|n| n == namespace) {
            out.insert((namespace.to_owned(), r.name.clone()));
        }
    };
    for p in profiles {
        let ns = namespace_of(p);
        for r in p
            .spec
            .client_auth_configuration
            .iter()
            .flat_map(|c| &c.trusted_client_certificates)
        {
            add(&ns, r);
        }
    }
    for l in listeners {
        let ns = namespace_of(l);
        if let Some(r) = &l.spec.ssl_certificate {
            add(&ns, r);
        }
        for r in l
            .spec
            .rules
            .iter()
            .filter_map(|rule| rule.backend_settings.as_ref())
            .flat_map(|b| &b.trusted_root_certificates)
        {
            add(&ns, r);
        }
    }
    out.extend(ingress::referenced_secrets(inputs));
    out
}
