//! Hand-computed cases: each expectation is a literal number worked out on paper from
//! the spec's semantics, not read back from the engine.

use leadscore_engine::{Adjustment, Attributes, Engine, Event, LineKind, ScoreResult, Value};
use leadscore_model::Millis;

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
/// 2026-05-01T00:00:00Z: an arbitrary, realistic origin.
const T0: Millis = 1_777_593_600_000;

fn engine(body: &str) -> Engine {
    let text = format!("version = 1\nname = \"case\"\n{body}");
    match leadscore_model::load("case.toml", &text) {
        Ok(checked) => Engine::new(checked.model),
        Err(diagnostics) => panic!(
            "test model is invalid:\n{}",
            diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn event(name: &str, at: Millis) -> Event {
    Event {
        name: name.into(),
        timestamp: at,
        message_id: None,
        fields: Vec::new(),
    }
}

fn page(url: &str, at: Millis) -> Event {
    Event {
        name: "Page Viewed".into(),
        timestamp: at,
        message_id: None,
        fields: vec![("properties.url".into(), Value::Str(url.into()))],
    }
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    let mut a = Attributes::new();
    for (k, v) in pairs {
        a.set(*k, Value::Str((*v).into()));
    }
    a
}

fn score(engine: &Engine, attributes: Attributes, events: &[Event], now: Millis) -> ScoreResult {
    engine.score(attributes, events, &[], &[], now)
}

fn line<'a>(result: &'a ScoreResult, rule: &str) -> &'a leadscore_engine::ExplainLine {
    result
        .explain
        .iter()
        .find(|l| l.rule == rule)
        .unwrap_or_else(|| panic!("no explanation line for `{rule}` in {:?}", result.explain))
}

#[test]
fn decay_halves_points_after_exactly_one_half_life() {
    let e = engine(
        r#"
[[engagement]]
id = "download"
event = "Content Downloaded"
points = 20
decay = { half_life = "30d" }
"#,
    );
    let events = [event("Content Downloaded", T0)];
    assert_eq!(score(&e, Attributes::new(), &events, T0).raw, 20.0);
    assert_eq!(
        score(&e, Attributes::new(), &events, T0 + 30 * DAY).raw,
        10.0
    );
    assert_eq!(
        score(&e, Attributes::new(), &events, T0 + 60 * DAY).raw,
        5.0
    );
    assert_eq!(
        score(&e, Attributes::new(), &events, T0 + 60 * DAY).score,
        5
    );
}

#[test]
fn limit_of_three_per_thirty_days_counts_three_of_five() {
    let e = engine(
        r#"
[[engagement]]
id = "open"
event = "Email Opened"
points = 5
limit = { max = 3, per = "30d" }
"#,
    );
    let five: Vec<Event> = (0..5)
        .map(|d| event("Email Opened", T0 + d * DAY))
        .collect();
    let result = score(&e, Attributes::new(), &five, T0 + 10 * DAY);
    assert_eq!(result.raw, 15.0);
    assert_eq!(line(&result, "open").count, 3);
    assert_eq!(line(&result, "open").not_counted, 2);

    // Day 30.5: the window (day 0.5, day 30.5] holds the counted opens of days 1 and 2,
    // so a fourth open counts; day 30 itself still sees days 0, 1, 2 and does not.
    let mut more = five.clone();
    more.push(event("Email Opened", T0 + 30 * DAY));
    more.push(event("Email Opened", T0 + 30 * DAY + 12 * HOUR));
    let result = score(&e, Attributes::new(), &more, T0 + 31 * DAY);
    assert_eq!(result.raw, 20.0);
    assert_eq!(line(&result, "open").count, 4);
}

#[test]
fn limit_without_per_counts_the_first_ones_inside_within() {
    let e = engine(
        r#"
[[engagement]]
id = "webinar"
event = "Webinar Attended"
points = 10
limit = { max = 2 }
within = "30d"
"#,
    );
    let events: Vec<Event> = [0, 10, 20, 40]
        .iter()
        .map(|d| event("Webinar Attended", T0 + d * DAY))
        .collect();
    // As of day 45 only days 20 and 40 are inside the window: both count.
    let result = score(&e, Attributes::new(), &events, T0 + 45 * DAY);
    assert_eq!(result.raw, 20.0);
    // As of day 25 days 0, 10, 20 qualify and the first two count.
    let result = score(&e, Attributes::new(), &events, T0 + 25 * DAY);
    assert_eq!(result.raw, 20.0);
    assert_eq!(line(&result, "webinar").not_counted, 1);
}

#[test]
fn within_is_inclusive_at_both_ends() {
    let e = engine(
        r#"
[[engagement]]
id = "visit"
event = "Page Viewed"
points = 3
within = "30d"
"#,
    );
    let now = T0 + 30 * DAY;
    let events = [page("/a", T0), page("/b", T0 - 1), page("/c", now)];
    let result = score(&e, Attributes::new(), &events, now);
    assert_eq!(result.raw, 6.0);
    assert_eq!(line(&result, "visit").count, 2);
}

#[test]
fn absence_counts_only_once_its_window_has_closed_without_reaction() {
    let e = engine(
        r#"
[[engagement]]
id = "no-reaction"
absence = { after = "Email Delivered", expect = ["Email Opened", "Email Link Clicked"], within = "7d" }
points = -10
"#,
    );
    let delivered = [event("Email Delivered", T0)];
    // Window still open six days later: nothing yet.
    assert_eq!(
        score(&e, Attributes::new(), &delivered, T0 + 6 * DAY).raw,
        0.0
    );
    // Closed at exactly seven days: one occurrence.
    let closed = score(&e, Attributes::new(), &delivered, T0 + 7 * DAY);
    assert_eq!(closed.raw, -10.0);
    assert_eq!(line(&closed, "no-reaction").kind, LineKind::Absence);
    // A click at exactly the end of the window is still a reaction.
    let reacted = [
        event("Email Delivered", T0),
        event("email link clicked", T0 + 7 * DAY),
    ];
    assert_eq!(
        score(&e, Attributes::new(), &reacted, T0 + 30 * DAY).raw,
        0.0
    );
    // A reaction after the window does not undo the missed one.
    let late = [
        event("Email Delivered", T0),
        event("Email Opened", T0 + 8 * DAY),
    ];
    assert_eq!(
        score(&e, Attributes::new(), &late, T0 + 30 * DAY).raw,
        -10.0
    );
}

#[test]
fn group_cap_limits_what_a_group_adds_never_what_it_takes() {
    let e = engine(
        r#"
[[engagement]]
id = "pricing"
event = "Page Viewed"
when = { field = "properties.url", glob = "*/pricing*" }
points = 30
group = "product-a"

[[engagement]]
id = "unsubscribed"
event = "Unsubscribed"
points = -10
group = "product-a"

[groups.product-a]
max = 50
"#,
    );
    let events = [
        page("https://x.example/pricing", T0),
        page("https://x.example/Pricing?plan=pro", T0 + DAY),
        page("https://x.example/pricing", T0 + 2 * DAY),
        page("https://x.example/blog", T0 + 2 * DAY),
        event("Unsubscribed", T0 + 3 * DAY),
    ];
    let result = score(&e, Attributes::new(), &events, T0 + 4 * DAY);
    // min(90, 50) + (-10)
    assert_eq!(result.raw, 40.0);
    assert_eq!(result.groups, vec![("product-a".to_string(), 40.0)]);
    let pricing = line(&result, "pricing");
    assert_eq!(
        (pricing.count, pricing.points, pricing.capped),
        (3, 50.0, 40.0)
    );
    assert_eq!(line(&result, "unsubscribed").points, -10.0);
}

#[test]
fn score_is_clamped_to_zero_and_one_hundred_with_raw_kept() {
    let e = engine(
        r#"
[score]
min = 0
max = 100

[[fit]]
id = "ceo"
when = { field = "job_title", matches = "(?i)\\bceo\\b" }
points = 130

[[fit]]
id = "student"
when = { field = "job_title", contains = "student" }
points = -20
"#,
    );
    let high = score(&e, attrs(&[("job_title", "CEO")]), &[], T0);
    assert_eq!((high.score, high.raw, high.clamped), (100, 130.0, 100.0));
    let clamp = line(&high, "clamp");
    assert_eq!((clamp.points, clamp.clamped_to), (0.0, Some(100.0)));
    let low = score(&e, attrs(&[("job_title", "Working Student")]), &[], T0);
    assert_eq!((low.score, low.raw), (0, -20.0));
    let sum: f64 = low.explain.iter().map(|l| l.points).sum();
    assert_eq!(sum, low.raw);
}

#[test]
fn rounding_is_half_away_from_zero_and_labels_use_the_unrounded_score() {
    let e = engine(
        r#"
[[engagement]]
id = "half"
event = "Email Opened"
points = 0.5

[[fit]]
id = "base"
when = { field = "country", exists = true }
points = 79

[labels]
hot = 80
warm = 50
"#,
    );
    let result = score(
        &e,
        attrs(&[("country", "DE")]),
        &[event("Email Opened", T0)],
        T0,
    );
    assert_eq!(result.raw, 79.5);
    assert_eq!(result.score, 80);
    assert_eq!(result.label.as_deref(), Some("warm"));
    let none = score(&e, Attributes::new(), &[], T0);
    assert_eq!(none.label, None);
}

const STAGED: &str = r#"
[lists]
competitors = ["rival.example"]

[[fit]]
id = "title"
when = { field = "job_title", exists = true }
points = 20

[[engagement]]
id = "demo"
event = "Demo Requested"
points = 50
decay = { half_life = "10d" }

[[disqualify]]
id = "competitor"
when = { field = "email_domain", in_list = "competitors" }

[grades]
A = 20

[[stage]]
id = "lead"

[[stage]]
id = "mql"
when = { all = [ { score_gte = 60 }, { event = "Demo Requested", count_gte = 1, within = "90d" } ] }

[[route]]
id = "sales"
when = { score_gte = 50 }
assign = { team = "sales" }

[teams.sales]
members = ["anna@example.com"]
"#;

#[test]
fn stages_only_move_forward() {
    let e = engine(STAGED);
    let who = attrs(&[("job_title", "CTO"), ("email", "c@buyer.example")]);
    let demo = [event("Demo Requested", T0)];
    let at_once = score(&e, who.clone(), &demo, T0);
    assert_eq!((at_once.raw, at_once.stage.as_deref()), (70.0, Some("mql")));
    assert_eq!(at_once.grade.as_deref(), Some("A"));
    // Twenty days later the demo is worth 12.5: the score falls to 32.5, the stage stays.
    let later = score(&e, who, &demo, T0 + 20 * DAY);
    assert_eq!((later.raw, later.stage.as_deref()), (32.5, Some("mql")));
    assert_eq!(later.route, None);
}

#[test]
fn disqualified_contact_keeps_its_score_but_is_never_promoted_or_routed() {
    let e = engine(STAGED);
    let rival = attrs(&[("job_title", "CTO"), ("email", "spy@Rival.example")]);
    let result = score(&e, rival, &[event("Demo Requested", T0)], T0);
    assert_eq!(result.raw, 70.0);
    assert!(result.disqualified);
    assert_eq!(result.disqualified_by, vec!["competitor".to_string()]);
    assert_eq!(result.stage.as_deref(), Some("lead"));
    assert_eq!(result.route, None);
    // The same contact without the competitor domain is routed.
    let buyer = attrs(&[("job_title", "CTO"), ("email", "c@buyer.example")]);
    let routed = score(&e, buyer, &[event("Demo Requested", T0)], T0);
    assert_eq!(routed.route.map(|r| r.team), Some("sales".to_string()));
}

#[test]
fn stage_entry_instants_are_the_first_checkpoint_and_each_stage_entered() {
    let e = engine(
        r#"
[[engagement]]
id = "visit"
event = "Page Viewed"
points = 30

[[stage]]
id = "lead"

[[stage]]
id = "mql"
when = { score_gte = 60 }

[[stage]]
id = "sql"
when = { event = "Sales Accepted", count_gte = 1 }
"#,
    );
    // Lead at the first event (day 1), MQL at the second visit (day 3: 60 points),
    // SQL when accepted (day 7).
    let events = [
        page("/a", T0 + DAY),
        page("/b", T0 + 3 * DAY),
        event("Sales Accepted", T0 + 7 * DAY),
    ];
    let (result, times) = e.score_timed(Attributes::new(), &events, &[], &[], T0 + 9 * DAY);
    assert_eq!(result, score(&e, Attributes::new(), &events, T0 + 9 * DAY));
    assert_eq!(times, [T0 + DAY, T0 + 3 * DAY, T0 + 7 * DAY]);
    // Accepted straight away: MQL is skipped, entered with SQL at the same instant.
    let jump = [page("/a", T0), event("Sales Accepted", T0 + 2 * DAY)];
    let (result, times) = e.score_timed(Attributes::new(), &jump, &[], &[], T0 + 5 * DAY);
    assert_eq!(result.stage.as_deref(), Some("sql"));
    assert_eq!(times, [T0, T0 + 2 * DAY, T0 + 2 * DAY]);
    // Before the first event nothing was entered but the first stage, at the instant
    // scored; the plain path records no times.
    let (_, times) = e.score_timed(Attributes::new(), &events, &[], &[], T0);
    assert_eq!(times, [T0]);
    let state = e.new_state(Attributes::new());
    assert!(state.stage_times().is_empty());
}

#[test]
fn reset_engagement_starts_a_stage_afresh() {
    let e = engine(
        r#"
[[engagement]]
id = "visit"
event = "Page Viewed"
points = 30

[[stage]]
id = "lead"

[[stage]]
id = "sql"
when = { event = "Sales Accepted", count_gte = 1 }
reset_engagement = true
"#,
    );
    let events = [
        page("/a", T0),
        page("/b", T0 + DAY),
        event("Sales Accepted", T0 + 2 * DAY),
        page("/c", T0 + 3 * DAY),
    ];
    let result = score(&e, Attributes::new(), &events, T0 + 4 * DAY);
    assert_eq!(result.stage.as_deref(), Some("sql"));
    assert_eq!(result.raw, 30.0);
    assert_eq!(line(&result, "visit").count, 1);
}

#[test]
fn identify_traits_apply_in_time_order_up_to_now() {
    let e = engine(
        r#"
[[fit]]
id = "dach"
when = { field = "country", in = ["DE", "AT", "CH"] }
points = 10
"#,
    );
    let identifies = vec![
        (
            T0 + 2 * DAY,
            Some("i-2".to_string()),
            vec![("country".to_string(), Some(Value::Str("us".into())))],
        ),
        (
            T0 + DAY,
            Some("i-1".to_string()),
            vec![("country".to_string(), Some(Value::Str("de".into())))],
        ),
    ];
    let at = |now| {
        e.score(attrs(&[("country", "FR")]), &[], &identifies, &[], now)
            .raw
    };
    assert_eq!(at(T0), 0.0);
    assert_eq!(at(T0 + DAY), 10.0);
    assert_eq!(at(T0 + 3 * DAY), 0.0);
}

#[test]
fn manual_adjustments_count_from_their_time_and_are_explained() {
    let e = engine("[groups.product-a]\nmax = 5\n");
    let adjustment = Adjustment {
        at: T0,
        points: 15.0,
        group: Some(0),
        author: "ana@example.com".into(),
        reason: "met at the trade fair".into(),
    };
    let before = e.score(
        Attributes::new(),
        &[],
        &[],
        std::slice::from_ref(&adjustment),
        T0 - 1,
    );
    assert_eq!(before.raw, 0.0);
    let after = e.score(Attributes::new(), &[], &[], &[adjustment], T0);
    assert_eq!((after.manual, after.raw), (15.0, 15.0));
    // A person's adjustment is not subject to the group's engagement cap.
    assert_eq!(after.groups, vec![("product-a".to_string(), 15.0)]);
    let manual = line(&after, "manual");
    assert_eq!(manual.label.as_deref(), Some("met at the trade fair"));
    assert_eq!(manual.author.as_deref(), Some("ana@example.com"));
}

#[test]
fn duplicate_message_ids_count_once_and_events_after_now_do_not_exist() {
    let e = engine("[[engagement]]\nid = \"open\"\nevent = \"Email Opened\"\npoints = 5\n");
    let with_id = |id: &str, at| Event {
        message_id: Some(id.into()),
        ..event("Email Opened", at)
    };
    let events = [
        with_id("m-1", T0),
        with_id("m-1", T0),
        with_id("m-2", T0 + DAY),
    ];
    assert_eq!(score(&e, Attributes::new(), &events, T0 + DAY).raw, 10.0);
    assert_eq!(score(&e, Attributes::new(), &events, T0 + DAY - 1).raw, 5.0);
}

/// Feed events in order to a live state, advancing time to each; the fired edges.
fn live_fired(
    engine: &Engine,
    state: &mut leadscore_engine::ContactState,
    events: &[Event],
) -> Vec<(String, Millis)> {
    for e in events {
        if let Some(class) = engine.classify(&e.name, e) {
            state.apply_unique(engine, e.timestamp, &class);
        }
        state.advance_to(engine, e.timestamp);
    }
    state
        .take_fired()
        .into_iter()
        .map(|f| (f.trigger, f.at))
        .collect()
}

fn fired(list: &[(&str, Millis)]) -> Vec<(String, Millis)> {
    list.iter().map(|(t, at)| ((*t).to_owned(), *at)).collect()
}

const HOT_MODEL: &str = r#"
[[engagement]]
id = "demo"
event = "Demo"
points = 50
[[engagement]]
id = "complaint"
event = "Complaint"
points = -30
[[engagement]]
id = "visit"
event = "Visit"
points = 40
decay = { half_life = "1d" }
[[trigger]]
id = "hot"
when = { score_gte = 80 }
actions = [ { tag = "hot" } ]
"#;

#[test]
fn trigger_fires_on_each_upward_crossing_only() {
    let e = engine(HOT_MODEL);
    let mut state = e.new_state(Attributes::new()).recording_triggers();
    // 50, 100 (fires), 70 (re-arms), 120 (fires), 170 (still active: no edge).
    let events = [
        event("Demo", T0),
        event("Demo", T0 + HOUR),
        event("Complaint", T0 + 2 * HOUR),
        event("Demo", T0 + 3 * HOUR),
        event("Demo", T0 + 4 * HOUR),
    ];
    assert_eq!(
        live_fired(&e, &mut state, &events),
        fired(&[("hot", T0 + HOUR), ("hot", T0 + 3 * HOUR)])
    );
    assert!(state.take_fired().is_empty());
    assert_eq!(state.result(&e).triggers_active, vec!["hot".to_string()]);
    assert_eq!(
        score(&e, Attributes::new(), &events[..3], T0 + 2 * HOUR).triggers_active,
        Vec::<String>::new()
    );
}

#[test]
fn trigger_rearmed_by_decay_alone_fires_again_when_pushed_back_over() {
    let e = engine(HOT_MODEL);
    let mut state = e.new_state(Attributes::new()).recording_triggers();
    // 50 + 40 = 90 at T0: fires.
    let first = [event("Demo", T0), event("Visit", T0)];
    assert_eq!(live_fired(&e, &mut state, &first), fired(&[("hot", T0)]));
    // No events: one half-life later 50 + 20 = 70, below 80: re-armed, nothing fires.
    state.advance_to(&e, T0 + DAY);
    assert!(state.take_fired().is_empty());
    assert!(state.result(&e).triggers_active.is_empty());
    state.advance_to(&e, T0 + 2 * DAY);
    assert_eq!(state.result(&e).raw, 60.0);
    // A new visit: 50 + 10 + 40 = 100: fires again.
    let again = [event("Visit", T0 + 2 * DAY)];
    assert_eq!(
        live_fired(&e, &mut state, &again),
        fired(&[("hot", T0 + 2 * DAY)])
    );
}

#[test]
fn disqualified_contact_fires_only_triggers_naming_disqualified() {
    let e = engine(
        r#"
[[engagement]]
id = "demo"
event = "Demo"
points = 50
[[disqualify]]
id = "blocked"
when = { field = "country", in = ["ZZ"] }
[[trigger]]
id = "hot"
when = { score_gte = 80 }
actions = [ { tag = "hot" } ]
[[trigger]]
id = "hot-but-blocked"
when = { all = [ { disqualified = true }, { score_gte = 80 } ] }
actions = [ { tag = "check" } ]
"#,
    );
    let events = [event("Demo", T0), event("Demo", T0 + HOUR)];
    let mut blocked = e
        .new_state(attrs(&[("country", "zz")]))
        .recording_triggers();
    assert_eq!(
        live_fired(&e, &mut blocked, &events),
        fired(&[("hot-but-blocked", T0 + HOUR)])
    );
    let batch = score(&e, attrs(&[("country", "ZZ")]), &events, T0 + HOUR);
    assert_eq!(batch.triggers_active, vec!["hot-but-blocked".to_string()]);
    let mut fine = e
        .new_state(attrs(&[("country", "DE")]))
        .recording_triggers();
    assert_eq!(
        live_fired(&e, &mut fine, &events),
        fired(&[("hot", T0 + HOUR)])
    );
}

#[test]
fn stage_trigger_fires_once_when_the_stage_is_entered() {
    let e = engine(
        r#"
[[engagement]]
id = "demo"
event = "Demo"
points = 50
[[engagement]]
id = "complaint"
event = "Complaint"
points = -30
[[stage]]
id = "lead"
[[stage]]
id = "mql"
when = { score_gte = 60 }
[[trigger]]
id = "became-mql"
when = { stage = "mql" }
actions = [ { tag = "mql" } ]
"#,
    );
    let mut state = e.new_state(Attributes::new()).recording_triggers();
    // 50 (lead), 100 (mql: fires), 70, 120: the stage stays, nothing fires again.
    let events = [
        event("Demo", T0),
        event("Demo", T0 + HOUR),
        event("Complaint", T0 + 2 * HOUR),
        event("Complaint", T0 + 3 * HOUR),
        event("Demo", T0 + 4 * HOUR),
    ];
    assert_eq!(
        live_fired(&e, &mut state, &events),
        fired(&[("became-mql", T0 + HOUR)])
    );
    assert_eq!(state.result(&e).stage.as_deref(), Some("mql"));
}
