//! `GET /api/v1/reports/distribution`: how the stored current scores are spread, for the
//! dashboard's Reports page.
//!
//! Deliberately simple: one pass over the current scores (a page of 1,000 rows at a
//! time through [`leadscore_store::Store::list_scores`], reading only the indexed
//! columns `score`, `label`, `grade` and `stage`), counted in memory. The answer is
//! a histogram of the score in buckets of `?bucket=` points (default 10), each bucket
//! split by label, and the counts per label, grade and stage in the active model's
//! order: the stage counts, in the model's lifecycle order, are the conversion
//! funnel (how many contacts reached each stage). Outcome-based conversion (what
//! preceded a sale) needs outcomes, which the service does not store; `leadscore
//! report` computes it from an outcomes CSV.
//!
//! The cost grows with the number of contacts (about a second per few hundred
//! thousand on SQLite); a materialised counter is the next step if it matters.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_store::{ScoreQuery, Store as _};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Rows read per store query.
const PAGE: u32 = 1000;

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
    let Query(params) = params
        .map_err(|e| Error::bad_request(format!("bad query string: {}", e.body_text()), None))?;
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
    let mut counts: BTreeMap<i64, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut labels: BTreeMap<String, u64> = BTreeMap::new();
    let mut grades: BTreeMap<String, u64> = BTreeMap::new();
    let mut stages: BTreeMap<String, u64> = BTreeMap::new();
    let (mut total, mut sum) = (0u64, 0.0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut after = None;
    loop {
        let page = state
            .store
            .list_scores(&ScoreQuery {
                limit: PAGE,
                after: after.take(),
                ..ScoreQuery::default()
            })
            .await?;
        for s in &page.items {
            total += 1;
            sum += s.score;
            min = min.min(s.score);
            max = max.max(s.score);
            let label = s.label.clone().unwrap_or_else(|| "none".to_owned());
            let entry = counts.entry((s.score / width).floor() as i64).or_default();
            entry.0 += 1;
            *entry.1.entry(label.clone()).or_default() += 1;
            *labels.entry(label).or_default() += 1;
            if let Some(grade) = &s.grade {
                *grades.entry(grade.clone()).or_default() += 1;
            }
            if let Some(stage) = &s.stage {
                *stages.entry(stage.clone()).or_default() += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
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
