//! A snapshot compiled for serving: rustls configs built, verifiers and backend pools ready.
//! Compiling is where a snapshot that cannot be served is caught, before it is published.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

mod routing;

use super::backend::BackendPool;
use super::tls::stapling::StapledCert;
use super::tls::{ClientAuthVerifier, server_config};
use crate::canon;
use crate::config::{
    ClientAuth, HeaderPreset, HeaderRule, Hostname, PathMatch, Protocol, Refusal, Snapshot,
    VirtualServer,
};

/// Why a snapshot cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("Listener {server}: {message}")]
pub struct CompileError {
    /// The virtual server.
    pub server: String,
    /// What failed.
    pub message: String,
}

/// Everything the proxy serves, ready to use.
#[derive(Debug)]
pub struct CompiledSnapshot {
    /// By port.
    pub ports: BTreeMap<u16, Arc<CompiledPort>>,
    /// Headers removed from every client request before the gateway sets its own (strip
    /// before set): [`stripped_header_names`] and the proxy headers
    /// ([`canon::header::PROXY_HEADERS`]).
    pub strip: HashSet<http::HeaderName>,
}

/// One port's virtual servers.
#[derive(Debug)]
pub struct CompiledPort {
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// Its virtual servers.
    pub servers: Vec<Arc<CompiledServer>>,
}

/// One virtual server (Listener).
#[derive(Debug)]
pub struct CompiledServer {
    /// `namespace/name`.
    pub name: String,
    /// Hostnames; empty answers any.
    pub hostnames: Vec<Hostname>,
    /// TLS settings; `None` on plain HTTP or when refused.
    pub tls: Option<Arc<ServerConfig>>,
    /// Judges client certificates.
    pub verifier: Option<Arc<ClientAuthVerifier>>,
    /// The server certificate, stapled when it can be.
    pub stapled: Option<Arc<StapledCert>>,
    /// What the server asks of a client certificate.
    pub gate: CertGate,
    /// Path prefixes that need no certificate: (canonical, loose reading).
    pub(super) exclusion_paths: Vec<(String, String)>,
    /// Routes in order.
    pub routes: Vec<CompiledRoute>,
    /// Whether any route requires a client certificate (most servers: none, and the
    /// per-request check is skipped).
    pub(super) any_route_requires_certificate: bool,
    /// Redirect every request to HTTPS on this port (plain HTTP listeners).
    pub redirect_https_port: Option<u16>,
    /// The pattern a client certificate's subject must match (else 403).
    pub subject_pattern: Option<regex::Regex>,
    /// Where a refused or missing certificate is redirected (302) instead of answered 400.
    pub certificate_error_page: Option<http::HeaderValue>,
    /// Set when the server refuses all traffic.
    pub refusal: Option<Refusal>,
}

/// What a virtual server asks of a client certificate, outside exclusion paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertGate {
    /// Nothing: any verdict passes (Off, Passthrough).
    Open,
    /// A presented certificate must be valid; none is fine.
    Optional,
    /// A valid certificate is required.
    Required,
    /// A presented certificate must be valid but for chaining to a trusted CA; none is fine
    /// (nginx's `optional_no_ca`). With `crl` (CRLs checked along the chain), as nginx with
    /// `ssl_crl`, only an untrusted certificate sent alone passes.
    OptionalNoCa {
        /// CRLs are checked for every certificate of the chain.
        crl: bool,
    },
}

/// A route ready to match.
#[derive(Debug)]
pub struct CompiledRoute {
    /// Host restriction.
    pub host: Option<Hostname>,
    /// Path match.
    pub path: PathMatch,
    /// The path's loose reading ([`canon::path::loosen`]), for the certificate requirement.
    pub(super) loose_path: String,
    /// Where requests go.
    pub backend: Arc<BackendPool>,
    /// Identity header presets.
    pub presets: Vec<HeaderPreset>,
    /// Headers set from templates.
    pub headers: Vec<HeaderRule>,
    /// Requests need a verified client certificate.
    pub require_client_certificate: bool,
}

impl Default for CompiledSnapshot {
    fn default() -> Self {
        Self {
            ports: BTreeMap::new(),
            strip: strip_set([]),
        }
    }
}

impl CompiledSnapshot {
    /// Builds every rustls config, verifier and backend pool of `snapshot`.
    pub fn compile(
        snapshot: &Snapshot,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Self, CompileError> {
        let mut ports = BTreeMap::new();
        for port in &snapshot.ports {
            let servers = port
                .servers
                .iter()
                .map(|s| compile_server(s, port.protocol, provider).map(Arc::new))
                .collect::<Result<_, _>>()?;
            ports.insert(
                port.port,
                Arc::new(CompiledPort {
                    port: port.port,
                    protocol: port.protocol,
                    servers,
                }),
            );
        }
        let rules = snapshot
            .ports
            .iter()
            .flat_map(|p| &p.servers)
            .flat_map(|s| &s.routes)
            .flat_map(|r| &r.request_headers);
        Ok(Self {
            ports,
            strip: strip_set(rules),
        })
    }
}

impl CompiledSnapshot {
    /// The trusted CAs and loaded CRLs, for the expiry gauges.
    pub fn expiries(&self) -> super::telemetry::Expiries {
        let mut e = super::telemetry::Expiries::default();
        for v in self
            .ports
            .values()
            .flat_map(|p| &p.servers)
            .filter_map(|s| s.verifier.as_ref())
        {
            e.cas.extend(
                v.trusted_cas()
                    .iter()
                    .map(|c| (c.subject.to_string(), c.not_after)),
            );
            e.crls.extend(
                v.crls()
                    .iter()
                    .map(|l| (l.issuer.to_string(), l.this_update, l.next_update)),
            );
        }
        e.cas.sort();
        e.cas.dedup();
        e.crls.sort();
        e.crls.dedup();
        e
    }
}

/// Identity headers the presets set; always removed from client requests.
const IDENTITY_HEADERS: [&str; 10] = [
    "x-arr-clientcert",
    "ssl-client-cert",
    "ssl-client-verify",
    "ssl-client-subject-dn",
    "ssl-client-issuer-dn",
    "x-forwarded-client-cert",
    "client-cert",
    "client-cert-chain",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
];

/// Every header a client may not send, on any listener: the presets' identity headers and
/// every header any rule sets, server variables or literal values (`X-Internal-Auth:
/// granted`), since a backend behind two listeners, or two routes, may trust it from either.
/// Parsed once per snapshot, not per request; a name that is no header name cannot be sent.
fn stripped_header_names<'a>(
    rules: impl IntoIterator<Item = &'a HeaderRule>,
) -> Vec<http::HeaderName> {
    let mut names: Vec<http::HeaderName> = IDENTITY_HEADERS
        .iter()
        .map(|s| http::HeaderName::from_static(s))
        .collect();
    for rule in rules {
        if let Ok(name) = http::HeaderName::from_bytes(rule.name.as_bytes())
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

/// The headers no client request keeps: identity and rule headers, and proxy headers.
fn strip_set<'a>(rules: impl IntoIterator<Item = &'a HeaderRule>) -> HashSet<http::HeaderName> {
    stripped_header_names(rules)
        .into_iter()
        .chain(canon::header::PROXY_HEADERS)
        .collect()
}

fn compile_server(
    s: &VirtualServer,
    protocol: Protocol,
    provider: &Arc<CryptoProvider>,
) -> Result<CompiledServer, CompileError> {
    let err = |message: String| CompileError {
        server: s.name.clone(),
        message,
    };
    let (tls, verifier, stapled, auth) = match (&s.tls, &s.refusal) {
        (Some(tls), None) => {
            let (cfg, verifier, stapled) =
                server_config(tls, protocol, provider).map_err(|e| err(e.to_string()))?;
            (Some(cfg), Some(verifier), Some(stapled), &tls.client_auth)
        }
        _ => (None, None, None, &ClientAuth::Off),
    };
    let exclusion_paths = match auth {
        ClientAuth::Required(v) => v
            .exclusion_paths
            .iter()
            .map(|p| (p.clone(), canon::path::loosen(p)))
            .collect(),
        _ => Vec::new(),
    };
    let routes = s
        .routes
        .iter()
        .map(|r| {
            Ok(CompiledRoute {
                host: r.host.clone(),
                loose_path: canon::path::loosen(match &r.path {
                    PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
                }),
                path: r.path.clone(),
                backend: Arc::new(
                    BackendPool::new(&r.backend, provider)
                        .map_err(|e| err(format!("backend {}: {e}", r.backend.name)))?,
                ),
                presets: r.presets.clone(),
                headers: r.request_headers.clone(),
                require_client_certificate: r.require_client_certificate,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    Ok(CompiledServer {
        any_route_requires_certificate: routes.iter().any(|r| r.require_client_certificate),
        name: s.name.clone(),
        hostnames: s.hostnames.clone(),
        tls,
        verifier,
        stapled,
        gate: match auth {
            ClientAuth::Required(_) => CertGate::Required,
            ClientAuth::Optional(_) => CertGate::Optional,
            ClientAuth::OptionalNoCa(v) => CertGate::OptionalNoCa {
                crl: matches!(v.revocation, crate::config::Revocation::Crl(_)),
            },
            ClientAuth::Off | ClientAuth::Passthrough(_) => CertGate::Open,
        },
        exclusion_paths,
        routes,
        redirect_https_port: s.redirect_https_port,
        subject_pattern: s
            .subject_pattern
            .as_deref()
            .map(crate::config::subject_pattern)
            .transpose()
            .map_err(|e| err(format!("subject pattern: {e}")))?,
        certificate_error_page: s
            .certificate_error_page
            .as_deref()
            .map(http::HeaderValue::from_str)
            .transpose()
            .map_err(|e| err(format!("certificate error page: {e}")))?,
        refusal: s.refusal.clone(),
    })
}
