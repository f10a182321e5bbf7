//! `leadscore tune`: re-weight a model's rules from outcomes, and say whether it helps.
//!
//! 1. Every contact is scored by the base model exactly as `leadscore backtest` scores
//!    it: one millisecond before its outcome (no leakage), else as of `--as-of` (default:
//!    the latest outcome) as not converted.
//! 2. Its features are read off the explanation: per fit rule, 1 when it matched; per
//!    engagement or absence rule, the rule's points before its weight, `(points +
//!    capped) / base points`: the counted occurrences, each after its decay. So the base
//!    model's score (before group caps and the clamp) is exactly `Σ points × feature`,
//!    and a learned weight is a new `points` value for the same rule.
//! 3. An L2-regularised logistic regression (`leadscore_learn::logistic`) learns the
//!    log-odds of converting from those features; the weights become whole points with
//!    one factor that keeps the base model's spread of scores
//!    (`leadscore_learn::tune::to_points`).
//! 4. K-fold cross-validation by contact judges it: per fold, the model learned on the
//!    other folds is written as points and the *real engine* scores the held-out
//!    contacts with them (caps, clamp and all), next to the base model's scores of the
//!    same contacts.
//! 5. The tuned file is the base file with only `points` values changed (`toml_edit`
//!    keeps every comment and layout), written only when it loads as a valid model.
//! 6. Suggestions: attribute values (and numeric bands) and event names that no rule
//!    scores, whose contacts convert far more or less often than the rest.
//!
//! `docs/learning.md` records every decision and its reasons.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use leadscore_engine::{Engine, LineKind, Millis, ScoreResult, Value};
use leadscore_formats::JsonlReader;
use leadscore_learn::logistic::{self, Fit, Options};
use leadscore_learn::tune::{Points, fold_of, lift, suggested_points, to_points, worth_suggesting};
use leadscore_learn::{Observation, roc_auc};
use leadscore_model::CompiledModel;
use leadscore_model::compiled::{Condition, EngagementSource};
use rayon::prelude::*;

use super::backtest::{Outcomes, as_of_or_latest, read_outcomes};
use crate::Outcome;
use crate::batch::{Problems, each_contact, peak_memory, progress_bar};
use crate::crm::CrmArgs;
use crate::history::History;

/// `leadscore tune` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The base model (TOML).
    #[arg(long)]
    model: PathBuf,
    /// Contacts CSV.
    #[arg(long)]
    contacts: PathBuf,
    /// Events JSONL.
    #[arg(long)]
    events: PathBuf,
    /// Outcomes CSV (`id,outcome,at`).
    #[arg(long)]
    outcomes: PathBuf,
    /// Where to write the tuned model (the base file with new `points`).
    #[arg(short = 'o', long = "out", value_name = "TUNED")]
    out: PathBuf,
    /// Cross-validation folds (contacts are split by a hash of id and seed).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=50))]
    folds: u32,
    /// Seed of the fold split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Inverse L2 regularisation strength on standardised features (scikit-learn's
    /// C); default: chosen per fold by an inner cross-validation.
    #[arg(long)]
    c: Option<f64>,
    /// Score contacts without an outcome as of this instant (default: latest outcome).
    #[arg(long, value_name = "RFC3339")]
    as_of: Option<String>,
    /// Also write the features, folds and held-out predictions as CSV (for
    /// `bench/tune_sklearn.py`).
    #[arg(long, value_name = "FILE")]
    features_out: Option<PathBuf>,
    /// Skip the suggestions (they read the events file a second time).
    #[arg(long)]
    no_suggestions: bool,
    /// Stop at the first malformed line or row.
    #[arg(long)]
    strict: bool,
    /// Cleaning a CRM export.
    #[command(flatten)]
    crm: CrmArgs,
}

/// A feature: one rule of the base model.
struct Feature {
    id: String,
    kind: &'static str,
    base: f64,
}

/// What pass 1 keeps of a contact.
struct Seen {
    features: Vec<f64>,
    score: f64,
    converted: bool,
    /// Fit rules that matched (the first 64), for suggestion coverage.
    fit_mask: u64,
    /// The CSV attributes, for suggestions (empty with `--no-suggestions`).
    attributes: Vec<(String, Value)>,
}

/// Run `leadscore tune`.
pub fn run(args: Args) -> Result<Outcome> {
    let started = std::time::Instant::now();
    if let Some(c) = args.c.filter(|c| !(c.is_finite() && *c > 0.0)) {
        bail!("--c: must be a positive number, not {c}");
    }
    let mut problems = Problems {
        strict: args.strict,
        count: 0,
        print: true,
    };
    let outcomes = read_outcomes(&args.outcomes, &mut problems)?;
    let as_of = as_of_or_latest(args.as_of.as_deref(), &outcomes, &args.outcomes)?;
    let base_text = std::fs::read_to_string(&args.model)
        .with_context(|| format!("{}: cannot read the model", args.model.display()))?;
    let Some(model) = super::model::load(&args.model)? else {
        return Ok(Outcome::Invalid);
    };
    let cleaning = args.crm.cleaning(&model);
    let features = features_of(&model);
    if features.is_empty() {
        bail!(
            "{}: the model has no fit or engagement rules: nothing to tune",
            args.model.display()
        );
    }
    let width = features.len();
    let index: HashMap<&str, usize> = features
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    let engine = Engine::new(model.clone());

    // Pass 1: the base model's view of every contact.
    let bar = progress_bar(crate::history::file_size(&args.events)?, "events");
    let history = History::read(
        &args.events,
        &engine,
        leadscore_learn::before::link_horizon(&outcomes, as_of),
        |error| problems.report(error, &bar),
        |bytes| bar.inc(bytes),
    )?;
    bar.finish_and_clear();
    let now_of = |id: &str| {
        let when = leadscore_learn::before::scoring_instant(&outcomes, id, as_of);
        (when.now, when.converted)
    };
    let keep_attributes = !args.no_suggestions;
    let mut ids: Vec<String> = Vec::new();
    let mut x: Vec<f64> = Vec::new();
    let mut seen_rows: Vec<(f64, bool, u64)> = Vec::new();
    let mut attribute_stats = AttributeStats::new(&model);
    let bar = progress_bar(history.keys().len() as u64, "contacts");
    each_contact(
        &args.contacts,
        &cleaning,
        &history,
        &mut problems,
        &bar,
        |id, attributes, contact| {
            let (now, converted) = now_of(id);
            let kept = if keep_attributes {
                attributes
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect()
            } else {
                Vec::new()
            };
            let (events, identifies) = history.contact_history(contact);
            let result = engine.score_classified(attributes, events, identifies, &[], now);
            let (features, fit_mask) = features_from(&result, &features, &index);
            Seen {
                features,
                score: result.clamped,
                converted,
                fit_mask,
                attributes: kept,
            }
        },
        |id, seen| {
            ids.push(id.to_owned());
            x.extend_from_slice(&seen.features);
            attribute_stats.add(&seen.attributes, seen.converted, seen.fit_mask);
            seen_rows.push((seen.score, seen.converted, seen.fit_mask));
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    let n = ids.len();
    let y: Vec<bool> = seen_rows.iter().map(|r| r.1).collect();
    let converters = y.iter().filter(|c| **c).count();
    if converters == 0 || converters == n {
        bail!(
            "{}: {} of {n} contacts converted: tuning needs converters and non-converters",
            args.outcomes.display(),
            converters
        );
    }
    let folds: Vec<u32> = ids
        .iter()
        .map(|id| fold_of(id, args.seed, args.folds))
        .collect();
    let base_points: Vec<f64> = features.iter().map(|f| f.base).collect();
    // Inner folds for choosing C: another hash of the id, independent of the outer one.
    let inner: Vec<u32> = ids
        .iter()
        .map(|id| {
            fold_of(
                id,
                args.seed ^ 0x005e_ed0f_1ea7,
                logistic::INNER_FOLDS as u32,
            )
        })
        .collect();
    let options_for = |train: &(dyn Fn(usize) -> bool + Sync)| Options {
        c: args.c.unwrap_or_else(|| {
            logistic::choose_c(
                &x,
                width,
                &y,
                train,
                |i| inner[i] as usize,
                Options::default(),
            )
        }),
        ..Options::default()
    };
    // Features constant over all contacts carry no evidence: their rules keep the base
    // points (see docs/learning.md).
    let constant: Vec<bool> = (0..width)
        .map(|j| (0..n).all(|i| x[i * width + j] == x[j]))
        .collect();

    // Cross-validation: learn on K-1 folds, score the held-out fold.
    let mut fold_points: Vec<Option<Vec<f64>>> = Vec::new();
    let mut held_out_log_odds = vec![f64::NAN; n];
    let mut fold_c = vec![f64::NAN; args.folds as usize];
    for f in 0..args.folds {
        let train = |i: usize| folds[i] != f;
        let options = options_for(&train);
        fold_c[f as usize] = options.c;
        match logistic::fit(&x, width, &y, train, options) {
            Ok(fit) => {
                for i in (0..n).filter(|&i| folds[i] == f) {
                    held_out_log_odds[i] = fit.log_odds(&x[i * width..(i + 1) * width]);
                }
                let points = whole_points(&fit, &base_points, &constant, &x, train);
                fold_points.push(Some(points));
            }
            // A fold whose training part has one class only: nothing to learn there.
            Err(_) => fold_points.push(None),
        }
    }
    let fold_engines: Vec<Option<Engine>> = fold_points
        .iter()
        .map(|p| p.as_ref().map(|p| Engine::new(with_points(&model, p))))
        .collect();

    // Pass 2: the real engine with each fold's points scores that fold's contacts.
    let bar = progress_bar(history.keys().len() as u64, "contacts");
    let mut tuned_scores: Vec<f64> = Vec::with_capacity(n);
    let mut quiet = Problems {
        strict: args.strict,
        count: 0,
        print: false,
    };
    each_contact(
        &args.contacts,
        &cleaning,
        &history,
        &mut quiet,
        &bar,
        |id, attributes, contact| {
            let fold = fold_of(id, args.seed, args.folds) as usize;
            let engine = fold_engines[fold].as_ref()?;
            let (now, _) = now_of(id);
            let (events, identifies) = history.contact_history(contact);
            Some(
                engine
                    .score_classified(attributes, events, identifies, &[], now)
                    .clamped,
            )
        },
        |_, score| {
            tuned_scores.push(score.unwrap_or(f64::NAN));
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    if tuned_scores.len() != n {
        bail!("the contacts file changed while tune was reading it");
    }

    // The final model: learned on every contact.
    let options = options_for(&|_| true);
    let fit = logistic::fit(&x, width, &y, |_| true, options)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.outcomes.display()))?;
    let final_points = whole_points(&fit, &base_points, &constant, &x, |_| true);
    let mapping = to_points(&fit.weights, &base_points, &x, |_| true);
    let tuned_text = edit_points(&base_text, &features, &final_points)
        .with_context(|| format!("{}: cannot edit the model", args.model.display()))?;
    let out_name = args.out.display().to_string();
    if let Err(diagnostics) = leadscore_model::load(&out_name, &tuned_text) {
        for d in diagnostics {
            eprintln!("{d}");
        }
        bail!("{out_name}: the tuned model does not load; not written");
    }
    std::fs::write(&args.out, &tuned_text)
        .with_context(|| format!("{out_name}: cannot write the tuned model"))?;

    if let Some(path) = &args.features_out {
        let c: Vec<f64> = folds.iter().map(|&f| fold_c[f as usize]).collect();
        let rows = Rows {
            ids: &ids,
            folds: &folds,
            c: &c,
            y: &y,
            seen: &seen_rows,
            x: &x,
            held_out: &held_out_log_odds,
        };
        write_features(path, &features, &rows)?;
    }

    // Figures.
    let per_fold = |score: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..args.folds)
            .filter_map(|f| {
                let obs: Vec<Observation> = (0..n)
                    .filter(|&i| folds[i] == f && !score(i).is_nan())
                    .map(|i| Observation {
                        score: score(i),
                        qualified: false,
                        converted: y[i],
                    })
                    .collect();
                roc_auc(&obs)
            })
            .collect()
    };
    let base_auc = per_fold(&|i| seen_rows[i].0);
    let lr_auc = per_fold(&|i| held_out_log_odds[i]);
    let tuned_auc = per_fold(&|i| tuned_scores[i]);

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "leadscore tune: {} -> {}",
        args.model.display(),
        args.out.display()
    )?;
    let fold_cs: Vec<String> = fold_c.iter().map(|c| format!("{c}")).collect();
    writeln!(
        out,
        "{n} contacts ({converters} converted), {width} rules as features; L2 logistic regression, {}-fold cross-validation by contact (seed {})",
        args.folds, args.seed
    )?;
    writeln!(
        out,
        "C = {} for the tuned model ({}); per fold {}",
        options.c,
        if args.c.is_some() {
            "--c"
        } else {
            "chosen by 3-fold cross-validation inside the training contacts"
        },
        fold_cs.join(", ")
    )?;
    writeln!(
        out,
        "points = learned log-odds x {:.2} (the base model's spread of scores); whole points, half away from zero\n",
        mapping.scale
    )?;
    print_diff(&mut out, &features, &final_points, &fit, &constant, &x, &y)?;
    writeln!(out)?;
    writeln!(
        out,
        "held-out ROC AUC ({} folds, mean ± sd over folds)",
        base_auc.len()
    )?;
    writeln!(out, "  base model            {}", mean_sd(&base_auc))?;
    writeln!(
        out,
        "  logistic regression   {}   (its log-odds; bench/tune_sklearn.py checks this)",
        mean_sd(&lr_auc)
    )?;
    writeln!(
        out,
        "  tuned model           {}   (whole points, scored by the engine: caps, clamp)",
        mean_sd(&tuned_auc)
    )?;
    let (b, t) = (mean(&base_auc), mean(&tuned_auc));
    // Better means better by more than the noise between folds.
    let noise = sd(&diffs(&tuned_auc, &base_auc)) / (tuned_auc.len().max(1) as f64).sqrt();
    if t > b + noise.max(0.001) {
        writeln!(
            out,
            "verdict: the tuned model ranks held-out contacts better than the base model (AUC +{:.3}).",
            t - b
        )?;
    } else {
        writeln!(
            out,
            "verdict: the tuned model is NOT better than the base model on held-out contacts (AUC {:+.3}); keep the base model.",
            t - b
        )?;
    }

    if !args.no_suggestions {
        writeln!(out)?;
        let totals = (n as u64, converters as u64);
        let mut suggestions = attribute_stats.suggestions(totals, mapping.scale);
        suggestions.extend(event_suggestions(
            &args.events,
            &engine,
            &history,
            &outcomes,
            as_of,
            totals,
            mapping.scale,
        )?);
        print_suggestions(&mut out, &mut suggestions)?;
    }
    if problems.count > 0 {
        eprintln!("leadscore: {} malformed lines/rows skipped", problems.count);
    }
    if std::env::var_os("LEADSCORE_TIMINGS").is_some() {
        eprintln!(
            "leadscore: tune took {:.2}s (peak {})",
            started.elapsed().as_secs_f64(),
            peak_memory()
        );
    }
    Ok(Outcome::Success)
}

/// The model's fit rules, then its engagement rules, in model order.
fn features_of(model: &CompiledModel) -> Vec<Feature> {
    let fit = model.fit.iter().map(|r| Feature {
        id: r.id.clone(),
        kind: "fit",
        base: r.points,
    });
    let engagement = model.engagement.iter().map(|r| Feature {
        id: r.id.clone(),
        kind: match r.source {
            EngagementSource::Event { .. } => "engagement",
            EngagementSource::Absence { .. } => "absence",
        },
        base: r.points,
    });
    fit.chain(engagement).collect()
}

/// A contact's features from its explanation (see the module docs), and the mask of
/// the fit rules that matched.
fn features_from(
    result: &ScoreResult,
    features: &[Feature],
    index: &HashMap<&str, usize>,
) -> (Vec<f64>, u64) {
    let mut row = vec![0.0; features.len()];
    let mut mask = 0u64;
    for line in &result.explain {
        let Some(&j) = index.get(line.rule.as_str()) else {
            continue;
        };
        row[j] = match line.kind {
            LineKind::Fit => {
                if j < 64 {
                    mask |= 1 << j;
                }
                1.0
            }
            LineKind::Engagement | LineKind::Absence => {
                // The points before the group cap, per point of the rule: the decayed
                // count. A rule worth 0 points leaves no trace of its decay, so it
                // counts plain occurrences.
                if features[j].base != 0.0 {
                    (line.points + line.capped) / features[j].base
                } else {
                    f64::from(line.count)
                }
            }
            _ => continue,
        };
    }
    (row, mask)
}

/// Whole points for a fit; rules with a constant feature keep their base points.
fn whole_points(
    fit: &Fit,
    base: &[f64],
    constant: &[bool],
    x: &[f64],
    keep: impl Fn(usize) -> bool,
) -> Vec<f64> {
    let Points { whole, .. } = to_points(&fit.weights, base, x, keep);
    whole
        .iter()
        .zip(base)
        .zip(constant)
        .map(|((w, b), c)| if *c { *b } else { *w })
        .collect()
}

/// The model with new points (fit rules first, then engagement rules).
fn with_points(model: &CompiledModel, points: &[f64]) -> CompiledModel {
    let mut model = model.clone();
    let fits = model.fit.len();
    for (rule, p) in model.fit.iter_mut().zip(points) {
        rule.points = *p;
    }
    for (rule, p) in model.engagement.iter_mut().zip(&points[fits..]) {
        rule.points = *p;
    }
    model
}

/// The base model's text with only the `points` values of its rules replaced; every
/// comment, blank line and key order stays.
fn edit_points(text: &str, features: &[Feature], points: &[f64]) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("not valid TOML")?;
    let wanted: HashMap<(&str, &str), f64> = features
        .iter()
        .zip(points)
        .map(|(f, p)| {
            let section = if f.kind == "fit" { "fit" } else { "engagement" };
            ((section, f.id.as_str()), *p)
        })
        .collect();
    let mut done = 0;
    for section in ["fit", "engagement"] {
        let Some(item) = doc.get_mut(section) else {
            continue;
        };
        let mut set = |table: &mut dyn toml_edit::TableLike| {
            let id = table.get("id").and_then(|v| v.as_str()).map(str::to_owned);
            let Some(&p) = id.as_deref().and_then(|id| wanted.get(&(section, id))) else {
                return;
            };
            if let Some(value) = table.get_mut("points").and_then(|i| i.as_value_mut()) {
                // Keep the spacing and the comment after the value.
                let decor = value.decor().clone();
                *value = toml_edit::Value::from(p as i64);
                *value.decor_mut() = decor;
                done += 1;
            }
        };
        if let Some(tables) = item.as_array_of_tables_mut() {
            for table in tables.iter_mut() {
                set(table);
            }
        } else if let Some(array) = item.as_array_mut() {
            for value in array.iter_mut() {
                if let Some(table) = value.as_inline_table_mut() {
                    set(table);
                }
            }
        }
    }
    if done != features.len() {
        bail!(
            "found the `points` of {done} of {} rules in the file",
            features.len()
        );
    }
    Ok(doc.to_string())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt()
}

fn diffs(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a - b).collect()
}

fn mean_sd(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    format!("{:.3} ± {:.3}", mean(v), sd(v))
}

/// The readable diff: rule, old points, new points, and the evidence.
fn print_diff(
    out: &mut impl Write,
    features: &[Feature],
    points: &[f64],
    fit: &Fit,
    constant: &[bool],
    x: &[f64],
    y: &[bool],
) -> Result<()> {
    let width = features.len();
    writeln!(
        out,
        "{:<28} {:<10} {:>6} {:>6} {:>8}  {:>10} {:>10}",
        "rule", "kind", "old", "new", "log-odds", "conv. with", "others with"
    )?;
    for (j, f) in features.iter().enumerate() {
        let (mut conv, mut nconv, mut cn, mut nn) = (0u64, 0u64, 0u64, 0u64);
        for (i, &c) in y.iter().enumerate() {
            let fired = x[i * width + j] != 0.0;
            if c {
                cn += 1;
                conv += u64::from(fired);
            } else {
                nn += 1;
                nconv += u64::from(fired);
            }
        }
        let share = |a: u64, b: u64| format!("{:.1}%", 100.0 * a as f64 / b.max(1) as f64);
        let marker = if constant[j] {
            "  (never varies: kept)"
        } else if points[j] != f.base {
            "  *"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<28} {:<10} {:>6} {:>6} {:>+8.3}  {:>10} {:>10}{marker}",
            f.id,
            f.kind,
            leadscore_engine::condition::format_number(f.base),
            leadscore_engine::condition::format_number(points[j]),
            fit.weights[j],
            share(conv, cn),
            share(nconv, nn),
        )?;
    }
    Ok(())
}

/// Everything `--features-out` writes, per contact.
struct Rows<'a> {
    ids: &'a [String],
    folds: &'a [u32],
    c: &'a [f64],
    y: &'a [bool],
    seen: &'a [(f64, bool, u64)],
    x: &'a [f64],
    held_out: &'a [f64],
}

fn write_features(path: &Path, features: &[Feature], rows: &Rows<'_>) -> Result<()> {
    let Rows {
        ids,
        folds,
        c,
        y,
        seen,
        x,
        held_out,
    } = rows;
    let name = path.display().to_string();
    let file = std::fs::File::create(path).with_context(|| format!("{name}: cannot create"))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let width = features.len();
    let mut header = vec![
        "id".to_owned(),
        "fold".into(),
        "c".into(),
        "converted".into(),
        "base_score".into(),
        "ours_log_odds".into(),
    ];
    header.extend(features.iter().map(|f| f.id.clone()));
    w.write_record(&header)
        .with_context(|| format!("{name}: cannot write"))?;
    for i in 0..ids.len() {
        let mut record = vec![
            ids[i].clone(),
            folds[i].to_string(),
            c[i].to_string(),
            u8::from(y[i]).to_string(),
            seen[i].0.to_string(),
            held_out[i].to_string(),
        ];
        record.extend(x[i * width..(i + 1) * width].iter().map(f64::to_string));
        w.write_record(&record)
            .with_context(|| format!("{name}: cannot write"))?;
    }
    w.flush().with_context(|| format!("{name}: cannot write"))?;
    Ok(())
}

/// A suggested rule.
struct Suggestion {
    what: String,
    note: String,
    lift: leadscore_learn::tune::Lift,
    points: f64,
}

/// Columns with more distinct values than this are free text (names, e-mails):
/// no value suggestions, numeric bands only.
const MAX_DISTINCT: usize = 200;
/// Numeric columns with more distinct values than this are split into bands.
const BAND_ABOVE: usize = 20;
/// Bands per numeric column (equal counts).
const BANDS: usize = 5;
/// A value is "scored" when a fit rule reading its column matched at least this share
/// of the contacts with it.
const COVERED: f64 = 0.8;

/// Per attribute column: contacts and converters per value, and the numbers.
struct AttributeStats {
    /// Per fit rule (first 64): the attribute fields its condition reads.
    rule_fields: Vec<Vec<String>>,
    columns: HashMap<String, Column>,
}

#[derive(Default)]
struct Column {
    values: HashMap<String, ValueCount>,
    overflow: bool,
    all_numbers: bool,
    seen: u64,
    numbers: Vec<(f64, bool, u64)>,
}

#[derive(Default)]
struct ValueCount {
    contacts: u64,
    converters: u64,
    /// Contacts with this value per fit rule that matched them.
    fired: HashMap<usize, u64>,
}

impl AttributeStats {
    fn new(model: &CompiledModel) -> Self {
        let rule_fields = model
            .fit
            .iter()
            .take(64)
            .map(|r| {
                let mut fields = Vec::new();
                fields_of(&r.when, &mut fields);
                fields
            })
            .collect();
        AttributeStats {
            rule_fields,
            columns: HashMap::new(),
        }
    }

    fn add(&mut self, attributes: &[(String, Value)], converted: bool, fit_mask: u64) {
        for (name, value) in attributes {
            if name == "email" {
                continue; // one per contact; its domain is what rules look at
            }
            let column = self.columns.entry(name.clone()).or_insert_with(|| Column {
                all_numbers: true,
                ..Column::default()
            });
            column.seen += 1;
            let number = leadscore_engine::condition::number(value.as_ref());
            match number {
                Some(v) if column.all_numbers => column.numbers.push((v, converted, fit_mask)),
                _ => {
                    column.all_numbers = false;
                    column.numbers = Vec::new();
                }
            }
            if column.overflow {
                continue;
            }
            let text = leadscore_engine::condition::text(value.as_ref()).into_owned();
            if !column.values.contains_key(&text) && column.values.len() >= MAX_DISTINCT {
                column.overflow = true;
                column.values = HashMap::new();
                continue;
            }
            let count = column.values.entry(text).or_default();
            count.contacts += 1;
            count.converters += u64::from(converted);
            for (r, fields) in self.rule_fields.iter().enumerate() {
                if fit_mask & (1 << r) != 0 && fields.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                    *count.fired.entry(r).or_default() += 1;
                }
            }
        }
    }

    fn covered(&self, name: &str, contacts: u64, fired: impl Fn(usize) -> u64) -> bool {
        self.rule_fields.iter().enumerate().any(|(r, fields)| {
            fields.iter().any(|f| f.eq_ignore_ascii_case(name))
                && fired(r) as f64 >= COVERED * contacts as f64
        })
    }

    fn suggestions(&mut self, (total, total_conv): (u64, u64), scale: f64) -> Vec<Suggestion> {
        let mut out = Vec::new();
        let mut names: Vec<&String> = self.columns.keys().collect();
        names.sort();
        for name in names {
            let column = &self.columns[name];
            let banded = column.all_numbers && column.values.len() > BAND_ABOVE || column.overflow;
            if !banded {
                for (value, count) in &column.values {
                    let l = lift(count.contacts, count.converters, total, total_conv);
                    if worth_suggesting(&l, total)
                        && !self.covered(name, count.contacts, |r| {
                            count.fired.get(&r).copied().unwrap_or(0)
                        })
                    {
                        out.push(Suggestion {
                            what: format!("{name} = \"{value}\""),
                            note: String::new(),
                            lift: l,
                            points: suggested_points(&l, scale),
                        });
                    }
                }
            } else if column.all_numbers && !column.numbers.is_empty() {
                let mut numbers = column.numbers.clone();
                numbers.sort_by(|a, b| a.0.total_cmp(&b.0));
                let len = numbers.len();
                let mut start = 0;
                for b in 1..=BANDS {
                    let mut end = (b * len / BANDS).max(start);
                    // Equal values stay in one band.
                    while end < len && end > start && numbers[end].0 == numbers[end - 1].0 {
                        end += 1;
                    }
                    if end <= start {
                        continue;
                    }
                    let band = &numbers[start..end];
                    let (lo, hi) = (band[0].0, numbers.get(end).map(|n| n.0));
                    start = end;
                    let conv = band.iter().filter(|n| n.1).count() as u64;
                    let l = lift(band.len() as u64, conv, total, total_conv);
                    let fired =
                        |r: usize| band.iter().filter(|n| n.2 & (1 << r) != 0).count() as u64;
                    if worth_suggesting(&l, total) && !self.covered(name, band.len() as u64, fired)
                    {
                        let fmt = leadscore_engine::condition::format_number;
                        let what = match hi {
                            Some(hi) => format!("{name} >= {} and < {}", fmt(lo), fmt(hi)),
                            None => format!("{name} >= {}", fmt(lo)),
                        };
                        out.push(Suggestion {
                            what,
                            note: "numeric band".into(),
                            lift: l,
                            points: suggested_points(&l, scale),
                        });
                    }
                }
            }
        }
        out
    }
}

/// The attribute fields a condition reads.
fn fields_of(condition: &Condition, out: &mut Vec<String>) {
    match condition {
        Condition::Field { field, .. } => {
            out.push(field.clone());
            if field.eq_ignore_ascii_case("email_domain") {
                out.push("email".into());
            }
        }
        Condition::All(items) | Condition::Any(items) => {
            items.iter().for_each(|c| fields_of(c, out));
        }
        Condition::Not(inner) => fields_of(inner, out),
        _ => {}
    }
}

/// Event names no engagement rule scores, with their lift: a second, parallel read of
/// the events file (the history keeps only events the model looks at). An event counts
/// for a contact when its `userId` is the contact and it happened before the instant
/// the contact is scored at, as for features.
fn event_suggestions(
    path: &Path,
    engine: &Engine,
    history: &History,
    outcomes: &Outcomes,
    as_of: Millis,
    (total, total_conv): (u64, u64),
    scale: f64,
) -> Result<Vec<Suggestion>> {
    let model = engine.model();
    let name_of = |id: usize| model.event_names.get(id).map(|s| s.to_lowercase());
    let mut scored: Vec<String> = Vec::new();
    for rule in &model.engagement {
        match &rule.source {
            EngagementSource::Event { event, .. } => scored.extend(name_of(*event as usize)),
            EngagementSource::Absence { after, .. } => scored.extend(name_of(*after as usize)),
        }
    }
    let keys = history.keys();
    let cutoff: Vec<(Millis, bool)> = keys
        .iter()
        .map(|k| {
            let when = leadscore_learn::before::scoring_instant(outcomes, &k.id, as_of);
            (when.now, when.converted)
        })
        .collect();
    let mut reader = JsonlReader::open(path)?;
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let words = keys.len().div_ceil(64);
    let batch = rayon::current_num_threads().max(1) * 4;
    loop {
        let mut chunks = Vec::with_capacity(batch);
        while chunks.len() < batch {
            match reader.read_chunk(1 << 20) {
                Ok(Some(chunk)) => chunks.push(chunk),
                Ok(None) => break,
                Err(e) => return Err(e.into()),
            }
        }
        if chunks.is_empty() {
            break;
        }
        let found: Vec<Vec<(String, u32)>> = chunks
            .par_iter()
            .map(|chunk| {
                let mut found = Vec::new();
                for (_, line) in chunk.lines() {
                    // Malformed lines were reported by the first read.
                    let Ok(message) = leadscore_formats::parse_message(line) else {
                        continue;
                    };
                    if !message.kind.is_event() {
                        continue;
                    }
                    let Some(contact) = message.user_id.as_deref().and_then(|u| history.contact(u))
                    else {
                        continue;
                    };
                    if message.timestamp > cutoff[contact as usize].0 {
                        continue;
                    }
                    let name = message.event_name().to_lowercase();
                    if !scored.contains(&name) {
                        found.push((message.event_name().to_owned(), contact));
                    }
                }
                found
            })
            .collect();
        for (name, contact) in found.into_iter().flatten() {
            let key = seen
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&name))
                .cloned()
                .unwrap_or(name);
            let bits = seen.entry(key).or_insert_with(|| vec![0; words]);
            bits[contact as usize / 64] |= 1 << (contact % 64);
        }
    }
    let in_stages = |name: &str| {
        model
            .stages
            .iter()
            .filter(|s| s.when.as_ref().is_some_and(|w| names_event(w, model, name)))
            .map(|s| s.id.clone())
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    for (name, bits) in seen {
        let (mut contacts, mut converters) = (0u64, 0u64);
        for (i, key) in keys.iter().enumerate() {
            if key.anonymous || bits[i / 64] & (1 << (i % 64)) == 0 {
                continue;
            }
            contacts += 1;
            converters += u64::from(cutoff[i].1);
        }
        let l = lift(contacts, converters, total, total_conv);
        if worth_suggesting(&l, total) {
            let stages = in_stages(&name);
            let note = if stages.is_empty() {
                "event".to_owned()
            } else {
                format!(
                    "event; stage {} names it: part of the sales process, beware",
                    stages.join(", ")
                )
            };
            out.push(Suggestion {
                what: format!("event \"{name}\""),
                note,
                lift: l,
                points: suggested_points(&l, scale),
            });
        }
    }
    Ok(out)
}

/// Whether a condition counts the event `name`.
fn names_event(condition: &Condition, model: &CompiledModel, name: &str) -> bool {
    match condition {
        Condition::EventCount { event, .. } => model
            .event_names
            .get(*event as usize)
            .is_some_and(|n| n.eq_ignore_ascii_case(name)),
        Condition::All(items) | Condition::Any(items) => {
            items.iter().any(|c| names_event(c, model, name))
        }
        Condition::Not(inner) => names_event(inner, model, name),
        _ => false,
    }
}

fn print_suggestions(out: &mut impl Write, suggestions: &mut [Suggestion]) -> Result<()> {
    suggestions.sort_by(|a, b| b.lift.z.abs().total_cmp(&a.lift.z.abs()));
    if suggestions.is_empty() {
        writeln!(
            out,
            "suggested rules: none (no unscored attribute value or event converts differently enough)"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "suggested rules: no rule scores these, and their contacts convert differently"
    )?;
    writeln!(
        out,
        "{:<44} {:>8} {:>10} {:>7} {:>6} {:>6} {:>7}  note",
        "what", "contacts", "converters", "rate", "lift", "z", "points"
    )?;
    for s in suggestions.iter().take(15) {
        writeln!(
            out,
            "{:<44} {:>8} {:>10} {:>6.1}% {:>6.2} {:>6.1} {:>+7}  {}",
            s.what,
            s.lift.contacts,
            s.lift.converters,
            s.lift.rate * 100.0,
            s.lift.lift,
            s.lift.z,
            s.points,
            s.note
        )?;
    }
    Ok(())
}
