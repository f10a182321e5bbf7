//! `/api/v1/models`: models in operation. Upload (validated like `leadscore model
//! check`), list, show, diff, activate (a rollback is activating an older version),
//! and the background rescoring an activation starts.
//!
//! * Only valid models are stored: an invalid upload is a 422 with the located
//!   diagnostics and leaves no trace, so an invalid model can never be activated.
//! * Activation switches the store's active version in one transaction, swaps the
//!   engine requests score with, then rescores every contact in a background task.
//!   Until a contact's turn comes its old score stays readable; progress is at
//!   `GET /api/v1/models/rescoring` and in `/metrics`. A newer activation supersedes a
//!   rescoring still running.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leadscore_engine::Engine;
use leadscore_model::{Diagnostic, Severity};
use leadscore_store::{ModelRecord, Store as _};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::auth::{self, Access};
use crate::error::{Error, ErrorBody, Result};
use crate::scoring;
use crate::state::AppState;

/// Batches rescored at once by an activation's background task: four, so that while
/// some are scored (each on every core) the others read or wait for the writer (a
/// batch is mostly round trips to the database; measured with two: the server used
/// under half a core).
const WORKERS: usize = 4;

/// Contacts per batch of an activation's rescoring (read together, saved in one
/// transaction; also the step of the visible progress).
const ACTIVATION_BATCH: usize = 500;

/// The model routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/models", get(list).post(upload))
        .route("/api/v1/models/rescoring", get(progress))
        .route("/api/v1/models/{version}", get(show))
        .route("/api/v1/models/{a}/diff/{b}", get(diff))
        .route("/api/v1/models/{version}/activate", post(activate))
}

/// Progress of the rescoring an activation started.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Progress {
    /// The version being (or last) rescored for; `null` before any activation.
    pub version: Option<i64>,
    /// Contacts rescored so far.
    pub done: u64,
    /// Contacts to rescore.
    pub total: u64,
    /// Whether it is over (also when nothing was ever started).
    pub finished: bool,
}

/// The background rescoring of this process: its progress and its task.
#[derive(Debug)]
pub struct Rescoring {
    /// Bumped by each activation; a task whose generation is past stops.
    generation: AtomicU64,
    version: Mutex<Option<i64>>,
    done: AtomicU64,
    total: AtomicU64,
    finished: std::sync::atomic::AtomicBool,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Default for Rescoring {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            version: Mutex::new(None),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            finished: std::sync::atomic::AtomicBool::new(true),
            task: Mutex::new(None),
        }
    }
}

impl Rescoring {
    /// The current progress.
    pub fn progress(&self) -> Progress {
        Progress {
            version: *self.version.lock().unwrap_or_else(|e| e.into_inner()),
            done: self.done.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Acquire),
        }
    }

    /// Stop the task, if one runs (on shutdown; a contact half-way is rolled back and
    /// keeps its old score).
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// The progress as Prometheus gauges.
    pub fn render(&self) -> String {
        let p = self.progress();
        format!(
            "# HELP leadscore_rescoring_done Contacts rescored by the running (or last) activation.\n\
             # TYPE leadscore_rescoring_done gauge\n\
             leadscore_rescoring_done {}\n\
             # HELP leadscore_rescoring_total Contacts the running (or last) activation rescores.\n\
             # TYPE leadscore_rescoring_total gauge\n\
             leadscore_rescoring_total {}\n\
             # HELP leadscore_rescoring_running 1 while an activation's rescoring runs.\n\
             # TYPE leadscore_rescoring_running gauge\n\
             leadscore_rescoring_running {}\n\
             # HELP leadscore_model_active_version The stored version of the active model (0: none).\n\
             # TYPE leadscore_model_active_version gauge\n\
             leadscore_model_active_version {}\n",
            p.done,
            p.total,
            u8::from(!p.finished),
            p.version.unwrap_or(0),
        )
    }
}

/// Compile a stored model (stored ones were valid when stored).
pub fn engine_of(record: &ModelRecord) -> Result<Engine> {
    leadscore_model::load(&format!("v{}.toml", record.version), &record.text)
        .map(|checked| Engine::new(checked.model))
        .map_err(|diagnostics| {
            Error::Internal(format!(
                "stored model version {} no longer loads: {}",
                record.version,
                diagnostics
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ))
        })
}

/// Score with `engine` (stored as `version`) from now on and rescore every contact in
/// the background; returns the progress at the start.
pub async fn start_rescoring(
    state: &AppState,
    engine: Arc<Engine>,
    version: i64,
) -> Result<Progress> {
    // Contacts owned by a member the new model no longer has are released first, so
    // that the rescoring below routes them again.
    crate::automation::release_removed_members(state, &engine).await?;
    let ids = state.store.contact_ids().await?;
    let rescoring = Arc::clone(&state.rescoring);
    rescoring.stop();
    let generation = rescoring.generation.fetch_add(1, Ordering::AcqRel) + 1;
    *rescoring.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(version);
    rescoring.done.store(0, Ordering::Relaxed);
    rescoring.total.store(
        u64::try_from(ids.len()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    rescoring.finished.store(ids.is_empty(), Ordering::Release);
    state.set_engine(engine, Some(version));
    let progress = rescoring.progress();
    if ids.is_empty() {
        return Ok(progress);
    }
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        let ids = Arc::new(ids);
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..WORKERS {
            let (state, ids, next) = (task_state.clone(), Arc::clone(&ids), Arc::clone(&next));
            workers.spawn(async move {
                loop {
                    let rescoring = &state.rescoring;
                    if rescoring.generation.load(Ordering::Acquire) != generation {
                        return;
                    }
                    let start = next.fetch_add(ACTIVATION_BATCH, Ordering::Relaxed);
                    let Some(batch) = ids.get(start..(start + ACTIVATION_BATCH).min(ids.len()))
                    else {
                        return;
                    };
                    if batch.is_empty() {
                        return;
                    }
                    if let Err(error) = scoring::rescore_many(&state, batch).await {
                        tracing::warn!(%error, "batch rescoring after activation failed; one by one");
                        for id in batch {
                            if let Err(error) = scoring::rescore(&state, id).await {
                                tracing::error!(contact = %id, %error, "rescoring after activation failed");
                            }
                        }
                    }
                    rescoring
                        .done
                        .fetch_add(u64::try_from(batch.len()).unwrap_or(0), Ordering::Relaxed);
                }
            });
        }
        while workers.join_next().await.is_some() {}
        let rescoring = &task_state.rescoring;
        if rescoring.generation.load(Ordering::Acquire) == generation {
            rescoring.finished.store(true, Ordering::Release);
            tracing::info!(version, "rescoring after activation finished");
        }
    });
    *rescoring.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    Ok(progress)
}

/// A model version without its text.
#[derive(Serialize)]
struct VersionJson {
    version: i64,
    name: String,
    created_at: String,
    activated_at: Option<String>,
    active: bool,
}

impl From<&ModelRecord> for VersionJson {
    fn from(m: &ModelRecord) -> Self {
        Self {
            version: m.version,
            name: m.name.clone(),
            created_at: leadscore_formats::format_timestamp(m.created_at),
            activated_at: m.activated_at.map(leadscore_formats::format_timestamp),
            active: m.active,
        }
    }
}

/// One located problem of an uploaded model.
#[derive(Serialize)]
struct DiagnosticJson {
    severity: &'static str,
    line: usize,
    column: usize,
    rule: Option<String>,
    message: String,
    help: Option<String>,
}

impl From<&Diagnostic> for DiagnosticJson {
    fn from(d: &Diagnostic) -> Self {
        Self {
            severity: match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            line: d.line,
            column: d.column,
            rule: d.rule.clone(),
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }
}

/// The 422 of an invalid model: the usual error envelope plus the diagnostics.
#[derive(Serialize)]
struct InvalidModel {
    error: ErrorBody,
    diagnostics: Vec<DiagnosticJson>,
}

/// The answer to a stored upload.
#[derive(Serialize)]
struct Uploaded {
    #[serde(flatten)]
    version: VersionJson,
    summary: String,
    warnings: Vec<DiagnosticJson>,
}

/// `POST /api/v1/models` (admin): a TOML body. 201 with the new version, or 422 with
/// every problem located (nothing stored).
async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge {
                message: "model larger than the body limit".into(),
                field: None,
            }
        } else {
            Error::bad_request(format!("cannot read the body: {rejection}"), None)
        }
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::bad_request(format!("a model is UTF-8 TOML text: {e}"), None))?;
    let checked = match leadscore_model::load("model.toml", text) {
        Ok(checked) => checked,
        Err(diagnostics) => {
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let body = InvalidModel {
                error: ErrorBody {
                    code: "invalid_model",
                    message: format!(
                        "the model has {errors} error(s), listed in `diagnostics`; nothing was stored"
                    ),
                    field: None,
                },
                diagnostics: diagnostics.iter().map(Into::into).collect(),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response());
        }
    };
    let name = checked.model.name.clone();
    let version = state.store.add_model(&name, text, scoring::now()).await?;
    let record = state
        .store
        .model(version)
        .await?
        .ok_or_else(|| Error::Internal(format!("model version {version} vanished")))?;
    tracing::info!(version, name = %name, "model stored");
    Ok((
        StatusCode::CREATED,
        axum::Json(Uploaded {
            version: (&record).into(),
            summary: leadscore_model::summary(&checked.model),
            warnings: checked.warnings.iter().map(Into::into).collect(),
        }),
    )
        .into_response())
}

#[derive(Serialize)]
struct Items {
    items: Vec<VersionJson>,
}

/// `GET /api/v1/models`: every stored version, oldest first.
async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let models = state.store.models().await?;
    Ok(axum::Json(Items {
        items: models.iter().map(Into::into).collect(),
    })
    .into_response())
}

pub(crate) fn parse_version(text: &str, field: &str) -> Result<i64> {
    text.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        Error::bad_request(
            format!("a model version is a whole number from 1, found `{text}`"),
            Some(field),
        )
    })
}

pub(crate) async fn record(state: &AppState, version: i64) -> Result<ModelRecord> {
    state
        .store
        .model(version)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no model version {version}")))
}

/// A version with its text and summary.
#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    version: VersionJson,
    summary: String,
    text: String,
}

/// `GET /api/v1/models/{version}`.
async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(version): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let record = record(&state, parse_version(&version, "version")?).await?;
    let engine = engine_of(&record)?;
    Ok(axum::Json(Shown {
        version: (&record).into(),
        summary: leadscore_model::summary(engine.model()),
        text: record.text,
    })
    .into_response())
}

/// A line diff of two versions.
#[derive(Serialize)]
struct Diff {
    from: i64,
    to: i64,
    added: usize,
    removed: usize,
    /// Unified diff text (`---`/`+++` headers, `@@` hunks with 3 lines of context).
    unified: String,
}

/// `GET /api/v1/models/{a}/diff/{b}`: what changes from version `a` to version `b`.
async fn diff(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((a, b)): Path<(String, String)>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let from = record(&state, parse_version(&a, "a")?).await?;
    let to = record(&state, parse_version(&b, "b")?).await?;
    let diff = similar::TextDiff::from_lines(&from.text, &to.text);
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("v{}", from.version), &format!("v{}", to.version))
        .to_string();
    Ok(axum::Json(Diff {
        from: from.version,
        to: to.version,
        added,
        removed,
        unified,
    })
    .into_response())
}

/// The answer to an activation.
#[derive(Serialize)]
struct Activated {
    #[serde(flatten)]
    version: VersionJson,
    rescoring: Progress,
}

/// `POST /api/v1/models/{version}/activate` (admin): 202, rescoring in the background.
async fn activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(version): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Admin).await?;
    let record = record(&state, parse_version(&version, "version")?).await?;
    let engine = engine_of(&record)?;
    if !state
        .store
        .activate_model(record.version, scoring::now())
        .await?
    {
        return Err(Error::NotFound(format!(
            "no model version {}",
            record.version
        )));
    }
    let rescoring = start_rescoring(&state, Arc::new(engine), record.version).await?;
    let record = self::record(&state, record.version).await?;
    tracing::info!(version = record.version, "model activated");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Activated {
            version: (&record).into(),
            rescoring,
        }),
    )
        .into_response())
}

/// `GET /api/v1/models/rescoring`: `{"version","done","total","finished"}`.
async fn progress(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    Ok(axum::Json(state.rescoring.progress()).into_response())
}
