//! Helpers shared by the integration tests: loading snippets, picking diagnostics,
//! locating text, and rendering compiled conditions compactly for comparison.

use leadscore_model::{Checked, CompiledModel, Condition, Diagnostic, FieldOp, Literal, Severity};

/// The two lines every snippet starts with.
pub const HEADER: &str = "version = 1\nname = \"t\"\n";

/// The text of a fixture file.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!("{path}: {error}"),
    }
}

/// Load `text` as `m.toml`, which must be valid.
pub fn checked(text: &str) -> Checked {
    match leadscore_model::load("m.toml", text) {
        Ok(checked) => checked,
        Err(diagnostics) => panic!("model rejected:\n{}", render(&diagnostics)),
    }
}

/// Load `text` as `m.toml`, which must be valid.
pub fn model(text: &str) -> CompiledModel {
    checked(text).model
}

/// Every diagnostic of an invalid model.
pub fn diagnostics(text: &str) -> Vec<Diagnostic> {
    match leadscore_model::load("m.toml", text) {
        Ok(checked) => panic!(
            "model accepted: {}",
            leadscore_model::summary(&checked.model)
        ),
        Err(diagnostics) => diagnostics,
    }
}

/// The errors of an invalid model.
pub fn errors(text: &str) -> Vec<Diagnostic> {
    diagnostics(text)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

/// The one error of an invalid model.
pub fn single_error(text: &str) -> Diagnostic {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "expected one error:\n{}", render(&errors));
    errors.into_iter().next().unwrap_or_else(|| unreachable!())
}

/// The warnings of a valid model.
pub fn warnings(text: &str) -> Vec<Diagnostic> {
    checked(text).warnings
}

/// One diagnostic per line, as `model check` prints them.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line and column of the `nth` (0-based) occurrence of `needle` in `text`.
pub fn position_of(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let Some((offset, _)) = text.match_indices(needle).nth(nth) else {
        panic!("{needle:?} occurs fewer than {} times", nth + 1);
    };
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Check a diagnostic: where it is, what it underlines, its rule and its message.
#[track_caller]
pub fn assert_diagnostic(
    text: &str,
    diagnostic: &Diagnostic,
    underlined: &str,
    rule: Option<&str>,
    message: &str,
) {
    assert_eq!(diagnostic.message, message, "{diagnostic}");
    assert_eq!(&text[diagnostic.span.clone()], underlined, "{diagnostic}");
    assert_eq!(
        (diagnostic.line, diagnostic.column),
        position_of(text, underlined, 0),
        "{diagnostic} (position of the first {underlined:?})"
    );
    assert_eq!(diagnostic.rule.as_deref(), rule, "{diagnostic}");
}

/// A compact rendering of a condition: `all(country in [de, at]; score gte 60)`.
pub fn show(condition: &Condition) -> String {
    let join = |items: &[Condition]| items.iter().map(show).collect::<Vec<_>>().join("; ");
    let cmps = |cmps: &[(leadscore_model::Cmp, f64)]| {
        cmps.iter()
            .map(|(cmp, n)| format!("{} {n}", format!("{cmp:?}").to_lowercase()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match condition {
        Condition::Field { field, ops } => {
            let ops: Vec<String> = ops.iter().map(show_op).collect();
            format!("{field} {}", ops.join(", "))
        }
        Condition::All(items) => format!("all({})", join(items)),
        Condition::Any(items) => format!("any({})", join(items)),
        Condition::Not(inner) => format!("not({})", show(inner)),
        Condition::Score { group, cmps: c } => match group {
            Some(group) => format!("group#{group} {}", cmps(c)),
            None => format!("score {}", cmps(c)),
        },
        Condition::GradeIn(grades) => format!("grade_in [{}]", grades.join(", ")),
        Condition::EventCount {
            event,
            cmps: c,
            within,
        } => match within {
            Some(within) => format!("event#{event} {} within {within}", cmps(c)),
            None => format!("event#{event} {}", cmps(c)),
        },
        Condition::Disqualified(value) => format!("disqualified {value}"),
        Condition::Stage(stage) => format!("stage#{stage}"),
    }
}

fn show_literal(literal: &Literal) -> String {
    let mut text = literal.text.clone();
    if let Some(number) = literal.number {
        text.push_str(&format!("#{number}"));
    }
    if let Some(boolean) = literal.boolean {
        text.push_str(&format!("?{boolean}"));
    }
    text
}

fn show_op(op: &FieldOp) -> String {
    let list = |literals: &[Literal]| {
        literals
            .iter()
            .map(show_literal)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match op {
        FieldOp::Eq(literal) => format!("eq {}", show_literal(literal)),
        FieldOp::Ne(literal) => format!("ne {}", show_literal(literal)),
        FieldOp::In(literals) => format!("in [{}]", list(literals)),
        FieldOp::NotIn(literals) => format!("not_in [{}]", list(literals)),
        FieldOp::InList { name, .. } => format!("in_list {name}"),
        FieldOp::Contains(text) => format!("contains {text}"),
        FieldOp::StartsWith(text) => format!("starts_with {text}"),
        FieldOp::EndsWith(text) => format!("ends_with {text}"),
        FieldOp::Matches(regex) => format!("matches /{}/", regex.as_str()),
        FieldOp::Glob(regex) => format!("glob /{}/", regex.as_str()),
        FieldOp::Compare(cmp, n) => format!("{} {n}", format!("{cmp:?}").to_lowercase()),
        FieldOp::Exists(value) => format!("exists {value}"),
    }
}
