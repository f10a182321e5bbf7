//! What the batch commands (`score`, `backtest`) share: reporting malformed input,
//! progress bars, and visiting every contact in parallel batches.

use std::path::Path;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use leadscore_engine::Attributes;
use leadscore_formats::{Cleaning, ContactsReader};
use rayon::prelude::*;

use crate::history::History;

/// Contacts handled per parallel batch.
const BATCH: usize = 8192;
/// Malformed lines printed one by one before only counting the rest.
pub const PRINT_LIMIT: u64 = 1000;

/// Counts malformed input and prints it, or stops under `--strict`.
pub struct Problems {
    /// Stop at the first problem.
    pub strict: bool,
    /// Problems reported so far.
    pub count: u64,
    /// Print them (false when the same file is read a second time).
    pub print: bool,
}

impl Problems {
    /// Report one problem (on stderr, above the progress bar), or fail when strict.
    pub fn report(&mut self, message: &dyn std::fmt::Display, bar: &ProgressBar) -> Result<()> {
        if self.strict {
            bail!("{message}");
        }
        self.count += 1;
        if self.print && self.count <= PRINT_LIMIT {
            bar.suspend(|| eprintln!("{message}"));
        }
        Ok(())
    }
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
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
pub fn peak_memory() -> String {
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

/// What [`each_contact`] visited.
pub struct Visited {
    /// Contacts handed to the sink.
    pub contacts: u64,
    /// Anonymous ids never linked to a contact (not contacts, not visited).
    pub anonymous_unlinked: u64,
}

/// Visit every contact: the contacts CSV in file order, then contacts known only from
/// events in first-seen order. `work` runs on every core (it gets the id, the CSV
/// attributes and the contact's index in `history`); `sink` gets the results in order.
/// A repeated id in the CSV is reported and its later rows skipped. The CSV is cleaned
/// as `cleaning` says (`--map`, `--missing`, numbers, booleans).
pub fn each_contact<T: Send>(
    contacts: &Path,
    cleaning: &Cleaning,
    history: &History,
    problems: &mut Problems,
    bar: &ProgressBar,
    work: impl Fn(&str, Attributes, Option<u32>) -> T + Sync,
    mut sink: impl FnMut(&str, T) -> Result<()>,
) -> Result<Visited> {
    let mut seen = vec![false; history.keys().len()];
    let mut visited = 0u64;
    let mut rows: Vec<(String, Attributes, Option<u32>)> = Vec::with_capacity(BATCH);
    let mut flush = |rows: &mut Vec<(String, Attributes, Option<u32>)>| -> Result<()> {
        let results: Vec<(String, T)> = rows
            .par_drain(..)
            .map(|(id, attributes, contact)| {
                let result = work(&id, attributes, contact);
                (id, result)
            })
            .collect();
        for (id, result) in results {
            sink(&id, result)?;
            visited += 1;
        }
        bar.set_position(visited);
        Ok(())
    };

    let reader = ContactsReader::with_cleaning(contacts, cleaning.clone())?;
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
                    seen[c as usize] = true;
                }
                rows.push((row.id, row.attributes, contact));
                if rows.len() == BATCH {
                    flush(&mut rows)?;
                }
            }
            Err(error) if error.is_warning() => {
                skip_next = true;
                bar.suspend(|| eprintln!("{error}: the first row counts, this one is skipped"));
            }
            Err(error) if error.is_fatal() => bail!("{error}"),
            Err(error) => problems.report(&error, bar)?,
        }
    }
    // Contacts known only from events (anonymous ids merge into their contact once
    // linked; unlinked anonymous visitors are not contacts).
    let mut anonymous_unlinked = 0u64;
    for (index, key) in history.keys().iter().enumerate() {
        if key.anonymous {
            if !history.is_linked(index as u32) {
                anonymous_unlinked += 1;
            }
            continue;
        }
        if seen[index] {
            continue;
        }
        rows.push((key.id.to_string(), Attributes::new(), Some(index as u32)));
        if rows.len() == BATCH {
            flush(&mut rows)?;
        }
    }
    flush(&mut rows)?;
    Ok(Visited {
        contacts: visited,
        anonymous_unlinked,
    })
}
