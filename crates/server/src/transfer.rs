//! Data in and out in bulk: CSV imports of contacts and of events, exports of the
//! current scores, the contact records and the event log, and the privacy export of one
//! contact (everything we hold about a person, for a data subject's access request).
//!
//! Imports are all or nothing: every row is checked first, and one bad row answers
//! `422` with every bad row listed (`rejected`: line, field, message) and stores
//! nothing, so a user fixes the file and sends it again. Exports stream page by page,
//! so a million contacts never sit in memory at once. The decisions (merge versus
//! replace, column names, formats) are written down in `docs/http.md`.

use axum::Json;
use axum::Router;
use axum::body::{Body as HttpBody, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use leadscore_engine::Value as AttributeValue;
use leadscore_formats::{ContactsReader, EventsCsvReader, RowErrorKind, format_timestamp};
use leadscore_store::{Contact, ScoreQuery, Store as _};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::auth::{self, Access};
use crate::error::{Error, ErrorBody, Result};
use crate::ingest::prepare;
use crate::params::query;
use crate::scoring;
use crate::state::AppState;

/// Rows per page when an export reads the store.
const EXPORT_PAGE: u32 = 1000;

/// At most this many bad rows are listed in a rejected import (the count says how
/// many there were in all).
const MAX_LISTED: usize = 100;

/// The import and export routes; imports take bodies up to the configured import
/// limit (much larger than an ingestion request).
pub fn router(state: &AppState) -> Router<AppState> {
    let imports = Router::new()
        .route("/api/v1/import/contacts", post(import_contacts))
        .route("/api/v1/import/events", post(import_events))
        .layer(DefaultBodyLimit::max(state.config.max_import_bytes));
    Router::new()
        .route("/api/v1/export/scores", get(export_scores))
        .route("/api/v1/export/contacts", get(export_contacts))
        .route("/api/v1/export/events", get(export_events))
        .route("/api/v1/contacts/{id}/export", get(privacy_export))
        .merge(imports)
}

type Body = std::result::Result<Bytes, BytesRejection>;

/// The body's bytes, with 413 over the import limit.
fn bytes(body: Body, limit: usize) -> Result<Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge {
                message: format!(
                    "import larger than {limit} bytes; split the file (each part is all or nothing)"
                ),
                field: None,
            }
        } else {
            Error::bad_request(format!("cannot read the body: {rejection}"), None)
        }
    })
}

/// One bad row of an import.
#[derive(Debug, Serialize)]
struct RejectedRow {
    /// 1-based line of the file where the row starts.
    line: u64,
    /// The column (CSV) or message field (JSON) at fault, if one is.
    field: Option<String>,
    /// What is wrong.
    message: String,
}

#[derive(Serialize)]
struct ImportFailure {
    error: ErrorBody,
    rejected: Vec<RejectedRow>,
}

/// The `422` of an import with bad rows: nothing was stored.
fn rejected_import(total: usize, mut rejected: Vec<RejectedRow>) -> Response {
    let first = rejected
        .first()
        .map(|r| format!("line {}: {}", r.line, r.message))
        .unwrap_or_default();
    let field = rejected.first().and_then(|r| r.field.clone());
    rejected.truncate(MAX_LISTED);
    let message = format!(
        "{total} bad row(s), nothing was imported; the first: {first} (up to {MAX_LISTED} are listed in `rejected`)"
    );
    let error = Error::Unprocessable { message, field };
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ImportFailure {
            error: error.body(),
            rejected,
        }),
    )
        .into_response()
}

/// `?mode=merge|replace` of a contacts import.
#[derive(Deserialize)]
struct ImportParams {
    mode: Option<String>,
}

#[derive(Serialize)]
struct ContactsImported {
    /// Rows taken (a repeated id counts once: its last row wins).
    imported: usize,
    /// Contacts that did not exist before.
    created: usize,
    /// Known contacts whose attributes changed.
    updated: usize,
    /// Warnings (repeated ids), as `line N: message`.
    warnings: Vec<String>,
}

/// `POST /api/v1/import/contacts` (admin): a contacts CSV, as `leadscore score
/// --contacts` reads it. `mode=merge` (default) sets the row's non-empty cells and
/// keeps the contact's other attributes, as CRM imports do; `mode=replace` makes the
/// row the whole record. The imported contacts are rescored in the background.
async fn import_contacts(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: std::result::Result<Query<ImportParams>, QueryRejection>,
    body: Body,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    let replace = match query(params)?.mode.as_deref() {
        None | Some("merge") => false,
        Some("replace") => true,
        Some(other) => {
            return Err(Error::bad_request(
                format!("`mode` is `merge` or `replace`, found `{other}`"),
                Some("mode"),
            ));
        }
    };
    let body = bytes(body, state.config.max_import_bytes)?;
    let reader = ContactsReader::from_reader(&body[..], "contacts.csv").map_err(|e| {
        Error::unprocessable(format!("not a contacts CSV: {}", e.message), Some("header"))
    })?;
    // Rows in file order; a repeated id keeps its place of first appearance and
    // takes the later row's cells.
    let mut rows: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut rejected = Vec::new();
    let mut total_rejected = 0;
    let mut warnings = Vec::new();
    for row in reader {
        match row {
            Ok(row) => {
                let mut cells = Map::new();
                for (name, value) in row.attributes.iter() {
                    cells.insert(name.to_owned(), attribute_json(value));
                }
                match index.get(&row.id) {
                    Some(&i) => rows[i].1 = cells,
                    None => {
                        index.insert(row.id.clone(), rows.len());
                        rows.push((row.id, cells));
                    }
                }
            }
            Err(error) if error.kind == RowErrorKind::DuplicateId => {
                warnings.push(format!("line {}: {}", error.line, error.message));
            }
            Err(error) => {
                total_rejected += 1;
                rejected.push(RejectedRow {
                    line: error.line,
                    field: error.field,
                    message: error.message,
                });
            }
        }
    }
    if total_rejected > 0 {
        return Ok(rejected_import(total_rejected, rejected));
    }
    let mut records = Vec::with_capacity(rows.len());
    let (mut created, mut updated) = (0, 0);
    for (id, cells) in rows {
        if id.len() > 256 {
            return Ok(rejected_import(
                1,
                vec![RejectedRow {
                    line: 0,
                    field: Some("id".into()),
                    message: format!("contact id longer than 256 bytes: `{id}`"),
                }],
            ));
        }
        let existing = state.store.contact(&id).await?;
        let mut attributes = match (&existing, replace) {
            (Some(contact), false) => match serde_json::from_str(&contact.attributes) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        let before = attributes.clone();
        attributes.extend(cells);
        match &existing {
            None => created += 1,
            Some(_) if attributes != before || replace => updated += 1,
            Some(_) => {}
        }
        records.push((id, Value::Object(attributes).to_string()));
    }
    state.store.put_contacts(&records, scoring::now()).await?;
    let imported = records.len();
    tracing::info!(imported, created, updated, "contacts imported");
    state
        .committer
        .rescore_later(&state, records.into_iter().map(|(id, _)| id));
    Ok(Json(ContactsImported {
        imported,
        created,
        updated,
        warnings,
    })
    .into_response())
}

/// A contact attribute as JSON.
fn attribute_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Str(s) => Value::String(s.clone()),
        AttributeValue::Num(n) => {
            serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
        }
        AttributeValue::Bool(b) => Value::Bool(*b),
    }
}

#[derive(Serialize)]
struct EventsImported {
    /// Messages newly stored.
    stored: u64,
    /// Messages whose `messageId` was already stored (not stored again).
    duplicates: u64,
    /// Contacts whose history changed (rescored in the background).
    contacts: usize,
}

/// `POST /api/v1/import/events` (admin): Segment messages as JSON lines (the format of
/// `leadscore score --events`), or as CSV when the `Content-Type` is `text/csv` (the
/// columns of `leadscore_formats::events_csv`). Each message is validated as
/// ingestion validates it; all are stored in one transaction, duplicates by
/// `messageId` counted once.
async fn import_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    let body = bytes(body, state.config.max_import_bytes)?;
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    let received_at = scoring::now();
    let mut events = Vec::new();
    let mut rejected = Vec::new();
    let mut total_rejected = 0;
    let mut reject = |line: u64, field: Option<String>, message: String| {
        total_rejected += 1;
        if rejected.len() < MAX_LISTED {
            rejected.push(RejectedRow {
                line,
                field,
                message,
            });
        }
    };
    let mut take = |line: u64, text: &str, reject: &mut dyn FnMut(u64, Option<String>, String)| {
        let value = match serde_json::from_str::<Value>(text) {
            Ok(value) => value,
            Err(e) => return reject(line, None, format!("not valid JSON: {e}")),
        };
        match prepare(value, None, received_at) {
            Ok(event) => events.push(event),
            Err(error) => {
                let body = error.body();
                reject(line, body.field, body.message);
            }
        }
    };
    if csv {
        let reader = EventsCsvReader::from_reader(&body[..], "events.csv").map_err(|e| {
            Error::unprocessable(format!("not an events CSV: {}", e.message), Some("header"))
        })?;
        for row in reader {
            match row {
                Ok(row) => take(row.line, &row.message, &mut reject),
                Err(error) => reject(error.line, error.field, error.message),
            }
        }
    } else {
        let text = std::str::from_utf8(&body)
            .map_err(|e| Error::unprocessable(format!("the body is not UTF-8: {e}"), None))?;
        for (i, line) in text.lines().enumerate() {
            let line_text = line.trim();
            if line_text.is_empty() {
                continue;
            }
            take(i as u64 + 1, line_text, &mut reject);
        }
    }
    if total_rejected > 0 {
        return Ok(rejected_import(total_rejected, rejected));
    }
    let appended = if events.is_empty() {
        leadscore_store::Appended::default()
    } else {
        state.store.append(&events).await?
    };
    state
        .metrics
        .ingested(appended.inserted, appended.duplicates);
    tracing::info!(
        stored = appended.inserted,
        duplicates = appended.duplicates,
        "events imported"
    );
    let contacts = appended.contacts.len();
    state.committer.rescore_later(&state, appended.contacts);
    Ok(Json(EventsImported {
        stored: appended.inserted,
        duplicates: appended.duplicates,
        contacts,
    })
    .into_response())
}

/// `?format=jsonl|csv`.
#[derive(Deserialize)]
struct ExportParams {
    format: Option<String>,
}

/// A streamed export response.
fn streamed(
    content_type: &'static str,
    filename: &str,
    body: impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + 'static,
) -> Response {
    let mut response = HttpBody::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// An error in the middle of a stream: the client sees a cut response (the status was
/// already sent), and the log says why.
fn stream_error(error: impl std::fmt::Display) -> std::io::Error {
    tracing::error!(%error, "export failed part way");
    std::io::Error::other(error.to_string())
}

/// `GET /api/v1/export/scores?format=jsonl|csv`: every current score, best first.
/// JSONL lines are the API's results (with `explain`); the CSV has the columns of
/// `leadscore score --format csv`, with a `group:<name>` column per group of the
/// active model.
async fn export_scores(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: std::result::Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let csv = match query(params)?.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(Error::bad_request(
                format!("`format` is `jsonl` or `csv`, found `{other}`"),
                Some("format"),
            ));
        }
    };
    state.committer.settled().await;
    let groups: Vec<String> = state
        .engine()
        .model()
        .groups
        .iter()
        .map(|g| g.name.clone())
        .collect();
    // A model with `[prediction]` adds a `probability` column, as `leadscore score`.
    let probability = state.engine().model().prediction.is_some();
    let header = csv.then(|| csv_header(&groups, probability));
    // State: (cursor, finished, header still to send).
    let pages = stream::unfold(
        (None::<String>, false, header),
        move |(after, done, header)| {
            let state = state.clone();
            let groups = groups.clone();
            async move {
                if let Some(header) = header {
                    return Some((Ok(Bytes::from(header)), (after, done, None)));
                }
                if done {
                    return None;
                }
                let query = ScoreQuery {
                    limit: EXPORT_PAGE,
                    after: after.clone(),
                    ..ScoreQuery::default()
                };
                let page = match state.store.list_scores(&query).await {
                    Ok(page) => page,
                    Err(e) => return Some((Err(stream_error(e)), (after, true, None))),
                };
                let mut out = String::new();
                for score in &page.items {
                    if csv {
                        out.push_str(&csv_row(&score.result, &groups, probability));
                    } else {
                        out.push_str(&score.result);
                        out.push('\n');
                    }
                }
                let finished = page.next.is_none();
                Some((Ok(Bytes::from(out)), (page.next, finished, None)))
            }
        },
    );
    Ok(if csv {
        streamed("text/csv; charset=utf-8", "scores.csv", pages)
    } else {
        streamed("application/x-ndjson", "scores.jsonl", pages)
    })
}

/// The score CSV's header.
fn csv_header(groups: &[String], probability: bool) -> String {
    let mut fields: Vec<String> = [
        "contact_id",
        "as_of",
        "score",
        "raw",
        "fit",
        "engagement",
        "manual",
        "grade",
        "label",
        "stage",
        "disqualified",
        "owner",
        "route",
        "team",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    fields.extend(groups.iter().map(|g| format!("group:{g}")));
    if probability {
        fields.push("probability".to_owned());
    }
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// One CSV row from a stored result (our own JSON: numbers keep their JSON text).
fn csv_row(result: &str, groups: &[String], probability: bool) -> String {
    let value: Value = serde_json::from_str(result).unwrap_or(Value::Null);
    let cell = |v: Option<&Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let route = value.get("route");
    let mut fields = vec![
        cell(value.get("contact_id")),
        cell(value.get("as_of")),
        cell(value.get("score")),
        cell(value.get("raw")),
        cell(value.get("fit")),
        cell(value.get("engagement")),
        cell(value.get("manual")),
        cell(value.get("grade")),
        cell(value.get("label")),
        cell(value.get("stage")),
        cell(value.get("disqualified")),
        cell(value.get("owner")),
        cell(route.and_then(|r| r.get("route"))),
        cell(route.and_then(|r| r.get("team"))),
    ];
    for group in groups {
        fields.push(cell(value.get("groups").and_then(|g| g.get(group))));
    }
    if probability {
        fields.push(cell(
            value.get("prediction").and_then(|p| p.get("probability")),
        ));
    }
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A contact record as exported: `{"id","attributes","created_at","updated_at"}`.
fn contact_line(contact: &Contact) -> String {
    let attributes: Value = serde_json::from_str(&contact.attributes).unwrap_or(Value::Null);
    serde_json::json!({
        "id": contact.id,
        "attributes": attributes,
        "created_at": format_timestamp(contact.created_at),
        "updated_at": format_timestamp(contact.updated_at),
    })
    .to_string()
}

/// `GET /api/v1/export/contacts`: every contact record as JSON lines, in id order.
async fn export_contacts(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let pages = stream::unfold((None::<String>, false), move |(after, done)| {
        let state = state.clone();
        async move {
            if done {
                return None;
            }
            let page = match state
                .store
                .contacts_after(after.as_deref(), EXPORT_PAGE)
                .await
            {
                Ok(page) => page,
                Err(e) => return Some((Err(stream_error(e)), (after, true))),
            };
            let mut out = String::new();
            for contact in &page {
                out.push_str(&contact_line(contact));
                out.push('\n');
            }
            let finished = page.len() < EXPORT_PAGE as usize;
            let next = page.last().map(|c| c.id.clone()).or(after);
            Some((Ok(Bytes::from(out)), (next, finished)))
        }
    });
    Ok(streamed("application/x-ndjson", "contacts.jsonl", pages))
}

/// `GET /api/v1/export/events` (admin: the log holds every contact's activity): the
/// whole event log as JSON lines in log order, each the message as stored, so that
/// `leadscore score --events` or another server's import reads it back.
async fn export_events(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    let pages = stream::unfold((0_i64, false), move |(after, done)| {
        let state = state.clone();
        async move {
            if done {
                return None;
            }
            let page = match state.store.events_after(after, EXPORT_PAGE).await {
                Ok(page) => page,
                Err(e) => return Some((Err(stream_error(e)), (after, true))),
            };
            let mut out = String::new();
            for event in &page {
                out.push_str(&event.event.body);
                out.push('\n');
            }
            let finished = page.len() < EXPORT_PAGE as usize;
            let next = page.last().map_or(after, |e| e.seq);
            Some((Ok(Bytes::from(out)), (next, finished)))
        }
    });
    Ok(streamed("application/x-ndjson", "events.jsonl", pages))
}

/// Everything held about one contact.
#[derive(Serialize)]
struct PrivacyExport {
    contact_id: String,
    exported_at: String,
    /// The record (attributes set through the API or an import); `null` when the
    /// contact only exists through messages.
    contact: Option<Value>,
    /// Every message of the contact and of the anonymous ids linked to it, as stored,
    /// in log order.
    events: Vec<Box<RawValue>>,
    /// The current score (with its explanation).
    score: Option<Box<RawValue>>,
    /// Every stored score, oldest first.
    score_history: Vec<Box<RawValue>>,
    /// Manual adjustments, with author and reason.
    adjustments: Vec<Value>,
    /// Outcomes (`won`, `lost`, `converted`), in time order.
    outcomes: Vec<crate::outcomes::OutcomeJson>,
}

/// `GET /api/v1/contacts/{id}/export` (admin): everything stored about a contact, in
/// one JSON document (a data subject's right of access; erasure is `DELETE
/// /api/v1/contacts/{id}`). 404 when nothing is stored.
async fn privacy_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    if id.is_empty() || id.len() > 256 {
        return Err(Error::bad_request(
            "a contact id has 1 to 256 bytes",
            Some("id"),
        ));
    }
    state.committer.settled().await;
    let contact = state.store.contact(&id).await?;
    let history = state.store.history(&id).await?;
    if contact.is_none() && history.is_empty() {
        return Err(Error::NotFound(format!("no contact `{id}`")));
    }
    let raw = |text: String| {
        RawValue::from_string(text)
            .map_err(|e| Error::Internal(format!("stored JSON unreadable: {e}")))
    };
    let events = history
        .into_iter()
        .map(|e| raw(e.event.body))
        .collect::<Result<Vec<_>>>()?;
    let score = state
        .store
        .score(&id)
        .await?
        .map(|s| raw(s.result))
        .transpose()?;
    let score_history = state
        .store
        .score_history(&id)
        .await?
        .into_iter()
        .map(|s| raw(s.result))
        .collect::<Result<Vec<_>>>()?;
    let adjustments = state
        .store
        .adjustments(&id)
        .await?
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "id": a.id,
                "points": a.adjustment.points,
                "reason": a.adjustment.reason,
                "author": a.adjustment.author,
                "group": a.adjustment.group,
                "at": format_timestamp(a.adjustment.at),
            })
        })
        .collect();
    let contact =
        contact.map(|c| serde_json::from_str::<Value>(&contact_line(&c)).unwrap_or(Value::Null));
    let mut response = Json(PrivacyExport {
        contact_id: id.clone(),
        exported_at: format_timestamp(scoring::now()),
        contact,
        events,
        score,
        score_history,
        adjustments,
        outcomes: crate::outcomes::of_contact(&state, &id).await?,
    })
    .into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"contact-export.json\""),
    );
    tracing::info!(contact = %id, "privacy export");
    Ok(response)
}
