//! The one clock and the one date formatter of the dataplane.
//!
//! Everything that decides by time (revocation caches, CRL and OCSP validity, expiry gauges)
//! takes the time as an argument, in seconds since the epoch; only the edges (a connection, a
//! background tick, a metrics scrape) call [`unix_now`]. That keeps the decisions testable with
//! any clock.

use rustls::pki_types::UnixTime;

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// rustls' time as seconds since the epoch.
pub fn unix(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

/// `Nov 22 18:21:13 2026 GMT`, the form OpenSSL, nginx and Application Gateway print.
pub fn openssl_date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss) = civil(unix);
    let month = MONTHS[usize::try_from(m - 1).unwrap_or(0)];
    format!("{month} {d:2} {hh:02}:{mm:02}:{ss:02} {y} GMT")
}

/// `2026-11-22T18:21:13Z`.
pub fn rfc3339(unix: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(unix);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// Civil date and time (UTC) from seconds since the epoch (Howard Hinnant's algorithm).
fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_openssl_does() {
        assert_eq!(openssl_date(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(openssl_date(1_795_372_873), "Nov 22 18:41:13 2026 GMT");
        assert_eq!(openssl_date(951_782_400), "Feb 29 00:00:00 2000 GMT");
        assert_eq!(rfc3339(1_795_372_873), "2026-11-22T18:41:13Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rustls_time_converts_without_overflow() {
        assert_eq!(
            unix(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                7
            ))),
            7
        );
        assert_eq!(
            unix(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                u64::MAX
            ))),
            i64::MAX
        );
    }
}
