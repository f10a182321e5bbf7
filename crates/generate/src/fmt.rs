//! Hand-rolled output formatting: integers, RFC 3339 timestamps and JSON strings.
//!
//! Generating tens of millions of events is dominated by formatting, so event lines are
//! written byte by byte into a reusable buffer instead of going through `serde_json` or
//! `format!`. Everything here is exact and allocation-free.

/// Seconds per day.
pub(crate) const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day count since 1970-01-01.
pub(crate) const fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 {
        yoe + era * 400 + 1
    } else {
        yoe + era * 400
    };
    (year, month, day)
}

/// Day of the week of a Unix time in seconds: 0 = Monday .. 6 = Sunday.
pub(crate) fn weekday(secs: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    (secs.div_euclid(DAY) + 3).rem_euclid(7)
}

/// Appends an unsigned integer in decimal.
pub(crate) fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends a number in `0..100` as exactly two digits.
fn push_2(buf: &mut Vec<u8>, v: i64) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// Appends a Unix time in seconds as RFC 3339 UTC, `2026-05-01T09:30:00Z`.
/// Years outside 0..=9999 are not produced by the generator.
pub(crate) fn push_timestamp(buf: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    push_2(buf, year / 100);
    push_2(buf, year % 100);
    buf.push(b'-');
    push_2(buf, month);
    buf.push(b'-');
    push_2(buf, day);
    buf.push(b'T');
    push_2(buf, rem / 3600);
    buf.push(b':');
    push_2(buf, rem / 60 % 60);
    buf.push(b':');
    push_2(buf, rem % 60);
    buf.push(b'Z');
}

/// A Unix time in seconds as an RFC 3339 string (for the CSV writers).
pub(crate) fn timestamp_string(secs: i64) -> String {
    let mut buf = Vec::with_capacity(20);
    push_timestamp(&mut buf, secs);
    // INVARIANT: push_timestamp writes ASCII digits and separators only.
    String::from_utf8(buf).unwrap_or_default()
}

/// Appends `s` as a JSON string literal (with quotes), escaping per RFC 8259.
pub(crate) fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                buf.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[(b >> 4) as usize]);
                buf.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(esc);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Appends `"key":` (the key is a trusted ASCII literal, never escaped).
pub(crate) fn push_key(buf: &mut Vec<u8>, key: &str) {
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_and_matches_chrono() {
        for days in [-1000, 0, 1, 59, 365, 10_957, 20_000, 20_758, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            let date = chrono::DateTime::from_timestamp(days * DAY, 0)
                .expect("in range")
                .date_naive();
            assert_eq!(date.to_string(), format!("{y:04}-{m:02}-{d:02}"));
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let secs = days_from_civil(2026, 11, 1) * DAY + 9 * 3600 + 30 * 60 + 5;
        assert_eq!(timestamp_string(secs), "2026-11-01T09:30:05Z");
        let parsed = chrono::DateTime::parse_from_rfc3339(&timestamp_string(secs)).expect("parses");
        assert_eq!(parsed.timestamp(), secs);
    }

    #[test]
    fn weekday_knows_a_sunday() {
        // 2026-11-01 is a Sunday.
        assert_eq!(weekday(days_from_civil(2026, 11, 1) * DAY + 3600), 6);
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut buf = Vec::new();
        push_json_str(&mut buf, "a \"b\" \\ c\n\u{1}Müller");
        let s = String::from_utf8(buf).expect("utf-8");
        let back: String = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(back, "a \"b\" \\ c\n\u{1}Müller");
    }

    #[test]
    fn integers_are_decimal() {
        let mut buf = Vec::new();
        for v in [0u64, 7, 10, 123_456_789, u64::MAX] {
            buf.clear();
            push_u64(&mut buf, v);
            assert_eq!(buf, v.to_string().as_bytes());
        }
    }
}
