//! Test harness for Portcullis: PKI generated at test time and helpers to run the binary.
//!
//! The library part has no dependency on the project's own crates so that their unit tests can
//! use it too; the end-to-end tests live in `tests/tests/`.

#![allow(clippy::expect_used, clippy::missing_panics_doc)]

pub mod backend;
pub mod client;
pub mod cluster;
pub mod examples;
pub mod file_backend;
pub mod gateway;
pub mod incluster;
pub mod manifests;
pub mod node;
pub mod ocsp_responder;
pub mod pki;
