//! The service's outcome report and backtest agree with the CLI's: the same generated
//! contacts, events and outcomes, loaded into `leadscore serve` through its imports and
//! `POST /api/v1/contacts/{id}/outcomes`, give the JSON `leadscore report --format
//! json` and `leadscore backtest --format json` print from the files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{Serve, create_key};
use crate::support::{generated, leadscore, s, scratch, stderr, stdout};

/// One HTTP/1.1 request with `Authorization: Bearer key`; the status and the body.
fn call(
    address: &str,
    method: &str,
    path: &str,
    key: &str,
    body: &[u8],
    kind: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn json_call(address: &str, method: &str, path: &str, key: &str, body: &[u8], kind: &str) -> Value {
    let (status, text) = call(address, method, path, key, body, kind);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
}

/// `a` and `b` are the same JSON, numbers equal up to 1e-12 relative: sums over the
/// contacts run in file order in the CLI and in id order in the service, which moves
/// the last bit of a float.
fn assert_same(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "{at}: {x} != {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_same(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{at}: members");
            for (k, v) in x {
                assert_same(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

fn cli_json(args: &[&str]) -> Value {
    let out = leadscore(args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON")
}

#[test]
fn the_api_report_and_backtest_equal_the_cli_ones_on_the_same_data() {
    let dir = generated("api-report", 300, 41);
    let (contacts, events, outcomes) = (
        dir.join("contacts.csv"),
        dir.join("events.jsonl"),
        dir.join("outcomes.csv"),
    );
    let db_dir = scratch("api-report-db");
    let db = format!("sqlite://{}", db_dir.join("report.db").display());
    let admin = create_key(&db, "admin");
    let server = Serve::start(&db);
    let address = server.address.as_str();
    let read = |path: &str| std::fs::read(path).expect("read");
    json_call(
        address,
        "POST",
        "/api/v1/import/contacts",
        &admin,
        &read(s(&contacts)),
        "text/csv",
    );
    json_call(
        address,
        "POST",
        "/api/v1/import/events",
        &admin,
        &read(s(&events)),
        "application/x-ndjson",
    );
    let outcome_rows = std::fs::read_to_string(&outcomes).expect("outcomes");
    let mut recorded = 0;
    for row in outcome_rows.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let body = json!({"outcome": cells[1], "at": cells[2]}).to_string();
        json_call(
            address,
            "POST",
            &format!("/api/v1/contacts/{}/outcomes", cells[0]),
            &admin,
            body.as_bytes(),
            "application/json",
        );
        recorded += 1;
    }
    assert!(recorded > 10, "the generated data has outcomes");

    let api = json_call(
        address,
        "GET",
        "/api/v1/reports/outcomes",
        &admin,
        b"",
        "application/json",
    );
    let cli = cli_json(&[
        "report",
        "--model",
        "examples/b2b.toml",
        "--contacts",
        s(&contacts),
        "--events",
        s(&events),
        "--outcomes",
        s(&outcomes),
        "--format",
        "json",
    ]);
    assert_same(&api, &cli, "report");
    assert_eq!(api["contacts"], 300);
    // The example model has `[account]`: the account report is there, with outcomes
    // (so members of accounts with an outcome were scored again at its instant, in
    // both) and both predictors' AUC.
    let accounts = &api["accounts"];
    assert!(accounts["accounts"].as_u64() > Some(10), "{accounts}");
    assert!(accounts["converters"].as_u64() > Some(0), "{accounts}");
    assert_eq!(accounts["band_width"], 20, "hot = 150 in examples/b2b.toml");
    assert_eq!(
        accounts["by_band"]
            .as_array()
            .map(|b| b.iter().filter_map(|g| g["contacts"].as_u64()).sum::<u64>()),
        accounts["accounts"].as_u64()
    );
    assert!(accounts["account_score"]["auc"].is_f64(), "{accounts}");
    assert!(accounts["best_member_score"]["auc"].is_f64(), "{accounts}");
    // The funnel has its timing.
    assert!(
        api["funnel"][0]["median_days_to_next"].is_f64(),
        "{}",
        api["funnel"]
    );

    // The backtest of a stored version against the active model (the same file here).
    let model = std::fs::read(crate::support::root().join("examples/b2b.toml")).expect("model");
    let uploaded = json_call(
        address,
        "POST",
        "/api/v1/models",
        &admin,
        &model,
        "application/toml",
    );
    let version = uploaded["version"].as_i64().expect("a version");
    let api = json_call(
        address,
        "POST",
        &format!("/api/v1/models/{version}/backtest"),
        &admin,
        b"",
        "application/json",
    );
    let cli = cli_json(&[
        "backtest",
        "--model",
        "examples/b2b.toml",
        "--baseline",
        "examples/b2b.toml",
        "--contacts",
        s(&contacts),
        "--events",
        s(&events),
        "--outcomes",
        s(&outcomes),
        "--format",
        "json",
    ]);
    let models = api["models"].as_array().expect("models");
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["model"], format!("v{version} b2b-example"));
    for (a, c) in models.iter().zip(cli["models"].as_array().expect("models")) {
        assert_same(&a["evaluation"], &c["evaluation"], "backtest");
    }
    // With a threshold too.
    let api = json_call(
        address,
        "POST",
        &format!("/api/v1/models/{version}/backtest"),
        &admin,
        br#"{"threshold": 40}"#,
        "application/json",
    );
    assert!(
        api["models"][0]["evaluation"]["qualified"]
            .as_u64()
            .is_some()
    );
    drop(server);
}
