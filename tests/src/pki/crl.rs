//! CRLs signed by a test CA.

use time::{Duration, OffsetDateTime};

use super::params::next_serial;
use super::{Ca, Leaf};

impl Ca {
    /// A CRL signed by this CA revoking `revoked` (reason keyCompromise), issued `from_days` and
    /// due `to_days` relative to now, as PEM.
    pub fn crl(&self, revoked: &[&Leaf], from_days: i64, to_days: i64) -> String {
        let serials: Vec<&[u8]> = revoked.iter().map(|l| l.serial.as_slice()).collect();
        self.crl_of(&serials, from_days, to_days)
    }

    /// A CRL signed by this CA revoking the CAs in `revoked` (for chain checks).
    pub fn crl_of_cas(&self, revoked: &[&Ca], from_days: i64, to_days: i64) -> String {
        let serials: Vec<&[u8]> = revoked.iter().map(|c| c.serial.as_slice()).collect();
        self.crl_of(&serials, from_days, to_days)
    }

    fn crl_of(&self, serials: &[&[u8]], from_days: i64, to_days: i64) -> String {
        let now = OffsetDateTime::now_utc();
        let params = rcgen::CertificateRevocationListParams {
            this_update: now + Duration::days(from_days),
            next_update: now + Duration::days(to_days),
            crl_number: rcgen::SerialNumber::from_slice(&next_serial()),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(serial),
                    revocation_time: now - Duration::hours(1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .expect("sign CRL")
            .pem()
            .expect("CRL PEM")
    }
}
