//! Client-certificate authentication: the handshake verifier and the per-connection verdict.
//!
//! On HTTPS listeners the handshake never fails for a bad or missing client certificate: the
//! client gets an HTTP 400 whose body names the reason, as Application Gateway answers, and
//! exclusion paths can be served without one (no renegotiation). The handshake still proves
//! possession of the presented certificate's key (rustls always checks CertificateVerify). The
//! chain is judged once per connection, after the handshake, into a [`Verdict`].
//!
//! On TLS listeners (TCP proxy) there is no HTTP to answer with, so Required and Optional
//! refuse in the handshake.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use std::borrow::Cow;

use super::fetch::RevocationClient;
use super::revocation::{self, CrlIndex, Status, Unknown};
use super::verify::Judge;
use crate::config::{ClientAuth, ClientVerification, FailurePolicy, Revocation};
use crate::pki::CertificateInfo;

/// Why a client certificate was refused: one value feeds the HTTP 400 body, the access log's
/// `sslClientVerify`, the metric label and `{var_client_certificate_verification}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No certificate was presented where one is required.
    NoCertificate,
    /// The certificate does not chain to a trusted CA.
    UnknownCa,
    /// The certificate (or one in its chain) has expired.
    Expired,
    /// The certificate (or one in its chain) is not valid yet.
    NotYetValid,
    /// The immediate issuer is not the SslProfile's issuer DN.
    IssuerDnMismatch,
    /// The certificate has an EKU without clientAuth.
    WrongPurpose,
    /// The certificate could not be parsed or its signature is wrong.
    BadCertificate,
    /// The client sent more certificates than [`MAX_PRESENTED_CERTIFICATES`].
    ChainTooLong,
    /// The certificate (or, with scope Chain, an intermediate) is revoked.
    Revoked {
        /// RFC 5280 reason code, when given.
        code: Option<u8>,
        /// When it was revoked, seconds since the epoch.
        at: i64,
    },
    /// Revocation status could not be established, and the policy is FailClosed.
    RevocationUnknown(Unknown),
}

impl Reason {
    /// Stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoCertificate => "NoCertificate",
            Self::UnknownCa => "UnknownCA",
            Self::Expired => "Expired",
            Self::NotYetValid => "NotYetValid",
            Self::IssuerDnMismatch => "IssuerDNMismatch",
            Self::WrongPurpose => "WrongPurpose",
            Self::BadCertificate => "BadCertificate",
            Self::ChainTooLong => "ChainTooLong",
            Self::Revoked { .. } => "Revoked",
            Self::RevocationUnknown(u) => u.label(),
        }
    }

    /// The words after `FAILED:` (OpenSSL's, as nginx and Application Gateway report them).
    pub fn description(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::NoCertificate => "no client certificate presented",
            Self::UnknownCa => "unable to get local issuer certificate",
            Self::Expired => "certificate has expired",
            Self::NotYetValid => "certificate is not yet valid",
            Self::IssuerDnMismatch => "unable to verify the client certificate issuer",
            Self::WrongPurpose => "unsupported certificate purpose",
            Self::BadCertificate => "certificate signature failure",
            Self::ChainTooLong => "certificate chain too long",
            Self::RevocationUnknown(u) => u.description(),
            Self::Revoked { code, at } => {
                let reason = code.map_or(String::new(), |c| {
                    format!(" ({})", crate::pki::crl::reason_name(c))
                });
                return Cow::Owned(format!(
                    "certificate revoked{reason} at {}",
                    super::identity::rfc3339(at)
                ));
            }
        })
    }

    fn from_webpki(e: &webpki::Error) -> Self {
        use webpki::Error as E;
        match e {
            E::CertExpired { .. } | E::InvalidCertValidity => Self::Expired,
            E::CertNotValidYet { .. } => Self::NotYetValid,
            E::UnknownIssuer => Self::UnknownCa,
            #[allow(deprecated)]
            E::RequiredEkuNotFound => Self::WrongPurpose,
            E::RequiredEkuNotFoundContext(_) => Self::WrongPurpose,
            _ => Self::BadCertificate,
        }
    }

    fn to_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(match self {
            Self::Expired => CertificateError::Expired,
            Self::NotYetValid => CertificateError::NotValidYet,
            Self::UnknownCa | Self::IssuerDnMismatch => CertificateError::UnknownIssuer,
            Self::WrongPurpose => CertificateError::InvalidPurpose,
            Self::Revoked { .. } => CertificateError::Revoked,
            Self::RevocationUnknown(_) => CertificateError::UnknownRevocationStatus,
            Self::NoCertificate | Self::BadCertificate => CertificateError::BadEncoding,
            // Used for nothing else, so the handshake's failure reason can name it.
            Self::ChainTooLong => CertificateError::ApplicationVerificationFailure,
        })
    }
}

/// Most certificates a client may present, leaf included. webpki accepts at most six CAs
/// between leaf and root, so a real chain (leaf, intermediates, perhaps the root) is far
/// shorter; Google Cloud's load balancer refuses more than ten the same way. rustls already
/// refuses a Certificate message over 64 KiB, whatever it holds.
pub const MAX_PRESENTED_CERTIFICATES: usize = 10;

/// What was decided about a connection's client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No certificate requested, or none presented where that is allowed.
    None,
    /// Presented and valid.
    Success,
    /// Presented and valid, but its revocation status could not be established and the
    /// policy is FailOpen.
    SuccessRevocationUnknown(Unknown),
    /// Presented and refused, or missing where required.
    Failed(Reason),
}

impl fmt::Display for Verdict {
    /// `SUCCESS`, `FAILED:<reason>` or `NONE`: the `client_certificate_verification` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("NONE"),
            Self::Success => f.write_str("SUCCESS"),
            Self::SuccessRevocationUnknown(u) => {
                write!(f, "SUCCESS:revocation status unknown ({})", u.description())
            }
            Self::Failed(r) => write!(f, "FAILED:{}", r.description()),
        }
    }
}

/// The rustls verifier of one virtual server, and the judge of its connections.
#[derive(Debug)]
pub struct ClientAuthVerifier {
    mode: Mode,
    chain: Option<ChainCheck>,
    /// Refuse bad certificates during the handshake (TLS listeners).
    refuse_in_handshake: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Off,
    Required,
    Optional,
    Passthrough,
}

#[derive(Debug)]
struct ChainCheck {
    /// webpki's full path, the one judge of a chain (see [`super::verify`]).
    judge: Judge,
    /// DER subjects a client's issuer must equal, when `verifyClientCertIssuerDN` is set.
    issuer_dns: Option<Vec<Vec<u8>>>,
    /// The trusted CAs (all bundles).
    cas: Vec<CertificateInfo>,
    /// The acceptable-CA names of the CertificateRequest: every trusted CA, see
    /// [`acceptable_ca_names`].
    hints: Vec<DistinguishedName>,
    /// Revocation checking.
    revocation: RevocationCheck,
}

#[derive(Debug)]
enum RevocationCheck {
    None,
    Crl {
        index: CrlIndex,
        policy: FailurePolicy,
        chain: bool,
        /// Download CRLs from distribution points (in `judge`) when `index` has none.
        fetch: bool,
    },
    Ocsp {
        policy: FailurePolicy,
        chain: bool,
        responder: Option<String>,
    },
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
        };
        let chain = verification.map(|v| chain_check(v, provider)).transpose()?;
        Ok(Self {
            mode,
            chain,
            refuse_in_handshake,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// Whether a certificate is requested at all.
    pub fn requests_certificate(&self) -> bool {
        self.mode != Mode::Off
    }

    /// Judges a connection's certificates (leaf first), after the handshake.
    pub fn verdict(&self, peer: Option<&[CertificateDer<'_>]>, now: UnixTime) -> Verdict {
        self.verdict_leaf(peer, now).0
    }

    /// [`Self::verdict`], with the leaf as parsed and the path webpki verified.
    fn verdict_leaf(
        &self,
        peer: Option<&[CertificateDer<'_>]>,
        now: UnixTime,
    ) -> (Verdict, Option<Verified>) {
        // No certificate is `NONE` in every mode (as nginx reports it); whether that is
        // refused is the HTTP layer's decision, which knows the request's path.
        let Some((leaf, intermediates)) = peer.and_then(|p| p.split_first()) else {
            return (Verdict::None, None);
        };
        match self.mode {
            Mode::Off => (Verdict::None, None),
            // Passthrough without trusted CAs: the backend judges the certificate it is given.
            Mode::Passthrough if self.chain.is_none() => (Verdict::None, None),
            _ => self.check_leaf(leaf, intermediates, now),
        }
    }

    /// The verdict including the checks that need the network (OCSP, CRLs downloaded from
    /// distribution points): what a connection is judged by. Revocation is asked of the
    /// certificates of the path webpki verified, each of its own issuer on that path.
    pub async fn judge(
        &self,
        peer: Option<&[CertificateDer<'_>]>,
        now: UnixTime,
        client: &RevocationClient,
    ) -> Verdict {
        let (verdict, verified) = self.verdict_leaf(peer, now);
        let (Some(chain), Verdict::Success, Some(verified)) = (&self.chain, &verdict, verified)
        else {
            return verdict;
        };
        let (policy, whole) = match &chain.revocation {
            RevocationCheck::Ocsp { policy, chain, .. }
            | RevocationCheck::Crl {
                policy,
                chain,
                fetch: true,
                ..
            } => (*policy, *chain),
            _ => return verdict,
        };
        let checked = verified.checked(whole);
        let unix_now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let mut statuses = Vec::with_capacity(checked.len());
        for (cert, issuer) in checked {
            statuses.push(match (&chain.revocation, issuer) {
                (RevocationCheck::Ocsp { responder, .. }, Some(issuer)) => {
                    client.ocsp_status(cert, issuer, responder.as_deref()).await
                }
                (RevocationCheck::Crl { index, .. }, Some(issuer)) => {
                    match index.status(cert, unix_now) {
                        // No current CRL from ca.crl: ask the certificate's distribution point.
                        Status::Unknown(_) => client.crl_status(cert, issuer).await,
                        known => known,
                    }
                }
                (RevocationCheck::Ocsp { .. }, None) => {
                    Status::Unknown(Unknown::OcspInvalidResponse)
                }
                _ => Status::Unknown(Unknown::NoCrl),
            });
        }
        verdict_of(revocation::combine(statuses, policy))
    }

    /// How many signatures of the bundles' CA certificates are remembered as verified, so
    /// that handshakes do not verify them again (see [`super::verify`]).
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

    /// [`Self::check`], with the leaf and the path webpki verified.
    fn check_leaf(
        &self,
        leaf: &CertificateDer<'_>,
        sent: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> (Verdict, Option<Verified>) {
        let Some(chain) = &self.chain else {
            return (Verdict::Failed(Reason::UnknownCa), None);
        };
        if sent.len() >= MAX_PRESENTED_CERTIFICATES {
            // Refused before any path building: a client cannot make every handshake search
            // a hundred certificates for issuers.
            return (Verdict::Failed(Reason::ChainTooLong), None);
        }
        let path = match chain.judge.verify(leaf, sent, now) {
            Ok(path) => path,
            Err(e) => return (Verdict::Failed(chain.refusal(leaf, &e)), None),
        };
        let Ok(info) = CertificateInfo::from_der(leaf) else {
            return (Verdict::Failed(Reason::BadCertificate), None);
        };
        if let Some(dns) = &chain.issuer_dns
            && !dns.iter().any(|d| d.as_slice() == info.issuer.as_der())
        {
            return (Verdict::Failed(Reason::IssuerDnMismatch), None);
        }
        let needs_path = matches!(
            chain.revocation,
            RevocationCheck::Ocsp { .. }
                | RevocationCheck::Crl { chain: true, .. }
                | RevocationCheck::Crl { fetch: true, .. }
        );
        let verified = Verified {
            above: if needs_path {
                path.above(&chain.judge, &chain.cas)
            } else {
                Vec::new()
            },
            leaf: info,
        };
        let verdict = match &chain.revocation {
            // These need the network: `judge` checks them after the handshake.
            RevocationCheck::None
            | RevocationCheck::Ocsp { .. }
            | RevocationCheck::Crl { fetch: true, .. } => Verdict::Success,
            RevocationCheck::Crl {
                index,
                policy,
                chain: whole,
                fetch: false,
            } => {
                let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
                let statuses = verified
                    .checked(*whole)
                    .into_iter()
                    .map(|(c, _)| index.status(c, now));
                verdict_of(revocation::combine(statuses, *policy))
            }
        };
        (verdict, Some(verified))
    }
}

/// The leaf of a chain webpki accepted, and the certificates above it on the verified path.
struct Verified {
    leaf: CertificateInfo,
    /// The path above the leaf, its issuer first and the root last; empty when no check
    /// needs it.
    above: Vec<CertificateInfo>,
}

impl Verified {
    /// The certificates whose revocation is checked, each with its issuer on the verified
    /// path: the leaf, and with `whole` (scope `Chain`) the intermediates too (not the root).
    fn checked(&self, whole: bool) -> Vec<(&CertificateInfo, Option<&CertificateInfo>)> {
        let mut checked = vec![(&self.leaf, self.above.first())];
        if whole {
            let intermediates = self.above.len().saturating_sub(1);
            for (i, cert) in self.above.iter().take(intermediates).enumerate() {
                checked.push((cert, self.above.get(i + 1)));
            }
        }
        checked
    }
}

/// The verdict of combined revocation statuses.
fn verdict_of(combined: Result<Option<Unknown>, Status>) -> Verdict {
    match combined {
        Ok(None) | Err(Status::Good) => Verdict::Success,
        Ok(Some(u)) => Verdict::SuccessRevocationUnknown(u),
        Err(Status::Revoked(r)) => Verdict::Failed(Reason::Revoked {
            code: r.reason,
            at: r.at,
        }),
        Err(Status::Unknown(u)) => Verdict::Failed(Reason::RevocationUnknown(u)),
    }
}

fn chain_check(
    v: &ClientVerification,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<ChainCheck, rustls::Error> {
    let bundles: Vec<&crate::pki::TrustBundle> = v.trust.iter().map(|b| &b.0).collect();
    let judge = Judge::new(&bundles, provider)?;
    let issuer_dns = v.verify_issuer_dn.then(|| {
        v.trust
            .iter()
            .map(|b| b.0.issuer_dn().as_der().to_vec())
            .collect()
    });
    let cas: Vec<CertificateInfo> = v
        .trust
        .iter()
        .flat_map(|b| b.0.cas().iter().cloned())
        .collect();
    let revocation = match v.revocation {
        Revocation::Crl(policy) => RevocationCheck::Crl {
            index: CrlIndex::build(&v.crls, &cas)?,
            policy,
            chain: v.revocation_chain,
            fetch: v.fetch_crl_distribution_points,
        },
        // OCSP needs the network: it is checked after the handshake, in `judge`.
        Revocation::Ocsp(policy) => RevocationCheck::Ocsp {
            policy,
            chain: v.revocation_chain,
            responder: v.ocsp_responder.clone(),
        },
        Revocation::None => RevocationCheck::None,
    };
    Ok(ChainCheck {
        judge,
        issuer_dns,
        hints: acceptable_ca_names(&cas),
        cas,
        revocation,
    })
}

impl ChainCheck {
    /// The reason for a chain webpki refused. webpki refuses a CA certificate presented as a
    /// client's before it looks for an issuer (`CaUsedAsEndEntity`); for a self-signed one the
    /// gateway does not trust (what `openssl req -x509` makes), what is missing is a trusted
    /// issuer, as OpenSSL reports it, not a bad signature.
    fn refusal(&self, leaf: &CertificateDer<'_>, e: &webpki::Error) -> Reason {
        let reason = Reason::from_webpki(e);
        let untrusted_self_signed = || {
            CertificateInfo::from_der(leaf)
                .is_ok_and(|c| c.is_self_issued() && !self.cas.iter().any(|t| t.der() == c.der()))
        };
        if matches!(reason, Reason::BadCertificate) && untrusted_self_signed() {
            Reason::UnknownCa
        } else {
            reason
        }
    }
}

/// The names a CertificateRequest lists as acceptable CAs: every CA of the trusted bundles,
/// intermediates as well as roots. Go's crypto/tls, the JDK's key managers and other strict
/// clients send a certificate only when its issuer is on this list, and a client's issuer is
/// usually an intermediate: with roots alone they would send nothing (silently anonymous under
/// `Optional`). Listing more names admits no one: the chain is still verified in full.
fn acceptable_ca_names(cas: &[CertificateInfo]) -> Vec<DistinguishedName> {
    let mut names: Vec<&[u8]> = cas.iter().map(|c| c.subject.as_der()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|der| DistinguishedName::from(der.to_vec()))
        .collect()
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
