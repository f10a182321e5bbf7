//! `GET /api/v1/reports/distribution`: how the stored current scores are spread, for the
//! dashboard's Reports page.
//!
//! One aggregate over the current scores ([`leadscore_store::Store::score_summary`]:
//! counts, sums and extremes per bucket of `?bucket=` points (default 10), label,
//! grade and stage, read from a covering index), folded into a histogram whose buckets
//! are split by label, and the counts per label, grade and stage in the active model's
//! order: the stage counts, in the model's lifecycle order, are the funnel (how many
//! contacts are at each stage). Outcome-based conversion is another report.
//!
//! The aggregate is cached per bucket width and used again while the store's score
//! generation is unchanged (no score written or erased by this process since) and
//! for at most 30 s (other servers on one PostgreSQL), so the Reports page costs one
//! aggregate per change of the scores, not one per view.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_store::{Store as _, SummaryRow};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::params::query;
use crate::state::AppState;

/// Bucket widths whose summaries are kept at once (any width may be asked for).
const CACHED_WIDTHS: usize = 8;

/// How long a cached summary is used at most, even when this process wrote no score:
/// another server sharing the PostgreSQL database may have.
const MAX_AGE: Duration = Duration::from_secs(30);

/// The score summaries recently computed, per bucket width, each with the store's
/// [`Store::score_generation`] read before it was computed.
#[derive(Default)]
pub(crate) struct SummaryCache {
    entries: Mutex<HashMap<u64, Cached>>,
}

struct Cached {
    generation: u64,
    at: Instant,
    rows: Arc<Vec<SummaryRow>>,
}

impl SummaryCache {
    /// The summary of the current scores in buckets of `width`: the cached one while
    /// no score was written since it was computed (and it is younger than
    /// [`MAX_AGE`]), else a fresh aggregate.
    async fn summary(&self, state: &AppState, width: f64) -> Result<Arc<Vec<SummaryRow>>> {
        // Read before the aggregate: a write racing with it moves the generation
        // past the one stored, so the next request computes again.
        let generation = state.store.score_generation().await?;
        let key = width.to_bits();
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = entries.get(&key)
                && hit.generation == generation
                && hit.at.elapsed() < MAX_AGE
            {
                return Ok(Arc::clone(&hit.rows));
            }
        }
        let rows = Arc::new(state.store.score_summary(width).await?);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHED_WIDTHS && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(
            key,
            Cached {
                generation,
                at: Instant::now(),
                rows: Arc::clone(&rows),
            },
        );
        Ok(rows)
    }
}

/// The report routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/reports/distribution", get(distribution))
}

#[derive(Deserialize)]
struct Params {
    bucket: Option<String>,
}

/// One histogram bucket: `from <= score < to`.
#[derive(Serialize)]
struct Bucket {
    from: f64,
    to: f64,
    count: u64,
    /// Per label (`"none"` for scores below every label).
    labels: BTreeMap<String, u64>,
}

/// A name and how many contacts have it.
#[derive(Serialize)]
struct Count {
    name: String,
    count: u64,
}

#[derive(Serialize)]
struct Distribution {
    total: u64,
    bucket: f64,
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    buckets: Vec<Bucket>,
    labels: Vec<Count>,
    grades: Vec<Count>,
    /// In the model's lifecycle order: the funnel.
    stages: Vec<Count>,
}

/// `GET /api/v1/reports/distribution[?bucket=10]` (read).
async fn distribution(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: std::result::Result<Query<Params>, QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let params = query(params)?;
    let width = match params.bucket.as_deref() {
        None => 10.0,
        Some(text) => match text.parse::<f64>() {
            Ok(w) if w.is_finite() && (1.0..=1000.0).contains(&w) => w,
            _ => {
                return Err(Error::bad_request(
                    format!("`bucket` must be a number of points from 1 to 1000, found `{text}`"),
                    Some("bucket"),
                ));
            }
        },
    };
    state.committer.settled().await;
    let rows = state.reports.summary(&state, width).await?;
    let mut counts: BTreeMap<i64, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut labels: BTreeMap<String, u64> = BTreeMap::new();
    let mut grades: BTreeMap<String, u64> = BTreeMap::new();
    let mut stages: BTreeMap<String, u64> = BTreeMap::new();
    let (mut total, mut sum) = (0u64, 0.0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for row in rows.iter() {
        let n = u64::try_from(row.count).unwrap_or(0);
        total += n;
        sum += row.sum;
        min = min.min(row.min);
        max = max.max(row.max);
        let label = row.label.clone().unwrap_or_else(|| "none".to_owned());
        let entry = counts.entry(row.bucket).or_default();
        entry.0 += n;
        *entry.1.entry(label.clone()).or_default() += n;
        *labels.entry(label).or_default() += n;
        if let Some(grade) = &row.grade {
            *grades.entry(grade.clone()).or_default() += n;
        }
        if let Some(stage) = &row.stage {
            *stages.entry(stage.clone()).or_default() += n;
        }
    }
    // Every bucket between the lowest and the highest, empty ones too (a histogram).
    let mut buckets = Vec::new();
    if let (Some(&first), Some(&last)) = (counts.keys().next(), counts.keys().next_back()) {
        for key in first..=last {
            let (count, by_label) = counts.remove(&key).unwrap_or_default();
            buckets.push(Bucket {
                from: key as f64 * width,
                to: (key + 1) as f64 * width,
                count,
                labels: by_label,
            });
        }
    }
    let engine = state.engine();
    let model = engine.model();
    let ordered = |names: Vec<String>, mut counts: BTreeMap<String, u64>| {
        let mut out: Vec<Count> = names
            .into_iter()
            .map(|name| Count {
                count: counts.remove(&name).unwrap_or(0),
                name,
            })
            .collect();
        out.extend(
            counts
                .into_iter()
                .map(|(name, count)| Count { name, count }),
        );
        out
    };
    let label_names = model.labels.iter().map(|t| t.name.clone()).collect();
    let grade_names = model.grades.iter().map(|t| t.name.clone()).collect();
    let stage_names = model.stages.iter().map(|s| s.id.clone()).collect();
    let body = Distribution {
        total,
        bucket: width,
        min: (total > 0).then_some(min),
        max: (total > 0).then_some(max),
        mean: (total > 0).then(|| sum / total as f64),
        buckets,
        labels: ordered(label_names, labels),
        grades: ordered(grade_names, grades),
        stages: ordered(stage_names, stages),
    };
    Ok(axum::Json(body).into_response())
}
