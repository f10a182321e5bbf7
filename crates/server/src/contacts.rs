//! `/api/v1/contacts`: contacts, their scores (with explanation), score history and
//! erasure.
//!
//! Results are the documented shape (`docs/interfaces.md`), always with `explain`. The
//! current score is the one stored at the contact's last change; `?as_of=` computes the
//! score at any instant from the stored history instead.

use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_formats::parse_timestamp;
use leadscore_store::{ScoreQuery, Store as _, StoredScore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::ingest::json_body;
use crate::params::{limit, query};
use crate::scoring;
use crate::state::AppState;

/// Longest contact id accepted (a `userId` is an id, not a document).
const MAX_ID_BYTES: usize = 256;

/// The contact routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/contacts", get(list))
        .route(
            "/api/v1/contacts/{id}",
            get(get_contact).put(put_contact).delete(delete_contact),
        )
        .route("/api/v1/contacts/{id}/score", get(score))
        .route("/api/v1/contacts/{id}/scores", get(score_history))
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(Error::bad_request(
            format!("a contact id has 1 to {MAX_ID_BYTES} bytes"),
            Some("id"),
        ));
    }
    Ok(())
}

/// A JSON response from JSON text we produced (stored results are our own output).
fn json_text(status: StatusCode, text: String) -> Response {
    let mut response = (status, HttpBody::from(text)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn raw(text: String) -> Result<Box<RawValue>> {
    RawValue::from_string(text)
        .map_err(|e| Error::Internal(format!("stored result is not JSON: {e}")))
}

fn unknown(id: &str) -> Error {
    Error::NotFound(format!("no contact `{id}`"))
}

/// `?as_of=RFC3339`.
#[derive(Deserialize)]
struct AsOf {
    as_of: Option<String>,
}

/// `GET /api/v1/contacts/{id}/score[?as_of=]`.
async fn score(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: std::result::Result<Query<AsOf>, QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    check_id(&id)?;
    let params = query(params)?;
    let as_of = match params.as_of.as_deref() {
        Some(text) => Some(parse_timestamp(text).ok_or_else(|| {
            Error::bad_request(
                format!("`as_of` is not an RFC 3339 timestamp: `{text}`"),
                Some("as_of"),
            )
        })?),
        None => None,
    };
    if as_of.is_none() {
        // Stored scores include every acknowledged message once rescoring caught up.
        state.committer.settled().await;
    }
    if as_of.is_none()
        && let Some(stored) = state.store.score(&id).await?
    {
        return Ok(json_text(StatusCode::OK, stored.result));
    }
    let at = as_of.unwrap_or_else(scoring::now);
    let result = scoring::compute(&state, &id, at)
        .await?
        .ok_or_else(|| unknown(&id))?;
    Ok(json_text(
        StatusCode::OK,
        scoring::result_json(&id, at, &result)?,
    ))
}

#[derive(Serialize)]
struct Items {
    items: Vec<Box<RawValue>>,
}

/// `GET /api/v1/contacts/{id}/scores`: every stored score, oldest first.
async fn score_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    check_id(&id)?;
    state.committer.settled().await;
    let history = state.store.score_history(&id).await?;
    if history.is_empty() && state.store.contact(&id).await?.is_none() {
        return Err(unknown(&id));
    }
    let items = history
        .into_iter()
        .map(|s| raw(s.result))
        .collect::<Result<Vec<_>>>()?;
    Ok(axum::Json(Items { items }).into_response())
}

/// Query of the contact list.
#[derive(Deserialize)]
struct ListParams {
    sort: Option<String>,
    limit: Option<String>,
    label: Option<String>,
    grade: Option<String>,
    stage: Option<String>,
    /// Only the contacts this member owns (routing; `docs/automation.md`).
    owner: Option<String>,
    /// Only contacts with points in this score group, best in the group first
    /// (`docs/dashboard.md`).
    group: Option<String>,
    /// Search: a substring of the id or of the stored attributes (`docs/dashboard.md`).
    q: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Box<RawValue>>,
    next: Option<String>,
}

/// `GET /api/v1/contacts?sort=-score&limit=N[&label=&grade=&stage=&owner=&group=&q=&cursor=]`.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: std::result::Result<Query<ListParams>, QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let params = query(params)?;
    match params.sort.as_deref() {
        None | Some("-score") => {}
        Some(other) => {
            return Err(Error::bad_request(
                format!("cannot sort by `{other}`; supported: `-score` (best first)"),
                Some("sort"),
            ));
        }
    }
    let max = state.config.max_page;
    let limit = limit(params.limit.as_deref(), max)?;
    if let Some(cursor) = params.cursor.as_deref()
        && !cursor.is_empty()
        && !leadscore_store::cursor_is_valid(cursor)
    {
        return Err(Error::bad_request(
            format!("`cursor` is not a cursor this server gave out: `{cursor}`"),
            Some("cursor"),
        ));
    }
    if params.q.as_ref().is_some_and(|q| q.len() > MAX_ID_BYTES) {
        return Err(Error::bad_request(
            format!("`q` has at most {MAX_ID_BYTES} bytes"),
            Some("q"),
        ));
    }
    state.committer.settled().await;
    let page = state
        .store
        .list_scores(&ScoreQuery {
            label: params.label,
            grade: params.grade,
            stage: params.stage,
            owner: params.owner,
            group: params.group.filter(|g| !g.is_empty()),
            q: params
                .q
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty()),
            limit,
            after: params.cursor.filter(|c| !c.is_empty()),
        })
        .await?;
    let items = page
        .items
        .into_iter()
        .map(|s: StoredScore| raw(s.result))
        .collect::<Result<Vec<_>>>()?;
    Ok(axum::Json(Page {
        items,
        next: page.next,
    })
    .into_response())
}

/// A contact record as the API shows it.
#[derive(Serialize)]
struct ContactJson {
    id: String,
    attributes: Box<RawValue>,
    created_at: String,
    updated_at: String,
}

/// `GET /api/v1/contacts/{id}`: the record (attributes set through the API).
async fn get_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    check_id(&id)?;
    let contact = state
        .store
        .contact(&id)
        .await?
        .ok_or_else(|| unknown(&id))?;
    Ok(axum::Json(ContactJson {
        id: contact.id,
        attributes: raw(contact.attributes)?,
        created_at: leadscore_formats::format_timestamp(contact.created_at),
        updated_at: leadscore_formats::format_timestamp(contact.updated_at),
    })
    .into_response())
}

/// `PUT /api/v1/contacts/{id}`: create or replace the attributes, then rescore; the
/// answer is the new score (201 when the contact is new, else 200).
async fn put_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    check_id(&id)?;
    let value = json_body(body, state.config.max_body_bytes)?;
    let Value::Object(map) = &value else {
        return Err(Error::unprocessable(
            "expected a JSON object of attributes `{\"job_title\":\"CTO\",...}`",
            None,
        ));
    };
    check_attributes(map, "")?;
    let existed = state.store.contact(&id).await?.is_some();
    state
        .store
        .put_contact(&id, &value.to_string(), scoring::now())
        .await?;
    let stored = scoring::rescore(&state, &id)
        .await?
        .ok_or_else(|| Error::Internal(format!("contact `{id}` vanished after it was put")))?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_text(status, stored.result))
}

/// Attributes are scalars (`null` removes one); nested objects are dotted keys.
fn check_attributes(map: &serde_json::Map<String, Value>, prefix: &str) -> Result<()> {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Array(_) => {
                return Err(Error::unprocessable(
                    format!(
                        "attribute `{path}` is an array; attributes are strings, numbers or booleans"
                    ),
                    Some(&path),
                ));
            }
            Value::Object(inner) => check_attributes(inner, &path)?,
            _ => {}
        }
    }
    Ok(())
}

/// `DELETE /api/v1/contacts/{id}`: erase the contact, its scores and every message of
/// it and of the anonymous ids linked to it (admin only). 204, or 404 when unknown.
async fn delete_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    check_id(&id)?;
    let _claim = state.claims.claim_one(&id).await;
    // Its account (if any) is automated again without it once it is gone.
    let accounts = crate::accounts::keys_of(&state, std::slice::from_ref(&id)).await?;
    if state.store.erase_contact(&id).await? {
        state.history.forget(&id);
        tracing::info!(contact = %id, "contact erased");
        crate::accounts::settle(&state, &accounts, crate::scoring::now()).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(unknown(&id))
    }
}
