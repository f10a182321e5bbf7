//! Manual adjustments: `POST`/`GET /api/v1/contacts/{id}/adjustments`.

use leadscore_store::Store as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Server, assert_error, line};

/// A contact with fit points only (no events, so nothing decays between reads).
async fn fit_only(server: &Server, id: &str) -> Value {
    let (status, body) = server
        .api(
            Method::PUT,
            Some(&server.admin),
            &format!("/api/v1/contacts/{id}"),
            Some(&json!({"job_title": "CTO", "company": {"size": 120}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn adjust(server: &Server, key: &str, id: &str, body: &Value) -> (StatusCode, Value) {
    server
        .api(
            Method::POST,
            Some(key),
            &format!("/api/v1/contacts/{id}/adjustments"),
            Some(body),
        )
        .await
}

#[tokio::test]
async fn an_adjustment_moves_the_score_by_its_points_and_is_explained() {
    let server = Server::start().await;
    let before = fit_only(&server, "c1").await;
    let (status, added) = adjust(
        &server,
        &server.admin,
        "c1",
        &json!({"points": 7, "reason": "met at the trade fair", "group": null}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["points"], 7.0);
    assert_eq!(added["reason"], "met at the trade fair");
    assert_eq!(added["author"], "test admin");
    assert_eq!(added["group"], Value::Null);
    assert!(added["id"].is_i64());

    // The stored score moved by exactly 7, and the explanation says who and why.
    let after = server.get_ok("/api/v1/contacts/c1/score").await;
    assert_eq!(added["score"], after);
    assert_eq!(
        after["raw"].as_f64().unwrap(),
        before["raw"].as_f64().unwrap() + 7.0
    );
    assert_eq!(
        after["score"].as_i64().unwrap(),
        before["score"].as_i64().unwrap() + 7
    );
    assert_eq!(after["manual"], 7);
    let manual = line(&after, "manual").expect("a manual line");
    assert_eq!(manual["author"], "test admin");
    assert_eq!(manual["label"], "met at the trade fair");
    assert_eq!(manual["points"], 7);

    // In a group the model has; listed oldest first; in the score history.
    let (status, grouped) = adjust(
        &server,
        &server.admin,
        "c1",
        &json!({"points": -2.5, "reason": "no budget this year", "group": "product-interest"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{grouped}");
    assert_eq!(grouped["score"]["manual"], 4.5);
    let list = server.get_ok("/api/v1/contacts/c1/adjustments").await;
    let reasons: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["met at the trade fair", "no budget this year"]);
    assert_eq!(list["items"][1]["group"], "product-interest");
    let history = server.get_ok("/api/v1/contacts/c1/scores").await;
    assert_eq!(history["items"].as_array().unwrap().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn bad_adjustments_are_refused_and_store_nothing() {
    let server = Server::start().await;
    fit_only(&server, "c1").await;
    let admin = server.admin.clone();
    for (body, field) in [
        (json!({"points": 5}), "reason"),
        (json!({"points": 5, "reason": "  "}), "reason"),
        (json!({"points": 5, "reason": 3}), "reason"),
        (json!({"reason": "why"}), "points"),
        (json!({"points": "5", "reason": "why"}), "points"),
        (
            json!({"points": 5, "reason": "why", "group": "no-such-group"}),
            "group",
        ),
        (
            json!({"points": 5, "reason": "why", "author": "me"}),
            "author",
        ),
    ] {
        let (status, answer) = adjust(&server, &admin, "c1", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_error(&answer, "invalid", Some(field));
    }
    let good = json!({"points": 5, "reason": "why"});
    // A read key cannot change anything; a write key is for ingestion only.
    for key in [server.read.clone(), server.write.clone()] {
        let (status, answer) = adjust(&server, &key, "c1", &good).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert_error(&answer, "forbidden", None);
    }
    // An unknown contact.
    let (status, answer) = adjust(&server, &admin, "nobody", &good).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(
        server
            .state
            .store
            .adjustments("c1")
            .await
            .unwrap()
            .is_empty()
    );
    // Never editable nor deletable through the API.
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let (status, _) = server
            .api(
                method.clone(),
                Some(&admin),
                "/api/v1/contacts/c1/adjustments",
                Some(&good),
            )
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    server.stop().await;
}

#[tokio::test]
async fn erasure_removes_adjustments() {
    let server = Server::start().await;
    fit_only(&server, "c1").await;
    let (status, _) = adjust(
        &server,
        &server.admin,
        "c1",
        &json!({"points": 3, "reason": "called us"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = server
        .api(
            Method::DELETE,
            Some(&server.admin),
            "/api/v1/contacts/c1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        server
            .state
            .store
            .adjustments("c1")
            .await
            .unwrap()
            .is_empty()
    );
    let (status, _) = server.get("/api/v1/contacts/c1/adjustments").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The contact created again starts without them.
    let again = fit_only(&server, "c1").await;
    assert_eq!(again["manual"], 0);
    server.stop().await;
}
