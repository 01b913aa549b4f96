//! A snapshot compiled for serving: rustls configs built, verifiers and backend pools ready.
//! Compiling is where a snapshot that cannot be served is caught, before it is published.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

use super::backend::BackendPool;
use super::client_auth::ClientAuthVerifier;
use super::stapling::StapledCert;
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
    /// Identity headers removed from every client request (strip before set).
    pub identity_headers: Vec<http::HeaderName>,
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
    /// Lowercase path prefixes that need no certificate.
    pub exclusion_paths: Vec<String>,
    /// Routes in order.
    pub routes: Vec<CompiledRoute>,
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
            identity_headers: super::identity::identity_header_names([]),
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
            identity_headers: super::identity::identity_header_names(rules),
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
    /// Whether `path` needs no client certificate.
    pub fn is_excluded(&self, path: &str) -> bool {
        if self.exclusion_paths.is_empty() {
            return false;
        }
        let lower = path.to_ascii_lowercase();
        self.exclusion_paths
            .iter()
            .any(|p| lower.starts_with(p.as_str()))
    }

    /// The first route for `host` and `path`.
    pub fn route(&self, host: &str, path: &str) -> Option<&CompiledRoute> {
        self.routes.iter().find(|r| {
            r.host.as_ref().is_none_or(|h| h.matches(host))
                && match &r.path {
                    PathMatch::Exact(p) => path == p,
                    PathMatch::Prefix(p) => {
                        p == "/"
                            || path == p
                            || (path.starts_with(p.as_str())
                                && (p.ends_with('/')
                                    || path.as_bytes().get(p.len()) == Some(&b'/')))
                    }
                }
        })
    }
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
        ClientAuth::Required(v) => v.exclusion_paths.clone(),
        _ => Vec::new(),
    };
    let routes = s
        .routes
        .iter()
        .map(|r| {
            Ok(CompiledRoute {
                host: r.host.clone(),
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
        .collect::<Result<_, CompileError>>()?;
    Ok(CompiledServer {
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
