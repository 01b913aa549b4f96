//! Choosing within a compiled snapshot: the virtual server for a name, the route for a host
//! and path, whether a path is excluded from the certificate requirement, and whether a verdict
//! lets a request through. Pure functions of the compiled configuration.

use std::sync::Arc;

use super::{CertGate, CompiledPort, CompiledRoute, CompiledServer};
use crate::canon;
use crate::config::PathMatch;
use crate::proxy::verdict::{Reason, Unknown, Untrusted, Verdict};

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
    /// Why a request with this verdict is refused under the server's gate, outside exclusion
    /// paths: a refused certificate under Optional or Required, a missing one under Required,
    /// and under OptionalNoCa a refused one but for an untrusted issuer (nginx lets exactly
    /// those through: `ngx_ssl_verify_error_optional`). With CRLs, nginx (OpenSSL with
    /// `CRL_CHECK_ALL`) finds none for an untrusted chain's CAs and its last error is that,
    /// unless the client sent its certificate alone (OpenSSL then ends on "unable to verify
    /// the first certificate"): those are refused as nginx refuses them.
    pub fn refusal_of(&self, verdict: &Verdict) -> Option<Reason> {
        match (verdict, self.gate) {
            (Verdict::Failed(Reason::UnknownCa(u)), CertGate::OptionalNoCa { crl }) => {
                (crl && *u != Untrusted::Leaf).then_some(Reason::RevocationUnknown(Unknown::NoCrl))
            }
            (
                Verdict::Failed(r),
                CertGate::Optional | CertGate::Required | CertGate::OptionalNoCa { .. },
            ) => Some(*r),
            (Verdict::None, CertGate::Required) => Some(Reason::NoCertificate),
            _ => None,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, BackendProtocol};
    use crate::proxy::backend::BackendPool;
    use crate::proxy::compiled::CertGate;
    use crate::proxy::verdict::{Reason, Verdict};

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
            gate: if exclusions.is_empty() {
                CertGate::Optional
            } else {
                CertGate::Required
            },
            exclusion_paths: exclusions
                .iter()
                .map(|p| ((*p).to_owned(), canon::path::loosen(p)))
                .collect(),
            any_route_requires_certificate: routes.iter().any(|r| r.require_client_certificate),
            routes,
            redirect_https_port: None,
            subject_pattern: None,
            certificate_error_page: None,
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

    #[test]
    fn the_gate_refuses_by_mode() {
        let failed = Verdict::Failed(Reason::Expired);
        let unknown = Verdict::SuccessRevocationUnknown(crate::proxy::verdict::Unknown::NoCrl);
        let mut s = server(&[(prefix("/"), false)], &[]);
        let (no_ca, no_ca_crl) = (
            CertGate::OptionalNoCa { crl: false },
            CertGate::OptionalNoCa { crl: true },
        );
        let untrusted = |u| Verdict::Failed(Reason::UnknownCa(u));
        let no_crl = Reason::RevocationUnknown(crate::proxy::verdict::Unknown::NoCrl);
        for (gate, verdict, refused) in [
            (
                CertGate::Required,
                &Verdict::None,
                Some(Reason::NoCertificate),
            ),
            (CertGate::Required, &failed, Some(Reason::Expired)),
            (CertGate::Required, &Verdict::Success, None),
            (CertGate::Required, &unknown, None),
            (CertGate::Optional, &Verdict::None, None),
            (CertGate::Optional, &failed, Some(Reason::Expired)),
            (CertGate::Open, &failed, None),
            (CertGate::Open, &Verdict::None, None),
            // nginx's optional_no_ca: an untrusted issuer passes, every other failure not;
            // with CRLs, only a certificate sent alone.
            (no_ca, &Verdict::None, None),
            (no_ca, &failed, Some(Reason::Expired)),
            (no_ca, &untrusted(Untrusted::Leaf), None),
            (no_ca, &untrusted(Untrusted::SelfSigned), None),
            (no_ca, &untrusted(Untrusted::Issuer), None),
            (no_ca_crl, &untrusted(Untrusted::Leaf), None),
            (
                no_ca_crl,
                &untrusted(Untrusted::SelfSignedInChain),
                Some(no_crl),
            ),
            (no_ca_crl, &untrusted(Untrusted::Issuer), Some(no_crl)),
            (
                no_ca,
                &Verdict::Failed(Reason::ChainTooLong),
                Some(Reason::ChainTooLong),
            ),
        ] {
            s.gate = gate;
            assert_eq!(s.refusal_of(verdict), refused, "{gate:?} {verdict:?}");
        }
    }

    #[test]
    fn routes_match_in_order_on_segment_boundaries() {
        let s = server(
            &[
                (PathMatch::Exact("/api".into()), false),
                (prefix("/api/v1"), false),
                (prefix("/"), false),
            ],
            &[],
        );
        let index = |path: &str| {
            let r = s.route("a.test", path).expect("route");
            s.routes.iter().position(|x| std::ptr::eq(x, r))
        };
        assert_eq!(index("/api"), Some(0));
        assert_eq!(index("/api/v1"), Some(1));
        assert_eq!(index("/api/v1/x"), Some(1));
        assert_eq!(index("/api/v10"), Some(2));
        assert_eq!(
            index("/api/"),
            Some(2),
            "Exact does not take a trailing slash"
        );
        let hosted = server(&[(prefix("/"), false)], &[]);
        let mut hosted = hosted;
        hosted.routes[0].host = Some(crate::config::Hostname::parse("b.test").expect("host"));
        assert!(hosted.route("a.test", "/").is_none());
        assert!(hosted.route("b.test", "/").is_some());
    }

    #[test]
    fn a_name_selects_the_exact_server_before_a_wildcard_before_the_catch_all() {
        let named = |name: &str, hosts: &[&str]| {
            let mut s = server(&[(prefix("/"), false)], &[]);
            s.name = name.into();
            s.hostnames = hosts
                .iter()
                .map(|h| crate::config::Hostname::parse(h).expect("hostname"))
                .collect();
            Arc::new(s)
        };
        let port = CompiledPort {
            port: 443,
            protocol: crate::config::Protocol::Https,
            servers: vec![
                named("wild", &["*.example.com"]),
                named("exact", &["api.example.com"]),
                named("any", &[]),
            ],
        };
        let pick = |host: Option<&str>| port.select(host).map(|s| s.name.as_str());
        assert_eq!(pick(Some("api.example.com")), Some("exact"));
        assert_eq!(pick(Some("www.example.com")), Some("wild"));
        assert_eq!(pick(Some("a.b.example.com")), Some("any"), "one label only");
        assert_eq!(pick(Some("example.com")), Some("any"));
        assert_eq!(pick(None), Some("any"));
        let no_catch_all = CompiledPort {
            servers: port.servers[..2].to_vec(),
            ..port
        };
        assert_eq!(
            no_catch_all
                .select(Some("other.test"))
                .map(|s| s.name.as_str()),
            None
        );
    }
}
