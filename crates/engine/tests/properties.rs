//! Property tests on random models and event streams.
//!
//! Models are built directly as `CompiledModel`s so that every combination of `limit`,
//! `per`, `within`, `decay`, absence rules, group caps, clamps and stages is reachable,
//! not only those a hand-written file happens to use.

use std::sync::Arc;

use leadscore_engine::{Adjustment, Attributes, ContactState, Engine, Event, ScoreResult, Value};
use leadscore_model::{
    Cmp, CompiledModel, Condition, DisqualifyRule, EngagementRule, EngagementSource, FieldOp,
    FitRule, Group, Limit, Literal, Millis, Route, ScoreBounds, Stage, Team, Threshold, Trigger,
};
use proptest::prelude::*;

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
const NAMES: [&str; 5] = [
    "email delivered",
    "email opened",
    "page viewed",
    "demo requested",
    "email link clicked",
];

fn lit(text: &str) -> Literal {
    Literal {
        text: text.to_lowercase(),
        number: text.parse().ok(),
        boolean: None,
    }
}

prop_compose! {
    fn arb_rule(index: usize)(
        event in 0u16..5,
        absence in prop::bool::weighted(0.25),
        expect in prop::collection::vec(0u16..5, 1..3),
        window in 1i64..8,
        filter in prop::option::of(0i64..10),
        points in -20i32..40,
        half in any::<bool>(),
        group in prop::option::of(0usize..2),
        limit in prop::option::of((1u32..4, prop::option::of(1i64..15))),
        within in prop::option::of(1i64..40),
        decay in prop::option::of(1i64..30),
    ) -> EngagementRule {
        let source = if absence {
            EngagementSource::Absence { after: event, expect, within: window * DAY }
        } else {
            EngagementSource::Event {
                event,
                when: filter.map(|k| Condition::Field {
                    field: "properties.v".into(),
                    ops: vec![FieldOp::Compare(Cmp::Gte, k as f64)],
                }),
            }
        };
        EngagementRule {
            id: format!("rule-{index}"),
            label: Some(format!("Rule {index}")),
            source,
            points: f64::from(points) + if half { 0.5 } else { 0.0 },
            group,
            limit: limit.map(|(max, per)| Limit { max, per: per.map(|d| d * DAY) }),
            within: within.map(|d| d * DAY),
            decay: decay.map(|d| d * DAY),
        }
    }
}

fn arb_rules() -> impl Strategy<Value = Vec<EngagementRule>> {
    (1usize..6).prop_flat_map(|n| (0..n).map(arb_rule).collect::<Vec<_>>())
}

prop_compose! {
    fn arb_model(with_stages: bool)(
        rules in arb_rules(),
        caps in (prop::option::of(5f64..60.0), prop::option::of(5f64..60.0)),
        min in prop::option::of(-10f64..10.0),
        max in prop::option::of(30f64..120.0),
        fit_points in (-20i32..30, -20i32..30),
        mql_score in 0f64..60.0,
        mql_event in 0u16..5,
        mql_within in prop::option::of(1i64..30),
        sql_reset in any::<bool>(),
        sql_score in 20f64..90.0,
        route_score in 0f64..60.0,
        trigger_score in 0f64..90.0,
        machine in prop::option::of(arb_machine()),
    ) -> CompiledModel {
        let stages = if with_stages {
            vec![
                Stage { id: "lead".into(), label: None, when: None, reset_engagement: false },
                Stage {
                    id: "mql".into(),
                    label: None,
                    when: Some(Condition::All(vec![
                        Condition::Score { group: None, cmps: vec![(Cmp::Gte, mql_score)] },
                        // Attribute-only: decided when attributes change (identify
                        // calls set and remove `size`).
                        Condition::Field {
                            field: "size".into(),
                            ops: vec![FieldOp::Compare(Cmp::Gte, 50.0)],
                        },
                        Condition::EventCount {
                            event: mql_event,
                            cmps: vec![(Cmp::Gte, 1.0)],
                            within: mql_within.map(|d| d * DAY),
                        },
                    ])),
                    reset_engagement: false,
                },
                Stage {
                    id: "sql".into(),
                    label: None,
                    when: Some(Condition::Any(vec![
                        Condition::Score { group: Some(0), cmps: vec![(Cmp::Gt, sql_score)] },
                        Condition::GradeIn(vec!["A".into()]),
                    ])),
                    reset_engagement: sql_reset,
                },
            ]
        } else {
            Vec::new()
        };
        CompiledModel {
            name: "random".into(),
            version: 1,
            score: ScoreBounds { min, max },
            fit: vec![
                FitRule {
                    id: "big".into(),
                    label: None,
                    when: Condition::Field {
                        field: "size".into(),
                        ops: vec![FieldOp::Compare(Cmp::Gte, 100.0)],
                    },
                    points: f64::from(fit_points.0),
                },
                FitRule {
                    id: "dach".into(),
                    label: None,
                    when: Condition::Field {
                        field: "country".into(),
                        ops: vec![FieldOp::In(vec![lit("de"), lit("at")])],
                    },
                    points: f64::from(fit_points.1),
                },
            ],
            engagement: rules,
            groups: vec![
                Group { name: "g0".into(), max: caps.0 },
                Group { name: "g1".into(), max: caps.1 },
            ],
            disqualify: vec![DisqualifyRule {
                id: "blocked".into(),
                label: None,
                when: Condition::Field {
                    field: "country".into(),
                    ops: vec![FieldOp::InList {
                        name: "blocked".into(),
                        values: Arc::new(["zz".to_string()].into_iter().collect()),
                    }],
                },
            }],
            grades: vec![
                Threshold { name: "A".into(), min: 20.0 },
                Threshold { name: "B".into(), min: 0.0 },
            ],
            labels: vec![
                Threshold { name: "hot".into(), min: 50.0 },
                Threshold { name: "cold".into(), min: 0.0 },
            ],
            triggers: triggers(trigger_score, !stages.is_empty()),
            stages,
            routes: vec![Route {
                id: "sales".into(),
                label: None,
                when: Condition::Score { group: None, cmps: vec![(Cmp::Gt, route_score)] },
                team: 0,
            }],
            teams: vec![Team { name: "a".into(), members: vec!["a@example.com".into()], capacity: None }],
            event_names: NAMES.iter().map(|s| s.to_string()).collect(),
            machine,
            prediction: None,
            account: None,
        }
    }
}

prop_compose! {
    /// `[machine]` with windows on the scale of the events' 6-hour grid, so that
    /// deliveries, opens and bursts meet often.
    fn arb_machine()(
        share in prop::sample::select(vec![0.0, 0.25, 1.0]),
        open_within in prop::option::of(0i64..3),
        click_within in prop::option::of(0i64..2),
        burst in prop::option::of((2u32..4, 0i64..3)),
        click_needs_open in any::<bool>(),
    ) -> leadscore_model::Machine {
        let hours = |q: i64| q * 6 * HOUR + HOUR;
        leadscore_model::Machine {
            share,
            message_id: vec!["properties.message_id".into()],
            delivered: 0,
            opens: vec![1],
            clicks: vec![4],
            open_within: open_within.map(hours),
            click_within: click_within.map(hours),
            burst: burst.map(|(clicks, q)| leadscore_model::Burst { clicks, within: hours(q) }),
            click_needs_open,
            flags: vec!["properties.machine_open".into()],
            user_agents: vec!["bot".into()],
            ip_ranges: Vec::new(),
        }
    }
}

/// Triggers on the score (both directions), the stage, a recent event, and one that
/// only a disqualified contact can hold.
fn triggers(score: f64, with_stages: bool) -> Vec<Trigger> {
    let trigger = |id: &str, when| Trigger {
        id: id.into(),
        label: None,
        when,
        actions: Vec::new(),
    };
    let hot = Condition::Score {
        group: None,
        cmps: vec![(Cmp::Gte, score)],
    };
    let mut list = vec![
        trigger("hot", hot.clone()),
        trigger(
            "low",
            Condition::Score {
                group: None,
                cmps: vec![(Cmp::Lt, score / 2.0)],
            },
        ),
        trigger(
            "demo-recent",
            Condition::EventCount {
                event: 3,
                cmps: vec![(Cmp::Gte, 1.0)],
                within: Some(2 * DAY),
            },
        ),
        trigger(
            "blocked-hot",
            Condition::All(vec![Condition::Disqualified(true), hot]),
        ),
    ];
    if with_stages {
        list.push(trigger("mql", Condition::Stage(1)));
    }
    list
}

/// 400 cases per property, or `PROPTEST_CASES` for a longer hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    ProptestConfig::with_cases(cases)
}

/// One thing that happens to a contact.
#[derive(Debug, Clone)]
enum Input {
    Event(Event),
    Identify(Millis, Option<String>, Vec<(String, Option<Value>)>),
}

impl Input {
    fn at(&self) -> Millis {
        match self {
            Input::Event(e) => e.timestamp,
            Input::Identify(t, ..) => *t,
        }
    }
}

prop_compose! {
    fn arb_event()(
        name in 0usize..5,
        quarter_days in 0i64..240,
        id in prop::option::of(0u32..1000),
        v in 0i64..10,
        upper in any::<bool>(),
        mailing in prop::option::of(0u32..3),
        flagged in prop::bool::weighted(0.1),
        bot in prop::bool::weighted(0.1),
    ) -> Input {
        let mut fields = vec![("properties.v".to_string(), Value::Num(v as f64))];
        if let Some(m) = mailing {
            fields.push(("properties.message_id".into(), Value::Str(format!("mail-{m}"))));
        }
        if flagged {
            fields.push(("properties.machine_open".into(), Value::Bool(true)));
        }
        if bot {
            fields.push(("context.userAgent".into(), Value::Str("LinkBot/2.0".into())));
        }
        let name = if upper { NAMES[name].to_uppercase() } else { NAMES[name].to_string() };
        Input::Event(Event {
            name,
            // Coarse times (every 6 hours over 60 days) make ties common.
            timestamp: quarter_days * 6 * HOUR,
            message_id: id.map(|i| format!("m-{i}")),
            fields,
        })
    }
}

prop_compose! {
    fn arb_identify()(
        hours in 0i64..(60 * 24),
        id in 0u32..1000,
        size in prop::option::of(0i64..300),
        country in prop::option::of(prop::sample::select(vec!["de", "fr", "zz", "AT"])),
    ) -> Input {
        let mut traits = vec![("size".to_string(), size.map(|s| Value::Num(s as f64)))];
        if let Some(c) = country {
            traits.push(("country".to_string(), Some(Value::Str(c.into()))));
        }
        Input::Identify(hours * HOUR, Some(format!("i-{id}")), traits)
    }
}

fn arb_inputs() -> impl Strategy<Value = Vec<Input>> {
    prop::collection::vec(prop_oneof![9 => arb_event(), 1 => arb_identify()], 0..60).prop_map(
        |mut inputs| {
            // A message id names one message: copies of it are exact copies.
            let mut first: std::collections::HashMap<String, Input> = Default::default();
            for input in &mut inputs {
                let id = match input {
                    Input::Event(e) => e.message_id.clone(),
                    Input::Identify(_, id, _) => id.clone(),
                };
                if let Some(id) = id {
                    match first.get(&id) {
                        Some(original) => *input = original.clone(),
                        None => {
                            first.insert(id, input.clone());
                        }
                    }
                }
            }
            inputs
        },
    )
}

fn base_attributes() -> Attributes {
    let mut a = Attributes::new();
    a.set("size", Value::Str("150".into()));
    a.set("country", Value::Str("DE".into()));
    a
}

fn adjustments() -> Vec<Adjustment> {
    vec![Adjustment {
        at: 10 * DAY,
        points: 7.5,
        group: Some(1),
        author: "ana@example.com".into(),
        reason: "met at a trade fair".into(),
    }]
}

fn batch(engine: &Engine, inputs: &[Input], now: Millis) -> ScoreResult {
    let mut events = Vec::new();
    let mut identifies = Vec::new();
    for input in inputs {
        match input {
            Input::Event(e) => events.push(e.clone()),
            Input::Identify(t, id, traits) => identifies.push((*t, id.clone(), traits.clone())),
        }
    }
    engine.score(base_attributes(), &events, &identifies, &adjustments(), now)
}

fn apply(engine: &Engine, state: &mut ContactState, input: &Input) {
    match input {
        Input::Event(e) => {
            if let Some(class) = engine.classify(&e.name, e) {
                state.apply(engine, e.timestamp, e.message_id.as_deref(), &class);
            }
        }
        Input::Identify(t, id, traits) => {
            state.apply_traits(engine, *t, id.as_deref(), traits.clone())
        }
    }
}

fn assert_explained(result: &ScoreResult) {
    let sum: f64 = result.explain.iter().map(|l| l.points).sum();
    let tolerance = 1e-9 * (1.0 + result.raw.abs());
    assert!(
        (sum - result.raw).abs() <= tolerance,
        "lines sum to {sum}, raw is {}",
        result.raw
    );
    let fit: f64 = result
        .explain
        .iter()
        .filter(|l| l.kind == leadscore_engine::LineKind::Fit)
        .map(|l| l.points)
        .sum();
    assert_eq!(fit, result.fit);
}

proptest! {
    #![proptest_config(config())]

    /// Without stage criteria, the incremental path agrees with the batch path exactly,
    /// whatever the arrival order, however time advances in between, late events and
    /// duplicates included.
    #[test]
    fn incremental_agrees_with_batch_for_any_interleaving(
        model in arb_model(false),
        inputs in arb_inputs(),
        order in any::<prop::sample::Index>(),
        advances in prop::collection::vec((0usize..60, 0i64..(62 * 24)), 0..6),
        now_hours in 0i64..(65 * 24),
    ) {
        let engine = Engine::new(model);
        let now = now_hours * HOUR;
        let expected = batch(&engine, &inputs, now);

        let mut arrival = inputs.clone();
        let k = if arrival.is_empty() { 0 } else { order.index(arrival.len()) };
        arrival.rotate_left(k);
        let mut advances: Vec<(usize, Millis)> =
            advances.into_iter().map(|(i, h)| (i, (h * HOUR).min(now))).collect();
        advances.sort();
        let mut state = engine.new_state(base_attributes());
        for a in adjustments() {
            state.add_adjustment(a);
        }
        let mut next = advances.iter().peekable();
        for (i, input) in arrival.iter().enumerate() {
            while let Some((_, t)) = next.next_if(|(at, _)| *at <= i) {
                state.advance_to(&engine, *t);
            }
            apply(&engine, &mut state, input);
        }
        state.advance_to(&engine, now);
        prop_assert_eq!(state.result(&engine), expected);
    }

    /// With stages (forward-only, with a `reset_engagement` stage), a state fed every
    /// event in any order and then advanced agrees with the batch path exactly.
    #[test]
    fn incremental_agrees_with_batch_with_stages(
        model in arb_model(true),
        inputs in arb_inputs(),
        seed in any::<u64>(),
        now_hours in 0i64..(65 * 24),
    ) {
        let engine = Engine::new(model);
        let now = now_hours * HOUR;
        let expected = batch(&engine, &inputs, now);
        let mut arrival = inputs.clone();
        shuffle(&mut arrival, seed);
        let mut state = engine.new_state(base_attributes());
        for a in adjustments() {
            state.add_adjustment(a);
        }
        for input in &arrival {
            apply(&engine, &mut state, input);
        }
        state.advance_to(&engine, now);
        prop_assert_eq!(state.result(&engine), expected);
    }

    /// In-order arrival with time advancing to each event as it comes (how a server
    /// sees a live stream) agrees with the batch path, stages included.
    #[test]
    fn live_stream_agrees_with_batch(
        model in arb_model(true),
        inputs in arb_inputs(),
        now_hours in 0i64..(65 * 24),
    ) {
        let engine = Engine::new(model);
        let now = now_hours * HOUR;
        let expected = batch(&engine, &inputs, now);
        let mut arrival = inputs.clone();
        arrival.sort_by_key(Input::at);
        let mut state = engine.new_state(base_attributes());
        for a in adjustments() {
            state.add_adjustment(a);
        }
        for (i, input) in arrival.iter().enumerate() {
            apply(&engine, &mut state, input);
            // Time reaches each instant once all its events are in. (A server that
            // advances between two events of one instant evaluates the stage on half
            // an instant, and may promote where the batch path does not:
            // docs/semantics.md.)
            let instant_complete = arrival.get(i + 1).is_none_or(|next| next.at() != input.at());
            if input.at() <= now && instant_complete {
                state.advance_to(&engine, input.at());
            }
        }
        state.advance_to(&engine, now);
        prop_assert_eq!(state.result(&engine), expected);
    }

    /// The trigger edges a live stream records are exactly the upward transitions of
    /// `triggers_active` in the batch results at the same checkpoints (each complete
    /// instant, then `now`), with those instants.
    #[test]
    fn live_trigger_edges_are_upward_transitions_of_batch_results(
        model in arb_model(true),
        inputs in arb_inputs(),
        now_hours in 0i64..(65 * 24),
    ) {
        let engine = Engine::new(model);
        let now = now_hours * HOUR;
        let mut arrival = inputs.clone();
        arrival.sort_by_key(Input::at);
        let mut state = engine.new_state(base_attributes()).recording_triggers();
        for a in adjustments() {
            state.add_adjustment(a);
        }
        let mut checkpoints = Vec::new();
        for (i, input) in arrival.iter().enumerate() {
            apply(&engine, &mut state, input);
            let instant_complete = arrival.get(i + 1).is_none_or(|next| next.at() != input.at());
            if input.at() <= now && instant_complete {
                state.advance_to(&engine, input.at());
                checkpoints.push(input.at());
            }
        }
        state.advance_to(&engine, now);
        if checkpoints.last() != Some(&now) {
            checkpoints.push(now);
        }
        let fired: Vec<(String, Millis)> =
            state.take_fired().into_iter().map(|f| (f.trigger, f.at)).collect();
        let mut expected = Vec::new();
        let mut previous: Vec<String> = Vec::new();
        for &t in &checkpoints {
            let current = batch(&engine, &inputs, t).triggers_active;
            for id in leadscore_engine::trigger_edges(&previous, &current) {
                expected.push((id, t));
            }
            previous = current;
        }
        prop_assert_eq!(fired, expected);
    }

    /// The classification memo answers exactly what classifying afresh answers.
    #[test]
    fn cached_classification_equals_classification(
        model in arb_model(false),
        inputs in arb_inputs(),
    ) {
        let engine = Engine::new(model);
        let mut cache = leadscore_engine::ClassCache::new();
        for input in inputs.iter().chain(&inputs) {
            if let Input::Event(e) = input {
                prop_assert_eq!(engine.classify_cached(&mut cache, &e.name, e), engine.classify(&e.name, e));
            }
        }
    }

    /// The explanation's lines sum to `raw`; the score is the clamped raw, rounded half
    /// away from zero; scoring twice gives the same result.
    #[test]
    fn explanation_sums_to_raw_and_results_are_deterministic(
        model in arb_model(true),
        inputs in arb_inputs(),
        now_hours in 0i64..(65 * 24),
    ) {
        let engine = Engine::new(model);
        let now = now_hours * HOUR;
        let result = batch(&engine, &inputs, now);
        assert_explained(&result);
        let mut clamped = result.raw;
        if let Some(max) = engine.model().score.max { clamped = clamped.min(max); }
        if let Some(min) = engine.model().score.min { clamped = clamped.max(min); }
        prop_assert_eq!(result.clamped, clamped);
        prop_assert_eq!(result.score, clamped.round() as i64);
        prop_assert_eq!(batch(&engine, &inputs, now), result);
    }

    /// The order of events in the input does not matter, and an exact copy of any
    /// message (same `messageId`) changes nothing.
    #[test]
    fn input_order_does_not_matter_and_duplicates_count_once(
        model in arb_model(true),
        inputs in arb_inputs(),
        seed in any::<u64>(),
        copies in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        now_hours in 0i64..(65 * 24),
    ) {
        let engine = Engine::new(model);
        let now = now_hours * HOUR;
        let expected = batch(&engine, &inputs, now);
        let mut shuffled = inputs.clone();
        shuffle(&mut shuffled, seed);
        prop_assert_eq!(&batch(&engine, &shuffled, now), &expected);
        let with_ids: Vec<&Input> = inputs.iter().filter(|i| match i {
            Input::Event(e) => e.message_id.is_some(),
            Input::Identify(_, id, _) => id.is_some(),
        }).collect();
        if !with_ids.is_empty() {
            for c in copies {
                shuffled.push(with_ids[c.index(with_ids.len())].clone());
            }
            shuffle(&mut shuffled, seed ^ 0x9e37_79b9);
            prop_assert_eq!(batch(&engine, &shuffled, now), expected);
        }
    }
}

/// A seeded Fisher-Yates shuffle (proptest shrinks the seed like any other input).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The spec's semantics written out as plainly as possible, with no state, no
/// pruning and no cleverness: the oracle both engine paths must match.
mod reference {
    use super::*;
    use leadscore_engine::condition::eval_fields;

    pub struct Numbers {
        pub raw: f64,
        pub clamped: f64,
        pub fit: f64,
        pub engagement: f64,
        pub groups: Vec<f64>,
        pub counts: Vec<(String, u32)>,
    }

    pub fn score(
        model: &CompiledModel,
        inputs: &[Input],
        adjustments: &[Adjustment],
        now: Millis,
    ) -> Numbers {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&Input> = inputs
            .iter()
            .filter(|i| match i {
                Input::Event(e) => e
                    .message_id
                    .as_ref()
                    .is_none_or(|id| seen.insert(id.clone())),
                Input::Identify(_, id, _) => id.as_ref().is_none_or(|id| seen.insert(id.clone())),
            })
            .filter(|i| i.at() <= now)
            .collect();
        let mut attributes = base_attributes();
        let mut identifies: Vec<_> = unique
            .iter()
            .filter_map(|i| match i {
                Input::Identify(t, id, traits) => Some((*t, id.clone(), traits.clone())),
                _ => None,
            })
            .collect();
        identifies.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (_, _, traits) in identifies {
            for (k, v) in traits {
                match v {
                    Some(v) => attributes.set(k, v),
                    None => attributes.remove(&k),
                }
            }
        }
        let fit: f64 = model
            .fit
            .iter()
            .filter(|r| eval_fields(&r.when, &attributes))
            .map(|r| r.points)
            .sum();
        let events: Vec<&Event> = unique
            .iter()
            .filter_map(|i| match i {
                Input::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        let named = |id: u16| {
            let name = &model.event_names[id as usize];
            let mut v: Vec<&Event> = events
                .iter()
                .copied()
                .filter(|e| e.name.to_lowercase() == *name)
                .collect();
            v.sort_by_key(|e| e.timestamp);
            v
        };
        let machine_of = |e: &Event| is_machine(model, &events, e);
        let share = model.machine.as_ref().map_or(0.0, |m| m.share);
        let mut positive = vec![0.0; model.groups.len()];
        let mut negative = vec![0.0; model.groups.len()];
        let mut ungrouped = 0.0;
        let mut counts = Vec::new();
        for rule in &model.engagement {
            for machine_part in [false, true] {
                let weight = if machine_part { share } else { 1.0 };
                if machine_part && !matches!(rule.source, EngagementSource::Event { .. }) {
                    continue;
                }
                let mut occurrences: Vec<Millis> = match &rule.source {
                    EngagementSource::Event { event, when } => named(*event)
                        .into_iter()
                        .filter(|e| when.as_ref().is_none_or(|c| eval_fields(c, *e)))
                        .filter(|e| machine_of(e) == machine_part)
                        .map(|e| e.timestamp)
                        .collect(),
                    EngagementSource::Absence {
                        after,
                        expect,
                        within,
                    } => {
                        // A machine open or click is no reaction.
                        let reactions: Vec<Millis> = expect
                            .iter()
                            .flat_map(|x| named(*x))
                            .filter(|e| !machine_of(e))
                            .map(|e| e.timestamp)
                            .collect();
                        named(*after)
                            .into_iter()
                            .map(|e| (e.timestamp, e.timestamp + within))
                            .filter(|(start, end)| {
                                *end <= now && !reactions.iter().any(|r| r >= start && r <= end)
                            })
                            .map(|(_, end)| end)
                            .collect()
                    }
                };
                occurrences.sort();
                if let Some(w) = rule.within {
                    occurrences.retain(|t| *t >= now - w);
                }
                let mut counted: Vec<Millis> = Vec::new();
                for t in occurrences {
                    let ok = match rule.limit {
                        None => true,
                        Some(Limit { max, per: None }) => (counted.len() as u32) < max,
                        Some(Limit {
                            max,
                            per: Some(per),
                        }) => {
                            (counted.iter().filter(|c| **c > t - per && **c <= t).count() as u32)
                                < max
                        }
                    };
                    if ok {
                        counted.push(t);
                    }
                }
                let points: f64 = counted
                    .iter()
                    .map(|t| match rule.decay {
                        Some(h) => rule.points * weight * 0.5f64.powf((now - t) as f64 / h as f64),
                        None => rule.points * weight,
                    })
                    .sum();
                if !counted.is_empty() {
                    let id = if machine_part {
                        format!("{} (machine)", rule.id)
                    } else {
                        rule.id.clone()
                    };
                    counts.push((id, counted.len() as u32));
                }
                match rule.group {
                    Some(g) if points > 0.0 => positive[g] += points,
                    Some(g) => negative[g] += points,
                    None => ungrouped += points,
                }
            }
        }
        let mut groups = Vec::new();
        let mut engagement = ungrouped;
        for (g, group) in model.groups.iter().enumerate() {
            let value = group.max.map_or(positive[g], |m| positive[g].min(m)) + negative[g];
            engagement += value;
            groups.push(value);
        }
        let mut manual = 0.0;
        for a in adjustments.iter().filter(|a| a.at <= now) {
            manual += a.points;
            if let Some(g) = a.group {
                groups[g] += a.points;
            }
        }
        let raw = fit + engagement + manual;
        let clamped = raw
            .min(model.score.max.unwrap_or(f64::INFINITY))
            .max(model.score.min.unwrap_or(f64::NEG_INFINITY));
        Numbers {
            raw,
            clamped,
            fit,
            engagement,
            groups,
            counts,
        }
    }
}

/// `[machine]` as the docs state it, on the deduplicated events at or before `now`.
fn is_machine(model: &CompiledModel, events: &[&Event], e: &Event) -> bool {
    let Some(m) = &model.machine else {
        return false;
    };
    let name_of = |e: &Event| e.name.to_lowercase();
    let id_of = |n: u16| model.event_names[n as usize].clone();
    let is_open = |e: &Event| m.opens.iter().any(|&n| id_of(n) == name_of(e));
    let is_click = |e: &Event| m.clicks.iter().any(|&n| id_of(n) == name_of(e));
    if !is_open(e) && !is_click(e) {
        return false;
    }
    let get = |e: &Event, key: &str| {
        e.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    if get(e, "properties.machine_open") == Some(Value::Bool(true)) {
        return true;
    }
    if let Some(Value::Str(agent)) = get(e, "context.userAgent")
        && m.user_agents
            .iter()
            .any(|a| agent.to_lowercase().contains(a.as_str()))
    {
        return true;
    }
    let link = |e: &Event| match get(e, "properties.message_id") {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    };
    let Some(mailing) = link(e) else { return false };
    let same: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|x| link(x).as_ref() == Some(&mailing))
        .collect();
    let delivered = |within: Option<Millis>| {
        within.is_some_and(|w| {
            same.iter().any(|d| {
                name_of(d) == id_of(m.delivered)
                    && d.timestamp <= e.timestamp
                    && e.timestamp <= d.timestamp + w
            })
        })
    };
    if is_open(e) {
        return delivered(m.open_within);
    }
    if delivered(m.click_within) {
        return true;
    }
    let clicks: Vec<Millis> = same
        .iter()
        .filter(|x| is_click(x))
        .map(|x| x.timestamp)
        .collect();
    if let Some(b) = m.burst {
        let t = e.timestamp;
        if clicks.iter().any(|&a| {
            a <= t
                && t <= a + b.within
                && clicks
                    .iter()
                    .filter(|&&c| a <= c && c <= a + b.within)
                    .count()
                    >= b.clicks as usize
        }) {
            return true;
        }
    }
    m.click_needs_open
        && !same
            .iter()
            .any(|o| is_open(o) && o.timestamp <= e.timestamp && !is_machine(model, events, o))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    #![proptest_config(config())]

    /// The engine computes what the spec says: its numbers match a plain, stateless
    /// rendering of the semantics on random models and streams.
    #[test]
    fn engine_matches_the_reference_semantics(
        model in arb_model(false),
        inputs in arb_inputs(),
        now_hours in 0i64..(65 * 24),
    ) {
        let engine = Engine::new(model.clone());
        let now = now_hours * HOUR;
        let result = batch(&engine, &inputs, now);
        let expected = reference::score(&model, &inputs, &adjustments(), now);
        prop_assert!(close(result.raw, expected.raw), "raw {} vs {}", result.raw, expected.raw);
        prop_assert!(close(result.clamped, expected.clamped));
        prop_assert_eq!(result.fit, expected.fit);
        prop_assert!(close(result.engagement, expected.engagement));
        for ((_, got), want) in result.groups.iter().zip(&expected.groups) {
            prop_assert!(close(*got, *want), "group {} vs {}", got, want);
        }
        let counts: Vec<(String, u32)> = result
            .explain
            .iter()
            .filter(|l| l.count > 0 && matches!(l.kind, leadscore_engine::LineKind::Engagement | leadscore_engine::LineKind::Absence | leadscore_engine::LineKind::Machine))
            .map(|l| match l.kind {
                leadscore_engine::LineKind::Machine => (format!("{} (machine)", l.rule), l.count),
                _ => (l.rule.clone(), l.count),
            })
            .collect();
        prop_assert_eq!(counts, expected.counts);
    }
}
