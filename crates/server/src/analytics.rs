//! Learning from stored outcomes over HTTP: `GET /api/v1/reports/outcomes` (which
//! scores, labels, grades, stages and rules preceded a sale, and the funnel with the
//! time between stages) and `POST /api/v1/models/{version}/backtest` (a candidate
//! version against the active model: the dashboard's preview before activation).
//!
//! Both compute exactly what `leadscore report` and `leadscore backtest` compute, from
//! the store instead of files, through `leadscore_learn::before`: every known contact
//! is scored one millisecond before its first outcome (`GET
//! /api/v1/contacts/{id}/outcomes`), a contact without an outcome as of `as_of`
//! (default: the latest first outcome) as not converted; anonymous activity counts once
//! linked at or before the latest instant any contact is scored at (as in the CLI).
//! Manual adjustments count from the instant they were made (the CLI has none). The
//! answers have the JSON shape of `leadscore report --format json` and `leadscore
//! backtest --format json`.
//!
//! With an `[account]` table in the active model the report has an `accounts` member,
//! as the CLI's does: every account scored one millisecond before its first member
//! outcome (`leadscore_learn::accounts`), its members scored again at that instant
//! when it is not theirs.
//!
//! Scoring every contact is CPU work: it runs off the async workers, 500 contacts
//! (one bulk read) at a time.

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leadscore_engine::{Engine, Millis, ScoreResult};
use leadscore_formats::parse_timestamp;
use leadscore_learn::accounts::{AccountRows, MemberRow};
use leadscore_learn::before::{
    FirstOutcomes, Instant, Reporter, backtest_json, link_horizon, observation, scoring_instant,
};
use leadscore_learn::evaluate;
use leadscore_store::outcomes::{Outcomes as _, kind};
use leadscore_store::{ContactInputs, Store as _};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::ingest::json_object;
use crate::state::AppState;

/// Contacts read and scored per step.
const CHUNK: usize = 500;

/// The analytics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/outcomes", get(outcome_report))
        .route("/api/v1/models/{version}/backtest", post(backtest))
}

/// What every analysis scores against: the first outcomes and the default instant.
struct Truth {
    outcomes: FirstOutcomes,
    as_of: Millis,
}

/// The stored first outcomes, and `as_of` as given or the latest of them.
async fn truth(state: &AppState, as_of: Option<&str>) -> Result<Truth> {
    let mut outcomes = FirstOutcomes::new();
    for stored in state.store.first_outcomes().await? {
        let o = stored.outcome;
        outcomes.add(o.contact_id, o.at, o.outcome != kind::LOST);
    }
    let as_of = match as_of {
        Some(text) => parse_timestamp(text).ok_or_else(|| {
            Error::bad_request(
                format!("`as_of`: `{text}` is not an RFC 3339 timestamp"),
                Some("as_of"),
            )
        })?,
        // 404: there is no such report yet (the dashboard then shows none).
        None => outcomes.latest().ok_or_else(|| {
            Error::NotFound(
                "no outcomes stored yet: nothing to report against (record them with \
                 POST /api/v1/contacts/{id}/outcomes or `Order Completed`, \
                 `Opportunity Won`, `Opportunity Lost` track events)"
                    .into(),
            )
        })?,
    };
    Ok(Truth { outcomes, as_of })
}

/// Score every known contact with each engine just before its outcome, mapping each
/// result with `map` (per engine, in contact id order).
async fn score_all<T: Send + 'static>(
    state: &AppState,
    engines: &[Arc<Engine>],
    truth: Arc<Truth>,
    map: impl Fn(&Engine, &str, ScoreResult, Vec<Millis>, Instant) -> T + Send + Sync + 'static,
) -> Result<Vec<Vec<T>>> {
    let ids = state.store.contact_ids().await?;
    let map = Arc::new(map);
    let mut all: Vec<Vec<T>> = engines.iter().map(|_| Vec::new()).collect();
    for chunk in ids.chunks(CHUNK) {
        let inputs = state.store.inputs_of(chunk).await?;
        let engines = engines.to_vec();
        let truth = Arc::clone(&truth);
        let map = Arc::clone(&map);
        let scored = tokio::task::spawn_blocking(move || {
            engines
                .iter()
                .map(|engine| {
                    inputs
                        .iter()
                        .filter_map(|input| {
                            let when = scoring_instant(&truth.outcomes, &input.id, truth.as_of);
                            score_one(engine, input, &truth, when).transpose().map(|r| {
                                r.map(|(result, times)| map(engine, &input.id, result, times, when))
                            })
                        })
                        .collect::<Result<Vec<T>>>()
                })
                .collect::<Result<Vec<Vec<T>>>>()
        })
        .await
        .map_err(|e| Error::Internal(format!("scoring task failed: {e}")))??;
        for (into, rows) in all.iter_mut().zip(scored) {
            into.extend(rows);
        }
    }
    Ok(all)
}

/// One contact scored at `when` (just before its outcome, or at its account's instant),
/// with when its stages were entered.
fn score_one(
    engine: &Engine,
    inputs: &ContactInputs,
    truth: &Truth,
    when: Instant,
) -> Result<Option<(ScoreResult, Vec<Millis>)>> {
    let id = inputs.id.as_str();
    if inputs.contact.is_none() && inputs.history.is_empty() {
        return Ok(None);
    }
    let attributes = match &inputs.contact {
        Some(contact) => {
            crate::scoring::attributes_from_json(&contact.attributes).map_err(|e| {
                Error::Internal(format!("contact `{id}`: stored attributes unreadable: {e}"))
            })?
        }
        None => leadscore_engine::Attributes::new(),
    };
    let horizon = link_horizon(&truth.outcomes, truth.as_of);
    let (events, identifies) = crate::scoring::inputs(id, &inputs.history, horizon);
    let adjustments = crate::scoring::adjustments(engine, &inputs.adjustments);
    let (result, times) =
        engine.score_timed(attributes, &events, &identifies, &adjustments, when.now);
    Ok(Some((result, times)))
}

/// Query of the outcome report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// Score contacts without an outcome as of this instant.
    as_of: Option<String>,
}

/// `GET /api/v1/reports/outcomes[?as_of=RFC3339]` (read key): the `leadscore report
/// --format json` of the active model over the stored contacts and outcomes.
async fn outcome_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: std::result::Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let Query(query) = query.map_err(|e| Error::bad_request(e.body_text(), None))?;
    state.committer.settled().await;
    let truth = Arc::new(truth(&state, query.as_of.as_deref()).await?);
    let engine = state.engine();
    let reporter = Arc::new(Reporter::new(engine.model()));
    let rows = Arc::clone(&reporter);
    let mut seen = score_all(
        &state,
        &[Arc::clone(&engine)],
        Arc::clone(&truth),
        move |engine, id, result, times, when| {
            let member = MemberRow::new(engine.model(), id, &result);
            (rows.scored(&result, times, when), member)
        },
    )
    .await?;
    let (scored, members) = AccountRows::split(engine.model(), seen.pop().unwrap_or_default());
    let mut report = reporter.report(&scored);
    if let Some(mut members) = members {
        members.settle(&truth.outcomes, truth.as_of);
        rescore_members(&state, &engine, &truth, &mut members).await?;
        report.accounts = members.report(engine.model());
    }
    Ok(axum::Json(report).into_response())
}

/// The account report's second pass (`leadscore_learn::accounts`): every member whose
/// account is scored at another instant than the member was, scored again at it.
async fn rescore_members(
    state: &AppState,
    engine: &Arc<Engine>,
    truth: &Arc<Truth>,
    members: &mut AccountRows,
) -> Result<()> {
    let pending: Vec<(String, Instant)> = members
        .pending()
        .map(|(id, when)| (id.to_owned(), when))
        .collect();
    for chunk in pending.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let inputs = state.store.inputs_of(&ids).await?;
        let instants: std::collections::HashMap<String, Instant> = chunk.iter().cloned().collect();
        let (scorer, truth) = (Arc::clone(engine), Arc::clone(truth));
        let scored = tokio::task::spawn_blocking(move || {
            inputs
                .iter()
                .filter_map(|input| {
                    let &when = instants.get(&input.id)?;
                    score_one(&scorer, input, &truth, when)
                        .transpose()
                        .map(|r| r.map(|(result, _)| (input.id.clone(), result)))
                })
                .collect::<Result<Vec<(String, ScoreResult)>>>()
        })
        .await
        .map_err(|e| Error::Internal(format!("scoring task failed: {e}")))??;
        for (id, result) in scored {
            members.replace(engine.model(), &id, &result);
        }
    }
    Ok(())
}

/// `POST /api/v1/models/{version}/backtest` (read key), with an optional JSON body
/// `{"threshold":N,"as_of":"RFC3339"}`: the `leadscore backtest --format json` of
/// that version (first) against the active model (second).
async fn backtest(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(version): Path<String>,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    let version = crate::models::parse_version(&version, "version")?;
    let (threshold, as_of) = backtest_options(&state, body)?;
    let record = crate::models::record(&state, version).await?;
    let candidate = Arc::new(crate::models::engine_of(&record)?);
    let active = state.engine();
    let active_name = match state.active_version() {
        Some(v) => format!("v{v} {} (active)", active.model().name),
        None => format!("{} (active)", active.model().name),
    };
    state.committer.settled().await;
    let truth = Arc::new(truth(&state, as_of.as_deref()).await?);
    let observed = score_all(
        &state,
        &[candidate, active],
        truth,
        move |engine, _, result, _, when| {
            observation(engine.model(), &result, when.converted, threshold)
        },
    )
    .await?;
    let names = [format!("v{} {}", record.version, record.name), active_name];
    let results: Vec<_> = names
        .into_iter()
        .zip(observed)
        .map(|(name, seen)| (name, evaluate(&seen)))
        .collect();
    Ok(axum::Json(backtest_json(&results)).into_response())
}

/// `threshold` and `as_of` of a backtest body (empty: neither).
fn backtest_options(
    state: &AppState,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<(Option<f64>, Option<String>)> {
    if body
        .as_ref()
        .is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace))
    {
        return Ok((None, None));
    }
    let map = json_object(
        body,
        state.config.max_body_bytes,
        &["threshold", "as_of"],
        "`{\"threshold\":N,\"as_of\":\"RFC3339\"}` (both optional) or no body",
        "a backtest takes `threshold` and `as_of`",
    )?;
    let threshold = match map.get("threshold") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_f64().filter(|t| t.is_finite()).ok_or_else(|| {
            Error::unprocessable("`threshold` must be a number", Some("threshold"))
        })?),
        Some(_) => {
            return Err(Error::unprocessable(
                "`threshold` must be a number (qualify by score >= threshold) or null (by the \
                 model's second stage)",
                Some("threshold"),
            ));
        }
    };
    let as_of = match map.get("as_of") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            if parse_timestamp(text).is_none() {
                return Err(Error::unprocessable(
                    format!("`as_of`: `{text}` is not an RFC 3339 timestamp"),
                    Some("as_of"),
                ));
            }
            Some(text.clone())
        }
        Some(_) => {
            return Err(Error::unprocessable(
                "`as_of` must be an RFC 3339 timestamp or null",
                Some("as_of"),
            ));
        }
    };
    Ok((threshold, as_of))
}
