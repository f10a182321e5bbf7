//! Bulk imports and exports, and the privacy export of one contact.

use leadscore_store::Store as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Server, assert_error, read};

async fn post_text(
    server: &Server,
    key: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, Value) {
    let response = server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn get_raw(server: &Server, key: &str, path: &str) -> (StatusCode, String) {
    let response = server
        .client
        .get(format!("{}{path}", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

const CONTACTS: &str = "id,email,job_title,industry,company_size\n\
c1,ann@acme.example,CTO,Software,250\n\
c2,bob@beta.example,Intern,Education,5\n";

#[tokio::test]
async fn a_contacts_csv_is_imported_merged_and_scored() {
    let server = Server::start().await;
    // c1 exists with an attribute the file does not mention: a merge keeps it.
    let (status, _) = server
        .api(
            Method::PUT,
            Some(&server.admin),
            "/api/v1/contacts/c1",
            Some(&json!({"country": "DE", "job_title": "Manager"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = post_text(
        &server,
        &server.admin,
        "/api/v1/import/contacts",
        "text/csv",
        CONTACTS,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"imported": 2, "created": 1, "updated": 1, "warnings": []})
    );
    let c1 = server.get_ok("/api/v1/contacts/c1").await;
    assert_eq!(c1["attributes"]["country"], "DE");
    assert_eq!(c1["attributes"]["job_title"], "CTO");
    assert_eq!(c1["attributes"]["company_size"], "250");
    // Scored with the new attributes: the C-level title (20), target industry (15) and
    // 200-4999 employees (15) are in c1's explanation.
    let score = server.get_ok("/api/v1/contacts/c1/score").await;
    let rules: Vec<&str> = score["explain"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["rule"].as_str())
        .collect();
    assert!(rules.contains(&"decision-maker"), "{score}");
    assert!(rules.contains(&"size-mid-market"), "{score}");
    let c2 = server.get_ok("/api/v1/contacts/c2/score").await;
    assert!(c2["fit"].as_f64().unwrap() < 0.0, "{c2}");

    // Replace mode makes the row the whole record.
    let (status, body) = post_text(
        &server,
        &server.admin,
        "/api/v1/import/contacts?mode=replace",
        "text/csv",
        "id,job_title\nc1,CFO\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c1 = server.get_ok("/api/v1/contacts/c1").await;
    assert_eq!(c1["attributes"], json!({"job_title": "CFO"}));
}

#[tokio::test]
async fn a_contacts_csv_with_a_bad_row_imports_nothing_and_names_the_line() {
    let server = Server::start().await;
    let csv = "id,job_title,industry\nc1,CTO,Software\n,CEO,Software\nc3,CFO\n";
    let (status, body) = post_text(
        &server,
        &server.admin,
        "/api/v1/import/contacts",
        "text/csv",
        csv,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("id"));
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["line"], 3);
    assert_eq!(rejected[0]["field"], "id");
    assert_eq!(rejected[1]["line"], 4);
    assert_eq!(
        rejected[1]["message"],
        "expected 3 fields as in the header, found 2"
    );
    // Nothing half-written: c1, on a good line, was not stored either.
    assert_eq!(server.state.store.contact("c1").await.unwrap(), None);
    let (status, _) = server.get("/api/v1/contacts/c1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn imports_need_an_admin_key() {
    let server = Server::start().await;
    for path in ["/api/v1/import/contacts", "/api/v1/import/events"] {
        let (status, body) = post_text(&server, &server.read, path, "text/csv", CONTACTS).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    assert!(server.state.store.contact_ids().await.unwrap().is_empty());
}

#[tokio::test]
async fn events_import_as_csv_or_jsonl_counts_duplicates_once_and_scores() {
    let server = Server::start().await;
    let now = crate::support::now_plus(-3_600_000);
    let csv = format!(
        "userId,event,timestamp,messageId,properties.url\n\
         c1,Demo Requested,{now},e-1,\n\
         c1,Page Viewed,{now},e-2,/pricing\n"
    );
    let (status, body) = post_text(
        &server,
        &server.admin,
        "/api/v1/import/events",
        "text/csv",
        &csv,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"stored": 2, "duplicates": 0, "contacts": 1}));
    // The same messages again as JSON lines, plus one new: the two are duplicates.
    let jsonl = format!(
        "{}\n\n{}\n{}\n",
        json!({"type":"track","userId":"c1","event":"Demo Requested","timestamp":now,"messageId":"e-1"}),
        json!({"type":"track","userId":"c1","event":"Page Viewed","timestamp":now,"messageId":"e-2","properties":{"url":"/pricing"}}),
        json!({"type":"track","userId":"c2","event":"Webinar Attended","timestamp":now,"messageId":"e-3"}),
    );
    let (status, body) = post_text(
        &server,
        &server.admin,
        "/api/v1/import/events",
        "application/x-ndjson",
        &jsonl,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"stored": 1, "duplicates": 2, "contacts": 1}));
    let score = server.get_ok("/api/v1/contacts/c1/score").await;
    let demo = crate::support::line(&score, "demo-request").expect("demo request scored");
    assert_eq!(demo["count"], 1, "{score}");
    assert_eq!(server.state.store.history("c1").await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_events_file_with_bad_lines_imports_nothing() {
    let server = Server::start().await;
    let jsonl = format!(
        "{}\n{{not json\n{}\n",
        json!({"type":"track","userId":"c1","event":"Demo Requested","messageId":"ok-1"}),
        json!({"type":"track","event":"Demo Requested","messageId":"no-user"}),
    );
    let (status, body) = post_text(
        &server,
        &server.admin,
        "/api/v1/import/events",
        "application/x-ndjson",
        &jsonl,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    let lines: Vec<i64> = rejected
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3]);
    assert!(
        rejected[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("not valid JSON"),
        "{body}"
    );
    assert_eq!(rejected[1]["field"], "userId", "{body}");
    let (_, log) = get_raw(&server, &server.admin, "/api/v1/export/events").await;
    assert_eq!(log, "", "nothing was stored");
}

#[tokio::test]
async fn exports_stream_every_score_contact_and_message() {
    let server = Server::start().await;
    // More than one export page (1,000) of contacts.
    let mut csv = String::from("id,job_title,industry\n");
    for i in 0..1_203 {
        let title = if i % 3 == 0 { "CTO" } else { "Intern, Sales" };
        csv.push_str(&format!("c{i:05},\"{title}\",Software\n"));
    }
    let (status, body) = post_text(
        &server,
        &server.admin,
        "/api/v1/import/contacts",
        "text/csv",
        &csv,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
        .ingest(
            "/v1/track",
            json!({"userId":"c00003","event":"Demo Requested","messageId":"d-1"}),
        )
        .await;

    let (status, jsonl) = get_raw(&server, &server.read, "/api/v1/export/scores").await;
    assert_eq!(status, StatusCode::OK);
    let results: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 1_203);
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first");
    assert_eq!(results[0]["contact_id"], "c00003");

    let (status, table) = get_raw(&server, &server.read, "/api/v1/export/scores?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("contact_id,as_of,score,raw,fit,engagement,manual,grade,label,stage,disqualified,owner,route,team,group:"),
        "{header}"
    );
    assert_eq!(lines.count(), 1_203);

    let (status, contacts) = get_raw(&server, &server.read, "/api/v1/export/contacts").await;
    assert_eq!(status, StatusCode::OK);
    let records: Vec<Value> = contacts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1_203);
    assert_eq!(records[1]["id"], "c00001");
    assert_eq!(records[1]["attributes"]["job_title"], "Intern, Sales");

    // The log is an admin's: read keys are refused.
    let (status, _) = get_raw(&server, &server.read, "/api/v1/export/events").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, log) = get_raw(&server, &server.admin, "/api/v1/export/events").await;
    assert_eq!(status, StatusCode::OK);
    let messages: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["messageId"], "d-1");

    let (status, body) = server.get("/api/v1/export/scores?format=xml").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request", Some("format"));
}

#[tokio::test]
async fn the_privacy_export_holds_everything_and_erasure_removes_it() {
    let server = Server::start().await;
    let (status, _) = server
        .api(
            Method::PUT,
            Some(&server.admin),
            "/api/v1/contacts/c1",
            Some(&json!({"job_title": "CTO"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Anonymous browsing, then identified: both belong to the person.
    server
        .ingest(
            "/v1/page",
            json!({"anonymousId":"a-1","name":"Pricing","messageId":"p-1","properties":{"url":"/pricing"}}),
        )
        .await;
    server
        .ingest(
            "/v1/identify",
            json!({"userId":"c1","anonymousId":"a-1","messageId":"i-1","traits":{"industry":"Software"}}),
        )
        .await;
    let (status, _) = server
        .api(
            Method::POST,
            Some(&server.admin),
            "/api/v1/contacts/c1/adjustments",
            Some(&json!({"points": 5, "reason": "called us"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, _) = server.get("/api/v1/contacts/c1/export").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admin only");
    let (status, export) = server
        .api(
            Method::GET,
            Some(&server.admin),
            "/api/v1/contacts/c1/export",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["contact_id"], "c1");
    assert_eq!(export["contact"]["attributes"]["job_title"], "CTO");
    let ids: Vec<&str> = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["messageId"].as_str())
        .collect();
    assert_eq!(ids, ["p-1", "i-1"]);
    assert_eq!(export["adjustments"][0]["reason"], "called us");
    assert_eq!(export["adjustments"][0]["author"], "test admin");
    assert_eq!(export["score"]["contact_id"], "c1");
    assert!(!export["score_history"].as_array().unwrap().is_empty());

    let (status, _) = server
        .api(
            Method::DELETE,
            Some(&server.admin),
            "/api/v1/contacts/c1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server
        .api(
            Method::GET,
            Some(&server.admin),
            "/api/v1/contacts/c1/export",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, log) = get_raw(&server, &server.admin, "/api/v1/export/events").await;
    assert_eq!(log, "", "the anonymous page view went with the person");
}
