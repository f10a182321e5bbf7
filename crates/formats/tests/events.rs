//! Segment messages and the JSONL reader.

use leadscore_engine::{Fields, Value, ValueRef};
use leadscore_formats::{
    JsonlReader, LineErrorKind, MessageError, MessageKind, format_timestamp, parse_message,
};

use crate::common;

const AT: &str = "\"timestamp\":\"2026-05-01T09:30:00Z\"";
const AT_MS: i64 = 1_777_627_800_000;

fn line(body: &str) -> String {
    format!("{{{body},{AT}}}")
}

#[test]
fn page_becomes_page_viewed_with_name_and_url_fields() {
    let text = line(
        r#""type":"page","userId":"c-1","name":"Pricing","properties":{"url":"https://example.com/pricing","title":"Plans"}"#,
    );
    let m = parse_message(&text).expect("valid page");
    assert_eq!(m.kind, MessageKind::Page);
    assert_eq!(m.event.as_deref(), Some("Page Viewed"));
    assert_eq!(m.field("event"), Some(ValueRef::Str("Page Viewed")));
    assert_eq!(m.field("name"), Some(ValueRef::Str("Pricing")));
    assert_eq!(
        m.field("properties.url"),
        Some(ValueRef::Str("https://example.com/pricing"))
    );

    let event = m.to_event();
    assert_eq!(event.name, "Page Viewed");
    assert_eq!(event.timestamp, AT_MS);
    assert_eq!(event.field("name"), Some(ValueRef::Str("Pricing")));
    assert_eq!(
        event.field("properties.url"),
        Some(ValueRef::Str("https://example.com/pricing"))
    );
    assert_eq!(event.field("type"), Some(ValueRef::Str("page")));
    assert_eq!(event.field("userId"), Some(ValueRef::Str("c-1")));
}

#[test]
fn screen_becomes_screen_viewed() {
    let text = line(r#""type":"Screen","anonymousId":"a-1","name":"Home""#);
    let m = parse_message(&text).expect("valid screen");
    assert_eq!(m.event.as_deref(), Some("Screen Viewed"));
    assert_eq!(m.field("name"), Some(ValueRef::Str("Home")));
}

#[test]
fn type_is_case_insensitive() {
    let text = line(r#""type":"TRACK","event":"Signed Up","userId":"u""#);
    let m = parse_message(&text).expect("valid");
    assert_eq!(m.kind, MessageKind::Track);
    assert_eq!(m.field("type"), Some(ValueRef::Str("track")));
}

#[test]
fn anonymous_messages_parse() {
    let text =
        line(r#""type":"track","event":"Email Opened","anonymousId":"anon-9","messageId":"m-2""#);
    let m = parse_message(&text).expect("anonymous track");
    assert_eq!(m.user_id, None);
    assert_eq!(m.anonymous_id.as_deref(), Some("anon-9"));
    assert_eq!(m.identity(), "anon-9");
    assert_eq!(m.field("anonymousId"), Some(ValueRef::Str("anon-9")));
    let event = m.to_event();
    assert_eq!(event.message_id.as_deref(), Some("m-2"));
    assert_eq!(event.field("userId"), None);
}

#[test]
fn empty_user_id_falls_back_to_anonymous_id() {
    let text = line(r#""type":"track","event":"E","userId":"","anonymousId":"a-1""#);
    let m = parse_message(&text).expect("valid");
    assert_eq!(m.user_id, None);
    assert_eq!(m.identity(), "a-1");
}

#[test]
fn identify_traits_flatten_to_dotted_keys_and_null_removes() {
    let text = line(
        r#""type":"identify","userId":"c-1","traits":{"email":"Anna@Example.com","company":{"name":"Acme","size":250,"address":{"country":"DE"}},"vip":true,"phone":null,"tags":["a","b"]}"#,
    );
    let m = parse_message(&text).expect("valid identify");
    assert_eq!(m.kind, MessageKind::Identify);
    assert_eq!(m.event, None);
    let traits = m.traits().expect("traits");
    assert_eq!(
        traits,
        vec![
            (
                "email".to_owned(),
                Some(Value::Str("Anna@Example.com".into()))
            ),
            ("company.name".to_owned(), Some(Value::Str("Acme".into()))),
            ("company.size".to_owned(), Some(Value::Num(250.0))),
            (
                "company.address.country".to_owned(),
                Some(Value::Str("DE".into()))
            ),
            ("vip".to_owned(), Some(Value::Bool(true))),
            ("phone".to_owned(), None),
        ]
    );
    assert_eq!(m.field("traits.company.size"), Some(ValueRef::Num(250.0)));
}

#[test]
fn messages_without_traits_have_none() {
    let text = line(r#""type":"identify","userId":"c-1""#);
    let m = parse_message(&text).expect("valid");
    assert_eq!(m.traits().expect("traits"), vec![]);
}

#[test]
fn context_is_read_by_dotted_path() {
    let text = line(
        r#""type":"track","event":"E","userId":"u","context":{"ip":"10.0.0.1","page":{"path":"/pricing"},"library":{"name":"analytics.js"}}"#,
    );
    let m = parse_message(&text).expect("valid");
    assert_eq!(m.field("context.ip"), Some(ValueRef::Str("10.0.0.1")));
    assert_eq!(
        m.field("context.page.path"),
        Some(ValueRef::Str("/pricing"))
    );
    assert_eq!(m.field("context.missing"), None);
    let event = m.to_event();
    assert_eq!(
        event.field("context.page.path"),
        Some(ValueRef::Str("/pricing"))
    );
}

#[test]
fn timestamps_with_offsets_are_converted_to_utc() {
    let m = parse_message(
        r#"{"type":"track","event":"E","userId":"u","timestamp":"2026-05-01T11:30:00.250+02:00"}"#,
    )
    .expect("valid");
    assert_eq!(m.timestamp, AT_MS + 250);
    assert_eq!(format_timestamp(m.timestamp), "2026-05-01T09:30:00.250Z");
}

#[test]
fn timestamp_falls_back_in_segment_order() {
    let base = r#""type":"track","event":"E","userId":"u""#;
    let cases = [
        (
            r#""originalTimestamp":"2026-05-01T09:30:01Z","receivedAt":"2026-05-01T09:30:02Z","sentAt":"2026-05-01T09:30:03Z""#,
            AT_MS + 1000,
        ),
        (
            r#""receivedAt":"2026-05-01T09:30:02Z","sentAt":"2026-05-01T09:30:03Z""#,
            AT_MS + 2000,
        ),
        (r#""sentAt":"2026-05-01T09:30:03Z""#, AT_MS + 3000),
        (
            r#""timestamp":null,"sentAt":"2026-05-01T09:30:03Z""#,
            AT_MS + 3000,
        ),
    ];
    for (times, expected) in cases {
        let text = format!("{{{base},{times}}}");
        assert_eq!(
            parse_message(&text).expect(&text).timestamp,
            expected,
            "{text}"
        );
    }
}

#[test]
fn a_bad_timestamp_is_named_and_not_papered_over() {
    let err = parse_message(
        r#"{"type":"track","event":"E","userId":"u","timestamp":"01/05/2026","receivedAt":"2026-05-01T09:30:02Z"}"#,
    )
    .expect_err("bad timestamp");
    assert_eq!(err.field(), Some("timestamp"));
    assert_eq!(
        err.to_string(),
        "`timestamp` is not an RFC 3339 timestamp: `01/05/2026`"
    );
    let err = parse_message(r#"{"type":"track","event":"E","userId":"u","sentAt":"soon"}"#)
        .expect_err("bad sentAt");
    assert_eq!(err.field(), Some("sentAt"));
}

#[test]
fn validation_errors_name_the_field() {
    let cases: [(&str, &str); 12] = [
        ("not json", "not valid JSON at column 2: expected ident"),
        (
            "[1,2]",
            "not a message: expected a JSON object `{...}`, found an array",
        ),
        (
            r#"{"userId":"u","timestamp":"2026-05-01T09:30:00Z"}"#,
            "missing `type` (track, page, screen, identify, alias or group)",
        ),
        (
            r#"{"type":"click","userId":"u","timestamp":"2026-05-01T09:30:00Z"}"#,
            "unknown `type` `click`: expected track, page, screen, identify, alias or group",
        ),
        (
            r#"{"type":"track","userId":"u","timestamp":"2026-05-01T09:30:00Z"}"#,
            "missing `event`: a track message names its event",
        ),
        (
            r#"{"type":"track","event":"  ","userId":"u","timestamp":"2026-05-01T09:30:00Z"}"#,
            "missing `event`: a track message names its event",
        ),
        (
            r#"{"type":"track","event":"E","timestamp":"2026-05-01T09:30:00Z"}"#,
            "missing `userId` and `anonymousId`: a message needs at least one",
        ),
        (
            r#"{"type":"track","event":"E","userId":"u"}"#,
            "missing timestamp: none of `timestamp`, `originalTimestamp`, `receivedAt`, `sentAt` is set",
        ),
        (
            r#"{"type":"track","event":"E","userId":{"id":1},"timestamp":"2026-05-01T09:30:00Z"}"#,
            "`userId` must be a string, found an object",
        ),
        (
            r#"{"type":"track","event":7,"userId":"u","timestamp":"2026-05-01T09:30:00Z"}"#,
            "`event` must be a string, found a number",
        ),
        (
            r#"{"type":"track","event":"E","userId":"u","timestamp":"2026-05-01T09:30:00Z","properties":[1]}"#,
            "`properties` must be an object, found an array",
        ),
        (
            r#"{"type":"alias","userId":"u","timestamp":"2026-05-01T09:30:00Z"}"#,
            "missing `previousId`: an alias message names the id it links",
        ),
    ];
    for (text, message) in cases {
        let err = parse_message(text).expect_err(text);
        assert_eq!(err.to_string(), message, "{text}");
    }
    assert!(matches!(
        parse_message("{\"type\":\"track\","),
        Err(MessageError::Json { .. })
    ));
}

#[test]
fn alias_links_previous_id() {
    let text = line(r#""type":"alias","userId":"c-1","previousId":"anon-9""#);
    let m = parse_message(&text).expect("valid alias");
    assert_eq!(m.kind, MessageKind::Alias);
    assert_eq!(m.previous_id.as_deref(), Some("anon-9"));
}

/// A file with blank lines, CRLF, a BOM, a bad JSON line, a bad message and invalid
/// UTF-8: every error carries the exact line number.
fn messy_file() -> Vec<u8> {
    let mut text = Vec::new();
    text.extend_from_slice(b"\xEF\xBB\xBF");
    text.extend_from_slice(line(r#""type":"track","event":"A","userId":"u""#).as_bytes());
    text.extend_from_slice(b"\r\n\n   \n");
    text.extend_from_slice(b"{oops\n");
    text.extend_from_slice(line(r#""type":"track","userId":"u""#).as_bytes());
    text.extend_from_slice(b"\n");
    text.extend_from_slice(b"{\"type\":\"track\",\"event\":\"\xFF\"}\n");
    text.extend_from_slice(line(r#""type":"page","userId":"u""#).as_bytes());
    text
}

fn read_all_lines(reader: &mut JsonlReader<impl std::io::BufRead>) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Some(item) = reader.next_line() {
        match item {
            Ok(line) => match parse_message(line.text) {
                Ok(m) => out.push((line.number, m.event_name().to_owned())),
                Err(e) => out.push((line.number, line.error(e).to_string())),
            },
            Err(e) => {
                assert_eq!(e.kind, LineErrorKind::Invalid);
                out.push((e.line, e.to_string()));
            }
        }
    }
    out
}

#[test]
fn reader_reports_exact_line_numbers_from_a_file() {
    let file = common::file("events.jsonl", messy_file());
    let mut reader = JsonlReader::open(&file.path).expect("open");
    let path = file.path.display();
    assert_eq!(
        read_all_lines(&mut reader),
        vec![
            (1, "A".to_owned()),
            (
                4,
                format!("{path}:4: not valid JSON at column 2: key must be a string")
            ),
            (
                5,
                format!("{path}:5: missing `event`: a track message names its event")
            ),
            (6, format!("{path}:6: not valid UTF-8 (byte 26)")),
            (7, "Page Viewed".to_owned()),
        ]
    );
    assert_eq!(reader.lines_read(), 7);
}

#[test]
fn chunks_hold_whole_lines_with_exact_numbers() {
    let text = messy_file();
    let mut expected = JsonlReader::new(&text[..], "events.jsonl");
    let expected = read_all_lines(&mut expected);
    for (max_bytes, buffer) in [0, 1, 10, 60, 100, 1 << 20]
        .into_iter()
        .flat_map(|max| [(max, 1), (max, 7), (max, 1 << 16)])
    {
        let input = std::io::BufReader::with_capacity(buffer, &text[..]);
        let mut reader = JsonlReader::new(input, "events.jsonl");
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = reader.read_chunk(max_bytes).expect("read") {
            chunks += 1;
            for e in &chunk.errors {
                got.push((e.line, e.to_string()));
            }
            for (number, line) in chunk.lines() {
                match parse_message(line) {
                    Ok(m) => got.push((number, m.event_name().to_owned())),
                    Err(e) => got.push((number, reader.error(number, e).to_string())),
                }
            }
        }
        got.sort();
        assert_eq!(got, expected, "max_bytes = {max_bytes}, buffer = {buffer}");
        assert!(chunks >= 1);
        assert_eq!(reader.lines_read(), 7);
    }
}

#[test]
fn chunked_reading_of_a_big_file_matches_line_reading() {
    let mut text = String::new();
    for i in 0..5000 {
        if i % 7 == 3 {
            text.push('\n');
        }
        text.push_str(&format!(
            "{{\"type\":\"track\",\"event\":\"E{i}\",\"userId\":\"u{i}\",{AT}}}\n"
        ));
    }
    let file = common::file("big.jsonl", &text);
    let mut by_line = Vec::new();
    let mut reader = JsonlReader::open(&file.path).expect("open");
    while let Some(line) = reader.next_line() {
        let line = line.expect("line");
        by_line.push((line.number, line.text.to_owned()));
    }
    let mut by_chunk = Vec::new();
    let mut reader = JsonlReader::open(&file.path).expect("open");
    while let Some(chunk) = reader.read_chunk(4096).expect("chunk") {
        assert!(chunk.text.ends_with('\n'));
        by_chunk.extend(chunk.lines().map(|(n, l)| (n, l.to_owned())));
    }
    assert_eq!(by_line.len(), 5000);
    assert_eq!(by_line, by_chunk);
    assert_eq!(by_line.last().map(|(n, _)| *n), Some(5000 + 5000 / 7));
}

#[test]
fn last_line_without_newline_is_read() {
    let text = line(r#""type":"track","event":"A","userId":"u""#);
    let mut reader = JsonlReader::new(text.as_bytes(), "-");
    let line = reader.next_line().expect("a line").expect("valid");
    assert_eq!((line.number, line.text), (1, text.as_str()));
    assert!(reader.next_line().is_none());
}

#[test]
fn a_missing_file_is_a_file_error_naming_it() {
    let err = JsonlReader::open("/nonexistent/events.jsonl").expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/events.jsonl: cannot open:"),
        "{err}"
    );
}
