//! `leadscore serve`: the long-running service (ingestion, REST API, operations).
//!
//! Thin on purpose: parse the configuration (flags, or the environment), load and
//! check the model, open and migrate the store, bind, and hand everything to
//! `leadscore_server::run` until Ctrl-C or SIGTERM. An invalid model stops here with
//! the same located diagnostics as `leadscore model check` (exit 1).
//!
//! The model: with `--model FILE`, a file whose text differs from the store's active
//! model is stored as a new version and activated (every contact is then rescored in
//! the background); without it, the store's active model is used (none: exit 1).

use std::path::PathBuf;

use anyhow::{Context, Result};
use leadscore_engine::Engine;
use leadscore_model::CompiledModel;
use leadscore_server::{AppState, Config};
use leadscore_store::{AnyStore, Store as _};

use crate::Outcome;

/// `leadscore serve` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database URL: `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "LEADSCORE_DB", default_value = "sqlite://leadscore.db")]
    db: String,
    /// The scoring model (TOML); when it differs from the store's active model it is
    /// stored as a new version and activated. Default: the store's active model.
    #[arg(long, env = "LEADSCORE_MODEL")]
    model: Option<PathBuf>,
    /// Seconds between background rescorings of scores older than this (decay, time
    /// windows); 0 disables the tick.
    #[arg(long, env = "LEADSCORE_TICK", default_value_t = 60)]
    tick: u64,
    /// Secret that signs webhooks (`Leadscore-Signature`); without it they go unsigned.
    #[arg(long, env = "LEADSCORE_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// SendGrid's signed event webhook verification key (base64 public key); when set,
    /// `POST /v1/sources/sendgrid` requires a valid signature.
    #[arg(long, env = "LEADSCORE_SENDGRID_VERIFICATION_KEY")]
    sendgrid_verification_key: Option<String>,
    /// A webhook host that may be in a loopback, private or link-local range
    /// (repeatable; the variable is comma-separated).
    #[arg(
        long = "allow-webhook-host",
        value_name = "HOST",
        env = "LEADSCORE_ALLOW_WEBHOOK_HOSTS",
        value_delimiter = ','
    )]
    allow_webhook_hosts: Vec<String>,
    /// Attempts per webhook or e-mail before it is dead-lettered.
    #[arg(long, env = "LEADSCORE_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    webhook_max_attempts: u32,
    /// Seconds before the first retry; doubled after each failure, at most an hour.
    #[arg(long, env = "LEADSCORE_WEBHOOK_RETRY_BASE", default_value_t = 30)]
    webhook_retry_base: u64,
    /// SMTP server for `notify` actions: `smtp://[USER:PASS@]HOST[:PORT]`, `smtps://...`
    /// or `smtp://...?tls=required` (STARTTLS).
    #[arg(long, env = "LEADSCORE_SMTP", hide_env_values = true)]
    smtp: Option<String>,
    /// `From:` address of notification e-mails.
    #[arg(
        long,
        env = "LEADSCORE_NOTIFY_FROM",
        default_value = "leadscore@localhost"
    )]
    notify_from: String,
    /// Do not send webhooks and e-mails from this process (another server sharing the
    /// database does; they wait in the outbox).
    #[arg(long, env = "LEADSCORE_NO_DELIVERIES")]
    no_deliveries: bool,
    /// Address to listen on.
    #[arg(long, env = "LEADSCORE_LISTEN", default_value = "127.0.0.1:8088")]
    listen: String,
    /// A TOML file of settings: keys are these flags' long names (`db`, `listen`,
    /// ...); a flag or its environment variable overrides the file.
    #[arg(long, env = "LEADSCORE_CONFIG")]
    config: Option<PathBuf>,
}

/// Run the service until Ctrl-C or SIGTERM.
pub fn run(args: Args) -> Result<Outcome> {
    let file = match &args.model {
        Some(path) => {
            let Some(model) = super::model::load(path)? else {
                return Ok(Outcome::Invalid);
            };
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the model", path.display()))?;
            Some((model, text))
        }
        None => None,
    };
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, file))
}

/// The model to serve: the file's (stored and activated when it differs from the
/// active one; `true` when so) or the store's active one.
async fn choose_model(
    store: &AnyStore,
    file: Option<(CompiledModel, String)>,
) -> Result<Option<(Engine, i64, bool)>> {
    let active = store
        .active_model()
        .await
        .context("cannot read the active model")?;
    match (file, active) {
        (Some((model, text)), Some(active)) if active.text == text => {
            Ok(Some((Engine::new(model), active.version, false)))
        }
        (Some((model, text)), _) => {
            let version = store
                .add_model(&model.name, &text, now())
                .await
                .context("cannot store the model")?;
            store
                .activate_model(version, now())
                .await
                .context("cannot activate the model")?;
            Ok(Some((Engine::new(model), version, true)))
        }
        (None, Some(active)) => {
            let engine = leadscore_server::models::engine_of(&active).map_err(|e| {
                anyhow::anyhow!("the active model (version {}): {e}", active.version)
            })?;
            Ok(Some((engine, active.version, false)))
        }
        (None, None) => Ok(None),
    }
}

async fn serve(args: Args, file: Option<(CompiledModel, String)>) -> Result<Outcome> {
    let db = redact(&args.db);
    let store = AnyStore::open(&args.db)
        .await
        .with_context(|| format!("cannot open the database `{db}`"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database `{db}`"))?;
    // Appending nothing reads the log's message ids into the SQLite store's set of
    // stored ids (about 1.5 s per million messages): here, before the listener, rather
    // than in the first request's group commit.
    let started = std::time::Instant::now();
    store
        .append(&[])
        .await
        .with_context(|| format!("cannot read the log of `{db}`"))?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "log read"
    );
    let Some((engine, version, changed)) = choose_model(&store, file).await? else {
        eprintln!(
            "leadscore serve: no model: pass --model FILE (the store has no active model yet)"
        );
        return Ok(Outcome::Invalid);
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.listen))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(
        %address,
        db = %db,
        model_version = version,
        "leadscore listening on http://{address}"
    );
    let config = Config {
        tick: (args.tick > 0).then(|| std::time::Duration::from_secs(args.tick)),
        delivery: leadscore_server::deliver::DeliveryConfig {
            worker: !args.no_deliveries,
            secret: args.webhook_secret.clone().filter(|s| !s.is_empty()),
            allow_hosts: args.allow_webhook_hosts.clone(),
            max_attempts: args.webhook_max_attempts,
            retry_base: std::time::Duration::from_secs(args.webhook_retry_base.max(1)),
            smtp: args.smtp.clone().filter(|s| !s.is_empty()),
            notify_from: args.notify_from.clone(),
            ..Default::default()
        },
        sendgrid_verification_key: args
            .sendgrid_verification_key
            .clone()
            .filter(|s| !s.trim().is_empty()),
        ..Config::default()
    };
    let state = AppState::new(store.clone(), engine, config);
    let engine = state.engine();
    if changed {
        tracing::info!(
            version,
            "new model version stored and activated; rescoring every contact"
        );
        leadscore_server::models::start_rescoring(&state, engine, version)
            .await
            .context("cannot start rescoring")?;
    } else {
        state.set_engine(engine, Some(version));
    }
    leadscore_server::run(listener, state, shutdown_signal())
        .await
        .context("the server failed")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(Outcome::Success)
}

/// Milliseconds since the epoch.
fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
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
