//! Shared set-up for the benchmarks: generated contacts and events, parsed and
//! classified against a model, ready to feed the engine.

#![deny(missing_docs)]

use std::collections::HashMap;

use leadscore_engine::{Attributes, Engine, EventClass, Millis};
use leadscore_formats::{ContactsReader, parse_message};

/// One contact's classified events in time order, with its attributes.
pub struct ContactEvents {
    /// Attributes from the contacts CSV.
    pub attributes: Attributes,
    /// `(time, class)` in time order.
    pub events: Vec<(Millis, EventClass)>,
}

/// The example model shipped in `examples/b2b.toml`.
pub fn example_engine() -> Engine {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/b2b.toml");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match leadscore_model::load("b2b.toml", &text) {
        Ok(checked) => Engine::new(checked.model),
        Err(diagnostics) => panic!("examples/b2b.toml is invalid: {diagnostics:?}"),
    }
}

/// Generate `contacts` contacts (seed 1) and classify their events for `engine`.
/// Returns the contacts and the number of raw events generated.
pub fn generated(engine: &Engine, contacts: u64) -> (Vec<ContactEvents>, u64) {
    let config = leadscore_generate::Config {
        contacts,
        seed: 1,
        ..leadscore_generate::Config::default()
    };
    let (mut csv, mut jsonl, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
    if let Err(e) = leadscore_generate::generate(&config, &mut csv, &mut jsonl, &mut outcomes) {
        panic!("generating: {e}");
    }
    let mut index = HashMap::new();
    let mut out = Vec::new();
    let reader = match ContactsReader::from_reader(csv.as_slice(), "contacts.csv") {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    for row in reader.flatten() {
        index.insert(row.id.clone(), out.len());
        out.push(ContactEvents {
            attributes: row.attributes,
            events: Vec::new(),
        });
    }
    let text = String::from_utf8_lossy(&jsonl);
    let mut raw = 0;
    for line in text.lines() {
        raw += 1;
        let Ok(message) = parse_message(line) else {
            continue;
        };
        let Some(user) = message.user_id.as_deref() else {
            continue;
        };
        let Some(&i) = index.get(user) else { continue };
        if let Some(class) = engine.classify(message.event_name(), &message) {
            out[i].events.push((message.timestamp, class));
        }
    }
    for contact in &mut out {
        contact.events.sort_by_key(|(t, _)| *t);
    }
    (out, raw)
}
