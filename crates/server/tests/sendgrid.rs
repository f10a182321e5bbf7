//! `POST /v1/sources/sendgrid` over real HTTP: SendGrid's documented event webhook
//! payloads, the write key as Basic user, `[machine]` on SendGrid's own fields, and
//! signed webhooks checked against a key made here.

#[allow(dead_code)]
#[path = "support.rs"]
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use leadscore_engine::Engine;
use leadscore_server::state::Config;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use support::{Server, read};

const MODEL: &str = r#"
version = 1
name = "sendgrid"
[machine]
open_within = "10s"
[[engagement]]
id = "open"
event = "Email Opened"
points = 2
[[engagement]]
id = "click"
event = "Email Link Clicked"
points = 5
"#;

fn engine() -> Engine {
    Engine::new(leadscore_model::load("m.toml", MODEL).expect("valid").model)
}

/// Shaped as SendGrid's event webhook reference shows them.
fn payload() -> Value {
    json!([
      {"email":"example@test.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>",
       "event":"delivered","category":"cat facts","sg_event_id":"sg_event_id_delivered","sg_message_id":"sg_message_id","response":"250 OK"},
      {"email":"example@test.com","timestamp":1513299571,"event":"open","sg_machine_open":false,
       "category":"cat facts","sg_event_id":"sg_event_id_open_proxy","sg_message_id":"sg_message_id",
       "useragent":"Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)","ip":"255.255.255.255"},
      {"email":"example@test.com","timestamp":1513303169,"event":"open","sg_machine_open":true,
       "category":"cat facts","sg_event_id":"sg_event_id_open_flag","sg_message_id":"sg_message_id",
       "useragent":"Mozilla/5.0","ip":"17.58.0.1"},
      {"email":"example@test.com","timestamp":1513309969,"event":"click","category":"cat facts",
       "sg_event_id":"sg_event_id_click","sg_message_id":"sg_message_id",
       "useragent":"Mozilla/4.0","ip":"255.255.255.255","url":"http://www.sendgrid.com/"},
      {"email":"example@test.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>",
       "event":"processed","category":"cat facts","sg_event_id":"sg_event_id_processed","sg_message_id":"sg_message_id"}
    ])
}

/// The contact's score, its explanation, and the explanation's machine-open line.
async fn machine_open_line(server: &Server) -> (Value, Vec<Value>, Value) {
    let score = server
        .get_ok("/api/v1/contacts/example@test.com/score")
        .await;
    let explain = score["explain"].as_array().cloned().unwrap_or_default();
    let machine = explain
        .iter()
        .find(|l| l["rule"] == "open" && l["kind"] == "machine")
        .cloned()
        .unwrap_or_else(|| panic!("no machine line in {explain:?}"));
    (score, explain, machine)
}

async fn post(server: &Server, body: &str, headers: &[(&str, String)]) -> (StatusCode, Value) {
    let mut request = server
        .client
        .post(format!("{}/v1/sources/sendgrid", server.base))
        .basic_auth(&server.write, Some(""))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn sendgrid_events_become_scored_email_events_with_machine_opens_explained() {
    let server = Server::start_configured(engine(), Config::default()).await;
    let body = payload().to_string();
    let (status, answer) = post(&server, &body, &[]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stored"], 4, "processed is not scored");
    // The same body again: sg_event_id makes it idempotent.
    let (status, _) = post(&server, &body, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (score, explain, machine) = machine_open_line(&server).await;
    assert_eq!(machine["count"], 2);
    assert_eq!(machine["points"], 0.0);
    assert_eq!(
        machine["reason"],
        "1 flagged by the provider, 1 within seconds of delivery"
    );
    let click = explain
        .iter()
        .find(|l| l["rule"] == "click")
        .expect("click line");
    assert_eq!(click["kind"], "engagement");
    assert_eq!(score["engagement"], 5.0);
    // Without the write key: 401.
    let response = server
        .client
        .post(format!("{}/v1/sources/sendgrid", server.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn signed_webhooks_are_verified_when_a_key_is_set() {
    let signing = SigningKey::from_slice(&[7u8; 32]).expect("a valid scalar");
    let public = signing
        .verifying_key()
        .to_public_key_der()
        .expect("DER public key");
    let config = Config {
        sendgrid_verification_key: Some(STANDARD.encode(public.as_bytes())),
        ..Config::default()
    };
    let server = Server::start_configured(engine(), config).await;
    let body = payload().to_string();
    let timestamp = "1600112502".to_owned();
    let sign = |ts: &str, body: &str| {
        let signature: Signature = signing.sign(format!("{ts}{body}").as_bytes());
        STANDARD.encode(signature.to_der().as_bytes())
    };
    let good = [
        (
            "X-Twilio-Email-Event-Webhook-Signature",
            sign(&timestamp, &body),
        ),
        ("X-Twilio-Email-Event-Webhook-Timestamp", timestamp.clone()),
    ];
    let (status, _) = post(&server, &body, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned");
    let (status, _) = post(&server, &body.replace("cat facts", "dog facts"), &good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "tampered");
    // A request refused for its signature stores nothing: the contact does not exist.
    let (status, _) = server.get("/api/v1/contacts/example@test.com/score").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, answer) = post(&server, &body, &good).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let (status, _) = post(&server, &body, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned");
    let tampered = body.replace("cat facts", "dog facts");
    let (status, _) = post(&server, &tampered, &good).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "body changed after signing"
    );
    let other_time = [
        good[0].clone(),
        (
            "X-Twilio-Email-Event-Webhook-Timestamp",
            "1600112503".to_owned(),
        ),
    ];
    let (status, _) = post(&server, &body, &other_time).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "timestamp is signed too");
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_element_is_named_and_the_good_ones_are_kept() {
    let server = Server::start_configured(engine(), Config::default()).await;
    let mut events = payload();
    let list = events.as_array_mut().expect("array");
    // Element 1 loses its e-mail address, element 3 becomes a string.
    list[1].as_object_mut().expect("object").remove("email");
    list[3] = json!("not an event");
    let (status, answer) = post(&server, &events.to_string(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["success"], false);
    assert_eq!(answer["error"]["code"], "bad_request");
    let rejected: Vec<(u64, String)> = answer["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(99),
                r["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [(1, "[1].email".to_owned()), (3, "[3]".to_owned())]
    );
    // The delivery and the flagged open were stored (processed is not scored).
    assert_eq!(answer["stored"], 2);
    let (_, explain, machine) = machine_open_line(&server).await;
    assert_eq!(machine["count"], 1, "the good open is kept");
    assert!(
        explain.iter().all(|l| l["rule"] != "click"),
        "the bad click is not"
    );
    server.stop().await;
}
