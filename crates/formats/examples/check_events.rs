//! Check a Segment events JSONL file: print every bad line as `PATH:LINE: message` and
//! a count of messages per type.
//!
//! ```text
//! cargo run -p leadscore-formats --example check_events -- events.jsonl
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;

use leadscore_formats::{JsonlReader, parse_message};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check_events FILE");
        return ExitCode::from(2);
    };
    let mut reader = match JsonlReader::open(&path) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut kinds = BTreeMap::new();
    let mut bad = 0u64;
    while let Some(line) = reader.next_line() {
        let result = line.and_then(|line| parse_message(line.text).map_err(|e| line.error(e)));
        match result {
            Ok(message) => *kinds.entry(message.kind.as_str()).or_insert(0u64) += 1,
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
                if e.is_fatal() {
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    for (kind, count) in &kinds {
        println!("{kind}: {count}");
    }
    println!("bad lines: {bad}");
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
