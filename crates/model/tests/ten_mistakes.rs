//! `fixtures/ten-mistakes.toml` has ten different mistakes; one run reports all ten.

use leadscore_model::Severity;

use crate::util::{diagnostics, fixture, render};

#[test]
fn ten_mistakes_give_exactly_ten_located_errors() {
    let text = fixture("ten-mistakes.toml");
    let all = diagnostics(&text);
    let errors: Vec<_> = all
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 10, "{}", render(&all));

    // (underlined text, rule, message)
    let expected: [(&str, Option<&str>, &str); 10] = [
        ("2", None, "unsupported model version `2`"),
        (
            "lable",
            Some("decision-maker"),
            "unknown key `lable` in a `[[fit]]` rule",
        ),
        (
            r#""(?i)\\b(ceo|cto""#,
            Some("decision-maker"),
            r"invalid regex `(?i)\b(ceo|cto`: unclosed group",
        ),
        (
            "\"free_mails\"",
            Some("private-email"),
            "unknown list `free_mails`",
        ),
        ("equals", Some("germany"), "unknown operator `equals`"),
        (
            "\"product-x\"",
            Some("pricing-visit"),
            "unknown group `product-x`",
        ),
        (
            "\"30 days\"",
            Some("pricing-visit"),
            "invalid duration `30 days` for `within`",
        ),
        (
            "0",
            Some("webinar"),
            "`limit.max` must be a positive integer, found `0`",
        ),
        (
            "\"decision-maker\"",
            Some("decision-maker"),
            "duplicate rule id `decision-maker`",
        ),
        (
            "\"sales-c\"",
            Some("standard"),
            "team `sales-c` has no members",
        ),
    ];
    for (error, (underlined, rule, message)) in errors.iter().zip(expected) {
        assert_eq!(error.message, message, "{error}");
        assert_eq!(&text[error.span.clone()], underlined, "{error}");
        assert_eq!(error.rule.as_deref(), rule, "{error}");
    }

    // Where each mistake is (line, column of the underlined text).
    let positions: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        positions,
        [
            (2, 11),
            (10, 1),
            (11, 41),
            (16, 44),
            (21, 29),
            (28, 9),
            (29, 10),
            (35, 17),
            (41, 6),
            (47, 19)
        ]
    );

    // The helps that point the way.
    let helps: Vec<Option<&str>> = errors.iter().map(|e| e.help.as_deref()).collect();
    assert_eq!(helps[1], Some("did you mean `label`?"));
    assert_eq!(helps[3], Some("did you mean `free_mail`?"));
    assert_eq!(helps[5], Some("did you mean `product-a`?"));
    assert_eq!(
        helps[8],
        Some("`decision-maker` is first used on line 9; ids must be unique")
    );

    // Warnings come after the errors and do not count as errors.
    let warnings: Vec<_> = all
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].message, "group `product-a` is never used");
    assert_eq!(all.last().map(|d| d.severity), Some(Severity::Warning));
}

#[test]
fn ten_mistakes_display_as_file_line_column_rule_message() {
    let text = fixture("ten-mistakes.toml");
    let Err(errors) = leadscore_model::load("ten-mistakes.toml", &text) else {
        panic!("invalid model accepted");
    };
    assert_eq!(
        errors[4].to_string(),
        "ten-mistakes.toml:21:29: rule `germany`: unknown operator `equals` (help: did you mean `eq`?)"
    );
    assert_eq!(
        errors[0].to_string(),
        "ten-mistakes.toml:2:11: unsupported model version `2` (help: this leadscore reads `version = 1`)"
    );
    assert_eq!(
        errors[10].to_string(),
        "ten-mistakes.toml:37:9: warning: rule `product-a`: group `product-a` is never used (help: name it with `group` in an engagement rule or a score condition, or remove it)"
    );
}
