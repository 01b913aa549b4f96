//! The Portcullis control plane: the custom resources ([`api`]), the one pure translation from
//! them to a dataplane snapshot ([`translate`]), reading manifests from files ([`manifests`]),
//! and the `portcullis` command line ([`cli`]).

pub mod api;
pub mod cli;
pub mod manifests;
pub mod runtime;
pub mod translate;
