//! Segment-compatible ingestion: `POST /v1/identify|track|page|screen|alias|group`
//! and `POST /v1/batch`.
//!
//! Existing tracking SDKs (analytics-node, analytics-python, RudderStack) point at these
//! routes unchanged: HTTP Basic with the write key as the user name (or, as the current
//! official SDKs do, `writeKey` in the body), one message per route or
//! `{"batch":[...]}`. Each message is validated with the same parser the batch
//! CLI uses, handed to the group committer (`commit`), which appends the messages of
//! all requests waiting in one transaction; only when the store says that group is
//! durable do we answer `200 {"success":true}`. The contacts whose history changed are
//! then rescored in the background; the API's reads of stored scores wait for it, so a
//! read after a `200` sees the new score.
//!
//! In a batch, bad messages are rejected and the good ones stored: the answer is then
//! `400` with `"rejected":[{"index","message","field"}]`, so a client knows exactly
//! which to fix and that resending the whole batch is safe (stored ones are
//! deduplicated by `messageId`).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use leadscore_engine::Millis;
use leadscore_formats::{MessageKind, format_timestamp, parse_message};
use leadscore_store::NewEvent;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::auth;
use crate::error::{Error, ErrorBody, Result};
use crate::scoring;
use crate::state::AppState;

/// The ingestion routes, with the body limit of `state`'s configuration.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/identify", post(identify))
        .route("/v1/track", post(track))
        .route("/v1/page", post(page))
        .route("/v1/screen", post(screen))
        .route("/v1/alias", post(alias))
        .route("/v1/group", post(group))
        .route("/v1/batch", post(batch))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
}

pub(crate) type Body = std::result::Result<Bytes, BytesRejection>;

async fn identify(state: State<AppState>, headers: HeaderMap, body: Body) -> Result<Response> {
    single(state, headers, body, MessageKind::Identify).await
}

async fn track(state: State<AppState>, headers: HeaderMap, body: Body) -> Result<Response> {
    single(state, headers, body, MessageKind::Track).await
}

async fn page(state: State<AppState>, headers: HeaderMap, body: Body) -> Result<Response> {
    single(state, headers, body, MessageKind::Page).await
}

async fn screen(state: State<AppState>, headers: HeaderMap, body: Body) -> Result<Response> {
    single(state, headers, body, MessageKind::Screen).await
}

async fn alias(state: State<AppState>, headers: HeaderMap, body: Body) -> Result<Response> {
    single(state, headers, body, MessageKind::Alias).await
}

async fn group(state: State<AppState>, headers: HeaderMap, body: Body) -> Result<Response> {
    single(state, headers, body, MessageKind::Group).await
}

/// One message; the route sets `type` when the message has none.
async fn single(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    kind: MessageKind,
) -> Result<Response> {
    let value = authorize(&state, &headers, body).await?;
    let event = prepare(value, Some(kind), scoring::now())?;
    store_and_score(&state, vec![event]).await?;
    Ok(success())
}

/// `{"batch":[...]}`: every good message is stored, the bad ones are listed.
///
/// With the key in the `Authorization` header (what the SDKs send), the messages are
/// first taken as text ([`raw_batch`], [`prepare_raw`]): each is parsed once, by the
/// message parser, instead of into a JSON tree, written out again and parsed (the
/// tree's allocations were most of a message's cost in the handler). Whatever that
/// path does not take as it is (a message it cannot parse, one that has a
/// `receivedAt`, the envelope not of the usual shape) goes the general way, which
/// also makes every error message: the answer is the same either way.
async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response> {
    let received_at = scoring::now();
    let mut events = Vec::new();
    let mut rejected = Vec::new();
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        auth::ingest(&state, &headers).await?;
        let bytes = body_bytes(body, state.config.max_body_bytes)?;
        match raw_batch(&bytes) {
            Some(messages) => {
                check_batch_size(&state, messages.len())?;
                events.reserve(messages.len());
                for (index, message) in messages.into_iter().enumerate() {
                    let prepared = match prepare_raw(message.get(), received_at) {
                        Some(event) => Ok(event),
                        None => serde_json::from_str(message.get())
                            .map_err(|e| Error::bad_request(format!("not valid JSON: {e}"), None))
                            .and_then(|value| prepare(value, None, received_at)),
                    };
                    match prepared {
                        Ok(event) => events.push(event),
                        Err(error) => rejected.push(Rejected::new(index, &error)),
                    }
                }
            }
            None => {
                let value = parse_json(&bytes)?;
                prepare_all(&state, value, received_at, &mut events, &mut rejected)?;
            }
        }
    } else {
        let value = authorize(&state, &headers, body).await?;
        prepare_all(&state, value, received_at, &mut events, &mut rejected)?;
    }
    let stored = events.len();
    if stored > 0 {
        store_and_score(&state, events).await?;
    }
    if rejected.is_empty() {
        return Ok(success());
    }
    Ok(partly_rejected(rejected, stored, "messages", Some("batch")))
}

/// The messages of a batch envelope as text, when it is a JSON object whose `batch`
/// is an array; `None` otherwise (the general way then says what is wrong).
fn raw_batch(bytes: &[u8]) -> Option<Vec<&RawValue>> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        batch: Vec<&'a RawValue>,
    }
    serde_json::from_slice::<Envelope<'_>>(bytes)
        .ok()
        .map(|envelope| envelope.batch)
}

/// 413 for a batch of more messages than the configuration accepts.
fn check_batch_size(state: &AppState, messages: usize) -> Result<()> {
    if messages > state.config.max_batch {
        return Err(Error::TooLarge {
            message: format!(
                "{} messages in one batch; at most {} are accepted (nothing was stored)",
                messages, state.config.max_batch
            ),
            field: Some("batch".into()),
        });
    }
    Ok(())
}

/// The general way of a batch body parsed as JSON: each message of `value`'s `batch`
/// prepared, into `events` or `rejected` (by index).
fn prepare_all(
    state: &AppState,
    value: Value,
    received_at: Millis,
    events: &mut Vec<NewEvent>,
    rejected: &mut Vec<Rejected>,
) -> Result<()> {
    let Value::Object(mut envelope) = value else {
        return Err(Error::bad_request(
            "expected a JSON object `{\"batch\":[...]}`",
            None,
        ));
    };
    let Some(Value::Array(messages)) = envelope.remove("batch") else {
        return Err(Error::bad_request(
            "missing `batch`: expected an array of messages",
            Some("batch"),
        ));
    };
    check_batch_size(state, messages.len())?;
    events.reserve(messages.len());
    for (index, message) in messages.into_iter().enumerate() {
        match prepare(message, None, received_at) {
            Ok(event) => events.push(event),
            Err(error) => rejected.push(Rejected::new(index, &error)),
        }
    }
    Ok(())
}

/// One message of a batch as it came, when it can be stored as it is plus the
/// server's `receivedAt`: a one-line JSON object that names no `receivedAt` and that
/// the message parser takes. `None` sends it the general way ([`prepare`]), which
/// decides in every other case (and words the errors). The stored text is the
/// message's own, with `receivedAt` first, instead of the general way's re-written
/// object: the same members and values.
fn prepare_raw(text: &str, received_at: Millis) -> Option<NewEvent> {
    let rest = text.strip_prefix('{')?;
    if text.contains(['\n', '\r']) || text.contains("\"receivedAt\"") {
        return None;
    }
    let stamp = format_timestamp(received_at);
    let mut body = String::with_capacity(text.len() + stamp.len() + 16);
    body.push_str("{\"receivedAt\":\"");
    body.push_str(&stamp);
    body.push('"');
    if !rest.trim_start().starts_with('}') {
        body.push(',');
    }
    body.push_str(rest);
    let message = parse_message(&body).ok()?;
    let event = event_of(&message, received_at);
    drop(message);
    Some(NewEvent { body, ..event })
}

/// The log entry of a parsed message, without its body.
fn event_of(message: &leadscore_formats::Message<'_>, received_at: Millis) -> NewEvent {
    let anonymous_id = match message.kind {
        MessageKind::Alias => message.previous_id.as_deref(),
        _ => message.anonymous_id.as_deref(),
    }
    .map(str::to_owned);
    NewEvent {
        message_id: message.message_id.as_deref().map(str::to_owned),
        kind: message.kind.as_str().to_owned(),
        user_id: message.user_id.as_deref().map(str::to_owned),
        anonymous_id,
        timestamp: message.timestamp,
        received_at,
        body: String::new(),
    }
}

/// The answer to a batch of which some elements were stored and some rejected: `400`
/// with the error, `rejected` (each element's index, message and field) and `stored`,
/// so that the sender knows exactly which to fix and that the others are kept. Shared
/// with the e-mail provider sources, whose bodies are batches too.
pub(crate) fn partly_rejected(
    rejected: Vec<Rejected>,
    stored: usize,
    noun: &str,
    field: Option<&str>,
) -> Response {
    let error = Error::bad_request(
        format!(
            "{} of {} {noun} rejected (listed in `rejected`); the {} others were stored",
            rejected.len(),
            rejected.len() + stored,
            stored
        ),
        field,
    );
    (
        StatusCode::BAD_REQUEST,
        Json(BatchFailure {
            success: false,
            error: error.body(),
            rejected,
            stored,
        }),
    )
        .into_response()
}

/// One message of a batch that was not stored.
#[derive(Serialize)]
pub(crate) struct Rejected {
    /// Position in the batch, from 0.
    pub index: usize,
    /// Why.
    pub message: String,
    /// The message field at fault, if one is.
    pub field: Option<String>,
}

impl Rejected {
    /// Element `index`, rejected for `error`.
    pub(crate) fn new(index: usize, error: &Error) -> Self {
        let body = error.body();
        Self {
            index,
            message: body.message,
            field: body.field,
        }
    }
}

#[derive(Serialize)]
struct BatchFailure {
    success: bool,
    error: ErrorBody,
    rejected: Vec<Rejected>,
    /// How many of the batch's elements were stored.
    stored: usize,
}

fn success() -> Response {
    Json(serde_json::json!({ "success": true })).into_response()
}

/// Check the caller's write key and read the body as JSON. The key is the HTTP Basic
/// user; without an `Authorization` header, the body's `writeKey` (which the current
/// Segment SDKs send, and which is then removed from the message). With neither, 401
/// before the body is looked at further.
async fn authorize(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Value> {
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        auth::ingest(state, headers).await?;
        return json_body(body, state.config.max_body_bytes);
    }
    let mut value = match json_body(body, state.config.max_body_bytes) {
        Ok(value) => value,
        // No key anywhere: the caller is told that first.
        Err(error) => return Err(auth::ingest(state, headers).await.err().unwrap_or(error)),
    };
    let key = match &mut value {
        Value::Object(map) => match map.remove("writeKey") {
            Some(Value::String(key)) => Some(key),
            _ => None,
        },
        _ => None,
    };
    match key {
        Some(key) => auth::ingest_key(state, &key).await?,
        None => auth::ingest(state, headers).await?,
    };
    Ok(value)
}

/// The body as a JSON object whose members are all among `fields`: [`json_body`]'s
/// errors, then 422 when it is not an object (`expected` describes one) or names a member
/// not in `fields` (the first such, with `holds` saying what the object holds).
pub(crate) fn json_object(
    body: Body,
    limit: usize,
    fields: &[&str],
    expected: &str,
    holds: &str,
) -> Result<serde_json::Map<String, Value>> {
    let Value::Object(map) = json_body(body, limit)? else {
        return Err(Error::unprocessable(format!("expected {expected}"), None));
    };
    if let Some(unknown) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(Error::unprocessable(
            format!("unknown field `{unknown}`; {holds}"),
            Some(unknown),
        ));
    }
    Ok(map)
}

/// The body as JSON, with 413 for a body over the limit and 400 for anything else.
pub fn json_body(body: Body, limit: usize) -> Result<Value> {
    parse_json(&body_bytes(body, limit)?)
}

/// The body's bytes, with 413 for a body over the limit and 400 when it cannot be read.
fn body_bytes(body: Body, limit: usize) -> Result<Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge {
                message: format!("request body larger than {limit} bytes"),
                field: None,
            }
        } else {
            Error::bad_request(format!("cannot read the body: {rejection}"), None)
        }
    })
}

/// Bytes as JSON, with 400 naming where they are not.
fn parse_json(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::bad_request(
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
            None,
        )
    })
}

/// Validate one message and make it a log entry. `route_kind` is the type of a
/// single-message route; `receivedAt` is set to the server's time unless present.
pub(crate) fn prepare(
    value: Value,
    route_kind: Option<MessageKind>,
    received_at: Millis,
) -> Result<NewEvent> {
    let Value::Object(mut map) = value else {
        return Err(Error::bad_request(
            format!(
                "not a message: expected a JSON object `{{...}}`, found {}",
                kind_of(&value)
            ),
            None,
        ));
    };
    if let Some(kind) = route_kind {
        set_type(&mut map, kind)?;
    }
    if !map.contains_key("receivedAt") {
        map.insert(
            "receivedAt".into(),
            Value::String(format_timestamp(received_at)),
        );
    }
    let body = Value::Object(map).to_string();
    let message = parse_message(&body)
        .map_err(|error| Error::bad_request(error.to_string(), error.field()))?;
    let event = event_of(&message, received_at);
    drop(message);
    Ok(NewEvent { body, ..event })
}

/// A single-message route: `type` is the route's unless the message says otherwise,
/// which is a mistake worth reporting rather than guessing.
fn set_type(map: &mut Map<String, Value>, kind: MessageKind) -> Result<()> {
    match map.get("type") {
        None | Some(Value::Null) => {
            map.insert("type".into(), Value::String(kind.as_str().into()));
            Ok(())
        }
        Some(Value::String(t)) if t.eq_ignore_ascii_case(kind.as_str()) => Ok(()),
        Some(other) => Err(Error::bad_request(
            format!(
                "`type` is {other} but this route takes `{kind}` messages (use /v1/batch for mixed types)"
            ),
            Some("type"),
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Append durably through the group committer (which counts them and rescores every
/// contact whose history changed once they are acknowledged).
pub(crate) async fn store_and_score(state: &AppState, events: Vec<NewEvent>) -> Result<()> {
    state.committer.submit(state, events).await
}
