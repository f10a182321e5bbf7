//! `[account]`: a valid table compiles to what the engine needs, and every mistake in
//! `fixtures/account-mistakes.toml` is reported where it is, in one run.

use leadscore_model::{Aggregate, Condition, Severity};

use crate::util::{HEADER, diagnostics, fixture, model, render, single_error};

/// Underlined text, message, help, rule, line, column.
type Expected = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    usize,
    usize,
);

#[test]
fn ten_account_mistakes_give_exactly_ten_located_errors() {
    let text = fixture("account-mistakes.toml");
    let all = diagnostics(&text);
    let errors: Vec<_> = all
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 10, "{}", render(&all));

    // (underlined text, message, help, rule, line, column), in file order.
    let account_help = "account conditions test the account's attributes, its score (`score_gte` and the like, not in `[[account.fit]]`), `disqualified`, and in triggers and routes its `stage`";
    let expected: [Expected; 10] = [
        (
            "\"free_mails\"",
            "unknown list `free_mails`",
            "did you mean `free_mail`?",
            None,
            21,
            16,
        ),
        (
            "exclude_lst",
            "unknown key `exclude_lst` in `[account]`",
            "did you mean `exclude_list`?",
            None,
            22,
            1,
        ),
        (
            "\"software\"",
            "duplicate account rule id `software`",
            "`software` is first used on line 25; ids must be unique",
            Some("software"),
            30,
            6,
        ),
        (
            "engaged_contacts",
            "`engaged_contacts` cannot be combined with `top_contacts`",
            "one aggregation per rule; split it into two rules",
            Some("both"),
            36,
            1,
        ),
        (
            "[[account.engagement]]",
            "missing `points`",
            "`engaged_contacts` and `distinct_roles` give `points` per contact or role",
            Some("engaged"),
            38,
            1,
        ),
        (
            "event",
            "an event condition cannot be used in an `[[account.stage]]`",
            account_help,
            Some("engaged"),
            47,
            10,
        ),
        (
            "group",
            "`group` cannot be used in an `[[account.stage]]`",
            "an account score condition compares the account score",
            Some("hot"),
            51,
            10,
        ),
        (
            "\"hott\"",
            "unknown account stage `hott`",
            "did you mean `hot`?",
            Some("hot-account"),
            55,
            18,
        ),
        (
            "set_stage",
            "`set_stage` cannot be used in an account trigger",
            "an account trigger takes `webhook`, `tag` or `notify`; `[[account.route]]` assigns accounts",
            Some("hot-account"),
            56,
            15,
        ),
        (
            "\"sales-c\"",
            "unknown team `sales-c`",
            "did you mean `sales-a`?",
            Some("group"),
            61,
            19,
        ),
    ];
    for (error, (underlined, message, help, rule, line, column)) in errors.iter().zip(expected) {
        assert_eq!(error.message, message, "{error}");
        assert_eq!(&text[error.span.clone()], underlined, "{error}");
        assert_eq!(error.help.as_deref(), Some(help), "{error}");
        assert_eq!(error.rule.as_deref(), rule, "{error}");
        assert_eq!((error.line, error.column), (line, column), "{error}");
    }
}

#[test]
fn an_account_table_compiles_with_its_key_exclusion_rules_and_routes() {
    let text = format!(
        "{HEADER}{}",
        r#"
[lists]
free_mail = ["GMail.com"]
[teams.key-accounts]
members = ["kim@example.com"]
[account]
key = ["company_id", "email_domain"]
exclude_list = "free_mail"
[account.labels]
warm = 50
hot = 100
[[account.fit]]
id = "software"
when = { field = "industry", eq = "Software" }
points = 10
[[account.engagement]]
id = "top3"
top_contacts = { n = 3 }
[[account.engagement]]
id = "engaged"
engaged_contacts = { min_engagement = 20, max = 5 }
points = 10
[[account.engagement]]
id = "roles"
distinct_roles = { field = "job_title", min_engagement = 20 }
points = 5
[[account.stage]]
id = "cold"
[[account.stage]]
id = "buying"
when = { all = [ { score_gte = 100 }, { disqualified = false } ] }
[[account.trigger]]
id = "buying-group"
when = { stage = "buying" }
actions = [ { notify = "sales-lead@example.com" } ]
[[account.route]]
id = "key-account"
when = { any = [ { stage = "buying" }, { field = "company_size", gte = 1000 } ] }
assign = { team = "key-accounts" }
"#
    );
    let model = model(&text);
    let Some(account) = model.account.clone() else {
        panic!("no account table")
    };
    assert_eq!(account.key, ["company_id", "email_domain"]);
    let Some((list, values)) = account.exclude else {
        panic!("no exclusion")
    };
    assert_eq!(list, "free_mail");
    assert!(values.contains("gmail.com"), "list values are lower-cased");
    assert_eq!(account.fit[0].id, "software");
    let aggregates: Vec<_> = account
        .engagement
        .iter()
        .map(|r| (r.id.as_str(), r.points, r.aggregate.clone()))
        .collect();
    assert_eq!(
        aggregates,
        [
            ("top3", 1.0, Aggregate::TopContacts { n: 3 }),
            (
                "engaged",
                10.0,
                Aggregate::EngagedContacts {
                    min_engagement: 20.0,
                    max: Some(5)
                }
            ),
            (
                "roles",
                5.0,
                Aggregate::DistinctRoles {
                    field: "job_title".into(),
                    min_engagement: 20.0,
                    max: None
                }
            ),
        ]
    );
    let labels: Vec<_> = account.labels.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(labels, ["hot", "warm"], "highest bound first");
    let stages: Vec<_> = account.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(stages, ["cold", "buying"]);
    assert!(
        matches!(&account.triggers[0].when, Condition::Stage(1)),
        "account stage conditions name account stages"
    );
    assert_eq!(account.routes[0].team, 0);
    assert!(model.stages.is_empty(), "contact stages are apart");
    assert_eq!(
        leadscore_model::summary(&model),
        "t: 0 fit, 0 engagement, 0 disqualify rules, 0 groups, 0 stages, 0 triggers, 0 routes, 1 team; account: 1 fit, 3 engagement, 2 stages, 1 trigger, 1 route"
    );
}

#[test]
fn the_account_key_defaults_to_company_id_then_email_domain() {
    let model = model(&format!("{HEADER}[account]\n"));
    let Some(account) = model.account else {
        panic!("no account table")
    };
    assert_eq!(account.key, ["company_id", "email_domain"]);
    assert!(account.exclude.is_none());
}

#[test]
fn top_contacts_needs_a_positive_n() {
    let error = single_error(&format!(
        "{HEADER}[account]\n[[account.engagement]]\nid = \"top\"\ntop_contacts = {{ n = 0 }}\n"
    ));
    assert_eq!(
        error.message,
        "`top_contacts.n` must be a positive integer, found `0`"
    );
    assert_eq!(error.rule.as_deref(), Some("top"));
}

#[test]
fn a_repeated_key_attribute_is_an_error_at_the_repeat() {
    let text = format!("{HEADER}[account]\nkey = [\"company_id\", \"company_id\"]\n");
    let error = single_error(&text);
    assert_eq!(error.message, "`company_id` appears twice in `account.key`");
    assert_eq!(&text[error.span.clone()], "\"company_id\"");
    assert_eq!(error.column, 22);
}

#[test]
fn an_account_fit_rule_takes_no_score_condition() {
    let text = format!(
        "{HEADER}[account]\n[[account.fit]]\nid = \"f\"\nwhen = {{ score_gte = 10 }}\npoints = 1\n"
    );
    let error = single_error(&text);
    assert_eq!(
        error.message,
        "a score condition cannot be used in an `[[account.fit]]` rule"
    );
    assert_eq!(&text[error.span.clone()], "score_gte");
}

#[test]
fn an_account_aggregation_is_required() {
    let text = format!("{HEADER}[account]\n[[account.engagement]]\nid = \"e\"\npoints = 1\n");
    let error = single_error(&text);
    assert_eq!(error.message, "missing aggregation");
    assert_eq!(
        error.help.as_deref(),
        Some(
            "an account engagement rule takes `top_contacts`, `engaged_contacts` or `distinct_roles`"
        )
    );
}
