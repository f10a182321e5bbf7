//! The compact per-contact state, updated one event at a time.
//!
//! A [`ContactState`] holds what scoring needs and no more: per engagement rule either a
//! counter (rules whose occurrences all weigh the same forever) or the sorted timestamps
//! of its occurrences (rules with `within`, `decay` or a sliding `limit`, whose value
//! depends on *when*), per absence rule the times of the `after` and `expect` events,
//! per counted event name a counter or recent timestamps, the attributes, the manual
//! adjustments and the lifecycle stage.
//!
//! Time moves through a *watermark*: [`ContactState::advance_to`] settles every pending
//! event up to the new instant in timestamp order, and re-evaluates the stage and the
//! triggers at each distinct event time and at the new instant (a *checkpoint*; stages
//! only move forward and triggers fire on edges, so the path matters). A trigger whose
//! condition holds at a checkpoint and did not at the previous one is recorded as
//! [`Fired`], for the caller to drain with [`ContactState::take_fired`]. Events at or before the watermark arrive "late" and are settled at once;
//! events after it wait as pending. A result is always as of the watermark.
//!
//! The batch path is this same state, fed everything and advanced once; the result is
//! computed by one function from the settled data, summing occurrences in time order, so
//! the two paths agree to the bit (the property tests in `tests/` check it).

use std::collections::{HashMap, HashSet};

use leadscore_model::{EngagementSource, Millis, StageId};

use crate::Engine;
use crate::classify::{CountMode, EventClass, MailKind, Reason};
use crate::condition::{self, ScoreView};
use crate::input::{Adjustment, Attributes, Fields, Value};
use crate::result::{ExplainLine, LineKind, Prediction, RouteResult, ScoreResult};
use crate::trigger::Fired;

/// How much time must pass between two prunings of old data.
const PRUNE_EVERY: Millis = 3_600_000;

/// Settled data of one engagement rule.
#[derive(Debug, Clone, PartialEq)]
enum RuleData {
    /// Occurrences that weigh the same whenever they happened.
    Count(u64),
    /// Sorted occurrence times.
    Times(Vec<Millis>),
    /// Sorted `after` and `expect` event times of an absence rule.
    Absence {
        after: Vec<Millis>,
        expect: Vec<Millis>,
    },
}

/// Machine occurrences of an engagement rule fed by opens or clicks (`[machine]`),
/// with why each is a machine's: a counter per reason, or sorted `(time, reason)`.
#[derive(Debug, Clone, PartialEq)]
enum MachineData {
    /// The rule counts no opens or clicks.
    None,
    /// Per [`Reason`] (by its number).
    Count([u64; 7]),
    /// Sorted by time, then reason.
    Times(Vec<(Millis, Reason)>),
}

/// One mailing's settled deliveries, opens and clicks (linked by their message id
/// property), for detection that depends on the other events of the mailing.
#[derive(Debug, Clone, Default)]
struct Thread {
    /// Delivery times, sorted.
    delivered: Vec<Millis>,
    /// Opens and clicks in arrival order.
    mail: Vec<MailEntry>,
    /// The latest time of any of them (for pruning).
    last: Millis,
}

/// An open or click of a [`Thread`], with where it is counted now.
#[derive(Debug, Clone)]
struct MailEntry {
    at: Millis,
    kind: MailKind,
    name: u16,
    flag: Reason,
    /// `None` until placed; then human or a machine reason.
    reason: Option<Reason>,
    rules: smallvec::SmallVec<[u16; 4]>,
}

/// Settled data of one event name for `event = NAME` conditions.
#[derive(Debug, Clone, PartialEq)]
enum NameData {
    Unused,
    Count(u64),
    Times(Vec<Millis>),
}

/// An event or identify call that is later than the watermark.
#[derive(Debug, Clone)]
enum Pending {
    Event(Millis, EventClass),
    Traits(Millis, Option<Box<str>>, Vec<(String, Option<Value>)>),
}

impl Pending {
    fn at(&self) -> Millis {
        match self {
            Pending::Event(t, _) | Pending::Traits(t, ..) => *t,
        }
    }
}

/// Which identify call set an attribute last: later time wins, ties by `messageId`.
type Stamp = (Millis, Option<Box<str>>);

/// One contact's compact scoring state. Create with [`Engine::new_state`].
#[derive(Debug, Clone)]
pub struct ContactState {
    watermark: Millis,
    attributes: Attributes,
    stamps: HashMap<String, Stamp>,
    fit_points: f64,
    fit_hits: Vec<u16>,
    disqualified_by: Vec<u16>,
    /// When old data was last dropped.
    pruned_at: Millis,
    /// Per stage: whether the attribute-only part of its criteria holds.
    stage_gates_open: Vec<bool>,
    rules: Vec<RuleData>,
    /// Per engagement rule: its machine occurrences (`[machine]`).
    machine: Vec<MachineData>,
    /// Mailings by the hash of their message id property (`[machine]`).
    threads: HashMap<u64, Thread>,
    names: Vec<NameData>,
    pending: Vec<Pending>,
    pending_sorted: bool,
    seen: HashSet<u64>,
    adjustments: Vec<Adjustment>,
    stage: Option<StageId>,
    /// Engagement at or before this instant was zeroed by entering a
    /// `reset_engagement` stage.
    engagement_since: Option<Millis>,
    /// Whether checkpoints evaluate triggers and record edges. Off unless the caller
    /// asks ([`ContactState::recording_triggers`]): the batch path reads only the final
    /// result, and evaluating every trigger at every checkpoint costs a good share of
    /// the incremental path's speed (docs/semantics.md).
    pub(crate) track_triggers: bool,
    /// Per trigger: whether its condition held at the last checkpoint.
    triggers_active: Vec<bool>,
    /// Edges recorded since the last [`ContactState::take_fired`].
    fired: Vec<Fired>,
    /// When each stage was entered (index = stage), when the caller asks
    /// ([`ContactState::timing_stages`]; reports of time between stages); `None` else.
    stage_times: Option<Vec<Millis>>,
    /// A number the score cannot exceed until data changes: the exact score at the last
    /// checkpoint that computed it, plus its [`Self::headroom`], plus the positive points
    /// of every event settled since. Lets a `score >= 80` far out of reach be decided
    /// without computing the score. `None` after anything else changes.
    score_cap: Option<Cap>,
}

/// See [`ContactState::headroom`]: the score is at most `tight` up to `until`, and at
/// most `loose` at any time, until data other than in-order events changes.
#[derive(Debug, Clone, Copy)]
struct Cap {
    tight: f64,
    until: Millis,
    loose: f64,
}

/// Per trigger, whether it holds: inline for the usual handful of triggers.
type Holding = smallvec::SmallVec<[bool; 8]>;

/// The numbers of a result, without the explanation.
#[derive(Debug, Clone, Default)]
struct Totals {
    fit: f64,
    engagement: f64,
    manual: f64,
    raw: f64,
    clamped: f64,
    groups: Vec<f64>,
}

/// One engagement rule's contribution before group caps: people's occurrences, and
/// (under `[machine]`) machines' in `machine`.
#[derive(Debug, Clone, Copy, Default)]
struct RuleValue {
    counted: u32,
    not_counted: u32,
    points: f64,
    machine: Part,
}

/// Counted and refused occurrences and their points.
#[derive(Debug, Clone, Copy, Default)]
struct Part {
    counted: u32,
    not_counted: u32,
    points: f64,
}

impl ContactState {
    pub(crate) fn new(engine: &Engine, attributes: Attributes) -> Self {
        let model = engine.model();
        let rules = model
            .engagement
            .iter()
            .zip(&engine.counter_rules)
            .map(|(rule, &counter)| match rule.source {
                EngagementSource::Absence { .. } => RuleData::Absence {
                    after: Vec::new(),
                    expect: Vec::new(),
                },
                EngagementSource::Event { .. } if counter => RuleData::Count(0),
                EngagementSource::Event { .. } => RuleData::Times(Vec::new()),
            })
            .collect();
        let machine = engine
            .machine_rules
            .iter()
            .zip(&engine.counter_rules)
            .map(|(&mail, &counter)| match (mail, counter) {
                (false, _) => MachineData::None,
                (true, true) => MachineData::Count([0; 7]),
                (true, false) => MachineData::Times(Vec::new()),
            })
            .collect();
        let names = engine
            .names
            .iter()
            .map(|n| match n.count {
                CountMode::Unused => NameData::Unused,
                CountMode::Counter => NameData::Count(0),
                CountMode::Times(_) => NameData::Times(Vec::new()),
            })
            .collect();
        let mut state = ContactState {
            watermark: Millis::MIN,
            attributes,
            stamps: HashMap::new(),
            fit_points: 0.0,
            fit_hits: Vec::new(),
            disqualified_by: Vec::new(),
            stage_gates_open: Vec::new(),
            pruned_at: Millis::MIN,
            rules,
            machine,
            threads: HashMap::new(),
            names,
            pending: Vec::new(),
            pending_sorted: true,
            seen: HashSet::new(),
            adjustments: Vec::new(),
            stage: (!model.stages.is_empty()).then_some(0),
            engagement_since: None,
            track_triggers: false,
            triggers_active: vec![false; model.triggers.len()],
            fired: Vec::new(),
            stage_times: None,
            score_cap: None,
        };
        state.refresh_fit(engine);
        state
    }

    /// The instant results are computed at: the last `advance_to` (or `Millis::MIN`).
    pub fn watermark(&self) -> Millis {
        self.watermark
    }

    /// The attributes as of the watermark.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// The times of engagement rule `rule`'s machine opens or clicks (`[machine]`), in
    /// time order; empty when the rule has none or keeps only their counts (a rule
    /// without `within`, `decay` or a sliding `limit`).
    pub fn machine_times(&self, rule: usize) -> Vec<Millis> {
        match self.machine.get(rule) {
            Some(MachineData::Times(times)) => times.iter().map(|(t, _)| *t).collect(),
            _ => Vec::new(),
        }
    }

    /// The attributes as of the watermark, taking the state apart.
    pub(crate) fn into_attributes(self) -> Attributes {
        self.attributes
    }

    /// The lifecycle stage as of the watermark.
    pub fn stage(&self) -> Option<StageId> {
        self.stage
    }

    /// Record trigger edges from now on (the service does; see [`Self::take_fired`]).
    pub fn recording_triggers(mut self) -> Self {
        self.track_triggers = true;
        self
    }

    /// Record when each stage is entered from now on ([`Self::stage_times`]).
    pub fn timing_stages(mut self) -> Self {
        self.stage_times = Some(Vec::new());
        self
    }

    /// When each stage reached so far was entered, in stage order (index = stage), when
    /// [`Self::timing_stages`] asked for it (else empty). The first stage is entered at
    /// the first checkpoint (the earliest event or identify call the model reads, else
    /// the first instant scored); a stage skipped by a jump is entered with the stage
    /// jumped to, at the same instant.
    pub fn stage_times(&self) -> &[Millis] {
        self.stage_times.as_deref().unwrap_or_default()
    }

    /// The triggers that fired since the last call, in order: each with the checkpoint
    /// at which its condition became true (a late event's checkpoint is the watermark).
    /// Edges accumulate until drained.
    pub fn take_fired(&mut self) -> Vec<Fired> {
        std::mem::take(&mut self.fired)
    }

    /// Returns false (and changes nothing) when `message_id` was seen before.
    fn first_time(&mut self, message_id: Option<&str>) -> bool {
        match message_id {
            Some(id) => self.seen.insert(message_id_hash(id)),
            None => true,
        }
    }

    /// Apply one classified event. Duplicates (same `message_id`) count once.
    pub fn apply(
        &mut self,
        engine: &Engine,
        at: Millis,
        message_id: Option<&str>,
        class: &EventClass,
    ) {
        if !self.first_time(message_id) {
            return;
        }
        if at > self.watermark {
            self.push_pending(Pending::Event(at, class.clone()));
        } else {
            // A late occurrence may shift which ones a limit counts, and when that
            // shifts back: the cap assumes occurrences arrive in time order.
            self.score_cap = None;
            // Late: settle now and re-check the stage at the watermark, as if this
            // event had been there when time last reached it.
            self.settle_event(engine, at, class);
            self.checkpoint(engine, self.watermark);
        }
    }

    /// Apply an event whose duplicates were already removed by the caller (the batch
    /// CLI deduplicates while reading, so the state need not remember message ids).
    pub fn apply_unique(&mut self, engine: &Engine, at: Millis, class: &EventClass) {
        self.apply(engine, at, None, class)
    }

    /// Apply an `identify` call: `Some(value)` sets a trait, `None` removes it.
    pub fn apply_traits(
        &mut self,
        engine: &Engine,
        at: Millis,
        message_id: Option<&str>,
        traits: Vec<(String, Option<Value>)>,
    ) {
        if !self.first_time(message_id) {
            return;
        }
        let id = message_id.map(Box::from);
        if at > self.watermark {
            self.push_pending(Pending::Traits(at, id, traits));
        } else {
            self.settle_traits(engine, at, id, traits);
            self.checkpoint(engine, self.watermark);
        }
    }

    /// Add a manual adjustment; it counts from its `at` on.
    pub fn add_adjustment(&mut self, adjustment: Adjustment) {
        self.score_cap = None;
        self.adjustments.push(adjustment);
    }

    fn push_pending(&mut self, item: Pending) {
        if self
            .pending
            .last()
            .is_some_and(|last| last.at() > item.at())
        {
            self.pending_sorted = false;
        }
        self.pending.push(item);
    }

    /// Move time forward to `now`: settle pending events in time order, re-evaluating
    /// the stage at every distinct event time and at `now`. Never moves backwards.
    pub fn advance_to(&mut self, engine: &Engine, now: Millis) {
        self.settle_to(engine, now);
        // Pruning only saves memory and never changes a result, so once an hour of
        // event time is often enough (a live stream advances at every event).
        if self.watermark.saturating_sub(self.pruned_at) >= PRUNE_EVERY {
            self.prune(engine);
            self.pruned_at = self.watermark;
        }
    }

    /// [`Self::advance_to`] without dropping old data: the batch path, which scores once
    /// and throws the state away, does not need to save memory, and by not pruning it
    /// checks the incremental path's pruning in the agreement tests.
    pub(crate) fn settle_to(&mut self, engine: &Engine, now: Millis) {
        if now < self.watermark {
            return;
        }
        if !self.pending_sorted {
            // Stable: ties keep arrival order; nothing depends on it (see `Stamp`).
            self.pending.sort_by_key(Pending::at);
            self.pending_sorted = true;
        }
        let due = self.pending.partition_point(|p| p.at() <= now);
        let mut pending = std::mem::take(&mut self.pending);
        let mut settled = pending.drain(..due).peekable();
        while let Some(item) = settled.next() {
            let at = item.at();
            match item {
                Pending::Event(t, class) => self.settle_event(engine, t, &class),
                Pending::Traits(t, id, traits) => self.settle_traits(engine, t, id, traits),
            }
            // A checkpoint once every event of this instant is in.
            if settled.peek().is_none_or(|next| next.at() != at) {
                self.watermark = at;
                self.checkpoint(engine, at);
            }
        }
        drop(settled);
        self.pending = pending;
        // The instant `now` itself is a checkpoint, unless the last event was at `now`
        // and its checkpoint just ran (the stage cannot change in no time).
        let checked = self.watermark == now && due > 0;
        self.watermark = now;
        if !checked {
            self.checkpoint(engine, now);
        }
    }

    fn settle_event(&mut self, engine: &Engine, at: Millis, class: &EventClass) {
        let name = class.name as usize;
        match &mut self.names[name] {
            NameData::Unused => {}
            NameData::Count(n) => *n += 1,
            NameData::Times(times) => insert_sorted(times, at),
        }
        let mail = class.mail.filter(|m| m.kind != MailKind::Delivered);
        let zeroed = self.engagement_since.is_some_and(|since| at <= since);
        if !zeroed && mail.is_none() {
            for &rule in &class.rules {
                match &mut self.rules[rule as usize] {
                    RuleData::Count(n) => *n += 1,
                    RuleData::Times(times) => insert_sorted(times, at),
                    RuleData::Absence { .. } => {}
                }
            }
        }
        let info = &engine.names[name];
        if let Some(cap) = &mut self.score_cap {
            // Each new occurrence (or absence window opened) adds at most its points.
            let engagement = &engine.model().engagement;
            for &rule in class.rules.iter().chain(&info.after_of) {
                let points = engagement[rule as usize].points.max(0.0);
                cap.tight += points;
                cap.loose += points;
            }
        }
        for &rule in &info.after_of {
            if let RuleData::Absence { after, .. } = &mut self.rules[rule as usize] {
                insert_sorted(after, at);
            }
        }
        if mail.is_none() {
            for &rule in &info.expect_of {
                if let RuleData::Absence { expect, .. } = &mut self.rules[rule as usize] {
                    insert_sorted(expect, at);
                }
            }
        }
        if let Some(m) = class.mail {
            self.settle_mail(engine, at, class, m);
        }
    }

    /// `[machine]`: place an open or click in the human or the machine stream of its
    /// rules; with detection that reads the rest of the mailing, file it (or a delivery)
    /// under its mailing and re-decide every open and click of that mailing.
    fn settle_mail(
        &mut self,
        engine: &Engine,
        at: Millis,
        class: &EventClass,
        mail: crate::MailClass,
    ) {
        if !engine.threads || mail.link == 0 {
            if mail.kind != MailKind::Delivered {
                self.place(engine, at, class.name, &class.rules, None, mail.flag);
            }
            return;
        }
        let mut thread = self.threads.remove(&mail.link).unwrap_or_default();
        thread.last = if thread.delivered.is_empty() && thread.mail.is_empty() {
            at
        } else {
            thread.last.max(at)
        };
        match mail.kind {
            MailKind::Delivered => insert_sorted(&mut thread.delivered, at),
            kind => thread.mail.push(MailEntry {
                at,
                kind,
                name: class.name,
                flag: mail.flag,
                reason: None,
                rules: class.rules.clone(),
            }),
        }
        let reasons = thread_reasons(engine, &thread);
        for (entry, reason) in thread.mail.iter_mut().zip(reasons) {
            if entry.reason != Some(reason) {
                if entry.reason.is_some() {
                    // An earlier event changed sides: the score may rise.
                    self.score_cap = None;
                }
                self.place(
                    engine,
                    entry.at,
                    entry.name,
                    &entry.rules,
                    entry.reason,
                    reason,
                );
                entry.reason = Some(reason);
            }
        }
        self.threads.insert(mail.link, thread);
    }

    /// Move an open or click at `at` from where it counted (`from`; `None`: nowhere)
    /// to `to`: the rules' human or machine stream, and the absence rules' reactions
    /// (a machine open is no reaction).
    fn place(
        &mut self,
        engine: &Engine,
        at: Millis,
        name: u16,
        rules: &[u16],
        from: Option<Reason>,
        to: Reason,
    ) {
        let zeroed = self.engagement_since.is_some_and(|since| at <= since);
        if !zeroed {
            for &rule in rules {
                let r = rule as usize;
                match from {
                    Some(Reason::Human) => match &mut self.rules[r] {
                        RuleData::Count(n) => *n = n.saturating_sub(1),
                        RuleData::Times(times) => remove_one(times, &at),
                        RuleData::Absence { .. } => {}
                    },
                    Some(reason) => match &mut self.machine[r] {
                        MachineData::Count(n) => {
                            n[reason as usize] = n[reason as usize].saturating_sub(1)
                        }
                        MachineData::Times(times) => remove_one(times, &(at, reason)),
                        MachineData::None => {}
                    },
                    None => {}
                }
                match to {
                    Reason::Human => match &mut self.rules[r] {
                        RuleData::Count(n) => *n += 1,
                        RuleData::Times(times) => insert_sorted(times, at),
                        RuleData::Absence { .. } => {}
                    },
                    reason => match &mut self.machine[r] {
                        MachineData::Count(n) => n[reason as usize] += 1,
                        MachineData::Times(times) => insert_sorted(times, (at, reason)),
                        MachineData::None => {}
                    },
                }
            }
        }
        let was_reaction = from == Some(Reason::Human);
        let is_reaction = to == Reason::Human;
        if was_reaction != is_reaction {
            for &rule in &engine.names[name as usize].expect_of {
                if let RuleData::Absence { expect, .. } = &mut self.rules[rule as usize] {
                    if is_reaction {
                        insert_sorted(expect, at);
                    } else {
                        remove_one(expect, &at);
                    }
                }
            }
        }
    }

    fn settle_traits(
        &mut self,
        engine: &Engine,
        at: Millis,
        id: Option<Box<str>>,
        traits: Vec<(String, Option<Value>)>,
    ) {
        let stamp: Stamp = (at, id);
        let mut changed = false;
        for (key, value) in traits {
            if self.stamps.get(&key).is_some_and(|old| *old > stamp) {
                continue;
            }
            match value {
                Some(v) => self.attributes.set(key.clone(), v),
                None => self.attributes.remove(&key),
            }
            self.stamps.insert(key, stamp.clone());
            changed = true;
        }
        if changed {
            self.refresh_fit(engine);
        }
    }

    fn refresh_fit(&mut self, engine: &Engine) {
        self.score_cap = None;
        let model = engine.model();
        self.fit_hits.clear();
        self.fit_points = 0.0;
        for (i, rule) in model.fit.iter().enumerate() {
            if condition::eval_fields(&rule.when, &self.attributes) {
                self.fit_hits.push(i as u16);
                self.fit_points += rule.points;
            }
        }
        self.stage_gates_open = engine
            .stage_gates
            .iter()
            .map(|gate| {
                gate.attributes
                    .iter()
                    .all(|c| condition::eval_fields(c, &self.attributes))
            })
            .collect();
        self.disqualified_by = model
            .disqualify
            .iter()
            .enumerate()
            .filter(|(_, r)| condition::eval_fields(&r.when, &self.attributes))
            .map(|(i, _)| i as u16)
            .collect();
    }

    /// Drop what can no longer matter: occurrences older than every window that could
    /// still count them, as of the watermark (which never moves back).
    fn prune(&mut self, engine: &Engine) {
        let now = self.watermark;
        for (rule, data) in engine.model().engagement.iter().zip(&mut self.rules) {
            let Some(within) = rule.within else { continue };
            match (data, &rule.source) {
                (RuleData::Times(times), _) => drop_before(times, now.saturating_sub(within)),
                (
                    RuleData::Absence { after, expect },
                    EngagementSource::Absence { within: w, .. },
                ) => {
                    let horizon = now.saturating_sub(within).saturating_sub(*w);
                    drop_before(after, horizon);
                    drop_before(expect, horizon);
                }
                _ => {}
            }
        }
        for (rule, data) in engine.model().engagement.iter().zip(&mut self.machine) {
            if let (Some(within), MachineData::Times(times)) = (rule.within, data) {
                let horizon = now.saturating_sub(within);
                let n = times.partition_point(|&(t, _)| t < horizon);
                times.drain(..n);
            }
        }
        if let Some(horizon) = engine.thread_horizon {
            let oldest = now.saturating_sub(horizon);
            self.threads.retain(|_, thread| thread.last >= oldest);
        }
        for (info, data) in engine.names.iter().zip(&mut self.names) {
            if let (CountMode::Times(window), NameData::Times(times)) = (info.count, data) {
                drop_before(times, now.saturating_sub(window));
            }
        }
    }

    /// A checkpoint at `at` (the watermark): re-evaluate the stage, then the triggers
    /// (after the stage, so a trigger on `stage` sees the stage entered here), recording
    /// the triggers that became active. One lazy view serves both unless the stage moved.
    fn checkpoint(&mut self, engine: &Engine, at: Millis) {
        if let Some(times) = &mut self.stage_times
            && times.is_empty()
            && self.stage.is_some()
        {
            times.push(at);
        }
        let triggers = self.track_triggers && !engine.model().triggers.is_empty();
        let mut holding = Holding::new();
        let entered = {
            let view = View::new(self, engine, at);
            let entered = self.stage_to_enter(engine, &view);
            if entered.is_none() && triggers {
                holding = self.triggers_holding(engine, &view);
            }
            (entered, view.fresh_cap())
        };
        let (entered, cap) = entered;
        if cap.is_some() {
            self.score_cap = cap;
        }
        if let Some(next) = entered {
            self.enter_stage(engine, next, at);
            if triggers {
                let cap = {
                    let view = View::new(self, engine, at);
                    holding = self.triggers_holding(engine, &view);
                    view.fresh_cap()
                };
                if cap.is_some() {
                    self.score_cap = cap;
                }
            }
        }
        if triggers {
            for (i, (&now, before)) in holding.iter().zip(&mut self.triggers_active).enumerate() {
                if now && !*before {
                    self.fired.push(Fired {
                        trigger: engine.model().triggers[i].id.clone(),
                        at,
                    });
                }
                *before = now;
            }
        }
    }

    /// Per trigger, whether it holds in `view`. A disqualified contact holds only
    /// triggers whose condition names `disqualified = true`.
    fn triggers_holding(&self, engine: &Engine, view: &View<'_>) -> Holding {
        let disqualified = !self.disqualified_by.is_empty();
        engine
            .model()
            .triggers
            .iter()
            .zip(&engine.trigger_disqualified)
            .map(|(t, &names)| (!disqualified || names) && condition::eval(&t.when, view))
            .collect()
    }

    /// The highest later stage whose criteria hold in `view`, if any. A disqualified
    /// contact never passes the first stage.
    fn stage_to_enter(&self, engine: &Engine, view: &View<'_>) -> Option<StageId> {
        let current = self.stage?;
        let stages = &engine.model().stages;
        if current + 1 >= stages.len() || !self.disqualified_by.is_empty() {
            return None;
        }
        (current + 1..stages.len()).rev().find(|&i| {
            // The parts of the criteria that read only attributes were decided
            // when the attributes last changed; most contacts stop there.
            let gate = &engine.stage_gates[i];
            self.stage_gates_open[i] && gate.rest.iter().all(|c| condition::eval(c, view))
        })
    }

    /// Enter stage `next` at `at`, zeroing engagement if the stage says so.
    fn enter_stage(&mut self, engine: &Engine, next: StageId, at: Millis) {
        self.score_cap = None;
        self.stage = Some(next);
        if let Some(times) = &mut self.stage_times {
            while times.len() <= next {
                times.push(at);
            }
        }
        if engine.model().stages[next].reset_engagement {
            self.engagement_since = Some(at);
            for data in &mut self.rules {
                match data {
                    RuleData::Count(n) => *n = 0,
                    RuleData::Times(times) => times.clear(),
                    // Absence occurrences are timestamped at their window's end;
                    // `engagement_since` filters them when evaluated.
                    RuleData::Absence { .. } => {}
                }
            }
            for data in &mut self.machine {
                match data {
                    MachineData::Count(n) => *n = [0; 7],
                    MachineData::Times(times) => times.clear(),
                    MachineData::None => {}
                }
            }
        }
    }

    /// A rule's machine occurrences as of `now`, at `share` of the rule's points.
    fn machine_part(&self, engine: &Engine, rule: usize, now: Millis) -> Part {
        let def = &engine.model().engagement[rule];
        let share = engine.model().machine.as_ref().map_or(0.0, |m| m.share);
        match &self.machine[rule] {
            MachineData::None => Part::default(),
            MachineData::Count(counts) => {
                let n: u64 = counts.iter().sum();
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                let counted = def.limit.map_or(n, |l| n.min(l.max));
                Part {
                    counted,
                    not_counted: n - counted,
                    points: def.points * share * f64::from(counted),
                }
            }
            MachineData::Times(times) => {
                let v = occurrences_value(
                    def,
                    def.points * share,
                    times.iter().map(|&(t, _)| t),
                    now,
                    self.engagement_since,
                );
                Part {
                    counted: v.counted,
                    not_counted: v.not_counted,
                    points: v.points,
                }
            }
        }
    }

    /// Why a rule's machine occurrences that qualify as of `now` are a machine's:
    /// `28 within seconds of delivery, 2 flagged by the provider`.
    fn machine_reasons(&self, engine: &Engine, rule: usize, now: Millis) -> String {
        let def = &engine.model().engagement[rule];
        let mut counts = [0u64; 7];
        match &self.machine[rule] {
            MachineData::None => {}
            MachineData::Count(n) => counts = *n,
            MachineData::Times(times) => {
                let oldest = def.within.map(|w| now.saturating_sub(w));
                for &(t, reason) in times {
                    if t > now
                        || self.engagement_since.is_some_and(|s| t <= s)
                        || oldest.is_some_and(|o| t < o)
                    {
                        continue;
                    }
                    counts[reason as usize] += 1;
                }
            }
        }
        Reason::MACHINE
            .iter()
            .filter(|r| counts[**r as usize] > 0)
            .map(|r| format!("{} {}", counts[*r as usize], r.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One engagement rule's value as of `now`.
    fn rule_value(&self, engine: &Engine, rule: usize, now: Millis) -> RuleValue {
        let mut value = self.human_value(engine, rule, now);
        if engine.machine_rules[rule] {
            value.machine = self.machine_part(engine, rule, now);
        }
        value
    }

    /// The people's part of a rule's value as of `now`.
    fn human_value(&self, engine: &Engine, rule: usize, now: Millis) -> RuleValue {
        let def = &engine.model().engagement[rule];
        let since = self.engagement_since;
        match &self.rules[rule] {
            RuleData::Count(n) => {
                let n = u32::try_from(*n).unwrap_or(u32::MAX);
                let counted = def.limit.map_or(n, |l| n.min(l.max));
                RuleValue {
                    counted,
                    not_counted: n - counted,
                    points: def.points * f64::from(counted),
                    machine: Part::default(),
                }
            }
            RuleData::Times(times) => {
                occurrences_value(def, def.points, times.iter().copied(), now, since)
            }
            RuleData::Absence { after, expect } => {
                let EngagementSource::Absence { within, .. } = def.source else {
                    return RuleValue::default();
                };
                let missed = after
                    .iter()
                    .map(move |&a| a.saturating_add(within))
                    .zip(after)
                    .filter(move |&(end, &start)| {
                        let first = expect.partition_point(|&x| x < start);
                        expect.get(first).is_none_or(|&x| x > end)
                    });
                occurrences_value(def, def.points, missed.map(|(end, _)| end), now, since)
            }
        }
    }

    /// Every number of the result as of `now`, and the per-rule values for explaining.
    fn totals(&self, engine: &Engine, now: Millis) -> (Totals, Vec<RuleValue>, Vec<f64>) {
        let model = engine.model();
        let values: Vec<RuleValue> = (0..model.engagement.len())
            .map(|r| self.rule_value(engine, r, now))
            .collect();
        let ungrouped: f64 = model
            .engagement
            .iter()
            .zip(&values)
            .filter(|(def, _)| def.group.is_none())
            .flat_map(|(_, v)| [v.points, v.machine.points])
            .sum();
        let mut factors = vec![1.0; model.groups.len()];
        let mut groups = vec![0.0; model.groups.len()];
        let mut engagement = ungrouped;
        for g in 0..model.groups.len() {
            let (value, factor) = group_engagement(engine, g, |r| values[r]);
            factors[g] = factor;
            groups[g] = value;
            engagement += value;
        }
        let mut manual = 0.0;
        for adj in self.adjustments.iter().filter(|a| a.at <= now) {
            manual += adj.points;
        }
        for (g, points) in groups.iter_mut().enumerate() {
            *points = self.with_group_adjustments(g, *points, now);
        }
        let raw = self.fit_points + engagement + manual;
        let mut clamped = raw;
        if let Some(max) = model.score.max {
            clamped = clamped.min(max);
        }
        if let Some(min) = model.score.min {
            clamped = clamped.max(min);
        }
        let totals = Totals {
            fit: self.fit_points,
            engagement,
            manual,
            raw,
            clamped,
            groups,
        };
        (totals, values, factors)
    }

    /// How much the score may rise above its value as of `now` without new data, as
    /// `(tight, until, loose)`: `tight` holds up to the instant `until`, while no
    /// occurrence that matters leaves its `within` window; `loose` holds forever.
    ///
    /// Negative points may decay or expire; occurrences refused by a limit may come to
    /// count once an earlier one expires (each worth at most its points); absence
    /// windows may close; adjustments dated later may start to count. Decay and expiry
    /// of positive points only lower the score.
    fn headroom(&self, engine: &Engine, values: &[RuleValue], now: Millis) -> (f64, Millis, f64) {
        let model = engine.model();
        let mut until = Millis::MAX;
        // Per rule: (rise that needs an expiry, rise that does not).
        let human_rise = |r: usize, until: &mut Millis| -> (f64, f64) {
            let (def, value) = (&model.engagement[r], values[r]);
            match (&self.rules[r], def.points < 0.0) {
                (RuleData::Count(_), _) => (0.0, 0.0),
                (RuleData::Absence { .. }, true) => (0.0, -value.points),
                (RuleData::Absence { after, .. }, false) => (
                    0.0,
                    def.points * (after.len() as f64 + f64::from(value.not_counted)),
                ),
                (RuleData::Times(times), true) => {
                    if def.decay.is_some() {
                        (0.0, -value.points)
                    } else {
                        if let Some(within) = def.within {
                            *until = (*until).min(first_expiry(times, within, now));
                        }
                        (-value.points, 0.0)
                    }
                }
                (RuleData::Times(times), false) => {
                    if value.not_counted == 0 {
                        return (0.0, 0.0);
                    }
                    if let Some(within) = def.within {
                        *until = (*until).min(first_expiry(times, within, now));
                    }
                    let most = match def.limit {
                        Some(limit) if limit.per.is_none() => f64::from(limit.max),
                        _ => f64::INFINITY,
                    };
                    let most = most.min(f64::from(value.counted) + f64::from(value.not_counted));
                    let rise = (def.points * f64::from(value.not_counted))
                        .min((def.points * most - value.points).max(0.0));
                    (rise, 0.0)
                }
            }
        };
        let share = model.machine.as_ref().map_or(0.0, |m| m.share);
        // The same for a rule's machine stream, at `share` of its points.
        let rise = |r: usize, until: &mut Millis| -> (f64, f64) {
            let (e, s) = human_rise(r, until);
            let def = &model.engagement[r];
            let m = values[r].machine;
            let points = def.points * share;
            let (me, ms) = match &self.machine[r] {
                MachineData::None | MachineData::Count(_) => (0.0, 0.0),
                MachineData::Times(_) if points == 0.0 => (0.0, 0.0),
                MachineData::Times(times) if points < 0.0 => {
                    if def.decay.is_some() {
                        (0.0, -m.points)
                    } else {
                        if let Some(within) = def.within {
                            *until = (*until).min(first_expiry_by(times, |x| x.0, within, now));
                        }
                        (-m.points, 0.0)
                    }
                }
                MachineData::Times(times) => {
                    if m.not_counted == 0 {
                        (0.0, 0.0)
                    } else {
                        if let Some(within) = def.within {
                            *until = (*until).min(first_expiry_by(times, |x| x.0, within, now));
                        }
                        let most = match def.limit {
                            Some(limit) if limit.per.is_none() => f64::from(limit.max),
                            _ => f64::INFINITY,
                        };
                        let most = most.min(f64::from(m.counted) + f64::from(m.not_counted));
                        let rise = (points * f64::from(m.not_counted))
                            .min((points * most - m.points).max(0.0));
                        (rise, 0.0)
                    }
                }
            };
            (e + me, s + ms)
        };
        let (mut expiring, mut steady) = (0.0, 0.0);
        for (r, def) in model.engagement.iter().enumerate() {
            if def.points < 0.0 || def.group.is_none() {
                let (e, s) = rise(r, &mut until);
                expiring += e;
                steady += s;
            }
        }
        for (g, group) in model.groups.iter().enumerate() {
            let rules = &engine.group_rules[g];
            let (mut e, mut s) = (0.0, 0.0);
            for &r in rules.iter().filter(|&&r| model.engagement[r].points >= 0.0) {
                let (re, rs) = rise(r, &mut until);
                e += re;
                s += rs;
            }
            // The cap limits how far the group's positive points can still rise.
            let left = match group.max {
                Some(max) => {
                    let positive: f64 = rules
                        .iter()
                        .flat_map(|&r| [values[r].points, values[r].machine.points])
                        .filter(|&p| p > 0.0)
                        .sum();
                    (max - positive.min(max)).max(0.0)
                }
                None => f64::INFINITY,
            };
            steady += s.min(left);
            expiring += e.min(left - s.min(left));
        }
        for adj in self
            .adjustments
            .iter()
            .filter(|a| a.at > now && a.points > 0.0)
        {
            steady += adj.points;
        }
        (steady, until, steady + expiring)
    }

    /// A group's points as of `now`, computing only that group's rules (stage and
    /// trigger conditions often ask for one group long before they need the score).
    /// The arithmetic is the one [`Self::totals`] does, so the values are identical.
    fn group_points(&self, engine: &Engine, g: usize, now: Millis) -> f64 {
        let (value, _) = group_engagement(engine, g, |r| self.rule_value(engine, r, now));
        self.with_group_adjustments(g, value, now)
    }

    /// Add the manual adjustments booked to group `g` up to `now`, in order.
    fn with_group_adjustments(&self, g: usize, mut points: f64, now: Millis) -> f64 {
        for adj in self
            .adjustments
            .iter()
            .filter(|a| a.at <= now && a.group == Some(g))
        {
            points += adj.points;
        }
        points
    }

    /// The result as of the watermark, with its explanation.
    pub fn result(&self, engine: &Engine) -> ScoreResult {
        let model = engine.model();
        let now = self.watermark;
        let (totals, values, factors) = self.totals(engine, now);
        let mut explain = Vec::new();
        for &i in &self.fit_hits {
            let rule = &model.fit[i as usize];
            explain.push(line(&rule.id, &rule.label, LineKind::Fit, 1, rule.points));
        }
        for (r, (def, value)) in model.engagement.iter().zip(&values).enumerate() {
            let kind = match def.source {
                EngagementSource::Event { .. } => LineKind::Engagement,
                EngagementSource::Absence { .. } => LineKind::Absence,
            };
            let machine = value.machine;
            let parts = [
                (kind, value.counted, value.not_counted, value.points),
                (
                    LineKind::Machine,
                    machine.counted,
                    machine.not_counted,
                    machine.points,
                ),
            ];
            for (kind, counted, not_counted, points) in parts {
                if counted == 0 && not_counted == 0 {
                    continue;
                }
                let mut l = line(&def.id, &def.label, kind, counted, points);
                l.not_counted = not_counted;
                if kind == LineKind::Machine {
                    let open = match def.source {
                        EngagementSource::Event { event, .. } => {
                            engine.names[event as usize].mail == Some(MailKind::Open)
                        }
                        EngagementSource::Absence { .. } => false,
                    };
                    let what = if open {
                        "machine open"
                    } else {
                        "machine click"
                    };
                    l.label = Some(what.to_owned());
                    l.reason = Some(self.machine_reasons(engine, r, now));
                }
                if let Some(g) = def.group {
                    l.group = Some(model.groups[g].name.clone());
                    if points > 0.0 && factors[g] < 1.0 {
                        l.points = points * factors[g];
                        l.capped = points - l.points;
                    }
                }
                explain.push(l);
            }
        }
        for adj in self.adjustments.iter().filter(|a| a.at <= now) {
            let mut l = line(
                "manual",
                &Some(adj.reason.clone()),
                LineKind::Manual,
                1,
                adj.points,
            );
            l.author = Some(adj.author.clone());
            l.group = adj
                .group
                .and_then(|g| model.groups.get(g))
                .map(|g| g.name.clone());
            explain.push(l);
        }
        if totals.clamped != totals.raw {
            let mut l = line("clamp", &None, LineKind::Clamp, 0, 0.0);
            l.clamped_to = Some(totals.clamped);
            explain.push(l);
        }
        let grade = grade_of(engine, totals.fit).map(str::to_owned);
        let label = model
            .labels
            .iter()
            .find(|t| totals.clamped >= t.min)
            .map(|t| t.name.clone());
        let disqualified = !self.disqualified_by.is_empty();
        // Routes and triggers read the contact as the result reports it.
        let view = View::with_totals(self, engine, now, totals.clone());
        let route = if disqualified {
            None
        } else {
            model
                .routes
                .iter()
                .find(|r| condition::eval(&r.when, &view))
                .map(|r| RouteResult {
                    route: r.id.clone(),
                    team: model.teams[r.team].name.clone(),
                })
        };
        let triggers_active = self
            .triggers_holding(engine, &view)
            .iter()
            .zip(&model.triggers)
            .filter(|(holds, _)| **holds)
            .map(|(_, t)| t.id.clone())
            .collect();
        ScoreResult {
            score: totals.clamped.round() as i64,
            raw: totals.raw,
            clamped: totals.clamped,
            fit: totals.fit,
            engagement: totals.engagement,
            manual: totals.manual,
            grade,
            label,
            groups: model
                .groups
                .iter()
                .zip(&totals.groups)
                .map(|(g, v)| (g.name.clone(), *v))
                .collect(),
            stage: self.stage.map(|s| model.stages[s].id.clone()),
            disqualified,
            disqualified_by: self
                .disqualified_by
                .iter()
                .map(|&i| model.disqualify[i as usize].id.clone())
                .collect(),
            route,
            triggers_active,
            explain,
            prediction: model.prediction.as_ref().map(|p| Prediction {
                probability: p.probability(totals.clamped),
                tuned_at: p.tuned_at.clone(),
                auc: p.auc,
            }),
            account: model
                .account
                .as_ref()
                .and_then(|account| crate::account::membership(account, &self.attributes)),
        }
    }

    /// How many events of this name are at or before `now`, inside `within` if given.
    fn event_count(&self, name: usize, within: Option<Millis>, now: Millis) -> u64 {
        match &self.names[name] {
            NameData::Unused => 0,
            NameData::Count(n) => *n,
            NameData::Times(times) => {
                let end = times.partition_point(|&t| t <= now);
                let start =
                    within.map_or(0, |w| times.partition_point(|&t| t < now.saturating_sub(w)));
                (end - start.min(end)) as u64
            }
        }
    }
}

/// A group's engagement points, `min(positive, max) + negative`, and the share of its
/// positive points that survives the cap (1 when uncapped). Rules are summed in model
/// order, whoever asks, so every caller gets the same bits.
fn group_engagement(engine: &Engine, g: usize, value: impl Fn(usize) -> RuleValue) -> (f64, f64) {
    let mut positive = 0.0;
    let mut negative = 0.0;
    for &rule in &engine.group_rules[g] {
        let v = value(rule);
        for points in [v.points, v.machine.points] {
            if points > 0.0 {
                positive += points;
            } else {
                negative += points;
            }
        }
    }
    match engine.model().groups[g].max {
        Some(max) if positive > max => (max + negative, max / positive),
        _ => (positive + negative, 1.0),
    }
}

fn grade_of(engine: &Engine, fit: f64) -> Option<&str> {
    let grades = &engine.model().grades;
    if grades.is_empty() {
        return None;
    }
    Some(
        grades
            .iter()
            .find(|t| fit >= t.min)
            .map_or("D", |t| t.name.as_str()),
    )
}

fn line(
    rule: &str,
    label: &Option<String>,
    kind: LineKind,
    count: u32,
    points: f64,
) -> ExplainLine {
    ExplainLine {
        rule: rule.to_owned(),
        label: label.clone(),
        kind,
        count,
        points,
        group: None,
        not_counted: 0,
        capped: 0.0,
        author: None,
        clamped_to: None,
        reason: None,
    }
}

/// Count, limit and decay a rule's occurrences (ascending times) as of `now`.
///
/// Order of the filters, as the spec resolves it: occurrences after `now` do not exist;
/// those zeroed by a stage reset or older than `within` do not qualify; `limit` counts
/// among the qualifying ones in time order; each counted one contributes its decayed
/// points, summed in time order.
fn occurrences_value(
    def: &leadscore_model::EngagementRule,
    points: f64,
    times: impl Iterator<Item = Millis>,
    now: Millis,
    since: Option<Millis>,
) -> RuleValue {
    let oldest = def.within.map(|w| now.saturating_sub(w));
    let mut value = RuleValue::default();
    // Inline for the usual handful of counted occurrences: no allocation per call.
    let mut counted_times: smallvec::SmallVec<[Millis; 16]> = smallvec::SmallVec::new();
    let mut window_start = 0usize;
    for t in times {
        if t > now {
            break;
        }
        if since.is_some_and(|s| t <= s) || oldest.is_some_and(|o| t < o) {
            continue;
        }
        let counts = match def.limit {
            None => true,
            Some(limit) => match limit.per {
                None => value.counted < limit.max,
                Some(per) => {
                    // Counted occurrences in (t - per, t].
                    let from = t.saturating_sub(per);
                    while window_start < counted_times.len() && counted_times[window_start] <= from
                    {
                        window_start += 1;
                    }
                    ((counted_times.len() - window_start) as u64) < u64::from(limit.max)
                }
            },
        };
        if !counts {
            value.not_counted += 1;
            continue;
        }
        if matches!(def.limit, Some(l) if l.per.is_some()) {
            counted_times.push(t);
        }
        value.counted += 1;
        value.points += match def.decay {
            Some(half_life) => points * (-((now - t) as f64) / half_life as f64).exp2(),
            None => points,
        };
    }
    value
}

/// The last instant at which every occurrence inside `within` as of `now` still is.
fn first_expiry(times: &[Millis], within: Millis, now: Millis) -> Millis {
    first_expiry_by(times, |&t| t, within, now)
}

/// [`first_expiry`] over items sorted by `time`.
fn first_expiry_by<T>(
    items: &[T],
    time: impl Fn(&T) -> Millis,
    within: Millis,
    now: Millis,
) -> Millis {
    let first = items.partition_point(|x| time(x) < now.saturating_sub(within));
    items
        .get(first)
        .map_or(Millis::MAX, |x| time(x).saturating_add(within))
}

fn insert_sorted<T: Ord + Copy>(times: &mut Vec<T>, at: T) {
    if times.last().is_none_or(|&last| last <= at) {
        times.push(at);
    } else {
        let i = times.partition_point(|&t| t <= at);
        times.insert(i, at);
    }
}

/// Remove one copy of `item` from sorted `items`, if there is one (pruning may have
/// dropped it already).
fn remove_one<T: Ord>(items: &mut Vec<T>, item: &T) {
    if let Ok(i) = items.binary_search(item) {
        items.remove(i);
    }
}

/// Decide every open and click of a mailing: its static reason if it has one, else
/// (opens first, as clicks read them) delivery delay, burst, click without open.
fn thread_reasons(engine: &Engine, thread: &Thread) -> Vec<Reason> {
    let Some(machine) = engine.model().machine.as_ref() else {
        return vec![Reason::Human; thread.mail.len()];
    };
    let after_delivery = |at: Millis, within: Option<Millis>| {
        within.is_some_and(|w| {
            thread
                .delivered
                .iter()
                .any(|&d| d <= at && at <= d.saturating_add(w))
        })
    };
    let mut reasons: Vec<Reason> = thread
        .mail
        .iter()
        .map(|e| match e.kind {
            MailKind::Open if e.flag != Reason::Human => e.flag,
            MailKind::Open if after_delivery(e.at, machine.open_within) => Reason::Delivery,
            _ => Reason::Human,
        })
        .collect();
    let clicks: Vec<Millis> = thread
        .mail
        .iter()
        .filter(|e| e.kind == MailKind::Click)
        .map(|e| e.at)
        .collect();
    let human_opens: Vec<Millis> = thread
        .mail
        .iter()
        .zip(&reasons)
        .filter(|(e, r)| e.kind == MailKind::Open && **r == Reason::Human)
        .map(|(e, _)| e.at)
        .collect();
    for (e, reason) in thread.mail.iter().zip(&mut reasons) {
        if e.kind != MailKind::Click {
            continue;
        }
        let in_burst = machine.burst.is_some_and(|b| {
            // Some window [a, a + within] holding this click holds `clicks` clicks.
            clicks.iter().any(|&a| {
                a <= e.at
                    && e.at <= a.saturating_add(b.within)
                    && clicks
                        .iter()
                        .filter(|&&t| a <= t && t <= a.saturating_add(b.within))
                        .count()
                        >= b.clicks as usize
            })
        });
        *reason = if e.flag != Reason::Human {
            e.flag
        } else if after_delivery(e.at, machine.click_within) {
            Reason::Delivery
        } else if in_burst {
            Reason::Burst
        } else if machine.click_needs_open && !human_opens.iter().any(|&o| o <= e.at) {
            Reason::NoOpen
        } else {
            Reason::Human
        };
    }
    reasons
}

fn drop_before(times: &mut Vec<Millis>, horizon: Millis) {
    if times.first().is_some_and(|&t| t < horizon) {
        let n = times.partition_point(|&t| t < horizon);
        times.drain(..n);
    }
}

/// A stable 64-bit hash of a message id (FNV-1a): the same id always gives the same
/// number, on every machine and in every run, so duplicate detection is reproducible.
pub fn message_id_hash(id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A contact seen by conditions at one instant; the score is computed on first need.
struct View<'a> {
    state: &'a ContactState,
    engine: &'a Engine,
    now: Millis,
    /// The totals, and the score cap they give (when computed here, not handed in).
    totals: std::cell::OnceCell<(Totals, Option<Cap>)>,
    grade: Option<&'a str>,
}

impl<'a> View<'a> {
    fn new(state: &'a ContactState, engine: &'a Engine, now: Millis) -> Self {
        View {
            state,
            engine,
            now,
            totals: std::cell::OnceCell::new(),
            grade: grade_of(engine, state.fit_points),
        }
    }

    fn with_totals(
        state: &'a ContactState,
        engine: &'a Engine,
        now: Millis,
        totals: Totals,
    ) -> Self {
        let view = View::new(state, engine, now);
        let _ = view.totals.set((totals, None));
        view
    }

    fn totals(&self) -> &Totals {
        &self
            .totals
            .get_or_init(|| {
                let (totals, values, _) = self.state.totals(self.engine, self.now);
                let (tight, until, loose) = self.state.headroom(self.engine, &values, self.now);
                let cap = Cap {
                    tight: totals.clamped + tight,
                    until,
                    loose: totals.clamped + loose,
                };
                (totals, Some(cap))
            })
            .0
    }
}

impl View<'_> {
    /// The score cap from totals computed by this view, if it computed them.
    fn fresh_cap(&self) -> Option<Cap> {
        self.totals.get().and_then(|(_, cap)| *cap)
    }
}

impl ScoreView for View<'_> {
    fn attributes(&self) -> &dyn Fields {
        &self.state.attributes
    }
    fn score(&self) -> f64 {
        self.totals().clamped
    }
    fn score_at_most(&self) -> f64 {
        match (self.totals.get(), self.state.score_cap) {
            (Some((totals, _)), _) => totals.clamped,
            // A margin for rounding: the cap is summed in another order than the score.
            (None, Some(cap)) => {
                let cap = if self.now <= cap.until {
                    cap.tight
                } else {
                    cap.loose
                };
                cap + 1e-9 * (1.0 + cap.abs())
            }
            (None, None) => f64::INFINITY,
        }
    }
    fn group_points(&self, group: leadscore_model::GroupId) -> f64 {
        match self.totals.get() {
            Some((totals, _)) => totals.groups.get(group).copied().unwrap_or(0.0),
            None => self.state.group_points(self.engine, group, self.now),
        }
    }
    fn grade(&self) -> Option<&str> {
        self.grade
    }
    fn disqualified(&self) -> bool {
        !self.state.disqualified_by.is_empty()
    }
    fn stage(&self) -> Option<StageId> {
        self.state.stage
    }
    fn event_count(&self, event: leadscore_model::EventNameId, within: Option<Millis>) -> u64 {
        self.state.event_count(event as usize, within, self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;

    #[test]
    fn one_group_alone_equals_that_group_in_the_totals() {
        let text = r#"
version = 1
name = "groups"
[[engagement]]
id = "a"
event = "A"
points = 7.3
group = "g"
decay = { half_life = "3d" }
[[engagement]]
id = "b"
event = "B"
points = -4.1
group = "g"
within = "10d"
[[engagement]]
id = "c"
event = "A"
points = 11.7
group = "h"
[groups.g]
max = 20
[groups.h]
"#;
        let model = match leadscore_model::load("g.toml", text) {
            Ok(checked) => checked.model,
            Err(d) => panic!("{d:?}"),
        };
        let engine = Engine::new(model);
        let mut state = engine.new_state(Attributes::new());
        for day in 0..30 {
            let name = if day % 3 == 0 { "B" } else { "A" };
            let event = crate::Event {
                name: name.into(),
                timestamp: day * DAY + 17,
                message_id: None,
                fields: Vec::new(),
            };
            if let Some(class) = engine.classify(name, &event) {
                state.apply_unique(&engine, event.timestamp, &class);
            }
        }
        state.add_adjustment(Adjustment {
            at: 5 * DAY,
            points: 2.2,
            group: Some(0),
            author: "a".into(),
            reason: "r".into(),
        });
        for now in [DAY, 7 * DAY + 3, 12 * DAY, 31 * DAY, 60 * DAY] {
            state.settle_to(&engine, now);
            let (totals, ..) = state.totals(&engine, now);
            for g in 0..2 {
                assert_eq!(
                    state.group_points(&engine, g, now).to_bits(),
                    totals.groups[g].to_bits()
                );
            }
        }
    }
}
