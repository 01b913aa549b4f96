//! HTTPS backends: hyper-util's pooled client (HTTP/1.1 or HTTP/2 by ALPN), the backend's
//! certificate verified against the configured roots for the configured server name.

use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};

use super::Body;
use super::plain::{CONNECT_TIMEOUT, IDLE_TIMEOUT, MAX_IDLE};

/// hyper-util's pooled client for an HTTPS backend trusting `roots`, its certificate checked
/// for `server_name` (the backend is addressed by endpoint IP).
pub(super) fn tls_client(
    roots: RootCertStore,
    server_name: &str,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Client<HttpsConnector<HttpConnector>, Body>, rustls::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|e| rustls::Error::General(format!("backend server name: {e}")))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(roots, provider)?)
        .https_or_http()
        .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE)
        .build(connector))
}

fn client_config(
    roots: RootCertStore,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<ClientConfig, rustls::Error> {
    // ALPN (h2, http/1.1) is set by the connector builder from the enabled versions.
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
