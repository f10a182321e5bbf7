//! `leadscore backtest`: what a model (and a baseline) would have made of history.
//!
//! Every contact with an outcome is scored as of one millisecond before that outcome,
//! so that nothing that happened later can explain it (no leakage); contacts without
//! an outcome are scored as of `--as-of` (default: the latest outcome) and count as not
//! converted. A contact is qualified when it reached the model's second stage (its
//! MQL) or later, or, with `--threshold N`, when its score is at least N. The figures
//! come from `leadscore-learn`.
//!
//! Each model classifies events its own way, so the events file is read once per
//! model.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use leadscore_engine::{Engine, Millis, ScoreResult};
use leadscore_formats::{Cleaning, OutcomesReader, parse_timestamp};
use leadscore_learn::before::{
    FirstOutcomes, Instant, backtest_json, link_horizon, observation, scoring_instant,
};
use leadscore_learn::{Evaluation, evaluate};

use crate::Outcome;
use crate::batch::{Problems, each_contact, progress_bar};
use crate::crm::CrmArgs;
use crate::history::History;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Table,
    /// One JSON object with both evaluations.
    Json,
}

/// `leadscore backtest` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The candidate model.
    #[arg(long)]
    model: PathBuf,
    /// The model to compare with (usually the one in production).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Contacts CSV.
    #[arg(long)]
    contacts: PathBuf,
    /// Events JSONL.
    #[arg(long)]
    events: PathBuf,
    /// Outcomes CSV (`id,outcome,at`).
    #[arg(long)]
    outcomes: PathBuf,
    /// Qualify contacts by score >= N instead of by the model's second stage.
    #[arg(long)]
    threshold: Option<f64>,
    /// Score contacts without an outcome as of this instant (default: latest outcome).
    #[arg(long, value_name = "RFC3339")]
    as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Stop at the first malformed line or row.
    #[arg(long)]
    strict: bool,
    /// Cleaning a CRM export.
    #[command(flatten)]
    crm: CrmArgs,
}

/// Each contact's first outcome: when, and whether it is a conversion.
pub(super) type Outcomes = FirstOutcomes;

/// Run `leadscore backtest`.
pub fn run(args: Args) -> Result<Outcome> {
    let mut problems = Problems {
        strict: args.strict,
        count: 0,
        print: true,
    };
    let outcomes = read_outcomes(&args.outcomes, &mut problems)?;
    let as_of = as_of_or_latest(args.as_of.as_deref(), &outcomes, &args.outcomes)?;
    let mut results = Vec::new();
    for (i, path) in std::iter::once(&args.model)
        .chain(args.baseline.as_ref())
        .enumerate()
    {
        let Some(model) = super::model::load(path)? else {
            return Ok(Outcome::Invalid);
        };
        let engine = Engine::new(model);
        // The second reading of the same files reports nothing new: count quietly.
        let mut quiet = Problems {
            strict: args.strict,
            count: 0,
            print: false,
        };
        let report = if i == 0 { &mut problems } else { &mut quiet };
        let evaluation = backtest(&engine, &args, &outcomes, as_of, report)?;
        results.push((path.display().to_string(), evaluation));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Json => writeln!(out, "{}", backtest_json(&results))?,
        Format::Table => print_tables(&mut out, &results, args.threshold)?,
    }
    if problems.count > 0 {
        eprintln!("leadscore: {} malformed lines/rows skipped", problems.count);
    }
    Ok(Outcome::Success)
}

pub(super) fn read_outcomes(path: &Path, problems: &mut Problems) -> Result<Outcomes> {
    let bar = indicatif::ProgressBar::hidden();
    let mut outcomes = Outcomes::new();
    for row in OutcomesReader::open(path)? {
        match row {
            // The first outcome of a contact is the one its history led to.
            Ok(row) => outcomes.add(row.id, row.at, row.outcome.is_positive()),
            Err(error) if error.is_fatal() => bail!("{error}"),
            Err(error) => problems.report(&error, &bar)?,
        }
    }
    Ok(outcomes)
}

fn backtest(
    engine: &Engine,
    args: &Args,
    outcomes: &Outcomes,
    as_of: Millis,
    problems: &mut Problems,
) -> Result<Evaluation> {
    let observations = score_before_outcomes(
        engine,
        (&args.contacts, &args.crm.cleaning(engine.model())),
        &args.events,
        outcomes,
        as_of,
        problems,
        |_, result, _, when| observation(engine.model(), &result, when.converted, args.threshold),
    )?;
    Ok(evaluate(&observations))
}

/// `--as-of` for contacts without an outcome: as given, else the latest outcome.
pub(super) fn as_of_or_latest(
    as_of: Option<&str>,
    outcomes: &Outcomes,
    outcomes_path: &Path,
) -> Result<Millis> {
    match as_of {
        Some(text) => parse_timestamp(text)
            .with_context(|| format!("--as-of: `{text}` is not an RFC 3339 timestamp")),
        None => match outcomes.latest() {
            Some(latest) => Ok(latest),
            None => bail!(
                "{}: no outcomes: nothing to test against",
                outcomes_path.display()
            ),
        },
    }
}

/// Score every contact as of one millisecond before its outcome (contacts without one
/// as of `as_of`), so that nothing after the outcome can explain it
/// (`leadscore_learn::before`), and map each result with the contact's id, when its
/// stages were entered and when it was scored. In contacts-file order.
pub(super) fn score_before_outcomes<T: Send>(
    engine: &Engine,
    contacts: (&Path, &Cleaning),
    events: &Path,
    outcomes: &Outcomes,
    as_of: Millis,
    problems: &mut Problems,
    map: impl Fn(&str, ScoreResult, Vec<Millis>, Instant) -> T + Sync,
) -> Result<Vec<T>> {
    let history = read_history(engine, events, outcomes, as_of, problems)?;
    score_each(
        engine,
        contacts,
        &history,
        problems,
        |id| Some(scoring_instant(outcomes, id, as_of)),
        map,
    )
}

/// The events file read for scoring contacts before their outcomes: links count up to
/// [`link_horizon`].
pub(super) fn read_history(
    engine: &Engine,
    events: &Path,
    outcomes: &Outcomes,
    as_of: Millis,
    problems: &mut Problems,
) -> Result<History> {
    let bar = progress_bar(crate::history::file_size(events)?, "events");
    let history = History::read(
        events,
        engine,
        link_horizon(outcomes, as_of),
        |error| problems.report(error, &bar),
        |bytes| bar.inc(bytes),
    )?;
    bar.finish_and_clear();
    Ok(history)
}

/// Score every contact that `instant` gives an instant for (the others are skipped),
/// mapping each result as [`score_before_outcomes`] does. In contacts-file order.
pub(super) fn score_each<T: Send>(
    engine: &Engine,
    (contacts, cleaning): (&Path, &Cleaning),
    history: &History,
    problems: &mut Problems,
    instant: impl Fn(&str) -> Option<Instant> + Sync,
    map: impl Fn(&str, ScoreResult, Vec<Millis>, Instant) -> T + Sync,
) -> Result<Vec<T>> {
    let bar = progress_bar(history.keys().len() as u64, "contacts");
    let mut mapped = Vec::new();
    each_contact(
        contacts,
        cleaning,
        history,
        problems,
        &bar,
        |id, attributes, contact| {
            let when = instant(id)?;
            let (events, identifies) = history.contact_history(contact);
            let (result, stage_times) =
                engine.score_classified_timed(attributes, events, identifies, &[], when.now);
            Some(map(id, result, stage_times, when))
        },
        |_, value| {
            mapped.extend(value);
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    Ok(mapped)
}

/// One row of the comparison table: how to print a figure of an evaluation.
type Figure = dyn Fn(&Evaluation) -> String;

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |x| format!("{:.1}%", x * 100.0))
}

pub(super) fn print_tables(
    out: &mut impl Write,
    results: &[(String, Evaluation)],
    threshold: Option<f64>,
) -> Result<()> {
    let qualified = match threshold {
        Some(t) => format!("qualified (score >= {t})"),
        None => "qualified (MQL stage or later)".to_owned(),
    };
    write!(out, "{:<32}", "")?;
    for (name, _) in results {
        write!(out, "{name:>24}")?;
    }
    writeln!(out)?;
    let rows: [(&str, &Figure); 9] = [
        ("contacts", &|e| e.contacts.to_string()),
        ("converters", &|e| e.converters.to_string()),
        (&qualified, &|e| e.qualified.to_string()),
        ("precision of qualification", &|e| percent(e.precision)),
        ("recall of qualification", &|e| percent(e.recall)),
        ("converters in top 10%", &|e| percent(e.top10_capture)),
        ("converters in top 20%", &|e| percent(e.top20_capture)),
        ("ROC AUC", &|e| {
            e.auc.map_or_else(|| "-".to_owned(), |a| format!("{a:.3}"))
        }),
        ("qualified converters", &|e| {
            e.qualified_converters.to_string()
        }),
    ];
    for (label, value) in rows {
        write!(out, "{label:<32}")?;
        for (_, e) in results {
            write!(out, "{:>24}", value(e))?;
        }
        writeln!(out)?;
    }
    for (name, e) in results {
        writeln!(out, "\ncalibration of {name} (score deciles, lowest first)")?;
        writeln!(
            out,
            "{:>12} {:>12} {:>10} {:>10} {:>10}",
            "from", "to", "contacts", "converted", "rate"
        )?;
        for band in &e.calibration {
            writeln!(
                out,
                "{:>12.1} {:>12.1} {:>10} {:>10} {:>9.1}%",
                band.from,
                band.to,
                band.contacts,
                band.converters,
                band.rate * 100.0
            )?;
        }
    }
    Ok(())
}
