//! `/api/v1/accounts`: account scores under the active model's `[account]`.
//!
//! Computed on read, not stored: every current contact score carries the contact's
//! account (`"account":{"key","attributes"}`, see `docs/semantics.md`, "Accounts"), so
//! one pass over the stored scores (pages of 1,000 through
//! [`leadscore_store::Store::list_scores`]) groups the members, and the engine's
//! [`leadscore_engine::score_account`] scores each account from its members' stored
//! results. An account therefore changes the moment one of its contacts is rescored or
//! erased, with nothing to keep in step. The cost grows with the number of contacts (like
//! `/api/v1/reports/distribution`); a materialised account table updated after each
//! rescoring is the next step when lists over hundreds of thousands of contacts matter.
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
use leadscore_store::{Automation as _, ScoreQuery, Store as _};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::params::{limit, query};
use crate::state::AppState;

/// Rows read per store query.
const PAGE: u32 = 1000;
/// The account routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/accounts", get(list))
        .route("/api/v1/accounts/{key}", get(one))
}

/// What account scoring reads of a stored contact result.
#[derive(Deserialize)]
struct Stored {
    contact_id: String,
    #[serde(default)]
    engagement: Option<f64>,
    #[serde(default)]
    disqualified: bool,
    #[serde(default)]
    account: Option<StoredAccount>,
}

#[derive(Deserialize)]
struct StoredAccount {
    key: String,
    #[serde(default)]
    attributes: BTreeMap<String, Value>,
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

/// The members of every account (of `only`) as their stored results give them.
async fn stored_members(
    state: &AppState,
    only: Option<&str>,
) -> Result<HashMap<String, Vec<Kept>>> {
    let mut members: HashMap<String, Vec<Kept>> = HashMap::new();
    let mut after = None;
    loop {
        let page = state
            .store
            .list_scores(&ScoreQuery {
                limit: PAGE,
                after: after.take(),
                ..ScoreQuery::default()
            })
            .await?;
        for score in &page.items {
            let stored: Stored = serde_json::from_str(&score.result)
                .map_err(|e| Error::Internal(format!("stored result is not a result: {e}")))?;
            let Some(account) = stored.account else {
                continue;
            };
            if only.is_some_and(|key| key != account.key) {
                continue;
            }
            members.entry(account.key).or_default().push((
                stored.contact_id,
                account.attributes,
                stored.engagement.unwrap_or(0.0),
                stored.disqualified,
            ));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(members)
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
