//! TLS of the gateway's own side: each virtual server's rustls configuration (versions, cipher
//! suites in the policy's order, session tickets, ALPN), its client-certificate verifier
//! ([`client_auth`]) and the verdict after the handshake ([`chain`]) with webpki as the one
//! X.509 judge ([`x509`]), and the stapled server certificate ([`stapling`]).

pub(crate) mod chain;
pub(crate) mod client_auth;
pub(crate) mod stapling;
pub(crate) mod x509;

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use tokio::net::TcpStream;

use crate::config::{Protocol, ServerTls, SslPolicy, TlsVersion};
pub use client_auth::ClientAuthVerifier;
use stapling::StapledCert;

/// The rustls configuration of one virtual server's TLS, with its client verifier and its
/// (stapled) certificate.
pub(crate) fn server_config(
    tls: &ServerTls,
    protocol: Protocol,
    provider: &Arc<CryptoProvider>,
) -> Result<ServerParts, rustls::Error> {
    let provider = Arc::new(policy_provider(&tls.policy, provider)?);
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.policy.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let verifier = Arc::new(ClientAuthVerifier::new(
        &tls.client_auth,
        protocol == Protocol::Tls,
        &provider,
    )?);
    let stapled = Arc::new(StapledCert::new(tls.certificate.certified_key(&provider)?));
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier.clone())
        .with_cert_resolver(stapled.clone());
    if protocol == Protocol::Https {
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    cfg.ticketer = ticketer()?;
    // The server's order decides (a Custom policy's `cipherSuites` are a preference order, as
    // in Application Gateway); see `policy_provider` for the default order.
    cfg.ignore_client_order = true;
    Ok((Arc::new(cfg), verifier, stapled))
}

fn aes_128(suite: &rustls::SupportedCipherSuite) -> bool {
    suite
        .suite()
        .as_str()
        .is_some_and(|name| name.contains("_AES_128_"))
}

/// The process's session-ticket keys, shared by every Listener and snapshot so that a reload
/// does not end resumption. Resumption is safe under mutual TLS here: rustls resumes only for
/// the same SNI, and every connection, resumed or not, has its restored client certificate
/// judged again (chain, issuer DN, revocation) by the Listener's current verifier after the
/// handshake. The keys live in memory only and rotate every 6 hours (rustls'
/// `TicketRotator`), so a stolen ticket key stops decrypting old sessions' tickets soon.
/// rustls' default, a 256-entry server-side session cache, resumes only a fraction of
/// sessions at a few thousand handshakes per second.
fn ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, rustls::Error> {
    static TICKETER: std::sync::OnceLock<Arc<dyn rustls::server::ProducesTickets>> =
        std::sync::OnceLock::new();
    if let Some(t) = TICKETER.get() {
        return Ok(t.clone());
    }
    let t = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    Ok(TICKETER.get_or_init(|| t).clone())
}

/// What a server's TLS compiles to: the rustls config, its client verifier, its certificate.
pub(crate) type ServerParts = (Arc<ServerConfig>, Arc<ClientAuthVerifier>, Arc<StapledCert>);

/// The provider restricted to the policy's cipher suites, in the policy's order. With none
/// named: all of aws-lc-rs's (every one of them is forward-secret AEAD), AES-128-GCM first for
/// each version, then AES-256-GCM, then ChaCha20-Poly1305 — Mozilla's recommended order.
/// AES-128 is as safe for TLS and cheaper: its SHA-256 key schedule runs on the CPU's SHA
/// instructions where SHA-384's does not (about a tenth of a full handshake's CPU time).
fn policy_provider(
    policy: &SslPolicy,
    base: &Arc<CryptoProvider>,
) -> Result<CryptoProvider, rustls::Error> {
    let mut provider = (**base).clone();
    if policy.cipher_suites.is_empty() {
        provider
            .cipher_suites
            .sort_by_key(|s| (s.version() != &rustls::version::TLS13, !aes_128(s)));
    } else {
        provider.cipher_suites = policy
            .cipher_suites
            .iter()
            .map(|name| {
                crate::crypto::cipher_suite(name).ok_or_else(|| {
                    rustls::Error::General(format!("cipher suite {name} is not supported"))
                })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(provider)
}

/// Ends a handshake whose server name (or its absence) no listener of the port answers with
/// the fatal alert RFC 6066 names for it, `unrecognized_name`, so the client can tell why,
/// instead of a silent close. Nothing has been sent yet, so the alert is a plaintext record.
pub(crate) async fn refuse_unknown_name(start: tokio_rustls::StartHandshake<TcpStream>) {
    use tokio::io::AsyncWriteExt as _;
    /// Alert record: type 21, legacy version TLS 1.2, length 2, fatal (2), unrecognized_name
    /// (112).
    const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];
    // The handshake is never driven: the stream is only borrowed back to write the alert.
    let mut refused = start.into_stream(refusing_config());
    if let Some(io) = refused.get_mut() {
        let send = async {
            io.write_all(&UNRECOGNIZED_NAME).await?;
            io.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), send).await;
    }
}

/// A configuration that serves no certificate, to hand the refused handshake's stream back.
fn refusing_config() -> Arc<rustls::ServerConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ServerConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            #[derive(Debug)]
            struct NoCertificate;
            impl rustls::server::ResolvesServerCert for NoCertificate {
                fn resolve(
                    &self,
                    _: rustls::server::ClientHello<'_>,
                ) -> Option<Arc<rustls::sign::CertifiedKey>> {
                    None
                }
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            Arc::new(
                rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc-rs speaks rustls' default protocol versions")
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::new(NoCertificate)),
            )
        })
        .clone()
}
