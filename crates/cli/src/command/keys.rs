//! `leadscore keys create|list|revoke`: access keys, stored hashed.
//!
//! `create` prints the secret once, alone on the last line of stdout, so scripts can
//! take it with `tail -n 1`; the store keeps only its SHA-256. Roles: `write`
//! (ingestion only), `read` (read the API), `admin` (everything).

use anyhow::{Context, Result, bail};
use leadscore_server::keys::{Role, hash_secret, new_id, new_secret};
use leadscore_store::{AnyStore, KeyRecord, Store as _};

use crate::Outcome;

/// The database option every `keys` command takes.
#[derive(Debug, clap::Args)]
pub struct Db {
    /// Database URL (as for `leadscore serve`).
    #[arg(long, env = "LEADSCORE_DB", default_value = "sqlite://leadscore.db")]
    db: String,
}

/// `leadscore keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key and print its secret (once, on the last line).
    Create {
        #[command(flatten)]
        db: Db,
        /// What the key may do: `write` (ingestion only), `read`, or `admin`.
        #[arg(long, value_parser = ["write", "read", "admin"])]
        role: String,
        /// A name to recognise it by (who or what uses it).
        #[arg(long)]
        name: Option<String>,
    },
    /// List every key (secrets are never shown).
    List {
        #[command(flatten)]
        db: Db,
    },
    /// Revoke a key by id: it stops working at once.
    Revoke {
        /// The key id (from `keys list`).
        id: String,
        #[command(flatten)]
        db: Db,
    },
}

/// Run a `keys` subcommand.
pub fn run(command: Command) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match command {
            Command::Create { db, role, name } => create(&db, &role, name).await,
            Command::List { db } => list(&db).await,
            Command::Revoke { id, db } => revoke(&db, &id).await,
        }
    })
}

async fn open(db: &Db) -> Result<AnyStore> {
    let url = super::serve::redact(&db.db);
    let store = AnyStore::open(&db.db)
        .await
        .with_context(|| format!("cannot open the database `{url}`"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database `{url}`"))?;
    Ok(store)
}

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

async fn create(db: &Db, role: &str, name: Option<String>) -> Result<Outcome> {
    let Some(role) = Role::parse(role) else {
        bail!("unknown role `{role}`: use write, read or admin");
    };
    let store = open(db).await?;
    let secret = new_secret();
    let record = KeyRecord {
        id: new_id(),
        name,
        role: role.as_str().to_owned(),
        hash: hash_secret(&secret),
        created_at: now(),
        revoked_at: None,
    };
    store
        .create_key(&record)
        .await
        .context("cannot store the key")?;
    store.close().await;
    println!(
        "created {} key `{}`; its secret is shown only now:",
        role.as_str(),
        record.id
    );
    println!("{secret}");
    Ok(Outcome::Success)
}

async fn list(db: &Db) -> Result<Outcome> {
    let store = open(db).await?;
    let keys = store.keys().await.context("cannot read the keys")?;
    store.close().await;
    let rows: Vec<[String; 5]> = keys
        .iter()
        .map(|k| {
            [
                k.id.clone(),
                k.name.clone().unwrap_or_else(|| "-".into()),
                k.role.clone(),
                leadscore_formats::format_timestamp(k.created_at),
                k.revoked_at
                    .map_or_else(|| "-".into(), leadscore_formats::format_timestamp),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "ROLE", "CREATED", "REVOKED"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        println!("{line}");
    }
    Ok(Outcome::Success)
}

async fn revoke(db: &Db, id: &str) -> Result<Outcome> {
    let store = open(db).await?;
    let revoked = store
        .revoke_key(id, now())
        .await
        .context("cannot revoke the key")?;
    store.close().await;
    if revoked {
        println!("revoked key `{id}`");
        Ok(Outcome::Success)
    } else {
        eprintln!("leadscore: no active key `{id}` (see `leadscore keys list`)");
        Ok(Outcome::Invalid)
    }
}
