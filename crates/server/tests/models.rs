//! Models in operation (upload, list, diff, activate, roll back, background
//! rescoring) and the background tick.

use std::time::Duration;

use leadscore_server::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{MODEL, Server, assert_error, now_plus};

/// POST a TOML body to `/api/v1/models` with `key`.
async fn upload(server: &Server, key: &str, text: &str) -> (StatusCode, Value) {
    let response = server
        .client
        .post(format!("{}/api/v1/models", server.base))
        .bearer_auth(key)
        .header("content-type", "application/toml")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    crate::support::read(response).await
}

async fn activate(server: &Server, version: i64) -> Value {
    let (status, body) = server
        .api(
            Method::POST,
            Some(&server.admin),
            &format!("/api/v1/models/{version}/activate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body
}

/// Polls the progress endpoint until the rescoring of `version` finished.
async fn wait_rescored(server: &Server, version: i64) -> Value {
    for _ in 0..500 {
        let progress = server.get_ok("/api/v1/models/rescoring").await;
        if progress["version"] == version && progress["finished"] == true {
            return progress;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("rescoring of version {version} did not finish");
}

/// Every current score, by contact id.
async fn scores(server: &Server) -> Vec<(String, f64)> {
    let page = server.get_ok("/api/v1/contacts?limit=500").await;
    let mut all: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["contact_id"].as_str().unwrap().to_owned(),
                r["raw"].as_f64().unwrap(),
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[tokio::test]
async fn an_invalid_model_is_a_422_with_located_diagnostics_and_is_not_stored() {
    let server = Server::start().await;
    let broken = "version = 1\nname = \"broken\"\n\n[[fit]]\nid = \"a\"\npoints = \"many\"\n";
    let (status, body) = upload(&server, &server.admin, broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid_model", None);
    let located: Vec<_> = body["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["line"].as_i64().unwrap(), d["column"].as_i64().unwrap()))
        .collect();
    assert_eq!(located, [(4, 1), (6, 10)], "{body}");
    let points = &body["diagnostics"][1];
    assert_eq!(points["rule"], "a");
    assert!(points["message"].as_str().unwrap().contains("points"));
    assert!(points.get("help").is_some());
    // Not TOML at all: located too.
    let (status, body) = upload(&server, &server.admin, "version = \n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["diagnostics"][0]["line"], 1);
    // Nothing stored; a read key may not upload.
    assert_eq!(server.get_ok("/api/v1/models").await["items"], json!([]));
    let (status, _) = upload(&server, &server.read, MODEL).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .api(
            Method::POST,
            Some(&server.admin),
            "/api/v1/models/1/activate",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn activation_rescores_everyone_and_a_rollback_restores_the_old_numbers() {
    let server = Server::start().await;
    // Contacts scored by the starting model.
    for i in 0..30 {
        let title = if i % 2 == 0 { "CTO" } else { "Intern" };
        server
            .ingest(
                "/v1/identify",
                json!({"userId": format!("u{i:02}"), "traits": {"job_title": title},
                       "timestamp": now_plus(-1000)}),
            )
            .await;
    }
    let original = scores(&server).await;
    assert_eq!(original.len(), 30);

    let (status, v1) = upload(&server, &server.admin, MODEL).await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert_eq!(
        (v1["version"].as_i64(), &v1["active"]),
        (Some(1), &json!(false))
    );
    assert!(v1["summary"].as_str().unwrap().starts_with("b2b-example"));
    // Version 2: decision-makers are worth 20 points more.
    let changed = MODEL.replacen("points = 20", "points = 40", 1);
    assert_ne!(changed, MODEL);
    let (status, v2) = upload(&server, &server.read.clone(), &changed).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v2}");
    let (status, v2) = upload(&server, &server.admin, &changed).await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(v2["version"], 2);

    let list = server.get_ok("/api/v1/models").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let shown = server.get_ok("/api/v1/models/2").await;
    assert_eq!(shown["text"], changed.as_str());
    let diff = server.get_ok("/api/v1/models/1/diff/2").await;
    assert_eq!(
        (diff["added"].as_i64(), diff["removed"].as_i64()),
        (Some(1), Some(1))
    );
    let unified = diff["unified"].as_str().unwrap();
    assert!(
        unified.contains("-points = 20\n") && unified.contains("+points = 40\n"),
        "{unified}"
    );
    let (status, body) = server.get("/api/v1/models/9").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = server.get("/api/v1/models/x/diff/2").await;
    assert_error(&body, "bad_request", Some("a"));
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Activate 2: everyone is rescored in the background.
    let (status, _) = server
        .api(
            Method::POST,
            Some(&server.read),
            "/api/v1/models/2/activate",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let activated = activate(&server, 2).await;
    assert_eq!(activated["active"], true);
    assert_eq!(activated["rescoring"]["total"], 30);
    let progress = wait_rescored(&server, 2).await;
    assert_eq!(
        (progress["done"].as_i64(), progress["total"].as_i64()),
        (Some(30), Some(30))
    );
    let after = scores(&server).await;
    for ((id, old), (_, new)) in original.iter().zip(&after) {
        let expected = if id[1..].parse::<u32>().unwrap() % 2 == 0 {
            old + 20.0
        } else {
            *old
        };
        assert!((new - expected).abs() < 1e-6, "{id}: {old} -> {new}");
    }
    let metrics = server.get_text("/metrics").await.1;
    assert!(metrics.contains("leadscore_rescoring_done 30"), "{metrics}");
    assert!(
        metrics.contains("leadscore_model_active_version 2"),
        "{metrics}"
    );
    // New scores use it at once (ingestion too).
    server
        .ingest(
            "/v1/identify",
            json!({"userId": "new", "traits": {"job_title": "CTO"}}),
        )
        .await;
    let fresh = server.get_ok("/api/v1/contacts/new/score").await;
    assert_eq!(fresh["explain"][0]["points"], 40, "{fresh}");

    // Roll back: activate 1 again; the old numbers return.
    activate(&server, 1).await;
    wait_rescored(&server, 1).await;
    let rolled_back: Vec<_> = scores(&server)
        .await
        .into_iter()
        .filter(|(id, _)| id != "new")
        .collect();
    for ((id, old), (_, back)) in original.iter().zip(&rolled_back) {
        assert!((old - back).abs() < 1e-6, "{id}: {old} -> {back}");
    }
    let list = server.get_ok("/api/v1/models").await;
    let active: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["active"].as_bool().unwrap())
        .collect();
    assert_eq!(active, [true, false]);
    server.stop().await;
}

/// A model whose only points halve every minute.
const FAST_DECAY: &str = r#"version = 1
name = "fast-decay"

[[engagement]]
id = "demo"
label = "Asked for a demo"
event = "Demo Requested"
points = 100
decay = { half_life = "1m" }
"#;

#[tokio::test]
async fn the_tick_keeps_decaying_scores_current_and_records_only_changes() {
    let checked = leadscore_model::load("fast.toml", FAST_DECAY).unwrap();
    let config = Config {
        tick: Some(Duration::from_secs(1)),
        ..Config::default()
    };
    let server =
        Server::start_configured(leadscore_engine::Engine::new(checked.model), config).await;
    server
        .ingest(
            "/v1/track",
            json!({"userId": "hot", "event": "Demo Requested", "timestamp": now_plus(0)}),
        )
        .await;
    // A contact whose score time does not move.
    let (status, _) = server
        .api(
            Method::PUT,
            Some(&server.admin),
            "/api/v1/contacts/still",
            Some(&json!({"job_title": "CTO"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let hot_before = server.get_ok("/api/v1/contacts/hot/score").await;
    let still_before = server.get_ok("/api/v1/contacts/still/score").await;
    assert!(hot_before["score"].as_i64().unwrap() >= 99, "{hot_before}");

    // No new events: only time passes (10 s of a 1 min half-life is 11%).
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let hot_after = server.get_ok("/api/v1/contacts/hot/score").await;
    let still_after = server.get_ok("/api/v1/contacts/still/score").await;
    assert_ne!(hot_after["as_of"], hot_before["as_of"]);
    let (before, after) = (
        hot_before["raw"].as_f64().unwrap(),
        hot_after["raw"].as_f64().unwrap(),
    );
    assert!(
        after < before * 0.93 && after > before * 0.8,
        "{before} -> {after}"
    );
    // The stored score is at most a tick or two old.
    let as_of = leadscore_formats::parse_timestamp(hot_after["as_of"].as_str().unwrap()).unwrap();
    let now = leadscore_formats::parse_timestamp(&now_plus(0)).unwrap();
    assert!(now - as_of < 2_500, "{}", now - as_of);
    // Lists sort by the current numbers.
    let list = server.get_ok("/api/v1/contacts").await;
    assert_eq!(list["items"][0]["raw"], hot_after["raw"]);

    // History: the decaying contact gained entries (its reported score moved), the
    // other none although its stored score is newer.
    let hot_history = server.get_ok("/api/v1/contacts/hot/scores").await;
    let hot_scores: Vec<_> = hot_history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["score"].as_i64().unwrap())
        .collect();
    assert!(hot_scores.len() >= 5, "{hot_scores:?}");
    assert!(
        hot_scores.windows(2).all(|w| w[0] != w[1]),
        "{hot_scores:?}"
    );
    assert_ne!(still_after["as_of"], still_before["as_of"]);
    let still_history = server.get_ok("/api/v1/contacts/still/scores").await;
    assert_eq!(still_history["items"].as_array().unwrap().len(), 1);
    server.stop().await;
}
