//! `leadscore generate`: synthetic but realistic contacts, events and outcomes.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::Outcome;

/// `leadscore generate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many contacts.
    #[arg(long)]
    contacts: u64,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for contacts.csv, events.jsonl and outcomes.csv (created if missing).
    #[arg(long, default_value = "out")]
    out: PathBuf,
}

/// Run `leadscore generate`.
pub fn run(args: Args) -> Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create the directory", args.out.display()))?;
    let create = |name: &str| -> Result<BufWriter<File>> {
        let path = args.out.join(name);
        let file =
            File::create(&path).with_context(|| format!("{}: cannot create", path.display()))?;
        Ok(BufWriter::with_capacity(1 << 20, file))
    };
    let config = leadscore_generate::Config {
        contacts: args.contacts,
        seed: args.seed,
        ..leadscore_generate::Config::default()
    };
    let summary = leadscore_generate::generate(
        &config,
        create("contacts.csv")?,
        create("events.jsonl")?,
        create("outcomes.csv")?,
    )
    .context("writing synthetic data")?;
    eprintln!("leadscore: wrote {summary:?} to {}", args.out.display());
    Ok(Outcome::Success)
}
