//! leadscore's storage: one [`Store`] trait, two real backends.
//!
//! * SQLite (`sqlite://leadscore.db`): the embedded default, zero set-up.
//! * PostgreSQL (`postgres://user@host/db`): shared by several servers.
//!
//! Events are an append-only log; contacts, current scores and score history are
//! derived from it and can be rebuilt. Manual adjustments (append-only) and model
//! versions (one active) live beside it. Every write method commits before it returns:
//! when it says `Ok`, the data survives a crash (the server answers `200` only then).
//!
//! Both backends pass one shared test suite (`tests/`), run against a real SQLite file
//! and the PostgreSQL at `127.0.0.1:5432`.
//!
//! Layout:
//!
//! * `backend.rs`: the SQL, written once and expanded for both backends; URL parsing;
//!   score-list cursors.
//! * `sqlite.rs`, `postgres.rs`: connecting, durability settings, transaction start
//!   and retry policy of each backend.
//! * `migrations/{sqlite,postgres}/`: the versioned schema, embedded in the binary and
//!   applied by [`Store::migrate`].
//!
//! A score-list cursor ([`ScorePage::next`]) is opaque text (today
//! `<hex f64 bits of the score>.<contact id>`); check one that came from a client with
//! [`cursor_is_valid`]. The page size is 50 when [`ScoreQuery::limit`] is 0 and at
//! most 1000.

#![deny(missing_docs)]

use std::future::Future;

pub mod accounts;
pub mod automation;
mod backend;
pub mod outcomes;
pub mod postgres;
mod seen;
pub mod sqlite;

pub use accounts::Accounts;
pub use automation::Automation;
pub use backend::cursor_is_valid;
pub use outcomes::Outcomes;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// A storage failure. Caller mistakes are not errors here (they are checked before);
/// these are the database's: the server logs them and answers 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database said no.
    #[error("database error: {0}")]
    Database(String),
    /// The URL is not one we can open.
    #[error("unsupported database URL `{0}` (use sqlite://PATH or postgres://USER@HOST/DB)")]
    BadUrl(String),
    /// A stored value could not be read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A [`ScoreQuery::after`] cursor that no page handed out (check it first with
    /// [`cursor_is_valid`] to answer 400 instead).
    #[error("invalid cursor `{0}`")]
    BadCursor(String),
}

/// Result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One Segment-style message to append to the log, already validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// `messageId`; `None`: every copy is kept.
    pub message_id: Option<String>,
    /// `track`, `page`, `screen`, `identify`, `alias`, `group`.
    pub kind: String,
    /// `userId`.
    pub user_id: Option<String>,
    /// `anonymousId` (or `previousId` for `alias`).
    pub anonymous_id: Option<String>,
    /// When it happened (the message's timestamp).
    pub timestamp: Millis,
    /// When the server received it.
    pub received_at: Millis,
    /// The message as received, JSON text: the engine re-reads it when rescoring.
    pub body: String,
}

/// A message from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the log (increasing in commit order).
    pub seq: i64,
    /// The message as appended.
    pub event: NewEvent,
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// Messages newly stored.
    pub inserted: u64,
    /// Messages whose `messageId` was already stored (acknowledged, not stored again).
    pub duplicates: u64,
    /// Contacts (`userId`s) whose history changed, including those an `identify` or
    /// `alias` linked an anonymous id to. Sorted, without duplicates.
    pub contacts: Vec<String>,
}

/// A contact record.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// The contact id (`userId`).
    pub id: String,
    /// Attributes set through the API or a CSV import, as a JSON object text
    /// (identify traits live in the event log and are applied by the engine).
    pub attributes: String,
    /// When the record was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// What scoring one contact reads from the store ([`Store::inputs_of`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactInputs {
    /// The contact id.
    pub id: String,
    /// Its record, if it has one.
    pub contact: Option<Contact>,
    /// Its messages and those of the anonymous ids linked to it, in log order.
    pub history: Vec<StoredEvent>,
    /// Its manual adjustments, in the order they were made.
    pub adjustments: Vec<StoredAdjustment>,
}

/// What an incremental rescoring reads of one contact ([`Store::deltas_of`]): the
/// history messages after a log position it already holds, and what tells whether the
/// part it holds is still the contact's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactDelta {
    /// The contact id.
    pub id: String,
    /// Its record, if it has one.
    pub contact: Option<Contact>,
    /// Its manual adjustments, in the order they were made.
    pub adjustments: Vec<StoredAdjustment>,
    /// The anonymous ids linked to it (the store's links), sorted.
    pub links: Vec<String>,
    /// How many messages of its history (as [`Store::history`] reads it) are at or
    /// before the position asked for; `None` where the backend does not need to count
    /// them. SQLite commits one writer at a time and gives every message a position
    /// above all committed ones (`AUTOINCREMENT`, never reused), so a message can only
    /// join a history at or before a position already read through a new link (which
    /// [`ContactDelta::links`] shows) and leave it only by erasure (which removes the
    /// record and the links): the count, which grew with the history, would say
    /// nothing more. PostgreSQL counts: a transaction holding a lower position can
    /// commit after a higher one was read.
    pub before: Option<u64>,
    /// The messages of its history after the position asked for, in log order.
    pub history: Vec<StoredEvent>,
}

/// A contact's score as stored: the numbers to filter and sort on, plus the full
/// result (with its explanation) as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScore {
    /// The contact.
    pub contact_id: String,
    /// The instant it was computed as of.
    pub as_of: Millis,
    /// Clamped, unrounded score (what lists sort by).
    pub score: f64,
    /// Label, grade and stage, for filters.
    pub label: Option<String>,
    /// Grade letter.
    pub grade: Option<String>,
    /// Stage id.
    pub stage: Option<String>,
    /// The score result as JSON (the documented shape, with `explain`).
    pub result: String,
}

/// Filters and paging for [`Store::list_scores`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreQuery {
    /// Only this label.
    pub label: Option<String>,
    /// Only this grade.
    pub grade: Option<String>,
    /// Only this stage.
    pub stage: Option<String>,
    /// Only contacts this member owns (`automation::Automation::assign_owner`).
    pub owner: Option<String>,
    /// Only contacts with points (other than 0) in this score group, by name; the
    /// page is then ordered by that group's points, best first (ties by contact id),
    /// and its cursor continues in that order.
    pub group: Option<String>,
    /// Only contacts whose id, or the text of whose stored attributes (e-mail,
    /// company, name, ...), contains this text, ignoring ASCII case (a search box).
    pub q: Option<String>,
    /// At most this many (the store may cap it).
    pub limit: u32,
    /// Continue after this cursor (from a previous page's `next`).
    pub after: Option<String>,
}

/// One page of scores, best first (score descending, then contact id ascending).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScorePage {
    /// The scores of this page.
    pub items: Vec<StoredScore>,
    /// Cursor for the next page; `None` on the last.
    pub next: Option<String>,
}

/// Current scores counted together ([`Store::score_summary`]): those in one histogram
/// bucket with one label, grade and stage.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The bucket: `floor(score / width)`.
    pub bucket: i64,
    /// Label, grade and stage they share.
    pub label: Option<String>,
    /// Grade letter.
    pub grade: Option<String>,
    /// Stage id.
    pub stage: Option<String>,
    /// How many.
    pub count: i64,
    /// Sum of their scores.
    pub sum: f64,
    /// Lowest score.
    pub min: f64,
    /// Highest score.
    pub max: f64,
}

/// An access key as stored: never the secret, only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Public id (shown in lists, used to revoke).
    pub id: String,
    /// A person's name for it.
    pub name: Option<String>,
    /// `write` (ingestion only), `read`, or `admin`.
    pub role: String,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it was revoked; a revoked key opens nothing.
    pub revoked_at: Option<Millis>,
}

/// A manual adjustment to store: points a person gave a contact, with a reason.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAdjustment {
    /// The contact.
    pub contact_id: String,
    /// Points (may be negative).
    pub points: f64,
    /// Why (never empty: the API checks).
    pub reason: String,
    /// Who: the name (or id) of the API key that made it.
    pub author: String,
    /// The score group it counts in, by name; `None`: no group.
    pub group: Option<String>,
    /// When it was made; it counts from then on.
    pub at: Millis,
}

/// A stored manual adjustment.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAdjustment {
    /// Its id (increasing in insertion order).
    pub id: i64,
    /// The adjustment as added.
    pub adjustment: NewAdjustment,
}

/// A stored model version (only valid models are stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRecord {
    /// Version number: 1, 2, ... in upload order.
    pub version: i64,
    /// The model's `name`.
    pub name: String,
    /// The TOML text as uploaded.
    pub text: String,
    /// When it was stored.
    pub created_at: Millis,
    /// When it was last activated; `None`: never.
    pub activated_at: Option<Millis>,
    /// Whether it is the active model (exactly one is, once any was activated).
    pub active: bool,
}

/// Everything leadscore keeps. Implemented by [`sqlite::SqliteStore`] and
/// [`postgres::PostgresStore`]; [`AnyStore`] picks one from a URL.
pub trait Store: Send + Sync + 'static {
    /// Create or upgrade the schema (versioned migrations, run on start).
    fn migrate(&self) -> impl Future<Output = Result<()>> + Send;

    /// Append messages to the log in one transaction, skipping `messageId`s already
    /// stored (and repeated within `events`: the first wins). Durable when it returns.
    /// `identify` messages with both ids, and `alias` messages, link the anonymous id
    /// to the user id. Appending nothing stores nothing; on SQLite it reads the ids of
    /// messages appended since this store last looked (all of them, the first time:
    /// `seen.rs`), which `serve` does at start so that no request waits for it.
    fn append(&self, events: &[NewEvent]) -> impl Future<Output = Result<Appended>> + Send;

    /// A contact's history: its own messages and those of every anonymous id linked
    /// to it, in log order.
    fn history(&self, contact_id: &str) -> impl Future<Output = Result<Vec<StoredEvent>>> + Send;

    /// Create or replace a contact's attributes (a JSON object text).
    fn put_contact(
        &self,
        id: &str,
        attributes: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A contact, if known (from the API, an import, or any message naming it).
    fn contact(&self, id: &str) -> impl Future<Output = Result<Option<Contact>>> + Send;

    /// Create or replace the attributes of many contacts (`(id, attributes)`) in one
    /// transaction: all are stored or none (a CSV import).
    fn put_contacts(
        &self,
        contacts: &[(String, String)],
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Contact records with an id after `after` (`None`: from the first), in id order,
    /// at most `limit` (an export pages through them).
    fn contacts_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Contact>>> + Send;

    /// Messages of the log after position `after`, in log order, at most `limit` (an
    /// export pages through the whole log).
    fn events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>>> + Send;

    /// Store a contact's current score (always: its `as_of` moves on) and add it to its
    /// history only when it changed: when the result differs from the current one in
    /// more than what time alone moves (`as_of`, `raw`, `engagement`, `groups`,
    /// `explain`), i.e. in the reported score, fit, manual points, grade, label, stage,
    /// disqualification, owner or route. A result that is not a JSON object is
    /// compared whole. So a tick that only decayed points below a whole point adds no
    /// history. The contact's account membership ([`Accounts`]) is replaced in the same
    /// transaction.
    fn save_score(&self, score: &StoredScore) -> impl Future<Output = Result<()>> + Send;

    /// Store many contacts' current scores in one transaction (a rescoring batch), each
    /// as [`Store::save_score`] does: one commit (and one fsync) for the whole batch.
    fn save_scores(&self, scores: &[StoredScore]) -> impl Future<Output = Result<()>> + Send;

    /// What scoring needs of each of `ids`, in the order given: the record, the history
    /// (as [`Store::history`]) and the adjustments (as [`Store::adjustments`]), read
    /// with a few statements for the whole batch instead of three per contact.
    fn inputs_of(&self, ids: &[String]) -> impl Future<Output = Result<Vec<ContactInputs>>> + Send;

    /// For each `(id, after)`, the contact's history after log position `after` and
    /// what checks the part at or before it (see [`ContactDelta`]), in the order given:
    /// a few statements for the whole batch. `after = 0` reads the whole history.
    fn deltas_of(
        &self,
        wanted: &[(String, i64)],
    ) -> impl Future<Output = Result<Vec<ContactDelta>>> + Send;

    /// A contact's current score.
    fn score(&self, contact_id: &str) -> impl Future<Output = Result<Option<StoredScore>>> + Send;

    /// A contact's score history, oldest first.
    fn score_history(
        &self,
        contact_id: &str,
    ) -> impl Future<Output = Result<Vec<StoredScore>>> + Send;

    /// Current scores, best first, filtered and paged.
    fn list_scores(&self, query: &ScoreQuery) -> impl Future<Output = Result<ScorePage>> + Send;

    /// The current scores counted per histogram bucket of `width` points (`width` > 0)
    /// and label, grade and stage: one aggregate over an index, no result read.
    fn score_summary(&self, width: f64) -> impl Future<Output = Result<Vec<SummaryRow>>> + Send;

    /// A number that changes whenever this process wrote or erased current scores of
    /// this backend (any store of it; never goes back): a cache of what
    /// [`Store::score_summary`] said stays right while it is unchanged. Writes by other
    /// processes sharing the database do not move it.
    fn score_generation(&self) -> impl Future<Output = Result<u64>> + Send;

    /// Ids of every known contact (for rescoring), in id order.
    fn contact_ids(&self) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Contacts whose current score is as of an instant before `before`, oldest first,
    /// at most `limit` (for the background tick).
    fn stale_scores(
        &self,
        before: Millis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Add a manual adjustment; returns it with its id. Adjustments are never changed
    /// or deleted, except by [`Store::erase_contact`].
    fn add_adjustment(
        &self,
        adjustment: &NewAdjustment,
    ) -> impl Future<Output = Result<StoredAdjustment>> + Send;

    /// A contact's adjustments, in the order they were made (`at`, then id).
    fn adjustments(
        &self,
        contact_id: &str,
    ) -> impl Future<Output = Result<Vec<StoredAdjustment>>> + Send;

    /// Store a (valid) model as the next version, not active; returns the version.
    fn add_model(
        &self,
        name: &str,
        text: &str,
        now: Millis,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Every stored model, by version.
    fn models(&self) -> impl Future<Output = Result<Vec<ModelRecord>>> + Send;

    /// One model version, if stored.
    fn model(&self, version: i64) -> impl Future<Output = Result<Option<ModelRecord>>> + Send;

    /// The active model, if any was activated.
    fn active_model(&self) -> impl Future<Output = Result<Option<ModelRecord>>> + Send;

    /// Make `version` the active model, in one transaction with deactivating the
    /// previous one; returns whether the version exists.
    fn activate_model(
        &self,
        version: i64,
        now: Millis,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Erase a contact: its record, scores, history, adjustments, its messages and
    /// those of the anonymous ids linked to it, its automation state (trigger
    /// states, deliveries, stage history, owner, assignments, tags), its account
    /// membership ([`Accounts`]) and its outcomes ([`Outcomes`]). Returns whether
    /// anything was there.
    fn erase_contact(&self, id: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Store a new key.
    fn create_key(&self, key: &KeyRecord) -> impl Future<Output = Result<()>> + Send;

    /// The key with this secret hash, if it exists and is not revoked.
    fn key_by_hash(&self, hash: &str) -> impl Future<Output = Result<Option<KeyRecord>>> + Send;

    /// Every key, revoked ones included, oldest first.
    fn keys(&self) -> impl Future<Output = Result<Vec<KeyRecord>>> + Send;

    /// Revoke a key by id; returns whether it existed and was active.
    fn revoke_key(&self, id: &str, now: Millis) -> impl Future<Output = Result<bool>> + Send;
}

/// The store a URL names: [`AnyStore::open`] picks the backend, and every call is
/// delegated to it.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// An SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// Open `url`: `sqlite://PATH`, `sqlite:PATH` or a bare path for SQLite (the file
    /// is created if missing); `postgres://...` or `postgresql://...` for PostgreSQL.
    /// Anything else is [`StoreError::BadUrl`]. Does not migrate: call
    /// [`Store::migrate`].
    pub async fn open(url: &str) -> Result<Self> {
        match url.parse::<backend::Target>()? {
            backend::Target::Sqlite(_) => Ok(AnyStore::Sqlite(SqliteStore::open(url).await?)),
            backend::Target::Postgres(_) => {
                Ok(AnyStore::Postgres(PostgresStore::connect(url).await?))
            }
        }
    }

    /// Close the store's connections, waiting for them to finish.
    pub async fn close(&self) {
        match self {
            AnyStore::Sqlite(s) => s.close().await,
            AnyStore::Postgres(s) => s.close().await,
        }
    }
}

/// Delegates one [`Store`] method of [`AnyStore`] to the backend.
macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl Store for AnyStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    match self {
                        AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                        AnyStore::Postgres(s) => s.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate! {
    migrate() -> ();
    append(events: &[NewEvent]) -> Appended;
    history(contact_id: &str) -> Vec<StoredEvent>;
    put_contact(id: &str, attributes: &str, now: Millis) -> ();
    contact(id: &str) -> Option<Contact>;
    put_contacts(contacts: &[(String, String)], now: Millis) -> ();
    contacts_after(after: Option<&str>, limit: u32) -> Vec<Contact>;
    events_after(after: i64, limit: u32) -> Vec<StoredEvent>;
    save_score(score: &StoredScore) -> ();
    save_scores(scores: &[StoredScore]) -> ();
    inputs_of(ids: &[String]) -> Vec<ContactInputs>;
    deltas_of(wanted: &[(String, i64)]) -> Vec<ContactDelta>;
    score(contact_id: &str) -> Option<StoredScore>;
    score_history(contact_id: &str) -> Vec<StoredScore>;
    list_scores(query: &ScoreQuery) -> ScorePage;
    score_summary(width: f64) -> Vec<SummaryRow>;
    score_generation() -> u64;
    contact_ids() -> Vec<String>;
    stale_scores(before: Millis, limit: u32) -> Vec<String>;
    add_adjustment(adjustment: &NewAdjustment) -> StoredAdjustment;
    adjustments(contact_id: &str) -> Vec<StoredAdjustment>;
    add_model(name: &str, text: &str, now: Millis) -> i64;
    models() -> Vec<ModelRecord>;
    model(version: i64) -> Option<ModelRecord>;
    active_model() -> Option<ModelRecord>;
    activate_model(version: i64, now: Millis) -> bool;
    erase_contact(id: &str) -> bool;
    create_key(key: &KeyRecord) -> ();
    key_by_hash(hash: &str) -> Option<KeyRecord>;
    keys() -> Vec<KeyRecord>;
    revoke_key(id: &str, now: Millis) -> bool;
}
