//! The embedded backend: one SQLite file, zero set-up.
//!
//! Durability: the file is in WAL mode with `synchronous = FULL`, so every commit
//! fsyncs the WAL before it returns. `NORMAL` would survive a crash of the process
//! (the WAL is in the OS's cache) but could lose the last commits on a power cut or
//! kernel crash, and the server answers `200` only once events are durable; callers
//! that want throughput batch many messages into one [`crate::Store::append`] (group commit)
//! instead of weakening the sync.
//!
//! Writes go through a pool of one connection (SQLite has one writer at a time; a
//! queue in the process is cheaper than busy-waiting on the file lock) and begin with
//! `BEGIN IMMEDIATE`, so that another process writing the same file makes us wait
//! (`busy_timeout`) rather than fail half-way. Reads use a separate pool and, thanks
//! to WAL, are never blocked by the writer.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::backend::Target;
use crate::seen::SeenMessages;
use crate::{Result, StoreError};

/// Connections in the read pool.
const READERS: u32 = 4;

/// Page cache of the writer connection: `-N` is N KiB (32 MiB; SQLite's default is 2 MiB).
/// With the default, appends to a log of a few hundred MB re-read index pages from
/// the OS at every insert (`readDbPage` was 7 % of the writer's time under load).
const CACHE_SIZE: &str = "-32768";

/// Page cache of each reader connection (SQLite's default, 2,000 KiB; see `open`).
const READER_CACHE_SIZE: &str = "-2000";

/// WAL pages after which a commit checkpoints them into the database file (SQLite's
/// default is 1,000 pages, 4 MB). Under ingestion every message dirtied a leaf page of
/// the `message_id` index (gone since migration 0011) and one of the `user_id` index, each at a random place, so a
/// group commit of 800 messages writes some 3 MB (measured); with the default the
/// writer checkpointed after about every commit, writing each of those pages to the
/// database file again (and syncing it). With 10,000 pages a checkpoint covers a dozen commits, and the index
/// pages they all touched are copied once: 0.8x the bytes written per message and
/// 1.10x the durable ingestion (five alternated pairs, README, fourth round).
const WAL_AUTOCHECKPOINT: &str = "10000";

/// Bytes the WAL file is cut back to after a checkpoint lets SQLite reuse it (64 MiB):
/// a large transaction (an import of a million contacts) would otherwise leave a WAL
/// file of its size on disk for good.
const JOURNAL_SIZE_LIMIT: &str = "67108864";

/// How long a write waits for another process holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`crate::Store`] in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: SQLite writes one transaction at a time.
    writer: SqlitePool,
    /// Readers run beside the writer (WAL).
    reader: SqlitePool,
    /// The log's `messageId`s, for deduplication (see `seen.rs`): shared by clones.
    seen: Arc<Mutex<SeenMessages>>,
}

impl SqliteStore {
    /// Open (creating it if missing) the database at `url_or_path`: `sqlite://PATH`,
    /// `sqlite:PATH` or a bare path; `sqlite::memory:` is a private in-memory
    /// database (not durable, for tests). Does not migrate: call [`crate::Store::migrate`].
    pub async fn open(url_or_path: &str) -> Result<Self> {
        let path = match url_or_path.parse::<Target>()? {
            Target::Sqlite(path) => path,
            Target::Postgres(_) => return Err(StoreError::BadUrl(url_or_path.to_owned())),
        };
        if path == ":memory:" {
            return Self::in_memory().await;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .pragma("cache_size", CACHE_SIZE)
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT)
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT)
            // Statement journals (multi-row upserts inside a transaction) in memory, not
            // in temporary files: they were 6 % of the writer's time under load.
            .pragma("temp_store", "memory")
            .busy_timeout(BUSY_TIMEOUT);
        // Connect the writer first: it creates the file and switches it to WAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        // Readers keep SQLite's default-sized cache: in WAL mode a reader drops its whole
        // page cache at its first read after another connection's commit, walking every
        // page of it (`pcache1TruncateUnsafe`), so under ingestion a large reader cache
        // is all cost. With 32 MiB each, batch ingestion took 1.20x longer (same run).
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("cache_size", READER_CACHE_SIZE))
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            seen: Arc::default(),
        })
    }

    /// A private in-memory database (`sqlite::memory:`), gone when the store is
    /// dropped: for tests. One connection serves reads and writes, and is never
    /// recycled (that would lose the data).
    async fn in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
            seen: Arc::default(),
        })
    }

    /// Close both pools, waiting for their connections to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// The `messageId`s of the log, when this backend deduplicates in memory: SQLite
    /// does (see `seen.rs`).
    fn seen(&self) -> Option<&Mutex<SeenMessages>> {
        Some(&self.seen)
    }

    /// SQLite transactions do not deadlock here (one writer, `BEGIN IMMEDIATE`).
    fn retryable(_: &sqlx::Error) -> bool {
        false
    }
}

impl SqliteStore {
    /// Whether a write transaction excludes every other writer: SQLite: yes
    /// (`BEGIN IMMEDIATE`), so a batch save may read, then write.
    pub(crate) const SINGLE_WRITER: bool = true;
    /// A join its planner keeps in the order written: SQLite: `CROSS JOIN`. Without
    /// statistics it would start a contact's anonymous messages from the index of
    /// `user_id IS NULL`, a scan of every anonymous message of the log.
    pub(crate) const JOIN_IN_ORDER: &str = "CROSS JOIN";
    /// Whether multi-row inserts use anonymous parameters: SQLite: `?` (see `backend::row_params`).
    pub(crate) const ANONYMOUS_PARAMS: bool = true;
    /// Whether a delta read counts the history at or before its position: SQLite: no,
    /// positions are committed in order (see [`crate::ContactDelta::before`]).
    pub(crate) const COUNTS_BEFORE: bool = false;
}

crate::backend::impl_store!(SqliteStore, sqlx::Sqlite, "./migrations/sqlite");
crate::automation::impl_automation!(SqliteStore, sqlx::Sqlite);
crate::accounts::impl_accounts!(SqliteStore, sqlx::Sqlite);
crate::outcomes::impl_outcomes!(SqliteStore, sqlx::Sqlite);
