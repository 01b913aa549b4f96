//! The chain and revocation checks of one client-authentication configuration, and the verdict
//! of a connection after its handshake: webpki's path ([`super::x509`]), the issuer-DN pin,
//! then revocation of the certificates of that path (CRLs from the bundle at once; OCSP and
//! CRLs from distribution points over the network, through the shared [`RevocationClient`]).

use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::pki_types::{CertificateDer, UnixTime};

use super::client_auth::{ClientAuthVerifier, Mode};
use super::x509::Judge;
use crate::config::{ClientVerification, FailurePolicy, Revocation};
use crate::pki::CertificateInfo;
use crate::proxy::revocation::{self, CrlIndex, RevocationClient, Status};
use crate::proxy::verdict::{MAX_PRESENTED_CERTIFICATES, Reason, Unknown, Untrusted, Verdict};

#[derive(Debug)]
pub(super) struct ChainCheck {
    /// webpki's full path, the one judge of a chain (see [`super::x509`]).
    pub(super) judge: Judge,
    /// DER subjects a client's issuer must equal, when `verifyClientCertIssuerDN` is set.
    issuer_dns: Option<Vec<Vec<u8>>>,
    /// The trusted CAs (all bundles).
    pub(super) cas: Vec<CertificateInfo>,
    /// The acceptable-CA names of the CertificateRequest: every trusted CA, see
    /// [`acceptable_ca_names`].
    pub(super) hints: Vec<DistinguishedName>,
    /// Revocation checking.
    pub(super) revocation: RevocationCheck,
}

#[derive(Debug)]
pub(super) enum RevocationCheck {
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
        let unix_now = crate::time::unix(now);
        let mut statuses = Vec::with_capacity(checked.len());
        for (cert, issuer) in checked {
            statuses.push(match (&chain.revocation, issuer) {
                (RevocationCheck::Ocsp { responder, .. }, Some(issuer)) => {
                    client
                        .ocsp_status(cert, issuer, responder.as_deref(), unix_now)
                        .await
                }
                (RevocationCheck::Crl { index, .. }, Some(issuer)) => {
                    match index.status(cert, unix_now) {
                        // No current CRL from ca.crl: ask the certificate's distribution point.
                        Status::Unknown(_) => client.crl_status(cert, issuer, unix_now).await,
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

    /// [`Self::check`], with the leaf and the path webpki verified.
    pub(super) fn check_leaf(
        &self,
        leaf: &CertificateDer<'_>,
        sent: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> (Verdict, Option<Verified>) {
        let Some(chain) = &self.chain else {
            return (Verdict::Failed(Reason::UnknownCa(Untrusted::Issuer)), None);
        };
        if sent.len() >= MAX_PRESENTED_CERTIFICATES {
            // Refused before any path building: a client cannot make every handshake search
            // a hundred certificates for issuers.
            return (Verdict::Failed(Reason::ChainTooLong), None);
        }
        let path = match chain.judge.verify(leaf, sent, now) {
            Ok(path) => path,
            Err(e) => return (Verdict::Failed(chain.refusal(leaf, sent, &e)), None),
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
                let now = crate::time::unix(now);
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
pub(super) struct Verified {
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

pub(super) fn chain_check(
    v: &ClientVerification,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<ChainCheck, rustls::Error> {
    let bundles: Vec<&crate::pki::TrustBundle> = v.trust.iter().map(|b| &b.0).collect();
    let mut judge = Judge::new(&bundles, provider)?;
    judge.max_intermediates = v.max_intermediates.map(usize::from);
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
            index: CrlIndex::build(&v.crls, &cas)
                .map_err(|e| rustls::Error::General(format!("CRL {e}")))?,
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
    /// issuer, as OpenSSL reports it, not a bad signature. A missing issuer is worded as
    /// OpenSSL words it, from the certificates the client `sent` ([`Untrusted`]).
    fn refusal(
        &self,
        leaf: &CertificateDer<'_>,
        sent: &[CertificateDer<'_>],
        e: &webpki::Error,
    ) -> Reason {
        let reason = Reason::from_webpki(e);
        let Ok(info) = CertificateInfo::from_der(leaf) else {
            return reason;
        };
        let untrusted_self_signed =
            info.is_self_issued() && !self.cas.iter().any(|t| t.der() == info.der());
        match reason {
            Reason::BadCertificate | Reason::UnknownCa(_) if untrusted_self_signed => {
                Reason::UnknownCa(Untrusted::SelfSigned)
            }
            Reason::UnknownCa(_) => untrusted(&info, sent, &self.cas),
            other => other,
        }
    }
}

/// Where the chain a client sent stops, following issuer names up from `leaf` (as OpenSSL
/// builds its chain before it reports which issuer it could not find). A chain that names a
/// trusted CA as an issuer reached it and failed on its signature, to OpenSSL as to webpki:
/// that is a bad certificate, refused in every mode, not an unknown issuer.
fn untrusted(
    leaf: &CertificateInfo,
    sent: &[CertificateDer<'_>],
    cas: &[CertificateInfo],
) -> Reason {
    let sent: Vec<CertificateInfo> = sent
        .iter()
        .filter_map(|c| CertificateInfo::from_der(c).ok())
        .collect();
    let trusted_issuer = |c: &CertificateInfo| cas.iter().any(|ca| ca.subject == c.issuer);
    let kind = |u| Reason::UnknownCa(u);
    let mut current = leaf;
    if trusted_issuer(current) {
        return Reason::BadCertificate;
    }
    // Each step takes one more sent certificate: bounded by what was sent.
    for step in 0..sent.len() {
        let Some(issuer) = sent
            .iter()
            .find(|c| c.subject == current.issuer && c.der() != current.der())
        else {
            return kind(if step == 0 {
                Untrusted::Leaf
            } else {
                Untrusted::Issuer
            });
        };
        if issuer.is_self_issued() {
            return kind(Untrusted::SelfSignedInChain);
        }
        if trusted_issuer(issuer) {
            return Reason::BadCertificate;
        }
        current = issuer;
    }
    kind(if sent.is_empty() {
        Untrusted::Leaf
    } else {
        Untrusted::Issuer
    })
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

#[cfg(test)]
mod tests;
