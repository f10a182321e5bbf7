//! Evaluating compiled conditions.
//!
//! Field conditions read a [`Fields`] source (contact attributes or an event). Score
//! conditions (stages, triggers, routes) read a [`ScoreView`], which computes the score
//! lazily: a stage such as "score >= 60 and a demo request" is usually decided by the
//! cheap event count alone, so `all` evaluates cheap children before score children and
//! the score is only computed when an answer depends on it. Conditions are pure, so the
//! order of evaluation never changes a result.
//!
//! String operators compare case-insensitively (model literals are already lower-cased);
//! numeric operators accept numbers and strings that parse as numbers; a missing field
//! (or an empty string) fails every operator except `exists = false`, `ne`.

use std::borrow::Cow;

use leadscore_model::{Condition, EventNameId, FieldOp, GroupId, Literal, Millis, StageId};

use crate::input::{Fields, ValueRef};

/// What score conditions need to know about a contact at one instant.
pub trait ScoreView {
    /// Attributes for field conditions.
    fn attributes(&self) -> &dyn Fields;
    /// The clamped, unrounded score.
    fn score(&self) -> f64;
    /// A number the score is certainly not above, cheaper than [`Self::score`]: a
    /// comparison whose every bound lies above it is decided without the score (`score
    /// >= 80` is false for a contact that cannot reach 80). The default is no bound.
    fn score_at_most(&self) -> f64 {
        f64::INFINITY
    }
    /// A group's points.
    fn group_points(&self, group: GroupId) -> f64;
    /// The grade letter, if the model grades.
    fn grade(&self) -> Option<&str>;
    /// Whether a disqualify rule matches.
    fn disqualified(&self) -> bool;
    /// The current stage.
    fn stage(&self) -> Option<StageId>;
    /// Events of that name at or before now, inside `within` when given.
    fn event_count(&self, event: EventNameId, within: Option<Millis>) -> u64;
}

/// Evaluate a field-only condition (fit, disqualify, engagement `when`) on `fields`.
///
/// Score conditions never reach here: validation allows only field conditions and
/// combinators in these places; if one did, it is false.
pub fn eval_fields(cond: &Condition, fields: &(impl Fields + ?Sized)) -> bool {
    match cond {
        Condition::Field { field, ops } => {
            let value = fields.field(field).filter(|v| !is_blank(v));
            ops.iter().all(|op| eval_op(op, value))
        }
        Condition::All(items) => items.iter().all(|c| eval_fields(c, fields)),
        Condition::Any(items) => items.iter().any(|c| eval_fields(c, fields)),
        Condition::Not(inner) => !eval_fields(inner, fields),
        _ => false,
    }
}

/// Evaluate any condition against a contact's state at one instant.
pub fn eval(cond: &Condition, view: &impl ScoreView) -> bool {
    match cond {
        Condition::Field { .. } => eval_fields(cond, view.attributes()),
        Condition::All(items) => {
            // Cheap children first: they usually decide, and then no score is computed
            // (a group's points cost less than the whole score). Pure conditions make
            // the order invisible in the result.
            (0..=FULL_SCORE).all(|rank| {
                items
                    .iter()
                    .filter(|c| cost(c) == rank)
                    .all(|c| eval(c, view))
            })
        }
        Condition::Any(items) => (0..=FULL_SCORE).any(|rank| {
            items
                .iter()
                .filter(|c| cost(c) == rank)
                .any(|c| eval(c, view))
        }),
        Condition::Not(inner) => !eval(inner, view),
        Condition::Score { group, cmps } => {
            if group.is_none() {
                // Any score below every bound answers each comparison alike.
                let at_most = view.score_at_most();
                if cmps.iter().all(|(_, bound)| at_most < *bound) {
                    return cmps.iter().all(|(cmp, bound)| cmp.holds(at_most, *bound));
                }
            }
            let value = match group {
                None => view.score(),
                Some(g) => view.group_points(*g),
            };
            cmps.iter().all(|(cmp, bound)| cmp.holds(value, *bound))
        }
        Condition::GradeIn(grades) => view
            .grade()
            .is_some_and(|g| grades.iter().any(|x| x.eq_ignore_ascii_case(g))),
        Condition::EventCount {
            event,
            cmps,
            within,
        } => {
            let count = view.event_count(*event, *within) as f64;
            cmps.iter().all(|(cmp, bound)| cmp.holds(count, *bound))
        }
        Condition::Disqualified(want) => view.disqualified() == *want,
        Condition::Stage(stage) => view.stage() == Some(*stage),
    }
}

/// Cost rank of a condition with only attributes, counts, grade and stage to read.
pub const CHEAP: u8 = 0;
/// Cost rank of a condition that needs one group's points.
pub const GROUP_SCORE: u8 = 1;
/// Cost rank of a condition that needs the whole score.
pub const FULL_SCORE: u8 = 2;

/// How expensive evaluating `cond` is: [`CHEAP`], [`GROUP_SCORE`] or [`FULL_SCORE`].
pub fn cost(cond: &Condition) -> u8 {
    match cond {
        Condition::Score { group: None, .. } => FULL_SCORE,
        Condition::Score { group: Some(_), .. } => GROUP_SCORE,
        Condition::All(items) | Condition::Any(items) => {
            items.iter().map(cost).max().unwrap_or(CHEAP)
        }
        Condition::Not(inner) => cost(inner),
        _ => CHEAP,
    }
}

/// Whether `cond` names `disqualified = true` anywhere: only such triggers may fire for
/// a disqualified contact.
pub fn names_disqualified(cond: &Condition) -> bool {
    match cond {
        Condition::Disqualified(true) => true,
        Condition::All(items) | Condition::Any(items) => items.iter().any(names_disqualified),
        Condition::Not(inner) => names_disqualified(inner),
        _ => false,
    }
}

fn is_blank(value: &ValueRef<'_>) -> bool {
    matches!(value, ValueRef::Str(s) if s.trim().is_empty())
}

fn eval_op(op: &FieldOp, value: Option<ValueRef<'_>>) -> bool {
    let Some(value) = value else {
        return matches!(op, FieldOp::Exists(false) | FieldOp::Ne(_));
    };
    match op {
        FieldOp::Exists(want) => *want,
        FieldOp::Eq(lit) => equals(value, lit),
        FieldOp::Ne(lit) => !equals(value, lit),
        FieldOp::In(lits) => lits.iter().any(|l| equals(value, l)),
        FieldOp::NotIn(lits) => !lits.iter().any(|l| equals(value, l)),
        FieldOp::InList { values, .. } => values.contains(lower(&text(value)).as_ref()),
        FieldOp::Contains(needle) => lower(&text(value)).contains(needle.as_str()),
        FieldOp::StartsWith(prefix) => lower(&text(value)).starts_with(prefix.as_str()),
        FieldOp::EndsWith(suffix) => lower(&text(value)).ends_with(suffix.as_str()),
        FieldOp::Matches(re) | FieldOp::Glob(re) => re.is_match(&text(value)),
        FieldOp::Compare(cmp, bound) => number(value).is_some_and(|n| cmp.holds(n, *bound)),
    }
}

/// `eq` semantics: numbers compare as numbers, booleans as booleans, else strings
/// case-insensitively.
fn equals(value: ValueRef<'_>, lit: &Literal) -> bool {
    if let (Some(want), Some(have)) = (lit.number, number(value)) {
        return have == want;
    }
    if let (Some(want), ValueRef::Bool(have)) = (lit.boolean, value) {
        return have == want;
    }
    let t = text(value);
    t.len() == lit.text.len() && t.eq_ignore_ascii_case(&lit.text) || lower(&t) == lit.text
}

/// A value as a number: numbers are, strings that parse as one are.
pub fn number(value: ValueRef<'_>) -> Option<f64> {
    match value {
        ValueRef::Num(n) => Some(n),
        ValueRef::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        ValueRef::Bool(_) => None,
    }
}

/// A value as text, the way it would be written (`5`, `2.5`, `true`).
pub fn text(value: ValueRef<'_>) -> Cow<'_, str> {
    match value {
        ValueRef::Str(s) => Cow::Borrowed(s),
        ValueRef::Num(n) => Cow::Owned(format_number(n)),
        ValueRef::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
    }
}

/// Format a number without a spurious `.0` for whole numbers.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn lower<'a>(s: &Cow<'a, str>) -> Cow<'a, str> {
    if s.chars().any(char::is_uppercase) {
        Cow::Owned(s.to_lowercase())
    } else {
        s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Attributes, Value};
    use leadscore_model::Cmp;

    fn lit(text: &str) -> Literal {
        Literal {
            text: text.to_lowercase(),
            number: text.parse().ok(),
            boolean: text.parse().ok(),
        }
    }

    fn leaf(field: &str, op: FieldOp) -> Condition {
        Condition::Field {
            field: field.into(),
            ops: vec![op],
        }
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attributes {
        let mut a = Attributes::new();
        for (k, v) in pairs {
            a.set(*k, v.clone());
        }
        a
    }

    #[test]
    fn string_operators_ignore_case() {
        let a = attrs(&[("country", Value::Str("de".into()))]);
        assert!(eval_fields(
            &leaf("country", FieldOp::In(vec![lit("DE"), lit("AT")])),
            &a
        ));
        assert!(eval_fields(&leaf("country", FieldOp::Eq(lit("De"))), &a));
        assert!(!eval_fields(&leaf("country", FieldOp::Ne(lit("DE"))), &a));
    }

    #[test]
    fn numeric_strings_compare_as_numbers() {
        let a = attrs(&[("company_size", Value::Str(" 250 ".into()))]);
        assert!(eval_fields(
            &leaf("company_size", FieldOp::Compare(Cmp::Gte, 200.0)),
            &a
        ));
        assert!(!eval_fields(
            &leaf("company_size", FieldOp::Compare(Cmp::Lt, 250.0)),
            &a
        ));
        assert!(eval_fields(
            &leaf("company_size", FieldOp::Eq(lit("250.0"))),
            &a
        ));
    }

    #[test]
    fn missing_field_fails_all_but_ne_and_not_exists() {
        let a = attrs(&[("blank", Value::Str("  ".into()))]);
        for field in ["nope", "blank"] {
            assert!(eval_fields(&leaf(field, FieldOp::Ne(lit("x"))), &a));
            assert!(eval_fields(&leaf(field, FieldOp::Exists(false)), &a));
            assert!(!eval_fields(&leaf(field, FieldOp::Exists(true)), &a));
            assert!(!eval_fields(
                &leaf(field, FieldOp::NotIn(vec![lit("x")])),
                &a
            ));
            assert!(!eval_fields(
                &leaf(field, FieldOp::Compare(Cmp::Lt, 1.0)),
                &a
            ));
        }
    }

    #[test]
    fn email_domain_is_derived_and_case_insensitive() {
        let a = attrs(&[("email", Value::Str("Jo@Sub.GMAIL.com".into()))]);
        assert!(eval_fields(
            &leaf("email_domain", FieldOp::Eq(lit("sub.gmail.com"))),
            &a
        ));
        assert!(eval_fields(
            &leaf("email_domain", FieldOp::EndsWith("gmail.com".into())),
            &a
        ));
    }
}
