//! leadscore's files: contacts CSV, Segment events JSONL, outcomes CSV, score results.
//!
//! The formats are contracts (`docs/interfaces.md`); this crate reads and writes them
//! and nothing else: no scoring, no storage. Readers stream, so a file of any size
//! reads in constant memory, and every problem names its file and line
//! (`events.jsonl:17: missing `event`: a track message names its event`), so the
//! command line can report it and go on, or stop under `--strict`.
//!
//! Layout:
//!
//! * [`time`]: RFC 3339 timestamps to milliseconds and back, with a fast path for the
//!   shape Segment sends.
//! * [`events`]: Segment messages ([`parse_message`], borrowing from the line) and the
//!   [`JsonlReader`] that yields lines or whole-line chunks for parallel parsing.
//! * [`contacts`]: the contacts CSV ([`ContactsReader`]).
//! * [`outcomes`]: the outcomes CSV ([`OutcomesReader`]).
//! * [`results`]: score results as JSONL ([`JsonlWriter`], [`ResultJson`]) or CSV
//!   ([`CsvWriter`]).
//! * [`error`]: [`FileError`], [`LineError`] and [`RowError`], all `PATH[:LINE]: message`.
//!
//! ```
//! use leadscore_engine::{Fields, ValueRef};
//! use leadscore_formats::{parse_message, JsonlReader};
//!
//! let text = "\n{\"type\":\"page\",\"userId\":\"c-1\",\"name\":\"Pricing\",\
//!             \"timestamp\":\"2026-05-01T09:30:00Z\",\
//!             \"properties\":{\"url\":\"https://example.com/pricing\"}}\n";
//! let mut reader = JsonlReader::new(text.as_bytes(), "events.jsonl");
//! while let Some(line) = reader.next_line() {
//!     let line = line?;
//!     let message = parse_message(line.text).map_err(|e| line.error(e))?;
//!     assert_eq!(line.number, 2);
//!     assert_eq!(message.event.as_deref(), Some("Page Viewed"));
//!     assert_eq!(
//!         message.field("properties.url"),
//!         Some(ValueRef::Str("https://example.com/pricing"))
//!     );
//! }
//! # Ok::<(), leadscore_formats::LineError>(())
//! ```

#![deny(missing_docs)]

pub mod clean;
pub mod contacts;
pub mod error;
pub mod events;
pub mod events_csv;
pub mod outcomes;
pub mod results;
mod table;
pub mod time;

pub use clean::Cleaning;
pub use contacts::{ContactRow, ContactsReader};
pub use error::{FileError, LineError, LineErrorKind, RowError, RowErrorKind};
pub use events::{Chunk, JsonlReader, Line, Message, MessageError, MessageKind, parse_message};
pub use events_csv::{EventRow, EventsCsvReader};
pub use outcomes::{Outcome, OutcomeRow, OutcomesReader};
pub use results::{CsvWriter, JsonlWriter, ResultJson};
pub use time::{Rfc3339, format_timestamp, parse_timestamp};
