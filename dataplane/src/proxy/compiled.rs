//! A snapshot compiled for serving: rustls configs built, verifiers and backend pools ready.
//! Compiling is where a snapshot that cannot be served is caught, before it is published.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

use super::backend::BackendPool;
use super::client_auth::ClientAuthVerifier;
use super::stapling::StapledCert;
use crate::canon;
use crate::config::{
    ClientAuth, HeaderPreset, HeaderRule, Hostname, PathMatch, Protocol, Refusal, ServerTls,
    Snapshot, SslPolicy, TlsVersion, VirtualServer,
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
    /// before set): [`super::identity::stripped_header_names`] and the proxy headers
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
    /// Whether a valid certificate is required (outside exclusion paths).
    pub required: bool,
    /// Whether a presented certificate must be valid (Optional).
    pub optional: bool,
    /// Path prefixes that need no certificate: (canonical, loose reading).
    exclusion_paths: Vec<(String, String)>,
    /// Routes in order.
    pub routes: Vec<CompiledRoute>,
    /// Whether any route requires a client certificate (most servers: none, and the
    /// per-request check is skipped).
    any_route_requires_certificate: bool,
    /// Redirect every request to HTTPS on this port (plain HTTP listeners).
    pub redirect_https_port: Option<u16>,
    /// Set when the server refuses all traffic.
    pub refusal: Option<Refusal>,
}

/// A route ready to match.
#[derive(Debug)]
pub struct CompiledRoute {
    /// Host restriction.
    pub host: Option<Hostname>,
    /// Path match.
    pub path: PathMatch,
    /// The path's loose reading ([`canon::path::loosen`]), for the certificate requirement.
    loose_path: String,
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

impl CompiledPort {
    /// The server for a hostname (SNI or Host, lowercase, no port): an exact name first, then a
    /// wildcard, then the server without hostnames.
    pub fn select(&self, host: Option<&str>) -> Option<&Arc<CompiledServer>> {
        if let Some(host) = host {
            let exact = self.servers.iter().find(|s| {
                s.hostnames
                    .iter()
                    .any(|h| !h.is_wildcard() && h.matches(host))
            });
            let wildcard = || {
                self.servers.iter().find(|s| {
                    s.hostnames
                        .iter()
                        .any(|h| h.is_wildcard() && h.matches(host))
                })
            };
            if let Some(s) = exact.or_else(wildcard) {
                return Some(s);
            }
        }
        self.servers.iter().find(|s| s.hostnames.is_empty())
    }
}

impl CompiledServer {
    /// Whether `path` (canonical) needs no client certificate: an exclusion path covers it,
    /// whole segments, in its canonical reading (case-sensitive: `/PUBLIC/x` may be another
    /// file than `/public/x` to the backend) and in its loose one, so an exclusion path excuses
    /// only what it names (`/public;x/…` and `/public./…` are not under `/public`).
    pub fn is_excluded(&self, path: &str) -> bool {
        if self.exclusion_paths.is_empty() {
            return false;
        }
        let covered = |path: &str, loose: bool| {
            self.exclusion_paths.iter().any(|(canonical, lenient)| {
                let prefix = if loose { lenient } else { canonical };
                canon::path::prefix_covers(prefix, path, false)
            })
        };
        covered(path, false) && covered(&canon::path::loosen(path), true)
    }

    /// The route that serves `host` and `path` (canonical): the first that matches exactly.
    pub fn route(&self, host: &str, path: &str) -> Option<&CompiledRoute> {
        self.routes
            .iter()
            .find(|r| r.covers_host(host) && r.path.covers(path))
    }

    /// Whether a request for `host` and `path` (canonical) needs a verified client
    /// certificate under some route: the route that serves it, or the first route that
    /// matches its loose reading (case folded, `;parameters` and trailing dots dropped, as IIS,
    /// Tomcat or Windows read it). Routes whose paths that reading cannot tell apart are one
    /// route to such a backend: if any of them requires a certificate, the request does.
    pub fn requires_certificate(&self, host: &str, path: &str) -> bool {
        if !self.any_route_requires_certificate {
            return false;
        }
        if self
            .route(host, path)
            .is_some_and(|r| r.require_client_certificate)
        {
            return true;
        }
        let loose = canon::path::loosen(path);
        let Some(first) = self
            .routes
            .iter()
            .find(|r| r.covers_host(host) && r.covers_loosely(&loose))
        else {
            return false;
        };
        self.routes.iter().any(|r| {
            r.require_client_certificate
                && r.covers_host(host)
                && r.loose_path == first.loose_path
                && r.covers_loosely(&loose)
        })
    }
}

impl CompiledRoute {
    fn covers_host(&self, host: &str) -> bool {
        self.host.as_ref().is_none_or(|h| h.matches(host))
    }

    /// Whether the route's loose path matches `loose`, a loose reading of a request path.
    fn covers_loosely(&self, loose: &str) -> bool {
        match &self.path {
            PathMatch::Exact(_) => self.loose_path == loose,
            PathMatch::Prefix(_) => canon::path::prefix_covers(&self.loose_path, loose, false),
        }
    }
}

impl PathMatch {
    /// Whether this match takes `path` (canonical): `Exact` the path itself, `Prefix` the path
    /// and everything under it on segment boundaries.
    pub fn covers(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => canon::path::prefix_covers(p, path, false),
        }
    }
}

/// The headers no client request keeps: identity and rule headers, and proxy headers.
fn strip_set<'a>(rules: impl IntoIterator<Item = &'a HeaderRule>) -> HashSet<http::HeaderName> {
    super::identity::stripped_header_names(rules)
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
        required: matches!(auth, ClientAuth::Required(_)),
        optional: matches!(auth, ClientAuth::Optional(_)),
        exclusion_paths,
        routes,
        redirect_https_port: s.redirect_https_port,
        refusal: s.refusal.clone(),
    })
}

fn server_config(
    tls: &ServerTls,
    protocol: Protocol,
    provider: &Arc<CryptoProvider>,
) -> Result<ServerParts, rustls::Error> {
    let provider = Arc::new(policy_provider(&tls.policy, provider)?);
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.policy.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let verifier = Arc::new(ClientAuthVerifier::new(
        &tls.client_auth,
        protocol == Protocol::Tls,
        &provider,
    )?);
    let stapled = Arc::new(StapledCert::new(tls.certificate.certified_key(&provider)?));
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier.clone())
        .with_cert_resolver(stapled.clone());
    if protocol == Protocol::Https {
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    cfg.ticketer = ticketer()?;
    // The server's order decides (a Custom policy's `cipherSuites` are a preference order, as
    // in Application Gateway); see `policy_provider` for the default order.
    cfg.ignore_client_order = true;
    Ok((Arc::new(cfg), verifier, stapled))
}

fn aes_128(suite: &rustls::SupportedCipherSuite) -> bool {
    suite
        .suite()
        .as_str()
        .is_some_and(|name| name.contains("_AES_128_"))
}

/// The process's session-ticket keys, shared by every Listener and snapshot so that a reload
/// does not end resumption. Resumption is safe under mutual TLS here: rustls resumes only for
/// the same SNI, and every connection, resumed or not, has its restored client certificate
/// judged again (chain, issuer DN, revocation) by the Listener's current verifier after the
/// handshake. The keys live in memory only and rotate every 6 hours (rustls'
/// `TicketRotator`), so a stolen ticket key stops decrypting old sessions' tickets soon.
/// rustls' default, a 256-entry server-side session cache, resumes only a fraction of
/// sessions at a few thousand handshakes per second.
fn ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, rustls::Error> {
    static TICKETER: std::sync::OnceLock<Arc<dyn rustls::server::ProducesTickets>> =
        std::sync::OnceLock::new();
    if let Some(t) = TICKETER.get() {
        return Ok(t.clone());
    }
    let t = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    Ok(TICKETER.get_or_init(|| t).clone())
}

/// What a server's TLS compiles to: the rustls config, its client verifier, its certificate.
type ServerParts = (Arc<ServerConfig>, Arc<ClientAuthVerifier>, Arc<StapledCert>);

/// The provider restricted to the policy's cipher suites, in the policy's order. With none
/// named: all of aws-lc-rs's (every one of them is forward-secret AEAD), AES-128-GCM first for
/// each version, then AES-256-GCM, then ChaCha20-Poly1305 — Mozilla's recommended order.
/// AES-128 is as safe for TLS and cheaper: its SHA-256 key schedule runs on the CPU's SHA
/// instructions where SHA-384's does not (about a tenth of a full handshake's CPU time).
fn policy_provider(
    policy: &SslPolicy,
    base: &Arc<CryptoProvider>,
) -> Result<CryptoProvider, rustls::Error> {
    let mut provider = (**base).clone();
    if policy.cipher_suites.is_empty() {
        provider
            .cipher_suites
            .sort_by_key(|s| (s.version() != &rustls::version::TLS13, !aes_128(s)));
    } else {
        provider.cipher_suites = policy
            .cipher_suites
            .iter()
            .map(|name| {
                crate::crypto::cipher_suite(name).ok_or_else(|| {
                    rustls::Error::General(format!("cipher suite {name} is not supported"))
                })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, BackendProtocol};

    /// A server with `routes` (path, whether it requires a certificate), in order, and
    /// `exclusions`.
    fn server(routes: &[(PathMatch, bool)], exclusions: &[&str]) -> CompiledServer {
        let backend = Arc::new(
            BackendPool::new(
                &Backend {
                    name: "default/echo:80".into(),
                    endpoints: Vec::new(),
                    protocol: BackendProtocol::Http,
                    host_override: None,
                    request_timeout_ms: 1000,
                },
                &Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            )
            .expect("backend"),
        );
        let routes: Vec<CompiledRoute> = routes
            .iter()
            .map(|(path, require)| CompiledRoute {
                host: None,
                loose_path: canon::path::loosen(match path {
                    PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
                }),
                path: path.clone(),
                backend: backend.clone(),
                presets: Vec::new(),
                headers: Vec::new(),
                require_client_certificate: *require,
            })
            .collect();
        CompiledServer {
            name: "default/site".into(),
            hostnames: Vec::new(),
            tls: None,
            verifier: None,
            stapled: None,
            required: !exclusions.is_empty(),
            optional: exclusions.is_empty(),
            exclusion_paths: exclusions
                .iter()
                .map(|p| ((*p).to_owned(), canon::path::loosen(p)))
                .collect(),
            any_route_requires_certificate: routes.iter().any(|r| r.require_client_certificate),
            routes,
            redirect_https_port: None,
            refusal: None,
        }
    }

    fn prefix(p: &str) -> PathMatch {
        PathMatch::Prefix(p.into())
    }

    #[test]
    fn the_requirement_holds_on_every_reading_of_a_path() {
        let s = server(
            &[
                (prefix("/admin/public"), false),
                (prefix("/admin"), true),
                (PathMatch::Exact("/exact/secret.txt".into()), true),
                (prefix("/"), false),
            ],
            &[],
        );
        for (path, required) in [
            ("/admin", true),
            ("/admin/x", true),
            ("/ADMIN/x", true),
            ("/admin;v=1/x", true),
            ("/admin./x", true),
            ("/Exact/Secret.txt", true),
            ("/exact/secret.txt/", true),
            ("/exact/secret.txt;x", true),
            // A more specific open rule before it stays open, in every reading.
            ("/admin/public/x", false),
            ("/Admin/Public/x", false),
            ("/administrator", false),
            ("/exact/secret.txt2", false),
            ("/exact", false),
            ("/", false),
        ] {
            assert_eq!(s.requires_certificate("a.test", path), required, "{path}");
        }
    }

    #[test]
    fn rules_a_loose_reader_cannot_tell_apart_are_judged_together() {
        // `/API` open and `/api` protected are one path to a backend that folds case.
        let s = server(&[(prefix("/API"), false), (prefix("/api"), true)], &[]);
        assert!(s.requires_certificate("a.test", "/API/x"));
        let s = server(&[(prefix("/x"), false)], &[]);
        assert!(!s.requires_certificate("a.test", "/X"));
    }

    #[test]
    fn exclusions_excuse_only_what_they_name() {
        let s = server(&[(prefix("/"), false)], &["/public"]);
        for (path, excluded) in [
            ("/public", true),
            ("/public/", true),
            ("/public/x", true),
            ("/PUBLIC/x", false),
            ("/public/x;y", true),
            ("/publicity", false),
            ("/public-admin/x", false),
            ("/public;x/y", false),
            ("/public./y", false),
            ("/admin", false),
        ] {
            assert_eq!(s.is_excluded(path), excluded, "{path}");
        }
    }
}
