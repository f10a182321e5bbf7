//! Validate: walk the spanned tree, check everything, and build the checked model.
//!
//! This is the second loading stage (`syntax` -> `validate` -> `compile`). It reads the
//! [`crate::syntax`] tree key by key and reports *every* problem it finds as a
//! [`Diagnostic`] pointing at the offending key or value, with the enclosing rule's id.
//! It never stops at the first problem: each check records what is wrong and moves on, so
//! an author fixes a file in one round trip instead of ten.
//!
//! Checking happens in two passes. The first collects the declarations other parts refer
//! to (lists, groups, grades, stages, teams), so that a condition may name a stage declared
//! further down. The second checks every rule against them. Names are resolved here (to
//! indices or shared sets), so `compile` never has to look anything up.
//!
//! Warnings (an unused group or list, two grades with the same bound) are kept apart from
//! errors: they do not stop the model from loading.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use regex::Regex;

use crate::ast::{self, Cond, Lit, Op};
use crate::compiled::{Action, Cmp, GroupId, Limit, Millis, ScoreBounds, StageId, Team, Threshold};
use crate::diagnostics::{Diagnostic, Severity};
use crate::duration::{self, DURATION_HELP};
use crate::syntax::{Entry, Node, Source, Table, Value};

mod account;
mod machine;
mod prediction;
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use account::{
    ACCOUNT_ENGAGEMENT_KEYS, ACCOUNT_KEYS, ACCOUNT_STAGE_KEYS, DISTINCT_ROLES_KEYS,
    ENGAGED_CONTACTS_KEYS, TOP_CONTACTS_KEYS,
};
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use machine::{BURST_KEYS, MACHINE_KEYS};
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use prediction::PREDICTION_KEYS;

/// Keys allowed at the top level of a model file.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "score",
    "lists",
    "fit",
    "engagement",
    "groups",
    "disqualify",
    "grades",
    "labels",
    "stage",
    "trigger",
    "route",
    "teams",
    "machine",
    "prediction",
    "account",
];
/// Keys of `[score]`.
pub(crate) const SCORE_KEYS: &[&str] = &["min", "max"];
/// Keys of a `[[fit]]` rule.
pub(crate) const FIT_KEYS: &[&str] = &["id", "label", "when", "points"];
/// Keys of an `[[engagement]]` rule.
pub(crate) const ENGAGEMENT_KEYS: &[&str] = &[
    "id", "label", "event", "when", "absence", "points", "group", "limit", "within", "decay",
];
/// Keys of an engagement rule's `absence` table.
pub(crate) const ABSENCE_KEYS: &[&str] = &["after", "expect", "within"];
/// Keys of an engagement rule's `limit` table.
pub(crate) const LIMIT_KEYS: &[&str] = &["max", "per"];
/// Keys of an engagement rule's `decay` table.
pub(crate) const DECAY_KEYS: &[&str] = &["half_life"];
/// Keys of a `[groups.NAME]` table.
pub(crate) const GROUP_KEYS: &[&str] = &["max"];
/// Keys of a `[[disqualify]]` rule.
pub(crate) const DISQUALIFY_KEYS: &[&str] = &["id", "label", "when"];
/// Keys of a `[[stage]]`.
pub(crate) const STAGE_KEYS: &[&str] = &["id", "label", "when", "reset_engagement"];
/// Keys of a `[[trigger]]`.
pub(crate) const TRIGGER_KEYS: &[&str] = &["id", "label", "when", "actions"];
/// Keys of one trigger action (exactly one per action).
pub(crate) const ACTION_KEYS: &[&str] = &["webhook", "tag", "notify", "set_stage", "assign"];
/// Keys of a `[[route]]`.
pub(crate) const ROUTE_KEYS: &[&str] = &["id", "label", "when", "assign"];
/// Keys of an `assign = { .. }` table.
pub(crate) const ASSIGN_KEYS: &[&str] = &["team"];
/// Keys of a `[teams.NAME]` table.
pub(crate) const TEAM_KEYS: &[&str] = &["members", "capacity"];
/// Operators of a field condition.
pub(crate) const FIELD_OPERATORS: &[&str] = &[
    "eq",
    "ne",
    "in",
    "not_in",
    "in_list",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "glob",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
];
const SCORE_CONDITION_KEYS: &[&str] = &["score_gt", "score_gte", "score_lt", "score_lte", "group"];
const EVENT_CONDITION_KEYS: &[&str] = &[
    "event",
    "count_gte",
    "count_gt",
    "count_lt",
    "count_lte",
    "count_eq",
    "within",
];

/// Every key a condition table may hold, whatever its kind.
pub(crate) fn condition_keys() -> impl Iterator<Item = &'static str> {
    [
        "field",
        "all",
        "any",
        "not",
        "grade_in",
        "disqualified",
        "stage",
    ]
    .into_iter()
    .chain(FIELD_OPERATORS.iter().copied())
    .chain(SCORE_CONDITION_KEYS.iter().copied())
    .chain(EVENT_CONDITION_KEYS.iter().copied())
}

/// The most event names a model may mention: [`crate::EventNameId`] is 16 bits.
const MAX_EVENT_NAMES: usize = u16::MAX as usize + 1;

/// What validation found: the checked model when there are no errors, and every
/// diagnostic, errors and warnings apart, each sorted by position.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// `Some` exactly when `errors` is empty.
    pub model: Option<ast::Model>,
    /// Problems that stop the model from loading.
    pub errors: Vec<Diagnostic>,
    /// Problems that do not.
    pub warnings: Vec<Diagnostic>,
}

/// Check the parsed file `root` (a table) from `source`.
pub(crate) fn validate(source: &Source<'_>, root: &Node) -> Outcome {
    let mut checker = Checker {
        source,
        errors: Vec::new(),
        warnings: Vec::new(),
        rule: None,
        decl: Declarations::default(),
        used_lists: HashSet::new(),
        used_groups: HashSet::new(),
        used_teams: HashSet::new(),
        events: HashSet::new(),
    };
    let model = match &root.value {
        Value::Table(table) => checker.model(root, table),
        other => {
            checker.error(
                root.span.clone(),
                format!("a model must be a table, found {}", other.kind()),
            );
            None
        }
    };
    let Checker {
        mut errors,
        mut warnings,
        ..
    } = checker;
    errors.sort_by_key(|d| d.span.start);
    warnings.sort_by_key(|d| d.span.start);
    let model = match model {
        Some(model) if errors.is_empty() => Some(model),
        Some(_) => None,
        None => {
            if errors.is_empty() {
                // Every check that rejects a part reports why; reaching this is a bug, but
                // it must still never hand out a model that was not fully checked.
                errors.push(source.diagnostic(
                    Severity::Error,
                    0..0,
                    None,
                    "internal error: the model was rejected without a reason".to_owned(),
                    Some("please report this with the model file".to_owned()),
                ));
            }
            None
        }
    };
    Outcome {
        model,
        errors,
        warnings,
    }
}

/// The names other parts of the file can refer to, collected before rules are checked.
#[derive(Default)]
struct Declarations {
    /// `[lists]`: name, where it is declared, its values lower-cased.
    lists: Vec<(String, Range<usize>, Arc<HashSet<String>>)>,
    /// `[groups.NAME]`: name and where it is declared; the index is the [`GroupId`].
    groups: Vec<(String, Range<usize>)>,
    /// `[grades]` letters; empty without a `[grades]` table.
    grades: Vec<String>,
    /// `[[stage]]` ids in file order; the index is the [`StageId`] (first one wins for
    /// duplicates, which are errors anyway).
    stages: Vec<String>,
    /// `[teams.NAME]`: name, and its members when they were valid.
    teams: Vec<(String, Option<Vec<String>>)>,
    /// `[[account.stage]]` ids in file order (like `stages`).
    account_stages: Vec<String>,
}

/// Which part of the file a condition belongs to; decides which kinds it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Fit,
    Engagement,
    Disqualify,
    Stage,
    Trigger,
    Route,
    AccountFit,
    AccountStage,
    AccountTrigger,
    AccountRoute,
}

impl Place {
    /// A part of `[account]`.
    fn is_account(self) -> bool {
        matches!(
            self,
            Place::AccountFit | Place::AccountStage | Place::AccountTrigger | Place::AccountRoute
        )
    }

    /// Which kinds an account part may use: attributes everywhere; the account score
    /// and `disqualified` in stages, triggers and routes; the account stage in triggers
    /// and routes (an account stage is computed from its criteria, so its own criteria
    /// cannot name one).
    fn account_allows(self, family: Family) -> bool {
        match family {
            Family::Field | Family::All | Family::Any | Family::Not => true,
            Family::Score | Family::Disqualified => self != Place::AccountFit,
            Family::Stage => matches!(self, Place::AccountTrigger | Place::AccountRoute),
            Family::Grade | Family::Event => false,
        }
    }

    /// The rule's table as `rule_id` names it in messages (`fit`, `account.route`).
    fn table(self) -> &'static str {
        match self {
            Place::Fit => "fit",
            Place::Engagement => "engagement",
            Place::Disqualify => "disqualify",
            Place::Stage => "stage",
            Place::Trigger => "trigger",
            Place::Route => "route",
            Place::AccountFit => "account.fit",
            Place::AccountStage => "account.stage",
            Place::AccountTrigger => "account.trigger",
            Place::AccountRoute => "account.route",
        }
    }

    /// Stages, triggers and routes see the whole contact; the others only attributes or
    /// the event at hand.
    fn sees_scores(self) -> bool {
        matches!(self, Place::Stage | Place::Trigger | Place::Route)
    }

    fn describe(self) -> &'static str {
        match self {
            Place::Fit => "a `[[fit]]` rule",
            Place::Engagement => "an `[[engagement]]` rule",
            Place::Disqualify => "a `[[disqualify]]` rule",
            Place::Stage => "a `[[stage]]`",
            Place::Trigger => "a `[[trigger]]`",
            Place::Route => "a `[[route]]`",
            Place::AccountFit => "an `[[account.fit]]` rule",
            Place::AccountStage => "an `[[account.stage]]`",
            Place::AccountTrigger => "an `[[account.trigger]]`",
            Place::AccountRoute => "an `[[account.route]]`",
        }
    }
}

/// The kinds of condition; one condition table holds keys of exactly one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Field,
    All,
    Any,
    Not,
    Score,
    Grade,
    Event,
    Disqualified,
    Stage,
}

impl Family {
    fn of(key: &str) -> Option<Family> {
        Some(match key {
            "field" => Family::Field,
            "all" => Family::All,
            "any" => Family::Any,
            "not" => Family::Not,
            "grade_in" => Family::Grade,
            "disqualified" => Family::Disqualified,
            "stage" => Family::Stage,
            _ if FIELD_OPERATORS.contains(&key) => Family::Field,
            _ if SCORE_CONDITION_KEYS.contains(&key) => Family::Score,
            _ if EVENT_CONDITION_KEYS.contains(&key) => Family::Event,
            _ => return None,
        })
    }

    /// Only stages, triggers and routes may use this kind.
    fn needs_scores(self) -> bool {
        matches!(
            self,
            Family::Score | Family::Grade | Family::Event | Family::Disqualified | Family::Stage
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Family::Field => "a field condition",
            Family::All => "an `all` condition",
            Family::Any => "an `any` condition",
            Family::Not => "a `not` condition",
            Family::Score => "a score condition",
            Family::Grade => "a grade condition",
            Family::Event => "an event condition",
            Family::Disqualified => "a `disqualified` condition",
            Family::Stage => "a `stage` condition",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Family::Field => FIELD_OPERATORS,
            Family::All => &["all"],
            Family::Any => &["any"],
            Family::Not => &["not"],
            Family::Score => SCORE_CONDITION_KEYS,
            Family::Grade => &["grade_in"],
            Family::Event => EVENT_CONDITION_KEYS,
            Family::Disqualified => &["disqualified"],
            Family::Stage => &["stage"],
        }
    }
}

/// Where rule ids of one namespace were first seen: id -> line.
type IdLines = HashMap<String, usize>;

/// Walks the tree, collecting diagnostics. Every `fn` returns `None` when the part it
/// checked is invalid, *after* having reported why.
struct Checker<'s, 'a> {
    source: &'s Source<'a>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// The id of the rule being checked, copied into every diagnostic about it.
    rule: Option<String>,
    decl: Declarations,
    /// Lists named by some `in_list`, for the unused-list warning.
    used_lists: HashSet<String>,
    /// Groups named by a rule or a condition, for the unused-group warning.
    used_groups: HashSet<String>,
    /// Teams named by a route or an `assign` action (indices into `decl.teams`).
    used_teams: HashSet<usize>,
    /// Every event name mentioned, lower-cased, to bound their number.
    events: HashSet<String>,
}

impl Checker<'_, '_> {
    // ---------------------------------------------------------------- reporting

    fn error(&mut self, span: Range<usize>, message: String) {
        self.report(Severity::Error, span, message, None);
    }

    fn error_help(&mut self, span: Range<usize>, message: String, help: String) {
        self.report(Severity::Error, span, message, Some(help));
    }

    fn warning(&mut self, span: Range<usize>, message: String, help: String) {
        self.report(Severity::Warning, span, message, Some(help));
    }

    fn report(
        &mut self,
        severity: Severity,
        span: Range<usize>,
        message: String,
        help: Option<String>,
    ) {
        let diagnostic = self
            .source
            .diagnostic(severity, span, self.rule.clone(), message, help);
        match severity {
            Severity::Error => self.errors.push(diagnostic),
            Severity::Warning => self.warnings.push(diagnostic),
        }
    }

    fn type_error(&mut self, what: &str, expected: &str, node: &Node) {
        self.error(
            node.span.clone(),
            format!("{what} must be {expected}, found {}", node.value.kind()),
        );
    }

    // ---------------------------------------------------------------- keys

    /// Report every key of `table` not in `allowed`, suggesting a close one.
    fn check_keys(&mut self, table: &Table, allowed: &[&str], place: &str) {
        for entry in &table.entries {
            if !allowed.contains(&entry.key.as_str()) {
                let help = match suggest(&entry.key, allowed.iter().copied()) {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => format!("{place} takes {}", one_of(allowed)),
                };
                self.error_help(
                    entry.key_span.clone(),
                    format!("unknown key `{}` in {place}", entry.key),
                    help,
                );
            }
        }
    }

    /// The value of a required key, or an error at `at` (the table) when it is missing.
    ///
    /// A missing key is not reported again when an unknown key of the same table looks
    /// like a misspelling of it: the "did you mean" already says what to fix.
    fn required<'t>(
        &mut self,
        table: &'t Table,
        at: &Node,
        key: &str,
        what: &str,
    ) -> Option<&'t Node> {
        if let Some(entry) = table.get(key) {
            return Some(&entry.value);
        }
        let misspelt = table
            .entries
            .iter()
            .any(|entry| entry.key != key && suggest(&entry.key, [key]).is_some());
        if !misspelt {
            self.error_help(
                at.span.clone(),
                format!("missing `{key}`"),
                format!("{what} needs `{key}`"),
            );
        }
        None
    }

    /// Check an optional key with `check`: `Some(None)` when absent, `None` when invalid.
    fn optional<T>(
        &mut self,
        table: &Table,
        key: &str,
        check: impl FnOnce(&mut Self, &Node) -> Option<T>,
    ) -> Option<Option<T>> {
        match table.get(key) {
            None => Some(None),
            Some(entry) => check(self, &entry.value).map(Some),
        }
    }

    // ---------------------------------------------------------------- scalars

    fn string(&mut self, what: &str, node: &Node) -> Option<String> {
        match &node.value {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.type_error(what, "a string", node);
                None
            }
        }
    }

    fn non_empty_string(&mut self, what: &str, node: &Node) -> Option<String> {
        let text = self.string(what, node)?;
        if text.trim().is_empty() {
            self.error(node.span.clone(), format!("{what} must not be empty"));
            return None;
        }
        Some(text)
    }

    fn number(&mut self, what: &str, node: &Node) -> Option<f64> {
        match &node.value {
            Value::Integer(number) => Some(*number as f64),
            Value::Float(number) if number.is_finite() => Some(*number),
            Value::Float(_) => {
                self.error(node.span.clone(), format!("{what} must be a finite number"));
                None
            }
            Value::String(text) if text.trim().parse::<f64>().is_ok() => {
                self.error_help(
                    node.span.clone(),
                    format!("{what} must be a number, found a string"),
                    format!("write the number without quotes: `{}`", text.trim()),
                );
                None
            }
            _ => {
                self.type_error(what, "a number", node);
                None
            }
        }
    }

    fn boolean(&mut self, what: &str, node: &Node) -> Option<bool> {
        match &node.value {
            Value::Boolean(value) => Some(*value),
            _ => {
                self.type_error(what, "`true` or `false`", node);
                None
            }
        }
    }

    /// A positive integer that fits in `u32` (`limit.max`, `capacity`).
    fn positive_integer(&mut self, what: &str, node: &Node) -> Option<u32> {
        match &node.value {
            Value::Integer(number) => match u32::try_from(*number) {
                Ok(value) if value > 0 => Some(value),
                _ => {
                    self.error(
                        node.span.clone(),
                        format!("{what} must be a positive integer, found `{number}`"),
                    );
                    None
                }
            },
            _ => {
                self.type_error(what, "a positive integer", node);
                None
            }
        }
    }

    /// A count in an event condition: an integer, zero or more.
    fn count(&mut self, what: &str, node: &Node) -> Option<f64> {
        match &node.value {
            Value::Integer(number) if *number >= 0 => Some(*number as f64),
            Value::Integer(number) => {
                self.error(
                    node.span.clone(),
                    format!("{what} must not be negative, found `{number}`"),
                );
                None
            }
            _ => {
                self.type_error(what, "a whole number", node);
                None
            }
        }
    }

    fn duration(&mut self, what: &str, node: &Node) -> Option<Millis> {
        match &node.value {
            Value::String(text) => {
                let parsed = duration::parse(text);
                if parsed.is_none() {
                    self.error_help(
                        node.span.clone(),
                        format!("invalid duration `{text}` for {what}"),
                        DURATION_HELP.to_owned(),
                    );
                }
                parsed
            }
            _ => {
                self.error_help(
                    node.span.clone(),
                    format!(
                        "{what} must be a duration string, found {}",
                        node.value.kind()
                    ),
                    DURATION_HELP.to_owned(),
                );
                None
            }
        }
    }

    fn table<'n>(&mut self, what: &str, node: &'n Node) -> Option<&'n Table> {
        match &node.value {
            Value::Table(table) => Some(table),
            _ => {
                self.type_error(what, "a table", node);
                None
            }
        }
    }

    fn array<'n>(&mut self, what: &str, node: &'n Node) -> Option<&'n [Node]> {
        match &node.value {
            Value::Array(items) => Some(items),
            _ => {
                self.type_error(what, "an array", node);
                None
            }
        }
    }

    /// An array of strings; every bad item is reported.
    fn strings(&mut self, what: &str, node: &Node) -> Option<Vec<String>> {
        let items = self.array(what, node)?;
        let item_what = format!("each item of {what}");
        let strings: Vec<Option<String>> = items
            .iter()
            .map(|item| self.string(&item_what, item))
            .collect();
        strings.into_iter().collect()
    }

    /// An event name: a non-empty string, remembered for the event-name limit.
    fn event_name(&mut self, what: &str, node: &Node) -> Option<String> {
        let name = self.non_empty_string(what, node)?;
        self.events.insert(name.to_lowercase());
        Some(name)
    }

    fn label(&mut self, table: &Table) -> Option<Option<String>> {
        self.optional(table, "label", |c, node| c.string("`label`", node))
    }

    // ---------------------------------------------------------------- the file

    fn model(&mut self, root: &Node, table: &Table) -> Option<ast::Model> {
        self.check_keys(table, TOP_LEVEL_KEYS, "the top level");

        let version = self.version(root, table);
        let name = self
            .required(table, root, "name", "a model")
            .and_then(|node| self.non_empty_string("`name`", node));
        let description = self.optional(table, "description", |c, node| {
            c.string("`description`", node)
        });
        let score = self.score(table);

        // Declarations first: rules refer to them.
        self.lists(table);
        let groups = self.groups(table);
        let grades = self.thresholds(table, "grades", "grade");
        let labels = self.thresholds(table, "labels", "label");
        let teams = self.teams(table);
        let stage_nodes = self.rule_tables(table, "stage");
        self.decl.stages = stage_ids(&stage_nodes);

        // Rules. Fit, engagement and disqualify rules share one id namespace.
        let mut rule_ids = IdLines::new();
        let fit: Vec<_> = self
            .rule_tables(table, "fit")
            .into_iter()
            .map(|node| self.in_rule(node, |c, t| c.fit_rule(node, t, &mut rule_ids, Place::Fit)))
            .collect();
        let engagement: Vec<_> = self
            .rule_tables(table, "engagement")
            .into_iter()
            .map(|node| self.in_rule(node, |c, t| c.engagement_rule(node, t, &mut rule_ids)))
            .collect();
        let disqualify: Vec<_> = self
            .rule_tables(table, "disqualify")
            .into_iter()
            .map(|node| self.in_rule(node, |c, t| c.disqualify_rule(node, t, &mut rule_ids)))
            .collect();
        let mut stage_ids = IdLines::new();
        let stages: Vec<_> = stage_nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                self.in_rule(node, |c, t| {
                    c.stage(node, t, index, &mut stage_ids, Place::Stage)
                })
            })
            .collect();
        let mut trigger_ids = IdLines::new();
        let triggers: Vec<_> = self
            .rule_tables(table, "trigger")
            .into_iter()
            .map(|node| {
                self.in_rule(node, |c, t| {
                    c.trigger(node, t, &mut trigger_ids, Place::Trigger)
                })
            })
            .collect();
        let mut route_ids = IdLines::new();
        let routes: Vec<_> = self
            .rule_tables(table, "route")
            .into_iter()
            .map(|node| self.in_rule(node, |c, t| c.route(node, t, &mut route_ids, Place::Route)))
            .collect();

        let machine = self.machine(table);
        let prediction = self.prediction(table);
        let account = self.account(table);
        self.unused_declarations(table);
        if self.events.len() > MAX_EVENT_NAMES {
            self.error(
                root.span.clone(),
                format!(
                    "the model names {} different events, more than the {MAX_EVENT_NAMES} supported",
                    self.events.len()
                ),
            );
        }

        let _: Option<String> = description?;
        Some(ast::Model {
            name: name?,
            version: version?,
            score: score?,
            fit: fit.into_iter().collect::<Option<_>>()?,
            engagement: engagement.into_iter().collect::<Option<_>>()?,
            groups: groups?,
            disqualify: disqualify.into_iter().collect::<Option<_>>()?,
            grades: grades?,
            labels: labels?,
            stages: stages.into_iter().collect::<Option<_>>()?,
            triggers: triggers.into_iter().collect::<Option<_>>()?,
            routes: routes.into_iter().collect::<Option<_>>()?,
            teams: teams?,
            machine: machine?,
            prediction: prediction?,
            account: account?,
        })
    }

    fn version(&mut self, root: &Node, table: &Table) -> Option<u32> {
        let node = self.required(table, root, "version", "a model")?;
        match &node.value {
            Value::Integer(1) => Some(1),
            Value::Integer(other) => {
                self.error_help(
                    node.span.clone(),
                    format!("unsupported model version `{other}`"),
                    "this leadscore reads `version = 1`".to_owned(),
                );
                None
            }
            _ => {
                self.type_error("`version`", "an integer", node);
                None
            }
        }
    }

    fn score(&mut self, root: &Table) -> Option<ScoreBounds> {
        let Some(entry) = root.get("score") else {
            return Some(ScoreBounds::default());
        };
        let table = self.table("`score`", &entry.value)?;
        self.check_keys(table, SCORE_KEYS, "`[score]`");
        let min = self.optional(table, "min", |c, node| c.number("`min`", node));
        let max = self.optional(table, "max", |c, node| c.number("`max`", node));
        let (min, max) = (min?, max?);
        match (min, max, table.get("max")) {
            (Some(low), Some(high), Some(at)) if low > high => {
                self.error(
                    at.value.span.clone(),
                    format!("`max` (`{high}`) is below `min` (`{low}`)"),
                );
                None
            }
            _ => Some(ScoreBounds { min, max }),
        }
    }

    /// The sub-tables of a `[name.KEY]` family (`groups`, `teams`): key, key span, table.
    fn named_tables<'t>(
        &mut self,
        root: &'t Table,
        key: &str,
    ) -> Vec<(&'t Entry, Option<&'t Table>)> {
        let Some(entry) = root.get(key) else {
            return Vec::new();
        };
        let Value::Table(table) = &entry.value.value else {
            self.error_help(
                entry.value.span.clone(),
                format!(
                    "`{key}` must be a table, found {}",
                    entry.value.value.kind()
                ),
                format!("declare each one as `[{key}.NAME]`"),
            );
            return Vec::new();
        };
        table
            .entries
            .iter()
            .map(|item| {
                let what = format!("`{key}.{}`", item.key);
                (item, self.table(&what, &item.value))
            })
            .collect()
    }

    fn lists(&mut self, root: &Table) {
        let Some(entry) = root.get("lists") else {
            return;
        };
        let Some(table) = self.table("`lists`", &entry.value) else {
            return;
        };
        for item in &table.entries {
            let what = format!("list `{}`", item.key);
            let values = self
                .strings(&what, &item.value)
                .unwrap_or_default()
                .into_iter()
                .map(|value| value.to_lowercase())
                .collect();
            // Declared even when invalid, so that uses do not also say "unknown list".
            self.decl
                .lists
                .push((item.key.clone(), item.key_span.clone(), Arc::new(values)));
        }
    }

    fn groups(&mut self, root: &Table) -> Option<Vec<(String, Option<f64>)>> {
        let mut groups = Vec::new();
        let mut valid = true;
        for (entry, table) in self.named_tables(root, "groups") {
            self.decl
                .groups
                .push((entry.key.clone(), entry.key_span.clone()));
            let Some(table) = table else {
                valid = false;
                continue;
            };
            self.rule = Some(entry.key.clone());
            self.check_keys(table, GROUP_KEYS, &format!("`[groups.{}]`", entry.key));
            let max = self.optional(table, "max", |c, node| {
                let max = c.number("`max`", node)?;
                if max < 0.0 {
                    c.error_help(
                        node.span.clone(),
                        format!("`max` must not be negative, found `{max}`"),
                        "`max` caps the points a group can add".to_owned(),
                    );
                    return None;
                }
                Some(max)
            });
            self.rule = None;
            match max {
                Some(max) => groups.push((entry.key.clone(), max)),
                None => valid = false,
            }
        }
        valid.then_some(groups)
    }

    /// `[grades]` or `[labels]`: `NAME = bound`.
    fn thresholds(&mut self, root: &Table, key: &str, what: &str) -> Option<Vec<Threshold>> {
        let Some(entry) = root.get(key) else {
            return Some(Vec::new());
        };
        let table = self.table(&format!("`{key}`"), &entry.value)?;
        let mut thresholds: Vec<Threshold> = Vec::new();
        let mut valid = true;
        for item in &table.entries {
            if key == "grades" {
                self.decl.grades.push(item.key.clone());
            }
            let Some(min) = self.number(&format!("{what} `{}`", item.key), &item.value) else {
                valid = false;
                continue;
            };
            if let Some(same) = thresholds.iter().find(|t| t.min == min) {
                let first = same.name.clone();
                self.warning(
                    item.key_span.clone(),
                    format!(
                        "{what} `{}` has the same bound `{min}` as {what} `{first}`",
                        item.key
                    ),
                    format!(
                        "only `{first}` is ever given; use a different bound or remove `{}`",
                        item.key
                    ),
                );
            }
            thresholds.push(Threshold {
                name: item.key.clone(),
                min,
            });
        }
        valid.then_some(thresholds)
    }

    fn teams(&mut self, root: &Table) -> Option<Vec<Team>> {
        let mut teams = Vec::new();
        let mut valid = true;
        for (entry, table) in self.named_tables(root, "teams") {
            let Some(table) = table else {
                self.decl.teams.push((entry.key.clone(), None));
                valid = false;
                continue;
            };
            self.rule = Some(entry.key.clone());
            let place = format!("`[teams.{}]`", entry.key);
            self.check_keys(table, TEAM_KEYS, &place);
            let members = self
                .required(table, &entry.value, "members", &place)
                .and_then(|node| {
                    let members = self.strings("`members`", node)?;
                    let blank = members.iter().any(|member| member.trim().is_empty());
                    if blank {
                        self.error(node.span.clone(), "`members` has an empty entry".to_owned());
                        return None;
                    }
                    Some(members)
                });
            let capacity = self.optional(table, "capacity", |c, node| {
                c.positive_integer("`capacity`", node)
            });
            self.rule = None;
            self.decl.teams.push((entry.key.clone(), members.clone()));
            match (members, capacity) {
                (Some(members), Some(capacity)) => teams.push(Team {
                    name: entry.key.clone(),
                    members,
                    capacity,
                }),
                _ => valid = false,
            }
        }
        valid.then_some(teams)
    }

    /// Warnings for declarations nothing uses, and the error for an empty team nothing
    /// names (a team must have members; when a route names it, the route says so).
    fn unused_declarations(&mut self, root: &Table) {
        let lists: Vec<_> = self
            .decl
            .lists
            .iter()
            .filter(|(name, _, _)| !self.used_lists.contains(name))
            .map(|(name, span, _)| (name.clone(), span.clone()))
            .collect();
        for (name, span) in lists {
            self.warning(
                span,
                format!("list `{name}` is never used"),
                "use it with `in_list` or remove it".to_owned(),
            );
        }
        let groups: Vec<_> = self
            .decl
            .groups
            .iter()
            .filter(|(name, _)| !self.used_groups.contains(name))
            .cloned()
            .collect();
        for (name, span) in groups {
            self.rule = Some(name.clone());
            self.warning(
                span,
                format!("group `{name}` is never used"),
                "name it with `group` in an engagement rule or a score condition, or remove it"
                    .to_owned(),
            );
            self.rule = None;
        }
        let Some(Value::Table(teams)) = root.get("teams").map(|entry| &entry.value.value) else {
            return;
        };
        for (index, (name, members)) in self.decl.teams.clone().into_iter().enumerate() {
            let empty = members.is_some_and(|members| members.is_empty());
            if empty && !self.used_teams.contains(&index) {
                let span = teams
                    .get(&name)
                    .and_then(|team| match &team.value.value {
                        Value::Table(table) => table.get("members"),
                        _ => None,
                    })
                    .map_or(0..0, |members| members.value.span.clone());
                self.rule = Some(name.clone());
                self.error_help(
                    span,
                    format!("team `{name}` has no members"),
                    "add at least one member, or remove the team".to_owned(),
                );
                self.rule = None;
            }
        }
    }

    // ---------------------------------------------------------------- rules

    /// The tables of an array of tables (`[[fit]]`), reporting anything else.
    fn rule_tables<'t>(&mut self, root: &'t Table, key: &str) -> Vec<&'t Node> {
        let Some(entry) = root.get(key) else {
            return Vec::new();
        };
        match &entry.value.value {
            Value::Array(items) => items
                .iter()
                .filter(|item| {
                    let is_table = matches!(item.value, Value::Table(_));
                    if !is_table {
                        self.type_error(&format!("each `{key}` entry"), "a table", item);
                    }
                    is_table
                })
                .collect(),
            other => {
                self.error_help(
                    entry.key_span.clone(),
                    format!("`{key}` must be an array of tables, found {}", other.kind()),
                    format!("write `[[{key}]]` (double brackets) before each one"),
                );
                Vec::new()
            }
        }
    }

    /// Run `check` on a rule table with the rule's id as diagnostic context.
    fn in_rule<T>(
        &mut self,
        node: &Node,
        check: impl FnOnce(&mut Self, &Table) -> Option<T>,
    ) -> Option<T> {
        let Value::Table(table) = &node.value else {
            return None;
        };
        self.rule = match table.get("id").map(|id| &id.value.value) {
            Some(Value::String(id)) => Some(id.clone()),
            _ => None,
        };
        let result = check(self, table);
        self.rule = None;
        result
    }

    /// The rule's `id`: present, a string, well-formed, and unique in `seen`.
    fn rule_id(
        &mut self,
        node: &Node,
        table: &Table,
        kind: &str,
        seen: &mut IdLines,
    ) -> Option<String> {
        let what = format!("every `[[{kind}]]`");
        let id_node = self.required(table, node, "id", &what)?;
        let id = self.string("`id`", id_node)?;
        let well_formed = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !well_formed {
            self.error_help(
                id_node.span.clone(),
                format!("invalid id `{id}`"),
                "ids use only letters, digits, `_`, `.` and `-`".to_owned(),
            );
            return None;
        }
        let namespace = match kind {
            "fit" | "engagement" | "disqualify" => "rule",
            "account.fit" | "account.engagement" => "account rule",
            other => other,
        };
        let line = self.source.line_of(id_node.span.start);
        if let Some(first) = seen.get(&id) {
            let first = *first;
            self.error_help(
                id_node.span.clone(),
                format!("duplicate {namespace} id `{id}`"),
                format!("`{id}` is first used on line {first}; ids must be unique"),
            );
            return None;
        }
        seen.insert(id.clone(), line);
        Some(id)
    }

    /// A `[[fit]]` rule, or an `[[account.fit]]` one when `place` says so.
    fn fit_rule(
        &mut self,
        node: &Node,
        table: &Table,
        ids: &mut IdLines,
        place: Place,
    ) -> Option<ast::FitRule> {
        let what = place.describe();
        self.check_keys(table, FIT_KEYS, what);
        let id = self.rule_id(node, table, place.table(), ids);
        let label = self.label(table);
        let when = self
            .required(table, node, "when", what)
            .and_then(|when| self.condition(when, place));
        let points = self
            .required(table, node, "points", what)
            .and_then(|points| self.number("`points`", points));
        Some(ast::FitRule {
            id: id?,
            label: label?,
            when: when?,
            points: points?,
        })
    }

    fn disqualify_rule(
        &mut self,
        node: &Node,
        table: &Table,
        ids: &mut IdLines,
    ) -> Option<ast::DisqualifyRule> {
        self.check_keys(table, DISQUALIFY_KEYS, "a `[[disqualify]]` rule");
        let id = self.rule_id(node, table, "disqualify", ids);
        let label = self.label(table);
        let when = self
            .required(table, node, "when", "a `[[disqualify]]` rule")
            .and_then(|when| self.condition(when, Place::Disqualify));
        Some(ast::DisqualifyRule {
            id: id?,
            label: label?,
            when: when?,
        })
    }

    fn engagement_rule(
        &mut self,
        node: &Node,
        table: &Table,
        ids: &mut IdLines,
    ) -> Option<ast::EngagementRule> {
        const WHAT: &str = "an `[[engagement]]` rule";
        self.check_keys(table, ENGAGEMENT_KEYS, WHAT);
        let id = self.rule_id(node, table, "engagement", ids);
        let label = self.label(table);
        let source = self.engagement_source(node, table);
        let points = self
            .required(table, node, "points", WHAT)
            .and_then(|points| self.number("`points`", points));
        let group = self.optional(table, "group", |c, node| c.group_ref("`group`", node));
        let limit = self.optional(table, "limit", |c, node| c.limit(node));
        let within = self.optional(table, "within", |c, node| c.duration("`within`", node));
        let decay = self.optional(table, "decay", |c, node| {
            let decay = c.table("`decay`", node)?;
            c.check_keys(decay, DECAY_KEYS, "`decay`");
            let half_life = c.required(decay, node, "half_life", "`decay`")?;
            c.duration("`decay.half_life`", half_life)
        });
        Some(ast::EngagementRule {
            id: id?,
            label: label?,
            source: source?,
            points: points?,
            group: group?,
            limit: limit?,
            within: within?,
            decay: decay?,
        })
    }

    /// `event` (+ `when`) or `absence`: exactly one of the two.
    fn engagement_source(&mut self, node: &Node, table: &Table) -> Option<ast::Source> {
        let event = table.get("event");
        let absence = table.get("absence");
        let when = table.get("when");
        let mut valid = true;
        match (event, absence) {
            (Some(_), Some(absence)) => {
                self.error_help(
                    absence.key_span.clone(),
                    "an engagement rule has either `event` or `absence`, not both".to_owned(),
                    "split it into two rules".to_owned(),
                );
                valid = false;
            }
            (None, None) => {
                self.error_help(
                    node.span.clone(),
                    "missing `event` or `absence`".to_owned(),
                    "an engagement rule counts an `event`, or the `absence` of a reaction"
                        .to_owned(),
                );
                valid = false;
            }
            _ => {}
        }
        if let (Some(when), None, Some(_)) = (when, event, absence) {
            self.error_help(
                when.key_span.clone(),
                "`when` cannot be used with `absence`".to_owned(),
                "an absence rule matches event names only".to_owned(),
            );
            valid = false;
        }
        let event = event.map(|event| {
            let name = self.event_name("`event`", &event.value);
            let when = self.optional(table, "when", |c, node| {
                c.condition(node, Place::Engagement)
            });
            Some(ast::Source::Event {
                event: name?,
                when: when?,
            })
        });
        let absence = absence.map(|absence| self.absence(&absence.value));
        if !valid {
            return None;
        }
        event.or(absence).flatten()
    }

    fn absence(&mut self, node: &Node) -> Option<ast::Source> {
        let table = self.table("`absence`", node)?;
        self.check_keys(table, ABSENCE_KEYS, "`absence`");
        let after = self
            .required(table, node, "after", "`absence`")
            .and_then(|after| self.event_name("`absence.after`", after));
        let expect = self
            .required(table, node, "expect", "`absence`")
            .and_then(|expect| match &expect.value {
                Value::String(_) => self
                    .event_name("`absence.expect`", expect)
                    .map(|name| vec![name]),
                Value::Array(items) => {
                    if items.is_empty() {
                        self.error(
                            expect.span.clone(),
                            "`absence.expect` must name at least one event".to_owned(),
                        );
                        return None;
                    }
                    let names: Vec<_> = items
                        .iter()
                        .map(|item| self.event_name("each item of `absence.expect`", item))
                        .collect();
                    names.into_iter().collect()
                }
                _ => {
                    self.type_error(
                        "`absence.expect`",
                        "an event name or an array of event names",
                        expect,
                    );
                    None
                }
            });
        let within = self
            .required(table, node, "within", "`absence`")
            .and_then(|within| self.duration("`absence.within`", within));
        Some(ast::Source::Absence {
            after: after?,
            expect: expect?,
            within: within?,
        })
    }

    fn limit(&mut self, node: &Node) -> Option<Limit> {
        let table = self.table("`limit`", node)?;
        self.check_keys(table, LIMIT_KEYS, "`limit`");
        let max = self
            .required(table, node, "max", "`limit`")
            .and_then(|max| self.positive_integer("`limit.max`", max));
        let per = self.optional(table, "per", |c, node| c.duration("`limit.per`", node));
        Some(Limit {
            max: max?,
            per: per?,
        })
    }

    fn stage(
        &mut self,
        node: &Node,
        table: &Table,
        index: usize,
        ids: &mut IdLines,
        place: Place,
    ) -> Option<ast::Stage> {
        let keys = if place.is_account() {
            ACCOUNT_STAGE_KEYS
        } else {
            STAGE_KEYS
        };
        self.check_keys(table, keys, place.describe());
        let id = self.rule_id(node, table, place.table(), ids);
        let label = self.label(table);
        let when = match (index, table.get("when")) {
            (0, Some(when)) => {
                let first = id.clone().unwrap_or_else(|| "the first stage".to_owned());
                self.error_help(
                    when.key_span.clone(),
                    "the first stage cannot have `when`".to_owned(),
                    format!(
                        "every contact starts in `{first}`; put the criteria on the next stage"
                    ),
                );
                None
            }
            (_, None) => Some(None),
            (_, Some(when)) => self.condition(&when.value, place).map(Some),
        };
        let reset_engagement = self.optional(table, "reset_engagement", |c, node| {
            c.boolean("`reset_engagement`", node)
        });
        Some(ast::Stage {
            id: id?,
            label: label?,
            when: when?,
            reset_engagement: reset_engagement?.unwrap_or(false),
        })
    }

    /// A `[[trigger]]`, or an `[[account.trigger]]` when `place` says so.
    fn trigger(
        &mut self,
        node: &Node,
        table: &Table,
        ids: &mut IdLines,
        place: Place,
    ) -> Option<ast::Trigger> {
        let what = place.describe();
        self.check_keys(table, TRIGGER_KEYS, what);
        let id = self.rule_id(node, table, place.table(), ids);
        let label = self.label(table);
        let when = self
            .required(table, node, "when", what)
            .and_then(|when| self.condition(when, place));
        let actions = self
            .required(table, node, "actions", what)
            .and_then(|actions| {
                let items = self.array("`actions`", actions)?;
                if items.is_empty() {
                    self.error_help(
                        actions.span.clone(),
                        "`actions` is empty".to_owned(),
                        format!("add at least one of {}", one_of(ACTION_KEYS)),
                    );
                    return None;
                }
                let actions: Vec<_> = items
                    .iter()
                    .map(|item| {
                        if place.is_account() {
                            self.account_action(item)
                        } else {
                            self.action(item)
                        }
                    })
                    .collect();
                actions.into_iter().collect()
            });
        Some(ast::Trigger {
            id: id?,
            label: label?,
            when: when?,
            actions: actions?,
        })
    }

    fn action(&mut self, node: &Node) -> Option<Action> {
        let table = self.table("each action", node)?;
        self.check_keys(table, ACTION_KEYS, "an action");
        let known: Vec<&Entry> = table
            .entries
            .iter()
            .filter(|entry| ACTION_KEYS.contains(&entry.key.as_str()))
            .collect();
        let (entry, rest) = match known.as_slice() {
            [] => {
                if table.entries.is_empty() {
                    self.error_help(
                        node.span.clone(),
                        "empty action".to_owned(),
                        format!("an action is one of {}", one_of(ACTION_KEYS)),
                    );
                }
                return None;
            }
            [entry, rest @ ..] => (*entry, rest),
        };
        if let Some(second) = rest.first() {
            self.error_help(
                second.key_span.clone(),
                format!(
                    "an action does one thing, found `{}` and `{}`",
                    entry.key, second.key
                ),
                "write each action as its own table: `actions = [ { tag = \"hot\" }, { notify = \"...\" } ]`"
                    .to_owned(),
            );
            return None;
        }
        let value = &entry.value;
        match entry.key.as_str() {
            "webhook" => {
                let url = self.string("`webhook`", value)?;
                let is_http = ["http://", "https://"].iter().any(|scheme| {
                    url.get(..scheme.len())
                        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
                        && url.len() > scheme.len()
                });
                if !is_http || url.chars().any(char::is_whitespace) {
                    self.error_help(
                        value.span.clone(),
                        format!("webhook `{url}` is not an http(s) URL"),
                        "write a URL like `https://crm.example.com/hooks/lead`".to_owned(),
                    );
                    return None;
                }
                Some(Action::Webhook(url))
            }
            "tag" => self.non_empty_string("`tag`", value).map(Action::Tag),
            "notify" => {
                let address = self.string("`notify`", value)?;
                let well_formed = address
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
                    && !address.chars().any(char::is_whitespace);
                if !well_formed {
                    self.error(
                        value.span.clone(),
                        format!("`{address}` is not an e-mail address"),
                    );
                    return None;
                }
                Some(Action::Notify(address))
            }
            "set_stage" => {
                let name = self.string("`set_stage`", value)?;
                self.stage_ref(&name, value, false).map(Action::SetStage)
            }
            _ => match &value.value {
                Value::String(text) if text == "route" => Some(Action::Assign(None)),
                Value::Table(_) => self.team_ref(value).map(|team| Action::Assign(Some(team))),
                _ => {
                    self.error_help(
                        value.span.clone(),
                        "`assign` must be `\"route\"` or `{ team = \"NAME\" }`".to_owned(),
                        "`\"route\"` hands the contact to the first matching route".to_owned(),
                    );
                    None
                }
            },
        }
    }

    /// A `[[route]]`, or an `[[account.route]]` when `place` says so.
    fn route(
        &mut self,
        node: &Node,
        table: &Table,
        ids: &mut IdLines,
        place: Place,
    ) -> Option<ast::Route> {
        let what = place.describe();
        self.check_keys(table, ROUTE_KEYS, what);
        let id = self.rule_id(node, table, place.table(), ids);
        let label = self.label(table);
        let when = self
            .required(table, node, "when", what)
            .and_then(|when| self.condition(when, place));
        let team = self
            .required(table, node, "assign", what)
            .and_then(|assign| match &assign.value {
                Value::Table(_) => self.team_ref(assign),
                _ => {
                    self.error_help(
                        assign.span.clone(),
                        format!(
                            "a route's `assign` must be a table, found {}",
                            assign.value.kind()
                        ),
                        "write `assign = { team = \"NAME\" }`".to_owned(),
                    );
                    None
                }
            });
        Some(ast::Route {
            id: id?,
            label: label?,
            when: when?,
            team: team?,
        })
    }

    // ---------------------------------------------------------------- references

    /// `assign = { team = T }`: a declared team with members.
    fn team_ref(&mut self, node: &Node) -> Option<usize> {
        let table = self.table("`assign`", node)?;
        self.check_keys(table, ASSIGN_KEYS, "`assign`");
        let team = self.required(table, node, "team", "`assign`")?;
        let name = self.string("`assign.team`", team)?;
        let found = self
            .decl
            .teams
            .iter()
            .enumerate()
            .find(|(_, (known, _))| *known == name)
            .map(|(index, (_, members))| (index, members.as_ref().is_some_and(Vec::is_empty)));
        let Some((index, empty)) = found else {
            let help = match suggest(&name, self.decl.teams.iter().map(|(n, _)| n.as_str())) {
                Some(known) => format!("did you mean `{known}`?"),
                None => format!("declare it as `[teams.{name}]`"),
            };
            self.error_help(team.span.clone(), format!("unknown team `{name}`"), help);
            return None;
        };
        self.used_teams.insert(index);
        if empty {
            self.error_help(
                team.span.clone(),
                format!("team `{name}` has no members"),
                format!("add at least one member to `members` in `[teams.{name}]`"),
            );
            return None;
        }
        Some(index)
    }

    /// A contact stage, or an account stage when `account`.
    fn stage_ref(&mut self, name: &str, node: &Node, account: bool) -> Option<StageId> {
        let (stages, header, what) = if account {
            (
                &self.decl.account_stages,
                "[[account.stage]]",
                "account stage",
            )
        } else {
            (&self.decl.stages, "[[stage]]", "stage")
        };
        let index = stages.iter().position(|known| known == name);
        if index.is_none() {
            let help = match suggest(name, stages.iter().map(String::as_str)) {
                Some(known) => format!("did you mean `{known}`?"),
                None if stages.is_empty() => format!("declare {what}s with `{header}`"),
                None => format!("declared {what}s: {}", listing(stages)),
            };
            self.error_help(node.span.clone(), format!("unknown {what} `{name}`"), help);
        }
        index
    }

    fn group_ref(&mut self, what: &str, node: &Node) -> Option<GroupId> {
        let name = self.string(what, node)?;
        let index = self
            .decl
            .groups
            .iter()
            .position(|(known, _)| *known == name);
        match index {
            Some(_) => {
                self.used_groups.insert(name);
            }
            None => {
                let help = match suggest(&name, self.decl.groups.iter().map(|(n, _)| n.as_str())) {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => format!("declare it as `[groups.{name}]`"),
                };
                self.error_help(node.span.clone(), format!("unknown group `{name}`"), help);
            }
        }
        index
    }

    fn list_ref(&mut self, node: &Node) -> Option<Op> {
        let name = self.string("`in_list`", node)?;
        let found = self
            .decl
            .lists
            .iter()
            .find(|(known, _, _)| *known == name)
            .map(|(_, _, values)| Arc::clone(values));
        match found {
            Some(values) => {
                self.used_lists.insert(name.clone());
                Some(Op::InList { name, values })
            }
            None => {
                let help = match suggest(&name, self.decl.lists.iter().map(|(n, _, _)| n.as_str()))
                {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => format!("declare it under `[lists]`: `{name} = [..]`"),
                };
                self.error_help(node.span.clone(), format!("unknown list `{name}`"), help);
                None
            }
        }
    }

    fn grade_ref(&mut self, node: &Node) -> Option<String> {
        let grade = self.string("each item of `grade_in`", node)?;
        if self.decl.grades.is_empty() {
            self.error_help(
                node.span.clone(),
                format!("unknown grade `{grade}`"),
                "declare grades under `[grades]`".to_owned(),
            );
            return None;
        }
        let known = |g: &str| g == grade;
        if self.decl.grades.iter().any(|g| known(g)) || grade == "D" {
            return Some(grade);
        }
        let mut letters: Vec<&str> = self.decl.grades.iter().map(String::as_str).collect();
        if !letters.contains(&"D") {
            letters.push("D");
        }
        let help = match suggest(&grade, letters.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("declared grades: {}", listing(&letters)),
        };
        self.error_help(node.span.clone(), format!("unknown grade `{grade}`"), help);
        None
    }

    // ---------------------------------------------------------------- conditions

    fn condition(&mut self, node: &Node, place: Place) -> Option<Cond> {
        let Value::Table(table) = &node.value else {
            self.error_help(
                node.span.clone(),
                format!("a condition must be a table, found {}", node.value.kind()),
                "write it like `{ field = \"country\", eq = \"DE\" }`".to_owned(),
            );
            return None;
        };
        if table.entries.is_empty() {
            self.error_help(
                node.span.clone(),
                "empty condition".to_owned(),
                "write it like `{ field = \"country\", eq = \"DE\" }`".to_owned(),
            );
            return None;
        }
        let family = if table.get("field").is_some() {
            Some(Family::Field)
        } else {
            table
                .entries
                .iter()
                .find_map(|entry| Family::of(&entry.key))
        };
        let Some(family) = family else {
            for entry in &table.entries {
                let help = match suggest(&entry.key, condition_keys()) {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => "a condition tests a `field`, a score, a grade, an event, a stage or `disqualified`, or combines conditions with `all`, `any` or `not`".to_owned(),
                };
                self.error_help(
                    entry.key_span.clone(),
                    format!("unknown key `{}` in a condition", entry.key),
                    help,
                );
            }
            return None;
        };

        // Every key must belong to the condition's kind.
        let mut keys_ok = true;
        let mut mixed_reported = false;
        for entry in &table.entries {
            match Family::of(&entry.key) {
                None => {
                    keys_ok = false;
                    if family == Family::Field {
                        let candidates = FIELD_OPERATORS.iter().copied().chain(["field"]);
                        let help = match suggest(&entry.key, candidates) {
                            Some(known) => format!("did you mean `{known}`?"),
                            None => format!("operators are {}", one_of(FIELD_OPERATORS)),
                        };
                        self.error_help(
                            entry.key_span.clone(),
                            format!("unknown operator `{}`", entry.key),
                            help,
                        );
                    } else {
                        let help = match suggest(&entry.key, family.keys().iter().copied())
                            .or_else(|| suggest(&entry.key, condition_keys()))
                        {
                            Some(known) => format!("did you mean `{known}`?"),
                            None => {
                                format!("{} takes {}", family.describe(), one_of(family.keys()))
                            }
                        };
                        self.error_help(
                            entry.key_span.clone(),
                            format!("unknown key `{}` in {}", entry.key, family.describe()),
                            help,
                        );
                    }
                }
                Some(other) if other != family => {
                    keys_ok = false;
                    if !mixed_reported {
                        mixed_reported = true;
                        let first = table
                            .entries
                            .iter()
                            .find(|e| Family::of(&e.key) == Some(family))
                            .map_or("", |e| e.key.as_str());
                        self.error_help(
                            entry.key_span.clone(),
                            format!(
                                "`{}` cannot be combined with `{first}` in one condition",
                                entry.key
                            ),
                            "combine conditions with `all = [ {..}, {..} ]`".to_owned(),
                        );
                    }
                }
                Some(_) => {}
            }
        }

        if place.is_account() {
            let key = table
                .entries
                .iter()
                .find(|entry| Family::of(&entry.key) == Some(family))
                .map_or_else(|| node.span.clone(), |entry| entry.key_span.clone());
            if !place.account_allows(family) {
                self.error_help(
                    key,
                    format!(
                        "{} cannot be used in {}",
                        family.describe(),
                        place.describe()
                    ),
                    "account conditions test the account's attributes, its score (`score_gte` and the like, not in `[[account.fit]]`), `disqualified`, and in triggers and routes its `stage`".to_owned(),
                );
                return None;
            }
            if let (Family::Score, Some(group)) = (family, table.get("group")) {
                self.error_help(
                    group.key_span.clone(),
                    format!("`group` cannot be used in {}", place.describe()),
                    "an account score condition compares the account score".to_owned(),
                );
                return None;
            }
        } else if family.needs_scores() && !place.sees_scores() {
            let key = table
                .entries
                .iter()
                .find(|entry| Family::of(&entry.key) == Some(family))
                .map_or_else(|| node.span.clone(), |entry| entry.key_span.clone());
            self.error_help(
                key,
                format!(
                    "{} cannot be used in {}",
                    family.describe(),
                    place.describe()
                ),
                "fit, disqualify and engagement rules test contact attributes and event fields; score, grade, event, stage and `disqualified` conditions belong in stages, triggers and routes".to_owned(),
            );
            return None;
        }

        let condition = match family {
            Family::Field => self.field_condition(node, table, keys_ok),
            Family::All | Family::Any => {
                let key = if family == Family::All { "all" } else { "any" };
                let entry = table.get(key)?;
                let items = match &entry.value.value {
                    Value::Array(items) => items,
                    other => {
                        self.error_help(
                            entry.value.span.clone(),
                            format!(
                                "`{key}` must be an array of conditions, found {}",
                                other.kind()
                            ),
                            format!("write `{key} = [ {{..}}, {{..}} ]`"),
                        );
                        return None;
                    }
                };
                let conditions: Vec<_> = items
                    .iter()
                    .map(|item| self.condition(item, place))
                    .collect();
                let conditions: Option<Vec<_>> = conditions.into_iter().collect();
                conditions.map(|c| {
                    if key == "all" {
                        Cond::All(c)
                    } else {
                        Cond::Any(c)
                    }
                })
            }
            Family::Not => {
                let entry = table.get("not")?;
                if let Value::Array(_) = entry.value.value {
                    self.error_help(
                        entry.value.span.clone(),
                        "`not` must be one condition, found an array".to_owned(),
                        "write `not = { any = [ {..}, {..} ] }` to negate several".to_owned(),
                    );
                    return None;
                }
                self.condition(&entry.value, place)
                    .map(|c| Cond::Not(Box::new(c)))
            }
            Family::Score => self.score_condition(node, table, keys_ok),
            Family::Grade => {
                let entry = table.get("grade_in")?;
                let items = self.array("`grade_in`", &entry.value)?;
                let grades: Vec<_> = items.iter().map(|item| self.grade_ref(item)).collect();
                grades.into_iter().collect::<Option<_>>().map(Cond::GradeIn)
            }
            Family::Event => self.event_condition(node, table, keys_ok),
            Family::Disqualified => {
                let entry = table.get("disqualified")?;
                self.boolean("`disqualified`", &entry.value)
                    .map(Cond::Disqualified)
            }
            Family::Stage => {
                let entry = table.get("stage")?;
                let name = self.string("`stage`", &entry.value)?;
                self.stage_ref(&name, &entry.value, place.is_account())
                    .map(Cond::Stage)
            }
        };
        if keys_ok { condition } else { None }
    }

    fn field_condition(&mut self, node: &Node, table: &Table, keys_ok: bool) -> Option<Cond> {
        let field = match table.get("field") {
            Some(entry) => self.non_empty_string("`field`", &entry.value),
            None => {
                if keys_ok {
                    self.error_help(
                        node.span.clone(),
                        "missing `field`".to_owned(),
                        "say which attribute to test: `{ field = \"country\", eq = \"DE\" }`"
                            .to_owned(),
                    );
                }
                None
            }
        };
        let mut ops = Vec::new();
        let mut valid = true;
        for entry in &table.entries {
            if FIELD_OPERATORS.contains(&entry.key.as_str()) {
                match self.field_op(&entry.key, &entry.value) {
                    Some(op) => ops.push(op),
                    None => valid = false,
                }
            }
        }
        if ops.is_empty() && valid && keys_ok {
            let on = field
                .as_deref()
                .map_or_else(String::new, |f| format!(" on `{f}`"));
            self.error_help(
                node.span.clone(),
                format!("condition{on} has no operator"),
                format!("add one of {}", one_of(FIELD_OPERATORS)),
            );
            return None;
        }
        let field = field?;
        valid.then_some(Cond::Field { field, ops })
    }

    fn field_op(&mut self, op: &str, node: &Node) -> Option<Op> {
        let what = format!("`{op}`");
        match op {
            "eq" => self.literal(&what, node).map(Op::Eq),
            "ne" => self.literal(&what, node).map(Op::Ne),
            "in" | "not_in" => {
                let items = self.array(&what, node)?;
                let item_what = format!("each item of `{op}`");
                let literals: Vec<_> = items
                    .iter()
                    .map(|item| self.literal(&item_what, item))
                    .collect();
                let literals: Vec<Lit> = literals.into_iter().collect::<Option<_>>()?;
                Some(if op == "in" {
                    Op::In(literals)
                } else {
                    Op::NotIn(literals)
                })
            }
            "in_list" => self.list_ref(node),
            "contains" => self.string(&what, node).map(Op::Contains),
            "starts_with" => self.string(&what, node).map(Op::StartsWith),
            "ends_with" => self.string(&what, node).map(Op::EndsWith),
            "matches" => {
                let pattern = self.string(&what, node)?;
                match Regex::new(&pattern) {
                    Ok(regex) => Some(Op::Matches(regex)),
                    Err(error) => {
                        self.error_help(
                            node.span.clone(),
                            format!("invalid regex `{pattern}`: {}", regex_error_detail(&error)),
                            "`matches` takes Rust `regex` syntax; see https://docs.rs/regex/latest/regex/#syntax".to_owned(),
                        );
                        None
                    }
                }
            }
            "glob" => {
                let pattern = self.string(&what, node)?;
                match glob_regex(&pattern) {
                    Ok(regex) => Some(Op::Glob(regex)),
                    Err(error) => {
                        self.error(
                            node.span.clone(),
                            format!("invalid glob `{pattern}`: {}", regex_error_detail(&error)),
                        );
                        None
                    }
                }
            }
            "gt" | "gte" | "lt" | "lte" => {
                let cmp = match op {
                    "gt" => Cmp::Gt,
                    "gte" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    _ => Cmp::Lte,
                };
                self.number(&what, node).map(|n| Op::Compare(cmp, n))
            }
            _ => self.boolean(&what, node).map(Op::Exists),
        }
    }

    fn literal(&mut self, what: &str, node: &Node) -> Option<Lit> {
        match &node.value {
            Value::String(text) => Some(Lit::Str(text.clone())),
            Value::Integer(number) => Some(Lit::Int(*number)),
            Value::Float(number) if number.is_finite() => Some(Lit::Float(*number)),
            Value::Boolean(value) => Some(Lit::Bool(*value)),
            _ => {
                self.type_error(what, "a string, a finite number or a boolean", node);
                None
            }
        }
    }

    fn score_condition(&mut self, node: &Node, table: &Table, keys_ok: bool) -> Option<Cond> {
        let mut cmps = Vec::new();
        let mut valid = true;
        let mut group = None;
        for entry in &table.entries {
            let cmp = match entry.key.as_str() {
                "score_gt" => Cmp::Gt,
                "score_gte" => Cmp::Gte,
                "score_lt" => Cmp::Lt,
                "score_lte" => Cmp::Lte,
                "group" => {
                    match self.group_ref("`group`", &entry.value) {
                        Some(id) => group = Some(id),
                        None => valid = false,
                    }
                    continue;
                }
                _ => continue,
            };
            match self.number(&format!("`{}`", entry.key), &entry.value) {
                Some(bound) => cmps.push((cmp, bound)),
                None => valid = false,
            }
        }
        if cmps.is_empty() && valid && keys_ok {
            self.error_help(
                node.span.clone(),
                "score condition has no comparison".to_owned(),
                "add `score_gte = N` (or `score_gt`, `score_lt`, `score_lte`)".to_owned(),
            );
            return None;
        }
        valid.then_some(Cond::Score { group, cmps })
    }

    fn event_condition(&mut self, node: &Node, table: &Table, keys_ok: bool) -> Option<Cond> {
        let event = match table.get("event") {
            Some(entry) => self.event_name("`event`", &entry.value),
            None => {
                if keys_ok {
                    self.error_help(
                        node.span.clone(),
                        "missing `event`".to_owned(),
                        "say which event to count: `{ event = \"Demo Requested\", count_gte = 1 }`"
                            .to_owned(),
                    );
                }
                None
            }
        };
        let mut cmps = Vec::new();
        let mut valid = true;
        for entry in &table.entries {
            let cmp = match entry.key.as_str() {
                "count_gt" => Cmp::Gt,
                "count_gte" => Cmp::Gte,
                "count_lt" => Cmp::Lt,
                "count_lte" => Cmp::Lte,
                "count_eq" => Cmp::Eq,
                _ => continue,
            };
            match self.count(&format!("`{}`", entry.key), &entry.value) {
                Some(count) => cmps.push((cmp, count)),
                None => valid = false,
            }
        }
        if cmps.is_empty() {
            // `{ event = "Demo Requested" }` alone: the event happened at least once.
            cmps.push((Cmp::Gte, 1.0));
        }
        let within = self.optional(table, "within", |c, node| c.duration("`within`", node));
        let (event, within) = (event?, within?);
        valid.then_some(Cond::EventCount {
            event,
            cmps,
            within,
        })
    }
}

/// The ids of `[[stage]]` tables as written (empty where missing or not a string), so
/// that conditions may name stages declared further down.
fn stage_ids(nodes: &[&Node]) -> Vec<String> {
    nodes
        .iter()
        .map(|node| match &node.value {
            Value::Table(stage) => match stage.get("id").map(|id| &id.value.value) {
                Some(Value::String(id)) => id.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        })
        .collect()
}

/// A glob as an anchored, case-insensitive regex: `*` is any run of characters (`/`
/// included), `?` is one character, everything else is literal.
pub(crate) fn glob_regex(pattern: &str) -> Result<Regex, regex::Error> {
    let mut regex = String::from("(?is)^");
    let mut literal = String::new();
    for c in pattern.chars() {
        match c {
            '*' | '?' => {
                regex.push_str(&regex::escape(&literal));
                literal.clear();
                regex.push_str(if c == '*' { ".*" } else { "." });
            }
            _ => literal.push(c),
        }
    }
    regex.push_str(&regex::escape(&literal));
    regex.push('$');
    Regex::new(&regex)
}

/// The line of a regex error that says what is wrong.
///
/// A syntax error renders as several lines (a header, the pattern, a caret, then
/// `error: ...`); the `error:` line is the useful one. Other errors are one line.
fn regex_error_detail(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .or_else(|| text.lines().map(str::trim).find(|line| !line.is_empty()))
        .unwrap_or("unknown error")
        .to_owned()
}

/// `` `a`, `b`, `c` ``, each name once.
fn listing<S: AsRef<str>>(names: &[S]) -> String {
    let mut seen = HashSet::new();
    names
        .iter()
        .map(AsRef::as_ref)
        .filter(|name| seen.insert(*name))
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `` `a`, `b` or `c` ``.
fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|item| format!("`{item}`")).collect();
            format!("{} or `{last}`", init.join(", "))
        }
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely misspelling, or
/// else a candidate that `word` starts with (`equals` -> `eq`).
pub(crate) fn suggest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word_lower = word.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().filter(|c| *c != word).collect();
    let closest = candidates
        .iter()
        .map(|candidate| {
            (
                edit_distance(&word_lower, &candidate.to_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, candidate)| {
            // Close enough to be a slip, and not a different word of the same length
            // (`E` is not a misspelt `A`).
            let longest = word.chars().count().max(candidate.chars().count());
            *distance <= (longest / 3).max(1) && *distance < longest
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate);
    closest.or_else(|| {
        candidates
            .iter()
            .filter(|candidate| {
                candidate.chars().count() >= 2 && word_lower.starts_with(&candidate.to_lowercase())
            })
            .max_by_key(|candidate| candidate.len())
            .copied()
    })
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two
/// neighbouring characters (`lable` -> `label` is 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("lable", "label"), 1);
        assert_eq!(edit_distance("pionts", "points"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_only_for_close_words() {
        assert_eq!(suggest("lable", FIT_KEYS.iter().copied()), Some("label"));
        assert_eq!(suggest("Points", FIT_KEYS.iter().copied()), Some("points"));
        assert_eq!(suggest("weight", FIT_KEYS.iter().copied()), None);
        assert_eq!(
            suggest("free_mails", ["free_mail", "competitors"]),
            Some("free_mail")
        );
        assert_eq!(
            suggest("equals", FIELD_OPERATORS.iter().copied()),
            Some("eq")
        );
        assert_eq!(suggest("E", ["A", "B", "D"]), None);
        assert_eq!(suggest("b", ["A", "B", "D"]), Some("B"));
    }

    #[test]
    fn one_of_lists_with_commas_and_or() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn glob_matches_the_whole_value_case_insensitively() {
        let Ok(glob) = glob_regex("*/pricing*") else {
            panic!("glob did not compile");
        };
        assert!(glob.is_match("https://x.com/pricing?a=1"));
        assert!(glob.is_match("HTTPS://X.COM/PRICING"));
        // `*` matches `/` too: this URL has a `/pricing` after some prefix.
        assert!(glob.is_match("https://x.com/blog/pricing-2"));
        assert!(!glob.is_match("https://x.com/blog"));
        assert!(!glob.is_match("pricing"));
    }

    #[test]
    fn glob_question_mark_is_exactly_one_character() {
        let Ok(glob) = glob_regex("v?.txt") else {
            panic!("glob did not compile");
        };
        assert!(glob.is_match("v1.txt"));
        assert!(!glob.is_match("v12.txt"));
        assert!(!glob.is_match("v.txt"));
        // `.` is literal, not "any character".
        assert!(!glob.is_match("v1xtxt"));
    }

    #[test]
    fn glob_without_wildcards_is_whole_value_equality() {
        let Ok(glob) = glob_regex("a+b(c)[d]") else {
            panic!("glob did not compile");
        };
        assert!(glob.is_match("A+B(C)[D]"));
        assert!(!glob.is_match("xa+b(c)[d]"));
        assert!(!glob.is_match("a+b(c)[d]x"));
    }

    #[test]
    fn glob_star_spans_lines() {
        let Ok(glob) = glob_regex("a*b") else {
            panic!("glob did not compile");
        };
        assert!(glob.is_match("a\nb"));
    }

    #[test]
    fn regex_error_detail_is_the_error_line() {
        // Built at run time: clippy rejects a literal invalid regex.
        let pattern = ["(", "ceo"].concat();
        let Err(error) = Regex::new(&pattern) else {
            panic!("bad regex compiled");
        };
        assert_eq!(regex_error_detail(&error), "unclosed group");
    }
}
