//! The account report: how accounts (buying groups) convert, and whether the account
//! score ranks them better than the best of their contacts' own scores does.
//!
//! The rule every account analysis follows (`docs/learning.md`, "Accounts"), built on
//! the contact rule of [`crate::before`]:
//!
//! * **Members.** An account's members are the contacts whose result, at the instant the
//!   contact report scores them, names it (`"account":{"key"}`).
//! * **Outcome.** An account converts when the first outcome of any member is a
//!   conversion (`won`, `converted`): a deal with the company is a deal. It is scored
//!   **one millisecond before the earliest first outcome among its members**, whatever
//!   that outcome is, so that nothing at or after any member's outcome (a lost deal is
//!   sales contact too) explains it. An account without member outcomes is scored as of
//!   `as_of` and counts as not converted.
//! * **Score.** Every member is scored at the account's instant from its own history up
//!   to then, with the contact rules (a member whose own report instant is that instant
//!   is not scored twice); the account score is
//!   [`leadscore_engine::score_account`] over those results, and the **best member
//!   score** is the highest of their (clamped) contact scores at the same instant: the
//!   predictor a team without account scoring has.
//! * **Qualified.** An account is qualified when it reached its second `[[account.stage]]`
//!   (its MQL) or later; by the best-member predictor, when some member reached the
//!   contact MQL stage or later at that instant.
//!
//! Two passes, because an account's instant depends on all its members' outcomes:
//! [`AccountRows::add`] takes each contact's report result (pass one), then
//! [`AccountRows::settle`] fixes every account's instant and says which members need
//! scoring again ([`AccountRows::rescore_at`], [`AccountRows::pending`]); their results
//! go to [`AccountRows::replace`] (pass two), and [`AccountRows::report`] counts. The
//! CLI and the service feed it alike, so `leadscore report` and
//! `GET /api/v1/reports/outcomes` agree.

use std::collections::{BTreeMap, HashMap};

use leadscore_engine::{Fields, Member, Millis, ScoreResult, Value, score_account};
use leadscore_model::CompiledModel;
use rayon::prelude::*;
use serde::Serialize;

use crate::before::{FirstOutcomes, Instant, qualified, scoring_instant};
use crate::report::{Group, by_band, by_value, ratio};
use crate::{Evaluation, Observation, evaluate};

/// What the account report keeps of one member's result: what account scoring and the
/// best-member comparison read, not the whole result.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    id: String,
    key: String,
    attributes: BTreeMap<String, Value>,
    engagement: f64,
    disqualified: bool,
    score: f64,
    qualified: bool,
}

impl MemberRow {
    /// The row of contact `id`'s result; `None` when the result names no account.
    pub fn new(model: &CompiledModel, id: &str, result: &ScoreResult) -> Option<Self> {
        let key = result.account.as_ref()?.key.clone();
        Some(Self::of(model, id, key, result))
    }

    /// The row of `result` for a member of `key` (its attributes as of the result; none
    /// when at that instant the contact had no account attributes yet).
    fn of(model: &CompiledModel, id: &str, key: String, result: &ScoreResult) -> Self {
        MemberRow {
            id: id.to_owned(),
            key,
            attributes: result
                .account
                .as_ref()
                .map(|a| a.attributes.clone())
                .unwrap_or_default(),
            engagement: result.engagement,
            disqualified: result.disqualified,
            score: result.clamped,
            qualified: qualified(model, result, None),
        }
    }
}

/// A member's second scoring instant: only `now` is read (the account's outcome is
/// the account's, not the member's).
fn account_instant(now: Millis) -> Instant {
    Instant {
        now,
        converted: false,
        outcome_at: None,
    }
}

/// When an account is scored, and whether it converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AccountInstant {
    now: Millis,
    converted: bool,
}

/// The members of every account, as the two passes give them (see the module
/// documentation).
#[derive(Debug, Clone, Default)]
pub struct AccountRows {
    /// Members by account key, in the order added.
    members: BTreeMap<String, Vec<MemberRow>>,
    /// Contact id -> its account key and its position there.
    index: HashMap<String, (String, usize)>,
    /// Account key -> its instant, once settled.
    instants: HashMap<String, AccountInstant>,
    /// Members whose account instant is not their own report instant, with the
    /// account instant, in id order.
    pending: BTreeMap<String, Millis>,
}

impl AccountRows {
    /// For a model with `[account]`; `None` without one.
    pub fn new(model: &CompiledModel) -> Option<Self> {
        model.account.as_ref().map(|_| Self::default())
    }

    /// Pass one: a contact's result at its own report instant (`None`: no account). A
    /// contact added twice keeps its first row.
    pub fn add(&mut self, row: Option<MemberRow>) {
        let Some(row) = row else { return };
        if self.index.contains_key(&row.id) {
            return;
        }
        let rows = self.members.entry(row.key.clone()).or_default();
        self.index
            .insert(row.id.clone(), (row.key.clone(), rows.len()));
        rows.push(row);
    }

    /// After pass one: fix each account's instant and outcome, and which members must be
    /// scored again at it.
    pub fn settle(&mut self, outcomes: &FirstOutcomes, as_of: Millis) {
        self.instants.clear();
        self.pending.clear();
        for (key, rows) in &self.members {
            let first = rows
                .iter()
                .filter_map(|r| outcomes.get(&r.id))
                .map(|(at, _)| at)
                .min();
            let converted = rows
                .iter()
                .any(|r| outcomes.get(&r.id).is_some_and(|(_, c)| c));
            let now = first.map_or(as_of, |at| at - 1);
            for row in rows {
                if scoring_instant(outcomes, &row.id, as_of).now != now {
                    self.pending.insert(row.id.clone(), now);
                }
            }
            self.instants
                .insert(key.clone(), AccountInstant { now, converted });
        }
    }

    /// Split the first pass's `(contact report row, member row)` pairs: the contact
    /// report's rows, in order, and the members by account (`None` without `[account]`
    /// in `model`).
    pub fn split<T>(
        model: &CompiledModel,
        seen: Vec<(T, Option<MemberRow>)>,
    ) -> (Vec<T>, Option<AccountRows>) {
        let mut rows = Self::new(model);
        let mut contacts = Vec::with_capacity(seen.len());
        for (contact, member) in seen {
            contacts.push(contact);
            if let Some(rows) = &mut rows {
                rows.add(member);
            }
        }
        (contacts, rows)
    }

    /// The instant to score contact `id` at again for its account, when its report
    /// result is not as of that instant (after [`Self::settle`]).
    pub fn rescore_at(&self, id: &str) -> Option<Instant> {
        self.pending.get(id).map(|&now| account_instant(now))
    }

    /// Every `(contact id, instant)` to score again, in id order.
    pub fn pending(&self) -> impl Iterator<Item = (&str, Instant)> {
        self.pending
            .iter()
            .map(|(id, &now)| (id.as_str(), account_instant(now)))
    }

    /// Pass two: contact `id`'s result at its account's instant replaces its row (it
    /// stays a member of the account it was added to).
    pub fn replace(&mut self, model: &CompiledModel, id: &str, result: &ScoreResult) {
        let Some((key, position)) = self.index.get(id) else {
            return;
        };
        if let Some(row) = self
            .members
            .get_mut(key)
            .and_then(|rows| rows.get_mut(*position))
        {
            *row = MemberRow::of(model, id, key.clone(), result);
        }
    }

    /// The account report (after [`Self::settle`] and pass two); `None` when the model
    /// has no `[account]`.
    pub fn report(&self, model: &CompiledModel) -> Option<AccountReport> {
        let account = model.account.as_ref()?;
        let accounts: Vec<(&String, &Vec<MemberRow>)> = self.members.iter().collect();
        let seen: Vec<AccountSeen> = accounts
            .par_iter()
            .filter_map(|(key, rows)| {
                let members: Vec<Member<'_>> = rows
                    .iter()
                    .map(|r| Member {
                        id: &r.id,
                        attributes: &r.attributes as &dyn Fields,
                        engagement: r.engagement,
                        disqualified: r.disqualified,
                    })
                    .collect();
                let result = score_account(model, key, &members)?;
                let converted = self.instants.get(*key).is_some_and(|i| i.converted);
                let stage = account
                    .stages
                    .iter()
                    .position(|s| Some(&s.id) == result.stage.as_ref());
                Some(AccountSeen {
                    score: result.raw,
                    converted,
                    label: result.label,
                    stage,
                    best_member: rows.iter().map(|r| r.score).fold(f64::MIN, f64::max),
                    member_qualified: rows.iter().any(|r| r.qualified),
                    members: rows.len() as u64,
                })
            })
            .collect();
        let labels: Vec<String> = account.labels.iter().map(|t| t.name.clone()).collect();
        let stages: Vec<String> = account.stages.iter().map(|s| s.id.clone()).collect();
        Some(account_report(&seen, band_width(model), &labels, &stages))
    }
}

/// One account as the report counts it.
#[derive(Debug, Clone, PartialEq)]
struct AccountSeen {
    /// The account score (`raw`: account scores are not clamped).
    score: f64,
    converted: bool,
    label: Option<String>,
    /// Index in the model's `[[account.stage]]`.
    stage: Option<usize>,
    /// The highest member contact score at the account's instant.
    best_member: f64,
    /// Some member at the contact MQL stage or later.
    member_qualified: bool,
    members: u64,
}

/// The account report: conversion of accounts by account score band, label and stage,
/// and the account score against the best member's contact score as a predictor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountReport {
    /// Accounts (account keys held by at least one contact).
    pub accounts: u64,
    /// Contacts in them.
    pub members: u64,
    /// Accounts that converted (a member's first outcome is a conversion).
    pub converters: u64,
    /// `converters / accounts`; `None` without accounts.
    pub rate: Option<f64>,
    /// Points per account score band ([`band_width`]).
    pub band_width: u32,
    /// Conversion by account score band, lowest first (always [`crate::report::BANDS`] entries).
    pub by_band: Vec<Group>,
    /// Conversion by account label, model order, then `(none)`.
    pub by_label: Vec<Group>,
    /// Conversion by account stage, model order.
    pub by_stage: Vec<Group>,
    /// The account score as a predictor of the account's conversion; qualified: the
    /// second account stage or later.
    pub account_score: Evaluation,
    /// The best member's contact score as a predictor of the same outcome; qualified:
    /// some member at the contact MQL stage or later.
    pub best_member_score: Evaluation,
}

/// Points per account score band: account scores add up members' engagement and pass
/// 100, so the bands widen with the model's account labels: ten bands of
/// `10 * ceil(highest label / 80)` points (at least 10), then one open band, so that the
/// highest label's bound falls in the eighth band or below. `examples/b2b.toml`
/// (hot = 150): 20 points, `0-20` to `180-200`, then `200+`.
pub fn band_width(model: &CompiledModel) -> u32 {
    let top = model
        .account
        .as_ref()
        .and_then(|a| a.labels.iter().map(|t| t.min).reduce(f64::max))
        .unwrap_or(0.0);
    let steps = (top / 80.0).ceil();
    if steps.is_finite() && steps > 1.0 {
        10 * steps.min(1_000_000.0) as u32
    } else {
        10
    }
}

fn account_report(
    seen: &[AccountSeen],
    width: u32,
    labels: &[String],
    stages: &[String],
) -> AccountReport {
    let accounts = seen.len() as u64;
    let converters = seen.iter().filter(|s| s.converted).count() as u64;
    let predictor = |score: fn(&AccountSeen) -> (f64, bool)| -> Evaluation {
        let observations: Vec<Observation> = seen
            .iter()
            .map(|s| {
                let (score, qualified) = score(s);
                Observation {
                    score,
                    qualified,
                    converted: s.converted,
                }
            })
            .collect();
        evaluate(&observations)
    };
    AccountReport {
        accounts,
        members: seen.iter().map(|s| s.members).sum(),
        converters,
        rate: ratio(converters, accounts),
        band_width: width,
        by_band: by_band(seen.iter().map(|s| (s.score, s.converted)), width),
        by_label: by_value(
            seen.iter().map(|s| (s.label.as_deref(), s.converted)),
            labels,
        ),
        by_stage: by_value(
            seen.iter().map(|s| {
                let name = s.stage.and_then(|i| stages.get(i)).map(String::as_str);
                (name, s.converted)
            }),
            stages,
        ),
        account_score: predictor(|s| (s.score, s.stage.is_some_and(|i| i >= 1))),
        best_member_score: predictor(|s| (s.best_member, s.member_qualified)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadscore_engine::{Attributes, Engine, Event};

    const DAY: Millis = 86_400_000;

    const MODEL: &str = r#"
version = 1
name = "accounts-report"
[[engagement]]
id = "demo"
event = "Demo Requested"
points = 30
[[stage]]
id = "lead"
[[stage]]
id = "mql"
when = { score_gte = 30 }
[account]
key = ["company_id"]
[[account.engagement]]
id = "top"
top_contacts = { n = 3 }
[account.labels]
hot = 50
[[account.stage]]
id = "target"
[[account.stage]]
id = "engaged"
when = { score_gte = 50 }
"#;

    fn engine() -> Engine {
        match leadscore_model::load("accounts-report.toml", MODEL) {
            Ok(checked) => Engine::new(checked.model),
            Err(d) => panic!("{d:?}"),
        }
    }

    /// Contact `id` of `company` with one demo request at `demo_day`, scored at `now`.
    fn scored(engine: &Engine, company: &str, demo_day: i64, now: Millis) -> ScoreResult {
        let mut attributes = Attributes::new();
        attributes.set("company_id", Value::Str(company.to_owned()));
        let demo = Event {
            name: "Demo Requested".into(),
            timestamp: demo_day * DAY,
            message_id: None,
            fields: Vec::new(),
        };
        engine.score(attributes, &[demo], &[], &[], now)
    }

    /// Three accounts, each member with one demo (30 points, contact MQL):
    /// * acme: a1 (demo day 1, won day 10), a2 (demo day 5): scored at day 10 - 1 ms,
    ///   both demos count: 60, engaged, hot; converted.
    /// * beta: b1 (demo day 2, lost day 3), b2 (demo day 4, no outcome): scored at
    ///   day 3 - 1 ms, before b2's demo: 30; not converted.
    /// * gamma: g1 (demo day 6, no outcome): as of day 20: 30; not converted.
    #[test]
    fn accounts_are_scored_before_their_first_member_outcome() {
        let engine = engine();
        let model = engine.model();
        let demos = [
            ("a1", "acme", 1),
            ("a2", "acme", 5),
            ("b1", "beta", 2),
            ("b2", "beta", 4),
            ("g1", "gamma", 6),
        ];
        let mut outcomes = FirstOutcomes::new();
        outcomes.add("a1".into(), 10 * DAY, true);
        outcomes.add("b1".into(), 3 * DAY, false);
        let as_of = 20 * DAY;
        let mut rows = AccountRows::new(model).expect("the model has [account]");
        for (id, company, day) in demos {
            let now = scoring_instant(&outcomes, id, as_of).now;
            let result = scored(&engine, company, day, now);
            rows.add(MemberRow::new(model, id, &result));
        }
        rows.settle(&outcomes, as_of);
        // a1 and b1 were scored at their account's instant already; a2 and b2 were not.
        let pending: Vec<(&str, Millis)> = rows.pending().map(|(id, at)| (id, at.now)).collect();
        assert_eq!(pending, [("a2", 10 * DAY - 1), ("b2", 3 * DAY - 1)]);
        assert_eq!(rows.rescore_at("g1"), None);

        // Without pass two beta would count b2's demo, made after b1's outcome.
        let leaky = rows.report(model).expect("a report");
        assert_eq!(leaky.by_band[6].contacts, 2, "acme and beta at 60");
        assert_eq!(leaky.by_band[3].contacts, 1, "gamma at 30");

        let again: Vec<(String, Millis)> = rows
            .pending()
            .map(|(id, at)| (id.to_owned(), at.now))
            .collect();
        for (id, at) in again {
            let (company, day) = match id.as_str() {
                "a2" => ("acme", 5),
                _ => ("beta", 4),
            };
            let result = scored(&engine, company, day, at);
            rows.replace(model, &id, &result);
        }
        let r = rows.report(model).expect("a report");
        assert_eq!((r.accounts, r.members, r.converters), (3, 5, 1));
        assert_eq!(r.rate, Some(1.0 / 3.0));
        assert_eq!(r.band_width, 10, "hot = 50 gives bands of 10");
        let bands: Vec<(&str, u64, u64)> = r
            .by_band
            .iter()
            .filter(|g| g.contacts > 0)
            .map(|g| (g.name.as_str(), g.contacts, g.converters))
            .collect();
        assert_eq!(bands, [("30-40", 2, 0), ("60-70", 1, 1)]);
        let labels: Vec<(&str, u64, u64)> = r
            .by_label
            .iter()
            .map(|g| (g.name.as_str(), g.contacts, g.converters))
            .collect();
        assert_eq!(labels, [("hot", 1, 1), ("(none)", 2, 0)]);
        let stages: Vec<(&str, u64)> = r
            .by_stage
            .iter()
            .map(|g| (g.name.as_str(), g.contacts))
            .collect();
        assert_eq!(stages, [("target", 2), ("engaged", 1)]);
        // The account score separates acme; every best member scores 30.
        assert_eq!(r.account_score.auc, Some(1.0));
        assert_eq!(r.best_member_score.auc, Some(0.5));
        assert_eq!(r.account_score.qualified, 1);
        assert_eq!(r.account_score.precision, Some(1.0));
        // Every best member is at the contact MQL stage: all three qualified.
        assert_eq!(r.best_member_score.qualified, 3);
        assert_eq!(r.best_member_score.precision, Some(1.0 / 3.0));
    }

    #[test]
    fn member_order_never_changes_the_report() {
        let engine = engine();
        let model = engine.model();
        let as_of = 20 * DAY;
        let outcomes = FirstOutcomes::new();
        let contacts: Vec<(String, ScoreResult)> = (0..12)
            .map(|i| {
                let company = format!("c{}", i % 4);
                (format!("p{i}"), scored(&engine, &company, i, as_of))
            })
            .collect();
        let report = |order: &mut dyn Iterator<Item = &(String, ScoreResult)>| {
            let mut rows = AccountRows::new(model).expect("[account]");
            for (id, result) in order {
                rows.add(MemberRow::new(model, id, result));
            }
            rows.settle(&outcomes, as_of);
            assert_eq!(rows.pending().count(), 0, "no outcomes: all as of as_of");
            rows.report(model)
        };
        let forward = report(&mut contacts.iter());
        let backward = report(&mut contacts.iter().rev());
        assert_eq!(forward, backward);
        assert_eq!(forward.map(|r| r.members), Some(12));
    }

    #[test]
    fn band_width_follows_the_highest_account_label() {
        let engine = engine();
        assert_eq!(band_width(engine.model()), 10);
        let wide = MODEL.replace("hot = 50", "hot = 150\nwarm = 80");
        match leadscore_model::load("wide.toml", &wide) {
            Ok(checked) => assert_eq!(band_width(&checked.model), 20),
            Err(d) => panic!("{d:?}"),
        }
        assert_eq!(
            crate::report::band_name_of(crate::report::BANDS - 1, 20),
            "200+"
        );
        assert_eq!(crate::report::band_of(159.9, 20), 7);
    }
}
