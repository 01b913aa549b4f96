//! Typed test fixtures for translation: objects built in memory with a few fluent calls, as a
//! user would write them, then translated — no YAML, no files.
//!
//! `World::new().ca("partner-ca", &root).profile(profile("partner").required().trusting("partner-ca"))`

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use portcullis_tests::pki::{Ca, Leaf};

use super::{Inputs, Translation, translate};
use crate::api::{
    BackendRef, ClientAuthConfiguration, ClientAuthMode, ExclusionPath, Listener, ListenerProtocol,
    ListenerSpec, PathMatchSpec, PathMatchType, RouteMatch, RoutingRule, SecretRef, SslProfile,
    SslProfileRef, SslProfileSpec,
};

const NAMESPACE: &str = "default";

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(NAMESPACE.into()),
        ..ObjectMeta::default()
    }
}

/// Everything translation reads, built up object by object.
#[derive(Default)]
pub(crate) struct World {
    inputs: Inputs,
}

impl World {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A CA Secret (`ca.crt`) holding `ca`'s certificate.
    pub(crate) fn ca(self, name: &str, ca: &Ca) -> Self {
        self.secret(name, None, &[("ca.crt", ca.pem().into_bytes())])
    }

    /// A `kubernetes.io/tls` Secret with `leaf` and its key.
    pub(crate) fn tls(self, name: &str, leaf: &Leaf) -> Self {
        let files = [
            ("tls.crt", leaf.pem().into_bytes()),
            ("tls.key", leaf.key_pem().as_bytes().to_vec()),
        ];
        self.secret(name, Some("kubernetes.io/tls"), &files)
    }

    fn secret(mut self, name: &str, kind: Option<&str>, files: &[(&str, Vec<u8>)]) -> Self {
        let data: BTreeMap<String, ByteString> = files
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.clone())))
            .collect();
        self.inputs.secrets.push(Secret {
            metadata: meta(name),
            type_: kind.map(str::to_owned),
            data: Some(data),
            ..Secret::default()
        });
        self
    }

    /// A Service on port 80 with one ready endpoint.
    pub(crate) fn service(mut self, name: &str) -> Self {
        self.inputs.services.push(Service {
            metadata: meta(name),
            spec: Some(ServiceSpec {
                ports: Some(vec![ServicePort {
                    port: 80,
                    target_port: Some(IntOrString::Int(8080)),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        });
        let mut slice_meta = meta(&format!("{name}-1"));
        slice_meta.labels = Some(BTreeMap::from([(
            "kubernetes.io/service-name".to_owned(),
            name.to_owned(),
        )]));
        self.inputs.endpoint_slices.push(EndpointSlice {
            metadata: slice_meta,
            address_type: "IPv4".into(),
            endpoints: vec![Endpoint {
                addresses: vec!["10.0.0.7".into()],
                conditions: Some(EndpointConditions {
                    ready: Some(true),
                    ..EndpointConditions::default()
                }),
                ..Endpoint::default()
            }],
            ports: Some(vec![EndpointPort {
                port: Some(8080),
                protocol: Some("TCP".into()),
                ..EndpointPort::default()
            }]),
        });
        self
    }

    pub(crate) fn profile(mut self, p: ProfileFixture) -> Self {
        self.inputs.ssl_profiles.push(p.0);
        self
    }

    pub(crate) fn listener(mut self, l: ListenerFixture) -> Self {
        self.inputs.listeners.push(l.0);
        self
    }

    /// Any object translation reads, as the JSON a user would write (Ingresses, IngressClasses).
    pub(crate) fn ingress(mut self, doc: serde_json::Value) -> Self {
        match doc["kind"].as_str() {
            Some("IngressClass") => self
                .inputs
                .ingress_classes
                .push(serde_json::from_value(doc).expect("IngressClass")),
            _ => self
                .inputs
                .ingresses
                .push(serde_json::from_value(doc).expect("Ingress")),
        }
        self
    }

    /// The inputs, to adjust what the fluent calls do not say.
    pub(crate) fn inputs_mut(&mut self) -> &mut Inputs {
        &mut self.inputs
    }

    /// Translates the world at a fixed time.
    pub(crate) fn translate(&self) -> Translation {
        translate(&self.inputs, jiff::Timestamp::now())
    }
}

/// An SslProfile under construction: mode Required, nothing trusted yet.
pub(crate) struct ProfileFixture(SslProfile);

pub(crate) fn profile(name: &str) -> ProfileFixture {
    let mut p = SslProfile::new(
        name,
        SslProfileSpec {
            ssl_policy: None,
            client_auth_configuration: Some(ClientAuthConfiguration::default()),
        },
    );
    p.metadata.namespace = Some(NAMESPACE.into());
    ProfileFixture(p)
}

impl ProfileFixture {
    fn auth(&mut self) -> &mut ClientAuthConfiguration {
        self.0
            .spec
            .client_auth_configuration
            .get_or_insert_with(ClientAuthConfiguration::default)
    }

    pub(crate) fn mode(mut self, mode: ClientAuthMode) -> Self {
        self.auth().mode = mode;
        self
    }

    /// Trusts the CA Secret `secret`.
    pub(crate) fn trusting(mut self, secret: &str) -> Self {
        self.auth().trusted_client_certificates.push(SecretRef {
            name: secret.into(),
            namespace: None,
        });
        self
    }

    pub(crate) fn excluding(mut self, path: &str) -> Self {
        self.auth().exclusion_paths.push(ExclusionPath(path.into()));
        self
    }
}

/// A Listener under construction: HTTPS on 443 for `api.example.com`, one rule to `echo`.
pub(crate) struct ListenerFixture(Listener);

pub(crate) fn listener(name: &str) -> ListenerFixture {
    let mut l = Listener::new(
        name,
        ListenerSpec {
            protocol: ListenerProtocol::Https,
            port: 443,
            hostnames: vec!["api.example.com".into()],
            ssl_certificate: Some(SecretRef {
                name: "server-tls".into(),
                namespace: None,
            }),
            ssl_profile: None,
            redirect_to_https_port: None,
            rules: vec![RoutingRule {
                backend: BackendRef {
                    service: "echo".into(),
                    port: 80,
                },
                ..RoutingRule::default()
            }],
        },
    );
    l.metadata.namespace = Some(NAMESPACE.into());
    ListenerFixture(l)
}

impl ListenerFixture {
    pub(crate) fn port(mut self, port: i32) -> Self {
        self.0.spec.port = port;
        self
    }

    /// Plain HTTP: no server certificate, no profile.
    pub(crate) fn plain(mut self) -> Self {
        self.0.spec.protocol = ListenerProtocol::Http;
        self.0.spec.ssl_certificate = None;
        self.0.spec.ssl_profile = None;
        self
    }

    pub(crate) fn hostnames(mut self, hosts: &[&str]) -> Self {
        self.0.spec.hostnames = hosts.iter().map(|h| (*h).to_owned()).collect();
        self
    }

    pub(crate) fn with_profile(mut self, name: &str) -> Self {
        self.0.spec.ssl_profile = Some(SslProfileRef {
            name: name.into(),
            namespace: None,
        });
        self
    }

    /// Puts a rule for `path` (a prefix) first, to `echo`.
    pub(crate) fn prefix_rule(mut self, path: &str, require_certificate: bool) -> Self {
        let rule = RoutingRule {
            matches: vec![RouteMatch {
                host: None,
                path: Some(PathMatchSpec {
                    kind: PathMatchType::PathPrefix,
                    value: path.into(),
                }),
            }],
            backend: BackendRef {
                service: "echo".into(),
                port: 80,
            },
            require_client_certificate: require_certificate,
            ..RoutingRule::default()
        };
        self.0.spec.rules.insert(0, rule);
        self
    }
}
