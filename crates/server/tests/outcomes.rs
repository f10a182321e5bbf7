//! Outcomes: `POST`/`GET /api/v1/contacts/{id}/outcomes`, outcomes from Segment track
//! events, and outcomes in the privacy export and erasure.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Server, assert_error};

async fn record(server: &Server, key: Option<&str>, id: &str, body: &Value) -> (StatusCode, Value) {
    server
        .api(
            Method::POST,
            key,
            &format!("/api/v1/contacts/{id}/outcomes"),
            Some(body),
        )
        .await
}

async fn known(server: &Server, id: &str) {
    let (status, body) = server
        .api(
            Method::PUT,
            Some(&server.admin),
            &format!("/api/v1/contacts/{id}"),
            Some(&json!({"job_title": "CTO"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_recorded_outcome_is_stored_listed_and_counted_once_per_key() {
    let server = Server::start().await;
    known(&server, "c1").await;
    let (status, stored) = record(
        &server,
        Some(&server.write),
        "c1",
        &json!({"outcome": "won", "at": "2026-03-01T10:00:00+01:00", "message_id": "crm-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["contact_id"], "c1");
    assert_eq!(stored["outcome"], "won");
    assert_eq!(stored["at"], "2026-03-01T09:00:00Z");
    assert_eq!(stored["source"], "api");
    assert_eq!(stored["message_id"], "crm-1");
    assert!(stored["id"].is_i64());
    // A retry with the same key: 200 with the row stored the first time.
    let (status, again) = record(
        &server,
        Some(&server.admin),
        "c1",
        &json!({"outcome": "lost", "at": "2026-03-02T00:00:00Z", "message_id": "crm-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, stored);
    // Without a key every call counts; the list is in time order.
    let (status, _) = record(
        &server,
        Some(&server.admin),
        "c1",
        &json!({"outcome": "converted", "at": "2026-02-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let listed = server.get_ok("/api/v1/contacts/c1/outcomes").await;
    let outcomes: Vec<(&str, &str)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["outcome"].as_str().unwrap(), o["at"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("converted", "2026-02-01T00:00:00Z"),
            ("won", "2026-03-01T09:00:00Z")
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_outcomes_are_refused_with_the_field_at_fault() {
    let server = Server::start().await;
    known(&server, "c1").await;
    let at = "2026-03-01T00:00:00Z";
    for (body, field) in [
        (json!({"outcome": "maybe", "at": at}), "outcome"),
        (json!({"at": at}), "outcome"),
        (json!({"outcome": 1, "at": at}), "outcome"),
        (json!({"outcome": "won", "at": "yesterday"}), "at"),
        (
            json!({"outcome": "won", "at": "2026-02-30T00:00:00Z"}),
            "at",
        ),
        (json!({"outcome": "won"}), "at"),
        (json!({"outcome": "won", "at": at, "amount": 5}), "amount"),
        (
            json!({"outcome": "won", "at": at, "message_id": 7}),
            "message_id",
        ),
    ] {
        let (status, answer) = record(&server, Some(&server.admin), "c1", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_error(&answer, "invalid", Some(field));
    }
    let (status, answer) = record(&server, Some(&server.admin), "c1", &json!([1])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&answer, "invalid", None);
    // Nothing was stored by any of them.
    let listed = server.get_ok("/api/v1/contacts/c1/outcomes").await;
    assert_eq!(listed["items"], json!([]));
    // Unknown contacts, keys and roles.
    let good = json!({"outcome": "won", "at": at});
    let (status, answer) = record(&server, Some(&server.admin), "nobody", &good).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found", None);
    let (status, answer) = record(&server, Some(&server.read), "c1", &good).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&answer, "forbidden", None);
    let (status, _) = record(&server, None, "c1", &good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .api(
            Method::GET,
            Some(&server.write),
            "/api/v1/contacts/c1/outcomes",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get("/api/v1/contacts/nobody/outcomes").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn segment_outcome_events_record_outcomes_once_at_their_timestamp() {
    let server = Server::start().await;
    let track = |id: &str, user: &str, name: &str, at: &str| json!({"type": "track", "messageId": id, "userId": user, "event": name, "timestamp": at});
    let batch = json!({"batch": [
        track("m1", "u1", "Demo Requested", "2026-01-01T00:00:00Z"),
        track("m2", "u1", "Order Completed", "2026-01-05T00:00:00Z"),
        track("m3", "u2", "Opportunity Lost", "2026-01-06T00:00:00Z"),
        track("m4", "u3", "Opportunity Won", "2026-01-07T00:00:00Z"),
    ]});
    server.ingest("/v1/batch", batch.clone()).await;
    // Segment retries: the same messages again change nothing.
    server.ingest("/v1/batch", batch).await;
    server
        .ingest(
            "/v1/track",
            track("m2", "u1", "Order Completed", "2026-01-05T00:00:00Z"),
        )
        .await;
    let outcomes = |body: Value| -> Vec<(String, String, String, String)> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["outcome"].as_str().unwrap().to_owned(),
                    o["at"].as_str().unwrap().to_owned(),
                    o["source"].as_str().unwrap().to_owned(),
                    o["message_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let row = |o: &str, at: &str, m: &str| {
        (
            o.to_owned(),
            at.to_owned(),
            "segment".to_owned(),
            m.to_owned(),
        )
    };
    assert_eq!(
        outcomes(server.get_ok("/api/v1/contacts/u1/outcomes").await),
        [row("won", "2026-01-05T00:00:00Z", "m2")]
    );
    assert_eq!(
        outcomes(server.get_ok("/api/v1/contacts/u2/outcomes").await),
        [row("lost", "2026-01-06T00:00:00Z", "m3")]
    );
    assert_eq!(
        outcomes(server.get_ok("/api/v1/contacts/u3/outcomes").await),
        [row("won", "2026-01-07T00:00:00Z", "m4")]
    );
    // The API with the event's message id as its key is the same outcome.
    let (status, _) = record(
        &server,
        Some(&server.write),
        "u1",
        &json!({"outcome": "won", "at": "2026-01-05T00:00:00Z", "message_id": "m2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn outcomes_are_in_the_privacy_export_and_gone_after_erasure() {
    let server = Server::start().await;
    known(&server, "c1").await;
    let (status, stored) = record(
        &server,
        Some(&server.admin),
        "c1",
        &json!({"outcome": "won", "at": "2026-03-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, export) = server
        .api(
            Method::GET,
            Some(&server.admin),
            "/api/v1/contacts/c1/export",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["outcomes"], json!([stored]));
    let (status, _) = server
        .api(
            Method::DELETE,
            Some(&server.admin),
            "/api/v1/contacts/c1",
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, _) = server.get("/api/v1/contacts/c1/outcomes").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    use leadscore_store::Outcomes as _;
    assert!(server.state.store.outcomes("c1").await.unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_report_and_backtest_need_outcomes_and_say_what_is_wrong() {
    let server = Server::start().await;
    known(&server, "c1").await;
    let (status, answer) = server.get("/api/v1/reports/outcomes").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_error(&answer, "invalid", None);
    let (status, answer) = server.get("/api/v1/reports/outcomes?as_of=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "bad_request", Some("as_of"));
    let (status, _) = server.get("/api/v1/reports/outcomes?colour=red").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // With `as_of`, a store without outcomes still has a report: nobody converted.
    let report = server
        .get_ok("/api/v1/reports/outcomes?as_of=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(
        (report["contacts"].as_u64(), report["converters"].as_u64()),
        (Some(1), Some(0))
    );

    let backtest = |version: &str, body: Option<Value>| {
        let path = format!("/api/v1/models/{version}/backtest");
        let key = server.read.clone();
        let server = &server;
        async move {
            server
                .api(Method::POST, Some(&key), &path, body.as_ref())
                .await
        }
    };
    let (status, _) = backtest("7", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = backtest("x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "bad_request", Some("version"));
    let (status, answer) = backtest("1", Some(json!({"treshold": 5}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&answer, "invalid", Some("treshold"));
    let (status, answer) = backtest("1", Some(json!({"threshold": "high"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&answer, "invalid", Some("threshold"));
    let (status, _) = server
        .api(
            Method::POST,
            Some(&server.write),
            "/api/v1/models/1/backtest",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test]
async fn the_report_scores_each_contact_just_before_its_outcome() {
    let server = Server::start().await;
    // c1 requests a demo on day 1, wins on day 2, and requests another afterwards: only
    // the first counts. c2 only reads the blog and loses.
    let track = |id: &str, user: &str, name: &str, at: &str| json!({"type": "track", "messageId": id, "userId": user, "event": name, "timestamp": at});
    server
        .ingest(
            "/v1/batch",
            json!({"batch": [
                track("a1", "c1", "Demo Requested", "2026-01-01T00:00:00Z"),
                track("a2", "c1", "Order Completed", "2026-01-02T00:00:00Z"),
                track("a3", "c1", "Demo Requested", "2026-01-03T00:00:00Z"),
                track("b1", "c2", "Page Viewed", "2026-01-01T00:00:00Z"),
                track("b2", "c2", "Opportunity Lost", "2026-01-04T00:00:00Z"),
            ]}),
        )
        .await;
    let report = server.get_ok("/api/v1/reports/outcomes").await;
    assert_eq!(report["contacts"], 2);
    assert_eq!(report["converters"], 1);
    assert_eq!(report["rate"], 0.5);
    let demo = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "demo-request")
        .unwrap();
    // Fired for the converter (before its outcome), for nobody else: lift 1 / 0.5.
    assert_eq!(demo["converters_fired"], 1);
    assert_eq!(demo["non_converters_fired"], 0);
    assert_eq!(demo["lift"], 2.0);
    let funnel = report["funnel"].as_array().unwrap();
    assert_eq!(funnel.last().unwrap()["step"], "won");
    assert_eq!(funnel.last().unwrap()["contacts"], 1);
    server.stop().await;
}
