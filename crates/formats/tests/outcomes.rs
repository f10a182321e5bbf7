//! The outcomes CSV reader.

use leadscore_formats::{Outcome, OutcomeRow, OutcomesReader, parse_timestamp};

use crate::common;

#[test]
fn reads_outcomes_in_any_column_order() {
    let file = common::file(
        "outcomes.csv",
        "at,ID,Outcome,amount\n\
         2026-05-01T09:30:00Z,c-1,WON,1000\n\
         2026-05-02T00:00:00+02:00,c-2,lost,\n\
         2026-05-03T00:00:00Z,c-3,1,\n\
         2026-05-04T00:00:00Z,c-4,0,\n\
         2026-05-05T00:00:00Z,c-1, converted ,\n",
    );
    let rows: Vec<OutcomeRow> = OutcomesReader::open(&file.path)
        .expect("header")
        .map(|r| r.expect("valid"))
        .collect();
    let got: Vec<(u64, &str, Outcome)> = rows
        .iter()
        .map(|r| (r.line, r.id.as_str(), r.outcome))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "c-1", Outcome::Won),
            (3, "c-2", Outcome::Lost),
            (4, "c-3", Outcome::Converted),
            (5, "c-4", Outcome::NotConverted),
            (6, "c-1", Outcome::Converted),
        ]
    );
    assert_eq!(
        rows[0].at,
        parse_timestamp("2026-05-01T09:30:00Z").expect("ts")
    );
    assert_eq!(
        rows[1].at,
        parse_timestamp("2026-05-01T22:00:00Z").expect("ts")
    );
}

#[test]
fn bad_rows_name_line_and_field() {
    let file = common::file(
        "outcomes.csv",
        "id,outcome,at\n\
         c-1,maybe,2026-05-01T09:30:00Z\n\
         c-2,won,last tuesday\n\
         ,won,2026-05-01T09:30:00Z\n\
         c-4,,2026-05-01T09:30:00Z\n\
         c-5,won,\n\
         c-6,won\n\
         c-7,won,2026-05-01T09:30:00Z\n",
    );
    let path = file.path.display();
    let got: Vec<String> = OutcomesReader::open(&file.path)
        .expect("header")
        .map(|r| match r {
            Ok(row) => format!("ok {} {}", row.line, row.id),
            Err(e) => format!("{e} [{}]", e.field.as_deref().unwrap_or("-")),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            format!(
                "{path}:2: `outcome`: unknown outcome `maybe`: expected won, lost, converted, 1 or 0 [outcome]"
            ),
            format!("{path}:3: `at` is not an RFC 3339 timestamp: `last tuesday` [at]"),
            format!("{path}:4: missing `id` [id]"),
            format!("{path}:5: missing `outcome` [outcome]"),
            format!("{path}:6: missing `at` [at]"),
            format!("{path}:7: expected 3 fields as in the header, found 2 [-]"),
            "ok 8 c-7".to_owned(),
        ]
    );
}

#[test]
fn header_must_name_the_three_columns() {
    let file = common::file("outcomes.csv", "id,result,at\nc-1,won,2026-05-01\n");
    let err = OutcomesReader::open(&file.path).expect_err("no outcome column");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the header has no `outcome` column (expected `id,outcome,at`, found: id, result, at)",
            file.path.display()
        )
    );
}
