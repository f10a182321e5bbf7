//! The checked model: what `validate` produces and `compile` consumes.
//!
//! These types mirror the file's structure after every check has passed: values have
//! their types, names that refer to declarations (groups, stages, teams, lists) are
//! resolved to indices or shared sets, durations are milliseconds and regexes are
//! compiled. What is left for `compile` is lowering that cannot fail: interning event
//! names, preparing literals for comparison, lower-casing, sorting thresholds.
//!
//! Keeping this separate from [`crate::compiled`] means the engine's types carry no
//! trace of how the file was written, and the validator never builds half an engine model.

use std::collections::HashSet;
use std::sync::Arc;

use regex::Regex;

use crate::compiled::{Action, Cmp, GroupId, Limit, Millis, ScoreBounds, StageId, Team, Threshold};

/// A model file that passed validation.
#[derive(Debug)]
pub(crate) struct Model {
    pub name: String,
    pub version: u32,
    pub score: ScoreBounds,
    pub fit: Vec<FitRule>,
    pub engagement: Vec<EngagementRule>,
    /// `[groups.NAME]`: name and cap, in file order.
    pub groups: Vec<(String, Option<f64>)>,
    pub disqualify: Vec<DisqualifyRule>,
    /// `[grades]` in file order.
    pub grades: Vec<Threshold>,
    /// `[labels]` in file order.
    pub labels: Vec<Threshold>,
    pub stages: Vec<Stage>,
    pub triggers: Vec<Trigger>,
    pub routes: Vec<Route>,
    pub teams: Vec<Team>,
    /// `[machine]`, with event names as written.
    pub machine: Option<Machine>,
    /// `[prediction]`, as checked.
    pub prediction: Option<crate::compiled::Prediction>,
    /// `[account]`.
    pub account: Option<Account>,
}

/// A checked `[account]` table; conditions not yet lowered.
#[derive(Debug)]
pub(crate) struct Account {
    pub key: Vec<String>,
    pub exclude: Option<(String, Arc<HashSet<String>>)>,
    pub fit: Vec<FitRule>,
    pub engagement: Vec<crate::compiled::AccountEngagementRule>,
    pub labels: Vec<Threshold>,
    pub stages: Vec<Stage>,
    pub triggers: Vec<Trigger>,
    pub routes: Vec<Route>,
}

/// A checked `[machine]` table; event names not yet interned.
#[derive(Debug)]
pub(crate) struct Machine {
    pub share: f64,
    pub message_id: Vec<String>,
    pub delivered: String,
    pub opens: Vec<String>,
    pub clicks: Vec<String>,
    pub open_within: Option<Millis>,
    pub click_within: Option<Millis>,
    pub burst: Option<crate::machine::Burst>,
    pub click_needs_open: bool,
    pub flags: Vec<String>,
    pub user_agents: Vec<String>,
    pub ip_ranges: Vec<crate::machine::IpRange>,
}

/// A `[[fit]]` rule.
#[derive(Debug)]
pub(crate) struct FitRule {
    pub id: String,
    pub label: Option<String>,
    pub when: Cond,
    pub points: f64,
}

/// An `[[engagement]]` rule.
#[derive(Debug)]
pub(crate) struct EngagementRule {
    pub id: String,
    pub label: Option<String>,
    pub source: Source,
    pub points: f64,
    pub group: Option<GroupId>,
    pub limit: Option<Limit>,
    pub within: Option<Millis>,
    pub decay: Option<Millis>,
}

/// `event` (+ `when`) or `absence`, with event names as written.
#[derive(Debug)]
pub(crate) enum Source {
    Event {
        event: String,
        when: Option<Cond>,
    },
    Absence {
        after: String,
        expect: Vec<String>,
        within: Millis,
    },
}

/// A `[[disqualify]]` rule.
#[derive(Debug)]
pub(crate) struct DisqualifyRule {
    pub id: String,
    pub label: Option<String>,
    pub when: Cond,
}

/// A `[[stage]]`.
#[derive(Debug)]
pub(crate) struct Stage {
    pub id: String,
    pub label: Option<String>,
    pub when: Option<Cond>,
    pub reset_engagement: bool,
}

/// A `[[trigger]]`; actions need no lowering.
#[derive(Debug)]
pub(crate) struct Trigger {
    pub id: String,
    pub label: Option<String>,
    pub when: Cond,
    pub actions: Vec<Action>,
}

/// A `[[route]]`.
#[derive(Debug)]
pub(crate) struct Route {
    pub id: String,
    pub label: Option<String>,
    pub when: Cond,
    pub team: usize,
}

/// A checked condition.
#[derive(Debug)]
pub(crate) enum Cond {
    Field {
        field: String,
        ops: Vec<Op>,
    },
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Score {
        group: Option<GroupId>,
        cmps: Vec<(Cmp, f64)>,
    },
    GradeIn(Vec<String>),
    EventCount {
        event: String,
        cmps: Vec<(Cmp, f64)>,
        within: Option<Millis>,
    },
    Disqualified(bool),
    Stage(StageId),
}

/// One operator of a field leaf, with its operand as written.
#[derive(Debug)]
pub(crate) enum Op {
    Eq(Lit),
    Ne(Lit),
    In(Vec<Lit>),
    NotIn(Vec<Lit>),
    InList {
        name: String,
        values: Arc<HashSet<String>>,
    },
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    Matches(Regex),
    Glob(Regex),
    Compare(Cmp, f64),
    Exists(bool),
}

/// A scalar literal as written in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}
