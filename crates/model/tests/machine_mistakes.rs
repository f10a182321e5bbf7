//! `fixtures/machine-mistakes.toml` has six different `[machine]` mistakes; one run
//! reports all six, each where it is, with a help that points the way.

use leadscore_model::Severity;

use crate::util::{diagnostics, fixture, render};

#[test]
fn six_machine_mistakes_give_exactly_six_located_errors() {
    let text = fixture("machine-mistakes.toml");
    let all = diagnostics(&text);
    let errors: Vec<_> = all
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 6, "{}", render(&all));

    // (underlined text, message, help), in file order.
    let expected: [(&str, &str, &str); 6] = [
        (
            "1.5",
            "`machine.share` must be between 0 and 1, found `1.5`",
            "the share of its points a machine open or click earns: 0 (nothing) to 1 (all)",
        ),
        (
            "\"10 seconds\"",
            "invalid duration `10 seconds` for `machine.open_within`",
            "write a positive integer followed by `s` (seconds), `m`, `h`, `d` or `w`, like `10s`",
        ),
        (
            "click_withn",
            "unknown key `click_withn` in `[machine]`",
            "did you mean `click_within`?",
        ),
        (
            "1",
            "`machine.burst.clicks` must be at least 2, found `1`",
            "a burst is several clicks on one mailing",
        ),
        (
            "\"link_scanner\"",
            "unknown list `link_scanner`",
            "did you mean `link_scanners`?",
        ),
        (
            "\"proxy_ips\"",
            "`17.58.0.0/33` in the list named by `machine.ips` is not an IP address or range",
            "write an address (`17.58.0.1`) or a CIDR range (`17.58.0.0/16`, `2a01:b747::/32`)",
        ),
    ];
    for (error, (underlined, message, help)) in errors.iter().zip(expected) {
        assert_eq!(error.message, message, "{error}");
        assert_eq!(&text[error.span.clone()], underlined, "{error}");
        assert_eq!(error.help.as_deref(), Some(help), "{error}");
        assert_eq!(error.rule, None, "{error}");
    }

    // Where each mistake is (line, column of the underlined text): in the `[machine]`
    // table, never the `[lists]` entry the same text may also appear in.
    let positions: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        positions,
        [(16, 9), (17, 15), (18, 1), (19, 20), (20, 15), (21, 7)]
    );

    // The list nothing could use is a warning, after the errors.
    let warnings: Vec<_> = all
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", render(&all));
    assert_eq!(warnings[0].message, "list `link_scanners` is never used");
    assert_eq!(all.last().map(|d| d.severity), Some(Severity::Warning));
}

#[test]
fn machine_mistakes_display_as_file_line_column_message() {
    let text = fixture("machine-mistakes.toml");
    let Err(errors) = leadscore_model::load("machine-mistakes.toml", &text) else {
        panic!("invalid model accepted");
    };
    assert_eq!(
        errors[2].to_string(),
        "machine-mistakes.toml:18:1: unknown key `click_withn` in `[machine]` (help: did you mean `click_within`?)"
    );
}
