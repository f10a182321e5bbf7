//! One test per kind of error: message, position, underlined text and rule.

use leadscore_model::Severity;

use crate::util::{HEADER, assert_diagnostic, errors, position_of, render, single_error};

/// A snippet after the standard header.
fn with_header(body: &str) -> String {
    format!("{HEADER}{body}")
}

// ------------------------------------------------------------------ TOML syntax

#[test]
fn toml_syntax_error_is_reported_with_location() {
    let text = with_header("[[fit]]\nid = \"a\nwhen = 3\n");
    let error = single_error(&text);
    // The parser locates an unterminated string at the end of its line.
    assert_eq!((error.line, error.column), (4, 8));
    assert!(
        error
            .message
            .starts_with("invalid TOML: invalid basic string"),
        "{error}"
    );
    assert_eq!(error.rule, None);
}

#[test]
fn every_syntax_error_is_reported_and_checking_waits_for_valid_toml() {
    // Two syntax errors; the unknown key `colour` is not reported until the TOML parses.
    let text = "version = 1\nname = \"x\ncolour = 3\n[score]\nmin = 1.2.3\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    assert_eq!((errors[0].line, errors[1].line), (2, 5));
    assert!(
        errors
            .iter()
            .all(|e| e.message.starts_with("invalid TOML: "))
    );
}

#[test]
fn duplicate_toml_key_names_the_key() {
    let text = with_header("[groups.a]\nmax = 1\n[groups.a]\n");
    let error = single_error(&text);
    assert_eq!(error.message, "invalid TOML: duplicate key `a`");
    assert_eq!((error.line, error.column), (5, 9));
}

// ------------------------------------------------------------------ keys and types

#[test]
fn unknown_top_level_key_suggests_the_close_one() {
    let text = with_header("[[stages]]\nid = \"lead\"\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "stages",
        None,
        "unknown key `stages` in the top level",
    );
    assert_eq!(error.help.as_deref(), Some("did you mean `stage`?"));
}

#[test]
fn unknown_key_without_a_close_match_lists_the_allowed_keys() {
    let text = with_header(
        "[[fit]]\nid = \"a\"\nwhen = { field = \"x\", exists = true }\npoints = 1\nweight = 2\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "weight",
        Some("a"),
        "unknown key `weight` in a `[[fit]]` rule",
    );
    assert_eq!(
        error.help.as_deref(),
        Some("a `[[fit]]` rule takes `id`, `label`, `when` or `points`")
    );
}

#[test]
fn misspelt_required_key_is_reported_once() {
    let text =
        with_header("[[fit]]\nid = \"a\"\nwhen = { field = \"x\", exists = true }\npionts = 1\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "pionts",
        Some("a"),
        "unknown key `pionts` in a `[[fit]]` rule",
    );
    assert_eq!(error.help.as_deref(), Some("did you mean `points`?"));
}

#[test]
fn unknown_keys_in_nested_tables_are_reported() {
    let text = with_header(
        "[[engagement]]\nid = \"e\"\nevent = \"x\"\npoints = 1\nlimit = { max = 1, pre = \"1d\" }\n\
         decay = { halflife = \"1d\" }\n[teams.t]\nmembers = [\"a@b.c\"]\ncapacty = 3\n\
         [[route]]\nid = \"r\"\nwhen = { score_gt = 1 }\nassign = { team = \"t\" }\n",
    );
    let errors = errors(&text);
    let messages: Vec<(&str, Option<&str>)> = errors
        .iter()
        .map(|e| (e.message.as_str(), e.help.as_deref()))
        .collect();
    assert_eq!(
        messages,
        [
            ("unknown key `pre` in `limit`", Some("did you mean `per`?")),
            (
                "unknown key `halflife` in `decay`",
                Some("did you mean `half_life`?")
            ),
            (
                "unknown key `capacty` in `[teams.t]`",
                Some("did you mean `capacity`?")
            ),
        ]
    );
    assert_eq!(errors[2].rule.as_deref(), Some("t"));
}

#[test]
fn wrong_value_types_are_reported_at_the_value() {
    let text = with_header(
        "description = 3\n[[fit]]\nid = \"a\"\nlabel = true\nwhen = \"x == 1\"\npoints = [1]\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 4, "{}", render(&errors));
    assert_diagnostic(
        &text,
        &errors[0],
        "3",
        None,
        "`description` must be a string, found an integer",
    );
    assert_diagnostic(
        &text,
        &errors[1],
        "true",
        Some("a"),
        "`label` must be a string, found a boolean",
    );
    assert_diagnostic(
        &text,
        &errors[2],
        "\"x == 1\"",
        Some("a"),
        "a condition must be a table, found a string",
    );
    assert_diagnostic(
        &text,
        &errors[3],
        "[1]",
        Some("a"),
        "`points` must be a number, found an array",
    );
}

#[test]
fn quoted_number_gets_a_hint() {
    let text = with_header(
        "[[fit]]\nid = \"a\"\nwhen = { field = \"x\", exists = true }\npoints = \"20\"\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "\"20\"",
        Some("a"),
        "`points` must be a number, found a string",
    );
    assert_eq!(
        error.help.as_deref(),
        Some("write the number without quotes: `20`")
    );
}

#[test]
fn rule_sections_must_be_arrays_of_tables() {
    let text = with_header("[fit]\nid = \"a\"\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "fit",
        None,
        "`fit` must be an array of tables, found a table",
    );
    assert_eq!(
        error.help.as_deref(),
        Some("write `[[fit]]` (double brackets) before each one")
    );
}

// ------------------------------------------------------------------ version, name, score

#[test]
fn version_other_than_one_is_rejected() {
    let text = "version = 2\nname = \"x\"\n";
    let error = single_error(text);
    assert_diagnostic(text, &error, "2", None, "unsupported model version `2`");
}

#[test]
fn missing_version_and_name_are_reported_at_the_start() {
    let errors = errors("description = \"no header\"\n");
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["missing `version`", "missing `name`"]);
    assert!(errors.iter().all(|e| (e.line, e.column) == (1, 1)));
}

#[test]
fn score_min_above_max_is_rejected() {
    let text = with_header("[score]\nmin = 50\nmax = 10\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "10",
        None,
        "`max` (`10`) is below `min` (`50`)",
    );
}

// ------------------------------------------------------------------ ids

#[test]
fn missing_id_points_and_when_are_reported_at_the_rule_header() {
    let text = with_header("[[fit]]\nlabel = \"nothing else\"\n");
    let errors = errors(&text);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        ["missing `id`", "missing `when`", "missing `points`"]
    );
    for error in &errors {
        assert_eq!(&text[error.span.clone()], "[[fit]]");
        assert_eq!((error.line, error.column), (3, 1));
        assert_eq!(error.rule, None);
    }
}

#[test]
fn missing_when_names_the_rule() {
    let text = with_header("[[disqualify]]\nid = \"d\"\n");
    let error = single_error(&text);
    assert_diagnostic(&text, &error, "[[disqualify]]", Some("d"), "missing `when`");
    assert_eq!(
        error.help.as_deref(),
        Some("a `[[disqualify]]` rule needs `when`")
    );
}

#[test]
fn rule_id_with_other_characters_is_rejected() {
    let text = with_header(
        "[[fit]]\nid = \"decision maker!\"\nwhen = { field = \"x\", exists = true }\npoints = 1\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "\"decision maker!\"",
        Some("decision maker!"),
        "invalid id `decision maker!`",
    );
}

#[test]
fn duplicate_rule_ids_across_fit_engagement_and_disqualify_point_at_the_second() {
    let text = with_header(
        "[[fit]]\nid = \"same\"\nwhen = { field = \"x\", exists = true }\npoints = 1\n\
         [[engagement]]\nid = \"same\"\nevent = \"x\"\npoints = 1\n\
         [[disqualify]]\nid = \"same\"\nwhen = { field = \"x\", exists = true }\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    for (error, nth) in errors.iter().zip([1, 2]) {
        assert_eq!(error.message, "duplicate rule id `same`");
        assert_eq!(
            (error.line, error.column),
            position_of(&text, "\"same\"", nth)
        );
        assert_eq!(
            error.help.as_deref(),
            Some("`same` is first used on line 4; ids must be unique")
        );
    }
}

#[test]
fn stage_trigger_and_route_ids_are_unique_per_kind() {
    let text = with_header(
        "[[stage]]\nid = \"x\"\n[[stage]]\nid = \"x\"\nwhen = { score_gte = 1 }\n\
         [[trigger]]\nid = \"x\"\nwhen = { score_gte = 1 }\nactions = [ { tag = \"a\" } ]\n\
         [[trigger]]\nid = \"x\"\nwhen = { score_gte = 2 }\nactions = [ { tag = \"b\" } ]\n\
         [[route]]\nid = \"x\"\nwhen = { score_gte = 1 }\nassign = { team = \"t\" }\n\
         [teams.t]\nmembers = [\"a@b.c\"]\n",
    );
    let errors = errors(&text);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    // The route may reuse a stage's or trigger's id; two stages or two triggers may not.
    assert_eq!(
        messages,
        ["duplicate stage id `x`", "duplicate trigger id `x`"]
    );
    assert_eq!(errors[0].line, 6);
    assert_eq!(errors[1].line, 13);
}

// ------------------------------------------------------------------ conditions

#[test]
fn unknown_operator_is_reported_with_location() {
    let text = with_header(
        "[[fit]]\nid = \"a\"\nwhen = { field = \"country\", equal = \"DE\" }\npoints = 1\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "equal",
        Some("a"),
        "unknown operator `equal`",
    );
    assert_eq!(error.help.as_deref(), Some("did you mean `eq`?"));
}

#[test]
fn unknown_key_in_a_non_field_condition_is_reported() {
    let text = with_header(
        "[[stage]]\nid = \"lead\"\n[[stage]]\nid = \"mql\"\nwhen = { score_gte = 1, scope = 2 }\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "scope",
        Some("mql"),
        "unknown key `scope` in a score condition",
    );
}

#[test]
fn bad_regex_message_names_the_problem() {
    let text = with_header(
        "[[fit]]\nid = \"a\"\nwhen = { field = \"t\", matches = \"[a-\" }\npoints = 1\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "\"[a-\"",
        Some("a"),
        "invalid regex `[a-`: unclosed character class",
    );
}

#[test]
fn unknown_list_is_reported_with_location() {
    let text = with_header(
        "[lists]\nfree_mail = [\"gmail.com\"]\n\
         [[fit]]\nid = \"a\"\nwhen = { field = \"email_domain\", in_list = \"free_mails\" }\npoints = 1\n\
         [[disqualify]]\nid = \"d\"\nwhen = { field = \"email_domain\", in_list = \"free_mail\" }\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "\"free_mails\"",
        Some("a"),
        "unknown list `free_mails`",
    );
    assert_eq!(error.help.as_deref(), Some("did you mean `free_mail`?"));
}

#[test]
fn score_conditions_are_rejected_in_fit_disqualify_and_engagement_rules() {
    let text = with_header(
        "[[fit]]\nid = \"f\"\nwhen = { score_gte = 50 }\npoints = 1\n\
         [[disqualify]]\nid = \"d\"\nwhen = { any = [ { field = \"x\", exists = true }, { stage = \"lead\" } ] }\n\
         [[engagement]]\nid = \"e\"\nevent = \"x\"\nwhen = { not = { event = \"y\", count_gte = 2 } }\npoints = 1\n\
         [[stage]]\nid = \"lead\"\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 3, "{}", render(&errors));
    assert_diagnostic(
        &text,
        &errors[0],
        "score_gte",
        Some("f"),
        "a score condition cannot be used in a `[[fit]]` rule",
    );
    for (error, rule, message, at) in [
        (
            &errors[1],
            "d",
            "a `stage` condition cannot be used in a `[[disqualify]]` rule",
            "stage = \"lead\"",
        ),
        (
            &errors[2],
            "e",
            "an event condition cannot be used in an `[[engagement]]` rule",
            "event = \"y\"",
        ),
    ] {
        assert_eq!(error.message, message);
        assert_eq!(error.rule.as_deref(), Some(rule));
        assert_eq!((error.line, error.column), position_of(&text, at, 0));
        assert_eq!(&text[error.span.clone()], &at[..5]);
    }
    assert!(
        errors[0]
            .help
            .as_deref()
            .is_some_and(|help| help.contains("belong in stages, triggers and routes"))
    );
}

#[test]
fn mixing_condition_kinds_in_one_table_is_an_error() {
    let text = with_header(
        "[[stage]]\nid = \"lead\"\n[[stage]]\nid = \"mql\"\n\
         when = { field = \"country\", eq = \"DE\", score_gte = 60 }\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "score_gte",
        Some("mql"),
        "`score_gte` cannot be combined with `field` in one condition",
    );
    assert_eq!(
        error.help.as_deref(),
        Some("combine conditions with `all = [ {..}, {..} ]`")
    );
}

#[test]
fn empty_condition_missing_field_and_missing_operator_are_errors() {
    let text = with_header(
        "[[fit]]\nid = \"a\"\nwhen = {}\npoints = 1\n\
         [[fit]]\nid = \"b\"\nwhen = { eq = \"DE\" }\npoints = 1\n\
         [[fit]]\nid = \"c\"\nwhen = { field = \"country\" }\npoints = 1\n",
    );
    let errors = errors(&text);
    let found: Vec<(&str, Option<&str>, &str)> = errors
        .iter()
        .map(|e| (e.message.as_str(), e.rule.as_deref(), &text[e.span.clone()]))
        .collect();
    assert_eq!(
        found,
        [
            ("empty condition", Some("a"), "{}"),
            ("missing `field`", Some("b"), "{ eq = \"DE\" }"),
            (
                "condition on `country` has no operator",
                Some("c"),
                "{ field = \"country\" }"
            ),
        ]
    );
}

#[test]
fn combinators_need_the_right_shapes() {
    let text = with_header(
        "[[fit]]\nid = \"a\"\nwhen = { all = { field = \"x\", exists = true } }\npoints = 1\n\
         [[fit]]\nid = \"b\"\nwhen = { not = [ { field = \"x\", exists = true } ] }\npoints = 1\n",
    );
    let errors = errors(&text);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`all` must be an array of conditions, found a table",
            "`not` must be one condition, found an array",
        ]
    );
}

#[test]
fn operator_operands_are_type_checked() {
    let text = with_header(
        "[[fit]]\nid = \"a\"\nwhen = { field = \"x\", in = \"DE\", gt = \"ten\", exists = \"yes\", eq = [1] }\npoints = 1\n",
    );
    let errors = errors(&text);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`in` must be an array, found a string",
            "`gt` must be a number, found a string",
            "`exists` must be `true` or `false`, found a string",
            "`eq` must be a string, a finite number or a boolean, found an array",
        ]
    );
}

#[test]
fn unknown_grade_letter_is_rejected_and_d_is_always_known() {
    let text = with_header(
        "[grades]\nA = 40\nB = 20\n[[stage]]\nid = \"lead\"\n[[stage]]\nid = \"mql\"\n\
         when = { grade_in = [\"A\", \"D\", \"E\", \"b\"] }\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    assert_diagnostic(&text, &errors[0], "\"E\"", Some("mql"), "unknown grade `E`");
    assert_eq!(
        errors[0].help.as_deref(),
        Some("declared grades: `A`, `B`, `D`")
    );
    assert_diagnostic(&text, &errors[1], "\"b\"", Some("mql"), "unknown grade `b`");
    assert_eq!(errors[1].help.as_deref(), Some("did you mean `B`?"));
}

#[test]
fn grade_condition_without_grades_table_is_rejected() {
    let text = with_header(
        "[[trigger]]\nid = \"t\"\nwhen = { grade_in = [\"D\"] }\nactions = [ { tag = \"x\" } ]\n",
    );
    let error = single_error(&text);
    assert_diagnostic(&text, &error, "\"D\"", Some("t"), "unknown grade `D`");
    assert_eq!(
        error.help.as_deref(),
        Some("declare grades under `[grades]`")
    );
}

#[test]
fn unknown_stage_is_rejected_in_conditions_and_set_stage() {
    let text = with_header(
        "[[stage]]\nid = \"lead\"\n[[stage]]\nid = \"mql\"\nwhen = { stage = \"leed\" }\n\
         [[trigger]]\nid = \"t\"\nwhen = { score_gte = 1 }\nactions = [ { set_stage = \"customer\" } ]\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    assert_diagnostic(
        &text,
        &errors[0],
        "\"leed\"",
        Some("mql"),
        "unknown stage `leed`",
    );
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `lead`?"));
    assert_diagnostic(
        &text,
        &errors[1],
        "\"customer\"",
        Some("t"),
        "unknown stage `customer`",
    );
    assert_eq!(
        errors[1].help.as_deref(),
        Some("declared stages: `lead`, `mql`")
    );
}

#[test]
fn unknown_group_is_rejected_in_rules_and_score_conditions() {
    let text = with_header(
        "[groups.product-a]\n\
         [[engagement]]\nid = \"e\"\nevent = \"x\"\npoints = 1\ngroup = \"product-b\"\n\
         [[trigger]]\nid = \"t\"\nwhen = { group = \"produkt-a\", score_gte = 3 }\nactions = [ { tag = \"x\" } ]\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    assert_diagnostic(
        &text,
        &errors[0],
        "\"product-b\"",
        Some("e"),
        "unknown group `product-b`",
    );
    assert_diagnostic(
        &text,
        &errors[1],
        "\"produkt-a\"",
        Some("t"),
        "unknown group `produkt-a`",
    );
    assert_eq!(errors[1].help.as_deref(), Some("did you mean `product-a`?"));
}

#[test]
fn score_condition_needs_a_comparison() {
    let text = with_header(
        "[groups.g]\n[[trigger]]\nid = \"t\"\nwhen = { group = \"g\" }\nactions = [ { tag = \"x\" } ]\n",
    );
    let error = single_error(&text);
    assert_eq!(error.message, "score condition has no comparison");
}

#[test]
fn event_condition_counts_must_be_whole_and_not_negative() {
    let text = with_header(
        "[[trigger]]\nid = \"t\"\nwhen = { event = \"x\", count_gte = -1, count_lt = 2.5, within = \"1y\" }\nactions = [ { tag = \"x\" } ]\n",
    );
    let errors = errors(&text);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`count_gte` must not be negative, found `-1`",
            "`count_lt` must be a whole number, found a float",
            "invalid duration `1y` for `within`",
        ]
    );
}

// ------------------------------------------------------------------ durations, limits

#[test]
fn unparsable_durations_are_rejected_where_they_are_written() {
    for bad in ["30 days", "0d", "-1d", "5y", "1.5d", "d"] {
        let text = with_header(&format!(
            "[[engagement]]\nid = \"e\"\nevent = \"x\"\npoints = 1\nwithin = \"{bad}\"\n"
        ));
        let error = single_error(&text);
        assert_diagnostic(
            &text,
            &error,
            &format!("\"{bad}\""),
            Some("e"),
            &format!("invalid duration `{bad}` for `within`"),
        );
        assert!(
            error
                .help
                .as_deref()
                .is_some_and(|help| help.contains("like `30d`"))
        );
    }
}

#[test]
fn durations_must_be_strings() {
    let text = with_header(
        "[[engagement]]\nid = \"e\"\nevent = \"x\"\npoints = 1\ndecay = { half_life = 30 }\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "30",
        Some("e"),
        "`decay.half_life` must be a duration string, found an integer",
    );
}

#[test]
fn limit_max_must_be_a_positive_integer() {
    for (bad, message) in [
        ("0", "`limit.max` must be a positive integer, found `0`"),
        ("-3", "`limit.max` must be a positive integer, found `-3`"),
        (
            "1.5",
            "`limit.max` must be a positive integer, found a float",
        ),
        (
            "\"3\"",
            "`limit.max` must be a positive integer, found a string",
        ),
        (
            "5000000000",
            "`limit.max` must be a positive integer, found `5000000000`",
        ),
    ] {
        let text = with_header(&format!(
            "[[engagement]]\nid = \"e\"\nevent = \"x\"\npoints = 1\nlimit = {{ max = {bad} }}\n"
        ));
        let error = single_error(&text);
        assert_diagnostic(&text, &error, bad, Some("e"), message);
    }
}

#[test]
fn limit_needs_max() {
    let text = with_header(
        "[[engagement]]\nid = \"e\"\nevent = \"x\"\npoints = 1\nlimit = { per = \"1d\" }\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "{ per = \"1d\" }",
        Some("e"),
        "missing `max`",
    );
}

// ------------------------------------------------------------------ engagement shape

#[test]
fn engagement_needs_exactly_one_of_event_and_absence() {
    let text = with_header(
        "[[engagement]]\nid = \"both\"\nevent = \"x\"\npoints = 1\n\
         absence = { after = \"a\", expect = \"b\", within = \"1d\" }\n\
         [[engagement]]\nid = \"neither\"\npoints = 1\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    assert_diagnostic(
        &text,
        &errors[0],
        "absence",
        Some("both"),
        "an engagement rule has either `event` or `absence`, not both",
    );
    assert_eq!(errors[1].message, "missing `event` or `absence`");
    assert_eq!(errors[1].rule.as_deref(), Some("neither"));
    assert_eq!(&text[errors[1].span.clone()], "[[engagement]]");
}

#[test]
fn when_with_absence_is_rejected() {
    let text = with_header(
        "[[engagement]]\nid = \"e\"\npoints = -1\n\
         absence = { after = \"a\", expect = [\"b\"], within = \"1d\" }\nwhen = { field = \"x\", exists = true }\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "when",
        Some("e"),
        "`when` cannot be used with `absence`",
    );
}

#[test]
fn absence_needs_after_expect_and_within() {
    let text = with_header("[[engagement]]\nid = \"e\"\npoints = -1\nabsence = { expect = [] }\n");
    let errors = errors(&text);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "missing `after`",
            "missing `within`",
            "`absence.expect` must name at least one event",
        ]
    );
}

// ------------------------------------------------------------------ stages

#[test]
fn first_stage_cannot_have_when() {
    let text = with_header("[[stage]]\nid = \"lead\"\nwhen = { score_gte = 0 }\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "when",
        Some("lead"),
        "the first stage cannot have `when`",
    );
    assert_eq!(
        error.help.as_deref(),
        Some("every contact starts in `lead`; put the criteria on the next stage")
    );
}

// ------------------------------------------------------------------ triggers and actions

#[test]
fn actions_are_checked_one_by_one() {
    let text = with_header(
        "[[trigger]]\nid = \"t\"\nwhen = { score_gte = 1 }\n\
         actions = [ { tag = \"a\", notify = \"b@c.de\" }, {}, { assign = \"team\" }, \
         { webhook = \"ftp://x\" }, { notify = \"bob\" }, { tagg = \"x\" } ]\n",
    );
    let errors = errors(&text);
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.message.as_str(), &text[e.span.clone()]))
        .collect();
    assert_eq!(
        found,
        [
            (
                "an action does one thing, found `tag` and `notify`",
                "notify"
            ),
            ("empty action", "{}"),
            (
                "`assign` must be `\"route\"` or `{ team = \"NAME\" }`",
                "\"team\""
            ),
            ("webhook `ftp://x` is not an http(s) URL", "\"ftp://x\""),
            ("`bob` is not an e-mail address", "\"bob\""),
            ("unknown key `tagg` in an action", "tagg"),
        ]
    );
    assert!(errors.iter().all(|e| e.rule.as_deref() == Some("t")));
}

#[test]
fn trigger_needs_actions() {
    let text = with_header("[[trigger]]\nid = \"t\"\nwhen = { score_gte = 1 }\nactions = []\n");
    let error = single_error(&text);
    assert_diagnostic(&text, &error, "[]", Some("t"), "`actions` is empty");
}

// ------------------------------------------------------------------ routes and teams

#[test]
fn route_to_a_team_without_members_is_an_error() {
    let text = with_header(
        "[[route]]\nid = \"r\"\nwhen = { score_gte = 1 }\nassign = { team = \"empty\" }\n\
         [teams.empty]\nmembers = []\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "\"empty\"",
        Some("r"),
        "team `empty` has no members",
    );
}

#[test]
fn assign_action_to_a_team_without_members_is_an_error() {
    let text = with_header(
        "[[trigger]]\nid = \"t\"\nwhen = { score_gte = 1 }\nactions = [ { assign = { team = \"empty\" } } ]\n\
         [teams.empty]\nmembers = []\n",
    );
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "\"empty\"",
        Some("t"),
        "team `empty` has no members",
    );
}

#[test]
fn team_without_members_that_nothing_names_is_an_error_at_its_members() {
    let text = with_header("[teams.bench]\nmembers = []\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "[]",
        Some("bench"),
        "team `bench` has no members",
    );
}

#[test]
fn unknown_team_is_rejected_in_routes_and_assign_actions() {
    let text = with_header(
        "[[route]]\nid = \"r\"\nwhen = { score_gte = 1 }\nassign = { team = \"sales-x\" }\n\
         [[trigger]]\nid = \"t\"\nwhen = { score_gte = 1 }\nactions = [ { assign = { team = \"nobody\" } } ]\n\
         [teams.sales-a]\nmembers = [\"a@b.c\"]\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    assert_diagnostic(
        &text,
        &errors[0],
        "\"sales-x\"",
        Some("r"),
        "unknown team `sales-x`",
    );
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `sales-a`?"));
    assert_diagnostic(
        &text,
        &errors[1],
        "\"nobody\"",
        Some("t"),
        "unknown team `nobody`",
    );
    assert_eq!(
        errors[1].help.as_deref(),
        Some("declare it as `[teams.nobody]`")
    );
}

#[test]
fn route_assign_must_name_a_team() {
    let text = with_header("[[route]]\nid = \"r\"\nwhen = { score_gte = 1 }\nassign = \"route\"\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "\"route\"",
        Some("r"),
        "a route's `assign` must be a table, found a string",
    );
}

#[test]
fn team_capacity_must_be_a_positive_integer_and_members_are_required() {
    let text =
        with_header("[teams.a]\ncapacity = 0\n[teams.b]\nmembers = [\"x@y.z\"]\ncapacity = 2.5\n");
    let errors = errors(&text);
    let found: Vec<(&str, Option<&str>)> = errors
        .iter()
        .map(|e| (e.message.as_str(), e.rule.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("missing `members`", Some("a")),
            (
                "`capacity` must be a positive integer, found `0`",
                Some("a")
            ),
            (
                "`capacity` must be a positive integer, found a float",
                Some("b")
            ),
        ]
    );
}

// ------------------------------------------------------------------ reporting

#[test]
fn every_problem_is_reported_sorted_by_position_with_warnings_last() {
    let text = with_header(
        "[lists]\nunused = []\n\
         [[fit]]\nid = \"a\"\nwhen = { field = \"x\", in_list = \"nope\" }\npoints = \"1\"\n\
         [[fit]]\nid = \"b\"\nwhen = { field = \"x\", glob = 3 }\npoints = 1\n",
    );
    let Err(diagnostics) = leadscore_model::load("m.toml", &text) else {
        panic!("invalid model accepted");
    };
    let found: Vec<(Severity, usize)> = diagnostics.iter().map(|d| (d.severity, d.line)).collect();
    assert_eq!(
        found,
        [
            (Severity::Error, 7),
            (Severity::Error, 8),
            (Severity::Error, 11),
            (Severity::Warning, 4),
        ]
    );
}

#[test]
fn group_max_must_not_be_negative() {
    let text = with_header("[groups.g]\nmax = -5\n");
    let error = single_error(&text);
    assert_diagnostic(
        &text,
        &error,
        "-5",
        Some("g"),
        "`max` must not be negative, found `-5`",
    );
}

#[test]
fn tag_must_not_be_empty() {
    let text = with_header(
        "[[trigger]]\nid = \"t\"\nwhen = { score_gte = 1 }\nactions = [ { tag = \" \" } ]\n",
    );
    let error = single_error(&text);
    assert_diagnostic(&text, &error, "\" \"", Some("t"), "`tag` must not be empty");
}

#[test]
fn name_must_not_be_empty() {
    let text = "version = 1\nname = \"\"\n";
    let error = single_error(text);
    assert_diagnostic(text, &error, "\"\"", None, "`name` must not be empty");
}
