//! Warnings: reported apart from errors, and never stop a model from loading.

use leadscore_model::Severity;

use crate::util::{HEADER, assert_diagnostic, diagnostics, warnings};

#[test]
fn unused_group_is_a_warning_and_the_model_loads() {
    let text = format!("{HEADER}[groups.product-a]\nmax = 50\n");
    let warnings = warnings(&text);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_diagnostic(
        &text,
        &warnings[0],
        "product-a",
        Some("product-a"),
        "group `product-a` is never used",
    );
}

#[test]
fn unused_list_is_a_warning() {
    let text = format!(
        "{HEADER}[lists]\nfree_mail = [\"gmail.com\"]\ncompetitors = []\n\
         [[fit]]\nid = \"a\"\nwhen = {{ field = \"email_domain\", in_list = \"free_mail\" }}\npoints = -5\n"
    );
    let warnings = warnings(&text);
    assert_eq!(warnings.len(), 1);
    assert_diagnostic(
        &text,
        &warnings[0],
        "competitors",
        None,
        "list `competitors` is never used",
    );
}

#[test]
fn grades_with_the_same_bound_warn() {
    let text = format!("{HEADER}[grades]\nA = 40\nB = 20\nC = 20\n");
    let warnings = warnings(&text);
    assert_eq!(warnings.len(), 1);
    assert_diagnostic(
        &text,
        &warnings[0],
        "C",
        None,
        "grade `C` has the same bound `20` as grade `B`",
    );
    assert_eq!(
        warnings[0].help.as_deref(),
        Some("only `B` is ever given; use a different bound or remove `C`")
    );
}

#[test]
fn labels_with_the_same_bound_warn() {
    let text = format!("{HEADER}[labels]\nhot = 80\nwarm = 80.0\n");
    let warnings = warnings(&text);
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].message,
        "label `warm` has the same bound `80` as label `hot`"
    );
}

#[test]
fn warnings_travel_with_errors_when_loading_fails() {
    let text = format!("{HEADER}[groups.unused]\nversion2 = true\n");
    let all = diagnostics(&text);
    let severities: Vec<Severity> = all.iter().map(|d| d.severity).collect();
    assert_eq!(severities, [Severity::Error, Severity::Warning]);
}

#[test]
fn warning_display_says_warning() {
    let text = format!("{HEADER}[groups.g]\n");
    let warnings = warnings(&text);
    assert_eq!(
        warnings[0].to_string(),
        "m.toml:3:9: warning: rule `g`: group `g` is never used (help: name it with `group` in an engagement rule or a score condition, or remove it)"
    );
}
