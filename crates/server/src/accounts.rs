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
//!
//! Each account shows its `owner` (`null` until an `[[account.route]]` gave it one; see
//! `docs/automation.md`, "Accounts: one owner"). Routing scores a contact's account
//! through [`account_of`].
//!
//! Without an `[account]` table in the active model both answer 404 with code
//! `not_found` and say so.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_engine::{AccountResult, Fields, Member, Value, rank_accounts, score_account};
use leadscore_store::accounts::AccountMember;
use leadscore_store::{Accounts as _, Automation as _};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Access};
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
        .filter_map(|(key, kept)| {
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
        })
        .collect();
    rank_accounts(&mut results);
    results
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
