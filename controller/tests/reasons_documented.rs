//! Every reason a user can meet — in a status condition, a Warning Event, `portcullis
//! validate`, an HTTP 400 body, the access log or a metric label — is explained in
//! docs/troubleshooting.md. The reasons come from the typed catalogues' `ALL` lists, not from
//! reading source files.

use std::collections::BTreeSet;

use controller::runtime::status::ProgrammedReason;
use controller::translate::Reason;
use dataplane::canon::host::HostError;
use dataplane::canon::path::PathError;
use dataplane::config::ServerCertError;
use dataplane::pki::crl::CrlError;
use dataplane::pki::trust_bundle::{BundleError, BundleWarning};
use dataplane::proxy::listen::{Closure, HandshakeFailure};
use dataplane::proxy::verdict::{self, Unknown};

/// Every reason of every catalogue.
fn catalogue() -> BTreeSet<&'static str> {
    let mut all: BTreeSet<&'static str> = BTreeSet::new();
    all.extend(Reason::ALL.map(Reason::as_str));
    all.extend(BundleError::ALL.iter().map(BundleError::reason));
    all.extend(BundleWarning::ALL.iter().map(BundleWarning::reason));
    all.extend(CrlError::ALL.iter().map(CrlError::reason));
    all.extend(ServerCertError::ALL.iter().map(ServerCertError::reason));
    all.extend(verdict::Reason::ALL.map(verdict::Reason::label));
    all.extend(Unknown::ALL.map(Unknown::label));
    all.extend(PathError::ALL.map(PathError::label));
    all.extend(HostError::ALL.map(HostError::label));
    all.extend(HandshakeFailure::ALL.map(HandshakeFailure::label));
    all.extend(Closure::ALL.map(Closure::label));
    all.extend(ProgrammedReason::ALL.map(ProgrammedReason::as_str));
    all
}

#[test]
fn troubleshooting_explains_every_reason() {
    let reasons = catalogue();
    // The catalogue is whole: a sample from each source.
    for must in [
        "LeafCertificateOnly",
        "SecretNotFound",
        "UnknownCA",
        "OCSPUnreachable",
        "EncodedSlash",
        "DuplicateHost",
        "UnknownServerName",
        "IdleTimeout",
        "NoDataplanes",
        "ServerKeyMismatch",
        "CRLSignatureInvalid",
    ] {
        assert!(reasons.contains(must), "catalogue misses {must}");
    }
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/troubleshooting.md"),
    )
    .expect("docs/troubleshooting.md");
    let missing: Vec<&str> = reasons
        .iter()
        .copied()
        .filter(|r| !doc.contains(&format!("`{r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md does not explain {missing:?}"
    );
}
