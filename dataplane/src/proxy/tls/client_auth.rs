//! The handshake side of client-certificate authentication: the rustls verifier of one virtual
//! server.
//!
//! On HTTPS listeners the handshake never fails for a bad or missing client certificate: the
//! client gets an HTTP 400 whose body names the reason, as Application Gateway answers, and
//! exclusion paths can be served without one (no renegotiation). The handshake still proves
//! possession of the presented certificate's key (rustls always checks CertificateVerify). The
//! chain is judged once per connection, after the handshake, into a [`Verdict`] (see
//! [`super::chain`]).
//!
//! On TLS listeners (TCP proxy) there is no HTTP to answer with, so Required and Optional
//! refuse in the handshake.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::chain::{ChainCheck, RevocationCheck, chain_check};
use crate::config::ClientAuth;
use crate::pki::CertificateInfo;
use crate::proxy::verdict::{MAX_PRESENTED_CERTIFICATES, Reason, Verdict};

/// The rustls verifier of one virtual server, and the judge of its connections.
#[derive(Debug)]
pub struct ClientAuthVerifier {
    pub(super) mode: Mode,
    pub(super) chain: Option<ChainCheck>,
    /// Refuse bad certificates during the handshake (TLS listeners).
    refuse_in_handshake: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Off,
    Required,
    Optional,
    Passthrough,
    /// Requested and judged; only the HTTP layer's gate differs from Optional.
    OptionalNoCa,
}

impl ClientAuthVerifier {
    /// Builds the verifier for a virtual server's client authentication.
    pub fn new(
        auth: &ClientAuth,
        refuse_in_handshake: bool,
        provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, rustls::Error> {
        let (mode, verification) = match auth {
            ClientAuth::Off => (Mode::Off, None),
            ClientAuth::Required(v) => (Mode::Required, Some(v)),
            ClientAuth::Optional(v) => (Mode::Optional, Some(v)),
            ClientAuth::Passthrough(v) => (Mode::Passthrough, v.as_ref()),
            ClientAuth::OptionalNoCa(v) => (Mode::OptionalNoCa, Some(v)),
        };
        let chain = verification.map(|v| chain_check(v, provider)).transpose()?;
        Ok(Self {
            mode,
            chain,
            refuse_in_handshake,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// How many signatures of the bundles' CA certificates are remembered as verified, so
    /// that handshakes do not verify them again (see [`super::x509`]).
    pub fn remembered_signatures(&self) -> usize {
        self.chain
            .as_ref()
            .map_or(0, |c| c.judge.remembered_signatures())
    }

    /// The trusted CAs (all bundles).
    pub fn trusted_cas(&self) -> &[CertificateInfo] {
        self.chain.as_ref().map_or(&[], |c| c.cas.as_slice())
    }

    /// The loaded CRLs.
    pub fn crls(&self) -> Vec<&crate::pki::RevocationList> {
        match self.chain.as_ref().map(|c| &c.revocation) {
            Some(RevocationCheck::Crl { index, .. }) => index.lists().collect(),
            _ => Vec::new(),
        }
    }

    fn check(
        &self,
        leaf: &CertificateDer<'_>,
        sent: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Verdict {
        self.check_leaf(leaf, sent, now).0
    }
}

impl ClientCertVerifier for ClientAuthVerifier {
    fn offer_client_auth(&self) -> bool {
        self.mode != Mode::Off
    }

    fn client_auth_mandatory(&self) -> bool {
        self.refuse_in_handshake && self.mode == Mode::Required
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.as_ref().map_or(&[], |c| &c.hints)
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if intermediates.len() >= MAX_PRESENTED_CERTIFICATES {
            // Refused in the handshake whatever the mode: an absurd chain earns no 400 page,
            // and no session ticket that would carry the whole chain back to the client.
            return Err(Reason::ChainTooLong.to_rustls());
        }
        let refuse =
            self.refuse_in_handshake && matches!(self.mode, Mode::Required | Mode::Optional);
        if refuse && let Verdict::Failed(reason) = self.check(end_entity, intermediates, now) {
            return Err(reason.to_rustls());
        }
        // Otherwise the chain is judged after the handshake; the signature over the handshake
        // (proof of key possession) is still checked below.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
