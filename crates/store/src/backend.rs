//! The SQL both backends share, written once.
//!
//! SQLite and PostgreSQL accept the same statements here: `$N` placeholders
//! (sqlx binds them by number on SQLite too), `INSERT .. ON CONFLICT`, `RETURNING`
//! and row-value-free keyset conditions. [`impl_store!`] expands the one body into
//! an `impl Store` for each backend; a backend only supplies its pools, how it begins
//! a write transaction and which errors are worth retrying.
//!
//! Concurrency rests on constraints, never on read-then-write: on PostgreSQL a
//! duplicate message is one that the `UNIQUE (message_id)` index refused, a link is
//! kept or replaced by one conditional upsert, and a score enters the history only
//! when the conditional upsert of the current score changed a row. Two servers
//! appending to one PostgreSQL therefore store every message exactly once. SQLite,
//! whose write transactions exclude each other, deduplicates against an in-memory set
//! of the log's ids brought up to date inside the append's transaction (`seen.rs`):
//! a random-keyed unique index cost a page written per message.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::{Result, StoreError};

/// How many times a transaction that lost a deadlock or serialization race is
/// retried before the error is returned.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// How long to wait before attempt `attempt + 1`: growing, with jitter, so that the
/// transaction that won the race can finish before the loser runs again (an
/// immediate retry would walk straight into the same deadlock).
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 25);
    std::time::Duration::from_millis(25 * u64::from(attempt) + jitter)
}

/// Messages per multi-row `INSERT` (7 parameters each, far under SQLite's 32766 and
/// PostgreSQL's 65535). With anonymous parameters on SQLite ([`row_params`]), 500
/// rows per statement measured 21 % faster than 100 (numbered ones had made larger
/// statements slower).
pub(crate) const INSERT_CHUNK: usize = 500;

/// Scores per multi-row statement of a single-writer backend's batch save (8
/// parameters each).
pub(crate) const SCORE_CHUNK: usize = 250;

/// Page size when the query asks for 0.
pub(crate) const DEFAULT_LIMIT: u32 = 50;

/// Largest page [`crate::Store::list_scores`] returns.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// The effective page size for a requested `limit`.
pub(crate) fn page_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// A cursor points just after one row: `<16 hex digits of the score's f64 bits>.<contact id>`.
/// The bits make the score exact (no decimal rounding), so paging never skips or
/// repeats a row.
pub(crate) fn encode_cursor(score: f64, contact_id: &str) -> String {
    format!("{:016x}.{contact_id}", score.to_bits())
}

/// The (score, contact id) a cursor from [`encode_cursor`] points after.
pub(crate) fn decode_cursor(cursor: &str) -> Result<(f64, String)> {
    let bad = || StoreError::BadCursor(cursor.to_owned());
    let (bits, id) = cursor.split_once('.').ok_or_else(bad)?;
    if bits.len() != 16 {
        return Err(bad());
    }
    let bits = u64::from_str_radix(bits, 16).map_err(|_| bad())?;
    Ok((f64::from_bits(bits), id.to_owned()))
}

/// Whether a text is a cursor [`crate::Store::list_scores`] accepts.
pub fn cursor_is_valid(cursor: &str) -> bool {
    decode_cursor(cursor).is_ok()
}

/// The `LIKE` pattern (with `ESCAPE '\\'`) of a search text: contains `q`, ASCII
/// lower-cased, with `%`, `_` and `\\` standing for themselves.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c.to_ascii_lowercase());
    }
    pattern.push('%');
    pattern
}

/// What a `DATABASE` URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file at this path.
    Sqlite(String),
    /// A PostgreSQL URL, as given.
    Postgres(String),
}

impl FromStr for Target {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self> {
        let bad = || StoreError::BadUrl(url.to_owned());
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        let path = if let Some(path) = url.strip_prefix("sqlite://") {
            path
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            path
        } else if url.contains("://") {
            return Err(bad());
        } else {
            url
        };
        if path.is_empty() {
            return Err(bad());
        }
        Ok(Target::Sqlite(path.to_owned()))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            e => StoreError::Database(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(format!("migration failed: {e}"))
    }
}

/// Columns of `events`, in the order [`impl_store!`] decodes them.
pub(crate) const EVENT_COLUMNS: &str =
    "seq, message_id, kind, user_id, anonymous_id, timestamp, received_at, body";

/// [`EVENT_COLUMNS`] qualified by the table name, for joins.
pub(crate) const QUALIFIED_EVENT_COLUMNS: &str = "events.seq, events.message_id, events.kind, \
    events.user_id, events.anonymous_id, events.timestamp, events.received_at, events.body";

/// Ids per `IN (...)` list of a bulk read (two lists per statement stay far below both
/// backends' parameter limits).
pub(crate) const IN_CHUNK: usize = 500;

/// The parameters of one row of a multi-row `INSERT`: `($s+1, ..., $s+n)`, or
/// `(?, ..., ?)` for a backend with `ANONYMOUS_PARAMS`. SQLite looks a numbered
/// parameter's name up with a linear scan of all of the statement's names, and sqlx
/// asks for every name once per execution: quadratic in the parameters of a statement
/// (measured: 28 % of an append's time at 700 parameters). Anonymous `?` have no names.
pub(crate) fn row_params(anonymous: bool, start: usize, n: usize) -> String {
    let mut sql = String::with_capacity(2 + 4 * n);
    push_row_params(&mut sql, anonymous, start, n);
    sql
}

/// The parameters of `rows` rows of `width` values each, numbered on from `$1`:
/// `(..), (..), ...` (see [`row_params`]). Written into one string: building each row
/// apart (a string per parameter and per row) was a fifth of the committer's time.
pub(crate) fn values_rows(anonymous: bool, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * (4 + 4 * width));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        push_row_params(&mut sql, anonymous, row * width, width);
    }
    sql
}

fn push_row_params(sql: &mut String, anonymous: bool, start: usize, n: usize) {
    use std::fmt::Write as _;
    sql.push('(');
    for i in 1..=n {
        if i > 1 {
            sql.push_str(", ");
        }
        if anonymous {
            sql.push('?');
        } else {
            // Writing to a String cannot fail.
            let _ = write!(sql, "${}", start + i);
        }
    }
    sql.push(')');
}

/// `$1, $2, ..., $n`.
pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The messages of each contact's history (its own and the anonymous-only messages of
/// the ids linked to it, as `history` reads them) whose position compares with the
/// contact's as `cmp` says (`>`: after it, `<=`: at or before it): `select` of each,
/// and the contact as `owner`. The contacts are a `VALUES` list `w (id, pos)` of `n`
/// `(id, position)` pairs, bound in that order (`?` when `anonymous`, see
/// [`row_params`]); `join` is a join the backend's planner keeps in the order written.
pub(crate) fn around_positions(
    select: &str,
    cmp: &str,
    n: usize,
    anonymous: bool,
    join: &str,
) -> String {
    let values = values_rows(anonymous, n, 2);
    format!(
        "WITH w (id, pos) AS (VALUES {values}) \
         SELECT {select}, w.id AS owner FROM w \
         JOIN events ON events.user_id = w.id AND events.seq {cmp} w.pos \
         UNION ALL \
         SELECT {select}, w.id AS owner FROM w \
         {join} links ON links.user_id = w.id \
         {join} events ON events.anonymous_id = links.anonymous_id \
         WHERE events.user_id IS NULL AND events.seq {cmp} w.pos"
    )
}

/// Columns of `scores` and `score_history`, in decoding order.
pub(crate) const SCORE_COLUMNS: &str = "contact_id, as_of, score, label, grade, stage, result";

/// [`SCORE_COLUMNS`] of `scores` aliased `s`.
pub(crate) const QUALIFIED_SCORE_COLUMNS: &str =
    "s.contact_id, s.as_of, s.score, s.label, s.grade, s.stage, s.result";

/// The score groups of a stored result (its `groups` object) with points other than
/// 0; none when the result has no such object.
pub(crate) fn score_groups(result: &str) -> Vec<(String, f64)> {
    #[derive(serde::Deserialize)]
    struct Groups {
        #[serde(default)]
        groups: BTreeMap<String, serde_json::Value>,
    }
    match serde_json::from_str::<Groups>(result) {
        Ok(parsed) => parsed
            .groups
            .into_iter()
            .filter_map(|(name, points)| points.as_f64().map(|p| (name, p)))
            .filter(|(_, points)| *points != 0.0 && points.is_finite())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Columns of `adjustments`, in decoding order.
pub(crate) const ADJUSTMENT_COLUMNS: &str =
    "id, contact_id, points, reason, author, group_name, at";

/// Columns of `models`, in decoding order.
pub(crate) const MODEL_COLUMNS: &str = "version, name, text, created_at, activated_at, active";

/// Members of a result that time alone moves (decay, the instant): left out of the
/// comparison that decides whether a saved score enters the history.
const MOVED_BY_TIME: [&str; 5] = ["as_of", "raw", "engagement", "groups", "explain"];

/// What [`crate::Store::save_score`] compares: the result JSON without
/// [`MOVED_BY_TIME`], its members in name order; a text that is not a JSON object,
/// whole.
///
/// Every save computes one, so the usual result (an object whose kept members are
/// scalars) is not parsed into a tree and written out again: its members are read as
/// raw text and the kept ones joined in name order, which is the same text for JSON
/// that `serde_json` wrote (a scalar reads back and writes out as it was; the one
/// exception is a long float that serde_json's parser reads 1 ULP off, where the tree
/// path changed the number and the raw text keeps it: such a score, first saved by an
/// older build, may enter its history once more, unchanged). A result with an object
/// or array among its kept members takes the tree path, which also orders their
/// members by name.
pub(crate) fn fingerprint(result: &str) -> String {
    fast_fingerprint(result).unwrap_or_else(|| tree_fingerprint(result))
}

/// [`fingerprint`] by raw members; `None` when the tree path is needed.
fn fast_fingerprint(result: &str) -> Option<String> {
    use serde_json::value::RawValue;
    let members: BTreeMap<String, &RawValue> = serde_json::from_str(result).ok()?;
    let mut print = String::with_capacity(result.len() / 2);
    print.push('{');
    for (name, value) in &members {
        if MOVED_BY_TIME.contains(&name.as_str()) {
            continue;
        }
        let text = value.get();
        if text.starts_with(['{', '[']) {
            return None;
        }
        if print.len() > 1 {
            print.push(',');
        }
        print.push_str(&serde_json::to_string(name).ok()?);
        print.push(':');
        print.push_str(text);
    }
    print.push('}');
    Some(print)
}

/// [`fingerprint`] through a parsed tree (objects order their members by name).
fn tree_fingerprint(result: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(result) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in MOVED_BY_TIME {
                map.remove(key);
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => result.to_owned(),
    }
}

/// What a batch of score saves reads out of the result texts, one entry per score.
pub(crate) struct Derived {
    /// [`fingerprint`]s.
    pub(crate) prints: Vec<String>,
    /// [`score_groups`].
    pub(crate) groups: Vec<Vec<(String, f64)>>,
    /// The account memberships, by contact (the last save of a contact counts).
    pub(crate) members: BTreeMap<String, Option<crate::accounts::AccountMember>>,
}

impl Derived {
    pub(crate) fn of(scores: &[crate::StoredScore]) -> Self {
        Derived {
            prints: scores.iter().map(|s| fingerprint(&s.result)).collect(),
            groups: scores.iter().map(|s| score_groups(&s.result)).collect(),
            members: crate::accounts::memberships(scores),
        }
    }
}

/// Columns of `keys`, in decoding order.
pub(crate) const KEY_COLUMNS: &str = "id, name, role, hash, created_at, revoked_at";

/// Expands to `impl Store for $ty` over the pool type `$db`, with migrations from
/// the directory `$migrations` (relative to the crate).
///
/// `$ty` must have `fn writer(&self) -> &sqlx::Pool<$db>`, `fn reader(&self) ->
/// &sqlx::Pool<$db>`, `async fn begin_write(&self) -> Result<Transaction<'static,
/// $db>, sqlx::Error>` and `fn retryable(&sqlx::Error) -> bool`.
macro_rules! impl_store {
    ($ty:ty, $db:ty, $migrations:literal) => {
        mod store_impl {
            use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
            use std::sync::atomic::{AtomicU64, Ordering};

            use sqlx::Row as _;

            use super::*;
            use crate::backend::{
                backoff, Derived, INSERT_CHUNK, decode_cursor, encode_cursor, like_pattern, page_limit,
                ADJUSTMENT_COLUMNS, EVENT_COLUMNS, IN_CHUNK, KEY_COLUMNS, MAX_ATTEMPTS,
                MODEL_COLUMNS, QUALIFIED_EVENT_COLUMNS, QUALIFIED_SCORE_COLUMNS, SCORE_COLUMNS,
                placeholders, row_params, values_rows, around_positions, SCORE_CHUNK,
            };
            use crate::{
                Appended, Contact, ContactDelta, ContactInputs, KeyRecord, Millis, ModelRecord, NewAdjustment, NewEvent,
                Result, ScorePage, ScoreQuery, Store, StoredAdjustment, StoredEvent, StoredScore,
                SummaryRow,
            };

            /// [`Store::score_generation`] of this backend: moved on after every
            /// commit that wrote or erased current scores.
            static GENERATION: AtomicU64 = AtomicU64::new(0);

            type DbRow = <$db as sqlx::Database>::Row;

            fn event_from_row(row: &DbRow) -> Result<StoredEvent, sqlx::Error> {
                Ok(StoredEvent {
                    seq: row.try_get(0)?,
                    event: NewEvent {
                        message_id: row.try_get(1)?,
                        kind: row.try_get(2)?,
                        user_id: row.try_get(3)?,
                        anonymous_id: row.try_get(4)?,
                        timestamp: row.try_get(5)?,
                        received_at: row.try_get(6)?,
                        body: row.try_get(7)?,
                    },
                })
            }

            fn contact_from_row(row: &DbRow) -> Result<Contact, sqlx::Error> {
                Ok(Contact {
                    id: row.try_get(0)?,
                    attributes: row.try_get(1)?,
                    created_at: row.try_get(2)?,
                    updated_at: row.try_get(3)?,
                })
            }

            fn score_from_row(row: &DbRow) -> Result<StoredScore, sqlx::Error> {
                Ok(StoredScore {
                    contact_id: row.try_get(0)?,
                    as_of: row.try_get(1)?,
                    score: row.try_get(2)?,
                    label: row.try_get(3)?,
                    grade: row.try_get(4)?,
                    stage: row.try_get(5)?,
                    result: row.try_get(6)?,
                })
            }

            fn adjustment_from_row(row: &DbRow) -> Result<StoredAdjustment, sqlx::Error> {
                Ok(StoredAdjustment {
                    id: row.try_get(0)?,
                    adjustment: NewAdjustment {
                        contact_id: row.try_get(1)?,
                        points: row.try_get(2)?,
                        reason: row.try_get(3)?,
                        author: row.try_get(4)?,
                        group: row.try_get(5)?,
                        at: row.try_get(6)?,
                    },
                })
            }

            fn model_from_row(row: &DbRow) -> Result<ModelRecord, sqlx::Error> {
                Ok(ModelRecord {
                    version: row.try_get(0)?,
                    name: row.try_get(1)?,
                    text: row.try_get(2)?,
                    created_at: row.try_get(3)?,
                    activated_at: row.try_get(4)?,
                    active: row.try_get(5)?,
                })
            }

            fn key_from_row(row: &DbRow) -> Result<KeyRecord, sqlx::Error> {
                Ok(KeyRecord {
                    id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    role: row.try_get(2)?,
                    hash: row.try_get(3)?,
                    created_at: row.try_get(4)?,
                    revoked_at: row.try_get(5)?,
                })
            }

            /// Whether a message links its anonymous id to its user id.
            fn links(event: &NewEvent) -> bool {
                event.kind == "identify" || event.kind == "alias"
            }

            /// Runs a transaction, again (after a [`backoff`]) while it fails with an
            /// error the backend calls retryable, at most [`MAX_ATTEMPTS`] times.
            async fn retry<T, F, Fut>(mut transaction: F) -> Result<T>
            where
                F: FnMut() -> Fut,
                Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
            {
                let mut attempt = 1;
                loop {
                    match transaction().await {
                        Ok(done) => return Ok(done),
                        Err(e) if attempt < MAX_ATTEMPTS && <$ty>::retryable(&e) => {
                            tokio::time::sleep(backoff(attempt)).await;
                            attempt += 1;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }

            impl $ty {
                /// SQLite: bring the set of stored ids (`seen.rs`) up to date with the
                /// log, inside a write transaction (so nothing is appended meanwhile).
                async fn catch_up(
                    seen: &std::sync::Mutex<crate::seen::SeenMessages>,
                    tx: &mut sqlx::Transaction<'static, $db>,
                ) -> Result<(), sqlx::Error> {
                    loop {
                        let through = crate::seen::lock(seen).through();
                        let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
                            "SELECT seq, message_id FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                        )
                        .bind(through)
                        .bind(crate::seen::CATCH_UP_ROWS)
                        .fetch_all(&mut **tx)
                        .await?;
                        let more = rows.len() as i64 == crate::seen::CATCH_UP_ROWS;
                        crate::seen::lock(seen).learn(rows);
                        if !more {
                            return Ok(());
                        }
                    }
                }

                /// One attempt at [`Store::append`]: one transaction.
                async fn append_once(&self, events: &[NewEvent]) -> Result<Appended, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let mut appended = Appended::default();
                    let mut contacts = BTreeSet::new();
                    // Users named by inserted messages, with when we first heard of them.
                    let mut users: BTreeMap<String, Millis> = BTreeMap::new();
                    // Which messages the log takes (a repeated `messageId` is stored once,
                    // at its first occurrence), inserted by multi-row statements (one per
                    // chunk instead of one per message).
                    let mut stored: Vec<bool> = vec![true; events.len()];
                    // SQLite: the new messages' digests, for the in-memory set after the commit.
                    let mut fresh = Vec::new();
                    let seen = self.seen();
                    if let Some(seen) = seen {
                        // Decided before the insert, against the set of stored ids
                        // (`seen.rs`), brought up to date first: the write lock is
                        // held, so no one appends between this read and the commit.
                        Self::catch_up(seen, &mut tx).await?;
                        let seen = crate::seen::lock(seen);
                        let mut in_call = HashSet::new();
                        for (event, stored) in events.iter().zip(&mut stored) {
                            if let Some(id) = &event.message_id {
                                let digest = seen.digest(id);
                                *stored = !seen.contains(digest) && in_call.insert(digest);
                                if *stored {
                                    fresh.push(digest);
                                }
                            }
                        }
                    }
                    // Several writers (PostgreSQL): the `UNIQUE (message_id)` index
                    // decides, and each statement returns the ids it stored.
                    let mut stored_ids: HashSet<String> = HashSet::new();
                    let new: Vec<&NewEvent> = events
                        .iter()
                        .zip(&stored)
                        .filter_map(|(event, stored)| stored.then_some(event))
                        .collect();
                    for chunk in new.chunks(INSERT_CHUNK) {
                        // SQLite: `OR IGNORE` though no row can conflict (the log has no
                        // unique index there, and the NOT NULL columns are bound from
                        // non-optional fields): a statement that cannot abort needs no
                        // statement journal (a copy of every page it touches, 3 % of the
                        // writer's time under load). A refused row is still an error.
                        let mut sql = String::from(if seen.is_some() {
                            "INSERT OR IGNORE INTO events \
                             (message_id, kind, user_id, anonymous_id, timestamp, received_at, body) VALUES "
                        } else {
                            "INSERT INTO events \
                             (message_id, kind, user_id, anonymous_id, timestamp, received_at, body) VALUES "
                        });
                        sql.push_str(&values_rows(<$ty>::ANONYMOUS_PARAMS, chunk.len(), 7));
                        if seen.is_none() {
                            sql.push_str(" ON CONFLICT (message_id) DO NOTHING RETURNING message_id");
                        }
                        let mut query = sqlx::query(&sql);
                        for event in chunk {
                            query = query
                                .bind(&event.message_id)
                                .bind(&event.kind)
                                .bind(&event.user_id)
                                .bind(&event.anonymous_id)
                                .bind(event.timestamp)
                                .bind(event.received_at)
                                .bind(&event.body);
                        }
                        if seen.is_some() {
                            let inserted = query.execute(&mut *tx).await?.rows_affected();
                            if inserted != chunk.len() as u64 {
                                return Err(sqlx::Error::Protocol(format!(
                                    "the log took {inserted} of {} messages",
                                    chunk.len()
                                )));
                            }
                        } else {
                            for row in query.fetch_all(&mut *tx).await? {
                                stored_ids.extend(row.try_get::<Option<String>, _>(0)?);
                            }
                        }
                    }
                    if seen.is_none() {
                        // A stored id belongs to its first occurrence in the call (the
                        // later ones conflicted with it).
                        for (event, stored) in events.iter().zip(&mut stored) {
                            if let Some(id) = &event.message_id {
                                *stored = stored_ids.remove(id);
                            }
                        }
                    }
                    // Owners of anonymous ids, looked up once per call.
                    let mut owners: HashMap<String, Option<String>> = HashMap::new();
                    // Outcomes the new messages record (`Order Completed`, ...).
                    let mut outcomes = Vec::new();
                    for (event, stored) in events.iter().zip(stored) {
                        if !stored {
                            appended.duplicates += 1;
                            continue;
                        }
                        appended.inserted += 1;
                        outcomes.extend(crate::outcomes::outcome_of_event(event));
                        match (&event.user_id, &event.anonymous_id) {
                            (Some(user), anonymous) => {
                                users.entry(user.clone()).or_insert(event.received_at);
                                contacts.insert(user.clone());
                                if let Some(anonymous) = anonymous.as_ref().filter(|_| links(event)) {
                                    let before: Option<String> = sqlx::query_scalar(
                                        "SELECT user_id FROM links WHERE anonymous_id = $1",
                                    )
                                    .bind(anonymous)
                                    .fetch_optional(&mut *tx)
                                    .await?;
                                    // The earliest link wins: a later one changes nothing.
                                    let changed = sqlx::query(
                                        "INSERT INTO links (anonymous_id, user_id, at) VALUES ($1, $2, $3) \
                                         ON CONFLICT (anonymous_id) DO UPDATE \
                                         SET user_id = excluded.user_id, at = excluded.at \
                                         WHERE excluded.at < links.at",
                                    )
                                    .bind(anonymous)
                                    .bind(user)
                                    .bind(event.timestamp)
                                    .execute(&mut *tx)
                                    .await?
                                    .rows_affected();
                                    if changed > 0 {
                                        contacts.extend(before);
                                        owners.remove(anonymous);
                                    }
                                }
                            }
                            (None, Some(anonymous)) => {
                                if !owners.contains_key(anonymous) {
                                    let owner: Option<String> = sqlx::query_scalar(
                                        "SELECT user_id FROM links WHERE anonymous_id = $1",
                                    )
                                    .bind(anonymous)
                                    .fetch_optional(&mut *tx)
                                    .await?;
                                    owners.insert(anonymous.clone(), owner);
                                }
                                contacts.extend(owners.get(anonymous).cloned().flatten());
                            }
                            (None, None) => {}
                        }
                    }
                    // In id order, so that concurrent appends take these locks in one order.
                    let users: Vec<_> = users.into_iter().collect();
                    for chunk in users.chunks(INSERT_CHUNK) {
                        let mut sql = String::from(
                            "INSERT INTO contacts (id, attributes, created_at, updated_at) VALUES ",
                        );
                        sql.push_str(&values_rows(<$ty>::ANONYMOUS_PARAMS, chunk.len(), 4));
                        sql.push_str(" ON CONFLICT (id) DO NOTHING");
                        let mut query = sqlx::query(&sql);
                        for (user, received_at) in chunk {
                            query = query.bind(user).bind("{}").bind(*received_at).bind(*received_at);
                        }
                        query.execute(&mut *tx).await?;
                    }
                    // In the same transaction: an acknowledged event keeps its outcome.
                    for outcome in &outcomes {
                        sqlx::query(crate::outcomes::INSERT_OUTCOME)
                            .bind(&outcome.contact_id)
                            .bind(&outcome.outcome)
                            .bind(outcome.at)
                            .bind(&outcome.source)
                            .bind(&outcome.message_id)
                            .bind(outcome.recorded_at)
                            .execute(&mut *tx)
                            .await?;
                    }
                    // Where the log ends now, for the set of stored ids (SQLite).
                    let through: Option<i64> = match seen {
                        Some(_) => sqlx::query_scalar("SELECT max(seq) FROM events").fetch_one(&mut *tx).await?,
                        None => None,
                    };
                    tx.commit().await?;
                    if let Some(seen) = seen {
                        crate::seen::lock(seen).record(fresh, through.unwrap_or(0));
                    }
                    appended.contacts = contacts.into_iter().collect();
                    Ok(appended)
                }

                /// One attempt at [`Store::save_score`].
                async fn put_contacts_once(&self, contacts: &[(String, String)], now: Millis) -> Result<(), sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    for (id, attributes) in contacts {
                        sqlx::query(
                            "INSERT INTO contacts (id, attributes, created_at, updated_at) \
                             VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO UPDATE \
                             SET attributes = excluded.attributes, updated_at = excluded.updated_at",
                        )
                        .bind(id)
                        .bind(attributes)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await
                }

                async fn save_scores_once(&self, scores: &[StoredScore]) -> Result<(), sqlx::Error> {
                    if <$ty>::SINGLE_WRITER {
                        return self.save_scores_serial(scores).await;
                    }
                    // Parsed once, before the transaction, as on SQLite: the results
                    // are read for fingerprints, groups and memberships alike.
                    let derived = Derived::of(scores);
                    let mut tx = self.begin_write().await?;
                    for (score, print) in scores.iter().zip(&derived.prints) {
                    // Changes a row only when the fingerprint differs (or the row is
                    // new); only then does the history grow. Atomic on both backends.
                    let changed = sqlx::query(
                        "INSERT INTO scores \
                         (contact_id, as_of, score, label, grade, stage, result, fingerprint) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (contact_id) DO UPDATE SET as_of = excluded.as_of, \
                         score = excluded.score, label = excluded.label, grade = excluded.grade, \
                         stage = excluded.stage, result = excluded.result, \
                         fingerprint = excluded.fingerprint \
                         WHERE scores.fingerprint <> excluded.fingerprint",
                    )
                    .bind(&score.contact_id)
                    .bind(score.as_of)
                    .bind(score.score)
                    .bind(&score.label)
                    .bind(&score.grade)
                    .bind(&score.stage)
                    .bind(&score.result)
                    .bind(print)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if changed > 0 {
                        sqlx::query(
                            "INSERT INTO score_history \
                             (contact_id, as_of, score, label, grade, stage, result) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(&score.contact_id)
                        .bind(score.as_of)
                        .bind(score.score)
                        .bind(&score.label)
                        .bind(&score.grade)
                        .bind(&score.stage)
                        .bind(&score.result)
                        .execute(&mut *tx)
                        .await?;
                    } else {
                        // Same in substance: the current score still moves on in time
                        // (decayed points, `as_of`), without a history entry.
                        sqlx::query(
                            "UPDATE scores SET as_of = $2, score = $3, result = $4 \
                             WHERE contact_id = $1",
                        )
                        .bind(&score.contact_id)
                        .bind(score.as_of)
                        .bind(score.score)
                        .bind(&score.result)
                        .execute(&mut *tx)
                        .await?;
                    }
                    }
                    let all: Vec<(&str, &[(String, f64)])> = scores
                        .iter()
                        .zip(&derived.groups)
                        .map(|(s, g)| (s.contact_id.as_str(), g.as_slice()))
                        .collect();
                    self.save_groups(&mut tx, &all).await?;
                    self.save_members(&mut tx, &derived.members).await?;
                    tx.commit().await?;
                    GENERATION.fetch_add(1, Ordering::AcqRel);
                    Ok(())
                }

                /// Replaces the `score_groups` rows of `scores`' contacts with their
                /// results' groups (points other than 0), a few statements per chunk.
                async fn save_groups(
                    &self,
                    tx: &mut sqlx::Transaction<'static, $db>,
                    scores: &[(&str, &[(String, f64)])],
                ) -> Result<(), sqlx::Error> {
                    for chunk in scores.chunks(IN_CHUNK) {
                        // Anonymous parameters on SQLite (see `row_params`): with
                        // `$1..$500` sqlx's name look-ups were 3 % of an activation.
                        let sql = format!(
                            "DELETE FROM score_groups WHERE contact_id IN {}",
                            row_params(<$ty>::ANONYMOUS_PARAMS, 0, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for (id, _) in chunk {
                            query = query.bind(*id);
                        }
                        query.execute(&mut **tx).await?;
                        let rows: Vec<(&str, &str, f64)> = chunk
                            .iter()
                            .flat_map(|(id, groups)| {
                                groups.iter().map(|(group, points)| (*id, group.as_str(), *points))
                            })
                            .collect();
                        for rows in rows.chunks(INSERT_CHUNK) {
                            let mut sql = String::from(
                                "INSERT INTO score_groups (contact_id, group_name, points) VALUES ",
                            );
                            sql.push_str(&values_rows(<$ty>::ANONYMOUS_PARAMS, rows.len(), 3));
                            let mut query = sqlx::query(&sql);
                            for (id, group, points) in rows {
                                query = query.bind(*id).bind(*group).bind(*points);
                            }
                            query.execute(&mut **tx).await?;
                        }
                    }
                    Ok(())
                }

                /// The contact records of `ids` (those that exist), in no order.
                async fn contacts_in(&self, ids: &[String]) -> Result<Vec<Contact>, sqlx::Error> {
                    let sql = format!(
                        "SELECT id, attributes, created_at, updated_at FROM contacts WHERE id IN {}",
                        row_params(<$ty>::ANONYMOUS_PARAMS, 0, ids.len())
                    );
                    let mut query = sqlx::query(&sql);
                    for id in ids {
                        query = query.bind(id);
                    }
                    query.fetch_all(self.reader()).await?.iter().map(contact_from_row).collect()
                }

                /// The adjustments of `ids`, in the order they were made.
                async fn adjustments_in(&self, ids: &[String]) -> Result<Vec<StoredAdjustment>, sqlx::Error> {
                    let sql = format!(
                        "SELECT {ADJUSTMENT_COLUMNS} FROM adjustments WHERE contact_id IN {} \
                         ORDER BY at, id",
                        row_params(<$ty>::ANONYMOUS_PARAMS, 0, ids.len())
                    );
                    let mut query = sqlx::query(&sql);
                    for id in ids {
                        query = query.bind(id);
                    }
                    query.fetch_all(self.reader()).await?.iter().map(adjustment_from_row).collect()
                }

                /// [`Store::save_scores`] for a backend whose write transactions exclude
                /// every other writer (SQLite's `BEGIN IMMEDIATE`): the current
                /// fingerprints are read first and the scores and history rows written
                /// with a few multi-row statements per [`SCORE_CHUNK`], instead of one or
                /// two statements per score (each a round trip to the database thread).
                /// Inside such a transaction the read cannot go stale, so this stores
                /// exactly what the conditional upserts would.
                ///
                /// A score whose fingerprint, score, label, grade and stage equal the
                /// stored ones (a rescoring that changed nothing but the instant: most of
                /// an activation that did not move a contact, a tick) only has its
                /// `as_of` and `result` rewritten: the upsert names only those columns,
                /// so SQLite leaves the five indexes on score, label, grade and stage
                /// alone instead of deleting and re-inserting an entry in each; and its
                /// `score_groups` rows are rewritten only when its groups changed.
                async fn save_scores_serial(&self, scores: &[StoredScore]) -> Result<(), sqlx::Error> {
                    /// What a stored score is compared on: fingerprint, score bits, label,
                    /// grade, stage.
                    type Current = (String, u64, Option<String>, Option<String>, Option<String>);
                    let anonymous = <$ty>::ANONYMOUS_PARAMS;
                    // Everything read out of the result texts (fingerprints, groups,
                    // account memberships) before the writer is taken: parsing them
                    // inside the transaction held SQLite's one writer for it (a tenth
                    // of an activation's CPU was the fingerprints alone).
                    let derived = Derived::of(scores);
                    let mut tx = self.begin_write().await?;
                    let mut regroup: Vec<usize> = Vec::with_capacity(scores.len());
                    // A contact saved twice in one call takes the full path each time (one
                    // statement applies its rows in order; its groups are written last).
                    let mut seen: HashMap<&str, usize> = HashMap::new();
                    for score in scores {
                        *seen.entry(score.contact_id.as_str()).or_default() += 1;
                    }
                    for (c, chunk) in scores.chunks(SCORE_CHUNK).enumerate() {
                        let first = c * SCORE_CHUNK;
                        let sql = format!(
                            "SELECT contact_id, fingerprint, score, label, grade, stage FROM scores \
                             WHERE contact_id IN {}",
                            row_params(anonymous, 0, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for score in chunk {
                            query = query.bind(&score.contact_id);
                        }
                        let mut current: HashMap<String, Current> = HashMap::new();
                        for row in query.fetch_all(&mut *tx).await? {
                            let score: f64 = row.try_get(2)?;
                            current.insert(
                                row.try_get(0)?,
                                (row.try_get(1)?, score.to_bits(), row.try_get(3)?, row.try_get(4)?, row.try_get(5)?),
                            );
                        }
                        let prints = &derived.prints[first..first + chunk.len()];
                        // In order, so that a contact saved twice compares with its first save.
                        let mut changed = Vec::new();
                        let mut full = Vec::new();
                        let mut light = Vec::new();
                        for (i, (score, print)) in chunk.iter().zip(prints).enumerate() {
                            let i = first + i;
                            let new: Current = (
                                print.clone(),
                                score.score.to_bits(),
                                score.label.clone(),
                                score.grade.clone(),
                                score.stage.clone(),
                            );
                            let old = current.get(&score.contact_id);
                            if old.map(|c| &c.0) != Some(print) {
                                changed.push(score);
                            }
                            if seen.get(score.contact_id.as_str()) == Some(&1) && old == Some(&new) {
                                light.push((score, print, i));
                            } else {
                                full.push((score, print, i));
                                regroup.push(i);
                            }
                            current.insert(score.contact_id.clone(), new);
                        }
                        for (rows, set) in [
                            (
                                &full,
                                "as_of = excluded.as_of, score = excluded.score, label = excluded.label, \
                                 grade = excluded.grade, stage = excluded.stage, \
                                 result = excluded.result, fingerprint = excluded.fingerprint",
                            ),
                            (&light, "as_of = excluded.as_of, result = excluded.result"),
                        ] {
                            if rows.is_empty() {
                                continue;
                            }
                            let params: Vec<String> =
                                (0..rows.len()).map(|i| row_params(anonymous, i * 8, 8)).collect();
                            let sql = format!(
                                "INSERT INTO scores \
                                 (contact_id, as_of, score, label, grade, stage, result, fingerprint) \
                                 VALUES {} ON CONFLICT (contact_id) DO UPDATE SET {set}",
                                params.join(", ")
                            );
                            let mut query = sqlx::query(&sql);
                            for (score, print, _) in rows {
                                query = query
                                    .bind(&score.contact_id)
                                    .bind(score.as_of)
                                    .bind(score.score)
                                    .bind(&score.label)
                                    .bind(&score.grade)
                                    .bind(&score.stage)
                                    .bind(&score.result)
                                    .bind(*print);
                            }
                            query.execute(&mut *tx).await?;
                        }
                        if !light.is_empty() {
                            // Their groups as stored, to rewrite only those that moved.
                            let sql = format!(
                                "SELECT contact_id, group_name, points FROM score_groups \
                                 WHERE contact_id IN {} ORDER BY contact_id, group_name",
                                row_params(anonymous, 0, light.len())
                            );
                            let mut query = sqlx::query(&sql);
                            for (score, _, _) in &light {
                                query = query.bind(&score.contact_id);
                            }
                            let mut stored: HashMap<String, Vec<(String, u64)>> = HashMap::new();
                            for row in query.fetch_all(&mut *tx).await? {
                                let points: f64 = row.try_get(2)?;
                                stored
                                    .entry(row.try_get(0)?)
                                    .or_default()
                                    .push((row.try_get(1)?, points.to_bits()));
                            }
                            for (score, _, i) in &light {
                                // `score_groups` gives them by name, as the query orders them.
                                let new: Vec<(String, u64)> = derived.groups[*i]
                                    .iter()
                                    .map(|(group, points)| (group.clone(), points.to_bits()))
                                    .collect();
                                let old = stored.remove(&score.contact_id).unwrap_or_default();
                                if old != new {
                                    regroup.push(*i);
                                }
                            }
                        }
                        if changed.is_empty() {
                            continue;
                        }
                        let rows: Vec<String> =
                            (0..changed.len()).map(|i| row_params(anonymous, i * 7, 7)).collect();
                        let sql = format!(
                            "INSERT INTO score_history \
                             (contact_id, as_of, score, label, grade, stage, result) VALUES {}",
                            rows.join(", ")
                        );
                        let mut query = sqlx::query(&sql);
                        for score in changed {
                            query = query
                                .bind(&score.contact_id)
                                .bind(score.as_of)
                                .bind(score.score)
                                .bind(&score.label)
                                .bind(&score.grade)
                                .bind(&score.stage)
                                .bind(&score.result);
                        }
                        query.execute(&mut *tx).await?;
                    }
                    let regroup: Vec<(&str, &[(String, f64)])> = regroup
                        .into_iter()
                        .map(|i| (scores[i].contact_id.as_str(), derived.groups[i].as_slice()))
                        .collect();
                    self.save_groups(&mut tx, &regroup).await?;
                    // Members carry the decaying engagement: every save writes them.
                    self.save_members(&mut tx, &derived.members).await?;
                    tx.commit().await?;
                    GENERATION.fetch_add(1, Ordering::AcqRel);
                    Ok(())
                }

                /// One attempt at [`Store::activate_model`].
                async fn activate_model_once(&self, version: i64, now: Millis) -> Result<bool, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("UPDATE models SET active = FALSE WHERE active = TRUE AND version <> $1")
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                    let found = sqlx::query(
                        "UPDATE models SET active = TRUE, activated_at = $2 WHERE version = $1",
                    )
                    .bind(version)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if found == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                /// One attempt at [`Store::add_model`].
                async fn add_model_once(&self, name: &str, text: &str, now: Millis) -> Result<i64, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let version: i64 = sqlx::query_scalar(
                        "INSERT INTO models (version, name, text, created_at, activated_at, active) \
                         SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3, NULL, FALSE FROM models \
                         RETURNING version",
                    )
                    .bind(name)
                    .bind(text)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(version)
                }

                /// One attempt at [`Store::erase_contact`].
                async fn erase_contact_once(&self, id: &str) -> Result<bool, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    // The contact's messages, and the anonymous-only ones of its linked
                    // ids (before the links go). Their ids leave SQLite's set of stored
                    // ids once the erasure committed: a message sent again is new again.
                    let mut erased = 0;
                    let mut erased_ids: Vec<String> = Vec::new();
                    for sql in [
                        "DELETE FROM events WHERE user_id IS NULL AND anonymous_id IN \
                         (SELECT anonymous_id FROM links WHERE user_id = $1) RETURNING message_id",
                        "DELETE FROM events WHERE user_id = $1 RETURNING message_id",
                    ] {
                        let ids: Vec<Option<String>> =
                            sqlx::query_scalar(sql).bind(id).fetch_all(&mut *tx).await?;
                        erased += ids.len() as u64;
                        erased_ids.extend(ids.into_iter().flatten());
                    }
                    for sql in [
                        "DELETE FROM links WHERE user_id = $1",
                        "DELETE FROM score_history WHERE contact_id = $1",
                        "DELETE FROM adjustments WHERE contact_id = $1",
                        "DELETE FROM scores WHERE contact_id = $1",
                        "DELETE FROM score_groups WHERE contact_id = $1",
                        // Account membership (migration 0007).
                        "DELETE FROM account_members WHERE contact_id = $1",
                        "DELETE FROM contacts WHERE id = $1",
                        // Automation (migration 0003): edges, outbox, stages, owners, tags.
                        "DELETE FROM trigger_state WHERE contact_id = $1",
                        "DELETE FROM deliveries WHERE contact_id = $1",
                        "DELETE FROM stage_history WHERE contact_id = $1",
                        "DELETE FROM owners WHERE contact_id = $1",
                        "DELETE FROM assignments WHERE contact_id = $1",
                        "DELETE FROM tags WHERE contact_id = $1",
                        // Outcomes (migration 0005).
                        "DELETE FROM outcomes WHERE contact_id = $1",
                    ] {
                        erased += sqlx::query(sql).bind(id).execute(&mut *tx).await?.rows_affected();
                    }
                    // Account deliveries (migration 0009) whose account result names the
                    // contact: nothing about it leaves the building afterwards.
                    sqlx::query(
                        "DELETE FROM deliveries WHERE account_key IS NOT NULL AND body LIKE $1 ESCAPE '\\'",
                    )
                    .bind(crate::accounts::naming(id))
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    if let Some(seen) = self.seen() {
                        crate::seen::lock(seen).forget(erased_ids.iter().map(String::as_str));
                    }
                    GENERATION.fetch_add(1, Ordering::AcqRel);
                    Ok(erased > 0)
                }

            }

            impl Store for $ty {
                async fn migrate(&self) -> Result<()> {
                    sqlx::migrate!($migrations).run(self.writer()).await?;
                    Ok(())
                }

                async fn append(&self, events: &[NewEvent]) -> Result<Appended> {
                    retry(|| self.append_once(events)).await
                }

                async fn history(&self, contact_id: &str) -> Result<Vec<StoredEvent>> {
                    // Its own messages, and the anonymous-only messages of the anonymous
                    // ids linked to it (a message naming another user is that user's).
                    let sql = format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE user_id = $1 \
                         UNION ALL \
                         SELECT {EVENT_COLUMNS} FROM events WHERE user_id IS NULL AND anonymous_id IN \
                         (SELECT anonymous_id FROM links WHERE user_id = $1) \
                         ORDER BY seq"
                    );
                    let rows = sqlx::query(&sql).bind(contact_id).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
                }

                async fn put_contact(&self, id: &str, attributes: &str, now: Millis) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO contacts (id, attributes, created_at, updated_at) \
                         VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO UPDATE \
                         SET attributes = excluded.attributes, updated_at = excluded.updated_at",
                    )
                    .bind(id)
                    .bind(attributes)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn contact(&self, id: &str) -> Result<Option<Contact>> {
                    let row = sqlx::query(
                        "SELECT id, attributes, created_at, updated_at FROM contacts WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    Ok(Some(contact_from_row(&row)?))
                }

                async fn put_contacts(&self, contacts: &[(String, String)], now: Millis) -> Result<()> {
                    retry(|| self.put_contacts_once(contacts, now)).await
                }

                async fn contacts_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<Contact>> {
                    let rows = sqlx::query(
                        "SELECT id, attributes, created_at, updated_at FROM contacts \
                         WHERE $1 IS NULL OR id > $1 ORDER BY id LIMIT $2",
                    )
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows.iter().map(contact_from_row).collect::<Result<_, _>>()?)
                }

                async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
                    let sql = format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(self.reader())
                        .await?;
                    Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
                }

                async fn save_score(&self, score: &StoredScore) -> Result<()> {
                    retry(|| self.save_scores_once(std::slice::from_ref(score))).await
                }

                async fn save_scores(&self, scores: &[StoredScore]) -> Result<()> {
                    if scores.is_empty() {
                        return Ok(());
                    }
                    retry(|| self.save_scores_once(scores)).await
                }

                async fn inputs_of(&self, ids: &[String]) -> Result<Vec<ContactInputs>> {
                    let mut all: Vec<ContactInputs> = ids
                        .iter()
                        .map(|id| ContactInputs { id: id.clone(), ..ContactInputs::default() })
                        .collect();
                    let position: HashMap<&str, usize> =
                        ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
                    for chunk in ids.chunks(IN_CHUNK) {
                        let list = placeholders(chunk.len());
                        for contact in self.contacts_in(chunk).await? {
                            if let Some(&i) = position.get(contact.id.as_str()) {
                                all[i].contact = Some(contact);
                            }
                        }
                        // Own messages and the anonymous-only messages of linked ids, as
                        // `history` reads them, tagged with the contact they belong to.
                        let sql = format!(
                            "SELECT {EVENT_COLUMNS}, user_id AS owner FROM events WHERE user_id IN ({list}) \
                             UNION ALL \
                             SELECT {QUALIFIED_EVENT_COLUMNS}, links.user_id AS owner FROM events \
                             JOIN links ON events.anonymous_id = links.anonymous_id \
                             WHERE events.user_id IS NULL AND links.user_id IN ({list}) \
                             ORDER BY seq"
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            let owner: String = row.try_get(8)?;
                            let event = event_from_row(&row)?;
                            if let Some(&i) = position.get(owner.as_str()) {
                                all[i].history.push(event);
                            }
                        }
                        for adjustment in self.adjustments_in(chunk).await? {
                            if let Some(&i) = position.get(adjustment.adjustment.contact_id.as_str()) {
                                all[i].adjustments.push(adjustment);
                            }
                        }
                    }
                    Ok(all)
                }

                async fn deltas_of(&self, wanted: &[(String, i64)]) -> Result<Vec<ContactDelta>> {
                    let mut all: Vec<ContactDelta> = wanted
                        .iter()
                        .map(|(id, _)| ContactDelta { id: id.clone(), ..ContactDelta::default() })
                        .collect();
                    let position: HashMap<&str, usize> =
                        wanted.iter().enumerate().map(|(i, (id, _))| (id.as_str(), i)).collect();
                    // Two parameters per contact in the `VALUES` list.
                    for chunk in wanted.chunks(IN_CHUNK / 2) {
                        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
                        for contact in self.contacts_in(&ids).await? {
                            if let Some(&i) = position.get(contact.id.as_str()) {
                                all[i].contact = Some(contact);
                            }
                        }
                        for adjustment in self.adjustments_in(&ids).await? {
                            if let Some(&i) = position.get(adjustment.adjustment.contact_id.as_str()) {
                                all[i].adjustments.push(adjustment);
                            }
                        }
                        let sql = format!(
                            "SELECT user_id, anonymous_id FROM links WHERE user_id IN {} \
                             ORDER BY anonymous_id",
                            row_params(<$ty>::ANONYMOUS_PARAMS, 0, ids.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for id in &ids {
                            query = query.bind(id);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            let owner: String = row.try_get(0)?;
                            if let Some(&i) = position.get(owner.as_str()) {
                                all[i].links.push(row.try_get(1)?);
                            }
                        }
                        // The history after each contact's position, as `history` reads
                        // it, tagged with the contact it belongs to...
                        let sql = format!(
                            "{} ORDER BY seq",
                            around_positions(
                                QUALIFIED_EVENT_COLUMNS,
                                ">",
                                chunk.len(),
                                <$ty>::ANONYMOUS_PARAMS,
                                <$ty>::JOIN_IN_ORDER
                            )
                        );
                        let mut query = sqlx::query(&sql);
                        for (id, after) in chunk {
                            query = query.bind(id).bind(*after);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            let owner: String = row.try_get(8)?;
                            let event = event_from_row(&row)?;
                            if let Some(&i) = position.get(owner.as_str()) {
                                all[i].history.push(event);
                            }
                        }
                        // ...and how many messages it has at or before (an index-only
                        // count, for the contacts read from a position).
                        if !<$ty>::COUNTS_BEFORE {
                            continue;
                        }
                        // Counted: none unless the count below finds some.
                        for (id, _) in chunk {
                            if let Some(&i) = position.get(id.as_str()) {
                                all[i].before = Some(0);
                            }
                        }
                        let held: Vec<&(String, i64)> = chunk.iter().filter(|(_, after)| *after > 0).collect();
                        if held.is_empty() {
                            continue;
                        }
                        let sql = format!(
                            "SELECT owner, COUNT(*) FROM ({}) AS t GROUP BY owner",
                            around_positions(
                                "events.seq",
                                "<=",
                                held.len(),
                                <$ty>::ANONYMOUS_PARAMS,
                                <$ty>::JOIN_IN_ORDER
                            )
                        );
                        let mut query = sqlx::query(&sql);
                        for (id, after) in held {
                            query = query.bind(id).bind(*after);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            let owner: String = row.try_get(0)?;
                            let count: i64 = row.try_get(1)?;
                            if let Some(&i) = position.get(owner.as_str()) {
                                all[i].before = Some(u64::try_from(count).unwrap_or(0));
                            }
                        }
                    }
                    Ok(all)
                }

                async fn score(&self, contact_id: &str) -> Result<Option<StoredScore>> {
                    let sql = format!("SELECT {SCORE_COLUMNS} FROM scores WHERE contact_id = $1");
                    let row = sqlx::query(&sql)
                        .bind(contact_id)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(row.as_ref().map(score_from_row).transpose()?)
                }

                async fn score_history(&self, contact_id: &str) -> Result<Vec<StoredScore>> {
                    let sql = format!(
                        "SELECT {SCORE_COLUMNS} FROM score_history WHERE contact_id = $1 \
                         ORDER BY as_of, id"
                    );
                    let rows = sqlx::query(&sql).bind(contact_id).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(score_from_row).collect::<Result<_, _>>()?)
                }

                async fn list_scores(&self, query: &ScoreQuery) -> Result<ScorePage> {
                    let limit = page_limit(query.limit);
                    let after = query.after.as_deref().map(decode_cursor).transpose()?;
                    let mut texts: Vec<&str> = Vec::new();
                    // With a group: its rows, best in the group first (the index
                    // `score_groups_rank`), joined to their scores; else the scores.
                    let (mut sql, key, id) = match &query.group {
                        Some(group) => {
                            texts.push(group);
                            (
                                format!(
                                    "SELECT {QUALIFIED_SCORE_COLUMNS}, g.points FROM score_groups g \
                                     JOIN scores s ON s.contact_id = g.contact_id WHERE g.group_name = $1"
                                ),
                                "g.points",
                                "g.contact_id",
                            )
                        }
                        None => (
                            format!("SELECT {QUALIFIED_SCORE_COLUMNS}, s.score FROM scores s WHERE TRUE"),
                            "s.score",
                            "s.contact_id",
                        ),
                    };
                    for (column, value) in [
                        ("s.label", &query.label),
                        ("s.grade", &query.grade),
                        ("s.stage", &query.stage),
                    ] {
                        if let Some(value) = value {
                            texts.push(value);
                            sql.push_str(&format!(" AND {column} = ${}", texts.len()));
                        }
                    }
                    if let Some(owner) = &query.owner {
                        texts.push(owner);
                        sql.push_str(&format!(
                            " AND s.contact_id IN (SELECT contact_id FROM owners WHERE owner = ${})",
                            texts.len()
                        ));
                    }
                    // The search box: a substring of the id or of the attributes'
                    // JSON text, ASCII case folded; `%`, `_` and `\` match themselves.
                    let pattern = query.q.as_deref().filter(|q| !q.is_empty()).map(like_pattern);
                    if let Some(pattern) = &pattern {
                        texts.push(pattern);
                        let p = texts.len();
                        sql.push_str(&format!(
                            " AND (LOWER(s.contact_id) LIKE ${p} ESCAPE '\\' OR s.contact_id IN \
                             (SELECT id FROM contacts WHERE LOWER(attributes) LIKE ${p} ESCAPE '\\'))"
                        ));
                    }
                    let n = texts.len();
                    if after.is_some() {
                        sql.push_str(&format!(
                            " AND ({key} < ${a} OR ({key} = ${a} AND {id} > ${b}))",
                            a = n + 1,
                            b = n + 2
                        ));
                    }
                    let limit_param = if after.is_some() { n + 3 } else { n + 1 };
                    sql.push_str(&format!(
                        " ORDER BY {key} DESC, {id} ASC LIMIT ${limit_param}"
                    ));
                    let mut q = sqlx::query(&sql);
                    for text in texts {
                        q = q.bind(text);
                    }
                    if let Some((score, id)) = &after {
                        q = q.bind(*score).bind(id.as_str());
                    }
                    q = q.bind(i64::from(limit) + 1);
                    let rows = q.fetch_all(self.reader()).await?;
                    let mut items = Vec::with_capacity(rows.len());
                    let mut last_key = 0.0;
                    for row in rows.iter().take(limit as usize) {
                        items.push(score_from_row(row)?);
                        last_key = row.try_get(7)?;
                    }
                    let next = if rows.len() > limit as usize {
                        items.last().map(|s| encode_cursor(last_key, &s.contact_id))
                    } else {
                        None
                    };
                    Ok(ScorePage { items, next })
                }

                async fn score_summary(&self, width: f64) -> Result<Vec<SummaryRow>> {
                    // `floor` is not in SQLite's default build: an integer cast
                    // truncates there (toward zero, so one less below zero), and rounds
                    // in PostgreSQL, which has `FLOOR`.
                    let bucket = if <$db as sqlx::Database>::NAME == "SQLite" {
                        "(CAST(score / $1 AS INTEGER) - (CAST(score / $1 AS INTEGER) > score / $1))"
                    } else {
                        "CAST(FLOOR(score / $1) AS BIGINT)"
                    };
                    let sql = format!(
                        "SELECT {bucket} AS bucket, label, grade, stage, COUNT(*), \
                         SUM(score), MIN(score), MAX(score) FROM scores \
                         GROUP BY bucket, label, grade, stage"
                    );
                    let rows = sqlx::query(&sql).bind(width).fetch_all(self.reader()).await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for row in &rows {
                        out.push(SummaryRow {
                            bucket: row.try_get(0)?,
                            label: row.try_get(1)?,
                            grade: row.try_get(2)?,
                            stage: row.try_get(3)?,
                            count: row.try_get(4)?,
                            sum: row.try_get(5)?,
                            min: row.try_get(6)?,
                            max: row.try_get(7)?,
                        });
                    }
                    Ok(out)
                }

                async fn score_generation(&self) -> Result<u64> {
                    Ok(GENERATION.load(Ordering::Acquire))
                }

                async fn contact_ids(&self) -> Result<Vec<String>> {
                    Ok(sqlx::query_scalar("SELECT id FROM contacts ORDER BY id")
                        .fetch_all(self.reader())
                        .await?)
                }

                async fn stale_scores(&self, before: Millis, limit: u32) -> Result<Vec<String>> {
                    Ok(sqlx::query_scalar(
                        "SELECT contact_id FROM scores WHERE as_of < $1 \
                         ORDER BY as_of, contact_id LIMIT $2",
                    )
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn add_adjustment(&self, adjustment: &NewAdjustment) -> Result<StoredAdjustment> {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO adjustments (contact_id, points, reason, author, group_name, at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(&adjustment.contact_id)
                    .bind(adjustment.points)
                    .bind(&adjustment.reason)
                    .bind(&adjustment.author)
                    .bind(&adjustment.group)
                    .bind(adjustment.at)
                    .fetch_one(self.writer())
                    .await?;
                    Ok(StoredAdjustment { id, adjustment: adjustment.clone() })
                }

                async fn adjustments(&self, contact_id: &str) -> Result<Vec<StoredAdjustment>> {
                    let sql = format!(
                        "SELECT {ADJUSTMENT_COLUMNS} FROM adjustments WHERE contact_id = $1 \
                         ORDER BY at, id"
                    );
                    let rows = sqlx::query(&sql).bind(contact_id).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(adjustment_from_row).collect::<Result<_, _>>()?)
                }

                async fn add_model(&self, name: &str, text: &str, now: Millis) -> Result<i64> {
                    retry(|| self.add_model_once(name, text, now)).await
                }

                async fn models(&self) -> Result<Vec<ModelRecord>> {
                    let sql = format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY version");
                    let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(model_from_row).collect::<Result<_, _>>()?)
                }

                async fn model(&self, version: i64) -> Result<Option<ModelRecord>> {
                    let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE version = $1");
                    let row = sqlx::query(&sql).bind(version).fetch_optional(self.reader()).await?;
                    Ok(row.as_ref().map(model_from_row).transpose()?)
                }

                async fn active_model(&self) -> Result<Option<ModelRecord>> {
                    let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE active = TRUE");
                    let row = sqlx::query(&sql).fetch_optional(self.reader()).await?;
                    Ok(row.as_ref().map(model_from_row).transpose()?)
                }

                async fn activate_model(&self, version: i64, now: Millis) -> Result<bool> {
                    retry(|| self.activate_model_once(version, now)).await
                }

                async fn erase_contact(&self, id: &str) -> Result<bool> {
                    retry(|| self.erase_contact_once(id)).await
                }

                async fn create_key(&self, key: &KeyRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO keys (id, name, role, hash, created_at, revoked_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&key.id)
                    .bind(&key.name)
                    .bind(&key.role)
                    .bind(&key.hash)
                    .bind(key.created_at)
                    .bind(key.revoked_at)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>> {
                    let sql = format!(
                        "SELECT {KEY_COLUMNS} FROM keys WHERE hash = $1 AND revoked_at IS NULL"
                    );
                    let row = sqlx::query(&sql).bind(hash).fetch_optional(self.reader()).await?;
                    Ok(row.as_ref().map(key_from_row).transpose()?)
                }

                async fn keys(&self) -> Result<Vec<KeyRecord>> {
                    let sql = format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at, id");
                    let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
                }

                async fn revoke_key(&self, id: &str, now: Millis) -> Result<bool> {
                    let revoked = sqlx::query(
                        "UPDATE keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                    Ok(revoked > 0)
                }
            }
        }
    };
}

pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn row_parameters_are_numbered_on_or_anonymous() {
        assert_eq!(row_params(false, 3, 2), "($4, $5)");
        assert_eq!(row_params(true, 3, 2), "(?, ?)");
        assert_eq!(values_rows(false, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_rows(true, 3, 1), "(?), (?), (?)");
        assert_eq!(values_rows(true, 0, 4), "");
    }

    /// A JSON scalar or (sometimes) a small object, as a result member could hold.
    fn member_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            // serde_json reads a few long floats back 1 ULP off (without its
            // `float_roundtrip` feature): there the tree path changes the number and
            // the raw path keeps it; see `fingerprint`.
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_filter("read back exactly", |f| {
                    serde_json::from_str::<f64>(&serde_json::Value::from(*f).to_string())
                        .is_ok_and(|back| back == *f)
                })
                .prop_map(serde_json::Value::from),
            (-100_000i64..100_000, 0u32..4)
                .prop_map(|(n, d)| { serde_json::Value::from(n as f64 / 10f64.powi(d as i32)) }),
            "[ -~\\u{e9}\\u{1F600}\\n\\t\"\\\\]{0,12}".prop_map(serde_json::Value::from),
        ];
        scalar.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The raw-member fingerprint is the text the parsed tree gives, for any
        /// object serde_json writes (members in any order, time-moved ones or not),
        /// so stored fingerprints keep comparing equal across the two paths.
        #[test]
        fn fingerprints_agree_with_the_tree(
            members in proptest::collection::vec(
                (proptest::prop_oneof![
                    proptest::strategy::Just("as_of".to_owned()),
                    proptest::strategy::Just("explain".to_owned()),
                    proptest::strategy::Just("groups".to_owned()),
                    "[a-z_\"]{1,8}",
                ], member_value()),
                0..8,
            ),
        ) {
            // Written member by member, in the generated order (as a struct is).
            let mut text = String::from("{");
            let mut names = BTreeSet::new();
            for (name, value) in &members {
                if !names.insert(name.clone()) {
                    continue;
                }
                if text.len() > 1 {
                    text.push(',');
                }
                text.push_str(&serde_json::to_string(name).unwrap_or_default());
                text.push(':');
                text.push_str(&value.to_string());
            }
            text.push('}');
            proptest::prop_assert_eq!(fingerprint(&text), tree_fingerprint(&text));
        }
    }

    #[test]
    fn fingerprints_leave_out_what_time_moves() {
        let result = r#"{"contact_id":"c-1","as_of":"2026-01-01T00:00:00Z","score":40,"raw":40.5,"groups":{"a":1.5},"stage":"lead","explain":[{"rule":"x"}]}"#;
        assert_eq!(
            fingerprint(result),
            r#"{"contact_id":"c-1","score":40,"stage":"lead"}"#
        );
        // Not an object: the text itself.
        assert_eq!(fingerprint("[1,2]"), "[1,2]");
        assert_eq!(fingerprint("not json"), "not json");
        // A kept object member takes the tree path (its members ordered by name).
        assert_eq!(
            fingerprint(r#"{"route":{"team":"b","id":"a"},"score":1}"#),
            r#"{"route":{"id":"a","team":"b"},"score":1}"#
        );
    }

    #[test]
    fn urls_name_their_backend() {
        let parse = |url: &str| url.parse::<Target>().ok();
        let sqlite = |p: &str| Some(Target::Sqlite(p.to_owned()));
        assert_eq!(parse("sqlite://leadscore.db"), sqlite("leadscore.db"));
        assert_eq!(parse("sqlite:///var/x.db"), sqlite("/var/x.db"));
        assert_eq!(parse("sqlite:x.db"), sqlite("x.db"));
        assert_eq!(parse("data/x.db"), sqlite("data/x.db"));
        for url in ["postgresql://u@h/db", "postgres://u@h/db"] {
            assert_eq!(parse(url), Some(Target::Postgres(url.to_owned())));
        }
        for bad in ["mysql://h/db", "", "sqlite://", "sqlite:"] {
            assert!(
                matches!(bad.parse::<Target>(), Err(StoreError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn cursors_round_trip_exactly() {
        for (score, id) in [(0.1 + 0.2, "a.b:c"), (-0.0, ""), (1e300, "\u{e9}")] {
            let cursor = encode_cursor(score, id);
            assert!(cursor_is_valid(&cursor));
            let (s, i) = decode_cursor(&cursor)
                .map_err(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!((s.to_bits(), i.as_str()), (score.to_bits(), id));
        }
        for bad in ["", "1.x", "zzzzzzzzzzzzzzzz.a", "0000000000000000"] {
            assert!(!cursor_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn page_size_defaults_to_50_and_caps_at_1000() {
        assert_eq!(page_limit(0), 50);
        assert_eq!(page_limit(7), 7);
        assert_eq!(page_limit(1000), 1000);
        assert_eq!(page_limit(1001), 1000);
    }
}
