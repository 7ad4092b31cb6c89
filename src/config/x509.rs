//! The validity period of an X.509 certificate, read from its DER bytes, so that an expired or
//! not yet valid certificate file is a configuration error instead of a failure at the first
//! connection. Reads only the few fields in front of `validity` (RFC 5280, 4.1); it checks
//! neither signatures nor extensions: rustls does that when it connects. Every read is bounded by
//! the input, so any bytes at all give `None` or dates, never a panic.

/// DER tags read here.
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// `notBefore` and `notAfter`, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

/// The validity of the certificate `der`, `None` when the bytes are not a certificate.
pub(crate) fn validity(der: &[u8]) -> Option<Validity> {
    let (certificate, _) = element(der, SEQUENCE)?;
    let (mut tbs, _) = element(certificate, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs, VERSION)?.1;
    }
    let (_serial, rest) = element(tbs, INTEGER)?;
    let (_signature, rest) = element(rest, SEQUENCE)?;
    let (_issuer, rest) = element(rest, SEQUENCE)?;
    let (dates, _) = element(rest, SEQUENCE)?;
    let (not_before, rest) = time(dates)?;
    let (not_after, _) = time(rest)?;
    Some(Validity {
        not_before,
        not_after,
    })
}

/// The content of the element at the start of `input` if its tag is `tag`, and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        let length = bytes.iter().try_fold(0usize, |acc, b| {
            acc.checked_mul(256)?.checked_add(usize::from(*b))
        })?;
        (length, rest)
    };
    let (content, rest) = rest.split_at_checked(length)?;
    (found == tag).then_some((content, rest))
}

/// A UTCTime or GeneralizedTime at the start of `input` (`Z` form, as RFC 5280 requires).
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (year, digits, rest) = match element(input, UTC_TIME) {
        Some((text, rest)) => {
            let (yy, digits) = text.split_at_checked(2)?;
            let yy = number(yy)?;
            // RFC 5280: two-digit years 50..99 are 19xx, 00..49 are 20xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, digits, rest)
        }
        None => {
            let (text, rest) = element(input, GENERALIZED_TIME)?;
            let (yyyy, digits) = text.split_at_checked(4)?;
            (number(yyyy)?, digits, rest)
        }
    };
    let digits = digits.strip_suffix(b"Z")?;
    if digits.len() != 10 {
        return None;
    }
    let field = |at: usize| number(digits.get(at..at + 2)?);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let seconds = hour * 3600 + minute * 60 + second.min(60);
    Some((days_from_civil(year, month, day) * 86_400 + seconds, rest))
}

/// ASCII digits as a number (at most four digits, so no overflow).
fn number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0, |acc, d| acc * 10 + i64::from(d - b'0')),
    )
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn both_time_forms_are_read() {
        let utc = [&[UTC_TIME, 13][..], b"250102030405Z"].concat();
        assert_eq!(time(&utc).map(|t| t.0), Some(1_735_787_045));
        let generalized = [&[GENERALIZED_TIME, 15][..], b"20500102030405Z"].concat();
        assert_eq!(
            time(&generalized).map(|t| t.0),
            Some(days_from_civil(2050, 1, 2) * 86_400 + 3 * 3600 + 4 * 60 + 5)
        );
        let local = [&[UTC_TIME, 12][..], b"250102030405"].concat();
        assert_eq!(time(&local), None);
    }

    #[test]
    fn any_bytes_give_none_or_dates() {
        let mut state = 0x2545_f491_u64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            let _ = validity(&bytes);
            let mut framed = vec![SEQUENCE, 0x82, (len >> 8) as u8, len as u8];
            framed.extend_from_slice(&bytes);
            let _ = validity(&framed);
        }
    }
}
