//! The background tick: time passes, so decay, `within` windows and absence rules
//! change scores without new events. Every period the tick rescores the contacts whose
//! stored score is older than one period, oldest first, so lists sorted by score stay
//! right. The store adds a history entry only when a score changed in substance
//! ([`leadscore_store::Store::save_score`]).
//!
//! The tick also follows the store's active model: when another server (sharing the
//! PostgreSQL) activated a version, this one switches to it at its next tick.
//!
//! [`spawn`] returns a guard; dropping it stops the tick (the server drops it when it
//! shuts down). A contact half-way when it stops keeps its previous score.

use std::sync::Arc;
use std::time::Duration;

use leadscore_store::Store as _;
use tokio::task::JoinHandle;

use crate::models;
use crate::scoring;
use crate::state::AppState;

/// Contacts read per query while catching up.
const PAGE: u32 = 500;

/// Stops the tick when dropped.
#[derive(Debug)]
pub struct TickGuard(JoinHandle<()>);

impl Drop for TickGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start ticking every `period`.
pub fn spawn(state: AppState, period: Duration) -> TickGuard {
    TickGuard(tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick of an interval is immediate; scores were just computed.
        interval.tick().await;
        loop {
            interval.tick().await;
            follow_active_model(&state).await;
            let rescored = run_once(&state, period).await;
            if rescored > 0 {
                tracing::debug!(rescored, "tick");
            }
        }
    }))
}

/// Rescore every contact whose stored score is older than `period`; returns how many
/// were rescored.
pub async fn run_once(state: &AppState, period: Duration) -> u64 {
    let age = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let cutoff = scoring::now().saturating_sub(age);
    let mut rescored = 0;
    loop {
        let ids = match state.store.stale_scores(cutoff, PAGE).await {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "tick: cannot read stale scores");
                return rescored;
            }
        };
        if ids.is_empty() {
            return rescored;
        }
        let mut progressed = false;
        match scoring::rescore_many(state, &ids).await {
            Ok(n) => {
                rescored += u64::try_from(n).unwrap_or(0);
                progressed = n > 0;
            }
            Err(error) => {
                // One contact can spoil a page: go one by one so the others move on.
                tracing::warn!(%error, "tick: batch rescoring failed; one by one");
                for id in &ids {
                    match scoring::rescore(state, id).await {
                        Ok(Some(_)) => {
                            rescored += 1;
                            progressed = true;
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::error!(contact = %id, %error, "tick: rescoring failed")
                        }
                    }
                }
            }
        }
        // A page where nothing could be rescored would come back unchanged: stop here
        // and try again at the next tick.
        if !progressed || ids.len() < PAGE as usize {
            return rescored;
        }
    }
}

/// Switch to the store's active model when another process activated a different one.
async fn follow_active_model(state: &AppState) {
    let active = match state.store.active_model().await {
        Ok(Some(active)) => active,
        Ok(None) => return,
        Err(error) => {
            tracing::error!(%error, "tick: cannot read the active model");
            return;
        }
    };
    if state.active_version() == Some(active.version) {
        return;
    }
    match models::engine_of(&active) {
        Ok(engine) => {
            tracing::info!(
                version = active.version,
                "the store's active model changed; switching to it"
            );
            state.set_engine(Arc::new(engine), Some(active.version));
        }
        Err(error) => tracing::error!(%error, "tick: cannot load the active model"),
    }
}
