//! The contacts CSV: one contact per row, its attributes in the other columns.
//!
//! * UTF-8 (a byte order mark is tolerated), a header row, RFC 4180 quoting.
//! * The id is the `id` column, or `email` when there is no `id` (both names are
//!   recognised ignoring case). A header with neither is a [`FileError`], as is an
//!   unnamed or repeated column.
//! * Every other column is an attribute named as in the header; the `email` column is
//!   stored as the attribute `email` even when it is the id, so `email_domain` works.
//! * Cells are trimmed; an empty cell is a missing attribute. Values stay strings
//!   ([`Value::Str`]): the engine compares a string that parses as a number as one.
//! * Rows that are entirely empty are skipped like blank lines.
//! * A bad row (wrong number of fields, no id, invalid UTF-8) is a [`RowError`] naming
//!   the line and column; the reader goes on with the next row.
//! * An id seen before: a [`RowErrorKind::DuplicateId`] warning, then the row itself:
//!   the later row wins.
//! * With a [`Cleaning`] ([`ContactsReader::with_cleaning`]): columns renamed,
//!   placeholder cells missing, numbers and booleans parsed in the columns it names
//!   (see [`crate::clean`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use leadscore_engine::{Attributes, Value};

use crate::clean::{Cleaning, parse_bool, parse_number};
use crate::error::{FileError, RowError, RowErrorKind};
use crate::table::Table;

/// One contact read from the CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    /// The line the row starts on.
    pub line: u64,
    /// The contact id (the `id` or `email` cell, trimmed).
    pub id: String,
    /// The row's non-empty cells other than `id`.
    pub attributes: Attributes,
}

/// Streams [`ContactRow`]s from a contacts CSV; see the module docs for the rules.
///
/// An iterator of `Result<ContactRow, RowError>`: print each error (a warning when
/// [`RowError::is_warning`]) and go on; stop after a fatal one (the iterator ends by
/// itself).
#[derive(Debug)]
pub struct ContactsReader<R> {
    table: Table<R>,
    /// Index of the id column.
    id_column: usize,
    /// Index of the `email` column, stored under the name `email`.
    email_column: Option<usize>,
    /// Ids seen so far and the line of their latest row, for duplicate warnings.
    seen: HashMap<String, u64>,
    /// A row held back while its duplicate warning is returned.
    pending: Option<ContactRow>,
    /// Per column: the attribute name after `--map`, and how its cells are typed.
    names: Vec<String>,
    kinds: Vec<Kind>,
    /// Placeholders for "missing".
    cleaning: Cleaning,
}

/// How a column's cells become values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Boolean,
}

impl ContactsReader<File> {
    /// Open a contacts CSV and check its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let path = path.as_ref();
        let file =
            File::open(path).map_err(|e| FileError::new(path, format!("cannot open: {e}")))?;
        Self::from_reader(file, path)
    }

    /// Open a contacts CSV, cleaning it as it streams (see [`crate::clean`]).
    pub fn with_cleaning(path: impl AsRef<Path>, cleaning: Cleaning) -> Result<Self, FileError> {
        let path = path.as_ref();
        let file =
            File::open(path).map_err(|e| FileError::new(path, format!("cannot open: {e}")))?;
        Self::from_reader_cleaned(file, path, cleaning)
    }
}

impl<R: Read> ContactsReader<R> {
    /// Read contacts from `reader`; `path` names it in errors.
    pub fn from_reader(reader: R, path: impl Into<PathBuf>) -> Result<Self, FileError> {
        Self::from_reader_cleaned(reader, path, Cleaning::default())
    }

    /// Read contacts from `reader` with a [`Cleaning`]; `path` names it in errors.
    pub fn from_reader_cleaned(
        reader: R,
        path: impl Into<PathBuf>,
        cleaning: Cleaning,
    ) -> Result<Self, FileError> {
        let table = Table::new(reader, path.into())?;
        let mut names: Vec<String> = table.header().to_vec();
        for (from, to) in &cleaning.rename {
            let Some(i) = table.column(from) else {
                return Err(FileError::new(
                    table.path(),
                    format!(
                        "--map `{from}={to}`: the header has no column `{from}` (found: {})",
                        table.header().join(", ")
                    ),
                ));
            };
            names[i] = to.clone();
        }
        for (i, name) in names.iter().enumerate() {
            if let Some(j) = names[..i].iter().position(|n| n.eq_ignore_ascii_case(name)) {
                return Err(FileError::new(
                    table.path(),
                    format!(
                        "columns `{}` and `{}` would both be the attribute `{name}` (check --map)",
                        table.header()[j],
                        table.header()[i]
                    ),
                ));
            }
        }
        let find = |wanted: &str| names.iter().position(|n| n.eq_ignore_ascii_case(wanted));
        let email_column = find("email");
        let id_column = find("id").or(email_column).ok_or_else(|| {
            FileError::new(
                table.path(),
                format!(
                    "the header has neither an `id` nor an `email` column (found: {})",
                    table.header().join(", ")
                ),
            )
        })?;
        let listed =
            |list: &[String], name: &str| list.iter().any(|c| c.eq_ignore_ascii_case(name));
        let kinds = names
            .iter()
            .map(|name| {
                if listed(&cleaning.numeric, name) {
                    Kind::Number
                } else if listed(&cleaning.boolean, name) {
                    Kind::Boolean
                } else {
                    Kind::Text
                }
            })
            .collect();
        Ok(Self {
            table,
            id_column,
            email_column,
            seen: HashMap::new(),
            pending: None,
            names,
            kinds,
            cleaning,
        })
    }

    /// The file's path as given.
    pub fn path(&self) -> &Path {
        self.table.path()
    }

    /// The header's column names, trimmed.
    pub fn columns(&self) -> &[String] {
        self.table.header()
    }

    /// The name of the column that holds the id, as written in the header.
    pub fn id_column(&self) -> &str {
        &self.table.header()[self.id_column]
    }
}

impl<R: Read> Iterator for ContactsReader<R> {
    type Item = Result<ContactRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(row) = self.pending.take() {
            return Some(Ok(row));
        }
        let line = match self.table.next_row()? {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        let id = self.table.cell(self.id_column).trim();
        if id.is_empty() || self.cleaning.is_missing(id) {
            let name = &self.table.header()[self.id_column];
            let message = format!("missing `{name}`: every contact needs an id");
            return Some(Err(self.table.error(
                line,
                Some(self.id_column),
                RowErrorKind::Invalid,
                message,
            )));
        }
        let id = id.to_owned();
        let mut attributes = Attributes::new();
        for (column, name) in self.names.iter().enumerate() {
            let cell = self.table.cell(column).trim();
            if cell.is_empty() || self.cleaning.is_missing(cell) {
                continue;
            }
            // A cell that does not parse in a typed column stays text: numeric
            // operators then see no number, as they would without cleaning.
            let value = match self.kinds[column] {
                Kind::Number => parse_number(cell).map(Value::Num),
                Kind::Boolean => parse_bool(cell).map(Value::Bool),
                Kind::Text => None,
            }
            .unwrap_or_else(|| Value::Str(cell.to_owned()));
            if Some(column) == self.email_column {
                attributes.set("email", value);
            } else if column != self.id_column {
                attributes.set(name.as_str(), value);
            }
        }
        let row = ContactRow {
            line,
            id,
            attributes,
        };
        match self.seen.insert(row.id.clone(), line) {
            None => Some(Ok(row)),
            Some(earlier) => {
                let message = format!("duplicate id `{}` (also on line {earlier})", row.id);
                self.pending = Some(row);
                Some(Err(self.table.error(
                    line,
                    Some(self.id_column),
                    RowErrorKind::DuplicateId,
                    message,
                )))
            }
        }
    }
}
