//! A rule's backend: Service port → ready endpoints from EndpointSlices, and backend TLS.

use std::collections::BTreeMap;

use dataplane::config::{Backend, BackendProtocol, Der, Endpoint};
use dataplane::pki::pem;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::Reason;
use super::diagnostic::Reporter;
use super::inputs::{Key, secret_value};
use crate::api::{self, RoutingRule};

/// Default time allowed for a backend's response.
const DEFAULT_TIMEOUT_SECONDS: i32 = 30;

/// What backend resolution reads.
pub(crate) struct BackendIndex<'a> {
    pub services: BTreeMap<Key, &'a Service>,
    pub slices: &'a [EndpointSlice],
    pub secrets: &'a BTreeMap<Key, &'a Secret>,
}

impl BackendIndex<'_> {
    /// Resolves a rule's backend; problems are reported against `fields` (the backend's,
    /// the settings'). A missing Service or port is an error but still yields a backend with
    /// no endpoints (the route answers 503) so other rules keep working.
    pub(crate) fn resolve(
        &self,
        rule: &RoutingRule,
        namespace: &str,
        fields: (&str, &str),
        report: &mut Reporter<'_>,
    ) -> Backend {
        let b = &rule.backend;
        let name = format!("{namespace}/{}:{}", b.service, b.port);
        let endpoints = self.endpoints(namespace, &b.service, b.port, fields.0, report);
        let settings = rule.backend_settings.clone().unwrap_or_default();
        let protocol = match settings.protocol {
            api::BackendProtocol::Http => BackendProtocol::Http,
            api::BackendProtocol::Https => {
                self.https(&settings, namespace, &b.service, fields.1, report)
            }
        };
        Backend {
            name,
            endpoints,
            protocol,
            host_override: settings.host_name.clone(),
            request_timeout_ms: u64::try_from(
                settings
                    .request_timeout_seconds
                    .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
                    .max(1),
            )
            .unwrap_or(30)
                * 1000,
        }
    }

    fn endpoints(
        &self,
        namespace: &str,
        service: &str,
        port: i32,
        field: &str,
        report: &mut Reporter<'_>,
    ) -> Vec<Endpoint> {
        let Some(svc) = self
            .services
            .get(&(namespace.to_owned(), service.to_owned()))
        else {
            report.unresolved(format!("{field}.service"), Reason::BackendNotFound, format!("Service {namespace}/{service} does not exist; requests for this rule get 503 until it does"));
            return Vec::new();
        };
        let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
        let Some(svc_port) = ports.and_then(|p| p.iter().find(|p| p.port == port)) else {
            report.unresolved(
                format!("{field}.port"),
                Reason::BackendPortNotFound,
                format!("Service {namespace}/{service} has no port {port}"),
            );
            return Vec::new();
        };
        let port_name = svc_port.name.clone().unwrap_or_default();
        let mut out = Vec::new();
        for slice in super::slices_of(self.slices, namespace, service) {
            let Some(target) = slice
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.clone().unwrap_or_default() == port_name)
                .and_then(|p| p.port)
            else {
                continue;
            };
            let Ok(target) = u16::try_from(target) else {
                continue;
            };
            for ep in &slice.endpoints {
                // An unset `ready` means unknown, which consumers treat as ready (API docs).
                if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                    continue;
                }
                // IPv4 and IPv6 slices carry addresses; FQDN slices carry DNS names, which
                // the dataplane resolves when it connects.
                out.extend(
                    ep.addresses
                        .iter()
                        .filter_map(|a| Endpoint::new(a, target).ok()),
                );
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            report.warn(format!("{field}.service"), Reason::NoReadyEndpoints, format!("Service {namespace}/{service} port {port} has no ready endpoints in its EndpointSlices; requests get 503 until it does"));
        }
        out
    }

    fn https(
        &self,
        settings: &api::BackendSettings,
        namespace: &str,
        service: &str,
        field: &str,
        report: &mut Reporter<'_>,
    ) -> BackendProtocol {
        let mut roots = Vec::new();
        for (i, r) in settings.trusted_root_certificates.iter().enumerate() {
            let f = format!("{field}.trustedRootCertificates[{i}]");
            let Some(secret) = super::resolve_secret(r, namespace, self.secrets, &f, report) else {
                continue;
            };
            let certs: Vec<Der> = secret_value(secret, "ca.crt")
                .and_then(|b| pem::parse(&b).ok())
                .into_iter()
                .flatten()
                .filter(|b| b.label == "CERTIFICATE")
                .map(|b| Der(b.der))
                .collect();
            if certs.is_empty() {
                report.unresolved(f, Reason::InvalidTrustedRootCertificate, format!("Secret {namespace}/{} key ca.crt holds no PEM certificate: put the backend's root CA certificate there", r.name));
            }
            roots.extend(certs);
        }
        if settings.trusted_root_certificates.is_empty() && !settings.use_well_known_ca_certificate
        {
            // The backend's certificate is always verified: there is no "skip verification".
            report.invalid(field, Reason::BackendTrustMissing, "protocol HTTPS needs trustedRootCertificates or useWellKnownCACertificate: true to verify the backend's certificate");
        }
        BackendProtocol::Https {
            trusted_roots: roots,
            well_known: settings.use_well_known_ca_certificate,
            server_name: settings
                .host_name
                .clone()
                .unwrap_or_else(|| format!("{service}.{namespace}.svc")),
        }
    }
}
