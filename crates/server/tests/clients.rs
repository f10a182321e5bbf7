//! Real Segment SDKs, not hand-made requests: the official Node
//! (`@segment/analytics-node`) and Python (`segment-analytics-python`) clients, pointed
//! at the server with its address and a write key, send identifies and tracks; the
//! scores then move as `examples/b2b.toml` says.
//!
//! The clients live in `tests/clients/`, pinned by `package-lock.json` and
//! `requirements.txt`. `.ci/run` installs them first; when they are still missing, each
//! test installs its client itself (`npm ci`, `pip install`), so that the README's one
//! test command works on a fresh machine, and fails, saying why, if that is impossible.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Server, line};

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Run `program args` in `tests/clients` (off the async runtime) and require success.
async fn run(program: &'static str, args: Vec<String>) {
    let dir = clients_dir();
    let shown = format!("{program} {}", args.join(" "));
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program).args(&args).current_dir(dir).output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run `{program}` (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "`{shown}` failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The three contacts a client script sent, scored: `PREFIX-a` (CTO, asked for a
/// demo), `PREFIX-b` (CTO), `PREFIX-c` (Intern).
async fn check_scores(server: &Server, prefix: &str) {
    let a = server
        .get_ok(&format!("/api/v1/contacts/{prefix}-a/score"))
        .await;
    let b = server
        .get_ok(&format!("/api/v1/contacts/{prefix}-b/score"))
        .await;
    let c = server
        .get_ok(&format!("/api/v1/contacts/{prefix}-c/score"))
        .await;
    // The identify's traits set fit.
    for result in [&a, &b] {
        let fit = line(result, "decision-maker").unwrap_or_else(|| panic!("{result}"));
        assert_eq!(fit["points"], 20.0, "{result}");
    }
    assert!(line(&c, "decision-maker").is_none(), "{c}");
    let intern = line(&c, "non-decision-maker").unwrap_or_else(|| panic!("{c}"));
    assert_eq!(intern["points"], -15.0, "{c}");
    assert!(
        b["fit"].as_f64().unwrap() - c["fit"].as_f64().unwrap() >= 35.0,
        "{b} {c}"
    );
    // The track adds the demo rule's points (40, decayed by seconds at most).
    let demo = line(&a, "demo-request").unwrap_or_else(|| panic!("{a}"));
    let points = demo["points"].as_f64().unwrap();
    assert!((39.9..=40.0).contains(&points), "{a}");
    assert!(line(&b, "demo-request").is_none(), "{b}");
    let raw = |v: &Value| v["raw"].as_f64().unwrap();
    assert!((raw(&a) - raw(&b) - points).abs() < 1e-6, "{a} {b}");
    assert_eq!(a["fit"], b["fit"], "{a} {b}");
}

#[tokio::test]
async fn the_official_node_client_moves_scores() {
    let modules = clients_dir().join("node_modules/@segment/analytics-node");
    if !modules.is_dir() {
        run(
            "npm",
            vec!["ci".into(), "--no-audit".into(), "--no-fund".into()],
        )
        .await;
    }
    assert!(
        modules.is_dir(),
        "{} is missing: run `npm ci --no-audit --no-fund` in crates/server/tests/clients \
         (.ci/run does) before the tests",
        modules.display()
    );
    let server = Server::start().await;
    run(
        "node",
        vec![
            "script.mjs".into(),
            server.base.clone(),
            server.write.clone(),
            "node".into(),
        ],
    )
    .await;
    check_scores(&server, "node").await;
    server.stop().await;
}

#[tokio::test]
async fn the_official_python_client_moves_scores() {
    let import = || async {
        tokio::task::spawn_blocking(|| {
            Command::new("python3")
                .args(["-c", "import segment.analytics"])
                .output()
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run `python3`: {e}"))
    };
    let mut installed = import().await;
    if !installed.status.success() {
        run(
            "python3",
            vec![
                "-m".into(),
                "pip".into(),
                "install".into(),
                "--quiet".into(),
                "-r".into(),
                "requirements.txt".into(),
            ],
        )
        .await;
        installed = import().await;
    }
    assert!(
        installed.status.success(),
        "the Python package `segment-analytics-python` is missing ({}): run \
         `pip install -r crates/server/tests/clients/requirements.txt` (.ci/run does) \
         before the tests",
        String::from_utf8_lossy(&installed.stderr).trim()
    );
    let server = Server::start().await;
    run(
        "python3",
        vec![
            "script.py".into(),
            server.base.clone(),
            server.write.clone(),
            "py".into(),
        ],
    )
    .await;
    check_scores(&server, "py").await;
    server.stop().await;
}

/// The current official SDKs send the write key as `writeKey` in the body, not as a
/// header: accepted from there (without an `Authorization` header), with the same
/// roles as the header.
#[tokio::test]
async fn a_write_key_in_the_body_is_accepted_like_the_header() {
    let server = Server::start().await;
    let message = |key: &str| {
        serde_json::json!({"writeKey": key, "batch": [
            {"type":"track","userId":"wk-1","event":"Demo Requested","messageId":"wk-m-1"}]})
    };
    let (status, answer) = server
        .ingest_as(None, "/v1/batch", &message(&server.read.clone()))
        .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = server
        .ingest_as(None, "/v1/batch", &message("lsk_nope"))
        .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{answer}");
    let (status, _) = server.get("/api/v1/contacts/wk-1/score").await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    server
        .ingest("/v1/batch", message(&server.write.clone()))
        .await;
    let history = server.get_ok("/api/v1/contacts/wk-1/score").await;
    assert!(line(&history, "demo-request").is_some(), "{history}");
    // The key is not kept in the stored message.
    use leadscore_store::Store as _;
    let stored = server.state.store.history("wk-1").await.unwrap();
    assert!(
        !stored[0].event.body.contains("lsk_"),
        "{}",
        stored[0].event.body
    );
    server.stop().await;
}
