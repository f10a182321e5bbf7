//! Events as CSV: what a CRM or marketing-automation export gives, one event per row,
//! turned into the Segment-style messages the rest of leadscore reads.
//!
//! Marketing operations people move activity between tools as spreadsheets, not as
//! JSON lines, so the service's event import takes this too (`docs/http.md`).
//!
//! * UTF-8, a header row, RFC 4180 quoting (the same reader as the contacts CSV).
//! * Column names are matched ignoring ASCII case and `_`, so `userId`, `user_id` and
//!   `UserID` are one column:
//!   `type` (`track` when absent or empty), `userId`, `anonymousId`, `event` (the
//!   event name of a `track`), `name` (a page's name), `timestamp`, `messageId`,
//!   `previousId` (for `alias`).
//! * `properties.X`, `traits.X` and `context.X` columns become nested members
//!   (`properties.url` -> `{"properties":{"url":..}}`; deeper dots nest deeper).
//! * Any other column is a property of a `track`/`page`/`screen` and a trait of an
//!   `identify`, under its name as written.
//! * Cells are trimmed; an empty cell is absent. Values stay strings: the engine reads a
//!   string that parses as a number as one, exactly as for contact attributes.
//! * The message is then checked by the caller with [`crate::parse_message`]; this
//!   reader only builds it, and reports rows it cannot build (wrong number of fields,
//!   invalid UTF-8) with their line.

use std::io::Read;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{FileError, RowError};
use crate::table::Table;

/// One event row as a Segment message (JSON object text).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// The line the row starts on.
    pub line: u64,
    /// The message, as JSON text.
    pub message: String,
}

/// Where a column's value goes in the message.
#[derive(Debug, Clone)]
enum Target {
    /// A top-level member (`type`, `userId`, ...), under its Segment name.
    Top(&'static str),
    /// A nested member: the object (`properties`, `traits`, `context`) and the path.
    Nested(&'static str, Vec<String>),
    /// Any other column: a property (or a trait, on `identify`).
    Loose(String),
}

/// The top-level members a column may name, by their canonical key (lower case,
/// without `_`).
const TOP: [(&str, &str); 8] = [
    ("type", "type"),
    ("userid", "userId"),
    ("anonymousid", "anonymousId"),
    ("event", "event"),
    ("name", "name"),
    ("timestamp", "timestamp"),
    ("messageid", "messageId"),
    ("previousid", "previousId"),
];

fn target_of(column: &str) -> Target {
    let canonical: String = column
        .chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if let Some((_, key)) = TOP.iter().find(|(name, _)| *name == canonical) {
        return Target::Top(key);
    }
    for object in ["properties", "traits", "context"] {
        if let Some(rest) = column
            .strip_prefix(object)
            .and_then(|r| r.strip_prefix('.'))
            && !rest.is_empty()
        {
            return Target::Nested(object, rest.split('.').map(str::to_owned).collect());
        }
    }
    Target::Loose(column.to_owned())
}

/// Streams [`EventRow`]s from an events CSV. An iterator of `Result<EventRow,
/// RowError>`; it ends after a fatal (read) error.
#[derive(Debug)]
pub struct EventsCsvReader<R> {
    table: Table<R>,
    targets: Vec<Target>,
}

impl<R: Read> EventsCsvReader<R> {
    /// Read the header of `reader`, named `path` in errors. A header naming one
    /// member twice (`userId` and `user_id`) is a [`FileError`].
    pub fn from_reader(reader: R, path: impl Into<PathBuf>) -> Result<Self, FileError> {
        let table = Table::new(reader, path.into())?;
        let targets: Vec<Target> = table.header().iter().map(|c| target_of(c)).collect();
        for (i, target) in targets.iter().enumerate() {
            if let Target::Top(key) = target
                && targets[..i]
                    .iter()
                    .any(|t| matches!(t, Target::Top(k) if k == key))
            {
                return Err(FileError::new(
                    table.path(),
                    format!("two columns name `{key}`"),
                ));
            }
        }
        Ok(Self { table, targets })
    }
}

impl<R: Read> Iterator for EventsCsvReader<R> {
    type Item = Result<EventRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.table.next_row()? {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        let mut message = Map::new();
        let mut loose = Map::new();
        for (column, target) in self.targets.iter().enumerate() {
            let cell = self.table.cell(column).trim();
            if cell.is_empty() {
                continue;
            }
            let value = Value::String(cell.to_owned());
            match target {
                Target::Top(key) => {
                    message.insert((*key).to_owned(), value);
                }
                Target::Nested(object, path) => insert_path(&mut message, object, path, value),
                Target::Loose(name) => {
                    loose.insert(name.clone(), value);
                }
            }
        }
        let kind = match message.get("type") {
            Some(Value::String(kind)) => kind.to_ascii_lowercase(),
            _ => "track".to_owned(),
        };
        message.insert("type".into(), Value::String(kind.clone()));
        if !loose.is_empty() {
            let object = if kind == "identify" {
                "traits"
            } else {
                "properties"
            };
            for (name, value) in loose {
                insert_path(&mut message, object, &[name], value);
            }
        }
        Some(Ok(EventRow {
            line,
            message: Value::Object(message).to_string(),
        }))
    }
}

/// Set `message[object][path...] = value`, making the objects on the way; a column
/// that would nest under a value already set as a scalar keeps the scalar (the header
/// named both `properties.a` and `properties.a.b`, which only one can mean).
fn insert_path(message: &mut Map<String, Value>, object: &str, path: &[String], value: Value) {
    let mut node = message
        .entry(object.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    for key in parents {
        let Value::Object(map) = node else {
            return;
        };
        node = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(map) = node {
        map.entry(last.clone()).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Result<EventRow, RowError>> {
        EventsCsvReader::from_reader(text.as_bytes(), "events.csv")
            .map(Iterator::collect)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn json(row: &Result<EventRow, RowError>) -> Value {
        let row = row.as_ref().unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&row.message).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn columns_become_a_segment_message() {
        let got = rows(
            "user_id,Event,timestamp,properties.url,campaign,MessageID\n\
             u1,Page Viewed,2026-03-01T10:00:00Z,/pricing,spring,m-1\n",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            json(&got[0]),
            serde_json::json!({
                "type": "track", "userId": "u1", "event": "Page Viewed",
                "timestamp": "2026-03-01T10:00:00Z", "messageId": "m-1",
                "properties": {"url": "/pricing", "campaign": "spring"}
            })
        );
        assert_eq!(got[0].as_ref().map(|r| r.line).ok(), Some(2));
    }

    #[test]
    fn identify_rows_carry_loose_columns_as_traits_and_empty_cells_are_absent() {
        let got = rows(
            "type,userId,timestamp,job_title,context.ip\n\
             identify,u1,2026-03-01T10:00:00Z,CTO,\n",
        );
        assert_eq!(
            json(&got[0]),
            serde_json::json!({
                "type": "identify", "userId": "u1",
                "timestamp": "2026-03-01T10:00:00Z", "traits": {"job_title": "CTO"}
            })
        );
    }

    #[test]
    fn a_short_row_names_its_line_and_the_next_row_still_comes() {
        let got = rows("userId,event\nu1\nu2,Demo Requested\n");
        let error = got[0].as_ref().err().map(ToString::to_string);
        assert_eq!(
            error.as_deref(),
            Some("events.csv:2: expected 2 fields as in the header, found 1")
        );
        assert_eq!(json(&got[1])["event"], "Demo Requested");
    }

    #[test]
    fn one_member_named_by_two_columns_is_refused() {
        let error = EventsCsvReader::from_reader("userId,user_id\n".as_bytes(), "e.csv")
            .err()
            .map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("e.csv: two columns name `userId`"));
    }
}
