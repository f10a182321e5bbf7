//! A model using every construct compiles to exactly the expected values.

use leadscore_model::{Action, EngagementSource, FieldOp, Limit, ScoreBounds, Threshold};

use crate::util::{HEADER, checked, fixture, model, show};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

#[test]
fn every_construct_compiles_to_the_expected_model() {
    let checked = checked(&fixture("every-construct.toml"));
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    let m = checked.model;

    assert_eq!(m.name, "every-construct");
    assert_eq!(m.version, 1);
    assert_eq!(
        m.score,
        ScoreBounds {
            min: Some(0.0),
            max: Some(100.0)
        }
    );

    // Event names: lower-cased, first mention first, no duplicates.
    assert_eq!(
        m.event_names,
        [
            "page viewed",
            "email opened",
            "email delivered",
            "email link clicked",
            "demo requested",
            "meeting booked",
        ]
    );

    // Fit.
    let fit: Vec<(&str, Option<&str>, String, f64)> = m
        .fit
        .iter()
        .map(|r| (r.id.as_str(), r.label.as_deref(), show(&r.when), r.points))
        .collect();
    assert_eq!(
        fit,
        [
            (
                "decision-maker",
                Some("Decision-maker title"),
                r"job_title matches /(?i)\b(ceo|cto|head of)\b/".to_owned(),
                20.0
            ),
            (
                "private-email",
                None,
                "email_domain in_list free_mail".to_owned(),
                -15.0
            ),
            (
                "mid-size",
                Some("51-500 employees"),
                "company_size gte 51, lt 500.5".to_owned(),
                10.0
            ),
            (
                "dach",
                None,
                "all(country in [de, at, ch]; \
                 not(industry not_in [retail, 42#42, true?true]); \
                 any(title contains lead; title starts_with vp; title ends_with officer); \
                 revenue gt 1000, lte 1000000000; \
                 phone exists true; \
                 tier eq 001#1; \
                 status ne churned)"
                    .to_owned(),
                5.5
            ),
        ]
    );
    let leadscore_model::Condition::Field { ops, .. } = &m.fit[1].when else {
        panic!("private-email is not a field condition");
    };
    let [FieldOp::InList { values, .. }] = ops.as_slice() else {
        panic!("private-email is not one in_list");
    };
    let mut values: Vec<&str> = values.iter().map(String::as_str).collect();
    values.sort_unstable();
    assert_eq!(values, ["gmail.com", "gmx.de", "web.de"]);

    // Engagement.
    let pricing = &m.engagement[0];
    assert_eq!(pricing.id, "pricing-visit");
    assert_eq!(pricing.label.as_deref(), Some("Visited the pricing page"));
    let EngagementSource::Event {
        event,
        when: Some(when),
    } = &pricing.source
    else {
        panic!("pricing-visit is not an event rule with `when`");
    };
    assert_eq!(m.event_names[usize::from(*event)], "page viewed");
    assert_eq!(show(when), r"properties.url glob /(?is)^.*/Pricing.*$/");
    assert_eq!(pricing.points, 15.0);
    assert_eq!(pricing.group, Some(0));
    assert_eq!(
        pricing.limit,
        Some(Limit {
            max: 3,
            per: Some(30 * DAY)
        })
    );
    assert_eq!(pricing.within, Some(90 * DAY));
    assert_eq!(pricing.decay, Some(14 * DAY));

    let open = &m.engagement[1];
    assert!(matches!(
        open.source,
        EngagementSource::Event {
            event: 1,
            when: None
        }
    ));
    assert_eq!(open.limit, Some(Limit { max: 10, per: None }));
    assert_eq!((open.group, open.within, open.decay), (None, None, None));

    let EngagementSource::Absence {
        after,
        expect,
        within,
    } = &m.engagement[2].source
    else {
        panic!("no-reaction is not an absence rule");
    };
    assert_eq!(
        (*after, expect.as_slice(), *within),
        (2, &[1, 3][..], 7 * DAY)
    );
    assert_eq!(m.engagement[2].points, -10.0);
    assert_eq!(m.engagement[2].group, Some(1));

    let EngagementSource::Absence {
        after,
        expect,
        within,
    } = &m.engagement[3].source
    else {
        panic!("no-open is not an absence rule");
    };
    assert_eq!(
        (*after, expect.as_slice(), *within),
        (2, &[1][..], 36 * HOUR)
    );

    // Groups, disqualify, grades, labels.
    let groups: Vec<(&str, Option<f64>)> =
        m.groups.iter().map(|g| (g.name.as_str(), g.max)).collect();
    assert_eq!(groups, [("product-a", Some(50.0)), ("product-b", None)]);
    assert_eq!(m.disqualify.len(), 1);
    assert_eq!(m.disqualify[0].id, "competitor");
    assert_eq!(
        m.disqualify[0].label.as_deref(),
        Some("Works for a competitor")
    );
    assert_eq!(
        show(&m.disqualify[0].when),
        "email_domain in_list competitors"
    );
    let threshold = |name: &str, min: f64| Threshold {
        name: name.to_owned(),
        min,
    };
    assert_eq!(
        m.grades,
        [
            threshold("A", 40.0),
            threshold("B", 20.0),
            threshold("C", 0.0)
        ]
    );
    assert_eq!(
        m.labels,
        [
            threshold("hot", 80.0),
            threshold("warm", 50.0),
            threshold("cold", 0.0)
        ]
    );

    // Stages.
    let stages: Vec<(&str, Option<&str>, Option<String>, bool)> = m
        .stages
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.label.as_deref(),
                s.when.as_ref().map(show),
                s.reset_engagement,
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("lead", Some("Lead"), None, false),
            (
                "mql",
                Some("Marketing Qualified Lead"),
                Some(format!(
                    "all(score gte 60; job_title exists true; event#4 gte 1 within {})",
                    90 * DAY
                )),
                false
            ),
            (
                "sql",
                None,
                Some(
                    "all(stage#1; grade_in [A, B]; group#0 gt 30, lte 50; event#5 gte 1)"
                        .to_owned()
                ),
                true
            ),
            ("customer", None, None, false),
        ]
    );

    // Triggers.
    assert_eq!(m.triggers[0].id, "high-interest");
    assert_eq!(m.triggers[0].label.as_deref(), Some("High interest"));
    assert_eq!(show(&m.triggers[0].when), "score gte 80");
    assert_eq!(
        m.triggers[0].actions,
        [
            Action::Webhook("https://crm.example.com/hooks/lead".to_owned()),
            Action::Tag("hot".to_owned()),
            Action::Notify("sales-lead@example.com".to_owned()),
            Action::SetStage(2),
            Action::Assign(None),
            Action::Assign(Some(1)),
        ]
    );
    assert_eq!(
        show(&m.triggers[1].when),
        "all(disqualified true; score lt 10; event#1 lt 3, eq 0)"
    );
    assert_eq!(m.triggers[1].actions, [Action::Tag("dq".to_owned())]);

    // Routes and teams.
    let routes: Vec<(&str, Option<&str>, String, usize)> = m
        .routes
        .iter()
        .map(|r| (r.id.as_str(), r.label.as_deref(), show(&r.when), r.team))
        .collect();
    assert_eq!(
        routes,
        [
            ("senior", None, "score gt 100".to_owned(), 1),
            (
                "standard",
                Some("Standard DACH"),
                "all(score gt 50; country in [de, at, ch])".to_owned(),
                0
            ),
        ]
    );
    let teams: Vec<(&str, Vec<&str>, Option<u32>)> = m
        .teams
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.members.iter().map(String::as_str).collect(),
                t.capacity,
            )
        })
        .collect();
    assert_eq!(
        teams,
        [
            (
                "sales-a",
                vec!["anna@example.com", "ben@example.com"],
                Some(40)
            ),
            ("sales-b", vec!["carla@example.com"], None),
        ]
    );
}

#[test]
fn spec_example_loads_without_warnings() {
    let checked = checked(&fixture("b2b-default.toml"));
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    assert_eq!(
        leadscore_model::summary(&checked.model),
        "b2b-default: 2 fit, 2 engagement, 1 disqualify rule, 1 group, 2 stages, 1 trigger, 2 routes, 2 teams"
    );
}

#[test]
fn summary_counts_every_kind_of_rule() {
    let m = model(&fixture("every-construct.toml"));
    assert_eq!(
        leadscore_model::summary(&m),
        "every-construct: 4 fit, 4 engagement, 1 disqualify rule, 2 groups, 4 stages, 2 triggers, 2 routes, 2 teams"
    );
}

#[test]
fn minimal_model_has_empty_tables_and_no_bounds() {
    let m = model(HEADER);
    assert_eq!(m.score, ScoreBounds::default());
    assert!(m.fit.is_empty() && m.engagement.is_empty() && m.stages.is_empty());
    assert!(m.grades.is_empty() && m.labels.is_empty() && m.event_names.is_empty());
}

#[test]
fn description_is_an_optional_string() {
    model(&format!(
        "{HEADER}description = \"owned by marketing ops\"\n"
    ));
}

#[test]
fn durations_compile_to_milliseconds() {
    let m = model(&format!(
        "{HEADER}[[engagement]]\nid = \"e\"\nevent = \"x\"\npoints = 1\nwithin = \"45m\"\n\
         limit = {{ max = 1, per = \"12h\" }}\ndecay = {{ half_life = \"3w\" }}\n"
    ));
    let rule = &m.engagement[0];
    assert_eq!(rule.within, Some(45 * MINUTE));
    assert_eq!(rule.limit.and_then(|l| l.per), Some(12 * HOUR));
    assert_eq!(rule.decay, Some(21 * DAY));
}

#[test]
fn parse_duration_is_public() {
    assert_eq!(
        leadscore_model::parse_duration("30d"),
        Some(30 * 86_400_000)
    );
    for bad in ["30 days", "0d", "-1d", "5y"] {
        assert_eq!(leadscore_model::parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn later_stages_may_omit_when() {
    let m = model(&format!(
        "{HEADER}[[stage]]\nid = \"lead\"\n[[stage]]\nid = \"customer\"\nreset_engagement = true\n"
    ));
    assert!(m.stages.iter().all(|s| s.when.is_none()));
    assert!(m.stages[1].reset_engagement);
}

#[test]
fn json_schema_is_exposed() {
    assert!(leadscore_model::JSON_SCHEMA.contains("\"$schema\""));
    assert_eq!(
        leadscore_model::JSON_SCHEMA,
        leadscore_model::schema::JSON_SCHEMA
    );
}
