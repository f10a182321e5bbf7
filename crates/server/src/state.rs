//! [`AppState`]: what every handler shares, cheap to clone (a few `Arc`s).

use std::sync::Arc;

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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: 512 * 1024,
            max_batch: 500,
            max_page: 500,
        }
    }
}

/// The state every handler gets through axum's `State`.
#[derive(Clone)]
pub struct AppState {
    /// Where events, contacts, scores and keys live; the only source of truth, so
    /// several servers can share one PostgreSQL.
    pub store: Arc<AnyStore>,
    /// The active model, compiled; scoring is pure and needs no lock.
    pub engine: Arc<Engine>,
    /// Limits.
    pub config: Arc<Config>,
    /// Counters for `/metrics` (per process).
    pub metrics: Arc<Metrics>,
    /// Rescoring a contact reads its history and saves a score; two requests doing so
    /// at once could save the older reading last. A stripe of locks (by contact id)
    /// orders them within this process.
    pub(crate) rescore_locks: Arc<[tokio::sync::Mutex<()>]>,
}

/// Number of rescoring lock stripes: enough that unrelated contacts rarely wait.
const LOCK_STRIPES: usize = 64;

impl AppState {
    /// A state over `store` scoring with `engine`.
    pub fn new(store: AnyStore, engine: Engine, config: Config) -> Self {
        Self {
            store: Arc::new(store),
            engine: Arc::new(engine),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            rescore_locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// The rescoring lock of contact `id`.
    pub(crate) fn rescore_lock(&self, id: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % LOCK_STRIPES as u64).unwrap_or(0);
        &self.rescore_locks[index]
    }
}
