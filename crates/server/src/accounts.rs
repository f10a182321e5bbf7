//! `/api/v1/accounts`: account scores under the active model's `[account]`.
//!
//! Computed on read from the store's account membership: every current contact score
//! carries the contact's account (`"account":{"key","attributes"}`, see
//! `docs/semantics.md`, "Accounts"), and the store keeps that part of each score in
//! `account_members` (written with the score, in its transaction; see
//! [`leadscore_store::Accounts`]). One account is one index range of that table; the
//! list reads it whole in pages of 5,000 small rows (no stored result is parsed), and
//! the engine's [`leadscore_engine::score_account`] scores each account from its
//! members. An account therefore changes the moment one of its contacts is rescored or
//! erased. The list's cost still grows with the number of account members (like
//! `/api/v1/reports/distribution`); a materialised account score table is the next step
//! when lists over millions of contacts matter.
//!
//! * `GET /api/v1/accounts[?limit=N&cursor=C]`: `{"items":[..],"next":..}`, highest
//!   account score first (ties: key ascending), each item the account result with its
//!   explanation and members.
//! * `GET /api/v1/accounts/{key}`: one account, 404 when no contact belongs to it.
//! * `GET /api/v1/accounts/{key}/automation`: `{"account","owner","team","assignments",
//!   "triggers"}`: the account's owner audit trail and trigger states, also once its
//!   last member is gone.
//!
//! Each account shows its `owner` (`null` until an `[[account.route]]` gave it one; see
//! `docs/automation.md`, "Accounts: one owner"). Routing scores a contact's account
//! through [`account_of`].
//!
//! Without an `[account]` table in the active model both answer 404 with code
//! `not_found` and say so.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_engine::{
    AccountResult, Fields, Member, Millis, ScoreResult, Value, rank_accounts, score_account,
};
use leadscore_store::accounts::{AccountMember, AccountTriggerCheck};
use leadscore_store::automation::AssignRequest;
use leadscore_store::{Accounts as _, Automation as _};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Access};
use crate::automation_api::{AssignmentJson, TriggerJson};
use crate::error::{Error, Result};
use crate::params::{limit, query};
use crate::state::AppState;

/// Members read per store query when scoring every account.
const PAGE: u32 = 5000;
/// The account routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/accounts", get(list))
        .route("/api/v1/accounts/{key}", get(one))
        .route("/api/v1/accounts/{key}/automation", get(automation))
}

/// A member as read from its stored result: id, account attributes, engagement,
/// disqualified.
type Kept = (String, BTreeMap<String, Value>, f64, bool);

/// Every account with at least one member, scored, best first.
async fn accounts(state: &AppState, only: Option<&str>) -> Result<Vec<AccountResult>> {
    let engine = state.engine();
    let model = engine.model();
    if model.account.is_none() {
        return Err(Error::NotFound(
            "the active model has no `[account]` table".to_owned(),
        ));
    }
    state.committer.settled().await;
    let members = stored_members(state, only).await?;
    Ok(score_all(model, &members))
}

/// The account of contact `id` scored with its fresh `result` in place of its stored
/// one (routing runs before the fresh score is saved); `None` when the contact has no
/// account or the model no `[account]`. Does not wait for pending commits: it runs
/// inside a rescoring.
pub(crate) async fn account_of(
    state: &AppState,
    id: &str,
    result: &leadscore_engine::ScoreResult,
) -> Result<Option<AccountResult>> {
    let Some(account) = &result.account else {
        return Ok(None);
    };
    let engine = state.engine();
    let mut members = stored_members(state, Some(&account.key)).await?;
    let kept = members.entry(account.key.clone()).or_default();
    kept.retain(|(member, ..)| member != id);
    kept.push((
        id.to_owned(),
        account.attributes.clone(),
        result.engagement,
        result.disqualified,
    ));
    Ok(score_all(engine.model(), &members).into_iter().next())
}

/// The members of every account (of `only`) as their stored results give them, read
/// from the store's materialised membership ([`leadscore_store::Accounts`]): one
/// index range for one account, pages of [`PAGE`] members for all of them.
async fn stored_members(
    state: &AppState,
    only: Option<&str>,
) -> Result<HashMap<String, Vec<Kept>>> {
    let mut members: HashMap<String, Vec<Kept>> = HashMap::new();
    if let Some(key) = only {
        for member in state.store.account_members(key).await? {
            keep(&mut members, member)?;
        }
        return Ok(members);
    }
    let mut after: Option<(String, String)> = None;
    loop {
        let page = state
            .store
            .account_members_after(after.as_ref().map(|(k, c)| (k.as_str(), c.as_str())), PAGE)
            .await?;
        let full = page.len() == PAGE as usize;
        if let Some(last) = page.last() {
            after = Some((last.account_key.clone(), last.contact_id.clone()));
        }
        for member in page {
            keep(&mut members, member)?;
        }
        if !full {
            return Ok(members);
        }
    }
}

/// Adds a stored member to its account's members.
fn keep(members: &mut HashMap<String, Vec<Kept>>, member: AccountMember) -> Result<()> {
    let attributes: BTreeMap<String, Value> = serde_json::from_str(&member.attributes)
        .map_err(|e| Error::Internal(format!("stored account attributes unreadable: {e}")))?;
    members.entry(member.account_key).or_default().push((
        member.contact_id,
        attributes,
        member.engagement,
        member.disqualified,
    ));
    Ok(())
}

/// Each account of `members` scored, best first.
fn score_all(
    model: &leadscore_model::CompiledModel,
    members: &HashMap<String, Vec<Kept>>,
) -> Vec<AccountResult> {
    let mut results: Vec<AccountResult> = members
        .iter()
        .filter_map(|(key, kept)| score_one(model, key, kept))
        .collect();
    rank_accounts(&mut results);
    results
}

/// Account `key` scored from its members `kept`.
fn score_one(
    model: &leadscore_model::CompiledModel,
    key: &str,
    kept: &[Kept],
) -> Option<AccountResult> {
    let members: Vec<Member<'_>> = kept
        .iter()
        .map(|(id, attributes, engagement, disqualified)| Member {
            id,
            attributes: attributes as &dyn Fields,
            engagement: *engagement,
            disqualified: *disqualified,
        })
        .collect();
    score_account(model, key, &members)
}

/// The accounts a rescoring of `results` touches: those their fresh results name and
/// those their stored scores named before (a contact that left its account changes it
/// too). Empty under a model without `[account]`. Read before the scores are saved.
pub(crate) async fn touched(
    state: &AppState,
    results: &[(String, ScoreResult)],
) -> Result<BTreeSet<String>> {
    if state.engine().model().account.is_none() {
        return Ok(BTreeSet::new());
    }
    let ids: Vec<String> = results.iter().map(|(id, _)| id.clone()).collect();
    let mut keys = keys_of(state, &ids).await?;
    keys.extend(
        results
            .iter()
            .filter_map(|(_, r)| r.account.as_ref().map(|a| a.key.clone())),
    );
    Ok(keys)
}

/// The accounts the stored scores of `ids` name.
pub(crate) async fn keys_of(state: &AppState, ids: &[String]) -> Result<BTreeSet<String>> {
    Ok(state
        .store
        .account_keys(ids)
        .await?
        .into_iter()
        .map(|(_, key)| key)
        .collect())
}

/// After a rescoring (or an erasure) changed the members of `keys`: score each of those
/// accounts once, from its stored members, and record its trigger edges with their
/// actions (see `docs/automation.md`, "Account triggers"). An account left without
/// members re-arms its triggers and releases its owner (audited `last member gone`).
/// Nothing is written for an account whose active triggers did not change.
pub(crate) async fn settle(state: &AppState, keys: &BTreeSet<String>, now: Millis) -> Result<()> {
    let engine = state.engine();
    let model = engine.model();
    let Some(account) = &model.account else {
        return Ok(());
    };
    // Without account triggers and routes there is nothing to fire, route or release
    // (an account owner only comes from an account route).
    if keys.is_empty() || (account.triggers.is_empty() && account.routes.is_empty()) {
        return Ok(());
    }
    let keys: Vec<String> = keys.iter().cloned().collect();
    let mut members: HashMap<String, Vec<Kept>> = HashMap::new();
    for member in state.store.members_of(&keys).await? {
        keep(&mut members, member)?;
    }
    let mut stored: HashMap<String, HashSet<String>> = HashMap::new();
    for (key, trigger) in state.store.account_trigger_states(&keys).await? {
        if trigger.active {
            stored.entry(key).or_default().insert(trigger.trigger_id);
        }
    }
    let mut owners: HashMap<String, String> = state
        .store
        .account_owners(&keys)
        .await?
        .into_iter()
        .map(|o| (o.account_key, o.owner))
        .collect();
    let mut enqueued = false;
    for key in &keys {
        let was_active = stored.remove(key).unwrap_or_default();
        let Some(result) = members
            .get(key)
            .and_then(|kept| score_one(model, key, kept))
        else {
            // No member left: the account is gone until a contact names it again.
            if let Some(owner) = owners.remove(key) {
                state
                    .store
                    .release_account(key, "last member gone", now)
                    .await?;
                tracing::info!(account = %key, %owner, "account owner released: no member left");
            }
            if !was_active.is_empty() {
                let check = AccountTriggerCheck {
                    account_key: key.clone(),
                    at: now,
                    triggers: account
                        .triggers
                        .iter()
                        .map(|t| crate::automation::trigger_status(&engine, t, false))
                        .collect(),
                    members: Vec::new(),
                    snapshot: String::new(),
                };
                state.store.record_account_triggers(&check).await?;
            }
            continue;
        };
        if !owners.contains_key(key)
            && let Some(owner) = route(state, &engine, key, &result, now).await?
        {
            owners.insert(key.clone(), owner);
        }
        let active: HashSet<&str> = result.triggers_active.iter().map(String::as_str).collect();
        let changed = account
            .triggers
            .iter()
            .any(|t| active.contains(t.id.as_str()) != was_active.contains(&t.id));
        if !changed {
            continue;
        }
        let triggers = account
            .triggers
            .iter()
            .map(|t| crate::automation::trigger_status(&engine, t, active.contains(t.id.as_str())))
            .collect();
        let members = result.members.clone();
        let owned = Owned {
            owner: owners.get(key).cloned(),
            result,
        };
        let snapshot = serde_json::to_string(&owned)
            .map_err(|e| Error::Internal(format!("cannot serialize an account result: {e}")))?;
        let fired = state
            .store
            .record_account_triggers(&AccountTriggerCheck {
                account_key: key.clone(),
                at: now,
                triggers,
                members,
                snapshot,
            })
            .await?;
        if fired.is_empty() {
            continue;
        }
        state.automation.count_fired(fired.len());
        for edge in &fired {
            tracing::info!(account = %key, trigger = %edge.trigger_id, fires = edge.fires,
                deliveries = edge.deliveries.len(), "account trigger fired");
            enqueued |= !edge.deliveries.is_empty();
        }
    }
    if enqueued {
        state.automation.wake.notify_one();
    }
    Ok(())
}

/// Give account `key` (scored `result`, without an owner) its owner when one of its
/// `[[account.route]]`s matches, gathering its members owned within that team (see
/// [`leadscore_store::Automation::route_account`]); returns the owner. So an account
/// whose members were all routed one by one before it matched a route is not left
/// split until a new member arrives.
async fn route(
    state: &AppState,
    engine: &leadscore_engine::Engine,
    key: &str,
    result: &AccountResult,
    now: Millis,
) -> Result<Option<String>> {
    let Some(route) = &result.route else {
        return Ok(None);
    };
    let Some(team) = engine.model().teams.iter().find(|t| t.name == route.team) else {
        return Ok(None);
    };
    let request = AssignRequest {
        contact_id: String::new(),
        team: team.name.clone(),
        members: team.members.clone(),
        capacity: team.capacity,
        route: Some(route.route.clone()),
        reason: format!("account {key} (route {})", route.route),
        at: now,
    };
    let Some((owner, moved)) = state.store.route_account(key, &request).await? else {
        return Ok(state.store.account_owner(key).await?.map(|o| o.owner));
    };
    tracing::info!(account = key, owner = %owner.owner, team = %owner.team, "account owner chosen");
    crate::automation::gathered(state, key, moved);
    Ok(Some(owner.owner))
}

/// An account result with the account's owner (`null` until an `[[account.route]]`
/// gave it one).
#[derive(Serialize)]
struct Owned {
    #[serde(flatten)]
    result: AccountResult,
    owner: Option<String>,
}

/// `results` with their owners.
async fn with_owners(state: &AppState, results: Vec<AccountResult>) -> Result<Vec<Owned>> {
    let mut owned = Vec::with_capacity(results.len());
    for result in results {
        let owner = state.store.account_owner(&result.account).await?;
        owned.push(Owned {
            result,
            owner: owner.map(|o| o.owner),
        });
    }
    Ok(owned)
}

/// A cursor: the last item's raw score (as the bits of the float, in hex) and key.
fn cursor_of(result: &AccountResult) -> String {
    format!("{:016x}.{}", result.raw.to_bits(), result.account)
}

fn parse_cursor(text: &str) -> Option<(f64, &str)> {
    let (bits, key) = text.split_once('.')?;
    let bits = u64::from_str_radix(bits, 16)
        .ok()
        .filter(|_| bits.len() == 16)?;
    (!key.is_empty()).then_some((f64::from_bits(bits), key))
}

/// Query of the account list.
#[derive(Deserialize)]
struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Owned>,
    next: Option<String>,
}

/// `GET /api/v1/accounts[?limit=N&cursor=C]` (read).
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: std::result::Result<Query<ListParams>, QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let params = query(params)?;
    let max = state.config.max_page;
    let limit = limit(params.limit.as_deref(), max)?;
    let after = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(parse_cursor(text).ok_or_else(|| {
            Error::bad_request(
                format!("`cursor` is not a cursor this server gave out: `{text}`"),
                Some("cursor"),
            )
        })?),
    };
    let all = accounts(&state, None).await?;
    // Items strictly after the cursor in the list's order (raw descending, key
    // ascending), so pages stay right when accounts move between requests.
    let start = after.map_or(0, |(raw, key)| {
        all.partition_point(|a| a.raw > raw || (a.raw == raw && a.account.as_str() <= key))
    });
    let items: Vec<AccountResult> = all
        .into_iter()
        .skip(start)
        .take(limit as usize + 1)
        .collect();
    let (items, next) = if items.len() > limit as usize {
        let mut items = items;
        items.truncate(limit as usize);
        let next = items.last().map(cursor_of);
        (items, next)
    } else {
        (items, None)
    };
    let items = with_owners(&state, items).await?;
    Ok(axum::Json(Page { items, next }).into_response())
}

/// `GET /api/v1/accounts/{key}` (read): the account result with its explanation and
/// members; 404 when no contact belongs to `key`.
async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let key = key.trim().to_lowercase();
    let found = accounts(&state, Some(&key)).await?;
    match with_owners(&state, found).await?.pop() {
        Some(result) => Ok(axum::Json(result).into_response()),
        None => Err(Error::NotFound(format!("no account `{key}`"))),
    }
}

#[derive(Serialize)]
struct AccountAutomationJson {
    account: String,
    owner: Option<String>,
    team: Option<String>,
    assignments: Vec<AssignmentJson>,
    triggers: Vec<TriggerJson>,
}

/// `GET /api/v1/accounts/{key}/automation` (read): the account's owner, its owner
/// audit trail (chosen, released) and its trigger states.
async fn automation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    if state.engine().model().account.is_none() {
        return Err(Error::NotFound(
            "the active model has no `[account]` table".to_owned(),
        ));
    }
    state.committer.settled().await;
    let key = key.trim().to_lowercase();
    let keys = [key.clone()];
    let owner = state.store.account_owners(&keys).await?.pop();
    let assignments = state.store.account_assignments(&key).await?;
    let triggers = state.store.account_trigger_states(&keys).await?;
    Ok(axum::Json(AccountAutomationJson {
        account: key,
        owner: owner.as_ref().map(|o| o.owner.clone()),
        team: owner.map(|o| o.team),
        assignments: assignments.into_iter().map(Into::into).collect(),
        triggers: triggers.into_iter().map(|(_, t)| t.into()).collect(),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_what_we_never_gave_out() {
        let bits = 123.25f64.to_bits();
        let text = format!("{bits:016x}.acme.example");
        assert_eq!(parse_cursor(&text), Some((123.25, "acme.example")));
        assert_eq!(parse_cursor("zz.acme"), None);
        assert_eq!(parse_cursor(&format!("{bits:016x}.")), None);
        assert_eq!(parse_cursor("acme"), None);
    }
}
