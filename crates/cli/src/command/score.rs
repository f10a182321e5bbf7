//! `leadscore score`: batch scoring from files, no server, no database.
//!
//! Two passes, so memory holds a few bytes per event and never the raw JSON:
//!
//! 1. the events file is parsed on every core, each event classified against the model
//!    and kept as a compact record grouped by contact ([`crate::history`]);
//! 2. the contacts CSV is streamed; each batch of rows is scored in parallel and written
//!    in file order. Contacts that appear only in events follow, in first-seen order.
//!
//! Malformed lines and rows are reported on stderr with file and line and skipped, and
//! counted in the closing summary; `--strict` makes the first one fatal (exit 1).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use leadscore_engine::{Attributes, Engine, Millis, ScoreResult};
use leadscore_formats::{ContactsReader, CsvWriter, JsonlWriter, parse_timestamp};
use rayon::prelude::*;

use crate::Outcome;
use crate::history::History;

/// Contacts scored per parallel batch.
const BATCH: usize = 8192;
/// Malformed lines printed one by one before only counting the rest.
const PRINT_LIMIT: u64 = 1000;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line (the documented result shape).
    Jsonl,
    /// A CSV table, one row per contact, one column per group.
    Csv,
}

/// `leadscore score` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scoring model (TOML).
    #[arg(long)]
    model: PathBuf,
    /// Contacts CSV (column `id`, or `email` when there is no `id`).
    #[arg(long)]
    contacts: PathBuf,
    /// Events JSONL (Segment spec: track, page, identify, alias).
    #[arg(long)]
    events: PathBuf,
    /// Score as of this instant (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Include the explanation, one line per contributing rule.
    #[arg(long)]
    explain: bool,
    /// Stop at the first malformed line or row instead of reporting and skipping it.
    #[arg(long)]
    strict: bool,
}

/// Results go to one of the two writers.
enum Writer<W: Write> {
    Jsonl(JsonlWriter<W>),
    Csv(Box<CsvWriter<W>>),
}

impl<W: Write> Writer<W> {
    fn write(&mut self, id: &str, as_of: Millis, result: &ScoreResult) -> std::io::Result<()> {
        match self {
            Writer::Jsonl(w) => w.write(id, as_of, result),
            Writer::Csv(w) => w.write(id, as_of, result),
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Writer::Jsonl(w) => w.finish()?.flush(),
            Writer::Csv(w) => w.finish()?.flush(),
        }
    }
}

/// Counts malformed input and prints it, or stops under `--strict`.
struct Problems {
    strict: bool,
    count: u64,
}

impl Problems {
    fn report(&mut self, message: &dyn std::fmt::Display, bar: &ProgressBar) -> Result<()> {
        if self.strict {
            bail!("{message}");
        }
        self.count += 1;
        if self.count <= PRINT_LIMIT {
            bar.suspend(|| eprintln!("{message}"));
        }
        Ok(())
    }
}

/// Run `leadscore score`.
pub fn run(args: Args) -> Result<Outcome> {
    let as_of = match &args.as_of {
        Some(text) => parse_timestamp(text)
            .with_context(|| format!("--as-of: `{text}` is not an RFC 3339 timestamp"))?,
        None => chrono::Utc::now().timestamp_millis(),
    };
    let Some(model) = super::model::load(&args.model)? else {
        return Ok(Outcome::Invalid);
    };
    let engine = Engine::new(model);
    let mut problems = Problems {
        strict: args.strict,
        count: 0,
    };

    let started = std::time::Instant::now();
    let bar = progress_bar(crate::history::file_size(&args.events)?, "events");
    let history = History::read(
        &args.events,
        &engine,
        as_of,
        |error| problems.report(error, &bar),
        |bytes| bar.inc(bytes),
    )?;
    bar.finish_and_clear();
    let stats = history.stats;
    let read_time = started.elapsed();
    let read_peak = peak_memory();

    let stdout = std::io::stdout().lock();
    let out = std::io::BufWriter::with_capacity(1 << 20, stdout);
    let mut writer = match args.format {
        Format::Jsonl => Writer::Jsonl(JsonlWriter::new(out, args.explain)),
        Format::Csv => {
            let groups: Vec<&str> = engine
                .model()
                .groups
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            Writer::Csv(Box::new(CsvWriter::new(out, &groups, args.explain)?))
        }
    };

    let bar = progress_bar(history.keys().len() as u64, "contacts");
    let mut scored = vec![false; history.keys().len()];
    let mut written = 0u64;

    // Pass 2a: the contacts CSV, in file order.
    let reader = ContactsReader::open(&args.contacts)?;
    let mut rows: Vec<(String, Attributes, Option<u32>)> = Vec::with_capacity(BATCH);
    // The reader announces a repeated id with a warning just before the row.
    let mut skip_next = false;
    for row in reader {
        match row {
            Ok(row) => {
                if std::mem::take(&mut skip_next) {
                    continue;
                }
                let contact = history.contact(&row.id);
                if let Some(c) = contact {
                    scored[c as usize] = true;
                }
                rows.push((row.id, row.attributes, contact));
                if rows.len() == BATCH {
                    written += score_batch(&engine, &history, &mut rows, as_of, &mut writer)?;
                    bar.set_position(written);
                }
            }
            Err(error) if error.is_warning() => {
                skip_next = true;
                bar.suspend(|| eprintln!("{error}: the first row counts, this one is skipped"));
            }
            Err(error) if error.is_fatal() => bail!("{error}"),
            Err(error) => problems.report(&error, &bar)?,
        }
    }
    // Pass 2b: contacts known only from events (anonymous ids merge into their
    // contact once linked; unlinked anonymous visitors are not contacts).
    let mut anonymous_unlinked = 0u64;
    for (index, key) in history.keys().iter().enumerate() {
        if key.anonymous {
            if !history.is_linked(index as u32) {
                anonymous_unlinked += 1;
            }
            continue;
        }
        if scored[index] {
            continue;
        }
        rows.push((key.id.to_string(), Attributes::new(), Some(index as u32)));
        if rows.len() == BATCH {
            written += score_batch(&engine, &history, &mut rows, as_of, &mut writer)?;
            bar.set_position(written);
        }
    }
    written += score_batch(&engine, &history, &mut rows, as_of, &mut writer)?;
    writer.finish().context("writing results")?;
    bar.finish_and_clear();

    let mut summary = format!(
        "leadscore: scored {written} contacts from {} events ({} kept, {} not used by the model)",
        stats.lines, stats.kept, stats.ignored
    );
    if anonymous_unlinked > 0 {
        summary.push_str(&format!(
            ", {anonymous_unlinked} anonymous visitors never identified"
        ));
    }
    if problems.count > 0 {
        summary.push_str(&format!(
            ", {} malformed lines/rows skipped",
            problems.count
        ));
        if problems.count > PRINT_LIMIT {
            summary.push_str(&format!(" (first {PRINT_LIMIT} shown)"));
        }
    }
    if std::env::var_os("LEADSCORE_TIMINGS").is_some() {
        summary.push_str(&format!(
            "; read {:.2}s (peak {read_peak}), scored {:.2}s (peak {})",
            read_time.as_secs_f64(),
            (started.elapsed() - read_time).as_secs_f64(),
            peak_memory()
        ));
    }
    if std::io::stderr().is_terminal()
        || problems.count > 0
        || std::env::var_os("LEADSCORE_TIMINGS").is_some()
    {
        eprintln!("{summary}");
    }
    Ok(Outcome::Success)
}

/// Score a batch of contacts on every core, then write the results in batch order.
fn score_batch<W: Write>(
    engine: &Engine,
    history: &History,
    rows: &mut Vec<(String, Attributes, Option<u32>)>,
    as_of: Millis,
    writer: &mut Writer<W>,
) -> Result<u64> {
    let results: Vec<(String, ScoreResult)> = rows
        .par_drain(..)
        .map(|(id, attributes, contact)| {
            let (events, identifies) = history.contact_history(contact);
            let result = engine.score_classified(attributes, events, identifies, &[], as_of);
            (id, result)
        })
        .collect();
    for (id, result) in &results {
        writer.write(id, as_of, result).context("writing results")?;
    }
    Ok(results.len() as u64)
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = if what == "events" {
        "{spinner} reading events {bar:40} {bytes}/{total_bytes} ({eta})"
    } else {
        "{spinner} scoring contacts {bar:40} {pos}/{len} ({eta})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// The process's peak resident memory so far, as Linux reports it (for
/// `LEADSCORE_TIMINGS`); empty elsewhere.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_default()
}
