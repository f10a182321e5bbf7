//! Errors that name where the problem is: the file, and for rows and lines the line.
//!
//! Every reader in this crate reports a problem in one input line as a value the caller
//! prints and skips (or treats as fatal under `--strict`), and an unreadable file as
//! fatal. All of them display as `PATH:LINE: message`, which editors and terminals turn
//! into links, or `PATH: message` when no line applies.

use std::fmt;
use std::path::{Path, PathBuf};

/// A whole file is unusable: it cannot be opened or read, or its header is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, lowercase, without a final period.
    pub message: String,
}

impl FileError {
    /// An error about `path`.
    pub fn new(path: impl Into<PathBuf>, message: impl fmt::Display) -> Self {
        Self {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// How bad a [`LineError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineErrorKind {
    /// The line is unusable (bad JSON, bad UTF-8, a missing field): report it, skip it,
    /// go on with the next one.
    Invalid,
    /// Reading failed: nothing after this point can be trusted, stop.
    Io,
}

/// A problem with one line of a JSONL file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct LineError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// What is wrong, naming the field when there is one.
    pub message: String,
    /// Skip the line, or stop reading.
    pub kind: LineErrorKind,
}

impl LineError {
    /// An [`LineErrorKind::Invalid`] line, e.g. from a
    /// [`MessageError`](crate::events::MessageError).
    pub fn invalid(path: &Path, line: u64, message: impl fmt::Display) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            message: message.to_string(),
            kind: LineErrorKind::Invalid,
        }
    }

    /// A read failure at `line`.
    pub fn io(path: &Path, line: u64, error: &std::io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            message: format!("cannot read: {error}"),
            kind: LineErrorKind::Io,
        }
    }

    /// True when reading cannot go on.
    pub fn is_fatal(&self) -> bool {
        self.kind == LineErrorKind::Io
    }
}

/// How bad a [`RowError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowErrorKind {
    /// The row is unusable and skipped (missing id, wrong number of fields, bad value).
    Invalid,
    /// A warning, not an error: the id was already seen. The row still comes right
    /// after this warning; the caller decides which row counts (the batch CLI keeps
    /// the first, as with duplicate `messageId`s).
    DuplicateId,
    /// Reading failed: the reader stops after this.
    Io,
}

/// A problem with one row of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct RowError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line where the row starts.
    pub line: u64,
    /// The column at fault, as named in the header, when one is.
    pub field: Option<String>,
    /// What is wrong, naming the field.
    pub message: String,
    /// Error, warning, or fatal.
    pub kind: RowErrorKind,
}

impl RowError {
    pub(crate) fn new(
        path: &Path,
        line: u64,
        field: Option<&str>,
        kind: RowErrorKind,
        message: impl fmt::Display,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            field: field.map(str::to_owned),
            message: message.to_string(),
            kind,
        }
    }

    /// True for warnings: the row is kept.
    pub fn is_warning(&self) -> bool {
        self.kind == RowErrorKind::DuplicateId
    }

    /// True when reading cannot go on.
    pub fn is_fatal(&self) -> bool {
        self.kind == RowErrorKind::Io
    }
}
