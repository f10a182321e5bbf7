//! Small sampling helpers on top of `rand`: the distributions the behaviour model uses.
//!
//! `rand` 0.10 has no normal or Poisson distribution without `rand_distr`; these few
//! lines are enough and keep the output stable across `rand_distr` releases.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// `true` with probability `p` (any `p`; values outside `[0, 1]` saturate).
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// Uniform in `[lo, hi)`; `lo` when the range is empty.
pub(crate) fn uniform_i64(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

/// Standard normal (Box-Muller).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal with the given median and log-scale sigma.
pub(crate) fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// Exponential with the given mean.
pub(crate) fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Poisson with mean `lambda` (Knuth below 30, a rounded normal above).
pub(crate) fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda >= 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p: f64 = rng.random();
    while p > limit {
        k += 1;
        p *= rng.random::<f64>();
    }
    k
}

/// The logistic function: log-odds to probability.
pub(crate) fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// An index drawn with probability proportional to its weight (weights >= 0, at least
/// one positive).
pub(crate) fn pick_weighted(
    rng: &mut ChaCha8Rng,
    weights: impl Iterator<Item = f64> + Clone,
) -> usize {
    let total: f64 = weights.clone().sum();
    let mut x = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if w > 0.0 {
            if x < w {
                return i;
            }
            x -= w;
            last = i;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn samplers_have_the_right_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 200_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!(mean(&mut || normal(&mut rng)).abs() < 0.01);
        assert!((mean(&mut || f64::from(poisson(&mut rng, 4.0))) - 4.0).abs() < 0.03);
        assert!((mean(&mut || f64::from(poisson(&mut rng, 50.0))) - 50.0).abs() < 0.1);
        assert!((mean(&mut || exponential(&mut rng, 2.0)) - 2.0).abs() < 0.03);
        let picks = mean(&mut || pick_weighted(&mut rng, [1.0, 0.0, 3.0].into_iter()) as f64);
        assert!((picks - 1.5).abs() < 0.02, "{picks}");
    }
}
