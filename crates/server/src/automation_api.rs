//! The automation routes: the webhook outbox (list, show, replay), a rep's queue, and
//! a contact's automation record (stages with reasons, assignments, tags, triggers).
//!
//! * `GET /api/v1/webhooks/deliveries[?status=pending|delivered|dead&limit=&cursor=]`
//!   (read): deliveries (webhook and e-mail), oldest first, without their body.
//! * `GET /api/v1/webhooks/deliveries/{id}` (read): one, with its body (the contact
//!   result sent).
//! * `POST /api/v1/webhooks/deliveries/{id}/replay` (admin): a dead or delivered one
//!   becomes pending again (attempts 0, due now, same id): `202`.
//! * `GET /api/v1/owners/{member}/queue[?limit=&cursor=]` (read): the contacts the
//!   member owns, best score first: the contact list filtered by `owner`.
//! * `GET /api/v1/contacts/{id}/automation` (read): `{"contact_id","owner","tags",
//!   "stages","assignments","triggers"}`.
//! * `GET /api/v1/teams` (read): the active model's teams, each member's open leads
//!   against the team's capacity: what routing will do next (a member at capacity is
//!   skipped) at a glance.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leadscore_formats::format_timestamp;
use leadscore_store::accounts::AccountAssignment;
use leadscore_store::automation::{
    AssignmentRecord, Delivery, DeliveryQuery, StageChange, TriggerState, delivery_cursor_is_valid,
    status,
};
use leadscore_store::{Automation as _, ScoreQuery, Store as _};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::params::{limit, query};
use crate::scoring;
use crate::state::AppState;

/// The automation routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks/deliveries", get(list_deliveries))
        .route("/api/v1/webhooks/deliveries/{id}", get(show_delivery))
        .route("/api/v1/webhooks/deliveries/{id}/replay", post(replay))
        .route("/api/v1/owners/{member}/queue", get(queue))
        .route("/api/v1/contacts/{id}/automation", get(contact_automation))
        .route("/api/v1/teams", get(teams))
}

/// A delivery as the API shows it.
#[derive(Serialize)]
struct DeliveryJson {
    id: String,
    /// `null` for an account trigger's delivery.
    contact_id: Option<String>,
    /// The account of an account trigger's delivery (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    trigger: String,
    fires: i64,
    kind: String,
    target: String,
    status: String,
    attempts: i64,
    fired_at: String,
    created_at: String,
    next_attempt_at: Option<String>,
    delivered_at: Option<String>,
    last_error: Option<String>,
    /// The contact result sent (one delivery, contact triggers).
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<Box<RawValue>>,
    /// The account result sent (one delivery, account triggers).
    #[serde(skip_serializing_if = "Option::is_none", rename = "account_result")]
    account_result: Option<Box<RawValue>>,
}

impl DeliveryJson {
    fn new(d: Delivery, with_body: bool) -> Self {
        let pending = d.status == status::PENDING;
        let body = with_body
            .then(|| RawValue::from_string(d.body).ok())
            .flatten();
        let (contact, account_result) = match d.account_key {
            Some(_) => (None, body),
            None => (body, None),
        };
        Self {
            contact,
            account_result,
            id: d.id,
            contact_id: d.account_key.is_none().then_some(d.contact_id),
            account: d.account_key,
            trigger: d.trigger_id,
            fires: d.fires,
            kind: d.kind,
            target: d.target,
            status: d.status,
            attempts: d.attempts,
            fired_at: format_timestamp(d.fired_at),
            created_at: format_timestamp(d.created_at),
            next_attempt_at: pending.then(|| format_timestamp(d.next_attempt_at)),
            delivered_at: d.delivered_at.map(format_timestamp),
            last_error: d.last_error,
        }
    }
}

#[derive(Deserialize)]
struct DeliveryParams {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct DeliveryList {
    items: Vec<DeliveryJson>,
    next: Option<String>,
}

/// `GET /api/v1/webhooks/deliveries`.
async fn list_deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: std::result::Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let params = query(params)?;
    if let Some(s) = params.status.as_deref()
        && !status::ALL.contains(&s)
    {
        return Err(Error::bad_request(
            format!("`status` is one of pending, delivered, dead; found `{s}`"),
            Some("status"),
        ));
    }
    let limit = limit(params.limit.as_deref(), state.config.max_page)?;
    let after = params.cursor.filter(|c| !c.is_empty());
    if let Some(cursor) = &after
        && !delivery_cursor_is_valid(cursor)
    {
        return Err(Error::bad_request(
            format!("`cursor` is not a cursor this server gave out: `{cursor}`"),
            Some("cursor"),
        ));
    }
    let page = state
        .store
        .deliveries(&DeliveryQuery {
            status: params.status,
            limit,
            after,
        })
        .await?;
    Ok(axum::Json(DeliveryList {
        items: page
            .items
            .into_iter()
            .map(|d| DeliveryJson::new(d, false))
            .collect(),
        next: page.next,
    })
    .into_response())
}

fn no_delivery(id: &str) -> Error {
    Error::NotFound(format!("no delivery `{id}`"))
}

/// `GET /api/v1/webhooks/deliveries/{id}`.
async fn show_delivery(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let delivery = state
        .store
        .delivery(&id)
        .await?
        .ok_or_else(|| no_delivery(&id))?;
    Ok(axum::Json(DeliveryJson::new(delivery, true)).into_response())
}

/// `POST /api/v1/webhooks/deliveries/{id}/replay` (admin): `202`.
async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    let delivery = state
        .store
        .replay_delivery(&id, scoring::now())
        .await?
        .ok_or_else(|| no_delivery(&id))?;
    tracing::info!(delivery = %id, "delivery replayed");
    state.automation.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(DeliveryJson::new(delivery, false)),
    )
        .into_response())
}

#[derive(Deserialize)]
struct QueueParams {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Box<RawValue>>,
    next: Option<String>,
}

/// `GET /api/v1/owners/{member}/queue`: the member's contacts, best score first.
async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(member): Path<String>,
    params: std::result::Result<Query<QueueParams>, QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let params = query(params)?;
    let limit = limit(params.limit.as_deref(), state.config.max_page)?;
    let after = params.cursor.filter(|c| !c.is_empty());
    if let Some(cursor) = &after
        && !leadscore_store::cursor_is_valid(cursor)
    {
        return Err(Error::bad_request(
            format!("`cursor` is not a cursor this server gave out: `{cursor}`"),
            Some("cursor"),
        ));
    }
    state.committer.settled().await;
    let page = state
        .store
        .list_scores(&ScoreQuery {
            owner: Some(member),
            limit,
            after,
            ..ScoreQuery::default()
        })
        .await?;
    let items = page
        .items
        .into_iter()
        .map(|s| {
            RawValue::from_string(s.result)
                .map_err(|e| Error::Internal(format!("stored result is not JSON: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(axum::Json(Page {
        items,
        next: page.next,
    })
    .into_response())
}

#[derive(Serialize)]
struct StageJson {
    stage: String,
    reason: String,
    actor: String,
    at: String,
}

impl From<StageChange> for StageJson {
    fn from(c: StageChange) -> Self {
        Self {
            stage: c.stage,
            reason: c.reason,
            actor: c.actor,
            at: format_timestamp(c.at),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct AssignmentJson {
    owner: Option<String>,
    team: String,
    reason: String,
    previous_owner: Option<String>,
    at: String,
}

impl From<AssignmentRecord> for AssignmentJson {
    fn from(a: AssignmentRecord) -> Self {
        Self {
            owner: a.owner,
            team: a.team,
            reason: a.reason,
            previous_owner: a.previous_owner,
            at: format_timestamp(a.at),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct TriggerJson {
    trigger: String,
    active: bool,
    fires: i64,
    changed_at: String,
}

impl From<TriggerState> for TriggerJson {
    fn from(t: TriggerState) -> Self {
        Self {
            trigger: t.trigger_id,
            active: t.active,
            fires: t.fires,
            changed_at: format_timestamp(t.changed_at),
        }
    }
}

/// An account's owner audit line, shown as a contact's is.
impl From<AccountAssignment> for AssignmentJson {
    fn from(a: AccountAssignment) -> Self {
        Self {
            owner: a.owner,
            team: a.team,
            reason: a.reason,
            previous_owner: a.previous_owner,
            at: format_timestamp(a.at),
        }
    }
}

#[derive(Serialize)]
struct ContactAutomationJson {
    contact_id: String,
    owner: Option<String>,
    team: Option<String>,
    tags: Vec<String>,
    stages: Vec<StageJson>,
    assignments: Vec<AssignmentJson>,
    triggers: Vec<TriggerJson>,
}

/// `GET /api/v1/contacts/{id}/automation`.
async fn contact_automation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    state.committer.settled().await;
    if state.store.contact(&id).await?.is_none() {
        return Err(Error::NotFound(format!("no contact `{id}`")));
    }
    let current = state.store.automation_state(&id).await?;
    let tags = state.store.tags(&id).await?;
    let assignments = state.store.assignments(&id).await?;
    Ok(axum::Json(ContactAutomationJson {
        contact_id: id,
        owner: current.owner.as_ref().map(|o| o.owner.clone()),
        team: current.owner.map(|o| o.team),
        tags,
        stages: current.stages.into_iter().map(Into::into).collect(),
        assignments: assignments.into_iter().map(Into::into).collect(),
        triggers: current.triggers.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// One member of a team and how loaded they are.
#[derive(Serialize)]
struct MemberLoad {
    member: String,
    /// Contacts the member owns now (across every team: routing counts them all).
    open: i64,
    /// `open >= capacity`: routing skips the member until a lead is released.
    full: bool,
}

/// A team of the active model.
#[derive(Serialize)]
struct TeamLoad {
    team: String,
    /// Open leads per member; `null`: unlimited.
    capacity: Option<u32>,
    members: Vec<MemberLoad>,
    /// Open leads of the whole team.
    open: i64,
    /// Leads the team can still take (`null` when unlimited).
    free: Option<i64>,
}

#[derive(Serialize)]
struct TeamList {
    items: Vec<TeamLoad>,
}

/// `GET /api/v1/teams`: each team of the active model with its members' loads, in the
/// model's order. Owners kept from an earlier model but no longer in any team are not
/// listed (routing releases them on activation).
async fn teams(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    state.committer.settled().await;
    let loads: std::collections::HashMap<String, i64> =
        state.store.owner_loads().await?.into_iter().collect();
    let engine = state.engine();
    let items = engine
        .model()
        .teams
        .iter()
        .map(|team| {
            let members: Vec<MemberLoad> = team
                .members
                .iter()
                .map(|member| {
                    let open = loads.get(member).copied().unwrap_or(0);
                    MemberLoad {
                        member: member.clone(),
                        open,
                        full: team.capacity.is_some_and(|c| open >= i64::from(c)),
                    }
                })
                .collect();
            let open = members.iter().map(|m| m.open).sum();
            let free = team
                .capacity
                .map(|c| members.iter().map(|m| (i64::from(c) - m.open).max(0)).sum());
            TeamLoad {
                team: team.name.clone(),
                capacity: team.capacity,
                members,
                open,
                free,
            }
        })
        .collect();
    Ok(axum::Json(TeamList { items }).into_response())
}
