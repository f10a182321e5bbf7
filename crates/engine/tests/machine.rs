//! Hand-computed `[machine]` cases: proxy opens, scanner bursts, human clicks, provider
//! flags, and a late delivery that reclassifies an open already scored.

use leadscore_engine::{Attributes, Engine, Event, LineKind, ScoreResult, Value};
use leadscore_model::Millis;

const SECOND: Millis = 1_000;
const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
/// 2026-05-01T00:00:00Z.
const T0: Millis = 1_777_593_600_000;

const MODEL: &str = r#"
version = 1
name = "machine"

[lists]
scanners = ["barracuda", "proofpoint"]

[machine]
share = 0
open_within = "10s"
click_within = "10s"
burst = { clicks = 3, within = "5s" }
user_agents = "scanners"

[[engagement]]
id = "email-open"
label = "Opened a mailing"
event = "Email Opened"
points = 2

[[engagement]]
id = "email-click"
label = "Clicked a link in a mailing"
event = "Email Link Clicked"
points = 5

[[engagement]]
id = "no-reaction"
absence = { after = "Email Delivered", expect = ["Email Opened", "Email Link Clicked"], within = "7d" }
points = -1
"#;

fn engine(text: &str) -> Engine {
    match leadscore_model::load("machine.toml", text) {
        Ok(checked) => Engine::new(checked.model),
        Err(d) => panic!("{d:?}"),
    }
}

fn mail(name: &str, id: &str, mailing: &str, at: Millis, extra: &[(&str, Value)]) -> Event {
    let mut fields = vec![(
        "properties.sg_message_id".to_owned(),
        Value::Str(mailing.into()),
    )];
    fields.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Event {
        name: name.into(),
        timestamp: at,
        message_id: Some(id.into()),
        fields,
    }
}

fn lines<'a>(
    r: &'a ScoreResult,
    rule: &str,
    kind: LineKind,
) -> Option<&'a leadscore_engine::ExplainLine> {
    r.explain.iter().find(|l| l.rule == rule && l.kind == kind)
}

/// Batch and a live stream (in order, time advancing to each event) must agree.
fn both(engine: &Engine, events: &[Event], now: Millis) -> ScoreResult {
    let batch = engine.score(Attributes::new(), events, &[], &[], now);
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.timestamp);
    let mut state = engine.new_state(Attributes::new());
    for e in &sorted {
        if let Some(class) = engine.classify(&e.name, e) {
            state.apply(engine, e.timestamp, e.message_id.as_deref(), &class);
        }
        state.advance_to(engine, e.timestamp);
    }
    state.advance_to(engine, now);
    assert_eq!(state.result(engine), batch);
    batch
}

#[test]
fn thirty_proxy_opens_and_no_clicks_earn_nothing_and_say_why() {
    let e = engine(MODEL);
    let mut events = Vec::new();
    for i in 0..30 {
        let at = T0 + i * DAY;
        let mailing = format!("sg-{i}");
        events.push(mail("Email Delivered", &format!("d{i}"), &mailing, at, &[]));
        events.push(mail(
            "Email Opened",
            &format!("o{i}"),
            &mailing,
            at + 2 * SECOND,
            &[],
        ));
    }
    let now = T0 + 40 * DAY;
    let r = both(&e, &events, now);
    assert!(lines(&r, "email-open", LineKind::Engagement).is_none());
    let machine = lines(&r, "email-open", LineKind::Machine).expect("a machine line");
    assert_eq!(machine.count, 30);
    assert_eq!(machine.points, 0.0);
    assert_eq!(machine.label.as_deref(), Some("machine open"));
    assert_eq!(
        machine.reason.as_deref(),
        Some("30 within seconds of delivery")
    );
    // A machine open is no reaction: all 30 mailings count as ignored.
    assert_eq!(
        lines(&r, "no-reaction", LineKind::Absence).map(|l| l.count),
        Some(30)
    );
    assert_eq!(r.engagement, -30.0);
}

#[test]
fn a_scanner_burst_of_eight_clicks_in_two_seconds_is_a_machine() {
    let e = engine(MODEL);
    let delivered = T0;
    let mut events = vec![mail("Email Delivered", "d", "sg-1", delivered, &[])];
    // A person opens a minute later; the scanner clicks all 8 links 3 minutes later.
    events.push(mail(
        "Email Opened",
        "o",
        "sg-1",
        delivered + 60 * SECOND,
        &[],
    ));
    for i in 0..8 {
        let at = delivered + 180 * SECOND + i * 250;
        events.push(mail(
            "Email Link Clicked",
            &format!("c{i}"),
            "sg-1",
            at,
            &[],
        ));
    }
    let r = both(&e, &events, T0 + DAY);
    let machine = lines(&r, "email-click", LineKind::Machine).expect("a machine line");
    assert_eq!((machine.count, machine.points), (8, 0.0));
    assert_eq!(machine.label.as_deref(), Some("machine click"));
    assert_eq!(machine.reason.as_deref(), Some("8 in a burst of clicks"));
    assert!(lines(&r, "email-click", LineKind::Engagement).is_none());
    // The open a minute after delivery is a person's: 2 points.
    assert_eq!(r.engagement, 2.0);
}

#[test]
fn a_human_click_three_hours_after_delivery_counts() {
    let e = engine(MODEL);
    let events = [
        mail("Email Delivered", "d", "sg-1", T0, &[]),
        mail(
            "Email Opened",
            "o",
            "sg-1",
            T0 + 3 * HOUR - 30 * SECOND,
            &[],
        ),
        mail("Email Link Clicked", "c", "sg-1", T0 + 3 * HOUR, &[]),
    ];
    let r = both(&e, &events, T0 + DAY);
    assert_eq!(
        lines(&r, "email-click", LineKind::Engagement).map(|l| l.points),
        Some(5.0)
    );
    assert!(r.explain.iter().all(|l| l.kind != LineKind::Machine));
    assert_eq!(r.engagement, 7.0);
}

#[test]
fn a_provider_flagged_open_scores_nothing() {
    let e = engine(MODEL);
    let events = [
        mail("Email Delivered", "d", "sg-1", T0, &[]),
        mail(
            "Email Opened",
            "o",
            "sg-1",
            T0 + 5 * HOUR,
            &[("properties.machine_open", Value::Bool(true))],
        ),
    ];
    let r = both(&e, &events, T0 + DAY);
    let machine = lines(&r, "email-open", LineKind::Machine).expect("a machine line");
    assert_eq!((machine.count, machine.points), (1, 0.0));
    assert_eq!(machine.reason.as_deref(), Some("1 flagged by the provider"));
    assert_eq!(r.engagement, 0.0);
}

#[test]
fn a_listed_user_agent_is_a_machine() {
    let e = engine(MODEL);
    let events = [mail(
        "Email Link Clicked",
        "c",
        "sg-1",
        T0,
        &[(
            "context.userAgent",
            Value::Str("Mozilla/5.0 (Barracuda LinkProtect)".into()),
        )],
    )];
    let r = both(&e, &events, T0 + DAY);
    let machine = lines(&r, "email-click", LineKind::Machine).expect("a machine line");
    assert_eq!(
        machine.reason.as_deref(),
        Some("1 known machine user agent")
    );
}

#[test]
fn a_late_delivery_reclassifies_an_open_already_scored() {
    let e = engine(MODEL);
    let open = mail("Email Opened", "o", "sg-1", T0 + 3 * SECOND, &[]);
    let delivered = mail("Email Delivered", "d", "sg-1", T0, &[]);
    let mut state = e.new_state(Attributes::new());
    let apply = |state: &mut leadscore_engine::ContactState, ev: &Event| {
        if let Some(class) = e.classify(&ev.name, ev) {
            state.apply(&e, ev.timestamp, ev.message_id.as_deref(), &class);
        }
    };
    apply(&mut state, &open);
    state.advance_to(&e, T0 + HOUR);
    assert_eq!(
        state.result(&e).engagement,
        2.0,
        "a person's open until the delivery arrives"
    );
    apply(&mut state, &delivered);
    let late = state.result(&e);
    assert_eq!(late.engagement, 0.0);
    assert_eq!(
        late,
        e.score(Attributes::new(), &[open, delivered], &[], &[], T0 + HOUR)
    );
}

#[test]
fn a_share_scores_machine_events_partly_and_lines_sum_to_raw() {
    let e = engine(&MODEL.replace("share = 0", "share = 0.25"));
    let mut events = vec![mail("Email Delivered", "d", "sg-1", T0, &[])];
    for i in 0..4 {
        events.push(mail(
            "Email Opened",
            &format!("o{i}"),
            "sg-1",
            T0 + i * SECOND,
            &[],
        ));
    }
    let r = both(&e, &events, T0 + HOUR);
    let machine = lines(&r, "email-open", LineKind::Machine).expect("a machine line");
    assert_eq!((machine.count, machine.points), (4, 2.0));
    let sum: f64 = r.explain.iter().map(|l| l.points).sum();
    assert_eq!(sum, r.raw);
}
