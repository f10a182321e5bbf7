//! Ingestion: auth, durability-then-score, duplicates, batches with bad messages,
//! out-of-order events, anonymous merges and limits.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Server, assert_error, line, now_plus, read};
use leadscore_store::Store as _;

fn track(user: &str, event: &str, at: &str, id: &str) -> Value {
    json!({"type":"track","userId":user,"event":event,"timestamp":at,"messageId":id})
}

fn page(user: &str, url: &str, at: &str, id: &str) -> Value {
    json!({"type":"page","userId":user,"timestamp":at,"messageId":id,
           "properties":{"url":url}})
}

#[tokio::test]
async fn ingestion_requires_a_write_or_admin_key() {
    let server = Server::start().await;
    let body = track("c-1", "Email Opened", "2026-01-01T00:00:00Z", "m-1");
    let (status, answer) = server.ingest_as(None, "/v1/track", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&answer, "unauthorized", None);
    let (status, answer) = server.ingest_as(Some("lsk_nope"), "/v1/track", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&answer, "unauthorized", None);
    let read = server.read.clone();
    let (status, answer) = server.ingest_as(Some(&read), "/v1/track", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&answer, "forbidden", None);
    // Nothing was stored by the refused calls.
    let (status, _) = server.get("/api/v1/contacts/c-1/score").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let admin = server.admin.clone();
    let (status, _) = server.ingest_as(Some(&admin), "/v1/track", &body).await;
    assert_eq!(status, StatusCode::OK);
    server.ingest("/v1/track", body).await;
    server.stop().await;
}

#[tokio::test]
async fn a_demo_request_adds_the_models_points() {
    let server = Server::start().await;
    let before = now_plus(-1000);
    let at = now_plus(0);
    server
        .ingest(
            "/v1/identify",
            json!({"userId":"c-1","timestamp":before,"traits":{"job_title":"CTO"}}),
        )
        .await;
    let base = server
        .get_ok(&format!("/api/v1/contacts/c-1/score?as_of={at}"))
        .await;
    assert!(line(&base, "demo-request").is_none());
    server
        .ingest(
            "/v1/track",
            json!({"userId":"c-1","event":"Demo Requested","timestamp":at}),
        )
        .await;
    // As of the request's instant: exactly the rule's 40 points.
    let result = server
        .get_ok(&format!("/api/v1/contacts/c-1/score?as_of={at}"))
        .await;
    let demo = line(&result, "demo-request").expect("a demo-request line");
    assert_eq!(demo["points"], 40);
    assert_eq!(demo["count"], 1);
    assert_eq!(demo["label"], "Requested a demo");
    assert_eq!(
        result["raw"].as_f64().unwrap(),
        base["raw"].as_f64().unwrap() + 40.0
    );
    assert!(
        line(&result, "decision-maker").is_some(),
        "identify traits apply: {result}"
    );
    // The stored current score (computed at ingestion) has it too, barely decayed.
    let current = server.get_ok("/api/v1/contacts/c-1/score").await;
    assert_eq!(current["contact_id"], "c-1");
    let points = line(&current, "demo-request").unwrap()["points"]
        .as_f64()
        .unwrap();
    assert!((39.99..=40.0).contains(&points), "{current}");
    server.stop().await;
}

#[tokio::test]
async fn a_repeated_message_id_counts_once() {
    let server = Server::start().await;
    let batch = json!({"batch":[
        track("c-1", "Demo Requested", "2026-01-01T00:00:00Z", "m-1"),
        page("c-1", "https://x.example/pricing", "2026-01-02T00:00:00Z", "m-2"),
        page("c-1", "https://x.example/pricing", "2026-01-03T00:00:00Z", "m-2"),
    ]});
    server.ingest("/v1/batch", batch.clone()).await;
    let path = "/api/v1/contacts/c-1/score?as_of=2026-01-04T00:00:00Z";
    let first = server.get_ok(path).await;
    assert_eq!(line(&first, "pricing-visit").unwrap()["count"], 1);
    server.ingest("/v1/batch", batch).await;
    server
        .ingest(
            "/v1/page",
            page(
                "c-1",
                "https://x.example/pricing",
                "2026-01-03T00:00:00Z",
                "m-2",
            ),
        )
        .await;
    assert_eq!(server.get_ok(path).await, first);
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains("leadscore_events_ingested_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("leadscore_events_duplicate_total 5\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_message_in_a_batch_is_listed_and_the_good_ones_stored() {
    let server = Server::start().await;
    let batch = json!({"batch":[
        track("c-2", "Demo Requested", "2026-01-01T00:00:00Z", "m-1"),
        {"type":"track","event":"Demo Requested","timestamp":"2026-01-01T00:00:00Z"},
        "not a message",
        {"type":"track","userId":"c-2","event":"X","timestamp":"yesterday"},
        page("c-2", "https://x.example/pricing", "2026-01-02T00:00:00Z", "m-2"),
    ]});
    let write = server.write.clone();
    let (status, answer) = server.ingest_as(Some(&write), "/v1/batch", &batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["success"], false);
    assert_error(&answer, "bad_request", Some("batch"));
    let rejected = answer["rejected"].as_array().unwrap();
    let indexes: Vec<_> = rejected
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3]);
    assert_eq!(rejected[0]["field"], "userId");
    assert_eq!(rejected[2]["field"], "timestamp");
    assert!(
        rejected[1]["message"]
            .as_str()
            .unwrap()
            .contains("JSON object")
    );
    let result = server
        .get_ok("/api/v1/contacts/c-2/score?as_of=2026-01-03T00:00:00Z")
        .await;
    assert_eq!(line(&result, "demo-request").unwrap()["count"], 1);
    assert_eq!(line(&result, "pricing-visit").unwrap()["count"], 1);
    server.stop().await;
}

/// A batch's messages are stored as sent plus the server's `receivedAt` (the text
/// path), or, when the message has its own `receivedAt` or spans lines, the general way:
/// either way one line that the parser reads back with the same fields.
#[tokio::test]
async fn batch_messages_are_stored_with_a_received_at_on_one_line() {
    let server = Server::start().await;
    let pretty = "{\"batch\":[\n {\"type\":\"track\",\"userId\":\"r-1\",\"event\":\"Demo Requested\",\n  \"timestamp\":\"2026-01-01T00:00:00Z\",\"messageId\":\"r-a\"},\n \
        {\"messageId\":\"r-b\",\"type\":\"page\",\"userId\":\"r-1\",\"timestamp\":\"2026-01-02T00:00:00Z\",\"properties\":{\"url\":\"https://x.example/pricing\"}},\n \
        {\"type\":\"track\",\"userId\":\"r-1\",\"event\":\"Email Opened\",\"messageId\":\"r-c\",\"receivedAt\":\"2026-01-03T00:00:00Z\"}\n]}";
    let response = server
        .client
        .post(format!("{}/v1/batch", server.base))
        .basic_auth(&server.write, Some(""))
        .header("content-type", "application/json")
        .body(pretty)
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let stored = server.state.store.history("r-1").await.unwrap();
    assert_eq!(stored.len(), 3);
    for event in &stored {
        let body = &event.event.body;
        assert!(!body.contains('\n'), "{body}");
        let value: Value = serde_json::from_str(body).unwrap();
        assert!(value["receivedAt"].is_string(), "{body}");
        assert_eq!(value["userId"], "r-1");
    }
    // The page went the text path: the server's instant in front, the rest as sent.
    let page = &stored[1].event;
    assert_eq!(page.message_id.as_deref(), Some("r-b"));
    assert!(page.body.starts_with("{\"receivedAt\":\""), "{}", page.body);
    assert!(
        page.body
            .ends_with(r#""properties":{"url":"https://x.example/pricing"}}"#)
    );
    // Its own `receivedAt` is kept, and with no `timestamp` it is the message's time.
    let own: Value = serde_json::from_str(&stored[2].event.body).unwrap();
    assert_eq!(own["receivedAt"], "2026-01-03T00:00:00Z");
    assert_eq!(stored[2].event.timestamp, 1_767_398_400_000);
    let result = server
        .get_ok("/api/v1/contacts/r-1/score?as_of=2026-01-04T00:00:00Z")
        .await;
    assert_eq!(line(&result, "demo-request").unwrap()["count"], 1);
    assert_eq!(line(&result, "pricing-visit").unwrap()["count"], 1);
    server.stop().await;
}

#[tokio::test]
async fn out_of_order_events_score_like_in_order() {
    let server = Server::start().await;
    let events = |user: &str| {
        vec![
            page(
                user,
                "https://x.example/pricing",
                "2026-01-01T00:00:00Z",
                &format!("{user}-1"),
            ),
            page(
                user,
                "https://x.example/pricing",
                "2026-01-05T00:00:00Z",
                &format!("{user}-2"),
            ),
            track(
                user,
                "Email Delivered",
                "2026-01-06T00:00:00Z",
                &format!("{user}-3"),
            ),
            page(
                user,
                "https://x.example/pricing",
                "2026-01-10T00:00:00Z",
                &format!("{user}-4"),
            ),
            page(
                user,
                "https://x.example/pricing",
                "2026-01-12T00:00:00Z",
                &format!("{user}-5"),
            ),
            track(
                user,
                "Demo Requested",
                "2026-01-20T00:00:00Z",
                &format!("{user}-6"),
            ),
        ]
    };
    for event in events("in-order") {
        server.ingest("/v1/batch", json!({"batch":[event]})).await;
    }
    let mut shuffled = events("shuffled");
    shuffled.reverse();
    shuffled.swap(1, 4);
    for event in shuffled {
        server.ingest("/v1/batch", json!({"batch":[event]})).await;
    }
    let as_of = "?as_of=2026-02-01T00:00:00Z";
    let mut a = server
        .get_ok(&format!("/api/v1/contacts/in-order/score{as_of}"))
        .await;
    let mut b = server
        .get_ok(&format!("/api/v1/contacts/shuffled/score{as_of}"))
        .await;
    assert!(line(&a, "no-reaction").is_some(), "{a}");
    a["contact_id"] = Value::Null;
    b["contact_id"] = Value::Null;
    assert_eq!(a, b);
    server.stop().await;
}

#[tokio::test]
async fn as_of_in_the_past_leaves_out_later_events() {
    let server = Server::start().await;
    server
        .ingest(
            "/v1/batch",
            json!({"batch":[
                page("c-3", "https://x.example/pricing", "2026-01-01T00:00:00Z", "m-1"),
                track("c-3", "Demo Requested", "2026-03-01T00:00:00Z", "m-2"),
            ]}),
        )
        .await;
    let early = server
        .get_ok("/api/v1/contacts/c-3/score?as_of=2026-02-01T00:00:00Z")
        .await;
    assert_eq!(early["as_of"], "2026-02-01T00:00:00Z");
    assert!(line(&early, "pricing-visit").is_some());
    assert!(line(&early, "demo-request").is_none(), "{early}");
    let late = server
        .get_ok("/api/v1/contacts/c-3/score?as_of=2026-03-01T00:00:00Z")
        .await;
    assert_eq!(line(&late, "demo-request").unwrap()["points"], 40);
    server.stop().await;
}

#[tokio::test]
async fn anonymous_activity_joins_the_contact_on_identify() {
    let server = Server::start().await;
    server
        .ingest(
            "/v1/page",
            json!({"anonymousId":"anon-1","timestamp":"2026-01-01T00:00:00Z",
                   "properties":{"url":"https://x.example/pricing"}}),
        )
        .await;
    server
        .ingest(
            "/v1/identify",
            json!({"userId":"c-4","anonymousId":"anon-1","timestamp":"2026-01-02T00:00:00Z",
                   "traits":{"email":"a@b.example"}}),
        )
        .await;
    let after = server
        .get_ok("/api/v1/contacts/c-4/score?as_of=2026-01-03T00:00:00Z")
        .await;
    assert_eq!(
        line(&after, "pricing-visit").unwrap()["count"],
        1,
        "{after}"
    );
    // Before the identify, the visit was not yet this contact's.
    let before = server
        .get_ok("/api/v1/contacts/c-4/score?as_of=2026-01-01T12:00:00Z")
        .await;
    assert!(line(&before, "pricing-visit").is_none(), "{before}");
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_json_errors_and_store_nothing() {
    let server = Server::start().await;
    let write = server.write.clone();
    // Not JSON.
    let response = server
        .client
        .post(format!("{}/v1/track", server.base))
        .basic_auth(&write, Some(""))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, answer) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "bad_request", None);
    // Missing userId and anonymousId.
    let (status, answer) = server
        .ingest_as(
            Some(&write),
            "/v1/track",
            &json!({"event":"X","timestamp":"2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "bad_request", Some("userId"));
    // A type that contradicts the route.
    let (status, answer) = server
        .ingest_as(
            Some(&write),
            "/v1/track",
            &json!({"type":"identify","userId":"c-9"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "bad_request", Some("type"));
    // A batch without `batch`.
    let (status, answer) = server
        .ingest_as(Some(&write), "/v1/batch", &json!({"x":[]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "bad_request", Some("batch"));
    // Too many messages: nothing stored.
    let many: Vec<_> = (0..501)
        .map(|i| {
            track(
                "c-9",
                "Email Opened",
                "2026-01-01T00:00:00Z",
                &format!("m-{i}"),
            )
        })
        .collect();
    let (status, answer) = server
        .ingest_as(Some(&write), "/v1/batch", &json!({ "batch": many }))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&answer, "payload_too_large", Some("batch"));
    // A body over the limit.
    let huge = json!({"userId":"c-9","event":"X","timestamp":"2026-01-01T00:00:00Z",
                      "properties":{"blob":"x".repeat(600 * 1024)}});
    let (status, answer) = server.ingest_as(Some(&write), "/v1/track", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&answer, "payload_too_large", None);
    let (status, _) = server.get("/api/v1/contacts/c-9/score").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
