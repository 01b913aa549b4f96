//! The first step of every request: its one host and its canonical target
//! ([`crate::canon`]), read before any decision; the request is rewritten to that target so
//! what is judged is what is forwarded.

use http::header::HOST;
use http::{Method, Request, Uri, Version};

use crate::canon::{Authority, HostError, PathError, canonical_path};

/// Why a request is refused before any decision (HTTP 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The path.
    #[error("{0}")]
    Path(#[from] PathError),
    /// The host.
    #[error("{0}")]
    Host(#[from] HostError),
}

impl TargetError {
    /// A stable label for metrics and the access log.
    pub fn label(self) -> &'static str {
        match self {
            Self::Path(e) => e.label(),
            Self::Host(e) => e.label(),
        }
    }
}

/// Reads the request's host and rewrites its target to the canonical path (query kept as
/// sent). `sni` stands in for the host of an HTTP/1.0 or HTTP/2 request that names none.
pub fn canonicalize<B>(req: &mut Request<B>, sni: Option<&str>) -> Result<Authority, TargetError> {
    let authority = authority(req, sni)?;
    let uri = req.uri();
    let (path, query) = (uri.path(), uri.query());
    if path == "*" && req.method() == Method::OPTIONS {
        return Ok(authority);
    }
    let canonical = canonical_path(path)?;
    // An absolute-form or HTTP/2 target becomes origin-form too: the backend connection
    // carries the host in `Host`, and only there.
    if canonical != path || uri.authority().is_some() {
        let target = match query {
            Some(q) => format!("{canonical}?{q}"),
            None => canonical.into_owned(),
        };
        *req.uri_mut() = Uri::try_from(target).map_err(|_| PathError::InvalidCharacter)?;
    }
    Ok(authority)
}

/// The one host: the target's authority (absolute form, HTTP/2 `:authority`), which replaces
/// `Host` (RFC 9112 §3.2.2); else the single `Host`; else, where the version allows a request
/// without one, the connection's server name.
fn authority<B>(req: &Request<B>, sni: Option<&str>) -> Result<Authority, HostError> {
    let mut fields = req.headers().get_all(HOST).iter();
    let field = fields.next();
    if fields.next().is_some() {
        return Err(HostError::Duplicate);
    }
    let header = || {
        field.map(|v| {
            v.to_str()
                .map_err(|_| HostError::InvalidName)
                .and_then(Authority::parse)
        })
    };
    if let Some(target) = req.uri().authority() {
        let judged = Authority::parse(target.as_str())?;
        // HTTP/2: a `host` field must name the `:authority` host (RFC 9113 §8.3.1); HTTP/1.1
        // ignores `Host` beside an absolute-form target, and the gateway replaces it.
        if req.version() == Version::HTTP_2
            && let Some(host) = header().transpose()?
            && !host.same_host(&judged)
        {
            return Err(HostError::Conflicting);
        }
        return Ok(judged);
    }
    match (header().transpose()?, req.version(), sni) {
        (Some(host), _, _) => Ok(host),
        // HTTP/1.1 without Host is malformed (RFC 9112 §3.2).
        (None, Version::HTTP_11, _) | (None, _, None) => Err(HostError::Missing),
        (None, _, Some(sni)) => Authority::from_server_name(sni),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(
        method: &str,
        target: &str,
        version: Version,
        hosts: &[&str],
    ) -> Result<(String, String), TargetError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(target)
            .version(version);
        for h in hosts {
            builder = builder.header(HOST, *h);
        }
        let mut req = builder.body(()).expect("request");
        let authority = canonicalize(&mut req, Some("sni.test"))?;
        Ok((authority.to_string(), req.uri().to_string()))
    }

    fn ok(a: &str, t: &str) -> Result<(String, String), TargetError> {
        Ok((a.to_owned(), t.to_owned()))
    }

    #[test]
    fn the_target_authority_is_the_one_host() {
        let h11 = Version::HTTP_11;
        let h2 = Version::HTTP_2;
        assert_eq!(
            read("GET", "https://open.test/x", h11, &["mtls.test"]),
            ok("open.test", "/x")
        );
        assert_eq!(
            read("GET", "/a/../b?q=%2e", h11, &["MTLS.test.:8443"]),
            ok("mtls.test:8443", "/b?q=%2e")
        );
        assert_eq!(
            read("GET", "https://open.test/", h2, &["mtls.test"]),
            Err(HostError::Conflicting.into())
        );
        assert_eq!(
            read("GET", "https://open.test/", h2, &["OPEN.test:443"]),
            ok("open.test", "/")
        );
        assert_eq!(read("GET", "/", h2, &[]), ok("sni.test", "/"));
        assert_eq!(read("GET", "/", Version::HTTP_10, &[]), ok("sni.test", "/"));
        assert_eq!(read("GET", "/", h11, &[]), Err(HostError::Missing.into()));
        assert_eq!(
            read("GET", "/", h11, &["a.test", "a.test"]),
            Err(HostError::Duplicate.into())
        );
        assert_eq!(
            read("GET", "/", h11, &["open.test:443@mtls.test"]),
            Err(HostError::Userinfo.into())
        );
        assert_eq!(
            read("GET", "https://u@open.test/", h11, &["open.test"]),
            Err(HostError::Userinfo.into())
        );
    }

    #[test]
    fn asterisk_is_for_options_only() {
        let h11 = Version::HTTP_11;
        assert_eq!(read("OPTIONS", "*", h11, &["a.test"]), ok("a.test", "*"));
        assert_eq!(
            read("GET", "*", h11, &["a.test"]),
            Err(PathError::NotAPath.into())
        );
    }
}
