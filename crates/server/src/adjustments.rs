//! `/api/v1/contacts/{id}/adjustments`: manual adjustments, points a person gives a
//! contact with a reason.
//!
//! An adjustment is added (admin key) and listed (read key), never edited or deleted
//! through the API: only erasure of the contact removes them. Its author is the name
//! of the API key that made it (its id when it has no name). The contact is rescored
//! at once, so the answer's `score` and every later read include it; the engine lists
//! it in `explain` (`rule: "manual"`, with `author` and the reason as `label`).

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_store::{NewAdjustment, Store as _, StoredAdjustment};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::ingest::json_object;
use crate::scoring;
use crate::state::AppState;

/// Longest reason accepted, in bytes.
const MAX_REASON_BYTES: usize = 2000;

/// The adjustment routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/contacts/{id}/adjustments", get(list).post(add))
}

/// An adjustment as the API shows it.
#[derive(Serialize)]
struct AdjustmentJson {
    id: i64,
    contact_id: String,
    points: f64,
    reason: String,
    author: String,
    group: Option<String>,
    at: String,
}

impl From<StoredAdjustment> for AdjustmentJson {
    fn from(stored: StoredAdjustment) -> Self {
        let a = stored.adjustment;
        Self {
            id: stored.id,
            contact_id: a.contact_id,
            points: a.points,
            reason: a.reason,
            author: a.author,
            group: a.group,
            at: leadscore_formats::format_timestamp(a.at),
        }
    }
}

/// The answer to an added adjustment: it, and the contact's new score.
#[derive(Serialize)]
struct Added {
    #[serde(flatten)]
    adjustment: AdjustmentJson,
    score: Box<RawValue>,
}

/// A contact id in a path: 1 to 256 bytes.
pub(crate) fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 256 {
        return Err(Error::bad_request(
            "a contact id has 1 to 256 bytes",
            Some("id"),
        ));
    }
    Ok(())
}

/// `POST /api/v1/contacts/{id}/adjustments` with `{"points":N,"reason":"...","group":null}`.
async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response> {
    let (_, key) = auth::api_key(&state, &headers, Access::Admin).await?;
    check_id(&id)?;
    let map = json_object(
        body,
        state.config.max_body_bytes,
        &["points", "reason", "group"],
        "`{\"points\":N,\"reason\":\"...\",\"group\":null}`",
        "an adjustment has `points`, `reason` and `group`",
    )?;
    let points = match map.get("points") {
        Some(Value::Number(n)) => n.as_f64().filter(|p| p.is_finite()),
        _ => None,
    }
    .ok_or_else(|| Error::unprocessable("`points` must be a number", Some("points")))?;
    let reason = match map.get("reason") {
        Some(Value::String(r)) if !r.trim().is_empty() => r.trim().to_owned(),
        _ => {
            return Err(Error::unprocessable(
                "`reason` is required: a non-empty text that says why",
                Some("reason"),
            ));
        }
    };
    if reason.len() > MAX_REASON_BYTES {
        return Err(Error::unprocessable(
            format!("`reason` is longer than {MAX_REASON_BYTES} bytes"),
            Some("reason"),
        ));
    }
    let engine = state.engine();
    let group = match map.get("group") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            if !engine.model().groups.iter().any(|g| &g.name == name) {
                let known: Vec<_> = engine
                    .model()
                    .groups
                    .iter()
                    .map(|g| format!("`{}`", g.name))
                    .collect();
                return Err(Error::unprocessable(
                    format!(
                        "unknown group `{name}`; the active model has {}",
                        if known.is_empty() {
                            "no groups".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                    Some("group"),
                ));
            }
            Some(name.clone())
        }
        Some(_) => {
            return Err(Error::unprocessable(
                "`group` must be a group name or null",
                Some("group"),
            ));
        }
    };
    if state.store.contact(&id).await?.is_none() && state.store.history(&id).await?.is_empty() {
        return Err(Error::NotFound(format!("no contact `{id}`")));
    }
    let stored = state
        .store
        .add_adjustment(&NewAdjustment {
            contact_id: id.clone(),
            points,
            reason,
            author: key.name.filter(|n| !n.is_empty()).unwrap_or(key.id),
            group,
            at: scoring::now(),
        })
        .await?;
    let score = scoring::rescore(&state, &id)
        .await?
        .ok_or_else(|| Error::Internal(format!("contact `{id}` vanished while adjusted")))?;
    let score = RawValue::from_string(score.result)
        .map_err(|e| Error::Internal(format!("a result is not JSON: {e}")))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Added {
            adjustment: stored.into(),
            score,
        }),
    )
        .into_response())
}

#[derive(Serialize)]
struct Items {
    items: Vec<AdjustmentJson>,
}

/// `GET /api/v1/contacts/{id}/adjustments`: oldest first.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    check_id(&id)?;
    let adjustments = state.store.adjustments(&id).await?;
    if adjustments.is_empty() && state.store.contact(&id).await?.is_none() {
        return Err(Error::NotFound(format!("no contact `{id}`")));
    }
    Ok(axum::Json(Items {
        items: adjustments.into_iter().map(Into::into).collect(),
    })
    .into_response())
}
