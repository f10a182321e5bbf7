//! `/api/v1/accounts` over real HTTP: a buying group outranks one contact with the same
//! activity, lists page with a cursor, and erasing a contact updates its account.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Server, assert_error, now_plus};

const DAY: i64 = 86_400_000;

/// Identify `id` at `domain` with `title`, then `rounds` rounds of two pricing views
/// and a webinar on the days before now.
fn contact(id: &str, domain: &str, title: &str, rounds: i64, offset_days: i64) -> Vec<Value> {
    let mut batch = vec![json!({
        "type": "identify", "userId": id, "timestamp": now_plus(-30 * DAY),
        "traits": {"email": format!("{id}@{domain}"), "job_title": title,
                   "industry": "Software", "company_size": 800, "country": "DE"}
    })];
    for round in 0..rounds {
        let day = -(round + offset_days + 1) * 2 * DAY;
        batch.push(
            json!({"type": "page", "userId": id, "timestamp": now_plus(day),
            "properties": {"url": "https://www.example.com/pricing"}}),
        );
        batch.push(
            json!({"type": "page", "userId": id, "timestamp": now_plus(day + 3_600_000),
            "properties": {"url": "https://www.example.com/pricing?plan=team"}}),
        );
        batch.push(
            json!({"type": "track", "userId": id, "event": "Webinar Attended",
            "timestamp": now_plus(day + 7_200_000)}),
        );
    }
    batch
}

async fn seed(server: &Server) {
    let mut batch = Vec::new();
    for (i, title) in [
        "CTO",
        "Software Engineer",
        "IT Manager",
        "Purchasing Manager",
    ]
    .iter()
    .enumerate()
    {
        batch.extend(contact(
            &format!("acme-{i}"),
            "acme.example",
            title,
            1,
            i as i64,
        ));
    }
    batch.extend(contact("solo", "solo.example", "CTO", 4, 0));
    // Free mail never forms an account.
    batch.extend(contact("private", "gmail.com", "CTO", 1, 0));
    server.ingest("/v1/batch", json!({ "batch": batch })).await;
}

#[tokio::test]
async fn a_buying_group_outranks_a_single_contact_and_routes_as_one_account() {
    let server = Server::start().await;
    seed(&server).await;
    let list = server.get_ok("/api/v1/accounts").await;
    let items = list["items"].as_array().expect("items");
    let keys: Vec<&str> = items.iter().filter_map(|a| a["account"].as_str()).collect();
    assert_eq!(keys, ["acme.example", "solo.example"], "{list}");
    assert_eq!(list["next"], Value::Null);
    let (acme, solo) = (&items[0], &items[1]);
    assert!(acme["raw"].as_f64() > solo["raw"].as_f64(), "{acme} {solo}");
    assert_eq!(
        acme["members"],
        json!(["acme-0", "acme-1", "acme-2", "acme-3"])
    );
    assert_eq!(
        acme["route"],
        json!({"route": "key-account", "team": "sales-b"})
    );
    assert_eq!(acme["stage"], "buying-group");

    // One account, with its explanation.
    let one = server.get_ok("/api/v1/accounts/ACME.example").await;
    assert_eq!(&one, acme);
    let engaged = one["explain"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["rule"] == "engaged-contacts"))
        .expect("engaged-contacts line");
    assert_eq!(engaged["count"], 4);
    assert_eq!(engaged["kind"], "account_engagement");
    let sum: f64 = one["explain"]
        .as_array()
        .map(|lines| lines.iter().filter_map(|l| l["points"].as_f64()).sum())
        .unwrap_or(0.0);
    assert!((sum - one["raw"].as_f64().unwrap_or(f64::NAN)).abs() < 1e-9);

    // A contact's own result names its account.
    let score = server.get_ok("/api/v1/contacts/acme-1/score").await;
    assert_eq!(score["account"]["key"], "acme.example");
    let private = server.get_ok("/api/v1/contacts/private/score").await;
    assert!(private.get("account").is_none(), "{private}");

    let (status, body) = server.get("/api/v1/accounts/nobody.example").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found", None);
    server.stop().await;
}

#[tokio::test]
async fn the_account_list_pages_with_a_cursor() {
    let server = Server::start().await;
    seed(&server).await;
    let first = server.get_ok("/api/v1/accounts?limit=1").await;
    assert_eq!(first["items"][0]["account"], "acme.example");
    let cursor = first["next"].as_str().expect("a next cursor");
    let second = server
        .get_ok(&format!("/api/v1/accounts?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["items"][0]["account"], "solo.example");
    assert_eq!(second["next"], Value::Null);
    for (query, field) in [("limit=0", "limit"), ("cursor=garbage", "cursor")] {
        let (status, body) = server.get(&format!("/api/v1/accounts?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_error(&body, "bad_request", Some(field));
    }
    server.stop().await;
}

#[tokio::test]
async fn erasing_a_contact_updates_its_account() {
    let server = Server::start().await;
    seed(&server).await;
    let before = server.get_ok("/api/v1/accounts/acme.example").await;
    let admin = server.admin.clone();
    let (status, _) = server
        .api(
            Method::DELETE,
            Some(&admin),
            "/api/v1/contacts/acme-0",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after = server.get_ok("/api/v1/accounts/acme.example").await;
    assert_eq!(after["members"], json!(["acme-1", "acme-2", "acme-3"]));
    assert!(
        after["raw"].as_f64() < before["raw"].as_f64(),
        "{before} {after}"
    );
    let engaged = after["explain"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["rule"] == "engaged-contacts"))
        .expect("engaged-contacts line");
    assert_eq!(engaged["count"], 3);
    assert!(
        !after.to_string().contains("acme-0"),
        "no trace of the erased contact: {after}"
    );
    server.stop().await;
}

/// The owner of contact `id` (`null` when unassigned).
async fn owner(server: &Server, id: &str) -> Value {
    server.get_ok(&format!("/api/v1/contacts/{id}/score")).await["owner"].clone()
}

/// Four engaged contacts of acme.example (routed as an account to `sales-a`, three
/// reps) and three free-mail contacts routed to `sales-a` on their own.
async fn seed_routed(server: &Server) {
    let mut batch = Vec::new();
    let titles = ["CTO", "IT Manager", "Head of IT", "Purchasing Manager"];
    for (i, title) in titles.iter().enumerate() {
        batch.extend(contact(
            &format!("acme-{i}"),
            "acme.example",
            title,
            3,
            i as i64,
        ));
    }
    // Free mail: no account, so each is routed on its own.
    for i in 0..3 {
        batch.extend(contact(
            &format!("private-{i}"),
            "gmail.com",
            "IT Manager",
            1,
            i,
        ));
    }
    server.ingest("/v1/batch", json!({ "batch": batch })).await;
}

/// The owners of acme-0 to acme-3.
async fn acme_owners(server: &Server) -> Vec<Value> {
    let mut owners = Vec::new();
    for i in 0..4 {
        owners.push(owner(server, &format!("acme-{i}")).await);
    }
    owners
}

#[tokio::test]
async fn an_engaged_account_goes_to_one_owner_while_other_contacts_round_robin() {
    let server = Server::start().await;
    seed_routed(&server).await;

    let acme = acme_owners(&server).await;
    let account_owner = acme[0].clone();
    assert!(account_owner.is_string(), "{acme:?}");
    assert!(acme.iter().all(|o| *o == account_owner), "{acme:?}");
    let account = server.get_ok("/api/v1/accounts/acme.example").await;
    assert_eq!(account["owner"], account_owner, "{account}");
    let listed = server.get_ok("/api/v1/accounts").await;
    assert_eq!(listed["items"][0]["owner"], account_owner, "{listed}");
    // Every assignment of the account names it in the audit trail.
    let trail = server.get_ok("/api/v1/contacts/acme-2/automation").await;
    let reason = trail["assignments"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("account acme.example (route "),
        "{trail}"
    );

    // The contacts without an account: three different reps of the three.
    let mut private = Vec::new();
    for i in 0..3 {
        private.push(owner(&server, &format!("private-{i}")).await);
    }
    let distinct: std::collections::HashSet<String> = private
        .iter()
        .filter_map(|o| o.as_str().map(str::to_owned))
        .collect();
    assert_eq!(distinct.len(), 3, "{private:?} {acme:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_account_whose_owner_leaves_the_team_gets_a_new_owner_for_all_its_contacts() {
    let server = Server::start().await;
    seed_routed(&server).await;
    let before = acme_owners(&server).await;
    assert_eq!(before[0], "anna@example.com", "{before:?}");
    // A new model version without Anna in sales-a.
    let smaller = crate::support::MODEL.replace(
        r#"members = ["anna@example.com", "ben@example.com", "carla@example.com"]"#,
        r#"members = ["ben@example.com", "carla@example.com"]"#,
    );
    assert_ne!(smaller, crate::support::MODEL);
    let admin = server.admin.clone();
    let response = server
        .client
        .post(format!("{}/api/v1/models", server.base))
        .bearer_auth(&admin)
        .body(smaller)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let version = response.json::<Value>().await.unwrap()["version"].clone();
    let (status, _) = server
        .api(
            Method::POST,
            Some(&admin),
            &format!("/api/v1/models/{version}/activate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.get_ok("/api/v1/models/rescoring").await["finished"] != true {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rescoring timed out"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let after = acme_owners(&server).await;
    assert!(after.iter().all(|o| *o == after[0]), "{after:?}");
    assert!(
        after[0].is_string() && after[0] != "anna@example.com",
        "{after:?}"
    );
    // Routed again through the account route that matches now (all four members
    // stored: the buying-group route to sales-b).
    let account = server.get_ok("/api/v1/accounts/acme.example").await;
    assert_eq!(account["owner"], after[0], "{account}");
    assert_eq!(account["route"]["route"], "key-account", "{account}");
    assert_eq!(
        after[0], "david@example.com",
        "the first of sales-b: {after:?}"
    );
    let trail = server.get_ok("/api/v1/contacts/acme-0/automation").await;
    let reasons: Vec<&str> = trail["assignments"]
        .as_array()
        .map(|lines| lines.iter().filter_map(|l| l["reason"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(reasons.len(), 3, "{trail}");
    assert_eq!(reasons[1], "member removed", "{trail}");
    assert!(reasons[2].starts_with("account acme.example"), "{trail}");
    // The account's own trail: chosen, released (its owner left the team), chosen again.
    let auto = server
        .get_ok("/api/v1/accounts/acme.example/automation")
        .await;
    let lines: Vec<(Value, Value, Value)> = auto["assignments"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    (
                        l["owner"].clone(),
                        l["reason"].clone(),
                        l["previous_owner"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(lines.len(), 3, "{auto}");
    assert_eq!(lines[0].0, "anna@example.com", "{auto}");
    assert_eq!(
        lines[1],
        (
            Value::Null,
            json!("member removed"),
            json!("anna@example.com")
        ),
        "{auto}"
    );
    assert_eq!(lines[2].0, "david@example.com", "{auto}");
    server.stop().await;
}
