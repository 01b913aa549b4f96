//! Listening: the accept loop of each port ([`accept`]), one connection from handshake to close
//! ([`connection`]), the TCP relay of TLS listeners ([`tcp`]), and what one client may hold
//! ([`limits`]). The reasons a handshake fails and a limit closes a connection are typed here.

pub(crate) mod accept;
mod connection;
pub(crate) mod limits;
mod tcp;

use crate::proxy::verdict::Reason;

/// Why a handshake did not complete: the `reason` label of `portcullis_tls_handshakes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// No ClientHello arrived in time, or it could not be read.
    ClientHello,
    /// No listener of the port answers the SNI (alert `unrecognized_name`).
    UnknownServerName,
    /// The Listener is invalid and refuses every handshake.
    ListenerRefused,
    /// The handshake did not finish within the handshake timeout.
    Timeout,
    /// A handshake message over 64 KiB.
    MessageTooLarge,
    /// A TLS listener refused the client certificate in the handshake.
    ClientCertificateRefused,
    /// The client sent more certificates than allowed.
    ChainTooLong,
    /// Anything else (protocol versions, cipher suites, a bad message).
    HandshakeFailed,
}

impl HandshakeFailure {
    /// Every reason.
    pub const ALL: [Self; 8] = [
        Self::ClientHello,
        Self::UnknownServerName,
        Self::ListenerRefused,
        Self::Timeout,
        Self::MessageTooLarge,
        Self::ClientCertificateRefused,
        Self::ChainTooLong,
        Self::HandshakeFailed,
    ];

    /// Stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::ClientHello => "ClientHello",
            Self::UnknownServerName => "UnknownServerName",
            Self::ListenerRefused => "ListenerRefused",
            Self::Timeout => "Timeout",
            Self::MessageTooLarge => "MessageTooLarge",
            Self::ClientCertificateRefused => "ClientCertificateRefused",
            Self::ChainTooLong => Reason::ChainTooLong.label(),
            Self::HandshakeFailed => "HandshakeFailed",
        }
    }

    /// The `result` label: the gateway refused, or the handshake failed.
    pub fn result(self) -> &'static str {
        match self {
            Self::UnknownServerName | Self::ListenerRefused => "refused",
            _ => "failed",
        }
    }

    /// The failure of a handshake rustls ended with `e`.
    fn of(e: &std::io::Error) -> Self {
        match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            // A handshake message over 64 KiB (a 1 MB certificate, say): rustls refuses it
            // from its length field, before reading it.
            Some(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::HandshakePayloadTooLarge,
            )) => Self::MessageTooLarge,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )) => Self::ChainTooLong,
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) => {
                Self::ClientCertificateRefused
            }
            _ if e.to_string().contains("certificate") => Self::ClientCertificateRefused,
            _ => Self::HandshakeFailed,
        }
    }
}

/// Why the gateway closed a client connection: the `limit` label of
/// `portcullis_connections_closed_by_limit_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure {
    /// `maxConnections` open already: closed at accept.
    ConnectionLimit,
    /// The request headers did not arrive within the header timeout.
    HeaderTimeout,
    /// No request and no bytes for the idle timeout.
    IdleTimeout,
    /// The request headers exceeded the size or count limit.
    HeadersTooLarge,
}

impl Closure {
    /// Every reason.
    pub const ALL: [Self; 4] = [
        Self::ConnectionLimit,
        Self::HeaderTimeout,
        Self::IdleTimeout,
        Self::HeadersTooLarge,
    ];

    /// Stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::ConnectionLimit => "ConnectionLimit",
            Self::HeaderTimeout => "HeaderTimeout",
            Self::IdleTimeout => "IdleTimeout",
            Self::HeadersTooLarge => "HeadersTooLarge",
        }
    }
}
