//! X.509 for the gateway: PEM splitting, certificate facts, distinguished names and the
//! trust-bundle rules. Pure functions over bytes; no I/O.

pub mod cert;
pub mod crl;
pub mod der;
pub mod dn;
pub mod ocsp;
pub mod pem;
pub mod trust_bundle;

pub use cert::{CertificateInfo, Signature};
pub use crl::{CrlError, RevocationList, Revoked};
pub use dn::DistinguishedName;
pub use trust_bundle::{BundleError, BundleInspection, BundleRejected, BundleWarning, TrustBundle};
