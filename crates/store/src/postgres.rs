//! The shared backend: PostgreSQL, for several servers over one database.
//!
//! Every write is one transaction whose outcome rests on constraints (unique message
//! ids, conditional upserts), so servers appending concurrently never store a message
//! twice. A transaction that loses a deadlock or serialization race (SQLSTATE
//! `40P01`, `40001`) or a computed-key race (`23505`) is retried a few times. A
//! commit is durable when it returns
//! (PostgreSQL's default `synchronous_commit = on`).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::backend::Target;
use crate::{Result, StoreError};

/// Connections in the pool by default.
const CONNECTIONS: u32 = 16;

/// A [`crate::Store`] in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connect to `url` (`postgres://USER@HOST/DB` or `postgresql://...`). Does not
    /// migrate: call [`crate::Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        match url.parse::<Target>()? {
            Target::Postgres(url) => {
                let options = PgConnectOptions::from_str(&url)
                    .map_err(|e| StoreError::BadUrl(format!("{url}: {e}")))?;
                Self::connect_with(options, CONNECTIONS).await
            }
            Target::Sqlite(_) => Err(StoreError::BadUrl(url.to_owned())),
        }
    }

    /// Connect with explicit options (e.g. a `search_path`) and pool size.
    pub async fn connect_with(options: PgConnectOptions, connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            .connect_with(options)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Close the pool, waiting for its connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// The `messageId`s of the log, when this backend deduplicates in memory:
    /// PostgreSQL does not (its unique index serves every server on the database).
    fn seen(&self) -> Option<&std::sync::Mutex<crate::seen::SeenMessages>> {
        None
    }

    /// Deadlocks and serialization failures: the transaction was rolled back whole
    /// and can run again. So can a unique violation (`23505`): the retried
    /// transactions insert with `ON CONFLICT` except where a race can collide on a key
    /// they compute (two servers adding model version N+1, or activating two versions
    /// at once); run again, they see the winner's row.
    fn retryable(e: &sqlx::Error) -> bool {
        match e {
            sqlx::Error::Database(db) => {
                matches!(db.code().as_deref(), Some("40P01" | "40001" | "23505"))
            }
            _ => false,
        }
    }
}

impl PostgresStore {
    /// Whether a write transaction excludes every other writer: PostgreSQL: no (several
    /// servers write at once), so every write is a conditional statement.
    pub(crate) const SINGLE_WRITER: bool = false;
    /// A join its planner keeps in the order written: PostgreSQL plans from
    /// statistics, a plain `JOIN`.
    pub(crate) const JOIN_IN_ORDER: &str = "JOIN";
    /// Whether multi-row inserts use anonymous parameters: PostgreSQL numbers its parameters (`$N`); it has no `?`.
    pub(crate) const ANONYMOUS_PARAMS: bool = false;
    /// Whether a delta read counts the history at or before its position: PostgreSQL:
    /// yes, a transaction holding a lower position can commit after a higher one was
    /// read (see [`crate::ContactDelta::before`]).
    pub(crate) const COUNTS_BEFORE: bool = true;
}

crate::backend::impl_store!(PostgresStore, sqlx::Postgres, "./migrations/postgres");
crate::automation::impl_automation!(PostgresStore, sqlx::Postgres);
crate::accounts::impl_accounts!(PostgresStore, sqlx::Postgres);
crate::outcomes::impl_outcomes!(PostgresStore, sqlx::Postgres);
