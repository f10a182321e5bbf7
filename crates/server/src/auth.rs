//! Who is calling: keys from request headers, checked against the store.
//!
//! * Ingestion (`/v1/...`) uses HTTP Basic with the key as the user name and an empty
//!   password, or, without an `Authorization` header, with the key in the body's
//!   `writeKey` (what the current Segment SDKs send). `write` and `admin` keys may
//!   ingest.
//! * The REST API (`/api/v1/...`) uses `Authorization: Bearer <key>`. `read` keys may
//!   read; only `admin` keys may change or erase. `write` keys are for ingestion only
//!   and get 403 there: a key that sits in every web page's tracking snippet must not
//!   open the contact data.
//!
//! A missing, unknown or revoked key is 401; a valid key with the wrong role is 403.
//!
//! **Keys are checked against a snapshot.** Every request needs its key checked, and
//! a lookup in the store per request was half of a score read's cost (one more trip
//! to a database thread: 16 clients read 1.6x as many scores a second without it,
//! p99 0.6x). So the server keeps the store's usable keys in memory ([`KeySnapshot`])
//! and reads the whole key table again when its copy is older than [`KEYS_FRESH`]
//! (100 ms): a key revoked with `leadscore keys revoke`, by any process, stops
//! working within a tenth of a second. A key the snapshot does not hold (created
//! after it, or not a key at all) is looked up in the store as before, so a new key
//! works at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use leadscore_store::KeyRecord;

use crate::error::{Error, Result};
use crate::keys::{Role, hash_secret};
use crate::state::AppState;

/// What an API route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading: `read` or `admin`.
    Read,
    /// Changing or erasing: `admin`.
    Admin,
}

/// The role of the key in the `Authorization: Basic` header, if it may ingest.
pub async fn ingest(state: &AppState, headers: &HeaderMap) -> Result<Role> {
    let header = authorization(headers)?;
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::Unauthorized(
            "ingestion takes HTTP Basic auth with the write key as the user name".into(),
        ));
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Error::Unauthorized("malformed Basic credentials".into()))?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
    ingest_key(state, user).await
}

/// The role of write key `secret` (from the body's `writeKey`, which the current
/// Segment SDKs send instead of a header), if it may ingest.
pub async fn ingest_key(state: &AppState, secret: &str) -> Result<Role> {
    let (role, _) = lookup(state, secret).await?;
    match role {
        Role::Write | Role::Admin => Ok(role),
        Role::Read => Err(Error::Forbidden(
            "a read key cannot ingest events; use a write key".into(),
        )),
    }
}

/// The role of the key in the `Authorization: Bearer` header, if it grants `access`.
pub async fn api(state: &AppState, headers: &HeaderMap, access: Access) -> Result<Role> {
    Ok(api_key(state, headers, access).await?.0)
}

/// The role and record of the key in the `Authorization: Bearer` header, if it grants
/// `access` (for routes that record who did something).
pub async fn api_key(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
) -> Result<(Role, KeyRecord)> {
    let header = authorization(headers)?;
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::Unauthorized(
            "the API takes `Authorization: Bearer <key>`".into(),
        ));
    }
    let (role, record) = lookup(state, rest.trim()).await?;
    let role = match (role, access) {
        (Role::Admin, _) | (Role::Read, Access::Read) => Ok(role),
        (Role::Write, _) => Err(Error::Forbidden(
            "write keys are for ingestion only; use a read or admin key for the API".into(),
        )),
        (Role::Read, Access::Admin) => Err(Error::Forbidden(
            "a read key cannot change anything; use an admin key".into(),
        )),
    }?;
    Ok((role, record))
}

fn authorization(headers: &HeaderMap) -> Result<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| Error::Unauthorized("missing `Authorization` header".into()))
}

/// How old the key snapshot may be: the longest a revoked key keeps working.
pub const KEYS_FRESH: Duration = Duration::from_millis(100);

/// The store's usable (unrevoked) keys by hash, as read at one instant (see the
/// module documentation).
#[derive(Debug, Default)]
pub struct KeySnapshot {
    inner: Mutex<Option<(Instant, HashMap<String, KeyRecord>)>>,
}

impl KeySnapshot {
    /// The usable key with `hash` if a snapshot younger than [`KEYS_FRESH`] holds it;
    /// `Err(())` when there is no such snapshot (read the table again), `Ok(None)`
    /// when the snapshot does not hold the key (look it up in the store).
    fn get(&self, hash: &str) -> std::result::Result<Option<KeyRecord>, ()> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.as_ref() {
            Some((read_at, keys)) if read_at.elapsed() < KEYS_FRESH => Ok(keys.get(hash).cloned()),
            _ => Err(()),
        }
    }

    /// Replace the snapshot with `keys`, read from the store after `read_at`; the
    /// usable key with `hash` among them.
    fn put(&self, read_at: Instant, keys: Vec<KeyRecord>, hash: &str) -> Option<KeyRecord> {
        let usable: HashMap<String, KeyRecord> = keys
            .into_iter()
            .filter(|key| key.revoked_at.is_none())
            .map(|key| (key.hash.clone(), key))
            .collect();
        let held = usable.get(hash).cloned();
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Some((read_at, usable));
        held
    }
}

async fn lookup(state: &AppState, secret: &str) -> Result<(Role, KeyRecord)> {
    use leadscore_store::Store as _;
    if secret.is_empty() {
        return Err(Error::Unauthorized("empty key".into()));
    }
    let hash = hash_secret(secret);
    let record = match state.keys.get(&hash) {
        Ok(Some(record)) => Some(record),
        // Newer than the snapshot, or unknown: the store says.
        Ok(None) => state.store.key_by_hash(&hash).await?,
        Err(()) => {
            // Taken before the read, so the snapshot is never younger than its data.
            let read_at = Instant::now();
            let keys = state.store.keys().await?;
            state.keys.put(read_at, keys, &hash)
        }
    }
    .ok_or_else(|| Error::Unauthorized("unknown or revoked key".into()))?;
    let role = Role::parse(&record.role).ok_or_else(|| {
        tracing::warn!(key = %record.id, role = %record.role, "key with an unknown role");
        Error::Forbidden("this key has no role this server knows".into())
    })?;
    Ok((role, record))
}
