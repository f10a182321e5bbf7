//! The CSV reading that contacts and outcomes share: a checked header, then rows with
//! their exact line numbers, and errors that name the file, the line and the column.
//!
//! This drives `csv-core` directly instead of the `csv` crate's reader, because that
//! reader's record positions are off after blank lines and in CRLF files (it reports
//! where scanning began, not where the record starts). Here blank lines between records
//! are skipped and counted before each record, so the line a row starts on is exact,
//! also for CRLF files and quoted fields that span lines. Quoting is RFC 4180 (`""`
//! inside quotes); records end at `\n`, `\r\n` or `\r`.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use csv_core::ReadRecordResult;

use crate::error::{FileError, RowError, RowErrorKind};

/// A CSV file with a header row.
#[derive(Debug)]
pub(crate) struct Table<R> {
    /// The bytes read to look for a byte order mark, then the rest.
    input: BufReader<io::Chain<io::Cursor<Vec<u8>>, R>>,
    core: csv_core::Reader,
    path: PathBuf,
    /// Column names as written, trimmed.
    header: Vec<String>,
    /// The line of the next unread byte.
    line: u64,
    /// The current record's unescaped bytes and field ends, as csv-core writes them.
    out: Vec<u8>,
    ends: Vec<usize>,
    fields: usize,
    /// The current record as text (every field checked to be UTF-8), and where each
    /// field ends in it.
    text: String,
    bounds: Vec<usize>,
    /// Set after the end or a read failure.
    done: bool,
}

/// Why the current record could not be taken as text.
enum Utf8Problem {
    /// The 0-based field that is not UTF-8.
    Field(usize),
}

impl<R: Read> Table<R> {
    /// Read and check the header: at least one column, every column named, no name
    /// twice.
    pub(crate) fn new(mut reader: R, path: PathBuf) -> Result<Self, FileError> {
        // A UTF-8 byte order mark is dropped here, whatever the reader's read sizes.
        let mut head = [0u8; 3];
        let mut got = 0;
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FileError::new(path, format!("cannot read: {e}"))),
            }
        }
        let skip = if head[..got] == *b"\xEF\xBB\xBF" {
            3
        } else {
            0
        };
        let head = io::Cursor::new(head[skip..got].to_vec());
        let mut table = Self {
            input: BufReader::with_capacity(1 << 16, head.chain(reader)),
            core: csv_core::Reader::new(),
            path,
            header: Vec::new(),
            line: 1,
            out: vec![0; 1024],
            ends: vec![0; 64],
            fields: 0,
            text: String::new(),
            bounds: Vec::new(),
            done: false,
        };
        let fail = |table: &Self, message: String| FileError::new(&table.path, message);
        match table.read_record() {
            Ok(Some(_)) => {}
            Ok(None) => return Err(fail(&table, "empty file: expected a header row".into())),
            Err(e) => return Err(fail(&table, format!("cannot read the header: {e}"))),
        }
        if let Err(Utf8Problem::Field(i)) = table.decode() {
            return Err(fail(
                &table,
                format!("header column {} is not valid UTF-8", i + 1),
            ));
        }
        let header: Vec<String> = (0..table.fields)
            .map(|i| table.cell(i).trim().to_owned())
            .collect();
        for (i, name) in header.iter().enumerate() {
            if name.is_empty() {
                return Err(fail(&table, format!("header column {} has no name", i + 1)));
            }
            if header[..i].iter().any(|earlier| earlier == name) {
                return Err(fail(
                    &table,
                    format!("column `{name}` appears twice in the header"),
                ));
            }
        }
        table.header = header;
        Ok(table)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn header(&self) -> &[String] {
        &self.header
    }

    /// The index of the column named `name`, ignoring ASCII case.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
    }

    /// Field `i` of the current row (after [`Table::next_row`] returned its line), or
    /// `""` past the end.
    pub(crate) fn cell(&self, i: usize) -> &str {
        let start = match i.checked_sub(1) {
            None => 0,
            Some(previous) => self.bounds.get(previous).copied().unwrap_or(0),
        };
        match self.bounds.get(i) {
            Some(&end) => self.text.get(start..end).unwrap_or_default(),
            None => "",
        }
    }

    /// An error about `line`, naming the column `column` when given.
    pub(crate) fn error(
        &self,
        line: u64,
        column: Option<usize>,
        kind: RowErrorKind,
        message: impl std::fmt::Display,
    ) -> RowError {
        let field = column.and_then(|c| self.header.get(c)).map(String::as_str);
        RowError::new(&self.path, line, field, kind, message)
    }

    /// Advance to the next row that has as many fields as the header and is not all
    /// blank (such rows are skipped like blank lines); returns the line it starts on.
    pub(crate) fn next_row(&mut self) -> Option<Result<u64, RowError>> {
        loop {
            if self.done {
                return None;
            }
            let line = match self.read_record() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    let message = format!("cannot read: {e}");
                    return Some(Err(self.error(self.line, None, RowErrorKind::Io, message)));
                }
            };
            if let Err(Utf8Problem::Field(i)) = self.decode() {
                let message = match self.header.get(i) {
                    Some(name) => format!("`{name}` is not valid UTF-8"),
                    None => format!("field {} is not valid UTF-8", i + 1),
                };
                return Some(Err(self.error(
                    line,
                    Some(i),
                    RowErrorKind::Invalid,
                    message,
                )));
            }
            if (0..self.fields).all(|i| self.cell(i).trim().is_empty()) {
                continue;
            }
            if self.fields != self.header.len() {
                let message = format!(
                    "expected {} fields as in the header, found {}",
                    self.header.len(),
                    self.fields
                );
                return Some(Err(self.error(line, None, RowErrorKind::Invalid, message)));
            }
            return Some(Ok(line));
        }
    }

    /// `fill_buf`, retrying when interrupted; the data is then in the buffer.
    fn fill(&mut self) -> io::Result<()> {
        loop {
            match self.input.fill_buf() {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Read one raw record into `out`/`ends`; returns the line it starts on, or `None`
    /// at the end.
    fn read_record(&mut self) -> io::Result<Option<u64>> {
        // Skip (and count) the line ends between records, so `line` is where it starts.
        loop {
            self.fill()?;
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let n = buf
                .iter()
                .position(|&b| b != b'\n' && b != b'\r')
                .unwrap_or(buf.len());
            let whole_buffer = n == buf.len();
            self.line += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            self.input.consume(n);
            if !whole_buffer {
                break;
            }
        }
        let start = self.line;
        self.core.set_line(start);
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            self.fill()?;
            let input = self.input.fill_buf()?;
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            self.input.consume(nin);
            outlen += nout;
            endlen += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let len = self.out.len() * 2;
                    self.out.resize(len, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                ReadRecordResult::Record => {
                    self.fields = endlen;
                    self.line = self.core.line();
                    return Ok(Some(start));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Check every field of the raw record is UTF-8 and copy it into `text`.
    fn decode(&mut self) -> Result<(), Utf8Problem> {
        self.text.clear();
        self.bounds.clear();
        let mut start = 0;
        for (i, &end) in self.ends[..self.fields].iter().enumerate() {
            let field =
                std::str::from_utf8(&self.out[start..end]).map_err(|_| Utf8Problem::Field(i))?;
            self.text.push_str(field);
            self.bounds.push(self.text.len());
            start = end;
        }
        Ok(())
    }
}
