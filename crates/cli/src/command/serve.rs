//! `leadscore serve`: the long-running service (ingestion, REST API, operations).
//!
//! Thin on purpose: parse the configuration (flags, or the environment), load and
//! check the model, open and migrate the store, bind, and hand everything to
//! `leadscore_server::run` until Ctrl-C or SIGTERM. An invalid model stops here with
//! the same located diagnostics as `leadscore model check` (exit 1).

use std::path::PathBuf;

use anyhow::{Context, Result};
use leadscore_engine::Engine;
use leadscore_server::{AppState, Config};
use leadscore_store::{AnyStore, Store as _};

use crate::Outcome;

/// `leadscore serve` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database URL: `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "LEADSCORE_DB", default_value = "sqlite://leadscore.db")]
    db: String,
    /// The scoring model (TOML).
    #[arg(long, env = "LEADSCORE_MODEL")]
    model: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "LEADSCORE_LISTEN", default_value = "127.0.0.1:8088")]
    listen: String,
}

/// Run the service until Ctrl-C or SIGTERM.
pub fn run(args: Args) -> Result<Outcome> {
    let Some(model) = super::model::load(&args.model)? else {
        return Ok(Outcome::Invalid);
    };
    init_logging();
    let engine = Engine::new(model);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, engine))
}

async fn serve(args: Args, engine: Engine) -> Result<Outcome> {
    let db = redact(&args.db);
    let store = AnyStore::open(&args.db)
        .await
        .with_context(|| format!("cannot open the database `{db}`"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database `{db}`"))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.listen))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(
        %address,
        db = %db,
        model = %args.model.display(),
        "leadscore listening on http://{address}"
    );
    let state = AppState::new(store.clone(), engine, Config::default());
    leadscore_server::run(listener, state, shutdown_signal())
        .await
        .context("the server failed")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(Outcome::Success)
}

/// Structured logs on stderr; `RUST_LOG` overrides the default (`info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (what service managers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A database URL without its password, for logs and messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://leadscore.db"), "sqlite://leadscore.db");
    }
}
