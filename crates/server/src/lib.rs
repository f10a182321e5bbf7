//! The leadscore service: Segment-compatible ingestion and the REST API, over a
//! [`leadscore_store::Store`].
//!
//! Layout (each module opens with what it is for):
//!
//! * [`state`]: [`AppState`], the cheap-to-clone handle every handler gets (store,
//!   engine, configuration, metrics).
//! * `ingest`: `POST /v1/identify|track|page|batch`, HTTP Basic with a write key.
//! * `commit`: the group committer between ingestion and the store, and the
//!   rescoring after each commit.
//! * `contacts`: `/api/v1/contacts...`, `Authorization: Bearer` with a read or admin key.
//! * `adjustments`: `/api/v1/contacts/{id}/adjustments`, manual points with a reason.
//! * `outcomes`: `/api/v1/contacts/{id}/outcomes`, what sales closed (`won`, `lost`,
//!   `converted`); `analytics`: the outcome report and a model's backtest over them.
//! * `accounts`: `/api/v1/accounts...`, account scores computed on read from the stored
//!   contact scores.
//! * [`models`]: `/api/v1/models...`: upload, list, diff, activate (with background
//!   rescoring).
//! * `transfer`: CSV imports of contacts and events, exports of scores, contacts and
//!   the log, and the privacy export of one contact.
//! * [`tick`]: the background tick that keeps stored scores current as time passes.
//! * `automation`: after each rescoring, stage history, trigger edges (outbox, tags,
//!   `set_stage`, `assign`) and routing; `automation_api`: the outbox, owners' queues
//!   and a contact's automation record over HTTP; [`deliver`]: the worker that sends
//!   webhooks and e-mails from the outbox (`docs/automation.md`).
//! * `ops`: `/healthz`, `/metrics`, `/api/v1/openapi.json`.
//! * `timeline`: `/api/v1/contacts/{id}/timeline`, each event with the points it counts
//!   now; `reports`: `/api/v1/reports/distribution`, the score histogram and funnel.
//! * `dashboard`: the web dashboard at `/` (embedded HTML, CSS and JavaScript over the
//!   REST API; `docs/dashboard.md`).
//! * `scoring`: how a contact's score is computed from its stored history; `history`:
//!   the rescoring's cache of parsed histories, read as deltas.
//! * `auth`: keys, roles and how a request proves it holds one; `params`: the query
//!   string and page size of the list routes.
//! * [`error`]: the one [`Error`] type; every failure answers
//!   `{"error":{"code","message","field"}}`.
//! * [`metrics`]: counters for `/metrics`, kept in memory.
//! * [`keys`]: making and hashing key secrets (shared with `leadscore keys`).
//!
//! [`run`] serves an already-bound listener until a shutdown future resolves, then
//! finishes the requests in flight; [`app`] is the router alone, for tests.
//!
//! The HTTP decisions (roles, batch rejections, limits) are written down in
//! `docs/http.md`.

#![deny(missing_docs)]

mod accounts;
mod adjustments;
mod analytics;
mod auth;
mod automation;
mod automation_api;
mod claims;
mod commit;
mod contacts;
mod dashboard;
pub mod deliver;
pub mod error;
mod history;
mod ingest;
pub mod keys;
pub mod metrics;
pub mod models;
mod ops;
mod outcomes;
mod params;
mod reports;
mod scoring;
mod sendgrid;
pub mod state;
pub mod tick;
mod timeline;
mod transfer;

use std::future::Future;

pub use auth::KEYS_FRESH;

use axum::Router;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::Error;
pub use state::{AppState, Config};

/// The whole service as one router: ingestion, REST API, operations.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(ingest::router(&state))
        .merge(sendgrid::router(&state))
        .merge(contacts::router())
        .merge(accounts::router())
        .merge(adjustments::router())
        .merge(outcomes::router())
        .merge(analytics::router())
        .merge(models::router())
        .merge(automation_api::router())
        .merge(transfer::router(&state))
        .merge(ops::router())
        .merge(timeline::router())
        .merge(reports::router())
        .merge(dashboard::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Any route we do not serve: a JSON 404 like every other error.
async fn not_found() -> Error {
    Error::NotFound("no such route".into())
}

/// Serve `listener` until `shutdown` resolves, then stop accepting connections and
/// finish the requests in flight (an acknowledged event is always already stored:
/// ingestion answers only after the store committed).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let committer = state.committer.clone();
    // Background work stops with the server: the tick when its guard drops, an
    // activation's rescoring explicitly (the tick catches up what it left).
    let tick = state
        .config
        .tick
        .map(|period| tick::spawn(state.clone(), period));
    // The delivery worker (when enabled) sends what trigger edges put in the outbox.
    let deliver = if state.config.delivery.worker {
        Some(deliver::spawn(state.clone()).map_err(std::io::Error::other)?)
    } else {
        None
    };
    let rescoring = state.rescoring.clone();
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    // Every request in flight has been answered; commit anything still queued and
    // finish rescoring before returning.
    drop(tick);
    rescoring.stop();
    committer.shutdown().await;
    // Last: deliveries enqueued by the final rescorings are sent now or, when this
    // stops first, by the next server to run (they are in the store).
    drop(deliver);
    served
}
