//! Durations as the model file writes them: a positive integer and a unit.
//!
//! `30m`, `12h`, `90d`, `2w`: minutes, hours, days, weeks. Nothing else: no months or
//! years (their length varies), no fractions, no spaces, no zero. Keeping the grammar this
//! small means every duration in a reviewed model file reads the same to everyone, and
//! converts to an exact number of milliseconds.

use crate::compiled::Millis;

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;
const WEEK: Millis = 7 * DAY;

/// What a valid duration looks like, for help texts.
pub(crate) const DURATION_HELP: &str = "write a positive integer followed by `m` (minutes), `h` (hours), `d` (days) or `w` (weeks), like `30d`";

/// Parse a duration (`30m`, `12h`, `90d`, `2w`) into milliseconds.
///
/// Returns `None` for anything else: a missing or unknown unit, a sign, spaces, zero, or a
/// value too large to count in milliseconds.
pub(crate) fn parse(text: &str) -> Option<Millis> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: Millis = digits.parse().ok()?;
    if count == 0 {
        return None;
    }
    let scale = match unit {
        'm' => MINUTE,
        'h' => HOUR,
        'd' => DAY,
        'w' => WEEK,
        _ => return None,
    };
    count.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_milliseconds() {
        assert_eq!(parse("30m"), Some(30 * 60_000));
        assert_eq!(parse("12h"), Some(12 * 3_600_000));
        assert_eq!(parse("30d"), Some(30 * 86_400_000));
        assert_eq!(parse("2w"), Some(14 * 86_400_000));
        assert_eq!(parse("1d"), Some(86_400_000));
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for bad in [
            "", "d", "30", "30 days", "30 d", "0d", "00d", "-1d", "+1d", "1.5d", "5y", "30D",
            "1mo", " 3d", "3d ", "٣d", "1e3d",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} parsed");
        }
    }

    #[test]
    fn durations_too_long_for_milliseconds_are_rejected() {
        assert_eq!(parse("99999999999999999w"), None);
        assert_eq!(parse("999999999999999999999999d"), None);
    }

    #[test]
    fn leading_zeros_are_allowed() {
        assert_eq!(parse("07d"), Some(7 * DAY));
    }
}
