//! The arithmetic of `leadscore tune`, apart from files and models: cross-validation
//! folds, turning learned weights into whole points on the base model's scale, and the
//! lift test that picks suggested rules. `docs/learning.md` explains each decision.

/// The fold (0..`folds`) of a contact: a hash of its id and the seed, so that the same
/// contact always lands in the same fold whatever the file order, and the split can be
/// exported and reproduced (`--features-out`).
pub fn fold_of(id: &str, seed: u64, folds: u32) -> u32 {
    // FNV-1a over the seed and the id, then a SplitMix64 finaliser: FNV alone puts
    // ids that differ in the last digit into neighbouring values.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.to_le_bytes().iter().chain(id.as_bytes()) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h % u64::from(folds.max(1))) as u32
}

/// Learned weights mapped onto the points scale of the base model.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    /// Points per unit of the learned log-odds.
    pub scale: f64,
    /// `weight * scale` per feature, before rounding.
    pub exact: Vec<f64>,
    /// Whole points (half away from zero).
    pub whole: Vec<f64>,
}

/// Map learned log-odds weights to points: one factor for all rules, chosen so that the
/// tuned score `Σ points_j x_j` has the same standard deviation over the training rows
/// as the base model's `Σ base_j x_j`, so the tuned scores spread over the same range
/// and the model's thresholds (labels, stages, routes) keep their meaning roughly. The
/// factor is positive, so the ranking is the learned one.
///
/// When either spread is zero (a base model without points, or nothing learned), the
/// factor makes the largest tuned point value as large as the largest base one instead
/// (and 1 when both are zero).
pub fn to_points(weights: &[f64], base: &[f64], x: &[f64], keep: impl Fn(usize) -> bool) -> Points {
    let width = weights.len();
    let rows = x.len().checked_div(width).unwrap_or(0);
    let (mut n, mut sum_b, mut sum_bb, mut sum_t, mut sum_tt) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in (0..rows).filter(|&i| keep(i)) {
        let row = &x[i * width..(i + 1) * width];
        let b: f64 = base.iter().zip(row).map(|(w, v)| w * v).sum();
        let t: f64 = weights.iter().zip(row).map(|(w, v)| w * v).sum();
        n += 1.0;
        sum_b += b;
        sum_bb += b * b;
        sum_t += t;
        sum_tt += t * t;
    }
    let sd = |s: f64, ss: f64| {
        if n > 0.0 {
            (ss / n - (s / n) * (s / n)).max(0.0).sqrt()
        } else {
            0.0
        }
    };
    let (sd_base, sd_tuned) = (sd(sum_b, sum_bb), sd(sum_t, sum_tt));
    let largest = |v: &[f64]| v.iter().fold(0.0f64, |m, p| m.max(p.abs()));
    let scale = if sd_base > 1e-12 && sd_tuned > 1e-12 {
        sd_base / sd_tuned
    } else if largest(weights) > 0.0 && largest(base) > 0.0 {
        largest(base) / largest(weights)
    } else {
        1.0
    };
    let exact: Vec<f64> = weights.iter().map(|w| w * scale).collect();
    // `f64::round` rounds half away from zero, as the spec rounds scores.
    let whole = exact.iter().map(|p| p.round() + 0.0).collect();
    Points {
        scale,
        exact,
        whole,
    }
}

/// How a group of contacts (those with some attribute value or event) converts,
/// compared with everybody else.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lift {
    /// Contacts in the group.
    pub contacts: u64,
    /// Converters among them.
    pub converters: u64,
    /// Their conversion rate.
    pub rate: f64,
    /// `rate` / the overall conversion rate.
    pub lift: f64,
    /// Two-proportion z statistic, the group against all other contacts.
    pub z: f64,
}

/// The lift of a group of `contacts` with `converters` among `total` contacts with
/// `total_converters`.
pub fn lift(contacts: u64, converters: u64, total: u64, total_converters: u64) -> Lift {
    let rate = converters as f64 / contacts.max(1) as f64;
    let overall = total_converters as f64 / total.max(1) as f64;
    let others = total.saturating_sub(contacts);
    let other_rate = total_converters.saturating_sub(converters) as f64 / others.max(1) as f64;
    let se =
        (overall * (1.0 - overall) * (1.0 / contacts.max(1) as f64 + 1.0 / others.max(1) as f64))
            .sqrt();
    Lift {
        contacts,
        converters,
        rate,
        lift: if overall > 0.0 { rate / overall } else { 0.0 },
        z: if se > 0.0 && others > 0 {
            (rate - other_rate) / se
        } else {
            0.0
        },
    }
}

/// Smallest lift (or largest, below 1: its inverse) worth suggesting a rule for.
pub const SUGGEST_LIFT: f64 = 1.5;
/// Smallest |z| worth suggesting. Hundreds of values are tested at once (every value
/// of every column, every event name), so 3 (once in 370 tries by chance alone) would
/// suggest first names; 4 is once in 16,000.
pub const SUGGEST_Z: f64 = 4.0;
/// Smallest group worth suggesting, as a share of all contacts...
pub const SUGGEST_SHARE: f64 = 0.005;
/// ... and in contacts, whichever is larger.
pub const SUGGEST_CONTACTS: u64 = 20;
/// Converters a group needs before a positive rule is suggested for it.
pub const SUGGEST_CONVERTERS: u64 = 5;

/// Whether a group is different enough, and large enough, to suggest a rule for it.
pub fn worth_suggesting(l: &Lift, total: u64) -> bool {
    let big_enough =
        l.contacts >= SUGGEST_CONTACTS.max((total as f64 * SUGGEST_SHARE).ceil() as u64);
    let strong = (l.lift >= SUGGEST_LIFT && l.converters >= SUGGEST_CONVERTERS)
        || l.lift <= 1.0 / SUGGEST_LIFT;
    big_enough && strong && l.z.abs() >= SUGGEST_Z
}

/// The points a suggested rule would start with: the log of its lift (the log-odds a
/// rare outcome gains, roughly) times the scale of the tuned model, whole.
pub fn suggested_points(l: &Lift, scale: f64) -> f64 {
    if l.lift > 0.0 {
        (l.lift.ln() * scale).round() + 0.0
    } else {
        -(scale * 3.0).round()
    }
}

/// A Platt calibration `p = 1 / (1 + exp(-(intercept + slope * score)))` of scores
/// against outcomes: a one-feature logistic regression, practically unpenalised (C =
/// 10^6), fitted on the rows `keep` selects. `None` when they hold one class only or
/// the scores never vary (nothing to calibrate against).
pub fn platt(
    scores: &[f64],
    converted: &[bool],
    keep: impl Fn(usize) -> bool + Sync,
) -> Option<Calibration> {
    let rows: Vec<usize> = (0..scores.len())
        .filter(|&i| keep(i) && scores[i].is_finite())
        .collect();
    let options = crate::logistic::Options {
        c: 1e6,
        ..crate::logistic::Options::default()
    };
    let fit = crate::logistic::fit_rows(scores, 1, converted, &rows, options).ok()?;
    let slope = *fit.weights.first()?;
    (fit.scale.first().is_some_and(|s| *s > 0.0) && slope.is_finite()).then_some(Calibration {
        intercept: fit.intercept,
        slope,
    })
}

/// The result of [`platt`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// `a`.
    pub intercept: f64,
    /// `b`, per point of score.
    pub slope: f64,
}

impl Calibration {
    /// The calibrated probability at `score`.
    pub fn probability(&self, score: f64) -> f64 {
        1.0 / (1.0 + (-(self.intercept + self.slope * score)).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_calibration_matches_held_out_conversion_and_rises_with_score() {
        // Scores 0..100, converting with probability 1 / (1 + exp(-(-4 + 0.05 s))):
        // a deterministic pseudo-random stream (SplitMix64) decides each outcome.
        let mut state: u64 = 7;
        let mut uniform = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 20_000;
        let scores: Vec<f64> = (0..n).map(|i| (i % 101) as f64).collect();
        let truth = |s: f64| 1.0 / (1.0 + (-(-4.0 + 0.05 * s)).exp());
        let converted: Vec<bool> = scores.iter().map(|&s| uniform() < truth(s)).collect();
        // Fit on even rows, check on odd ones.
        let fitted = platt(&scores, &converted, |i| i % 2 == 0).unwrap();
        let held: Vec<usize> = (0..n).filter(|i| i % 2 == 1).collect();
        let predicted: f64 = held
            .iter()
            .map(|&i| fitted.probability(scores[i]))
            .sum::<f64>()
            / held.len() as f64;
        let observed = held.iter().filter(|&&i| converted[i]).count() as f64 / held.len() as f64;
        assert!(
            (predicted - observed).abs() < 0.02,
            "{predicted} vs {observed}"
        );
        assert!((fitted.slope - 0.05).abs() < 0.01, "{fitted:?}");
        assert!(fitted.probability(80.0) > fitted.probability(20.0));
        // One class, or scores that never vary: nothing to calibrate.
        assert_eq!(platt(&scores, &vec![false; n], |_| true), None);
        assert_eq!(platt(&vec![5.0; n], &converted, |_| true), None);
    }

    #[test]
    fn folds_are_stable_balanced_and_seeded() {
        assert_eq!(fold_of("c-17", 0, 5), fold_of("c-17", 0, 5));
        let mut sizes = [0u32; 5];
        for i in 0..10_000 {
            sizes[fold_of(&format!("c-{i}"), 0, 5) as usize] += 1;
        }
        assert!(
            sizes.iter().all(|&s| (1800..2200).contains(&s)),
            "{sizes:?}"
        );
        let moved = (0..1000)
            .filter(|i| fold_of(&format!("c-{i}"), 0, 5) != fold_of(&format!("c-{i}"), 1, 5))
            .count();
        assert!(moved > 700, "{moved}");
    }

    #[test]
    fn points_keep_the_base_spread_and_round_half_away_from_zero() {
        // Two 0/1 features; the base gives 10 and 0 points, the fit 2.0 and -1.0 log-odds.
        let x = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let p = to_points(&[2.0, -1.0], &[10.0, 0.0], &x, |_| true);
        // Base scores 10, 0, 10, 0: sd 5. Tuned 2, -1, 1, 0: sd sqrt(1.25).
        assert!((p.scale - 5.0 / 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(p.whole, vec![9.0, -4.0]); // 8.94 and -4.47
        let half = to_points(&[0.5, -0.5], &[1.0, 1.0], &[1.0, 0.0, 0.0, 1.0], |_| true);
        assert_eq!(half.whole, vec![1.0, -1.0]); // 0.5 and -0.5 at scale 2
    }

    #[test]
    fn without_spread_the_largest_points_match() {
        let p = to_points(&[0.5, -2.0], &[0.0, 0.0], &[1.0, 1.0], |_| true);
        assert_eq!(p.scale, 1.0);
        let q = to_points(&[0.5, -2.0], &[40.0, 0.0], &[1.0, 1.0, 1.0, 1.0], |_| true);
        assert_eq!(q.whole, vec![10.0, -40.0]);
    }

    #[test]
    fn lift_and_z_by_hand() {
        // 100 of 1000 contacts have the value; 30 of them convert, 50 of all.
        let l = lift(100, 30, 1000, 50);
        assert!((l.rate - 0.3).abs() < 1e-12);
        assert!((l.lift - 6.0).abs() < 1e-12);
        // Others: 20 of 900. Pooled 0.05: se = sqrt(0.0475 * (0.01 + 1/900)).
        let se = (0.05f64 * 0.95 * (0.01 + 1.0 / 900.0)).sqrt();
        assert!((l.z - (0.3 - 20.0 / 900.0) / se).abs() < 1e-12);
        assert!(worth_suggesting(&l, 1000));
        // Too small a group is never suggested, however strong.
        assert!(!worth_suggesting(&lift(10, 9, 1000, 50), 1000));
        // An ordinary group is not either.
        assert!(!worth_suggesting(&lift(500, 26, 1000, 50), 1000));
        assert_eq!(suggested_points(&l, 10.0), 18.0); // ln 6 = 1.79
    }
}
