//! The REST API: scores, lists with paging, attributes, erasure and roles.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Server, assert_error, line};

#[tokio::test]
async fn putting_attributes_changes_fit() {
    let server = Server::start().await;
    let admin = server.admin.clone();
    let (status, result) = server
        .api(
            Method::PUT,
            Some(&admin),
            "/api/v1/contacts/c-1",
            Some(&json!({"job_title":"CTO","company_size":500,"country":null})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{result}");
    assert_eq!(line(&result, "decision-maker").unwrap()["points"], 20);
    assert_eq!(line(&result, "size-mid-market").unwrap()["points"], 15);
    assert_eq!(result["fit"], 35);
    let (status, result) = server
        .api(
            Method::PUT,
            Some(&admin),
            "/api/v1/contacts/c-1",
            Some(&json!({"job_title":"Intern"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(line(&result, "decision-maker").is_none());
    assert_eq!(line(&result, "non-decision-maker").unwrap()["points"], -15);
    // The stored current score and the record follow.
    let current = server.get_ok("/api/v1/contacts/c-1/score").await;
    assert_eq!(current["fit"], -15);
    let contact = server.get_ok("/api/v1/contacts/c-1").await;
    assert_eq!(contact["attributes"], json!({"job_title":"Intern"}));
    // Both scores are in the history, oldest first.
    let history = server.get_ok("/api/v1/contacts/c-1/scores").await;
    let fits: Vec<_> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["fit"].clone())
        .collect();
    assert_eq!(fits, [json!(35), json!(-15)]);
    server.stop().await;
}

#[tokio::test]
async fn attributes_must_be_an_object_of_scalars() {
    let server = Server::start().await;
    let admin = server.admin.clone();
    for (body, field) in [(json!([1, 2]), None), (json!({"tags":["a"]}), Some("tags"))] {
        let (status, answer) = server
            .api(
                Method::PUT,
                Some(&admin),
                "/api/v1/contacts/c-1",
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_error(&answer, "invalid", field);
    }
    let (status, _) = server.get("/api/v1/contacts/c-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn the_list_is_sorted_by_score_and_pages_with_a_cursor() {
    let server = Server::start().await;
    let admin = server.admin.clone();
    let contacts = [
        ("a", json!({"job_title":"Intern"})),
        ("b", json!({"job_title":"CTO","company_size":500})),
        ("c", json!({"job_title":"CTO"})),
        ("d", json!({"company_size":500})),
        ("e", json!({"job_title":"CTO","company_size":500})),
    ];
    for (id, attributes) in &contacts {
        let (status, _) = server
            .api(
                Method::PUT,
                Some(&admin),
                &format!("/api/v1/contacts/{id}"),
                Some(attributes),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/contacts?sort=-score&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = server.get_ok(&path).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            assert!(item["explain"].is_array());
            seen.push((
                item["contact_id"].as_str().unwrap().to_owned(),
                item["score"].as_i64().unwrap(),
            ));
        }
        match &page["next"] {
            Value::Null => break,
            Value::String(cursor) => {
                path = format!("/api/v1/contacts?sort=-score&limit=2&cursor={cursor}");
            }
            other => panic!("next: {other}"),
        }
    }
    assert!(pages >= 3);
    let ids: Vec<_> = seen.iter().map(|(id, _)| id.as_str()).collect();
    // Best first; ties by contact id.
    assert_eq!(ids, ["b", "e", "c", "d", "a"], "{seen:?}");
    // Filters: grade.
    let b = server.get_ok("/api/v1/contacts/b/score").await;
    let grade = b["grade"].as_str().unwrap();
    let filtered = server
        .get_ok(&format!("/api/v1/contacts?grade={grade}&limit=10"))
        .await;
    assert!(
        filtered["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["grade"] == grade)
    );
    // Bad parameters.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("sort=name", "sort"),
        ("cursor=garbage", "cursor"),
    ] {
        let (status, answer) = server.get(&format!("/api/v1/contacts?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_error(&answer, "bad_request", Some(field));
    }
    server.stop().await;
}

#[tokio::test]
async fn delete_erases_the_contact_and_its_history() {
    let server = Server::start().await;
    server
        .ingest(
            "/v1/batch",
            json!({"batch":[
                {"type":"page","anonymousId":"anon-9","timestamp":"2026-01-01T00:00:00Z",
                 "properties":{"url":"https://x.example/pricing"}},
                {"type":"identify","userId":"c-1","anonymousId":"anon-9","timestamp":"2026-01-02T00:00:00Z"},
                {"type":"track","userId":"c-1","event":"Demo Requested","timestamp":"2026-01-03T00:00:00Z"},
            ]}),
        )
        .await;
    server.get_ok("/api/v1/contacts/c-1/score").await;
    let read = server.read.clone();
    let (status, answer) = server
        .api(Method::DELETE, Some(&read), "/api/v1/contacts/c-1", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&answer, "forbidden", None);
    let admin = server.admin.clone();
    let (status, body) = server
        .api(Method::DELETE, Some(&admin), "/api/v1/contacts/c-1", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    for path in [
        "/api/v1/contacts/c-1/score",
        "/api/v1/contacts/c-1/score?as_of=2026-02-01T00:00:00Z",
        "/api/v1/contacts/c-1/scores",
        "/api/v1/contacts/c-1",
    ] {
        let (status, answer) = server.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&answer, "not_found", None);
    }
    // The messages are gone from the log, the anonymous ones too.
    use leadscore_store::Store as _;
    assert!(server.state.store.history("c-1").await.unwrap().is_empty());
    let (status, _) = server
        .api(Method::DELETE, Some(&admin), "/api/v1/contacts/c-1", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn keys_and_roles_guard_the_api() {
    let server = Server::start().await;
    let (read, write) = (server.read.clone(), server.write.clone());
    // A read key cannot change anything.
    let (status, answer) = server
        .api(
            Method::PUT,
            Some(&read),
            "/api/v1/contacts/c-1",
            Some(&json!({"job_title":"CTO"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&answer, "forbidden", None);
    let (status, _) = server.get("/api/v1/contacts/c-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A write key is for ingestion only.
    let (status, answer) = server
        .api(Method::GET, Some(&write), "/api/v1/contacts", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&answer, "forbidden", None);
    // No key, an unknown key, Basic instead of Bearer.
    let (status, answer) = server
        .api(Method::GET, None, "/api/v1/contacts", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&answer, "unauthorized", None);
    let (status, _) = server
        .api(Method::GET, Some("lsk_x"), "/api/v1/contacts", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = server
        .client
        .get(format!("{}/api/v1/contacts", server.base))
        .basic_auth(&read, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A key made after the server read its keys works at once.
    use leadscore_store::Store as _;
    let (status, _) = server.get("/api/v1/contacts").await;
    assert_eq!(status, StatusCode::OK, "the key snapshot is read");
    let secret =
        crate::support::create_key(&server.state.store, leadscore_server::keys::Role::Read).await;
    let (status, _) = server
        .api(Method::GET, Some(&secret), "/api/v1/contacts", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a new key is looked up in the store"
    );
    // A revoked key opens nothing once the server's snapshot of the keys is older than
    // KEYS_FRESH (100 ms), however often it is used meanwhile.
    let keys = server.state.store.keys().await.unwrap();
    let hash = leadscore_server::keys::hash_secret(&server.read);
    let read_id = keys.iter().find(|k| k.hash == hash).unwrap().id.clone();
    assert!(server.state.store.revoke_key(&read_id, 1).await.unwrap());
    let revoked = std::time::Instant::now();
    loop {
        // A request that worked was checked after it was sent, so it was sent less
        // than KEYS_FRESH after the revocation.
        let waited = revoked.elapsed();
        let (status, _) = server.get("/api/v1/contacts").await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            waited <= leadscore_server::KEYS_FRESH,
            "a revoked key still worked after {waited:?}"
        );
    }
    // The other keys go on working.
    let (status, _) = server
        .api(Method::GET, Some(&secret), "/api/v1/contacts", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn unknown_contacts_and_bad_instants_are_caller_errors() {
    let server = Server::start().await;
    let (status, answer) = server.get("/api/v1/contacts/nobody/score").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found", None);
    let (status, answer) = server
        .get("/api/v1/contacts/nobody/score?as_of=yesterday")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "bad_request", Some("as_of"));
    let (status, answer) = server.get("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found", None);
    server.stop().await;
}
