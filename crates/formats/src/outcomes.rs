//! The outcomes CSV: what became of a contact, for backtests and tuning.
//!
//! A header row naming the columns `id` (or `email`), `outcome` and `at`, in any order
//! and ignoring case; other columns are ignored. `outcome` is `won`, `lost` or
//! `converted` (ignoring case and surrounding blanks), or `1` / `0` for converted / not
//! converted; `at` is an RFC 3339 timestamp (see [`parse_timestamp`]). A contact may
//! have several outcomes (converted, later won); rows are returned in file order.
//!
//! A row with a problem is a [`RowError`] naming its line and column, and is skipped.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use leadscore_model::Millis;

use crate::error::{FileError, RowError, RowErrorKind};
use crate::table::Table;
use crate::time::parse_timestamp;

/// What became of a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `won`: a deal was won.
    Won,
    /// `lost`: a deal was lost.
    Lost,
    /// `converted` or `1`.
    Converted,
    /// `0`: explicitly did not convert.
    NotConverted,
}

impl Outcome {
    /// Read an outcome as written in the file or the API.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        [
            ("won", Outcome::Won),
            ("lost", Outcome::Lost),
            ("converted", Outcome::Converted),
            ("1", Outcome::Converted),
            ("0", Outcome::NotConverted),
        ]
        .into_iter()
        .find(|(name, _)| text.eq_ignore_ascii_case(name))
        .map(|(_, outcome)| outcome)
    }

    /// True for the good outcomes (`won`, `converted`): what a score should predict.
    pub fn is_positive(self) -> bool {
        matches!(self, Outcome::Won | Outcome::Converted)
    }

    /// The canonical name (`won`, `lost`, `converted`, `not_converted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Won => "won",
            Outcome::Lost => "lost",
            Outcome::Converted => "converted",
            Outcome::NotConverted => "not_converted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome `{0}`: expected won, lost, converted, 1 or 0")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Outcome::parse(text).ok_or_else(|| UnknownOutcome(text.to_owned()))
    }
}

/// One outcome read from the CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRow {
    /// The line the row starts on.
    pub line: u64,
    /// The contact id.
    pub id: String,
    /// What happened.
    pub outcome: Outcome,
    /// When.
    pub at: Millis,
}

/// Streams [`OutcomeRow`]s from an outcomes CSV: an iterator of
/// `Result<OutcomeRow, RowError>` that ends by itself after a fatal error.
#[derive(Debug)]
pub struct OutcomesReader<R> {
    table: Table<R>,
    id_column: usize,
    outcome_column: usize,
    at_column: usize,
}

impl OutcomesReader<File> {
    /// Open an outcomes CSV and check its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let path = path.as_ref();
        let file =
            File::open(path).map_err(|e| FileError::new(path, format!("cannot open: {e}")))?;
        Self::from_reader(file, path)
    }
}

impl<R: Read> OutcomesReader<R> {
    /// Read outcomes from `reader`; `path` names it in errors.
    pub fn from_reader(reader: R, path: impl Into<PathBuf>) -> Result<Self, FileError> {
        let table = Table::new(reader, path.into())?;
        let column = |name: &str, alternative: Option<&str>| {
            table
                .column(name)
                .or_else(|| alternative.and_then(|a| table.column(a)))
                .ok_or_else(|| {
                    FileError::new(
                        table.path(),
                        format!(
                            "the header has no `{name}` column (expected `id,outcome,at`, found: {})",
                            table.header().join(", ")
                        ),
                    )
                })
        };
        let id_column = column("id", Some("email"))?;
        let outcome_column = column("outcome", None)?;
        let at_column = column("at", None)?;
        Ok(Self {
            table,
            id_column,
            outcome_column,
            at_column,
        })
    }

    /// The file's path as given.
    pub fn path(&self) -> &Path {
        self.table.path()
    }

    fn row(&self, line: u64) -> Result<OutcomeRow, RowError> {
        let cell = |column: usize| self.table.cell(column).trim();
        let invalid = |column: usize, message: String| {
            self.table
                .error(line, Some(column), RowErrorKind::Invalid, message)
        };
        let name = |column: usize| &self.table.header()[column];

        let id = cell(self.id_column);
        if id.is_empty() {
            let message = format!("missing `{}`", name(self.id_column));
            return Err(invalid(self.id_column, message));
        }
        let outcome = match cell(self.outcome_column) {
            "" => {
                let message = format!("missing `{}`", name(self.outcome_column));
                return Err(invalid(self.outcome_column, message));
            }
            text => Outcome::parse(text).ok_or_else(|| {
                invalid(
                    self.outcome_column,
                    format!(
                        "`{}`: {}",
                        name(self.outcome_column),
                        UnknownOutcome(text.to_owned())
                    ),
                )
            })?,
        };
        let at = match cell(self.at_column) {
            "" => {
                let message = format!("missing `{}`", name(self.at_column));
                return Err(invalid(self.at_column, message));
            }
            text => parse_timestamp(text).ok_or_else(|| {
                invalid(
                    self.at_column,
                    format!(
                        "`{}` is not an RFC 3339 timestamp: `{text}`",
                        name(self.at_column)
                    ),
                )
            })?,
        };
        Ok(OutcomeRow {
            line,
            id: id.to_owned(),
            outcome,
            at,
        })
    }
}

impl<R: Read> Iterator for OutcomesReader<R> {
    type Item = Result<OutcomeRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.table.next_row()? {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        Some(self.row(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_ignoring_case() {
        assert_eq!(Outcome::parse(" WON "), Some(Outcome::Won));
        assert_eq!(Outcome::parse("Lost"), Some(Outcome::Lost));
        assert_eq!(Outcome::parse("converted"), Some(Outcome::Converted));
        assert_eq!(Outcome::parse("1"), Some(Outcome::Converted));
        assert_eq!(Outcome::parse("0"), Some(Outcome::NotConverted));
        assert_eq!(Outcome::parse("maybe"), None);
        assert!(Outcome::Won.is_positive() && !Outcome::NotConverted.is_positive());
    }
}
