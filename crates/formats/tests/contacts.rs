//! The contacts CSV reader.

use leadscore_engine::{Fields, Value, ValueRef};
use leadscore_formats::{ContactRow, ContactsReader, RowError, RowErrorKind};

use crate::common;

fn read(contents: &[u8]) -> (common::TempFile, Vec<Result<ContactRow, RowError>>) {
    let file = common::file("contacts.csv", contents);
    let rows = ContactsReader::open(&file.path).expect("header").collect();
    (file, rows)
}

#[test]
fn bom_quotes_empty_cells_and_whitespace() {
    let (_file, rows) = read(
        b"\xEF\xBB\xBFid, email ,company,job_title,company_size\n\
          c-1,anna@example.com,\"Acme, Inc.\",  Head of Sales ,250\n\
          c-2,,\"Quote \"\"Co\"\"\",,\n",
    );
    let rows: Vec<ContactRow> = rows.into_iter().map(|r| r.expect("valid row")).collect();
    assert_eq!(rows.len(), 2);
    let anna = &rows[0];
    assert_eq!((anna.line, anna.id.as_str()), (2, "c-1"));
    let attrs: Vec<(&str, &Value)> = anna.attributes.iter().collect();
    assert_eq!(
        attrs,
        vec![
            ("company", &Value::Str("Acme, Inc.".into())),
            ("company_size", &Value::Str("250".into())),
            ("email", &Value::Str("anna@example.com".into())),
            ("job_title", &Value::Str("Head of Sales".into())),
        ]
    );
    assert_eq!(
        anna.attributes.field("email_domain"),
        Some(ValueRef::Str("example.com"))
    );
    assert_eq!(anna.attributes.get("id"), None);

    let second = &rows[1];
    assert_eq!((second.line, second.id.as_str()), (3, "c-2"));
    assert_eq!(second.attributes.len(), 1);
    assert_eq!(
        second.attributes.get("company"),
        Some(&Value::Str("Quote \"Co\"".into()))
    );
    assert_eq!(second.attributes.get("email"), None);
}

#[test]
fn email_is_the_id_without_an_id_column_and_stays_an_attribute() {
    let (_file, rows) = read(b"Email,country\nanna@example.com,DE\n");
    let row = rows.into_iter().next().expect("a row").expect("valid");
    assert_eq!(row.id, "anna@example.com");
    assert_eq!(
        row.attributes.get("email"),
        Some(&Value::Str("anna@example.com".into()))
    );
    assert_eq!(
        row.attributes.get("country"),
        Some(&Value::Str("DE".into()))
    );
}

#[test]
fn bad_rows_name_path_line_and_field() {
    let (file, rows) = read(
        b"id,name,note\n\
          c-1,Anna,\"multi\nline\"\n\
          ,Ben,x\n\
          c-3,Carla\n\
          c-4,\xFF,x\n\
          ,,\n\
          \n\
          c-5,Dora,y\n",
    );
    let path = file.path.display();
    let summary: Vec<String> = rows
        .iter()
        .map(|r| match r {
            Ok(row) => format!("ok {} {}", row.line, row.id),
            Err(e) => format!("{} [{}]", e, e.field.as_deref().unwrap_or("-")),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "ok 2 c-1".to_owned(),
            format!("{path}:4: missing `id`: every contact needs an id [id]"),
            format!("{path}:5: expected 3 fields as in the header, found 2 [-]"),
            format!("{path}:6: `name` is not valid UTF-8 [name]"),
            "ok 9 c-5".to_owned(),
        ]
    );
    assert!(
        rows.iter()
            .flatten()
            .all(|r| r.attributes.get("id").is_none())
    );
    assert!(
        rows.iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.kind == RowErrorKind::Invalid && !e.is_warning())
    );
}

#[test]
fn duplicate_ids_warn_and_the_later_row_wins() {
    let (file, rows) = read(b"id,plan\nc-1,free\nc-2,free\nc-1,pro\n");
    assert_eq!(rows.len(), 4);
    let warning = rows[2].as_ref().expect_err("warning first");
    assert!(warning.is_warning());
    assert_eq!(warning.kind, RowErrorKind::DuplicateId);
    assert_eq!(warning.line, 4);
    assert_eq!(warning.field.as_deref(), Some("id"));
    assert_eq!(
        warning.to_string(),
        format!(
            "{}:4: duplicate id `c-1` (also on line 2)",
            file.path.display()
        )
    );
    let replacement = rows[3].as_ref().expect("then the row");
    assert_eq!((replacement.line, replacement.id.as_str()), (4, "c-1"));
    assert_eq!(
        replacement.attributes.get("plan"),
        Some(&Value::Str("pro".into()))
    );
}

#[test]
fn header_without_id_or_email_is_fatal_and_names_the_file() {
    let file = common::file("people.csv", "name,company\nAnna,Acme\n");
    let err = ContactsReader::open(&file.path).expect_err("no id column");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the header has neither an `id` nor an `email` column (found: name, company)",
            file.path.display()
        )
    );
}

#[test]
fn empty_files_and_bad_headers_are_fatal() {
    for (contents, message) in [
        ("", "empty file: expected a header row"),
        ("id,,name\n", "header column 2 has no name"),
        (
            "id,name,name\n",
            "column `name` appears twice in the header",
        ),
    ] {
        let file = common::file("contacts.csv", contents);
        let err = ContactsReader::open(&file.path).expect_err(contents);
        assert_eq!(err.message, message);
        assert_eq!(err.path, file.path);
    }
}

#[test]
fn reads_from_any_reader() {
    let reader = ContactsReader::from_reader(&b"id\nc-1\n"[..], "<stdin>").expect("header");
    assert_eq!(reader.id_column(), "id");
    let rows: Vec<_> = reader.collect();
    assert_eq!(rows.len(), 1);
}

/// Hands out one byte per read, to cross every buffer boundary.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(slot)) => {
                *slot = b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn crlf_blank_lines_and_multiline_quotes_keep_exact_line_numbers() {
    let text: &[u8] = b"\xEF\xBB\xBF\r\n\"id\",note\r\n\r\nc-1,\"two\r\nlines\"\r\n\r\n\r\nc-2,x\r\n,missing\r\nc-4,\"a,b\"";
    for trickle in [false, true] {
        let reader: Box<dyn std::io::Read> = if trickle {
            Box::new(Trickle(text))
        } else {
            Box::new(text)
        };
        let rows: Vec<String> = ContactsReader::from_reader(reader, "c.csv")
            .expect("header")
            .map(|r| match r {
                Ok(row) => format!("{} {} {:?}", row.line, row.id, row.attributes.get("note")),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                r#"4 c-1 Some(Str("two\r\nlines"))"#.to_owned(),
                r#"8 c-2 Some(Str("x"))"#.to_owned(),
                "c.csv:9: missing `id`: every contact needs an id".to_owned(),
                r#"10 c-4 Some(Str("a,b"))"#.to_owned(),
            ],
            "trickle = {trickle}"
        );
    }
}
