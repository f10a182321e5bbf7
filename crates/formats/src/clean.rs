//! Messy CRM exports: renamed columns, placeholder values, formatted numbers, Yes/No.
//!
//! A contacts CSV exported from a CRM rarely looks like the model expects: the column is
//! `Lead Source`, an unset picklist reads `Select` or `N/A`, a company size is `1,200`
//! and revenue `$3.5M`, a checkbox `Yes`. A [`Cleaning`] handed to
//! [`crate::ContactsReader::with_cleaning`] fixes these while the file streams:
//!
//! * **Column mapping** (`--map "Lead Source=lead_source"`): the header column (trimmed,
//!   any case) becomes the attribute on the right. Mapping to `id` or `email` makes it
//!   the id or e-mail column. A mapped column that is not in the header, or two columns
//!   ending up with one name, is an error naming the file.
//! * **Placeholders** (`--missing "Select,N/A,unknown"`): a cell equal to one of them,
//!   trimmed and ignoring case, is missing, exactly like an empty cell (in every column,
//!   the id included: a row whose id is `N/A` has no id).
//! * **Numbers**, in numeric columns only (see [`parse_number`] for the accepted forms):
//!   the cell becomes a number. A cell that is no number stays text, which numeric
//!   operators treat as not a number (the rule does not match), as before.
//! * **Booleans**, in boolean columns only: `yes`/`no`, `y`/`n`, `true`/`false`, `1`/`0`
//!   (any case) become `true`/`false`; anything else stays text.
//!
//! Numbers and booleans are column-scoped on purpose: the company `3M` is no three
//! million and the country `NO` is Norway, not `false`. Which columns are numeric or
//! boolean is the caller's decision (the command line takes those the model compares
//! with `gt`/`gte`/`lt`/`lte`, or with `true`/`false`, plus `--numeric`/`--boolean`).

/// How to clean a contacts CSV while reading it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cleaning {
    /// `(header column, attribute name)`: the column is read as that attribute.
    pub rename: Vec<(String, String)>,
    /// Placeholder values that mean "missing", compared trimmed and ignoring case.
    pub missing: Vec<String>,
    /// Attributes (names after renaming, any case) whose cells are parsed as numbers.
    pub numeric: Vec<String>,
    /// Attributes whose cells are parsed as booleans.
    pub boolean: Vec<String>,
}

impl Cleaning {
    /// Parse one `--map` value, `COLUMN=ATTRIBUTE` (both trimmed, neither empty; the
    /// column name may itself contain `=` only if the attribute does not: the last `=`
    /// splits).
    pub fn parse_map(text: &str) -> Result<(String, String), String> {
        match text.rsplit_once('=') {
            Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                Ok((from.trim().to_owned(), to.trim().to_owned()))
            }
            _ => Err(format!(
                "`{text}`: expected COLUMN=ATTRIBUTE, e.g. \"Lead Source=lead_source\""
            )),
        }
    }

    /// Split one `--missing` value at commas: each trimmed, non-empty item is a
    /// placeholder (so `"Select, N/A"` is two).
    pub fn parse_list(text: &str) -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether a trimmed cell is a placeholder for "missing".
    pub fn is_missing(&self, cell: &str) -> bool {
        // Full Unicode case folding, not ASCII only: placeholders come in every language.
        let cell = cell.to_lowercase();
        self.missing.iter().any(|m| m.to_lowercase() == cell)
    }
}

/// A number as CRM exports write it, or `None`. Accepted, around an optional sign:
///
/// * plain decimals: `1200`, `-3.5`, `.5`, `1e6`;
/// * thousands separators between groups of exactly three digits: `1,200`,
///   `1,234,567.89`, `1'200` (Swiss), `1 200` (space or no-break space), `1_200`;
/// * a decimal comma when there is no point and the part after the comma is not a group
///   of three: `3,5` and `12,75` are 3.5 and 12.75 (`1,200` stays one thousand two
///   hundred: in a mixed export, use one convention);
/// * a currency sign or code before or after: `$`, `€`, `£`, `¥`, `USD`, `EUR`, `GBP`,
///   `CHF` (the amount is kept as written: no conversion);
/// * a magnitude right after the number or after a space: `k` (thousand), `m`, `mm`,
///   `mn`, `mio` (million), `b`, `bn`, `mrd` (billion), any case: `$3.5k` is 3500,
///   `10M` and `10 Mio` are ten million;
/// * a percent sign: `12%` is 12;
/// * one unit word after a space, which is dropped: `45 min` is 45, `200 employees` is
///   200 (no unit conversion: `2 h` is 2, so keep one unit per column).
pub fn parse_number(text: &str) -> Option<f64> {
    let mut s = text.trim();
    // Currency before or after the number.
    const CURRENCIES: [&str; 8] = ["$", "€", "£", "¥", "usd", "eur", "gbp", "chf"];
    for c in CURRENCIES {
        if let Some(rest) = strip_prefix_ignore_case(s, c) {
            s = rest.trim_start();
            break;
        }
    }
    let negative_outside = s.starts_with('-');
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    let mut body = body.trim_start();
    // A currency after the sign: `-$5`.
    if negative_outside || s.starts_with('+') {
        for c in CURRENCIES {
            if let Some(rest) = strip_prefix_ignore_case(body, c) {
                body = rest.trim_start();
                break;
            }
        }
    }
    for c in CURRENCIES {
        if let Some(rest) = strip_suffix_ignore_case(body, c) {
            body = rest.trim_end();
            break;
        }
    }
    // Split the numeric part from what follows it.
    let end = body
        .char_indices()
        .find(|&(_, c)| {
            !(c.is_ascii_digit()
                || matches!(c, '.' | ',' | '\'' | '_' | ' ' | '\u{a0}' | '\u{202f}'))
        })
        .map_or(body.len(), |(i, _)| i);
    let (digits, rest) = body.split_at(end);
    // `1e6`: an exponent belongs to the number.
    let (digits, rest) = match rest.strip_prefix(['e', 'E']) {
        Some(exp)
            if exp
                .trim_start_matches(['+', '-'])
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
                && !digits.trim().is_empty() =>
        {
            let exp_end = exp
                .char_indices()
                .skip(1)
                .find(|&(_, c)| !c.is_ascii_digit())
                .map_or(exp.len(), |(i, _)| i);
            let value = format!(
                "{}e{}",
                normalise_digits(digits.trim_end())?,
                &exp[..exp_end]
            );
            return finish(sign * value.parse::<f64>().ok()?, &exp[exp_end..]);
        }
        _ => (digits, rest),
    };
    let number: f64 = normalise_digits(digits.trim_end())?.parse().ok()?;
    finish(sign * number, rest)
}

/// Apply what may follow the digits: a magnitude, `%` or a unit word.
fn finish(number: f64, rest: &str) -> Option<f64> {
    let rest = rest.trim();
    let factor = match rest.to_lowercase().as_str() {
        "" | "%" => 1.0,
        "k" => 1e3,
        "m" | "mm" | "mn" | "mio" => 1e6,
        "b" | "bn" | "mrd" => 1e9,
        word if word.chars().all(char::is_alphabetic) => 1.0,
        _ => return None,
    };
    let value = number * factor;
    value.is_finite().then_some(value)
}

/// Turn the digits with their separators into something `str::parse` takes, or `None`
/// when the separators do not follow one of the accepted patterns.
fn normalise_digits(digits: &str) -> Option<String> {
    if digits.is_empty() || !digits.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    if frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let separators = [',', '\'', '_', ' ', '\u{a0}', '\u{202f}'];
    let groups: Vec<&str> = int.split(separators).collect();
    let int = if groups.len() == 1 {
        int.to_owned()
    } else {
        let grouped = groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3)
            && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()));
        if grouped {
            groups.concat()
        } else if frac.is_none()
            && groups.len() == 2
            && int.contains(',')
            && groups
                .iter()
                .all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()))
        {
            // A decimal comma: `3,5`.
            return Some(format!("{}.{}", groups[0], groups[1]));
        } else {
            return None;
        }
    };
    Some(match frac {
        Some(frac) => format!("{int}.{frac}"),
        None => int,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let start = s.len().checked_sub(suffix.len())?;
    let tail = s.get(start..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..start])
}

/// A boolean as CRM exports write it: `yes`/`no`, `y`/`n`, `true`/`false`, `1`/`0`,
/// ignoring case and surrounding space; `None` for anything else.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Some(true),
        "no" | "n" | "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_documented() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1200", Some(1200.0)),
            (" -3.5 ", Some(-3.5)),
            (".5", Some(0.5)),
            ("1e6", Some(1e6)),
            ("1,200", Some(1200.0)),
            ("1,234,567.89", Some(1_234_567.89)),
            ("1'200", Some(1200.0)),
            ("1 200", Some(1200.0)),
            ("1\u{a0}200", Some(1200.0)),
            ("1_200", Some(1200.0)),
            ("3,5", Some(3.5)),
            ("12,75", Some(12.75)),
            ("$3.5k", Some(3500.0)),
            ("€10M", Some(10_000_000.0)),
            ("10 Mio", Some(10_000_000.0)),
            ("2.5bn", Some(2.5e9)),
            ("USD 1,000", Some(1000.0)),
            ("1000 EUR", Some(1000.0)),
            ("-$5", Some(-5.0)),
            ("12%", Some(12.0)),
            ("45 min", Some(45.0)),
            ("200 employees", Some(200.0)),
            ("", None),
            ("N/A", None),
            ("about 50", None),
            ("1,20,000", None),
            ("1.2.3", None),
            ("3M Sales Rep", None),
            ("12-15", None),
            ("$", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_number(text), *want, "`{text}`");
        }
    }

    #[test]
    fn booleans_as_documented() {
        for t in ["Yes", "y", "TRUE", " 1 "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["No", "N", "false", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn map_and_lists_parse() {
        assert_eq!(
            Cleaning::parse_map(" Lead Source = lead_source "),
            Ok(("Lead Source".into(), "lead_source".into()))
        );
        assert!(Cleaning::parse_map("lead_source").is_err());
        assert!(Cleaning::parse_map("=x").is_err());
        assert_eq!(
            Cleaning::parse_list("Select, N/A,,unknown "),
            vec!["Select", "N/A", "unknown"]
        );
        let c = Cleaning {
            missing: vec!["N/A".into(), "Sélect".into()],
            ..Cleaning::default()
        };
        assert!(c.is_missing("n/a"));
        assert!(c.is_missing("SÉLECT"));
        assert!(!c.is_missing("NA"));
    }
}
