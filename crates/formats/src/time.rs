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
    let (head, tail) = b.split_first_chunk::<19>()?;
    let (&zone, fraction) = tail.split_last()?;
    if zone != b'Z'
        || head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    let d = |i: usize| u32::from(head[i].wrapping_sub(b'0'));
    // Every digit checked without branching (an early exit stops the unrolling).
    let mut not_digit = false;
    for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] {
        not_digit |= d(i) > 9;
    }
    if not_digit {
        return None;
    }
    let year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
    let month = d(5) * 10 + d(6);
    let day = d(8) * 10 + d(9);
    let hour = d(11) * 10 + d(12);
    let minute = d(14) * 10 + d(15);
    let second = d(17) * 10 + d(18);
    let millis = match fraction {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            let digit = |i: usize| digits.get(i).map_or(0, |c| u32::from(c - b'0'));
            digit(0) * 100 + digit(1) * 10 + digit(2)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let seconds = i64::from(hour * 3600 + minute * 60 + second);
    Some((days_from_civil(year, month, day) * 86_400 + seconds) * 1000 + i64::from(millis))
}

fn is_leap(year: u32) -> bool {
    // Divisible by 4 and (not by 100, or by 400); given the first, "not by 100" is
    // "not by 25" and "by 400" is "by 16".
    year & 3 == 0 && (year % 25 != 0 || year & 15 == 0)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date from year 0 on (Howard
/// Hinnant's algorithm, shifted by one 400-year era so that it is all unsigned).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    const ERA_DAYS: i64 = 146_097;
    let y = year + 400 - u32::from(month <= 2);
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i64::from(era) * ERA_DAYS + i64::from(doe) - 719_468 - ERA_DAYS
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
        let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
        if !(0..=9999).contains(&year) {
            // Outside RFC 3339's range: ISO 8601's expanded form, as chrono writes it.
            write!(
                f,
                "{year:+05}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
            )?;
            if millis != 0 {
                write!(f, ".{millis:03}")?;
            }
            return f.write_str("Z");
        }
        // Written digit by digit: results write one per line, a million times.
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut n: i64| {
            for i in (at..at + width).rev() {
                // `n % 10` is a digit, so the cast is lossless.
                text[i] = b'0' + u8::try_from(n % 10).unwrap_or(0);
                n /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, i64::from(month));
        put(8, 2, i64::from(day));
        put(11, 2, hour);
        put(14, 2, minute);
        put(17, 2, second);
        let len = if millis == 0 {
            text[19] = b'Z';
            20
        } else {
            put(20, 3, millis);
            24
        };
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
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
            for text in [format!("{}", Rfc3339(ms)), format!("{}", Rfc3339(ms - 789))] {
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
