//! The Portcullis dataplane.
//!
//! This crate owns the typed model the proxy runs ([`config::Snapshot`]) and the PKI rules that
//! model is built from ([`pki`]). It never sees a Kubernetes object: the controller translates
//! custom resources into a snapshot, and this crate only accepts what parses.

pub mod admin;
pub mod canon;
pub mod config;
pub mod crypto;
pub mod pki;
pub mod proxy;
pub mod push;
pub mod time;
