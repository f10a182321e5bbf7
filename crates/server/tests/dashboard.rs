//! The dashboard end to end in a real browser: Debian's `chromium`, driven by
//! `playwright-core` from `tests/dashboard/e2e.mjs`, against a real server on
//! `127.0.0.1:0` (SQLite, `examples/b2b.toml`) seeded with 300 generated contacts and
//! their events through the import API.
//!
//! The script signs in, opens the list, opens the top lead, compares its timeline and
//! explanation with the API, adds a manual adjustment and sees the score move, uploads
//! a broken model and sees its located error, sees the report charts, checks that a
//! read key gets no adjustment form, and saves screenshots of every page at laptop
//! and phone widths into `target/dashboard-screenshots/`.
//!
//! `.ci/run` installs Chromium and the npm package first; when either is still
//! missing, the test installs it itself (`apt-get install -y chromium`, `npm ci`) and
//! fails, saying why, when that is impossible: it never skips.

#[allow(dead_code)]
#[path = "support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use leadscore_engine::Engine;
use leadscore_server::Config;
use leadscore_server::deliver::DeliveryConfig;
use reqwest::StatusCode;
use support::Server;

/// A webhook receiver on 127.0.0.1 that answers 500 to the first request of each
/// idempotency key (a delivery) and 204 to the later ones; its URL.
async fn failing_once_receiver() -> String {
    async fn hook(
        axum::extract::State(seen): axum::extract::State<Arc<Mutex<HashSet<String>>>>,
        headers: HeaderMap,
    ) -> AxumStatus {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if seen.lock().unwrap().insert(key) {
            AxumStatus::INTERNAL_SERVER_ERROR
        } else {
            AxumStatus::NO_CONTENT
        }
    }
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(Arc::new(Mutex::new(HashSet::new())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard")
}

/// Run `program args` in `dir` (off the async runtime); its output, or a panic saying
/// what failed.
async fn run(program: &'static str, args: Vec<String>, dir: PathBuf) -> std::process::Output {
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
    output
}

/// The Chromium binary: `LEADSCORE_CHROMIUM`, else Debian's, installed when missing.
async fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("LEADSCORE_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        run(
            "apt-get",
            vec!["install".into(), "-y".into(), "chromium".into()],
            script_dir(),
        )
        .await;
    }
    assert!(
        path.exists(),
        "{} is missing: run `apt-get install -y chromium` (.ci/run does) before the tests",
        path.display()
    );
    path
}

/// `playwright-core` in `tests/dashboard/node_modules`, installed when missing.
async fn playwright() {
    let modules = script_dir().join("node_modules/playwright-core");
    if !modules.is_dir() {
        run(
            "npm",
            vec!["ci".into(), "--no-audit".into(), "--no-fund".into()],
            script_dir(),
        )
        .await;
    }
    assert!(
        modules.is_dir(),
        "{} is missing: run `npm ci --no-audit --no-fund` in crates/server/tests/dashboard \
         (.ci/run does) before the tests",
        modules.display()
    );
}

/// 300 generated contacts with about 20 events each over the last 90 days, imported
/// through the API (so scores, stages and owners are the server's own).
/// Returns the generated outcomes CSV (`id,outcome,at`), not yet sent.
async fn seed(server: &Server, model: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let config = leadscore_generate::Config {
        contacts: 300,
        seed: 7,
        start: now - 90 * 86_400_000,
        end: now - 60_000,
        events_per_contact: 20,
    };
    let (mut contacts, mut events, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
    leadscore_generate::generate(&config, &mut contacts, &mut events, &mut outcomes).unwrap();
    for (path, body, kind) in [
        ("/api/v1/import/contacts", contacts, "text/csv"),
        ("/api/v1/import/events", events, "application/x-ndjson"),
    ] {
        let response = server
            .client
            .post(format!("{}{path}", server.base))
            .bearer_auth(&server.admin)
            .header("content-type", kind)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
    }
    let page = server.get_ok("/api/v1/contacts?limit=1").await;
    assert!(page["items"][0]["score"].as_i64().is_some(), "{page}");
    // The server's model as stored version 1, active (the same text: scores stay).
    let response = server
        .client
        .post(format!("{}/api/v1/models", server.base))
        .bearer_auth(&server.admin)
        .body(model.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let (status, body) = server
        .api(
            reqwest::Method::POST,
            Some(&server.admin),
            "/api/v1/models/1/activate",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    String::from_utf8(outcomes).unwrap()
}

/// Send the generated outcomes as a CRM would: one `POST .../outcomes` each, with the
/// write key; returns how many.
async fn send_outcomes(server: &Server, csv: &str) -> usize {
    let mut sent = 0;
    for (i, line) in csv.lines().skip(1).enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let [id, outcome, at] = fields[..] else {
            panic!("outcome line {}: {line}", i + 2)
        };
        let (status, body) = server
            .api(
                reqwest::Method::POST,
                Some(&server.write),
                &format!("/api/v1/contacts/{id}/outcomes"),
                Some(&serde_json::json!({"outcome": outcome, "at": at, "message_id": format!("o-{i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{line}: {body}");
        sent += 1;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let browser = chromium().await;
    playwright().await;
    // The example model with its CRM webhook pointed at a loopback receiver that
    // refuses each delivery's first attempt: with one attempt allowed, every
    // hot-lead webhook is a dead letter for the Replay button, and a replay succeeds.
    let hook = failing_once_receiver().await;
    let model = support::MODEL.replace("https://crm.example.com/hooks/leadscore", &hook);
    let config = Config {
        delivery: DeliveryConfig {
            worker: true,
            allow_hosts: vec!["127.0.0.1".into()],
            max_attempts: 1,
            poll: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            ..DeliveryConfig::default()
        },
        ..Config::default()
    };
    let engine = Engine::new(leadscore_model::load("b2b.toml", &model).unwrap().model);
    let server = Server::start_configured(engine, config).await;
    let outcomes = seed(&server, &model).await;
    assert!(send_outcomes(&server, &outcomes).await > 10, "{outcomes}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let dead = server
            .get_ok("/api/v1/webhooks/deliveries?status=dead&limit=500")
            .await;
        let webhooks = dead["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "webhook")
            .count();
        if webhooks > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dead webhook delivery: {dead}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The page and its assets are served with their types and caching headers.
    let (status, page) = server.get_text("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/assets/app.js"), "{page}");
    let response = server
        .client
        .get(format!("{}/assets/app.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].clone();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let again = server
        .client
        .get(format!("{}/assets/app.js", server.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let (status, _) = server.get_text("/assets/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let output = run(
        "node",
        vec![
            "e2e.mjs".into(),
            server.base.clone(),
            server.admin.clone(),
            server.read.clone(),
            shots.display().to_string(),
            browser.display().to_string(),
        ],
        script_dir(),
    )
    .await;
    println!("{}", String::from_utf8_lossy(&output.stdout));
    for page in ["contacts", "contact", "model", "reports", "automation"] {
        for width in ["laptop", "phone"] {
            let file = shots.join(format!("{page}-{width}.png"));
            assert!(file.is_file(), "{} was not written", file.display());
        }
    }
    server.stop().await;
}

/// The API routes the dashboard added: `me`, `q` search, the timeline and the
/// distribution report (over HTTP, without a browser).
#[tokio::test]
async fn the_dashboard_api_routes_answer() {
    let server = Server::start().await;
    seed(&server, support::MODEL).await;
    let me = server.get_ok("/api/v1/me").await;
    assert_eq!(me["role"], "read", "{me}");
    assert_eq!(
        me["model"]["labels"],
        serde_json::json!(["hot", "warm", "cold"])
    );
    let (status, _) = server
        .api(
            reqwest::Method::GET,
            Some(&server.write),
            "/api/v1/me",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Search by id and by an attribute (company names are in the generated CSV).
    let hit = server.get_ok("/api/v1/contacts?q=C-12&limit=500").await;
    let ids: Vec<&str> = hit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["contact_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"c-12") && ids.contains(&"c-120"), "{ids:?}");
    assert!(ids.iter().all(|id| id.contains("c-12")), "{ids:?}");
    let record = server.get_ok("/api/v1/contacts/c-1").await;
    let email = record["attributes"]["email"].as_str().unwrap().to_owned();
    let by_email = server
        .get_ok(&format!("/api/v1/contacts?q={}", email.to_uppercase()))
        .await;
    assert_eq!(by_email["items"][0]["contact_id"], "c-1", "{by_email}");
    let (status, body) = server
        .get(&format!("/api/v1/contacts?q={}", "x".repeat(300)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    support::assert_error(&body, "bad_request", Some("q"));

    // The timeline of the top lead adds up to its explanation.
    let top = server.get_ok("/api/v1/contacts?limit=1").await;
    let id = top["items"][0]["contact_id"].as_str().unwrap().to_owned();
    let score = server.get_ok(&format!("/api/v1/contacts/{id}/score")).await;
    let timeline = server
        .get_ok(&format!("/api/v1/contacts/{id}/timeline"))
        .await;
    assert!(
        !timeline["items"].as_array().unwrap().is_empty(),
        "{timeline}"
    );
    for rule in timeline["rules"].as_array().unwrap() {
        let line = support::line(&score, rule["rule"].as_str().unwrap());
        let explained = line.map_or(0.0, |l| l["points"].as_f64().unwrap());
        let capped = line.map_or(0.0, |l| l["capped"].as_f64().unwrap_or(0.0));
        let summed = rule["events_points"].as_f64().unwrap();
        assert!(
            (summed - explained - capped).abs() < 0.05,
            "{rule} vs {line:?}"
        );
    }
    let (status, _) = server.get("/api/v1/contacts/nobody/timeline").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The distribution counts every contact once.
    let report = server.get_ok("/api/v1/reports/distribution").await;
    assert_eq!(report["total"], 300, "{report}");
    let bucketed: u64 = report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(bucketed, 300);
    let labelled: u64 = report["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(labelled, 300);
    let (status, _) = server.get("/api/v1/reports/distribution?bucket=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A rescoring shows in the (cached) distribution: the bottom contact moves from
    // its bucket to one above every other.
    let at_most = |report: &serde_json::Value, score: f64| -> u64 {
        report["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["from"].as_f64().unwrap() <= score)
            .map(|b| b["count"].as_u64().unwrap())
            .sum()
    };
    let high = report["max"].as_f64().unwrap();
    let all = server.get_ok("/api/v1/contacts?limit=500").await;
    let bottom = all["items"].as_array().unwrap().last().unwrap().clone();
    let bottom_id = bottom["contact_id"].as_str().unwrap();
    let low = bottom["raw"].as_f64().unwrap();
    assert_eq!(server.get_ok("/api/v1/reports/distribution").await, report);
    let points = (high - low).ceil() + 20.0;
    let (status, body) = server
        .api(
            reqwest::Method::POST,
            Some(&server.admin),
            &format!("/api/v1/contacts/{bottom_id}/adjustments"),
            Some(&serde_json::json!({"points": points, "reason": "met at the fair"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let moved = body["score"]["raw"].as_f64().unwrap();
    assert!(moved >= high + 10.0, "{body}");
    let after = server.get_ok("/api/v1/reports/distribution").await;
    assert_eq!(after["total"], 300);
    assert!(
        (after["max"].as_f64().unwrap() - moved).abs() < 1e-3,
        "{after}"
    );
    assert_eq!(at_most(&report, high), 300);
    assert_eq!(at_most(&after, high), 299, "{after}");

    // The group filter: the contacts with points in the group, most first.
    let group = me["model"]["groups"][0].as_str().unwrap().to_owned();
    let all = server.get_ok("/api/v1/contacts?limit=500").await;
    let points_in = |r: &serde_json::Value| r["groups"][&group].as_f64().unwrap_or(0.0);
    let mut expected: Vec<(f64, String)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| points_in(r) != 0.0)
        .map(|r| (points_in(r), r["contact_id"].as_str().unwrap().to_owned()))
        .collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    assert!(expected.len() > 10, "{group}: {expected:?}");
    let mut got = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server
            .get_ok(&format!(
                "/api/v1/contacts?group={group}&limit=7&cursor={cursor}"
            ))
            .await;
        got.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (points_in(r), r["contact_id"].as_str().unwrap().to_owned())),
        );
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(got, expected);
    let none = server.get_ok("/api/v1/contacts?group=no-such-group").await;
    assert_eq!(none["items"], serde_json::json!([]));
    server.stop().await;
}
