//! Timestamps: RFC 3339 text to [`Millis`] and back.
//!
//! Reading events parses one timestamp per line, tens of millions of times in a batch
//! run, and nearly all of them have the shape Segment's libraries send:
//! `2026-05-01T09:30:00Z` or `2026-05-01T09:30:00.123Z`. [`parse_timestamp`] reads
//! that shape by hand without allocating and hands everything else to chrono.
//!
//! Accepted (all of RFC 3339 plus two conveniences):
//!
//! * `YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM)`, with `t` or a space instead of `T`, `z`
//!   for `Z`, and any number of fractional digits (truncated to milliseconds);
//! * offsets without a colon (`+0200`), as some ISO 8601 writers send them;
//! * a bare date `YYYY-MM-DD`, meaning midnight UTC.
//!
//! A date-time without an offset is rejected: it names no instant.
//!
//! [`format_timestamp`] writes UTC with `Z`, with milliseconds only when they are not
//! zero: `2026-05-01T09:30:00Z`, `2026-05-01T09:30:00.250Z`.

use std::fmt;

use chrono::{DateTime, NaiveDate};
use leadscore_model::Millis;

/// Parse an RFC 3339 / ISO 8601 timestamp into milliseconds since the epoch (UTC).
///
/// Fractional seconds beyond milliseconds are truncated toward the past (as chrono's
/// `timestamp_millis` does). Surrounding whitespace is ignored. `None` when the text is
/// not a valid timestamp (including impossible dates such as `2026-02-30`).
#[inline]
pub fn parse_timestamp(text: &str) -> Option<Millis> {
    match parse_fast(text.as_bytes()) {
        Some(ms) => Some(ms),
        None => parse_slow(text),
    }
}

/// The hand-written path for `YYYY-MM-DDTHH:MM:SS(.f+)?Z`. `None` means "not this
/// shape or not valid": the caller then asks chrono, which has the final word.
#[inline]
fn parse_fast(b: &[u8]) -> Option<Millis> {
    let len = b.len();
    if len < 20 || b[len - 1] != b'Z' {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let millis = if len == 20 {
        0
    } else {
        if b[19] != b'.' {
            return None;
        }
        let frac = &b[20..len - 1];
        if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut ms = 0;
        for i in 0..3 {
            ms = ms * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
        }
        ms
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis)
}

/// ASCII digits to a number; `None` if any byte is not a digit.
#[inline]
fn digits(b: &[u8]) -> Option<i64> {
    let mut n = 0i64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + i64::from(d);
    }
    Some(n)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small by construction (1..=31, 1..=12), so the casts are lossless.
    (year, day_or_month(month), day_or_month(day))
}

fn day_or_month(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// Everything that is not the fast shape: chrono's RFC 3339 parser, then the
/// conveniences described in the module docs.
#[cold]
fn parse_slow(text: &str) -> Option<Millis> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    None
}

/// An instant that displays (and serializes, via `collect_str`) as RFC 3339 UTC.
///
/// Writing through this type allocates nothing; [`format_timestamp`] is the same as
/// `Rfc3339(ms).to_string()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rfc3339(pub Millis);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if (0..=9999).contains(&year) {
            write!(f, "{year:04}")?;
        } else {
            // Outside RFC 3339's range: ISO 8601's expanded form, as chrono writes it.
            write!(f, "{year:+05}")?;
        }
        write!(
            f,
            "-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60
        )?;
        if millis != 0 {
            write!(f, ".{millis:03}")?;
        }
        f.write_str("Z")
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Format an instant as RFC 3339 UTC with `Z`; milliseconds only when not zero.
pub fn format_timestamp(ms: Millis) -> String {
    Rfc3339(ms).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, Utc};
    use proptest::prelude::*;

    /// chrono alone, the reference the fast path must agree with.
    fn reference(text: &str) -> Option<Millis> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    #[test]
    fn parses_segment_shapes() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2026-05-01T09:30:00Z"),
            Some(1_777_627_800_000)
        );
        assert_eq!(
            parse_timestamp("2026-05-01T09:30:00.5Z"),
            Some(1_777_627_800_500)
        );
        assert_eq!(
            parse_timestamp("2026-05-01T09:30:00.123456789Z"),
            Some(1_777_627_800_123)
        );
        assert_eq!(
            parse_timestamp("2026-05-01T11:30:00+02:00"),
            Some(1_777_627_800_000)
        );
        assert_eq!(
            parse_timestamp("2026-05-01T04:30:00.000-05:00"),
            Some(1_777_627_800_000)
        );
        assert_eq!(
            parse_timestamp("2026-05-01T11:30:00+0200"),
            Some(1_777_627_800_000)
        );
        assert_eq!(
            parse_timestamp("2026-05-01 09:30:00Z"),
            Some(1_777_627_800_000)
        );
        assert_eq!(parse_timestamp("2026-05-01"), Some(1_777_593_600_000));
        assert_eq!(
            parse_timestamp(" 2026-05-01T09:30:00Z "),
            Some(1_777_627_800_000)
        );
    }

    #[test]
    fn rejects_non_instants() {
        for bad in [
            "",
            "yesterday",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-05-01T24:00:00Z",
            "2026-05-01T09:30:00",
            "2026-05-01T09:30:00.Z",
            "2026-05-01T09:30:00.12aZ",
            "2026-5-1T09:30:00Z",
            "1777627800000",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fast_path_handles_leap_days() {
        assert!(parse_fast(b"2024-02-29T00:00:00Z").is_some());
        assert!(parse_fast(b"2000-02-29T00:00:00Z").is_some());
        assert!(parse_fast(b"1900-02-29T00:00:00Z").is_none());
        assert_eq!(parse_timestamp("1900-02-29T00:00:00Z"), None);
    }

    #[test]
    fn fast_path_agrees_with_chrono_on_every_day_of_four_centuries() {
        // 1900..2300 day by day, at a time with and without a fraction.
        let start = days_from_civil(1900, 1, 1);
        let end = days_from_civil(2300, 1, 1);
        for day in start..end {
            let ms = day * 86_400_000 + 45_296_789;
            for text in [
                format!("{}", Rfc3339(ms)),
                format!("{}", Rfc3339(ms - 789)),
            ] {
                let fast = parse_fast(text.as_bytes());
                assert!(fast.is_some(), "{text}");
                assert_eq!(fast, reference(&text), "{text}");
            }
        }
    }

    #[test]
    fn formats_like_chrono() {
        for ms in [
            0,
            1,
            999,
            -1,
            -1000,
            1_777_627_800_000,
            1_777_627_800_250,
            253_402_300_799_999,
        ] {
            let t = DateTime::<Utc>::from_timestamp_millis(ms).expect("in range");
            let format = if ms.rem_euclid(1000) == 0 {
                SecondsFormat::Secs
            } else {
                SecondsFormat::Millis
            };
            assert_eq!(format_timestamp(ms), t.to_rfc3339_opts(format, true));
        }
        assert_eq!(format_timestamp(1_777_627_800_000), "2026-05-01T09:30:00Z");
        assert_eq!(
            format_timestamp(1_777_627_800_250),
            "2026-05-01T09:30:00.250Z"
        );
    }

    proptest! {
        #[test]
        fn fast_path_equals_chrono_on_valid_instants(
            ms in -62_135_596_800_000i64..253_402_300_800_000,
            digits in 0usize..10,
        ) {
            let t = DateTime::<Utc>::from_timestamp_millis(ms).expect("in range");
            let format = match digits {
                0 => SecondsFormat::Secs,
                1..=3 => SecondsFormat::Millis,
                4..=6 => SecondsFormat::Micros,
                _ => SecondsFormat::Nanos,
            };
            let text = t.to_rfc3339_opts(format, true);
            let fast = parse_fast(text.as_bytes());
            prop_assert!(fast.is_some(), "{}", text);
            prop_assert_eq!(fast, reference(&text));
            prop_assert_eq!(parse_timestamp(&format_timestamp(ms)), Some(ms));
        }

        #[test]
        fn fast_path_never_disagrees_with_chrono(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?Z",
        ) {
            // Random digits make many impossible dates: the fast path must reject exactly
            // those chrono rejects, and agree on the rest.
            // chrono also reads a leap second (`:60`), which the fast path leaves to it.
            match parse_fast(text.as_bytes()) {
                Some(fast) => prop_assert_eq!(Some(fast), reference(&text)),
                None if &text[17..19] != "60" => prop_assert_eq!(reference(&text), None),
                None => {}
            }
            prop_assert_eq!(parse_timestamp(&text), reference(&text));
        }

        #[test]
        fn any_text_parses_as_chrono_or_a_documented_convenience(text in "\\PC{0,30}") {
            if let Some(ms) = reference(text.trim()) {
                prop_assert_eq!(parse_timestamp(&text), Some(ms));
            }
        }
    }
}
