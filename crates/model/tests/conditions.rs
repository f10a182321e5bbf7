//! How conditions compile: operators, literals, lists, globs, where each kind may appear.

use std::sync::Arc;

use leadscore_model::{Condition, EngagementSource, FieldOp};

use crate::util::{HEADER, model, show};

/// The compiled `when` of a single fit rule.
fn fit_when(condition: &str) -> Condition {
    let m = model(&format!(
        "{HEADER}[lists]\nfree_mail = [\"GMail.com\"]\n\
         [[fit]]\nid = \"a\"\nwhen = {condition}\npoints = 1\n"
    ));
    m.fit
        .into_iter()
        .next()
        .map(|rule| rule.when)
        .unwrap_or_else(|| {
            panic!("no fit rule");
        })
}

/// The compiled `when` of a trigger (where every kind of condition is allowed).
fn trigger_when(condition: &str) -> (leadscore_model::CompiledModel, Condition) {
    let m = model(&format!(
        "{HEADER}[grades]\nA = 40\n[groups.g]\n\
         [[stage]]\nid = \"lead\"\n[[stage]]\nid = \"mql\"\nwhen = {{ stage = \"mql\" }}\n\
         [[trigger]]\nid = \"t\"\nwhen = {condition}\nactions = [ {{ tag = \"x\" }} ]\n"
    ));
    let when = m.triggers[0].when.clone();
    (m, when)
}

/// The single glob of a field condition.
fn glob(pattern: &str) -> regex::Regex {
    let when = fit_when(&format!("{{ field = \"url\", glob = \"{pattern}\" }}"));
    match when {
        Condition::Field { ops, .. } => match ops.into_iter().next() {
            Some(FieldOp::Glob(regex)) => regex,
            other => panic!("not a glob: {other:?}"),
        },
        other => panic!("not a field condition: {other:?}"),
    }
}

#[test]
fn several_operators_in_one_leaf_all_apply() {
    let when = fit_when("{ field = \"company_size\", gte = 50, lt = 500, ne = 99 }");
    assert_eq!(show(&when), "company_size gte 50, lt 500, ne 99#99");
}

#[test]
fn glob_matches_the_whole_value_case_insensitively() {
    let pricing = glob("*/pricing*");
    assert!(pricing.is_match("https://x.com/pricing?a=1"));
    assert!(pricing.is_match("HTTPS://X.COM/PRICING"));
    // `*` matches any run of characters, `/` included.
    assert!(pricing.is_match("https://x.com/blog/pricing-2"));
    assert!(!pricing.is_match("https://x.com/prices"));
    // The whole value: `pricing` without a `/` before it does not match.
    assert!(!pricing.is_match("pricing"));

    let exact = glob("https://x.com/pricing");
    assert!(exact.is_match("https://X.com/Pricing"));
    assert!(!exact.is_match("https://x.com/pricing?a=1"));
}

#[test]
fn glob_question_mark_is_one_character_and_regex_characters_are_literal() {
    let version = glob("/docs/v?/(beta)");
    assert!(version.is_match("/docs/v2/(beta)"));
    assert!(!version.is_match("/docs/v10/(beta)"));
    assert!(!version.is_match("/docs/v2/beta"));
}

#[test]
fn matches_uses_the_regex_as_written_and_unanchored() {
    let when = fit_when(r#"{ field = "job_title", matches = "\\bCEO\\b" }"#);
    let Condition::Field { ops, .. } = when else {
        panic!("not a field condition");
    };
    let [FieldOp::Matches(regex)] = ops.as_slice() else {
        panic!("not one regex");
    };
    assert!(regex.is_match("Founder & CEO of things"));
    assert!(
        !regex.is_match("ceo"),
        "case matters unless the regex says (?i)"
    );
}

#[test]
fn string_operands_are_lower_cased_and_literals_read_as_numbers() {
    let when = fit_when(
        "{ all = [ { field = \"t\", contains = \"Head Of\", starts_with = \"VP\", ends_with = \"Sales\" }, \
         { field = \"size\", in = [\"10\", 20, \"Big\"] }, { field = \"flag\", eq = false } ] }",
    );
    assert_eq!(
        show(&when),
        "all(t contains head of, starts_with vp, ends_with sales; \
         size in [10#10, 20#20, big]; flag eq false?false)"
    );
}

#[test]
fn in_list_resolves_to_the_lists_lower_cased_set_shared_between_uses() {
    let m = model(&format!(
        "{HEADER}[lists]\nfree_mail = [\"GMail.com\", \"gmx.de\"]\n\
         [[fit]]\nid = \"a\"\nwhen = {{ field = \"email_domain\", in_list = \"free_mail\" }}\npoints = -5\n\
         [[disqualify]]\nid = \"d\"\nwhen = {{ not = {{ field = \"email_domain\", in_list = \"free_mail\" }} }}\n"
    ));
    let set = |condition: &Condition| match condition {
        Condition::Field { ops, .. } => match ops.as_slice() {
            [FieldOp::InList { name, values }] => (name.clone(), Arc::clone(values)),
            other => panic!("not one in_list: {other:?}"),
        },
        Condition::Not(inner) => match inner.as_ref() {
            Condition::Field { ops, .. } => match ops.as_slice() {
                [FieldOp::InList { name, values }] => (name.clone(), Arc::clone(values)),
                other => panic!("not one in_list: {other:?}"),
            },
            other => panic!("not a field condition: {other:?}"),
        },
        other => panic!("not a field condition: {other:?}"),
    };
    let (name, fit) = set(&m.fit[0].when);
    let (_, disqualify) = set(&m.disqualify[0].when);
    assert_eq!(name, "free_mail");
    assert!(fit.contains("gmail.com") && fit.contains("gmx.de") && fit.len() == 2);
    assert!(Arc::ptr_eq(&fit, &disqualify), "one set per list");
}

#[test]
fn engagement_when_tests_event_fields() {
    let m = model(&format!(
        "{HEADER}[[engagement]]\nid = \"e\"\nevent = \"Page Viewed\"\n\
         when = {{ any = [ {{ field = \"name\", eq = \"Pricing\" }}, {{ field = \"properties.url\", contains = \"/pricing\" }} ] }}\npoints = 1\n"
    ));
    let EngagementSource::Event {
        when: Some(when), ..
    } = &m.engagement[0].source
    else {
        panic!("no event condition");
    };
    assert_eq!(
        show(when),
        "any(name eq pricing; properties.url contains /pricing)"
    );
}

#[test]
fn score_grade_event_disqualified_and_stage_conditions_compile_in_triggers() {
    let (m, when) = trigger_when(
        "{ all = [ { score_gte = 60, score_lt = 90 }, { group = \"g\", score_gt = 5 }, \
         { grade_in = [\"A\", \"D\"] }, { event = \"Demo Requested\", count_gte = 2, within = \"1w\" }, \
         { disqualified = false }, { stage = \"mql\" } ] }",
    );
    assert_eq!(
        show(&when),
        format!(
            "all(score gte 60, lt 90; group#0 gt 5; grade_in [A, D]; event#0 gte 2 within {}; \
             disqualified false; stage#1)",
            7 * 86_400_000
        )
    );
    assert_eq!(m.event_names, ["demo requested"]);
}

#[test]
fn event_condition_without_a_count_means_at_least_once() {
    let (_, when) = trigger_when("{ event = \"Demo Requested\" }");
    assert_eq!(show(&when), "event#0 gte 1");
}

#[test]
fn a_stage_may_name_itself_in_its_own_condition() {
    let (m, _) = trigger_when("{ score_gte = 1 }");
    let when = m.stages[1].when.as_ref().map(show);
    assert_eq!(when.as_deref(), Some("stage#1"));
}

#[test]
fn empty_all_and_any_are_allowed() {
    let when = fit_when("{ any = [ { all = [] }, { any = [] } ] }");
    assert_eq!(show(&when), "any(all(); any())");
}

#[test]
fn event_names_are_interned_lower_case_across_rules_and_conditions() {
    let m = model(&format!(
        "{HEADER}[[engagement]]\nid = \"a\"\nevent = \"Email Opened\"\npoints = 1\n\
         [[engagement]]\nid = \"b\"\nevent = \"email opened\"\npoints = 1\n\
         [[engagement]]\nid = \"c\"\nabsence = {{ after = \"Email Delivered\", expect = \"EMAIL OPENED\", within = \"3d\" }}\npoints = -1\n\
         [[trigger]]\nid = \"t\"\nwhen = {{ event = \"Email delivered\", count_gte = 3 }}\nactions = [ {{ tag = \"x\" }} ]\n"
    ));
    assert_eq!(m.event_names, ["email opened", "email delivered"]);
    let ids: Vec<String> = m
        .engagement
        .iter()
        .map(|rule| match &rule.source {
            EngagementSource::Event { event, .. } => format!("{event}"),
            EngagementSource::Absence { after, expect, .. } => format!("{after}->{expect:?}"),
        })
        .collect();
    assert_eq!(ids, ["0", "0", "1->[0]"]);
    assert_eq!(show(&m.triggers[0].when), "event#1 gte 3");
}
