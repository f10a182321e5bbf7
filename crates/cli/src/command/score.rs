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

use anyhow::{Context, Result};
use clap::ValueEnum;
use leadscore_engine::{Engine, Millis, ScoreResult};
use leadscore_formats::{CsvWriter, JsonlWriter, parse_timestamp};

use crate::Outcome;
use crate::accounts::Accounts;
use crate::batch::{PRINT_LIMIT, Problems, each_contact, peak_memory, progress_bar};
use crate::crm::CrmArgs;
use crate::history::History;

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
    /// Also score the model's `[account]`s and write one result per account (JSONL,
    /// with explanation and members, highest score first) to FILE.
    #[arg(long, value_name = "FILE")]
    accounts: Option<PathBuf>,
    /// Cleaning a CRM export.
    #[command(flatten)]
    crm: CrmArgs,
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
    if args.accounts.is_some() && model.account.is_none() {
        eprintln!(
            "{}: --accounts needs an `[account]` table in the model",
            args.model.display()
        );
        return Ok(Outcome::Invalid);
    }
    let cleaning = args.crm.cleaning(&model);
    let engine = Engine::new(model);
    let mut problems = Problems {
        strict: args.strict,
        count: 0,
        print: true,
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
            Writer::Csv(Box::new(CsvWriter::with_probability(
                out,
                &groups,
                args.explain,
                engine.model().prediction.is_some(),
            )?))
        }
    };

    let (mut accounts, key_reader) = match args.accounts {
        Some(_) => Accounts::new(engine.model()).unzip(),
        None => (None, None),
    };
    let bar = progress_bar(history.keys().len() as u64, "contacts");
    let visited = each_contact(
        &args.contacts,
        &cleaning,
        &history,
        &mut problems,
        &bar,
        |_, attributes, contact| {
            let (events, identifies) = history.contact_history(contact);
            match &key_reader {
                None => (
                    engine.score_classified(attributes, events, identifies, &[], as_of),
                    None,
                ),
                Some(reader) => {
                    let (result, attributes) = engine.score_classified_keeping_attributes(
                        attributes,
                        events,
                        identifies,
                        &[],
                        as_of,
                    );
                    let member = reader.key_of(engine.model(), &attributes);
                    (result, member)
                }
            }
        },
        |id, (result, member)| {
            if let (Some(accounts), Some((key, attributes))) = (&mut accounts, member) {
                accounts.add(id, key, attributes, &result);
            }
            writer.write(id, as_of, &result).context("writing results")
        },
    )?;
    let (written, anonymous_unlinked) = (visited.contacts, visited.anonymous_unlinked);
    writer.finish().context("writing results")?;
    bar.finish_and_clear();
    let accounts_written = match (accounts, &args.accounts) {
        (Some(accounts), Some(path)) => Some(accounts.write(engine.model(), path, as_of)?),
        _ => None,
    };

    let mut summary = format!(
        "leadscore: scored {written} contacts from {} events ({} kept, {} not used by the model)",
        stats.lines, stats.kept, stats.ignored
    );
    if let Some(n) = accounts_written {
        summary.push_str(&format!(", {n} accounts"));
    }
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
