//! Checking `[prediction]`: the calibration `leadscore tune` writes (see
//! `crate::compiled::Prediction` and docs/model-format.md).

use super::Checker;
use crate::compiled::Prediction;
use crate::syntax::{Node, Table, Value};

/// Keys of `[prediction]`.
pub(crate) const PREDICTION_KEYS: &[&str] = &["intercept", "slope", "tuned_at", "auc", "contacts"];

impl Checker<'_, '_> {
    /// `[prediction]`, when present: `Some(None)` without it, `None` when invalid.
    pub(super) fn prediction(&mut self, top: &Table) -> Option<Option<Prediction>> {
        let Some(entry) = top.get("prediction") else {
            return Some(None);
        };
        let node = &entry.value;
        let table = self.table("`prediction`", node)?;
        self.check_keys(table, PREDICTION_KEYS, "`[prediction]`");
        let what = "`[prediction]` (written by `leadscore tune`)";
        let intercept = self
            .required(table, node, "intercept", what)
            .and_then(|n| self.number("`prediction.intercept`", n));
        let slope = self
            .required(table, node, "slope", what)
            .and_then(|n| self.number("`prediction.slope`", n));
        let tuned_at = self
            .required(table, node, "tuned_at", what)
            .and_then(|n| self.tuned_at(n));
        let auc = self.required(table, node, "auc", what).and_then(|n| {
            let auc = self.number("`prediction.auc`", n)?;
            if !(0.0..=1.0).contains(&auc) {
                self.error_help(
                    n.span.clone(),
                    format!("`prediction.auc` must be between 0 and 1, found `{auc}`"),
                    "the held-out ROC AUC of the tuning run: 0.5 is chance, 1 a perfect ranking"
                        .to_owned(),
                );
                return None;
            }
            Some(auc)
        });
        let contacts = self
            .required(table, node, "contacts", what)
            .and_then(|n| self.positive_integer("`prediction.contacts`", n));
        Some(Some(Prediction {
            intercept: intercept?,
            slope: slope?,
            tuned_at: tuned_at?,
            auc: auc?,
            contacts: u64::from(contacts?),
        }))
    }

    /// A date `YYYY-MM-DD`, optionally followed by an RFC 3339 time, as a string.
    fn tuned_at(&mut self, node: &Node) -> Option<String> {
        let help = "the date of the tuning run as a string, like `\"2026-12-01\"`".to_owned();
        let Value::String(text) = &node.value else {
            self.error_help(
                node.span.clone(),
                format!(
                    "`prediction.tuned_at` must be a string, found {}",
                    node.value.kind()
                ),
                help,
            );
            return None;
        };
        if !is_date(text) {
            self.error_help(
                node.span.clone(),
                format!("`prediction.tuned_at` must be a date, found `{text}`"),
                help,
            );
            return None;
        }
        Some(text.clone())
    }
}

/// Whether `text` starts with a valid calendar date `YYYY-MM-DD`, followed by nothing
/// or by `T` and more (an RFC 3339 time).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || (b.len() > 10 && b[10] != b'T') {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::is_date;

    #[test]
    fn dates_are_real_calendar_dates() {
        for good in ["2026-12-01", "2024-02-29", "2026-12-01T20:00:00Z"] {
            assert!(is_date(good), "{good}");
        }
        for bad in [
            "2026-13-01",
            "2025-02-29",
            "2026-1-01",
            "yesterday",
            "2026-12-01 20:00",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }
}
