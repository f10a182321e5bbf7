//! L2-regularised logistic regression, fitted exactly by Newton's method (IRLS).
//!
//! The objective is scikit-learn's, so that its `LogisticRegression` on the same data
//! is a direct check of ours (`bench/tune_sklearn.py`):
//!
//! ```text
//! minimise  C · Σ_i logloss(y_i, b + x_i·β)  +  ½ ‖β‖²      (the intercept b is not penalised)
//! ```
//!
//! on **standardised** features (each column centred and divided by its population
//! standard deviation on the training rows, as `StandardScaler` does), so one `C`
//! means the same for a 0/1 fit feature and a count of page views. A column that is
//! constant on the training rows is left at weight 0.
//!
//! Why hand-rolled rather than `linfa-logistic`: a points model has tens of features, so
//! the Hessian is tiny (d × d) and Newton's method reaches the optimum to machine
//! precision in a handful of iterations; each iteration is one pass over the rows. A
//! crate would bring `ndarray`, `argmin` and their trees for what is 150 lines here,
//! and its quasi-Newton solver stops at a tolerance instead. `bench/tune_sklearn.py`
//! compares the result with scikit-learn's (coefficients and held-out AUC); the
//! unit tests below check the optimality conditions directly.

use rayon::prelude::*;

/// Rows per parallel task when accumulating gradient and Hessian.
const ROWS_PER_TASK: usize = 16 * 1024;

/// Options of a fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Inverse regularisation strength (scikit-learn's `C`): larger is weaker.
    pub c: f64,
    /// Newton iterations at most.
    pub max_iterations: usize,
    /// Stop when no standardised coefficient moves by more than this.
    pub tolerance: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            c: 1.0,
            max_iterations: 100,
            tolerance: 1e-10,
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Intercept on the original (unstandardised) scale.
    pub intercept: f64,
    /// One weight per feature on the original scale: the change in log-odds per unit
    /// of the feature.
    pub weights: Vec<f64>,
    /// The weights on the standardised scale (what the penalty sees).
    pub standardised: Vec<f64>,
    /// Column means and standard deviations of the training rows.
    pub mean: Vec<f64>,
    /// Standard deviations (0 for a constant column).
    pub scale: Vec<f64>,
    /// Newton iterations used.
    pub iterations: usize,
}

impl Fit {
    /// The log-odds for one row of original features.
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.intercept + dot(&self.weights, row)
    }
}

/// Why a fit failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    /// No rows, or rows of the wrong width.
    Shape(String),
    /// Only one class among the labels: nothing to learn.
    OneClass,
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitError::Shape(m) => write!(f, "{m}"),
            FitError::OneClass => write!(f, "all contacts have the same outcome"),
        }
    }
}

impl std::error::Error for FitError {}

/// Fit on the rows `x` (row-major, `width` columns each) with labels `y`, using only
/// the rows for which `keep(i)` holds (the training folds).
pub fn fit(
    x: &[f64],
    width: usize,
    y: &[bool],
    keep: impl Fn(usize) -> bool + Sync,
    options: Options,
) -> Result<Fit, FitError> {
    let rows: Vec<usize> = (0..y.len()).filter(|&i| keep(i)).collect();
    fit_rows(x, width, y, &rows, options)
}

/// [`fit`] on the listed rows. Not generic, so it is compiled (and optimised) in this
/// crate rather than in each caller.
pub fn fit_rows(
    x: &[f64],
    width: usize,
    y: &[bool],
    rows: &[usize],
    options: Options,
) -> Result<Fit, FitError> {
    if width == 0 || x.len() != y.len() * width {
        return Err(FitError::Shape(format!(
            "{} values for {} rows of {width} features",
            x.len(),
            y.len()
        )));
    }
    if rows.is_empty() {
        return Err(FitError::Shape("no rows to fit".into()));
    }
    let positives = rows.iter().filter(|&&i| y[i]).count();
    if positives == 0 || positives == rows.len() {
        return Err(FitError::OneClass);
    }
    let n = rows.len() as f64;
    let (mut mean, mut scale) = (vec![0.0; width], vec![0.0; width]);
    for &i in rows {
        for (m, v) in mean.iter_mut().zip(&x[i * width..(i + 1) * width]) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    for &i in rows {
        for ((s, m), v) in scale
            .iter_mut()
            .zip(&mean)
            .zip(&x[i * width..(i + 1) * width])
        {
            *s += (v - m) * (v - m);
        }
    }
    // Population standard deviation (ddof 0), as `StandardScaler`.
    scale.iter_mut().for_each(|s| *s = (*s / n).sqrt());
    let z = |i: usize, j: usize| {
        if scale[j] > 0.0 {
            (x[i * width + j] - mean[j]) / scale[j]
        } else {
            0.0
        }
    };

    // Parameters: theta[0] is the intercept, theta[1..] the standardised weights.
    let d = width + 1;
    let prior = positives as f64 / n;
    let mut theta = vec![0.0; d];
    theta[0] = (prior / (1.0 - prior)).ln();
    let objective = |theta: &[f64]| -> f64 {
        let loss: f64 = rows
            .par_chunks(ROWS_PER_TASK)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&i| {
                        let eta =
                            theta[0] + (0..width).map(|j| theta[j + 1] * z(i, j)).sum::<f64>();
                        logloss(eta, y[i])
                    })
                    .sum::<f64>()
            })
            .sum();
        options.c * loss + 0.5 * theta[1..].iter().map(|t| t * t).sum::<f64>()
    };
    let mut current = objective(&theta);
    let mut iterations = 0;
    while iterations < options.max_iterations {
        iterations += 1;
        // Gradient and Hessian of the objective, accumulated in parallel.
        let (mut gradient, mut hessian) = rows
            .par_chunks(ROWS_PER_TASK)
            .map(|chunk| {
                let mut g = vec![0.0; d];
                let mut h = vec![0.0; d * d];
                let mut row = vec![0.0; d];
                for &i in chunk {
                    row[0] = 1.0;
                    for j in 0..width {
                        row[j + 1] = z(i, j);
                    }
                    let p = sigmoid(dot(&theta, &row));
                    let residual = p - f64::from(u8::from(y[i]));
                    let w = p * (1.0 - p);
                    for a in 0..d {
                        g[a] += residual * row[a];
                        let wa = w * row[a];
                        for b in 0..=a {
                            h[a * d + b] += wa * row[b];
                        }
                    }
                }
                (g, h)
            })
            .reduce(
                || (vec![0.0; d], vec![0.0; d * d]),
                |(mut g1, mut h1), (g2, h2)| {
                    g1.iter_mut().zip(g2).for_each(|(a, b)| *a += b);
                    h1.iter_mut().zip(h2).for_each(|(a, b)| *a += b);
                    (g1, h1)
                },
            );
        for a in 0..d {
            gradient[a] *= options.c;
            for b in 0..=a {
                hessian[a * d + b] *= options.c;
                hessian[b * d + a] = hessian[a * d + b];
            }
            if a > 0 {
                gradient[a] += theta[a];
                hessian[a * d + a] += 1.0;
            }
        }
        // The intercept alone is unpenalised; a tiny ridge keeps the solve defined when
        // the data cannot pin it (it never changes a well-posed optimum visibly).
        hessian[0] += 1e-12;
        let Some(step) = cholesky_solve(&hessian, &gradient, d) else {
            break;
        };
        // Newton step with halving until the objective does not increase.
        let mut t = 1.0;
        let mut next: Vec<f64>;
        loop {
            next = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let value = objective(&next);
            if value <= current || t < 1e-8 {
                current = value;
                break;
            }
            t *= 0.5;
        }
        let moved = theta
            .iter()
            .zip(&next)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        theta = next;
        if moved < options.tolerance {
            break;
        }
    }
    let standardised: Vec<f64> = theta[1..].to_vec();
    let weights: Vec<f64> = standardised
        .iter()
        .zip(&scale)
        .map(|(b, s)| if *s > 0.0 { b / s } else { 0.0 })
        .collect();
    let intercept = theta[0] - weights.iter().zip(&mean).map(|(w, m)| w * m).sum::<f64>();
    Ok(Fit {
        intercept,
        weights,
        standardised,
        mean,
        scale,
        iterations,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// `-log P(y | eta)`, computed without overflow for large `|eta|`.
fn logloss(eta: f64, y: bool) -> f64 {
    // log(1 + e^eta) - y * eta
    let softplus = if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    };
    softplus - if y { eta } else { 0.0 }
}

/// Solve `A x = b` for a symmetric positive definite `A` (row-major, `d` × `d`).
fn cholesky_solve(a: &[f64], b: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let v = a[i * d + i] - sum;
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - sum) / l[j * d + j];
            }
        }
    }
    let mut y = vec![0.0; d];
    for i in 0..d {
        let sum: f64 = (0..i).map(|k| l[i * d + k] * y[k]).sum();
        y[i] = (b[i] - sum) / l[i * d + i];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let sum: f64 = (i + 1..d).map(|k| l[k * d + i] * x[k]).sum();
        x[i] = (y[i] - sum) / l[i * d + i];
    }
    Some(x)
}

/// Candidate values of `C` for [`choose_c`]: half-decades from strong to weak.
pub const C_GRID: [f64; 7] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0];
/// Inner folds of [`choose_c`].
pub const INNER_FOLDS: usize = 3;
/// Rows [`choose_c`] looks at, at most: beyond this the choice is stable and the
/// search would cost more than everything else.
pub const SEARCH_ROWS: usize = 50_000;

/// Choose `C` from [`C_GRID`] by cross-validation *inside* the rows `keep` selects (so
/// that an outer held-out fold never influences it): the value with the lowest mean
/// held-out log-loss over [`INNER_FOLDS`] folds (row `i` is in inner fold
/// `inner(i) % INNER_FOLDS`), on at most [`SEARCH_ROWS`] of the rows (every k-th).
pub fn choose_c(
    x: &[f64],
    width: usize,
    y: &[bool],
    keep: impl Fn(usize) -> bool + Sync,
    inner: impl Fn(usize) -> usize + Sync,
    base: Options,
) -> f64 {
    let rows: Vec<usize> = (0..y.len()).filter(|&i| keep(i)).collect();
    let step = rows.len().div_ceil(SEARCH_ROWS).max(1);
    let chosen: Vec<(usize, usize)> = rows
        .iter()
        .step_by(step)
        .map(|&i| (i, inner(i) % INNER_FOLDS))
        .collect();
    choose_c_rows(x, width, y, &chosen, base)
}

/// [`choose_c`] on `(row, inner fold)` pairs; not generic (see [`fit_rows`]).
fn choose_c_rows(
    x: &[f64],
    width: usize,
    y: &[bool],
    chosen: &[(usize, usize)],
    base: Options,
) -> f64 {
    let mut best = (f64::INFINITY, base.c);
    for &c in &C_GRID {
        let options = Options { c, ..base };
        let mut loss = 0.0;
        let mut count = 0usize;
        for f in 0..INNER_FOLDS {
            let train: Vec<usize> = chosen.iter().filter(|r| r.1 != f).map(|r| r.0).collect();
            let Ok(fit) = fit_rows(x, width, y, &train, options) else {
                continue;
            };
            for &(i, _) in chosen.iter().filter(|r| r.1 == f) {
                loss += logloss(fit.log_odds(&x[i * width..(i + 1) * width]), y[i]);
                count += 1;
            }
        }
        if count > 0 && loss / (count as f64) < best.0 {
            best = (loss / count as f64, c);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence in [0, 1).
    fn uniform(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    fn data(n: usize) -> (Vec<f64>, Vec<bool>) {
        let mut seed = 7;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let a = f64::from(u8::from(uniform(&mut seed) < 0.3));
            let b = (uniform(&mut seed) * 5.0).floor();
            let c = uniform(&mut seed); // noise
            let eta = -2.0 + 1.5 * a + 0.4 * b;
            y.push(uniform(&mut seed) < sigmoid(eta));
            x.extend([a, b, c, 3.0]); // the last column is constant
        }
        (x, y)
    }

    #[test]
    fn gradient_vanishes_at_the_optimum() {
        let (x, y) = data(4000);
        let options = Options::default();
        let fit = fit(&x, 4, &y, |_| true, options).expect("fit");
        // d/dβ_j on the standardised scale: C Σ (p - y) z_j + β_j = 0, and Σ (p - y) = 0.
        let mut g = [0.0; 5];
        for i in 0..y.len() {
            let row = &x[i * 4..i * 4 + 4];
            let r = sigmoid(fit.log_odds(row)) - f64::from(u8::from(y[i]));
            g[0] += r;
            for j in 0..4 {
                if fit.scale[j] > 0.0 {
                    g[j + 1] += r * (row[j] - fit.mean[j]) / fit.scale[j];
                }
            }
        }
        assert!(g[0].abs() < 1e-6, "{g:?}");
        for j in 0..4 {
            let stationarity = options.c * g[j + 1] + fit.standardised[j];
            assert!(stationarity.abs() < 1e-6, "feature {j}: {stationarity}");
        }
        assert_eq!(fit.weights[3], 0.0);
        // The planted effects are found; the noise stays small.
        assert!((fit.weights[0] - 1.5).abs() < 0.3, "{:?}", fit.weights);
        assert!((fit.weights[1] - 0.4).abs() < 0.1, "{:?}", fit.weights);
        assert!(fit.weights[2].abs() < 0.4, "{:?}", fit.weights);
    }

    #[test]
    fn a_stronger_penalty_shrinks_the_weights() {
        let (x, y) = data(2000);
        let loose = fit(&x, 4, &y, |_| true, Options::default()).expect("fit");
        let tight = fit(
            &x,
            4,
            &y,
            |_| true,
            Options {
                c: 0.001,
                ..Options::default()
            },
        )
        .expect("fit");
        let norm = |f: &Fit| f.standardised.iter().map(|b| b * b).sum::<f64>();
        assert!(norm(&tight) < norm(&loose) / 4.0);
    }

    #[test]
    fn separable_data_still_converges_to_finite_weights() {
        let x: Vec<f64> = (0..100).map(|i| f64::from(u8::from(i < 50))).collect();
        let y: Vec<bool> = (0..100).map(|i| i < 50).collect();
        let fit = fit(&x, 1, &y, |_| true, Options::default()).expect("fit");
        assert!(fit.weights[0].is_finite() && fit.weights[0] > 2.0);
    }

    #[test]
    fn one_class_or_bad_shape_is_an_error() {
        assert_eq!(
            fit(&[1.0, 0.0], 1, &[true, true], |_| true, Options::default()),
            Err(FitError::OneClass)
        );
        assert!(matches!(
            fit(&[1.0], 2, &[true], |_| true, Options::default()),
            Err(FitError::Shape(_))
        ));
    }
}
