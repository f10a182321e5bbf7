//! Accounts: contacts of one company scored together.
//!
//! B2B deals are bought by buying groups: three engineers and a purchasing manager of one
//! company reading the pricing page say more than one contact doing it three times. A
//! model's `[account]` table says how contacts group into accounts ([`account_key`]) and
//! how an account scores ([`score_account`]): account fit rules on the account's
//! attributes, plus aggregations of its members' engagement (the sum of the top N, the
//! number of engaged members, the number of distinct engaged roles), then a label,
//! stage, active triggers and a route, so that a buying group goes to one owner.
//!
//! The account is scored from its members' already computed contact results, so it is
//! as of the same instant as they are; nothing here reads a clock. The rules, as
//! `docs/semantics.md` ("Accounts") states them:
//!
//! * an account attribute is the most common non-blank value among its members
//!   (compared as trimmed, lower-cased text); a tie goes to the smallest such text,
//!   and the value reported is that of the first member (by id) holding it;
//! * disqualified members are members (listed, and voting on attributes) but add no
//!   engagement; an account whose members are all disqualified is disqualified: first
//!   stage, no route, only triggers naming `disqualified = true`;
//! * `top_contacts` sums the engagement of the N most engaged members with positive
//!   engagement (a colleague who ignores the newsletter never lowers the account);
//! * the account stage is the furthest stage whose criteria hold now (computed, not
//!   remembered); the route is the first matching `[[account.route]]`;
//! * the result does not depend on the order of the members: they are sorted by id
//!   first, ties in engagement go to the smaller id, and every sum runs in that order.

use std::collections::BTreeMap;

use leadscore_model::{Account, Aggregate, CompiledModel, EventNameId, GroupId, Millis, StageId};
use serde::Serialize;

use crate::condition::{self, ScoreView, eval, eval_fields, text};
use crate::input::{Attributes, Fields, Value, ValueRef};
use crate::result::{AccountRef, RouteResult, ScoreResult};

/// One member of an account, as account scoring reads it.
#[derive(Clone, Copy)]
pub struct Member<'a> {
    /// The contact's id.
    pub id: &'a str,
    /// The contact's current attributes (`email_domain` derived).
    pub attributes: &'a dyn Fields,
    /// The contact's engagement points (after decay, machine shares and group caps).
    pub engagement: f64,
    /// Whether a disqualify rule matches the contact.
    pub disqualified: bool,
}

impl<'a> Member<'a> {
    /// A member from its contact result.
    pub fn new(id: &'a str, attributes: &'a dyn Fields, result: &ScoreResult) -> Self {
        Member {
            id,
            attributes,
            engagement: result.engagement,
            disqualified: result.disqualified,
        }
    }
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("engagement", &self.engagement)
            .field("disqualified", &self.disqualified)
            .finish_non_exhaustive()
    }
}

/// What kind of contribution an account explanation line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountLineKind {
    /// An `[[account.fit]]` rule.
    AccountFit,
    /// An `[[account.engagement]]` aggregation.
    AccountEngagement,
}

/// One line of an account's explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountLine {
    /// Rule id.
    pub rule: String,
    /// The rule's label.
    pub label: Option<String>,
    /// What kind of line.
    pub kind: AccountLineKind,
    /// 1 for a fit rule; the contacts (or roles, for `distinct_roles`) counted.
    pub count: u32,
    /// Points.
    pub points: f64,
    /// The members that contributed, by id: for a fit rule those whose own attributes
    /// match it, for an aggregation those it counted.
    pub contacts: Vec<String>,
    /// For `distinct_roles`: the roles counted (trimmed, lower-cased), sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// An account's score, with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountResult {
    /// The account key ([`account_key`]).
    pub account: String,
    /// Member contact ids, sorted.
    pub members: Vec<String>,
    /// `raw` rounded half away from zero (an account score is not clamped).
    pub score: i64,
    /// `fit + engagement`, unrounded: what thresholds and rankings compare.
    pub raw: f64,
    /// Account fit points.
    pub fit: f64,
    /// Account engagement points.
    pub engagement: f64,
    /// Label from `[account.labels]`; `None` without them or below the lowest bound.
    pub label: Option<String>,
    /// Account stage id; `None` without `[[account.stage]]`.
    pub stage: Option<String>,
    /// True when every member is disqualified.
    pub disqualified: bool,
    /// The first matching `[[account.route]]`, unless disqualified.
    pub route: Option<RouteResult>,
    /// Ids of the account triggers whose condition holds, in model order.
    pub triggers_active: Vec<String>,
    /// Explanation: account fit lines, then account engagement lines; they sum to `raw`.
    pub explain: Vec<AccountLine>,
}

/// A key value as compared: trimmed, lower-cased text; `None` when blank.
fn canonical(value: ValueRef<'_>) -> Option<String> {
    let t = text(value);
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_lowercase())
}

/// The account a contact belongs to: the first attribute of `key` with a non-blank
/// value that is not in `exclude_list`, trimmed and lower-cased. `None`: no account
/// (no key attribute, or only excluded ones, such as a free-mail domain).
pub fn account_key(account: &Account, attributes: &(impl Fields + ?Sized)) -> Option<String> {
    account.key.iter().find_map(|field| {
        let value = canonical(attributes.field(field)?)?;
        let excluded = account
            .exclude
            .as_ref()
            .is_some_and(|(_, values)| values.contains(&value));
        (!excluded).then_some(value)
    })
}

/// The contact attributes account scoring reads: the key attributes (`email` for
/// `email_domain`), the fields of account conditions and the `distinct_roles` fields.
/// A caller that keeps members for later may keep only these.
pub fn account_fields(account: &Account) -> Vec<String> {
    let mut fields = account.key.clone();
    let conditions = account
        .fit
        .iter()
        .map(|r| &r.when)
        .chain(account.stages.iter().filter_map(|s| s.when.as_ref()))
        .chain(account.triggers.iter().map(|t| &t.when))
        .chain(account.routes.iter().map(|r| &r.when));
    for cond in conditions {
        crate::classify::fields_read(cond, &mut fields);
    }
    for rule in &account.engagement {
        if let Aggregate::DistinctRoles { field, .. } = &rule.aggregate
            && !fields.contains(field)
        {
            fields.push(field.clone());
        }
    }
    if fields.iter().any(|f| f == "email_domain") && !fields.iter().any(|f| f == "email") {
        fields.push("email".to_owned());
    }
    fields
}

/// A contact's account and the attributes account scoring reads, as text (for
/// [`ScoreResult::account`]); `None` without a key.
pub(crate) fn membership(account: &Account, attributes: &Attributes) -> Option<AccountRef> {
    let key = account_key(account, attributes)?;
    let mut kept = BTreeMap::new();
    for field in account_fields(account) {
        // As text: `4` from a cleaned CSV cell and `"4"` from a raw one are one value,
        // and every condition reads a numeric string as the number.
        if let Some(value) = attributes.field(&field) {
            kept.insert(field, Value::Str(text(value).into_owned()));
        }
    }
    Some(AccountRef {
        key,
        attributes: kept,
    })
}

/// Account attributes handed over as a map (from a stored [`AccountRef`]).
impl Fields for BTreeMap<String, Value> {
    fn field(&self, path: &str) -> Option<ValueRef<'_>> {
        self.get(path).map(Value::as_ref)
    }
}

/// The account's attributes: per field read, the most common value among members.
#[derive(Debug, Default)]
struct AccountAttributes {
    values: BTreeMap<String, Value>,
}

impl Fields for AccountAttributes {
    fn field(&self, path: &str) -> Option<ValueRef<'_>> {
        self.values.get(path).map(Value::as_ref)
    }
}

fn owned(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Bool(b) => Value::Bool(b),
        ValueRef::Num(n) => Value::Num(n),
        ValueRef::Str(s) => Value::Str(s.to_owned()),
    }
}

/// Most common non-blank value per field; `members` are sorted by id.
fn vote(fields: &[String], members: &[Member<'_>]) -> AccountAttributes {
    let mut attributes = AccountAttributes::default();
    for field in fields {
        // canonical text -> (count, the first member's value)
        let mut tally: BTreeMap<String, (usize, Value)> = BTreeMap::new();
        for member in members {
            let Some(value) = member.attributes.field(field) else {
                continue;
            };
            let Some(key) = canonical(value) else {
                continue;
            };
            tally.entry(key).or_insert_with(|| (0, owned(value))).0 += 1;
        }
        // BTreeMap order: on equal counts the smallest text comes first and is kept.
        let mut best: Option<(usize, Value)> = None;
        for (_, (count, value)) in tally {
            if best.as_ref().is_none_or(|(c, _)| count > *c) {
                best = Some((count, value));
            }
        }
        if let Some((_, value)) = best {
            attributes.values.insert(field.clone(), value);
        }
    }
    attributes
}

/// The account as its stage, trigger and route conditions see it.
struct AccountView<'a> {
    attributes: &'a AccountAttributes,
    score: f64,
    disqualified: bool,
    stage: Option<StageId>,
}

impl ScoreView for AccountView<'_> {
    fn attributes(&self) -> &dyn Fields {
        self.attributes
    }
    fn score(&self) -> f64 {
        self.score
    }
    // Validation allows neither group, grade nor event conditions on accounts.
    fn group_points(&self, _: GroupId) -> f64 {
        0.0
    }
    fn grade(&self) -> Option<&str> {
        None
    }
    fn disqualified(&self) -> bool {
        self.disqualified
    }
    fn stage(&self) -> Option<StageId> {
        self.stage
    }
    fn event_count(&self, _: EventNameId, _: Option<Millis>) -> u64 {
        0
    }
}

/// Put account results in list order: highest `raw` first, ties by key (what
/// `leadscore score --accounts` and `GET /api/v1/accounts` show).
pub fn rank_accounts(results: &mut [AccountResult]) {
    results.sort_by(|a, b| {
        b.raw
            .total_cmp(&a.raw)
            .then_with(|| a.account.cmp(&b.account))
    });
}

/// Score one account from its members; `None` when the model has no `[account]`.
///
/// `key` is the account's key as [`account_key`] gave it for every member (not checked
/// here). The members may come in any order; the result is the same.
pub fn score_account(
    model: &CompiledModel,
    key: &str,
    members: &[Member<'_>],
) -> Option<AccountResult> {
    let account = model.account.as_ref()?;
    let mut members = members.to_vec();
    members.sort_by(|a, b| a.id.cmp(b.id));
    let ids = |ms: &[&Member<'_>]| ms.iter().map(|m| m.id.to_owned()).collect::<Vec<_>>();

    let attributes = vote(&account_fields(account), &members);
    let mut explain = Vec::new();
    let mut fit = 0.0;
    for rule in &account.fit {
        if eval_fields(&rule.when, &attributes) {
            fit += rule.points;
            let matching: Vec<&Member<'_>> = members
                .iter()
                .filter(|m| eval_fields(&rule.when, m.attributes))
                .collect();
            explain.push(AccountLine {
                rule: rule.id.clone(),
                label: rule.label.clone(),
                kind: AccountLineKind::AccountFit,
                count: 1,
                points: rule.points,
                contacts: ids(&matching),
                roles: Vec::new(),
            });
        }
    }

    // Qualified members, most engaged first (ties: smaller id first).
    let mut ranked: Vec<&Member<'_>> = members.iter().filter(|m| !m.disqualified).collect();
    ranked.sort_by(|a, b| {
        b.engagement
            .total_cmp(&a.engagement)
            .then_with(|| a.id.cmp(b.id))
    });
    let mut engagement = 0.0;
    for rule in &account.engagement {
        let (counted, roles, points): (Vec<&Member<'_>>, Vec<String>, f64) = match &rule.aggregate {
            Aggregate::TopContacts { n } => {
                let top: Vec<&Member<'_>> = ranked
                    .iter()
                    .copied()
                    .filter(|m| m.engagement > 0.0)
                    .take(*n as usize)
                    .collect();
                let sum: f64 = top.iter().map(|m| m.engagement).sum();
                (top, Vec::new(), sum * rule.points)
            }
            Aggregate::EngagedContacts {
                min_engagement,
                max,
            } => {
                let engaged: Vec<&Member<'_>> = ranked
                    .iter()
                    .copied()
                    .filter(|m| m.engagement >= *min_engagement)
                    .take(max.map_or(usize::MAX, |m| m as usize))
                    .collect();
                let points = engaged.len() as f64 * rule.points;
                (engaged, Vec::new(), points)
            }
            Aggregate::DistinctRoles {
                field,
                min_engagement,
                max,
            } => {
                // Each role is credited to its most engaged member; roles are counted
                // in that order, so a cap keeps the most engaged ones.
                let mut roles: Vec<String> = Vec::new();
                let mut counted = Vec::new();
                let limit = max.map_or(usize::MAX, |m| m as usize);
                for member in ranked.iter().filter(|m| m.engagement >= *min_engagement) {
                    if roles.len() == limit {
                        break;
                    }
                    let Some(role) = member.attributes.field(field).and_then(canonical) else {
                        continue;
                    };
                    if !roles.contains(&role) {
                        roles.push(role);
                        counted.push(*member);
                    }
                }
                let points = roles.len() as f64 * rule.points;
                roles.sort();
                (counted, roles, points)
            }
        };
        let count = if roles.is_empty() {
            counted.len()
        } else {
            roles.len()
        };
        if count == 0 {
            continue;
        }
        engagement += points;
        let mut contacts = ids(&counted);
        contacts.sort();
        explain.push(AccountLine {
            rule: rule.id.clone(),
            label: rule.label.clone(),
            kind: AccountLineKind::AccountEngagement,
            count: u32::try_from(count).unwrap_or(u32::MAX),
            points,
            contacts,
            roles,
        });
    }

    let raw = fit + engagement;
    let disqualified = !members.is_empty() && members.iter().all(|m| m.disqualified);
    let mut view = AccountView {
        attributes: &attributes,
        score: raw,
        disqualified,
        stage: None,
    };
    let stage = if account.stages.is_empty() {
        None
    } else if disqualified {
        Some(0)
    } else {
        let reached = account
            .stages
            .iter()
            .rposition(|s| s.when.as_ref().is_some_and(|w| eval(w, &view)));
        Some(reached.unwrap_or(0))
    };
    view.stage = stage;
    let route = if disqualified {
        None
    } else {
        account
            .routes
            .iter()
            .find(|r| eval(&r.when, &view))
            .map(|r| RouteResult {
                route: r.id.clone(),
                team: model.teams[r.team].name.clone(),
            })
    };
    let triggers_active = account
        .triggers
        .iter()
        .filter(|t| !disqualified || condition::names_disqualified(&t.when))
        .filter(|t| eval(&t.when, &view))
        .map(|t| t.id.clone())
        .collect();
    Some(AccountResult {
        account: key.to_owned(),
        members: members.iter().map(|m| m.id.to_owned()).collect(),
        score: raw.round() as i64,
        raw,
        fit,
        engagement,
        label: account
            .labels
            .iter()
            .find(|t| raw >= t.min)
            .map(|t| t.name.clone()),
        stage: stage.map(|s| account.stages[s].id.clone()),
        disqualified,
        route,
        triggers_active,
        explain,
    })
}
