//! `[prediction]`: the calibration `leadscore tune` writes. A valid table compiles to
//! the model's `prediction`; every mistake is a located error, all reported at once, in file order.

use leadscore_model::Severity;

use crate::util::{diagnostics, model, render};

const BASE: &str = "version = 1\nname = \"p\"\n\n[[fit]]\nid = \"cto\"\nwhen = { field = \"job_title\", eq = \"CTO\" }\npoints = 10\n";

#[test]
fn a_prediction_table_compiles_and_gives_a_probability() {
    let text = format!(
        "{BASE}\n[prediction]\nintercept = -4.0\nslope = 0.05\ntuned_at = \"2026-12-01\"\nauc = 0.83\ncontacts = 5000\n"
    );
    let p = model(&text).prediction.expect("a prediction");
    assert_eq!(
        (p.intercept, p.slope, p.auc, p.contacts),
        (-4.0, 0.05, 0.83, 5000)
    );
    assert_eq!(p.tuned_at, "2026-12-01");
    // 1 / (1 + e^(-(-4 + 0.05 * 80))) = 1 / (1 + e^0) = 0.5.
    assert_eq!(p.probability(80.0), 0.5);
    assert!(p.probability(100.0) > 0.5 && p.probability(0.0) < 0.5);
    assert!(model(BASE).prediction.is_none());
}

#[test]
fn prediction_mistakes_are_located_errors_all_at_once() {
    let text = format!(
        "{BASE}\n[prediction]\nintercept = \"-4\"\nslope = 0.05\ntuned_at = \"last week\"\nauc = 1.3\ncontacts = 0\nsource = \"x\"\n"
    );
    let all = diagnostics(&text);
    let errors: Vec<_> = all
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|d| (&text[d.span.clone()], d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "\"-4\"",
                "`prediction.intercept` must be a number, found a string"
            ),
            (
                "\"last week\"",
                "`prediction.tuned_at` must be a date, found `last week`"
            ),
            (
                "1.3",
                "`prediction.auc` must be between 0 and 1, found `1.3`"
            ),
            (
                "0",
                "`prediction.contacts` must be a positive integer, found `0`"
            ),
            ("source", "unknown key `source` in `[prediction]`"),
        ],
        "{}",
        render(&all)
    );
    let line_of = |needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    assert_eq!(errors[1].line, line_of("tuned_at"));
    // A missing key names the table.
    let missing =
        format!("{BASE}\n[prediction]\nintercept = -4.0\nslope = 0.05\nauc = 0.8\ncontacts = 9\n");
    let all = diagnostics(&missing);
    assert_eq!(all.len(), 1, "{}", render(&all));
    assert_eq!(all[0].message, "missing `tuned_at`");
    assert_eq!(&missing[all[0].span.clone()], "[prediction]");
}
