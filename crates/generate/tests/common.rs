//! The shared data set and small parsers over the generated files.

use std::collections::HashMap;
use std::sync::OnceLock;

use leadscore_generate::{Config, Summary, generate};
use serde_json::Value;

/// Generated files, as text.
pub struct Files {
    /// `contacts.csv`.
    pub contacts: String,
    /// `events.jsonl`.
    pub events: String,
    /// `outcomes.csv`.
    pub outcomes: String,
    /// What `generate` reported.
    pub summary: Summary,
}

/// Generate `contacts` contacts with `seed` into memory.
pub fn files(contacts: u64, seed: u64) -> Files {
    let config = Config {
        contacts,
        seed,
        ..Config::default()
    };
    let (mut c, mut e, mut o) = (Vec::new(), Vec::new(), Vec::new());
    let summary = generate(&config, &mut c, &mut e, &mut o).expect("writing to memory");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    Files {
        contacts: text(c),
        events: text(e),
        outcomes: text(o),
        summary,
    }
}

/// The shared data set: files plus parsed rows and events.
pub struct Data {
    /// The files.
    pub files: Files,
    /// Contact rows by id (header name -> value).
    pub contacts: Vec<HashMap<String, String>>,
    /// Every event line, parsed, in file order.
    pub events: Vec<Value>,
    /// `(id, outcome, at)` rows.
    pub outcomes: Vec<(String, String, i64)>,
}

/// 2,000 contacts, seed 1, generated and parsed once.
pub fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let files = files(2000, 1);
        let contacts = csv_rows(&files.contacts);
        let events = files
            .events
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1))
            })
            .collect();
        let outcomes = csv_rows(&files.outcomes)
            .into_iter()
            .map(|r| (r["id"].clone(), r["outcome"].clone(), secs(&r["at"])))
            .collect();
        Data {
            files,
            contacts,
            events,
            outcomes,
        }
    })
}

/// Parses CSV text with a header into maps.
pub fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.expect("valid CSV row");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// Unix seconds of an RFC 3339 timestamp.
pub fn secs(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("{ts}: {e}"))
        .timestamp()
}

/// The event name of a message: `event` for track, `Page Viewed` for page, `identify`.
pub fn name(e: &Value) -> &str {
    match e["type"].as_str() {
        Some("page") => "Page Viewed",
        Some("identify") => "identify",
        _ => e["event"].as_str().unwrap_or(""),
    }
}

/// `properties.url` of a message, or "".
pub fn url(e: &Value) -> &str {
    e["properties"]["url"].as_str().unwrap_or("")
}

/// Events per contact id, with anonymous events merged into the contact that an
/// identify call links them to (as the engine does). Each list is sorted by time.
pub fn by_contact(events: &[Value]) -> HashMap<String, Vec<&Value>> {
    let mut links = HashMap::new();
    for e in events {
        if let (Some(a), Some(u)) = (e["anonymousId"].as_str(), e["userId"].as_str()) {
            links.insert(a.to_string(), u.to_string());
        }
    }
    let mut map: HashMap<String, Vec<&Value>> = HashMap::new();
    for e in events {
        let id = match (e["userId"].as_str(), e["anonymousId"].as_str()) {
            (Some(u), _) => u.to_string(),
            (None, Some(a)) => links.get(a).cloned().unwrap_or_else(|| a.to_string()),
            (None, None) => panic!("message without id: {e}"),
        };
        map.entry(id).or_default().push(e);
    }
    for list in map.values_mut() {
        list.sort_by_key(|e| secs(e["timestamp"].as_str().unwrap_or("")));
    }
    map
}
