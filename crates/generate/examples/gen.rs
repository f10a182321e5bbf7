//! Writes synthetic data to a directory and reports how long it took.
//!
//! `cargo run --release -p leadscore-generate --example gen -- 100000 /tmp/gen [SEED]`

use std::fs::{self, File};
use std::path::PathBuf;
use std::time::Instant;

use leadscore_generate::{Config, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: gen CONTACTS DIR [SEED]";
    let contacts: u64 = args.next().ok_or(usage)?.parse()?;
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    fs::create_dir_all(&dir)?;
    let config = Config {
        contacts,
        seed,
        ..Config::default()
    };
    let started = Instant::now();
    let summary = generate(
        &config,
        File::create(dir.join("contacts.csv"))?,
        File::create(dir.join("events.jsonl"))?,
        File::create(dir.join("outcomes.csv"))?,
    )?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} contacts, {} events ({:.1} per contact), {} won, {} lost in {secs:.2} s ({:.1} M events/s) -> {}",
        summary.contacts,
        summary.events,
        summary.events as f64 / summary.contacts.max(1) as f64,
        summary.outcomes_won,
        summary.outcomes_lost,
        summary.events as f64 / secs / 1e6,
        dir.display(),
    );
    Ok(())
}
