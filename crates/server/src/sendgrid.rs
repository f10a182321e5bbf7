//! `POST /v1/sources/sendgrid`: SendGrid's event webhook.
//!
//! The body is SendGrid's JSON array of events, as SendGrid sends it; the write key is
//! the HTTP Basic user (SendGrid takes credentials in the webhook URL:
//! `https://KEY@host/v1/sources/sendgrid`). With a verification key configured, the
//! signed-webhook headers are checked first: `X-Twilio-Email-Event-Webhook-Signature`
//! (base64 DER ECDSA P-256 / SHA-256) over `X-Twilio-Email-Event-Webhook-Timestamp`
//! followed by the raw body.
//!
//! Each event becomes a Segment `track` message (docs/http.md): the contact is the
//! e-mail address, `sg_event_id` the `messageId`, every other field a property
//! (`sg_machine_open` as `machine_open`), so `[machine]` links opens and clicks to their
//! delivery through `properties.sg_message_id`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use leadscore_formats::format_timestamp;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::{Map, Value};

use crate::auth;
use crate::error::{Error, Result};
use crate::ingest::{Body, Rejected, partly_rejected, prepare, store_and_score};
use crate::scoring;
use crate::state::AppState;

const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// The SendGrid route, with the body limit of `state`'s configuration.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/sources/sendgrid", post(receive))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    auth::ingest(&state, &headers).await?;
    let limit = state.config.max_body_bytes;
    let bytes = body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge {
                message: format!("request body larger than {limit} bytes"),
                field: None,
            }
        } else {
            Error::bad_request(format!("cannot read the body: {rejection}"), None)
        }
    })?;
    if let Some(key) = &state.config.sendgrid_verification_key {
        verify(key, &headers, &bytes)?;
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::bad_request(
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
            None,
        )
    })?;
    let Value::Array(items) = value else {
        return Err(Error::bad_request(
            "expected SendGrid's JSON array of events",
            None,
        ));
    };
    let received_at = scoring::now();
    let mut events = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match to_track(item, index)
            .and_then(|m| m.map(|m| prepare(m, None, received_at)).transpose())
        {
            Ok(Some(event)) => events.push(event),
            Ok(None) => {}
            Err(error) => rejected.push(Rejected::new(index, &error)),
        }
    }
    // The good events of a batch are kept even when others are malformed (SendGrid
    // retries a 400, and `sg_event_id` makes the retry harmless).
    let stored = events.len();
    if stored > 0 {
        store_and_score(&state, events).await?;
    }
    if !rejected.is_empty() {
        return Ok(partly_rejected(rejected, stored, "events", None));
    }
    Ok(axum::Json(serde_json::json!({ "success": true, "stored": stored })).into_response())
}

/// Check SendGrid's signature: ECDSA P-256 over `timestamp + body`.
fn verify(key: &str, headers: &HeaderMap, body: &[u8]) -> Result<()> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (Some(signature), Some(timestamp)) = (header(SIGNATURE), header(TIMESTAMP)) else {
        return Err(Error::Unauthorized(
            "missing SendGrid signature headers (X-Twilio-Email-Event-Webhook-Signature, -Timestamp)"
                .into(),
        ));
    };
    let key = STANDARD
        .decode(key.trim())
        .ok()
        .and_then(|der| VerifyingKey::from_public_key_der(&der).ok())
        .ok_or_else(|| {
            Error::Internal(
                "the configured SendGrid verification key is not a P-256 public key".into(),
            )
        })?;
    let signature = STANDARD
        .decode(signature)
        .ok()
        .and_then(|der| Signature::from_der(&der).ok())
        .ok_or_else(|| Error::Unauthorized("malformed SendGrid signature".into()))?;
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body);
    key.verify(&signed, &signature)
        .map_err(|_| Error::Unauthorized("SendGrid signature does not verify".into()))
}

/// One SendGrid event as a Segment `track` message; `None` for event types leadscore
/// does not score (`processed`, `deferred`, `dropped`).
fn to_track(item: Value, index: usize) -> Result<Option<Value>> {
    let bad = |message: String, field: &str| {
        let field = if field.is_empty() {
            format!("[{index}]")
        } else {
            format!("[{index}].{field}")
        };
        Error::bad_request(message, Some(field.as_str()))
    };
    let Value::Object(mut event) = item else {
        return Err(bad(format!("event {index} is not a JSON object"), ""));
    };
    let kind = match event.remove("event") {
        Some(Value::String(kind)) => kind,
        _ => return Err(bad(format!("event {index} has no `event`"), "event")),
    };
    let name = match kind.as_str() {
        "delivered" => "Email Delivered",
        "open" => "Email Opened",
        "click" => "Email Link Clicked",
        "unsubscribe" | "group_unsubscribe" => "Unsubscribed",
        "bounce" => "Email Bounced",
        "spamreport" => "Spam Reported",
        _ => return Ok(None),
    };
    let email = match event.remove("email") {
        Some(Value::String(email)) if email.contains('@') => email.trim().to_lowercase(),
        _ => return Err(bad(format!("event {index} has no `email`"), "email")),
    };
    let timestamp = match event.remove("timestamp") {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
    .ok_or_else(|| {
        bad(
            format!("event {index} has no unix `timestamp`"),
            "timestamp",
        )
    })?;
    let event_id = match event.remove("sg_event_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => Some(id),
        _ => None,
    };
    let mut properties = Map::new();
    for (key, value) in event {
        match key.as_str() {
            "sg_machine_open" => {
                properties.insert("machine_open".into(), value);
            }
            _ => {
                properties.insert(key, value);
            }
        }
    }
    let mut message = Map::new();
    message.insert("type".into(), Value::String("track".into()));
    message.insert("event".into(), Value::String(name.into()));
    message.insert("userId".into(), Value::String(email.clone()));
    message.insert(
        "timestamp".into(),
        Value::String(format_timestamp(timestamp.saturating_mul(1000))),
    );
    if let Some(id) = event_id {
        message.insert("messageId".into(), Value::String(id));
    }
    message.insert(
        "context".into(),
        serde_json::json!({ "traits": { "email": email } }),
    );
    message.insert("properties".into(), Value::Object(properties));
    Ok(Some(Value::Object(message)))
}
