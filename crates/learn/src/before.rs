//! The one rule every analysis of outcomes follows, and what it makes of each result:
//! every contact is scored **one millisecond before its first outcome**, so that
//! nothing that happened at or after the outcome can explain it (no leakage); a
//! contact without an outcome is scored as of `as_of` (by default the latest outcome)
//! and counts as not converted. `won` and `converted` are conversions, `lost` is not.
//!
//! The CLI (`leadscore backtest`, `report`, `tune`, reading files) and the service
//! (`GET /api/v1/reports/outcomes`, `POST /api/v1/models/{version}/backtest`, reading
//! the store) gather the inputs their own way and share everything else here: the
//! instants ([`FirstOutcomes`], [`scoring_instant`], [`link_horizon`]), the mapping of
//! a result to a report row ([`Reporter`]) or a backtest observation
//! ([`observation`]), and the JSON of a backtest ([`backtest_json`]). So the CLI and
//! the API give the same answer on the same data.

use std::collections::HashMap;

use leadscore_engine::{LineKind, Millis, ScoreResult};
use leadscore_model::compiled::{CompiledModel, EngagementSource};

use crate::report::{Hit, Report, Rules, Scored, report};
use crate::{Evaluation, Observation};

/// Each contact's first outcome: when, and whether it is a conversion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstOutcomes(HashMap<String, (Millis, bool)>);

impl FirstOutcomes {
    /// No outcomes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an outcome of `id`; the earliest of a contact is kept (on a tie, the one
    /// added first): it is the one its history led to.
    pub fn add(&mut self, id: String, at: Millis, converted: bool) {
        let entry = self.0.entry(id).or_insert((at, converted));
        if at < entry.0 {
            *entry = (at, converted);
        }
    }

    /// `id`'s first outcome, if any.
    pub fn get(&self, id: &str) -> Option<(Millis, bool)> {
        self.0.get(id).copied()
    }

    /// The latest first outcome, if any: the default `as_of`.
    pub fn latest(&self) -> Option<Millis> {
        self.0.values().map(|&(at, _)| at).max()
    }

    /// Number of contacts with an outcome.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no contact has an outcome.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// When one contact is scored, and what came of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    /// The instant to score at: one millisecond before the first outcome, else `as_of`.
    pub now: Millis,
    /// Whether the first outcome is a conversion (`false` without an outcome).
    pub converted: bool,
    /// The first outcome's instant, if any.
    pub outcome_at: Option<Millis>,
}

/// When to score `id` (see the module documentation).
pub fn scoring_instant(outcomes: &FirstOutcomes, id: &str, as_of: Millis) -> Instant {
    match outcomes.get(id) {
        Some((at, converted)) => Instant {
            now: at - 1,
            converted,
            outcome_at: Some(at),
        },
        None => Instant {
            now: as_of,
            converted: false,
            outcome_at: None,
        },
    }
}

/// Links between anonymous ids and contacts count up to the latest instant any contact
/// is scored at (each contact's own events and traits still stop at its own instant).
pub fn link_horizon(outcomes: &FirstOutcomes, as_of: Millis) -> Millis {
    outcomes.latest().unwrap_or(as_of).max(as_of)
}

/// Whether a result counts as qualified: score at least `threshold` when given, else
/// the model's second stage (its MQL) or later.
pub fn qualified(model: &CompiledModel, result: &ScoreResult, threshold: Option<f64>) -> bool {
    match threshold {
        Some(threshold) => result.clamped >= threshold,
        None => model
            .stages
            .iter()
            .position(|s| Some(&s.id) == result.stage.as_ref())
            .is_some_and(|i| i >= 1),
    }
}

/// A backtest observation of one result.
pub fn observation(
    model: &CompiledModel,
    result: &ScoreResult,
    converted: bool,
    threshold: Option<f64>,
) -> Observation {
    Observation {
        score: result.clamped,
        qualified: qualified(model, result, threshold),
        converted,
    }
}

/// The JSON of a backtest, `{"models":[{"model":NAME,"evaluation":{...}}, ...]}`,
/// candidate first: what `leadscore backtest --format json` prints and
/// `POST /api/v1/models/{version}/backtest` answers.
pub fn backtest_json(results: &[(String, Evaluation)]) -> serde_json::Value {
    let models: Vec<serde_json::Value> = results
        .iter()
        .map(|(name, e)| serde_json::json!({ "model": name, "evaluation": e }))
        .collect();
    serde_json::json!({ "models": models })
}

/// Rule ids and kinds, label, grade and stage names of a model.
pub fn rules_of(model: &CompiledModel) -> Rules {
    let fit = model.fit.iter().map(|r| (r.id.clone(), "fit".to_owned()));
    let engagement = model.engagement.iter().map(|r| {
        let kind = match r.source {
            EngagementSource::Event { .. } => "engagement",
            EngagementSource::Absence { .. } => "absence",
        };
        (r.id.clone(), kind.to_owned())
    });
    Rules {
        rules: fit.chain(engagement).collect(),
        labels: model.labels.iter().map(|t| t.name.clone()).collect(),
        grades: model.grades.iter().map(|t| t.name.clone()).collect(),
        stages: model.stages.iter().map(|s| s.id.clone()).collect(),
    }
}

/// Turns results into report rows for one model, then into the [`Report`].
#[derive(Debug, Clone)]
pub struct Reporter {
    rules: Rules,
    index: HashMap<String, usize>,
}

impl Reporter {
    /// For results of `model`.
    pub fn new(model: &CompiledModel) -> Self {
        let rules = rules_of(model);
        let index = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i))
            .collect();
        Self { rules, index }
    }

    /// The report row of one result (scored at `when`), with the instants its stages
    /// were entered. A rule fired when its explanation line counted at least once.
    pub fn scored(&self, result: &ScoreResult, stage_times: Vec<Millis>, when: Instant) -> Scored {
        let mut hits = vec![Hit::default(); self.index.len()];
        for line in &result.explain {
            if !matches!(
                line.kind,
                LineKind::Fit | LineKind::Engagement | LineKind::Absence
            ) {
                continue;
            }
            if let Some(&i) = self.index.get(line.rule.as_str()) {
                hits[i].fired |= line.count > 0;
                hits[i].points += line.points;
            }
        }
        Scored {
            score: result.clamped,
            converted: when.converted,
            stage: self
                .rules
                .stages
                .iter()
                .position(|s| Some(s) == result.stage.as_ref()),
            label: result.label.clone(),
            grade: result.grade.clone(),
            hits,
            stage_times,
            converted_at: when.outcome_at.filter(|_| when.converted),
        }
    }

    /// The report over the rows.
    pub fn report(&self, seen: &[Scored]) -> Report {
        report(&self.rules, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_outcome_wins_and_sets_the_instant_one_ms_before() {
        let mut outcomes = FirstOutcomes::new();
        outcomes.add("a".into(), 500, false);
        outcomes.add("a".into(), 300, true);
        outcomes.add("a".into(), 300, false); // a tie: the first added stays
        outcomes.add("b".into(), 900, true);
        assert_eq!(outcomes.get("a"), Some((300, true)));
        assert_eq!(outcomes.latest(), Some(900));
        assert_eq!(
            scoring_instant(&outcomes, "a", 1000),
            Instant {
                now: 299,
                converted: true,
                outcome_at: Some(300)
            }
        );
        assert_eq!(
            scoring_instant(&outcomes, "c", 1000),
            Instant {
                now: 1000,
                converted: false,
                outcome_at: None
            }
        );
        assert_eq!(link_horizon(&outcomes, 100), 900);
        assert_eq!(link_horizon(&outcomes, 2000), 2000);
        assert_eq!(link_horizon(&FirstOutcomes::new(), 7), 7);
    }
}
