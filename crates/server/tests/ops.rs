//! Operations: health, metrics, the OpenAPI document, graceful shutdown.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::Server;

#[tokio::test]
async fn healthz_answers_ok() {
    let server = Server::start().await;
    let (status, body) = server.get_text("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status":"ok"})
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_events_and_requests() {
    let server = Server::start().await;
    server
        .ingest(
            "/v1/track",
            json!({"userId":"c-1","event":"Email Opened","timestamp":"2026-01-01T00:00:00Z"}),
        )
        .await;
    server.get("/api/v1/contacts/c-1/score").await;
    let (status, text) = server.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("# TYPE leadscore_events_ingested_total counter"));
    assert!(
        text.contains("leadscore_events_ingested_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("leadscore_http_requests_total{route=\"/v1/track\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains(
        "leadscore_http_requests_total{route=\"/api/v1/contacts/{id}/score\",status=\"200\"} 1"
    ));
    assert!(text.contains("leadscore_http_request_duration_seconds_count{route=\"/v1/track\"} 1"));
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let server = Server::start().await;
    let (status, text) = server.get_text("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/track",
        "/v1/identify",
        "/v1/page",
        "/v1/batch",
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/contacts/{id}/score",
        "/api/v1/contacts/{id}/scores",
        "/api/v1/contacts/{id}/export",
        "/api/v1/contacts/{id}/outcomes",
        "/api/v1/reports/outcomes",
        "/api/v1/models/{version}/backtest",
        "/api/v1/import/contacts",
        "/api/v1/import/events",
        "/api/v1/export/scores",
        "/api/v1/export/contacts",
        "/api/v1/export/events",
        "/healthz",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    // Every $ref points at something that exists.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap().to_owned());
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_and_the_data_stays() {
    let server = Server::start().await;
    server
        .ingest(
            "/v1/track",
            json!({"userId":"c-1","event":"Demo Requested","timestamp":"2026-01-01T00:00:00Z"}),
        )
        .await;
    let store = server.state.store.clone();
    server.stop().await;
    use leadscore_store::Store as _;
    assert_eq!(store.history("c-1").await.unwrap().len(), 1);
    assert!(store.score("c-1").await.unwrap().is_some());
}
