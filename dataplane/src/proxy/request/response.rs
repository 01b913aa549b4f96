//! The gateway's own answers: one line of plain text naming the status and the reason.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::proxy::backend::Body;
use crate::proxy::compiled::CompiledServer;
use crate::proxy::verdict::Reason;

/// An answer of the gateway's own, decided by a step of the pipeline.
pub(super) enum Answer {
    /// A status and its one line.
    Text(StatusCode, &'static str),
    /// 400 for a missing or refused client certificate.
    CertificateRefused(Reason),
    /// 302 to the server's certificate error page, for a missing or refused certificate.
    CertificateErrorPage(HeaderValue),
}

impl Answer {
    /// The answer to a certificate refused for `reason` on `server`: its error page if it
    /// has one (as nginx's `error_page 495 496 = URL` redirects), else 400.
    pub(super) fn certificate(server: &CompiledServer, reason: Reason) -> Self {
        match &server.certificate_error_page {
            Some(page) => Self::CertificateErrorPage(page.clone()),
            None => Self::CertificateRefused(reason),
        }
    }

    pub(super) fn response(self) -> Response<Body> {
        match self {
            Self::Text(status, line) => text(status, line),
            Self::CertificateRefused(reason) => certificate_refused(reason),
            Self::CertificateErrorPage(location) => {
                let mut resp = text(StatusCode::FOUND, "302 Found: client certificate refused");
                resp.headers_mut().insert(header::LOCATION, location);
                resp
            }
        }
    }
}

/// The answer to a client whose certificate is missing or refused: 400, as Application
/// Gateway answers, with the reason in OpenSSL's words.
fn certificate_refused(reason: Reason) -> Response<Body> {
    text(
        StatusCode::BAD_REQUEST,
        &format!(
            "400 Bad Request: client certificate refused: {}",
            reason.description()
        ),
    )
}

/// A one-line plain-text answer from the gateway itself.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(format!("{body}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
