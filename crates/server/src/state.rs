//! [`AppState`]: what every handler shares, cheap to clone (a few `Arc`s).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use leadscore_engine::Engine;
use leadscore_store::AnyStore;

use crate::metrics::Metrics;

/// Limits and settings of a running server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest request body accepted, in bytes (larger: 413). Segment's own API takes
    /// 500 KB per batch, so SDKs already split below this.
    pub max_body_bytes: usize,
    /// Most messages in one `/v1/batch` (more: 413, nothing stored).
    pub max_batch: usize,
    /// Most results in one page of `GET /api/v1/contacts` (`limit` above: 400).
    pub max_page: u32,
    /// Largest body of a CSV or JSONL import (`/api/v1/import/...`), in bytes.
    pub max_import_bytes: usize,
    /// How often the background tick rescores contacts whose stored score is older
    /// than this (decay, `within` windows, absence rules); `None`: no tick.
    pub tick: Option<Duration>,
    /// Webhook and e-mail delivery (`deliver`; `docs/automation.md`).
    pub delivery: crate::deliver::DeliveryConfig,
    /// SendGrid's signed event webhook verification key (base64 DER public key); when
    /// set, `POST /v1/sources/sendgrid` rejects unsigned or badly signed requests.
    pub sendgrid_verification_key: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: 512 * 1024,
            max_batch: 500,
            max_page: 500,
            max_import_bytes: 64 * 1024 * 1024,
            tick: None,
            delivery: crate::deliver::DeliveryConfig::default(),
            sendgrid_verification_key: None,
        }
    }
}

/// The state every handler gets through axum's `State`.
#[derive(Clone)]
pub struct AppState {
    /// Where events, contacts, scores and keys live; the only source of truth, so
    /// several servers can share one PostgreSQL.
    pub store: Arc<AnyStore>,
    /// The active model, compiled, and its stored version (`None`: not from the
    /// store). Swapped whole on activation; a request takes the `Arc` once and scores
    /// with it, lock-free.
    active: Arc<RwLock<ActiveModel>>,
    /// Progress of the background rescoring after an activation (`models`).
    pub(crate) rescoring: Arc<crate::models::Rescoring>,
    /// Limits.
    pub config: Arc<Config>,
    /// Counters for `/metrics` (per process).
    pub metrics: Arc<Metrics>,
    /// The contacts being rescored now (`claims`): two rescorings of one contact
    /// never overlap within this process.
    pub(crate) claims: Arc<crate::claims::ContactClaims>,
    /// Ingestion's group committer and the rescoring behind it (`commit`).
    pub(crate) committer: Arc<crate::commit::Committer>,
    /// Rescoring's cache of parsed histories (`history`).
    pub(crate) history: Arc<crate::history::HistoryCache>,
    /// The delivery worker's wake-up and the automation counters (`deliver`).
    pub(crate) automation: Arc<crate::deliver::Shared>,
    /// The distribution report's cached score summaries (`reports`).
    pub(crate) reports: Arc<crate::reports::SummaryCache>,
    /// The usable keys as last read from the store (`auth`).
    pub(crate) keys: Arc<crate::auth::KeySnapshot>,
}

impl AppState {
    /// A state over `store` scoring with `engine`.
    pub fn new(store: AnyStore, engine: Engine, config: Config) -> Self {
        Self {
            store: Arc::new(store),
            active: Arc::new(RwLock::new(ActiveModel {
                version: None,
                engine: Arc::new(engine),
            })),
            rescoring: Arc::default(),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            claims: Arc::default(),
            committer: Arc::default(),
            history: Arc::default(),
            automation: Arc::default(),
            reports: Arc::default(),
            keys: Arc::default(),
        }
    }

    /// The engine of the active model (requests score with the one they took).
    pub fn engine(&self) -> Arc<Engine> {
        let active = self.active.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&active.engine)
    }

    /// The stored version of the active model; `None` when it did not come from the
    /// store.
    pub fn active_version(&self) -> Option<i64> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .version
    }

    /// Score with `engine` (stored as `version`) from now on (and forget the histories
    /// cached for the previous one).
    pub fn set_engine(&self, engine: Arc<Engine>, version: Option<i64>) {
        let mut active = self.active.write().unwrap_or_else(|e| e.into_inner());
        *active = ActiveModel { version, engine };
        // The cached histories were classified for the old model.
        self.history.clear();
    }
}

/// The model requests score with.
struct ActiveModel {
    version: Option<i64>,
    engine: Arc<Engine>,
}
