//! Syntax: TOML text to a tree of values that remember where they came from.
//!
//! This is the first of the three loading stages (`syntax` -> `validate` -> `compile`).
//! It reads the file with `toml`'s recoverable parser ([`DeTable::parse_recoverable`]),
//! which keeps a byte span on every key and value, and copies the result into a small
//! owned tree ([`Node`]) whose tables list their entries in *file order* (the parser's map
//! is sorted by key). Every TOML syntax error becomes a located [`Diagnostic`].
//!
//! Keeping the spans is the whole point: the validator can then say "line 14, column 8"
//! for any value it rejects, and [`Source`] turns a span into that line and column.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostics::{Diagnostic, Severity};

/// The text of a model file plus its name, able to turn byte offsets into positions.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    /// File name as given to [`crate::load`], repeated in every diagnostic.
    pub name: &'a str,
    /// The whole file.
    pub text: &'a str,
    /// Byte offset of the start of every line, for offset -> line lookups.
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    /// Index the line starts of `text`.
    pub fn new(name: &'a str, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        (line.max(1), column + 1)
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    /// A diagnostic located at `span`.
    pub fn diagnostic(
        &self,
        severity: Severity,
        span: Range<usize>,
        rule: Option<String>,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, column) = self.position(span.start);
        Diagnostic {
            severity,
            file: self.name.to_owned(),
            line,
            column,
            span,
            rule,
            message,
            help,
        }
    }
}

/// A value with the byte span it was written at.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Where the value is. For a `[table]` or `[[table]]` it is the header; for the root
    /// table it is empty at offset 0.
    pub span: Range<usize>,
    /// The value itself.
    pub value: Value,
}

/// A TOML value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A string.
    String(String),
    /// An integer (TOML integers are 64-bit signed).
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// A date or time; the model format has no use for one, so only its kind is kept.
    Datetime,
    /// An array (inline or of tables).
    Array(Vec<Node>),
    /// A table (standard, inline, dotted or implicit).
    Table(Table),
}

impl Value {
    /// The value's kind with an article, for messages: "found a string".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// A table whose entries are in the order they appear in the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

impl Table {
    /// The entry for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }
}

/// One `key = value` of a table.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The key, unquoted.
    pub key: String,
    /// Where the key is written.
    pub key_span: Range<usize>,
    /// The value.
    pub value: Node,
}

/// Parse `source` into its root table, or report every TOML syntax error.
///
/// When the text is not valid TOML the recovered tree is not validated: recovery drops
/// or invents values, and checking what is left would report problems the author did not
/// make. Syntax errors are reported alone, all of them.
pub(crate) fn parse(source: &Source<'_>) -> Result<Node, Vec<Diagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(source.text);
    let mut diagnostics: Vec<Diagnostic> = errors
        .iter()
        .map(|error| syntax_diagnostic(source, error))
        .collect();
    if !diagnostics.is_empty() {
        diagnostics.sort_by_key(|d| d.span.start);
        diagnostics.dedup();
        return Err(diagnostics);
    }
    let span = root.span();
    let mut converter = Converter {
        source,
        diagnostics: Vec::new(),
    };
    let table = converter.table(root.into_inner());
    if converter.diagnostics.is_empty() {
        Ok(Node {
            span,
            value: Value::Table(table),
        })
    } else {
        Err(converter.diagnostics)
    }
}

/// A TOML syntax error as a diagnostic: the parser's message, lower-cased, located at the
/// offending text.
fn syntax_diagnostic(source: &Source<'_>, error: &toml::de::Error) -> Diagnostic {
    let span = error.span().unwrap_or(0..0);
    let mut message = String::from("invalid TOML: ");
    let mut chars = error.message().trim().trim_end_matches('.').chars();
    if let Some(first) = chars.next() {
        message.extend(first.to_lowercase());
        message.push_str(chars.as_str());
    }
    let shown = source
        .text
        .get(span.clone())
        .filter(|text| !text.is_empty() && text.len() <= 40 && !text.contains('\n'));
    if let Some(text) = shown {
        if message.ends_with("duplicate key") {
            message.push_str(&format!(" `{text}`"));
        } else {
            message.push_str(&format!(" at `{text}`"));
        }
    }
    source.diagnostic(Severity::Error, span, None, message, None)
}

/// Copies `toml`'s borrowed, key-sorted tree into the owned, file-ordered [`Node`] tree.
struct Converter<'s, 'a> {
    source: &'s Source<'a>,
    diagnostics: Vec<Diagnostic>,
}

impl Converter<'_, '_> {
    fn table(&mut self, table: DeTable<'_>) -> Table {
        let mut entries: Vec<Entry> = table
            .into_iter()
            .map(|(key, value)| {
                let key_span = key.span();
                Entry {
                    key: key.into_inner().into_owned(),
                    key_span,
                    value: self.node(value),
                }
            })
            .collect();
        entries.sort_by_key(|entry| entry.key_span.start);
        Table { entries }
    }

    fn node(&mut self, node: Spanned<DeValue<'_>>) -> Node {
        let span = node.span();
        let value = match node.into_inner() {
            DeValue::String(text) => Value::String(text.into_owned()),
            DeValue::Integer(integer) => {
                match i64::from_str_radix(integer.as_str(), integer.radix()) {
                    Ok(number) => Value::Integer(number),
                    Err(_) => {
                        self.diagnostics.push(self.source.diagnostic(
                            Severity::Error,
                            span.clone(),
                            None,
                            "integer out of range".to_owned(),
                            Some("integers must fit in 64 bits".to_owned()),
                        ));
                        Value::Integer(0)
                    }
                }
            }
            DeValue::Float(float) => {
                // TOML spells the specials `inf`/`nan` with an optional sign, which Rust's
                // float parser accepts too.
                Value::Float(float.as_str().parse().unwrap_or(f64::NAN))
            }
            DeValue::Boolean(boolean) => Value::Boolean(boolean),
            DeValue::Datetime(_) => Value::Datetime,
            DeValue::Array(array) => {
                Value::Array(array.into_iter().map(|item| self.node(item)).collect())
            }
            DeValue::Table(table) => Value::Table(self.table(table)),
        };
        Node { span, value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Table {
        let source = Source::new("m.toml", text);
        match parse(&source) {
            Ok(Node {
                value: Value::Table(table),
                ..
            }) => table,
            other => panic!("expected a table, got {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let source = Source::new("m.toml", "a = 1\nname = \"Äb\" # x\n");
        assert_eq!(source.position(0), (1, 1));
        assert_eq!(source.position(4), (1, 5));
        assert_eq!(source.position(6), (2, 1));
        // `#` is the 14th byte of its line but the 13th character: `Ä` takes two bytes.
        let hash = source.text.find('#').unwrap_or_default();
        assert_eq!(source.position(hash), (2, 13));
        assert_eq!(source.position(source.text.len()), (3, 1));
    }

    #[test]
    fn table_entries_keep_file_order() {
        let table = root("[teams.zeta]\nmembers = []\n[teams.alpha]\nmembers = []\n");
        let Some(Entry {
            value:
                Node {
                    value: Value::Table(teams),
                    ..
                },
            ..
        }) = table.get("teams")
        else {
            panic!("no teams table");
        };
        let keys: Vec<&str> = teams.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["zeta", "alpha"]);
    }

    #[test]
    fn keys_and_values_carry_spans() {
        let text = "version = 1\n[[fit]]\nid = \"x\"\n";
        let table = root(text);
        let Some(fit) = table.get("fit") else {
            panic!("no fit");
        };
        assert_eq!(&text[fit.key_span.clone()], "fit");
        let Value::Array(items) = &fit.value.value else {
            panic!("fit is not an array");
        };
        // An array-of-tables element is located at its header.
        assert_eq!(&text[items[0].span.clone()], "[[fit]]");
        let Value::Table(rule) = &items[0].value else {
            panic!("not a table");
        };
        let Some(id) = rule.get("id") else {
            panic!("no id");
        };
        assert_eq!(&text[id.value.span.clone()], "\"x\"");
    }

    #[test]
    fn syntax_errors_are_located_diagnostics() {
        let text = "version = 1\nname = \"x\nlabel = 3\n[[fit]\n";
        let source = Source::new("m.toml", text);
        let Err(errors) = parse(&source) else {
            panic!("invalid TOML parsed");
        };
        assert!(!errors.is_empty());
        assert!(
            errors
                .iter()
                .all(|e| e.message.starts_with("invalid TOML: "))
        );
        assert_eq!(errors[0].line, 2, "{errors:?}");
    }

    #[test]
    fn duplicate_keys_are_syntax_errors() {
        let text = "version = 1\nversion = 2\n";
        let source = Source::new("m.toml", text);
        let Err(errors) = parse(&source) else {
            panic!("duplicate key accepted");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (2, 1));
        assert!(errors[0].message.contains("duplicate key"), "{errors:?}");
    }
}
