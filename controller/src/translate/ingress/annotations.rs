//! ingress-nginx's annotations on one Ingress: the ones Portcullis carries out, parsed with
//! ingress-nginx's rules and defaults, and every other one under the prefix reported — as an
//! error when ignoring it would let through a request ingress-nginx refused.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::Ingress;

use super::super::Reason;
use super::super::diagnostic::Reporter;

/// The client-certificate annotations of one Ingress (`auth-tls-*`), as ingress-nginx reads
/// them. Two Ingresses of one host must agree on all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AuthTls {
    /// `auth-tls-secret`: `namespace/name` (or `name`, in the Ingress's namespace).
    pub secret: (String, String),
    /// `auth-tls-verify-client`.
    pub verify: VerifyClient,
    /// `auth-tls-verify-depth`: most intermediates (default 1, as ingress-nginx).
    pub depth: u8,
    /// `auth-tls-error-page`.
    pub error_page: Option<String>,
    /// `auth-tls-pass-certificate-to-upstream`.
    pub pass_certificate: bool,
    /// `auth-tls-match-cn`: a regular expression over the subject, starting `CN=`.
    pub match_cn: Option<String>,
}

/// `auth-tls-verify-client`: nginx's `ssl_verify_client`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum VerifyClient {
    On,
    Off,
    Optional,
    OptionalNoCa,
}

/// `backend-protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum BackendProtocol {
    #[default]
    Http,
    Https,
}

/// What the annotations of one Ingress ask for.
#[derive(Clone, Debug, Default)]
pub(super) struct Annotations {
    pub auth_tls: Option<AuthTls>,
    /// `ssl-redirect` (default true: hosts with TLS redirect plain HTTP).
    pub ssl_redirect: bool,
    /// `force-ssl-redirect`: redirect also hosts without TLS.
    pub force_ssl_redirect: bool,
    pub backend_protocol: BackendProtocol,
    /// `proxy-ssl-secret`: `namespace/name` of a Secret with the backend's CA in `ca.crt`.
    pub proxy_ssl_secret: Option<(String, String)>,
    /// `proxy-ssl-verify`.
    pub proxy_ssl_verify: bool,
    /// `proxy-ssl-name`.
    pub proxy_ssl_name: Option<String>,
}

/// The annotations this module reads, by name under the prefix.
const CARRIED_OUT: [&str; 12] = [
    "auth-tls-secret",
    "auth-tls-verify-client",
    "auth-tls-verify-depth",
    "auth-tls-error-page",
    "auth-tls-pass-certificate-to-upstream",
    "auth-tls-match-cn",
    "ssl-redirect",
    "force-ssl-redirect",
    "backend-protocol",
    "proxy-ssl-secret",
    "proxy-ssl-verify",
    "proxy-ssl-name",
];

/// Annotations that restrict who gets in. Serving an Ingress without them would admit clients
/// ingress-nginx refused, so the Ingress is refused instead (as is any other `auth-*` name,
/// a misspelt `auth-tls-secret` included).
const RESTRICTING: [&str; 7] = [
    "whitelist-source-range",
    "allowlist-source-range",
    "denylist-source-range",
    "satisfy",
    "configuration-snippet",
    "server-snippet",
    // The backend authenticated clients itself over the passed-through TLS.
    "ssl-passthrough",
];

/// Parses the annotations of `ing` under `prefix`, reporting every one it does not carry out.
pub(super) fn parse(ing: &Ingress, prefix: &str, report: &mut Reporter<'_>) -> Annotations {
    let empty = BTreeMap::new();
    let all = ing.metadata.annotations.as_ref().unwrap_or(&empty);
    let ours: BTreeMap<&str, &str> = all
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(prefix)?.strip_prefix('/')?;
            Some((name, v.as_str()))
        })
        .collect();
    let field = |name: &str| format!("metadata.annotations[{prefix}/{name}]");
    // Client-certificate annotations under another prefix (an ingress-nginx started with its
    // own --annotations-prefix) would otherwise be ignored, and the host served without them.
    for key in all.keys().filter(|k| !k.starts_with(&format!("{prefix}/"))) {
        if let Some((other, name)) = key.split_once('/')
            && name.starts_with("auth-tls-")
        {
            report.invalid(format!("metadata.annotations[{key}]"), Reason::UnsupportedSecurityAnnotation, format!("{name} under the prefix {other}, while Portcullis reads annotations under {prefix}: the Ingress is refused rather than served without client certificates; set the prefix (the chart's ingress.annotationsPrefix, --annotations-prefix) to {other}, or rename the annotation"));
        }
    }
    for name in ours.keys().filter(|n| !CARRIED_OUT.contains(n)) {
        if name.starts_with("auth-") || RESTRICTING.contains(name) {
            report.invalid(field(name), Reason::UnsupportedSecurityAnnotation, format!("{prefix}/{name} restricts or changes who gets in, and Portcullis cannot carry it out: the Ingress is refused rather than served more openly than ingress-nginx served it; remove the annotation (see docs/migration.md for what replaces it)"));
        } else {
            report.warn(
                field(name),
                Reason::AnnotationIgnored,
                format!(
                    "{prefix}/{name} is not carried out by Portcullis and has no effect here: {}",
                    meaning(name)
                ),
            );
        }
    }
    let mut out = Annotations {
        ssl_redirect: true,
        ..Annotations::default()
    };
    let mut boolean = |name: &str, default: bool, report: &mut Reporter<'_>| match ours.get(name) {
        None => default,
        Some(v) => parse_bool(v).unwrap_or_else(|| {
            report.invalid(
                field(name),
                Reason::InvalidAnnotation,
                format!("{v:?} is not a boolean (true or false)"),
            );
            default
        }),
    };
    out.ssl_redirect = boolean("ssl-redirect", true, report);
    out.force_ssl_redirect = boolean("force-ssl-redirect", false, report);
    out.proxy_ssl_verify = match ours.get("proxy-ssl-verify") {
        None | Some(&"off") => false,
        Some(&"on") => true,
        Some(v) => {
            report.invalid(
                field("proxy-ssl-verify"),
                Reason::InvalidAnnotation,
                format!("{v:?} is neither on nor off"),
            );
            false
        }
    };
    let namespace = ing.metadata.namespace.as_deref().unwrap_or("default");
    out.backend_protocol = match ours.get("backend-protocol").map(|v| v.to_ascii_uppercase()) {
        None => BackendProtocol::Http,
        Some(v) if v == "HTTP" => BackendProtocol::Http,
        Some(v) if v == "HTTPS" => BackendProtocol::Https,
        Some(v) => {
            report.invalid(field("backend-protocol"), Reason::InvalidAnnotation, format!("backend protocol {v} is not served by Portcullis (HTTP and HTTPS are); the Ingress is refused rather than speak the wrong protocol to its backends"));
            BackendProtocol::Http
        }
    };
    out.proxy_ssl_secret = ours
        .get("proxy-ssl-secret")
        .and_then(|v| secret_ref(v, namespace, &field("proxy-ssl-secret"), report));
    out.proxy_ssl_name = ours.get("proxy-ssl-name").map(|v| (*v).to_owned());
    if let Some(secret) = ours.get("auth-tls-secret") {
        let secret = secret_ref(secret, namespace, &field("auth-tls-secret"), report);
        let auth = auth_tls(&ours, &field, &mut boolean, report);
        out.auth_tls = secret.map(|secret| AuthTls { secret, ..auth });
    } else if let Some(name) = ours.keys().find(|n| n.starts_with("auth-tls-")) {
        report.invalid(field(name), Reason::InvalidAnnotation, format!("{prefix}/{name} has no effect without {prefix}/auth-tls-secret (ingress-nginx ignores it too): name the Secret with the client CA in ca.crt, or remove it"));
    }
    out
}

/// The `auth-tls-*` annotations but the Secret, with ingress-nginx's defaults.
fn auth_tls(
    ours: &BTreeMap<&str, &str>,
    field: &dyn Fn(&str) -> String,
    boolean: &mut dyn FnMut(&str, bool, &mut Reporter<'_>) -> bool,
    report: &mut Reporter<'_>,
) -> AuthTls {
    // An unknown value is read as `on`, as ingress-nginx reads it: the strictest mode.
    let verify = match ours.get("auth-tls-verify-client").copied() {
        None | Some("on") => VerifyClient::On,
        Some("off") => VerifyClient::Off,
        Some("optional") => VerifyClient::Optional,
        Some("optional_no_ca") => VerifyClient::OptionalNoCa,
        Some(v) => {
            report.warn(field("auth-tls-verify-client"), Reason::InvalidAnnotation, format!("{v:?} is not on, off, optional or optional_no_ca; read as on, as ingress-nginx reads it"));
            VerifyClient::On
        }
    };
    // 0 and an unreadable value are ingress-nginx's default, 1.
    let depth = match ours.get("auth-tls-verify-depth") {
        None => 1,
        Some(v) => match v.parse::<u8>() {
            Ok(0) => 1,
            Ok(d) => d,
            Err(_) => {
                report.warn(
                    field("auth-tls-verify-depth"),
                    Reason::InvalidAnnotation,
                    format!(
                        "{v:?} is not a depth from 1 to 255; read as 1, ingress-nginx's default"
                    ),
                );
                1
            }
        },
    };
    let error_page = ours.get("auth-tls-error-page").and_then(|v| {
        let f = field("auth-tls-error-page");
        // It becomes a Location header: visible ASCII only (a URL's other characters are
        // percent-encoded).
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
            report.invalid(f, Reason::InvalidAnnotation, format!("{v:?} is not a URL: write it with visible ASCII characters only (percent-encode the others)"));
            return None;
        }
        if v.starts_with("http://") || v.starts_with("https://") {
            return Some((*v).to_owned());
        }
        if v.starts_with('@') {
            report.warn(f, Reason::DiffersFromIngressNginx, format!("{v} names an nginx location, which an Ingress cannot define; a refused certificate is answered 400 instead"));
            return None;
        }
        if v.starts_with('/') {
            report.warn(f, Reason::DiffersFromIngressNginx, format!("{v} is a path: nginx served it in place of the error, Portcullis redirects to it (302); write an absolute https:// URL to say where"));
        }
        Some((*v).to_owned())
    });
    let pass_certificate = boolean("auth-tls-pass-certificate-to-upstream", false, report);
    let match_cn = ours.get("auth-tls-match-cn").and_then(|v| {
        let f = field("auth-tls-match-cn");
        if !v.starts_with("CN=") {
            report.invalid(
                f,
                Reason::InvalidAnnotation,
                format!("{v:?} does not start with CN= (ingress-nginx refuses it too)"),
            );
            return None;
        }
        match dataplane::config::subject_pattern(v) {
            Ok(_) => Some((*v).to_owned()),
            Err(e) => {
                report.invalid(
                    f,
                    Reason::InvalidAnnotation,
                    format!("{v:?} is not a regular expression Portcullis can use: {e}"),
                );
                None
            }
        }
    });
    AuthTls {
        secret: (String::new(), String::new()),
        verify,
        depth,
        error_page,
        pass_certificate,
        match_cn,
    }
}

/// `namespace/name` or `name` (in `namespace`); another namespace is refused.
fn secret_ref(
    value: &str,
    namespace: &str,
    field: &str,
    report: &mut Reporter<'_>,
) -> Option<(String, String)> {
    let (ns, name) = match value.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => (namespace, value),
    };
    if name.is_empty() || name.contains('/') {
        report.invalid(
            field,
            Reason::InvalidAnnotation,
            format!("{value:?} is not namespace/name of a Secret"),
        );
        return None;
    }
    if ns != namespace {
        report.unresolved(field, Reason::RefNotPermitted, format!("Secret {ns}/{name} is in another namespace than the Ingress; references must stay in namespace {namespace} (copy the Secret there, as ingress-nginx requires unless allow-cross-namespace-resources is on)"));
        return None;
    }
    Some((ns.to_owned(), name.to_owned()))
}

/// Go's `strconv.ParseBool`, which ingress-nginx reads booleans with.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// What an annotation Portcullis ignores did under ingress-nginx, for the common ones.
fn meaning(name: &str) -> &'static str {
    match name {
        "rewrite-target" | "use-regex" | "app-root" | "x-forwarded-prefix" => {
            "requests reach the backend with the path as the client sent it (canonical), not rewritten; paths are matched as prefixes or exactly, never as regular expressions"
        }
        "proxy-body-size"
        | "client-body-buffer-size"
        | "proxy-buffering"
        | "proxy-buffer-size"
        | "proxy-request-buffering" => {
            "Portcullis streams bodies and applies its own limits (docs/install.md)"
        }
        "proxy-connect-timeout" | "proxy-read-timeout" | "proxy-send-timeout" => {
            "backends get Portcullis's timeouts (30 s per response)"
        }
        "enable-cors"
        | "cors-allow-origin"
        | "cors-allow-methods"
        | "cors-allow-headers"
        | "cors-allow-credentials" => "no CORS headers are added: let the backend answer them",
        "limit-rps" | "limit-rpm" | "limit-connections" | "limit-burst-multiplier" => {
            "no per-client rate limit is applied"
        }
        "canary" | "canary-weight" | "canary-by-header" | "canary-by-cookie" => {
            "the Ingress is served as an ordinary one, not as a canary: its paths conflict with the main Ingress's and the older one keeps them"
        }
        "permanent-redirect" | "temporal-redirect" | "from-to-www-redirect" => {
            "no redirect is answered: requests reach the backend"
        }
        "upstream-vhost" => "the backend receives the client's Host",
        "affinity" | "session-cookie-name" | "load-balance" | "upstream-hash-by" => {
            "backends are chosen round-robin, without session affinity"
        }
        _ => "see docs/migration.md for the annotations Portcullis carries out",
    }
}
