//! One canonical reading of a request: the path, the host and the header names every decision
//! is made on, and exactly what the backend then receives.
//!
//! A gateway is only as strict as the difference between how it reads a request and how the
//! backend reads it. Backends normalise paths (dot segments, `%2e`, `//`), fold case, strip
//! `;parameters`, map `_` in header names to `-`, take the absolute-form authority as the host.
//! So the gateway reads each request once, in one unambiguous form, refuses what it could only
//! read by guessing, forwards that form, and where a backend may still read a path more loosely
//! (case, parameters, a trailing slash) judges the certificate requirement on every such
//! reading ([`path::loosen`]).
//!
//! Pure functions only: no I/O, no clock. The proxy calls them per request; the translation
//! calls them to refuse configured paths that no canonical request could match.

pub mod header;
pub mod host;
pub mod path;

pub use host::{Authority, HostError};
pub use path::{PathError, canonical_path};
