//! OCSP (RFC 6960) without I/O: building a request for a certificate, and verifying a
//! response — signed by the issuer or by a responder the issuer certified for OCSP signing,
//! inside its validity window (with a small clock-skew allowance), answering for our
//! certificate, echoing our nonce if it echoes one.

use aws_lc_rs::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::BitString;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;
use x509_parser::x509::AlgorithmIdentifier;

use super::cert::CertificateInfo;
use super::der::{self, DerError, Tlv, tag};

/// 1.3.14.3.2.26 (SHA-1), the CertID hash every responder supports.
const OID_SHA1: [u8; 5] = [0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// 1.3.6.1.5.5.7.48.1.1 (id-pkix-ocsp-basic).
const OID_OCSP_BASIC: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// 1.3.6.1.5.5.7.48.1.2 (id-pkix-ocsp-nonce).
const OID_OCSP_NONCE: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

/// Identifies a certificate to a responder: hashes of its issuer's name and key, its serial.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertId {
    name_hash: Vec<u8>,
    key_hash: Vec<u8>,
    serial: Vec<u8>,
}

/// What the responder says of the certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// When, seconds since the epoch.
        at: i64,
        /// RFC 5280 reason code, if given.
        reason: Option<u8>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A verified answer for one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SingleStatus {
    /// The status.
    pub status: CertStatus,
    /// When the responder vouched for it.
    pub this_update: i64,
    /// When a newer answer will be available; it may be cached until then.
    pub next_update: Option<i64>,
}

/// Why a response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// Not DER, or not an OCSPResponse.
    #[error("malformed OCSP response: {0}")]
    Malformed(&'static str),
    /// responseStatus other than successful (0): 1 malformedRequest, 2 internalError,
    /// 3 tryLater, 5 sigRequired, 6 unauthorized.
    #[error("OCSP responder answered status {0}")]
    NotSuccessful(u8),
    /// No SingleResponse for our certificate.
    #[error("OCSP response does not answer for this certificate")]
    NoMatchingResponse,
    /// The signature does not verify with the issuer's key or an authorized responder's.
    #[error("OCSP response is not signed by the issuer or a responder it authorized")]
    BadSignature,
    /// `nextUpdate` is in the past (beyond the skew allowance).
    #[error("OCSP response is stale (nextUpdate passed)")]
    Stale,
    /// `thisUpdate` is in the future (beyond the skew allowance).
    #[error("OCSP response is not yet valid (thisUpdate in the future)")]
    NotYetValid,
    /// The response echoes a nonce other than ours.
    #[error("OCSP response nonce does not match the request")]
    NonceMismatch,
}

impl From<DerError> for OcspError {
    fn from(e: DerError) -> Self {
        Self::Malformed(e.0)
    }
}

impl CertId {
    /// The CertID of `cert`, issued by `issuer` (SHA-1 hashes, as RFC 6960 and every
    /// responder support).
    pub fn new(cert: &CertificateInfo, issuer: &CertificateInfo) -> Self {
        let sha1 = |data: &[u8]| {
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data)
                .as_ref()
                .to_vec()
        };
        Self {
            name_hash: sha1(issuer.subject.as_der()),
            key_hash: sha1(&issuer.public_key),
            serial: cert.serial.clone(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let alg = der::tlv(
            tag::SEQUENCE,
            &[der::tlv(tag::OID, &OID_SHA1), der::tlv(tag::NULL, &[])].concat(),
        );
        let body = [
            alg,
            der::tlv(tag::OCTET_STRING, &self.name_hash),
            der::tlv(tag::OCTET_STRING, &self.key_hash),
            der::tlv(tag::INTEGER, &self.serial),
        ]
        .concat();
        der::tlv(tag::SEQUENCE, &body)
    }

    fn matches(&self, certid: &Tlv<'_>) -> Result<bool, DerError> {
        let parts = der::children(certid.content)?;
        let [alg, name, key, serial] = parts.as_slice() else {
            return Err(DerError("CertID"));
        };
        let alg_oid = der::children(alg.content)?
            .first()
            .map(|o| o.content.to_vec())
            .unwrap_or_default();
        Ok(alg_oid == OID_SHA1
            && name.content == self.name_hash
            && key.content == self.key_hash
            && serial.content == self.serial)
    }
}

/// An OCSPRequest for `id`, with a nonce extension when `nonce` is given.
pub fn request(id: &CertId, nonce: Option<&[u8]>) -> Vec<u8> {
    let request_list = der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &id.encode()));
    let mut tbs = request_list;
    if let Some(n) = nonce {
        let value = der::tlv(tag::OCTET_STRING, &der::tlv(tag::OCTET_STRING, n));
        let ext = der::tlv(
            tag::SEQUENCE,
            &[der::tlv(tag::OID, &OID_OCSP_NONCE), value].concat(),
        );
        tbs.extend(der::tlv(tag::context(2), &der::tlv(tag::SEQUENCE, &ext)));
    }
    der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &tbs))
}

/// Verifies an OCSPResponse for `id` (issued by `issuer`) at `now`, allowing `skew` seconds of
/// clock difference.
pub fn verify_response(
    response: &[u8],
    id: &CertId,
    issuer: &CertificateInfo,
    nonce: Option<&[u8]>,
    now: i64,
    skew: i64,
) -> Result<SingleStatus, OcspError> {
    let (outer, _) = der::expect(response, tag::SEQUENCE, "OCSPResponse")?;
    let parts = der::children(outer.content)?;
    let status = parts
        .first()
        .filter(|t| t.tag == tag::ENUMERATED)
        .and_then(|t| t.content.first().copied())
        .ok_or(OcspError::Malformed("responseStatus"))?;
    if status != 0 {
        return Err(OcspError::NotSuccessful(status));
    }
    let bytes = parts
        .get(1)
        .filter(|t| t.tag == tag::context(0))
        .ok_or(OcspError::Malformed("responseBytes"))?;
    let (rb, _) = der::expect(bytes.content, tag::SEQUENCE, "ResponseBytes")?;
    let rb = der::children(rb.content)?;
    let [kind, basic] = rb.as_slice() else {
        return Err(OcspError::Malformed("ResponseBytes"));
    };
    if kind.content != OID_OCSP_BASIC || basic.tag != tag::OCTET_STRING {
        return Err(OcspError::Malformed("not a basic OCSP response"));
    }
    let (basic, _) = der::expect(basic.content, tag::SEQUENCE, "BasicOCSPResponse")?;
    let basic = der::children(basic.content)?;
    let (tbs, sig_alg, signature) = match basic.as_slice() {
        [tbs, alg, sig, ..]
            if tbs.tag == tag::SEQUENCE
                && alg.tag == tag::SEQUENCE
                && sig.tag == tag::BIT_STRING =>
        {
            (tbs, alg, sig)
        }
        _ => return Err(OcspError::Malformed("BasicOCSPResponse")),
    };
    let certs: Vec<Tlv<'_>> = match basic.get(3) {
        Some(c) if c.tag == tag::context(0) => {
            let (seq, _) = der::expect(c.content, tag::SEQUENCE, "certs")?;
            der::children(seq.content)?
        }
        _ => Vec::new(),
    };
    verify_signature(tbs.raw, sig_alg.raw, signature.raw, issuer, &certs, now)?;

    let data = der::children(tbs.content)?;
    let mut i = 0;
    if data.get(i).is_some_and(|t| t.tag == tag::context(0)) {
        i += 1; // version
    }
    i += 1; // responderID
    i += 1; // producedAt
    let responses = data
        .get(i)
        .filter(|t| t.tag == tag::SEQUENCE)
        .ok_or(OcspError::Malformed("responses"))?;
    // A responder that echoes a nonce must echo ours; one that sends none (pre-signed
    // responses are common) is accepted, the cache bounding replay to nextUpdate anyway.
    let echoed = match data.get(i + 1).filter(|t| t.tag == tag::context(1)) {
        Some(ext) => find_nonce(ext)?,
        None => None,
    };
    if let (Some(ours), Some(theirs)) = (nonce, echoed)
        && theirs != ours
    {
        return Err(OcspError::NonceMismatch);
    }
    for single in der::children(responses.content)? {
        let fields = der::children(single.content)?;
        let Some(certid) = fields.first() else {
            continue;
        };
        if !id.matches(certid)? {
            continue;
        }
        let status_tlv = fields.get(1).ok_or(OcspError::Malformed("certStatus"))?;
        let status = match status_tlv.tag {
            0x80 => CertStatus::Good,
            0xa1 => {
                let info = der::children(status_tlv.content)?;
                let at = info
                    .first()
                    .map(time)
                    .transpose()?
                    .ok_or(OcspError::Malformed("revocationTime"))?;
                let reason = info
                    .get(1)
                    .filter(|t| t.tag == tag::context(0))
                    .and_then(|t| der::read(t.content).ok())
                    .and_then(|(e, _)| e.content.first().copied());
                CertStatus::Revoked { at, reason }
            }
            0x82 => CertStatus::Unknown,
            _ => return Err(OcspError::Malformed("certStatus")),
        };
        let this_update = fields
            .get(2)
            .map(time)
            .transpose()?
            .ok_or(OcspError::Malformed("thisUpdate"))?;
        let next_update = match fields.get(3) {
            Some(t) if t.tag == tag::context(0) => Some(time(&der::read(t.content)?.0)?),
            _ => None,
        };
        if this_update > now + skew {
            return Err(OcspError::NotYetValid);
        }
        if next_update.is_some_and(|n| n < now - skew) {
            return Err(OcspError::Stale);
        }
        return Ok(SingleStatus {
            status,
            this_update,
            next_update,
        });
    }
    Err(OcspError::NoMatchingResponse)
}

fn time(t: &Tlv<'_>) -> Result<i64, OcspError> {
    ASN1Time::from_der(t.raw)
        .map(|(_, t)| t.timestamp())
        .map_err(|_| OcspError::Malformed("time"))
}

fn find_nonce<'a>(ext: &Tlv<'a>) -> Result<Option<&'a [u8]>, DerError> {
    let (seq, _) = der::expect(ext.content, tag::SEQUENCE, "extensions")?;
    for e in der::children(seq.content)? {
        let fields = der::children(e.content)?;
        if fields.first().is_some_and(|o| o.content == OID_OCSP_NONCE) {
            let value = fields.last().ok_or(DerError("nonce"))?;
            // RFC 8954: the extension value is an OCTET STRING holding the nonce; older
            // responders put the raw bytes there.
            return Ok(Some(match der::read(value.content) {
                Ok((inner, rest)) if inner.tag == tag::OCTET_STRING && rest.is_empty() => {
                    inner.content
                }
                _ => value.content,
            }));
        }
    }
    Ok(None)
}

/// The response must verify with the issuer's key, or with a certificate in the response that
/// the issuer signed, that carries the OCSP-signing EKU and is valid now.
fn verify_signature(
    tbs: &[u8],
    alg: &[u8],
    sig: &[u8],
    issuer: &CertificateInfo,
    certs: &[Tlv<'_>],
    now: i64,
) -> Result<(), OcspError> {
    let (_, alg) = AlgorithmIdentifier::from_der(alg)
        .map_err(|_| OcspError::Malformed("signatureAlgorithm"))?;
    let (_, sig) = BitString::from_der(sig).map_err(|_| OcspError::Malformed("signature"))?;
    let (_, issuer_cert) =
        X509Certificate::from_der(issuer.der()).map_err(|_| OcspError::BadSignature)?;
    let by = |spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>| {
        x509_parser::verify::verify_signature(spki, &alg, &sig, tbs).is_ok()
    };
    if by(issuer_cert.public_key()) {
        return Ok(());
    }
    for c in certs {
        let Ok((_, responder)) = X509Certificate::from_der(c.raw) else {
            continue;
        };
        let authorized = responder
            .verify_signature(Some(issuer_cert.public_key()))
            .is_ok()
            && responder.issuer().as_raw() == issuer.subject.as_der()
            && matches!(responder.extended_key_usage(), Ok(Some(eku)) if eku.value.ocsp_signing)
            && responder.validity().not_before.timestamp() <= now
            && now <= responder.validity().not_after.timestamp();
        if authorized && by(responder.public_key()) {
            return Ok(());
        }
    }
    Err(OcspError::BadSignature)
}
