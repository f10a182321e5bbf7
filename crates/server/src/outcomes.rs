//! `/api/v1/contacts/{id}/outcomes`: what sales closed for a contact (`won`, `lost`,
//! `converted`), the ground truth of reports and backtests (`docs/learning.md`).
//!
//! Outcomes also arrive through ingestion: the store records the Segment track events
//! `Order Completed` and `Opportunity Won` (`won`) and `Opportunity Lost` (`lost`) in
//! the transaction that stores the event (`leadscore_store::outcomes`). Here a CRM
//! (or a person) records one directly: with a write key (what a CRM integration holds,
//! as `Authorization: Bearer` or HTTP Basic like ingestion) or an admin key. An
//! optional `message_id` is the idempotency key: a retried call counts once, and
//! answers `200` with the outcome stored the first time instead of `201`.

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_formats::{format_timestamp, parse_timestamp};
use leadscore_store::Store as _;
use leadscore_store::outcomes::{self, NewOutcome, Outcomes as _, StoredOutcome};
use serde::Serialize;
use serde_json::Value;

use crate::adjustments::check_id;
use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::ingest::json_object;
use crate::scoring;
use crate::state::AppState;

/// Longest `message_id` accepted, in bytes.
const MAX_KEY_BYTES: usize = 256;

/// The outcome routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/contacts/{id}/outcomes", get(list).post(add))
}

/// An outcome as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct OutcomeJson {
    id: i64,
    contact_id: String,
    outcome: String,
    at: String,
    source: String,
    message_id: Option<String>,
    recorded_at: String,
}

impl From<StoredOutcome> for OutcomeJson {
    fn from(stored: StoredOutcome) -> Self {
        let o = stored.outcome;
        Self {
            id: stored.id,
            contact_id: o.contact_id,
            outcome: o.outcome,
            at: format_timestamp(o.at),
            source: o.source,
            message_id: o.message_id,
            recorded_at: format_timestamp(o.recorded_at),
        }
    }
}

/// A contact's outcomes for the privacy export, in time order.
pub(crate) async fn of_contact(state: &AppState, id: &str) -> Result<Vec<OutcomeJson>> {
    Ok(state
        .store
        .outcomes(id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// A write or admin key, as `Authorization: Bearer` or HTTP Basic (as ingestion).
async fn writer(state: &AppState, headers: &HeaderMap) -> Result<()> {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| Error::Unauthorized("missing `Authorization` header".into()))?;
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let role = if scheme.eq_ignore_ascii_case("bearer") {
        auth::ingest_key(state, rest.trim()).await
    } else {
        auth::ingest(state, headers).await
    };
    match role {
        Err(Error::Forbidden(_)) => Err(Error::Forbidden(
            "a read key cannot record outcomes; use a write or admin key".into(),
        )),
        other => other.map(drop),
    }
}

/// `POST /api/v1/contacts/{id}/outcomes` with
/// `{"outcome":"won"|"lost"|"converted","at":"RFC3339","message_id":"..."}`
/// (`message_id` optional).
async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response> {
    writer(&state, &headers).await?;
    check_id(&id)?;
    let map = json_object(
        body,
        state.config.max_body_bytes,
        &["outcome", "at", "message_id"],
        "`{\"outcome\":\"won\",\"at\":\"2026-01-31T12:00:00Z\"}`",
        "an outcome has `outcome`, `at` and `message_id`",
    )?;
    let outcome = match map.get("outcome") {
        Some(Value::String(o)) if outcomes::kind::ALL.contains(&o.as_str()) => o.clone(),
        Some(Value::String(o)) => {
            return Err(Error::unprocessable(
                format!("unknown outcome `{o}`; use `won`, `lost` or `converted`"),
                Some("outcome"),
            ));
        }
        _ => {
            return Err(Error::unprocessable(
                "`outcome` is required: `won`, `lost` or `converted`",
                Some("outcome"),
            ));
        }
    };
    let at = match map.get("at") {
        Some(Value::String(text)) => parse_timestamp(text).ok_or_else(|| {
            Error::unprocessable(
                format!("`at`: `{text}` is not an RFC 3339 timestamp"),
                Some("at"),
            )
        })?,
        _ => {
            return Err(Error::unprocessable(
                "`at` is required: an RFC 3339 timestamp such as `2026-01-31T12:00:00Z`",
                Some("at"),
            ));
        }
    };
    let message_id = match map.get("message_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if !key.is_empty() && key.len() <= MAX_KEY_BYTES => {
            Some(key.clone())
        }
        Some(_) => {
            return Err(Error::unprocessable(
                format!("`message_id` must be a text of 1 to {MAX_KEY_BYTES} bytes, or null"),
                Some("message_id"),
            ));
        }
    };
    if state.store.contact(&id).await?.is_none() && state.store.history(&id).await?.is_empty() {
        return Err(Error::NotFound(format!("no contact `{id}`")));
    }
    let (stored, created) = state
        .store
        .add_outcome(&NewOutcome {
            contact_id: id,
            outcome,
            at,
            source: outcomes::source::API.to_owned(),
            message_id,
            recorded_at: scoring::now(),
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(OutcomeJson::from(stored))).into_response())
}

#[derive(Serialize)]
struct Items {
    items: Vec<OutcomeJson>,
}

/// `GET /api/v1/contacts/{id}/outcomes` (read key): in time order.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    check_id(&id)?;
    let items = of_contact(&state, &id).await?;
    if items.is_empty()
        && state.store.contact(&id).await?.is_none()
        && state.store.history(&id).await?.is_empty()
    {
        return Err(Error::NotFound(format!("no contact `{id}`")));
    }
    Ok(axum::Json(Items { items }).into_response())
}
