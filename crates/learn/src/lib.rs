//! Learning from outcomes: how well a score ranks the contacts who went on to buy.
//!
//! A points model is a guess until it is checked against what sales closed. This crate
//! holds the arithmetic of that check, independent of files and models: given, per
//! contact, the score it had *just before* its outcome (so that nothing that happened
//! after can explain it), whether the model qualified it and whether it converted, it
//! computes what a reviewer of a model change wants to see:
//!
//! * how many contacts the model qualifies, with precision and recall of that decision;
//! * the share of converters found in the top 10 % and 20 % of scores;
//! * ROC AUC: the chance that a random converter outscores a random non-converter
//!   (ties count half);
//! * a calibration table: conversion rate per score decile.
//!
//! [`before`] holds the rule every analysis follows (each contact scored one
//! millisecond before its first outcome) and turns results into report rows, so the
//! CLI and the service compute reports and backtests the same way.
//!
//! And it learns: [`logistic`] fits an L2-regularised logistic regression (what
//! `leadscore tune` re-weights a model's rules with), [`tune`] holds the folds, the
//! mapping of learned weights to points, and the lift test for suggested rules.
//!
//! ```
//! use leadscore_learn::{Observation, evaluate};
//!
//! let seen = [
//!     Observation { score: 90.0, qualified: true, converted: true },
//!     Observation { score: 70.0, qualified: true, converted: false },
//!     Observation { score: 20.0, qualified: false, converted: false },
//!     Observation { score: 10.0, qualified: false, converted: true },
//! ];
//! let e = evaluate(&seen);
//! assert_eq!(e.qualified, 2);
//! assert_eq!(e.precision, Some(0.5));
//! assert_eq!(e.recall, Some(0.5));
//! assert_eq!(e.auc, Some(0.5));
//! ```

#![deny(missing_docs)]

pub mod accounts;
pub mod before;
pub mod logistic;
pub mod report;
pub mod tune;

use serde::Serialize;

/// One contact, as the model saw it just before its outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The score (clamped, unrounded).
    pub score: f64,
    /// Whether the model qualified the contact (MQL stage reached, or score at or above
    /// the threshold under test).
    pub qualified: bool,
    /// Whether the contact converted (won or converted).
    pub converted: bool,
}

/// Conversion in one score band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// Lowest score in the band.
    pub from: f64,
    /// Highest score in the band.
    pub to: f64,
    /// Contacts in the band.
    pub contacts: u64,
    /// Converters among them.
    pub converters: u64,
    /// `converters / contacts`.
    pub rate: f64,
}

/// How well a set of scores matches the outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Contacts evaluated.
    pub contacts: u64,
    /// Converters among them.
    pub converters: u64,
    /// Contacts the model qualified.
    pub qualified: u64,
    /// Qualified contacts that converted.
    pub qualified_converters: u64,
    /// Share of qualified contacts that converted; `None` when none qualified.
    pub precision: Option<f64>,
    /// Share of converters the model qualified; `None` without converters.
    pub recall: Option<f64>,
    /// Share of converters among the 10 % best-scored contacts.
    pub top10_capture: Option<f64>,
    /// Share of converters among the 20 % best-scored contacts.
    pub top20_capture: Option<f64>,
    /// ROC AUC; `None` unless there are both converters and non-converters.
    pub auc: Option<f64>,
    /// Conversion per score decile, lowest scores first.
    pub calibration: Vec<Band>,
}

/// Evaluate scores against outcomes.
pub fn evaluate(observations: &[Observation]) -> Evaluation {
    let contacts = observations.len() as u64;
    let converters = observations.iter().filter(|o| o.converted).count() as u64;
    let qualified = observations.iter().filter(|o| o.qualified).count() as u64;
    let qualified_converters = observations
        .iter()
        .filter(|o| o.qualified && o.converted)
        .count() as u64;
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    // Best first; among equal scores, converters last, so that ties never flatter the
    // model in the capture figures.
    let mut ranked: Vec<&Observation> = observations.iter().collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.converted.cmp(&b.converted))
    });
    let capture = |share: f64| {
        let top = ((contacts as f64) * share).ceil() as usize;
        let found = ranked.iter().take(top).filter(|o| o.converted).count() as u64;
        ratio(found, converters)
    };
    Evaluation {
        contacts,
        converters,
        qualified,
        qualified_converters,
        precision: ratio(qualified_converters, qualified),
        recall: ratio(qualified_converters, converters),
        top10_capture: capture(0.10),
        top20_capture: capture(0.20),
        auc: roc_auc(observations),
        calibration: deciles(observations),
    }
}

/// ROC AUC by ranks (Mann-Whitney U), ties counting half.
pub fn roc_auc(observations: &[Observation]) -> Option<f64> {
    let positives = observations.iter().filter(|o| o.converted).count() as f64;
    let negatives = observations.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let mut sorted: Vec<&Observation> = observations.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    // Sum of the (average, 1-based) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].score == sorted[i].score {
            j += 1;
        }
        let average_rank = (i + 1 + j) as f64 / 2.0;
        let tied_positives = sorted[i..j].iter().filter(|o| o.converted).count() as f64;
        rank_sum += average_rank * tied_positives;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// Ten equal-count score bands (fewer when there are fewer contacts), lowest first.
///
/// Contacts with the same score always share a band: a run of equal scores that
/// crosses a band's end stays whole in that band, and the next band starts after it
/// (a band left empty that way is dropped). Otherwise which of two tied contacts fell
/// into the lower band would depend on the order the contacts were read in, and the
/// CLI and the service (which read them in different orders) would disagree.
fn deciles(observations: &[Observation]) -> Vec<Band> {
    let mut sorted: Vec<&Observation> = observations.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    let n = sorted.len();
    let bands = n.min(10);
    let mut out = Vec::with_capacity(bands);
    let mut start = 0;
    for b in 0..bands {
        let mut end = (b + 1) * n / bands;
        if end <= start {
            continue;
        }
        while end < n && sorted[end].score.total_cmp(&sorted[end - 1].score).is_eq() {
            end += 1;
        }
        let slice = &sorted[start..end];
        let converters = slice.iter().filter(|o| o.converted).count() as u64;
        out.push(Band {
            from: slice[0].score,
            to: slice[slice.len() - 1].score,
            contacts: slice.len() as u64,
            converters,
            rate: converters as f64 / slice.len() as f64,
        });
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(score: f64, converted: bool) -> Observation {
        Observation {
            score,
            qualified: score >= 50.0,
            converted,
        }
    }

    #[test]
    fn tied_scores_share_a_decile_whatever_the_input_order() {
        // 20 contacts: 6 at 0 (one converted) straddle the first band's end (2).
        let mut all: Vec<Observation> = (0..6).map(|i| obs(0.0, i == 0)).collect();
        all.extend((0..14).map(|i| obs(10.0 + f64::from(i), i % 2 == 0)));
        let forward = evaluate(&all).calibration;
        all.reverse();
        let backward = evaluate(&all).calibration;
        assert_eq!(forward, backward);
        assert_eq!(forward[0].contacts, 6, "the six zeros stay together");
        assert_eq!(forward[0].converters, 1);
        assert_eq!(forward[1].from, 10.0, "the next band starts after the tie");
        // Bands 1 and 2 (positions 2..6) were swallowed by the tie: 8 bands remain,
        // and every contact is in exactly one.
        assert_eq!(forward.len(), 8);
        assert_eq!(forward.iter().map(|b| b.contacts).sum::<u64>(), 20);
    }

    #[test]
    fn perfect_ranking_has_auc_one_and_reversed_zero() {
        let good = [
            obs(9.0, true),
            obs(8.0, true),
            obs(1.0, false),
            obs(0.0, false),
        ];
        assert_eq!(roc_auc(&good), Some(1.0));
        let bad = [
            obs(0.0, true),
            obs(1.0, true),
            obs(8.0, false),
            obs(9.0, false),
        ];
        assert_eq!(roc_auc(&bad), Some(0.0));
    }

    #[test]
    fn ties_count_half_and_constant_scores_give_one_half() {
        let flat = [
            obs(5.0, true),
            obs(5.0, false),
            obs(5.0, false),
            obs(5.0, true),
        ];
        assert_eq!(roc_auc(&flat), Some(0.5));
        // One positive above both negatives, one tied with one negative: (2 + 1.5) / 4.
        let mixed = [
            obs(9.0, true),
            obs(5.0, true),
            obs(5.0, false),
            obs(1.0, false),
        ];
        assert_eq!(roc_auc(&mixed), Some(0.875));
    }

    #[test]
    fn auc_needs_both_classes() {
        assert_eq!(roc_auc(&[obs(1.0, true)]), None);
        assert_eq!(roc_auc(&[]), None);
    }

    #[test]
    fn precision_recall_and_capture_by_hand() {
        // 10 contacts, scores 0..90; converters at 90, 80 and 30; threshold 50.
        let seen: Vec<Observation> = (0..10)
            .map(|i| obs(f64::from(i) * 10.0, matches!(i, 9 | 8 | 3)))
            .collect();
        let e = evaluate(&seen);
        assert_eq!((e.contacts, e.converters, e.qualified), (10, 3, 5));
        assert_eq!(e.precision, Some(2.0 / 5.0));
        assert_eq!(e.recall, Some(2.0 / 3.0));
        assert_eq!(e.top10_capture, Some(1.0 / 3.0)); // the top 1 holds one converter
        assert_eq!(e.top20_capture, Some(2.0 / 3.0)); // the top 2 hold two
        assert_eq!(e.calibration.len(), 10);
        assert_eq!(e.calibration[9].converters, 1);
        assert_eq!(e.calibration[3].rate, 1.0);
    }

    #[test]
    fn ties_at_the_capture_cut_never_flatter_the_model() {
        // All scores equal: the top 10 % holds a non-converter first.
        let seen: Vec<Observation> = (0..10).map(|i| obs(5.0, i == 0)).collect();
        assert_eq!(evaluate(&seen).top10_capture, Some(0.0));
    }
}
