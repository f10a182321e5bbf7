//! `GET /api/v1/contacts/{id}/timeline`: the contact's events, newest first, each with
//! the engagement rules it matched and the points it counts **now**, or why it counts
//! nothing (a `limit` reached, outside the rule's `within` window, before a stage
//! reset, later than now, a duplicate `messageId`).
//!
//! The engine explains a score per rule (`explain`: count, points, `not_counted`,
//! `capped`), not per event. The timeline splits each rule's line over its events by
//! the same arithmetic the engine uses (`within`, then `limit` in time order, then
//! `decay` per counted occurrence), reading the rule definitions of the active model;
//! the per-rule totals it reaches are returned beside the engine's own line
//! (`rules[]`), and a rule whose events add up to more than the engine counted had a
//! stage reset (`reset_engagement`): its oldest occurrences are marked `reset` until
//! the counts agree. Group caps act on a rule's total, not on an event: the rule's
//! `capped` says how much the cap took. Absence rules (points for a missing reaction)
//! and fit rules belong to no event; they are in the explanation only. Opens and clicks
//! the engine found to be a machine's (`[machine]`) are marked `machine` and carry no
//! points here: the explanation's machine line holds what they earn.
//!
//! Computed on demand from the stored history (like `?as_of=`); nothing is stored.

use std::collections::HashSet;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_engine::{ExplainLine, LineKind, Millis};
use leadscore_model::{EngagementRule, EngagementSource};
use leadscore_store::{ContactInputs, Store as _};
use serde::Serialize;

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::scoring;
use crate::state::AppState;

/// The timeline route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/contacts/{id}/timeline", get(timeline))
}

/// Why an occurrence of a rule counts what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    /// Counted: `points` (decayed) are in the score.
    Counted,
    /// The rule's `limit` was reached: counts nothing.
    LimitReached,
    /// Older than the rule's `within` window: counts nothing any more.
    OutsideWindow,
    /// Before the contact entered a stage that resets engagement.
    Reset,
    /// After the instant scored (a timestamp in the future).
    Future,
    /// A machine's open or click (`[machine]`): what it earns (`machine.share`) is on
    /// the rule's machine line of the explanation, not on the event.
    Machine,
}

/// One rule an event matched.
#[derive(Debug, Clone, Serialize)]
struct RuleHit {
    rule: String,
    label: Option<String>,
    group: Option<String>,
    status: Status,
    /// Points this occurrence counts now (0 unless `counted`).
    points: f64,
    /// The rule's full points per occurrence (before decay).
    base_points: f64,
}

/// One event of the timeline.
#[derive(Debug, Clone, Serialize)]
struct Item {
    at: String,
    event: String,
    message_id: Option<String>,
    /// Another copy with the same `messageId` is the one that counts.
    duplicate: bool,
    /// Sum of `rules[].points`.
    points: f64,
    rules: Vec<RuleHit>,
}

/// Per rule: the engine's explanation beside what the events add up to.
#[derive(Debug, Clone, Serialize)]
struct RuleSummary {
    rule: String,
    label: Option<String>,
    /// Occurrences counted by the engine (its `explain` line).
    count: u32,
    /// Points in the score (the engine's line, after the group cap).
    points: f64,
    /// Points a group cap took from the line.
    capped: f64,
    /// What the timeline's counted occurrences add up to (before the group cap).
    events_points: f64,
}

#[derive(Serialize)]
struct Timeline {
    contact_id: String,
    as_of: String,
    score: i64,
    items: Vec<Item>,
    rules: Vec<RuleSummary>,
}

/// `GET /api/v1/contacts/{id}/timeline` (read).
async fn timeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    auth::api(&state, &headers, Access::Read).await?;
    if id.is_empty() || id.len() > 256 {
        return Err(Error::bad_request(
            "a contact id has 1 to 256 bytes",
            Some("id"),
        ));
    }
    let now = scoring::now();
    let contact = state.store.contact(&id).await?;
    let history = state.store.history(&id).await?;
    if contact.is_none() && history.is_empty() {
        return Err(Error::NotFound(format!("no contact `{id}`")));
    }
    let adjustments = state.store.adjustments(&id).await?;
    let inputs = ContactInputs {
        id: id.clone(),
        contact,
        history,
        adjustments,
    };
    let engine = state.engine();
    let task_engine = std::sync::Arc::clone(&engine);
    let built = tokio::task::spawn_blocking(move || build(&task_engine, &inputs, now))
        .await
        .map_err(|e| Error::Internal(format!("timeline task failed: {e}")))??;
    Ok(axum::Json(built).into_response())
}

fn build(
    engine: &leadscore_engine::Engine,
    inputs: &ContactInputs,
    now: Millis,
) -> Result<Timeline> {
    let id = inputs.id.as_str();
    let (attributes, mut events, identifies, adjustments) = scoring::prepare(engine, inputs, now)?
        .ok_or_else(|| Error::NotFound(format!("no contact `{id}`")))?;
    let (result, machine) =
        engine.score_with_machine_times(attributes, &events, &identifies, &adjustments, now);
    // Time order (stable: arrival order among equal times), as the engine applies them.
    events.sort_by_key(|e| e.timestamp);
    let model = engine.model();
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(events.len());
    // Per engagement rule: (item index, position in item.rules, time).
    let mut occurrences: Vec<Vec<(usize, usize, Millis)>> =
        vec![Vec::new(); model.engagement.len()];
    for event in &events {
        let duplicate = event
            .message_id
            .as_ref()
            .is_some_and(|m| !seen.insert(m.clone()));
        let mut item = Item {
            at: leadscore_formats::format_timestamp(event.timestamp),
            event: event.name.clone(),
            message_id: event.message_id.clone(),
            duplicate,
            points: 0.0,
            rules: Vec::new(),
        };
        if !duplicate && let Some(class) = engine.classify(&event.name, event) {
            for &rule in &class.rules {
                let rule = usize::from(rule);
                let Some(def) = model.engagement.get(rule) else {
                    continue;
                };
                occurrences[rule].push((items.len(), item.rules.len(), event.timestamp));
                item.rules.push(RuleHit {
                    rule: def.id.clone(),
                    label: def.label.clone(),
                    group: def
                        .group
                        .and_then(|g| model.groups.get(g))
                        .map(|g| g.name.clone()),
                    status: Status::Future,
                    points: 0.0,
                    base_points: def.points,
                });
            }
        }
        items.push(item);
    }
    let mut rules = Vec::new();
    for (index, def) in model.engagement.iter().enumerate() {
        if !matches!(def.source, EngagementSource::Event { .. }) {
            continue;
        }
        // Machine opens and clicks (`[machine]`) are the engine's own stream with its
        // own line: mark them, and split the person's occurrences as the human line.
        let mut machine_times = machine.get(index).cloned().unwrap_or_default();
        let mut is_machine = Vec::with_capacity(occurrences[index].len());
        for o in &occurrences[index] {
            let found = machine_times.iter().position(|&t| t == o.2);
            if let Some(at) = found {
                machine_times.remove(at);
            }
            is_machine.push(found.is_some());
        }
        let times: Vec<Millis> = occurrences[index]
            .iter()
            .zip(&is_machine)
            .filter(|(_, m)| !**m)
            .map(|(o, _)| o.2)
            .collect();
        let line: Option<&ExplainLine> = result
            .explain
            .iter()
            .find(|l| l.rule == def.id && l.kind != LineKind::Machine);
        let explained = line.map_or(0, |l| l.count);
        // Without a reset every qualifying occurrence counts from the first; with one,
        // the oldest do not qualify: skip as many as it takes to agree with the engine.
        let mut skip = 0;
        let mut statuses = split(def, &times, now, 0);
        while counted(&statuses) > explained && skip < times.len() {
            skip += 1;
            statuses = split(def, &times, now, skip);
        }
        let mut human = statuses.into_iter();
        let statuses: Vec<(Status, f64)> = is_machine
            .iter()
            .map(|m| {
                if *m {
                    (Status::Machine, 0.0)
                } else {
                    human.next().unwrap_or((Status::Future, 0.0))
                }
            })
            .collect();
        let mut events_points = 0.0;
        for (&(item, hit, _), (status, points)) in occurrences[index].iter().zip(statuses) {
            let hit = &mut items[item].rules[hit];
            hit.status = status;
            hit.points = points;
            items[item].points += points;
            events_points += points;
        }
        if line.is_some() || !times.is_empty() {
            rules.push(RuleSummary {
                rule: def.id.clone(),
                label: def.label.clone(),
                count: explained,
                points: line.map_or(0.0, |l| l.points),
                capped: line.map_or(0.0, |l| l.capped),
                events_points,
            });
        }
    }
    items.reverse();
    Ok(Timeline {
        contact_id: id.to_owned(),
        as_of: leadscore_formats::format_timestamp(now),
        score: result.score,
        items,
        rules,
    })
}

fn counted(statuses: &[(Status, f64)]) -> u32 {
    let n = statuses.iter().filter(|s| s.0 == Status::Counted).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The status and points now of each occurrence (ascending `times`) of `def`, the
/// first `reset` of them zeroed by a stage reset: the engine's order of filters
/// (future, reset, `within`, then `limit` in time order, then `decay`).
fn split(def: &EngagementRule, times: &[Millis], now: Millis, reset: usize) -> Vec<(Status, f64)> {
    let oldest = def.within.map(|w| now.saturating_sub(w));
    let mut counted_times: Vec<Millis> = Vec::new();
    let mut out = Vec::with_capacity(times.len());
    for (i, &t) in times.iter().enumerate() {
        if t > now {
            out.push((Status::Future, 0.0));
            continue;
        }
        if i < reset {
            out.push((Status::Reset, 0.0));
            continue;
        }
        if oldest.is_some_and(|o| t < o) {
            out.push((Status::OutsideWindow, 0.0));
            continue;
        }
        let counts = match def.limit {
            None => true,
            Some(limit) => match limit.per {
                None => counted_times.len() < limit.max as usize,
                Some(per) => {
                    let from = t.saturating_sub(per);
                    counted_times.iter().filter(|&&c| c > from).count() < limit.max as usize
                }
            },
        };
        if !counts {
            out.push((Status::LimitReached, 0.0));
            continue;
        }
        counted_times.push(t);
        let points = match def.decay {
            Some(half_life) if half_life > 0 => {
                def.points * (-((now - t) as f64) / half_life as f64).exp2()
            }
            _ => def.points,
        };
        out.push((Status::Counted, points));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(limit: Option<leadscore_model::Limit>, within: Option<Millis>) -> EngagementRule {
        let checked = leadscore_model::load(
            "t.toml",
            "version = 1\nname = \"t\"\n[[engagement]]\nid = \"r\"\nevent = \"E\"\npoints = 10\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let mut def = checked.model.engagement[0].clone();
        def.limit = limit;
        def.within = within;
        def
    }

    #[test]
    fn limits_windows_resets_and_the_future_are_told_apart() {
        let def = rule(
            Some(leadscore_model::Limit { max: 2, per: None }),
            Some(100),
        );
        let statuses: Vec<Status> = split(&def, &[1, 150, 160, 170, 300], 200, 0)
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(
            statuses,
            [
                Status::OutsideWindow,
                Status::Counted,
                Status::Counted,
                Status::LimitReached,
                Status::Future
            ]
        );
        let reset = split(&def, &[150, 160, 170], 200, 1);
        assert_eq!(reset[0].0, Status::Reset);
        assert_eq!(counted(&reset), 2);
    }
}
