//! The compiled scoring model: everything the engine needs and nothing it does not.
//!
//! A [`CompiledModel`] is produced only by the `compile` stage of [`crate::load`], from a
//! file that passed validation, so the engine may rely on its invariants without checking
//! them again: every index (group, stage, team, event name) points into its table, lists
//! are resolved into sets, regexes and globs are compiled, durations are milliseconds,
//! strings that compare case-insensitively are stored lower-cased.
//!
//! Rule ids survive compilation so that every explanation line and every diagnostic can
//! name the rule a person wrote. Source spans do not: they belong to `syntax`/`validate`.

use std::collections::HashSet;
use std::sync::Arc;

/// Milliseconds: instants are milliseconds since the Unix epoch (UTC), durations are
/// millisecond counts. One unit for both keeps window arithmetic exact integer math.
pub type Millis = i64;

/// Index into [`CompiledModel::groups`].
pub type GroupId = usize;
/// Index into [`CompiledModel::stages`].
pub type StageId = usize;
/// Index into [`CompiledModel::teams`].
pub type TeamId = usize;
/// Index into [`CompiledModel::event_names`].
pub type EventNameId = u16;

/// A validated model, compiled for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    /// `name` from the file.
    pub name: String,
    /// `version` from the file (format version; always 1 today).
    pub version: u32,
    /// `[score]` clamp bounds; `None` means unbounded on that side.
    pub score: ScoreBounds,
    /// `[[fit]]` rules in file order.
    pub fit: Vec<FitRule>,
    /// `[[engagement]]` rules (event rules and absence rules) in file order.
    pub engagement: Vec<EngagementRule>,
    /// `[groups.NAME]` in file order.
    pub groups: Vec<Group>,
    /// `[[disqualify]]` rules in file order.
    pub disqualify: Vec<DisqualifyRule>,
    /// `[grades]`, sorted by bound, highest first. Empty when the file has no `[grades]`
    /// (then every grade is `None`). Fit below the lowest bound grades `"D"`.
    pub grades: Vec<Threshold>,
    /// `[labels]`, sorted by bound, highest first. Empty when the file has no `[labels]`
    /// (then every label is `None`). A score below the lowest bound has no label.
    pub labels: Vec<Threshold>,
    /// `[[stage]]` in file order; index 0 is where every contact starts.
    pub stages: Vec<Stage>,
    /// `[[trigger]]` in file order.
    pub triggers: Vec<Trigger>,
    /// `[[route]]` in file order; the first matching route wins.
    pub routes: Vec<Route>,
    /// `[teams.NAME]` in file order.
    pub teams: Vec<Team>,
    /// Every event name the model mentions (engagement `event`, absence `after`/`expect`,
    /// `event = ..` conditions), lower-cased, without duplicates. Events whose
    /// lower-cased name is not in this table can never affect a score.
    pub event_names: Vec<String>,
    /// `[machine]`: how machine opens and clicks are told from people's; `None`
    /// without the table (every event is a person's).
    pub machine: Option<crate::machine::Machine>,
    /// `[prediction]`: the conversion probability calibration of the last tuning run;
    /// `None` without the table (results then have no `prediction`).
    pub prediction: Option<Prediction>,
    /// `[account]`: how contacts group into accounts and how accounts score; `None`
    /// without the table (no account results).
    pub account: Option<Account>,
}

/// `[prediction]`, written by `leadscore tune`: a Platt calibration of the score,
/// `p = 1 / (1 + exp(-(intercept + slope * score)))` with `score` the clamped,
/// unrounded score, fitted on held-out (cross-validated) scores of the tuning run.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// `a` of the calibration.
    pub intercept: f64,
    /// `b` of the calibration (per point of score).
    pub slope: f64,
    /// The date of the tuning run (`YYYY-MM-DD`, or an RFC 3339 instant).
    pub tuned_at: String,
    /// The held-out ROC AUC of the tuned model in that run.
    pub auc: f64,
    /// Contacts the run learned from.
    pub contacts: u64,
}

impl Prediction {
    /// The calibrated probability (0 to 1) of converting at `score`.
    pub fn probability(&self, score: f64) -> f64 {
        1.0 / (1.0 + (-(self.intercept + self.slope * score)).exp())
    }
}

/// The `[account]` table: account key, account fit and engagement aggregations, and
/// account stages, triggers and routes (see `docs/model-format.md`, "Accounts").
#[derive(Debug, Clone)]
pub struct Account {
    /// Contact attributes tried in order for the account key; the first present,
    /// non-blank value that is not excluded wins (`email_domain` is derived).
    pub key: Vec<String>,
    /// `exclude_list`: key values (lower-cased) that never form an account, with the
    /// list's name; `None` without `exclude_list`.
    pub exclude: Option<(String, Arc<HashSet<String>>)>,
    /// `[[account.fit]]`: rules on the account's attributes (field conditions only).
    pub fit: Vec<FitRule>,
    /// `[[account.engagement]]`: aggregations of the members' engagement.
    pub engagement: Vec<AccountEngagementRule>,
    /// `[account.labels]`, highest bound first; empty: no account labels.
    pub labels: Vec<Threshold>,
    /// `[[account.stage]]` in file order; index 0 is where every account starts.
    pub stages: Vec<Stage>,
    /// `[[account.trigger]]` (actions: webhook, tag, notify).
    pub triggers: Vec<Trigger>,
    /// `[[account.route]]`; the first matching one hands the whole account to one owner.
    pub routes: Vec<Route>,
}

/// An `[[account.engagement]]` aggregation.
#[derive(Debug, Clone)]
pub struct AccountEngagementRule {
    /// Rule id (unique among account rules).
    pub id: String,
    /// Human label.
    pub label: Option<String>,
    /// For `top_contacts`: the factor on the summed engagement (default 1); otherwise
    /// the points per engaged contact or per distinct role.
    pub points: f64,
    /// How the members' engagement is aggregated.
    pub aggregate: Aggregate,
}

/// How an account engagement rule aggregates its members.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// `top_contacts = { n }`: the sum of the engagement of the `n` most engaged members.
    TopContacts {
        /// How many members count.
        n: u32,
    },
    /// `engaged_contacts = { min_engagement, max }`: `points` per member whose
    /// engagement is at least `min_engagement`, for at most `max` members.
    EngagedContacts {
        /// The engagement a member needs to count.
        min_engagement: f64,
        /// The most members counted; `None`: all.
        max: Option<u32>,
    },
    /// `distinct_roles = { field, min_engagement, max }`: `points` per distinct value
    /// (trimmed, compared case-insensitively) of `field` among engaged members.
    DistinctRoles {
        /// The attribute that names a member's role (`job_title`, `role`, ...).
        field: String,
        /// The engagement a member needs to count.
        min_engagement: f64,
        /// The most roles counted; `None`: all.
        max: Option<u32>,
    },
}

/// The `[score]` clamp.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreBounds {
    /// Lower clamp bound.
    pub min: Option<f64>,
    /// Upper clamp bound.
    pub max: Option<f64>,
}

/// A `[[fit]]` rule: points for who the contact is.
#[derive(Debug, Clone)]
pub struct FitRule {
    /// Rule id (unique among all rules of the model).
    pub id: String,
    /// Human label; `None` when the file gives none.
    pub label: Option<String>,
    /// Condition on the contact's attributes (field conditions and combinators only).
    pub when: Condition,
    /// Points added when `when` holds (may be negative).
    pub points: f64,
}

/// An `[[engagement]]` rule: points for what the contact did (or did not do).
#[derive(Debug, Clone)]
pub struct EngagementRule {
    /// Rule id.
    pub id: String,
    /// Human label.
    pub label: Option<String>,
    /// What makes an occurrence.
    pub source: EngagementSource,
    /// Points per counted occurrence, before decay and caps (may be negative).
    pub points: f64,
    /// Score group the rule's points belong to.
    pub group: Option<GroupId>,
    /// `limit = { max, per }`.
    pub limit: Option<Limit>,
    /// `within`: only occurrences at or after `now - within` count.
    pub within: Option<Millis>,
    /// `decay = { half_life }`: an occurrence's points halve every `half_life`.
    pub decay: Option<Millis>,
}

/// What produces an engagement rule's occurrences.
#[derive(Debug, Clone)]
pub enum EngagementSource {
    /// `event = NAME` plus an optional `when` on the event's fields.
    Event {
        /// The event name.
        event: EventNameId,
        /// Condition on the event's fields (`properties.url`, `name`, ...); field
        /// conditions and combinators only.
        when: Option<Condition>,
    },
    /// `absence = { after, expect, within }`.
    Absence {
        /// The event that opens a window (e.g. `Email Delivered`).
        after: EventNameId,
        /// Any of these inside the window is a reaction and closes it without occurrence.
        expect: Vec<EventNameId>,
        /// Window length after the `after` event.
        within: Millis,
    },
}

/// `limit = { max, per }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Most occurrences counted (in any `per` window, or ever).
    pub max: u32,
    /// Sliding window length; `None`: ever (subject to `within`).
    pub per: Option<Millis>,
}

/// A `[groups.NAME]` table.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Cap on the group's positive engagement points.
    pub max: Option<f64>,
}

/// A `[[disqualify]]` rule (knock-out).
#[derive(Debug, Clone)]
pub struct DisqualifyRule {
    /// Rule id.
    pub id: String,
    /// Human label.
    pub label: Option<String>,
    /// Condition on the contact's attributes.
    pub when: Condition,
}

/// A named lower bound (`A = 40`, `hot = 80`).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Grade letter or label name.
    pub name: String,
    /// Inclusive lower bound.
    pub min: f64,
}

/// A `[[stage]]`.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stage id (`lead`, `mql`, ...).
    pub id: String,
    /// Human label.
    pub label: Option<String>,
    /// Qualification criteria. Always `None` for the first stage.
    pub when: Option<Condition>,
    /// Zero engagement earned before entering this stage.
    pub reset_engagement: bool,
}

/// A `[[trigger]]`.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Trigger id.
    pub id: String,
    /// Human label.
    pub label: Option<String>,
    /// Fires when this becomes true.
    pub when: Condition,
    /// What happens when it fires.
    pub actions: Vec<Action>,
}

/// One action of a trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `{ webhook = URL }`.
    Webhook(String),
    /// `{ tag = NAME }`.
    Tag(String),
    /// `{ notify = EMAIL }`.
    Notify(String),
    /// `{ set_stage = STAGE }`.
    SetStage(StageId),
    /// `{ assign = "route" }` (`None`: first matching route) or `{ assign = { team = T } }`.
    Assign(Option<TeamId>),
}

/// A `[[route]]`.
#[derive(Debug, Clone)]
pub struct Route {
    /// Route id.
    pub id: String,
    /// Human label.
    pub label: Option<String>,
    /// When this route applies.
    pub when: Condition,
    /// `assign = { team = T }`.
    pub team: TeamId,
}

/// A `[teams.NAME]` table.
#[derive(Debug, Clone)]
pub struct Team {
    /// Team name.
    pub name: String,
    /// Member e-mail addresses, in file order (round-robin order). Never empty.
    pub members: Vec<String>,
    /// Open leads per member; `None`: unlimited.
    pub capacity: Option<u32>,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `{ field = F, OP = V, ... }`: every listed operator must hold.
    Field {
        /// Attribute or event field path, as written (`job_title`, `properties.url`).
        field: String,
        /// The operators of the leaf (at least one).
        ops: Vec<FieldOp>,
    },
    /// `{ all = [..] }` (empty: true).
    All(Vec<Condition>),
    /// `{ any = [..] }` (empty: false).
    Any(Vec<Condition>),
    /// `{ not = {..} }`.
    Not(Box<Condition>),
    /// `{ score_gte = 60 }`, `{ group = "g", score_gt = 30 }`; every comparison must hold.
    /// Compares the clamped, unrounded score (or the group's points).
    Score {
        /// `None`: the contact's score; `Some`: that group's points.
        group: Option<GroupId>,
        /// Comparisons (at least one).
        cmps: Vec<(Cmp, f64)>,
    },
    /// `{ grade_in = ["A","B"] }`.
    GradeIn(Vec<String>),
    /// `{ event = NAME, count_gte = N, within = D }`: how many events of that name
    /// (deduplicated, at or before `now`, inside `within` when given).
    EventCount {
        /// The event name.
        event: EventNameId,
        /// Comparisons on the count (at least one).
        cmps: Vec<(Cmp, f64)>,
        /// Window ending at `now`, inclusive.
        within: Option<Millis>,
    },
    /// `{ disqualified = true|false }`.
    Disqualified(bool),
    /// `{ stage = "mql" }`: the contact is in exactly this stage.
    Stage(StageId),
}

/// Numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `==`
    Eq,
}

impl Cmp {
    /// `lhs OP rhs`.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            Cmp::Gt => lhs > rhs,
            Cmp::Gte => lhs >= rhs,
            Cmp::Lt => lhs < rhs,
            Cmp::Lte => lhs <= rhs,
            Cmp::Eq => lhs == rhs,
        }
    }
}

/// A literal from the model file, prepared for both string and numeric comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// The literal as text, lower-cased (numbers and booleans in their TOML spelling).
    pub text: String,
    /// The literal as a number, when it is one or is a string that parses as one.
    pub number: Option<f64>,
    /// The literal as a boolean, when it is one.
    pub boolean: Option<bool>,
}

/// One operator of a field leaf.
#[derive(Debug, Clone)]
pub enum FieldOp {
    /// `eq`: numeric equality when both sides are numbers, boolean equality when both are
    /// booleans, otherwise case-insensitive string equality.
    Eq(Literal),
    /// `ne`: the negation of `eq`; holds for a missing field.
    Ne(Literal),
    /// `in`: `eq` to any.
    In(Vec<Literal>),
    /// `not_in`: `eq` to none; fails for a missing field.
    NotIn(Vec<Literal>),
    /// `in_list`: the named list, resolved to lower-cased strings.
    InList {
        /// The list's name (for explanations).
        name: String,
        /// Its values, lower-cased.
        values: Arc<HashSet<String>>,
    },
    /// `contains` (lower-cased needle).
    Contains(String),
    /// `starts_with` (lower-cased).
    StartsWith(String),
    /// `ends_with` (lower-cased).
    EndsWith(String),
    /// `matches`: the regex as written, unanchored.
    Matches(regex::Regex),
    /// `glob`: `*` and `?`, whole value, case-insensitive, compiled to an anchored regex.
    Glob(regex::Regex),
    /// `gt`, `gte`, `lt`, `lte` on numbers (strings that parse as numbers count).
    Compare(Cmp, f64),
    /// `exists = true|false`.
    Exists(bool),
}
