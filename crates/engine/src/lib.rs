//! The leadscore engine: score, explain, grade, stage and route a contact.
//!
//! Pure and deterministic: no clock, no I/O. Given a compiled model, a contact's
//! attributes, its events, manual adjustments and an instant `now`, the engine computes
//! the score with its explanation, grade, label, groups, lifecycle stage,
//! disqualification and route.
//!
//! Two paths, one result:
//!
//! * **incremental**: a compact [`ContactState`] per contact, updated one event at a
//!   time ([`ContactState::apply`]) while time advances ([`ContactState::advance_to`]);
//!   this is what a server keeps;
//! * **batch**: [`Engine::score`], all events of a contact at once, in any order.
//!
//! ```
//! use leadscore_engine::{Attributes, Engine, Event, Value};
//!
//! let model = leadscore_model::load("m.toml", r#"
//!     version = 1
//!     name = "tiny"
//!     [[engagement]]
//!     id = "open"
//!     event = "Email Opened"
//!     points = 5
//! "#).expect("valid model").model;
//! let engine = Engine::new(model);
//! let open = |id: &str, at| Event { name: "Email Opened".into(), timestamp: at,
//!                                  message_id: Some(id.into()), fields: vec![] };
//! let events = [open("m1", 1_000), open("m2", 2_000), open("m1", 1_000)];
//! let result = engine.score(Attributes::new(), &events, &[], &[], 10_000);
//! assert_eq!(result.score, 10); // the duplicate message id counts once
//! ```

#![deny(missing_docs)]

pub mod account;
mod classify;
pub mod condition;
pub mod input;
pub mod result;
mod state;
pub mod trigger;

pub use account::{
    AccountLine, AccountLineKind, AccountResult, Member, account_fields, account_key,
    rank_accounts, score_account,
};
pub use classify::{ClassCache, EventClass, MailClass, MailKind, Reason};
pub use input::{Adjustment, Attributes, Event, Fields, Value, ValueRef};
pub use leadscore_model::Millis;
pub use result::{AccountRef, ExplainLine, LineKind, Prediction, RouteResult, ScoreResult};
pub use state::{ContactState, message_id_hash};
pub use trigger::{Fired, trigger_edges};

use leadscore_model::{CompiledModel, EngagementSource};

/// A compiled model prepared for scoring: per-name lookup tables and per-rule storage
/// decisions. Cheap to share by reference across threads.
#[derive(Debug, Clone)]
pub struct Engine {
    model: CompiledModel,
    names: Vec<classify::NameInfo>,
    /// Per engagement rule: whether a counter is enough (every occurrence weighs the
    /// same forever: no `within`, no `decay`, no sliding `limit`).
    counter_rules: Vec<bool>,
    /// Per group: the engagement rules that belong to it, in model order.
    group_rules: Vec<Vec<usize>>,
    /// Contact attributes read by fit, disqualify, stage, trigger and route conditions,
    /// and by `[account]` (key, account conditions, role fields).
    attributes_read: Vec<String>,
    /// Per stage: its criteria split into what reads only attributes and the rest.
    stage_gates: Vec<StageGate>,
    /// Per trigger: whether its condition names `disqualified = true` (only such
    /// triggers can be active for a disqualified contact).
    trigger_disqualified: Vec<bool>,
    /// Per engagement rule: whether it counts opens or clicks that `[machine]` may
    /// call a machine's (it then keeps a second, machine stream of occurrences).
    machine_rules: Vec<bool>,
    /// Whether machine detection looks at other events of the same mailing (delivery
    /// delay, bursts, clicks without opens), so e-mail events are kept per mailing.
    threads: bool,
    /// How long after its last event a mailing can still change a result; `None`:
    /// kept for good (see [`ContactState`] pruning and docs/semantics.md).
    thread_horizon: Option<Millis>,
}

/// A stage's criteria `all [a, b, c]`, split so the attribute-only parts can be decided
/// once per attribute change instead of at every checkpoint.
#[derive(Debug, Clone, Default)]
struct StageGate {
    /// Conjuncts that read only attributes.
    attributes: Vec<leadscore_model::Condition>,
    /// The other conjuncts, cheapest first. A stage without criteria has one that is
    /// never true: it is entered only by a trigger's `set_stage`.
    rest: Vec<leadscore_model::Condition>,
}

impl StageGate {
    fn new(when: Option<&leadscore_model::Condition>) -> StageGate {
        use leadscore_model::Condition;
        let Some(when) = when else {
            return StageGate {
                attributes: Vec::new(),
                rest: vec![Condition::Any(Vec::new())],
            };
        };
        let conjuncts = match when {
            Condition::All(items) => items.clone(),
            other => vec![other.clone()],
        };
        let (attributes, mut rest): (Vec<_>, Vec<_>) =
            conjuncts.into_iter().partition(is_attribute_only);
        rest.sort_by_key(condition::cost);
        StageGate { attributes, rest }
    }
}

/// Whether a condition reads nothing but contact attributes.
fn is_attribute_only(cond: &leadscore_model::Condition) -> bool {
    use leadscore_model::Condition;
    match cond {
        Condition::Field { .. } => true,
        Condition::All(items) | Condition::Any(items) => items.iter().all(is_attribute_only),
        Condition::Not(inner) => is_attribute_only(inner),
        _ => false,
    }
}

/// An `identify` call: when, its message id, and the traits it sets (`None` removes).
pub type Identify = (Millis, Option<String>, Vec<(String, Option<Value>)>);

impl Engine {
    /// Prepare a compiled model for scoring.
    pub fn new(model: CompiledModel) -> Self {
        let names = classify::name_table(&model);
        let counter_rules = model
            .engagement
            .iter()
            .map(|r| {
                matches!(r.source, EngagementSource::Event { .. })
                    && r.within.is_none()
                    && r.decay.is_none()
                    && r.limit.is_none_or(|l| l.per.is_none())
            })
            .collect();
        let mut group_rules = vec![Vec::new(); model.groups.len()];
        for (index, rule) in model.engagement.iter().enumerate() {
            if let Some(g) = rule.group {
                group_rules[g].push(index);
            }
        }
        let mut attributes_read = Vec::new();
        let conditions = model
            .fit
            .iter()
            .map(|r| &r.when)
            .chain(model.disqualify.iter().map(|r| &r.when))
            .chain(model.stages.iter().filter_map(|s| s.when.as_ref()))
            .chain(model.triggers.iter().map(|t| &t.when))
            .chain(model.routes.iter().map(|r| &r.when));
        for cond in conditions {
            classify::fields_read(cond, &mut attributes_read);
        }
        if let Some(account) = &model.account {
            for field in account_fields(account) {
                if !attributes_read.contains(&field) {
                    attributes_read.push(field);
                }
            }
        }
        if attributes_read.iter().any(|a| a == "email_domain") {
            attributes_read.push("email".into());
        }
        let stage_gates = model
            .stages
            .iter()
            .map(|s| StageGate::new(s.when.as_ref()))
            .collect();
        let trigger_disqualified = model
            .triggers
            .iter()
            .map(|t| condition::names_disqualified(&t.when))
            .collect();
        let machine_rules: Vec<bool> = model
            .engagement
            .iter()
            .map(|r| match r.source {
                EngagementSource::Event { event, .. } => matches!(
                    names[event as usize].mail,
                    Some(MailKind::Open | MailKind::Click)
                ),
                EngagementSource::Absence { .. } => false,
            })
            .collect();
        let (threads, thread_horizon) = match &model.machine {
            None => (false, None),
            Some(m) => {
                let dynamic = m.open_within.is_some()
                    || m.click_within.is_some()
                    || m.burst.is_some()
                    || m.click_needs_open;
                let margin = [m.open_within, m.click_within, m.burst.map(|b| b.within)]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(0);
                let mut horizon = Some(0);
                if m.click_needs_open {
                    // An open any time before a click decides it: keep every mailing.
                    horizon = None;
                }
                for (rule, &mail) in model.engagement.iter().zip(&machine_rules) {
                    let needs = match &rule.source {
                        EngagementSource::Event { .. } if mail => rule.within,
                        EngagementSource::Absence { expect, within, .. }
                            if expect.iter().any(|&x| {
                                matches!(
                                    names[x as usize].mail,
                                    Some(MailKind::Open | MailKind::Click)
                                )
                            }) =>
                        {
                            rule.within.map(|w| w.saturating_add(*within))
                        }
                        _ => continue,
                    };
                    horizon = match (horizon, needs) {
                        (Some(h), Some(n)) => Some(h.max(n)),
                        _ => None,
                    };
                }
                (dynamic, horizon.map(|h: Millis| h.saturating_add(margin)))
            }
        };
        Engine {
            model,
            names,
            counter_rules,
            group_rules,
            attributes_read,
            stage_gates,
            trigger_disqualified,
            machine_rules,
            threads,
            thread_horizon,
        }
    }

    /// The model this engine scores with.
    pub fn model(&self) -> &CompiledModel {
        &self.model
    }

    /// Classify an event by name and fields; `None` when the model never looks at
    /// events of that name (they cannot change any result and need not be kept).
    pub fn classify(&self, name: &str, fields: &(impl Fields + ?Sized)) -> Option<EventClass> {
        classify::classify(&self.model, &self.names, name, fields)
    }

    /// [`Self::classify`] through a per-thread memo of earlier classifications; the same
    /// answer, faster when field values repeat (page URLs do).
    pub fn classify_cached(
        &self,
        cache: &mut ClassCache,
        name: &str,
        fields: &(impl Fields + ?Sized),
    ) -> Option<EventClass> {
        classify::classify_cached(&self.model, &self.names, cache, name, fields)
    }

    /// Whether any condition of the model reads the contact attribute `key` (for
    /// `email`: also through the derived `email_domain`). An attribute nobody reads
    /// cannot change a result, so a batch run need not keep it.
    pub fn reads_attribute(&self, key: &str) -> bool {
        self.attributes_read.iter().any(|a| a == key)
    }

    /// A fresh state for a contact with these attributes (from a CSV row or the API).
    pub fn new_state(&self, attributes: Attributes) -> ContactState {
        ContactState::new(self, attributes)
    }

    /// A state for the batch path: it scores once and is thrown away, so it does not
    /// track trigger edges (its result still says which triggers are active).
    fn batch_state(&self, attributes: Attributes) -> ContactState {
        let mut state = ContactState::new(self, attributes);
        state.track_triggers = false;
        state
    }

    /// Batch path: score one contact from all its events (any order; duplicates by
    /// `message_id` count once), identify calls and adjustments, as of `now`.
    pub fn score(
        &self,
        attributes: Attributes,
        events: &[Event],
        identifies: &[Identify],
        adjustments: &[Adjustment],
        now: Millis,
    ) -> ScoreResult {
        self.score_keeping_attributes(attributes, events, identifies, adjustments, now)
            .0
    }

    /// Batch path for callers that classified and deduplicated events themselves (the
    /// CLI does so while streaming, to keep only a few bytes per event).
    pub fn score_classified<'c>(
        &self,
        attributes: Attributes,
        events: impl IntoIterator<Item = (Millis, &'c EventClass)>,
        identifies: impl IntoIterator<Item = Identify>,
        adjustments: &[Adjustment],
        now: Millis,
    ) -> ScoreResult {
        self.score_classified_keeping_attributes(attributes, events, identifies, adjustments, now)
            .0
    }

    /// [`Self::score`], also returning the contact's attributes as of `now` (the given
    /// ones, then identify traits in time order): what account keys and account rules
    /// read ([`account_key`], [`score_account`]).
    pub fn score_keeping_attributes(
        &self,
        attributes: Attributes,
        events: &[Event],
        identifies: &[Identify],
        adjustments: &[Adjustment],
        now: Millis,
    ) -> (ScoreResult, Attributes) {
        let state = self.with_events(self.batch_state(attributes), events);
        self.finish(state, identifies.iter().cloned(), adjustments, now)
    }

    /// [`Self::score_classified`], also returning the contact's attributes as of `now`
    /// (see [`Self::score_keeping_attributes`]).
    pub fn score_classified_keeping_attributes<'c>(
        &self,
        attributes: Attributes,
        events: impl IntoIterator<Item = (Millis, &'c EventClass)>,
        identifies: impl IntoIterator<Item = Identify>,
        adjustments: &[Adjustment],
        now: Millis,
    ) -> (ScoreResult, Attributes) {
        let state = self.with_classified(self.batch_state(attributes), events);
        self.finish(state, identifies, adjustments, now)
    }

    /// [`Self::score`], also returning per engagement rule the times of its machine
    /// opens and clicks ([`ContactState::machine_times`]): what an event timeline needs
    /// to tell them from a person's.
    pub fn score_with_machine_times(
        &self,
        attributes: Attributes,
        events: &[Event],
        identifies: &[Identify],
        adjustments: &[Adjustment],
        now: Millis,
    ) -> (ScoreResult, Vec<Vec<Millis>>) {
        let state = self.with_events(self.batch_state(attributes), events);
        let state = self.settled(state, identifies.iter().cloned(), adjustments, now);
        let result = state.result(self);
        let times = (0..self.model.engagement.len())
            .map(|rule| state.machine_times(rule))
            .collect();
        (result, times)
    }

    /// [`Self::score_classified`], also returning when each stage reached was entered
    /// ([`ContactState::stage_times`]): for reports of the time between stages.
    pub fn score_classified_timed<'c>(
        &self,
        attributes: Attributes,
        events: impl IntoIterator<Item = (Millis, &'c EventClass)>,
        identifies: impl IntoIterator<Item = Identify>,
        adjustments: &[Adjustment],
        now: Millis,
    ) -> (ScoreResult, Vec<Millis>) {
        let state = self.with_classified(self.batch_state(attributes).timing_stages(), events);
        let state = self.settled(state, identifies, adjustments, now);
        (state.result(self), state.stage_times().to_vec())
    }

    /// [`Self::score`], also returning when each stage reached was entered
    /// ([`ContactState::stage_times`]).
    pub fn score_timed(
        &self,
        attributes: Attributes,
        events: &[Event],
        identifies: &[Identify],
        adjustments: &[Adjustment],
        now: Millis,
    ) -> (ScoreResult, Vec<Millis>) {
        let state = self.with_events(self.batch_state(attributes).timing_stages(), events);
        let state = self.settled(state, identifies.iter().cloned(), adjustments, now);
        (state.result(self), state.stage_times().to_vec())
    }

    /// `state` with `events` classified and applied (duplicates by `message_id` once).
    fn with_events(&self, mut state: ContactState, events: &[Event]) -> ContactState {
        for event in events {
            if let Some(class) = self.classify(&event.name, event) {
                state.apply(self, event.timestamp, event.message_id.as_deref(), &class);
            }
        }
        state
    }

    /// `state` with already classified, deduplicated `events` applied.
    fn with_classified<'c>(
        &self,
        mut state: ContactState,
        events: impl IntoIterator<Item = (Millis, &'c EventClass)>,
    ) -> ContactState {
        for (at, class) in events {
            state.apply_unique(self, at, class);
        }
        state
    }

    /// `state` with identify calls and adjustments applied, settled as of `now`.
    fn settled(
        &self,
        mut state: ContactState,
        identifies: impl IntoIterator<Item = Identify>,
        adjustments: &[Adjustment],
        now: Millis,
    ) -> ContactState {
        for (at, id, traits) in identifies {
            state.apply_traits(self, at, id.as_deref(), traits);
        }
        for adjustment in adjustments {
            state.add_adjustment(adjustment.clone());
        }
        state.settle_to(self, now);
        state
    }

    /// The result of a settled `state`, and the attributes it ended with.
    fn finish(
        &self,
        state: ContactState,
        identifies: impl IntoIterator<Item = Identify>,
        adjustments: &[Adjustment],
        now: Millis,
    ) -> (ScoreResult, Attributes) {
        let state = self.settled(state, identifies, adjustments, now);
        let result = state.result(self);
        (result, state.into_attributes())
    }
}
