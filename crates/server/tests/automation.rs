//! Automation over real HTTP on loopback: trigger edges and their webhooks (a real
//! receiver that checks signatures), retries, dead letters and replay, a crash between
//! commit and delivery, private targets, e-mail through a real SMTP sink, stage
//! history, round-robin routing with capacity, member removal, and two servers on one
//! PostgreSQL.
//!
//! Every server here scores with [`model`], a small model whose numbers are easy to
//! steer with manual adjustments; SQLite files live in temporary directories.

#[allow(dead_code)]
#[path = "support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use leadscore_engine::Engine;
use leadscore_server::Config;
use leadscore_server::deliver::DeliveryConfig;
use leadscore_store::{AnyStore, Automation as _, Store as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use support::Server;

const SECRET: &str = "test-signing-secret";

/// The test model: a webhook to `webhook`, a tag, an optional e-mail and a `set_stage`
/// on `score >= 80`; stage `mql` at 50; route `inbound` above 50 to a team of three
/// with `capacity`.
fn model(webhook: &str, notify: bool, members: &[&str], capacity: u32) -> String {
    let notify = if notify {
        r#"{ notify = "sales-lead@example.com" },"#
    } else {
        ""
    };
    let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    format!(
        r#"
version = 1
name = "automation-test"

[[engagement]]
id = "demo"
event = "Demo Requested"
points = 100
decay = {{ half_life = "1m" }}

[[engagement]]
id = "signup"
event = "Signed Up"
points = 60

[[stage]]
id = "lead"
[[stage]]
id = "mql"
when = {{ score_gte = 50 }}
[[stage]]
id = "sql"

[[trigger]]
id = "hot"
when = {{ score_gte = 80 }}
actions = [ {{ webhook = "{webhook}" }}, {{ tag = "hot" }}, {notify} {{ set_stage = "sql" }} ]

[[route]]
id = "inbound"
when = {{ score_gt = 50 }}
assign = {{ team = "sales" }}

[teams.sales]
members = [{members}]
capacity = {capacity}
"#,
        members = members.join(", ")
    )
}

const TEAM: [&str; 3] = ["anna@example.com", "ben@example.com", "carla@example.com"];

fn engine(text: &str) -> Engine {
    Engine::new(leadscore_model::load("t.toml", text).unwrap().model)
}

/// Delivery settings for tests: fast retries, loopback allowed unless `allow` is empty.
fn delivery(allow: &[&str]) -> DeliveryConfig {
    DeliveryConfig {
        worker: true,
        secret: Some(SECRET.into()),
        allow_hosts: allow.iter().map(|s| (*s).to_owned()).collect(),
        max_attempts: 5,
        retry_base: Duration::from_millis(50),
        poll: Duration::from_millis(25),
        timeout: Duration::from_secs(2),
        ..DeliveryConfig::default()
    }
}

async fn sqlite(dir: &tempfile::TempDir) -> AnyStore {
    let url = format!("sqlite://{}", dir.path().join("auto.db").display());
    let store = AnyStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn start(store: AnyStore, text: &str, delivery: DeliveryConfig, tick: Option<u64>) -> Server {
    let config = Config {
        delivery,
        tick: tick.map(Duration::from_millis),
        ..Config::default()
    };
    Server::start_with(store, tempfile::tempdir().unwrap(), engine(text), config).await
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Call {
    key: String,
    signature: String,
    body: String,
}

/// A webhook receiver on 127.0.0.1: records every call, fails the first
/// `fail_first` ones (500) and all while `failing`, and checks signatures.
#[derive(Default)]
struct Receiver {
    calls: Mutex<Vec<Call>>,
    fail_first: AtomicUsize,
    failing: AtomicBool,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Arc<Receiver>, String) {
        let receiver = Arc::new(Receiver {
            fail_first: AtomicUsize::new(fail_first),
            ..Receiver::default()
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(Arc::clone(&receiver));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls answered 2xx, by idempotency key.
    fn accepted(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.signature != "failed")
            .cloned()
            .collect()
    }
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: String,
) -> AxumStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signature = header("leadscore-signature");
    assert!(verify(&signature, &body), "bad signature {signature:?}");
    let fail = receiver.failing.load(Ordering::SeqCst)
        || receiver
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    receiver.calls.lock().unwrap().push(Call {
        key: header("idempotency-key"),
        signature: if fail { "failed".into() } else { signature },
        body,
    });
    if fail {
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::NO_CONTENT
    }
}

/// What a receiver does: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, not older
/// than five minutes.
fn verify(header: &str, body: &str) -> bool {
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let Ok(t_num) = t.parse::<i64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - t_num).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

/// Poll `check` every 25 ms until it holds, for at most `seconds`.
async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn create(server: &Server, id: &str) {
    let (status, body) = server
        .api(
            Method::PUT,
            Some(&server.admin),
            &format!("/api/v1/contacts/{id}"),
            Some(&json!({"country": "DE"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

/// Add `points` to `id` (rescored at once); returns the new score.
async fn adjust(server: &Server, id: &str, points: f64) -> Value {
    let (status, body) = server
        .api(
            Method::POST,
            Some(&server.admin),
            &format!("/api/v1/contacts/{id}/adjustments"),
            Some(&json!({"points": points, "reason": "test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["score"].clone()
}

async fn deliveries(server: &Server, status: &str) -> Vec<Value> {
    server
        .get_ok(&format!(
            "/api/v1/webhooks/deliveries?status={status}&limit=500"
        ))
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_80_up_down_up_fires_twice_with_signed_webhooks() {
    let (receiver, url) = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let text = model(&url, false, &TEAM, 40);
    let server = start(sqlite(&dir).await, &text, delivery(&["127.0.0.1"]), None).await;
    create(&server, "c1").await;

    let up = adjust(&server, "c1", 85.0).await;
    assert_eq!(up["score"], 85);
    // The trigger's `set_stage` moved it beyond what its criteria give (mql).
    assert_eq!(up["stage"], "sql");
    // Routed: above 50, to the first member of the team.
    assert_eq!(up["owner"], TEAM[0]);
    assert_eq!(adjust(&server, "c1", -20.0).await["score"], 65);
    assert_eq!(adjust(&server, "c1", 10.0).await["score"], 75);
    assert_eq!(adjust(&server, "c1", 10.0).await["score"], 85);
    // Staying above does not fire again.
    assert_eq!(adjust(&server, "c1", 5.0).await["score"], 90);

    eventually(10, "two deliveries", || async {
        receiver.accepted().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = receiver.accepted();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_ne!(calls[0].key, calls[1].key);
    for call in &calls {
        let body: Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(body["id"], call.key.as_str());
        assert_eq!(body["trigger"], "hot");
        assert!(body["fired_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(body["contact"]["contact_id"], "c1");
        assert_eq!(body["contact"]["score"], 85);
        assert!(body["contact"]["explain"].is_array());
    }
    // Marked after the receiver answered: wait for the marks, not only the calls.
    eventually(10, "two deliveries marked delivered", || async {
        deliveries(&server, "delivered").await.len() == 2
    })
    .await;
    let delivered = deliveries(&server, "delivered").await;
    assert!(delivered.iter().all(|d| d["attempts"] == 1));

    // The automation record: stages with reasons, the tag, the assignment, the edges.
    let auto = server.get_ok("/api/v1/contacts/c1/automation").await;
    let stages: Vec<(&str, &str)> = auto["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [
            ("lead", "initial"),
            ("mql", "stage mql"),
            ("sql", "trigger hot")
        ]
    );
    assert_eq!(auto["tags"], json!(["hot"]));
    assert_eq!(auto["owner"], TEAM[0]);
    assert_eq!(auto["assignments"][0]["reason"], "route inbound");
    assert_eq!(auto["triggers"][0]["fires"], 2);
    // The owner filter and the rep's queue.
    let mine = server
        .get_ok(&format!("/api/v1/contacts?owner={}", TEAM[0]))
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let queue = server
        .get_ok(&format!("/api/v1/owners/{}/queue", TEAM[0]))
        .await;
    assert_eq!(queue["items"][0]["contact_id"], "c1");
    assert!(
        server
            .get_ok(&format!("/api/v1/owners/{}/queue", TEAM[1]))
            .await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_same_id_until_it_accepts() {
    let (receiver, url) = Receiver::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        sqlite(&dir).await,
        &model(&url, false, &TEAM, 40),
        delivery(&["127.0.0.1"]),
        None,
    )
    .await;
    create(&server, "c1").await;
    adjust(&server, "c1", 90.0).await;
    eventually(10, "an accepted delivery", || async {
        !receiver.accepted().is_empty()
    })
    .await;
    let calls = receiver.calls();
    assert_eq!(calls.len(), 3, "two failures, then success: {calls:?}");
    assert!(calls.iter().all(|c| c.key == calls[0].key));
    assert!(calls.iter().all(|c| c.body == calls[0].body));
    let delivered = deliveries(&server, "delivered").await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["attempts"], 3);
    assert_eq!(delivered[0]["id"], calls[0].key.as_str());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decay_below_the_threshold_rearms_on_the_tick_and_fires_again() {
    let (receiver, url) = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        sqlite(&dir).await,
        &model(&url, false, &TEAM, 40),
        delivery(&["127.0.0.1"]),
        Some(200),
    )
    .await;
    // 100 points, half-life one minute, 17 s ago: about 82 now, below 80 about two
    // seconds later by decay alone.
    server
        .ingest(
            "/v1/track",
            json!({"userId": "c1", "event": "Demo Requested", "messageId": "d1",
                   "timestamp": support::now_plus(-17_000)}),
        )
        .await;
    eventually(10, "the first delivery", || async {
        receiver.accepted().len() == 1
    })
    .await;
    // Only time passes: the tick sees the score fall below 80 and re-arms.
    // (The edge is recorded just before the score is saved: wait for both.)
    eventually(15, "the re-arm by the tick", || async {
        let auto = server.get_ok("/api/v1/contacts/c1/automation").await;
        let score = server.get_ok("/api/v1/contacts/c1/score").await;
        auto["triggers"][0]["active"] == false && score["raw"].as_f64().unwrap() < 80.0
    })
    .await;
    // Pushed back over: the second edge.
    adjust(&server, "c1", 10.0).await;
    eventually(10, "the second delivery", || async {
        receiver.accepted().len() == 2
    })
    .await;
    let calls = receiver.accepted();
    assert_ne!(calls[0].key, calls[1].key);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_delivery_still_delivers_after_restart() {
    let (receiver, url) = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let text = model(&url, false, &TEAM, 40);
    // First server: no worker (as if it died before sending).
    let no_worker = DeliveryConfig {
        worker: false,
        ..delivery(&["127.0.0.1"])
    };
    let first = start(sqlite(&dir).await, &text, no_worker, None).await;
    create(&first, "c1").await;
    adjust(&first, "c1", 90.0).await;
    let pending = deliveries(&first, "pending").await;
    assert_eq!(pending.len(), 1);
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    first.stop().await;
    assert!(receiver.calls().is_empty());

    // A new server on the same file sends it, under the same id.
    let second = start(sqlite(&dir).await, &text, delivery(&["127.0.0.1"]), None).await;
    eventually(10, "the delivery after restart", || async {
        receiver.accepted().len() == 1
    })
    .await;
    assert_eq!(receiver.accepted()[0].key, id);
    // Rescoring again after the restart does not fire the edge a second time.
    adjust(&second, "c1", 1.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.calls().len(), 1);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_under_the_same_id() {
    let (receiver, url) = Receiver::start(0).await;
    receiver.failing.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let config = DeliveryConfig {
        max_attempts: 2,
        ..delivery(&["127.0.0.1"])
    };
    let server = start(
        sqlite(&dir).await,
        &model(&url, false, &TEAM, 40),
        config,
        None,
    )
    .await;
    create(&server, "c1").await;
    adjust(&server, "c1", 90.0).await;
    eventually(10, "a dead letter", || async {
        deliveries(&server, "dead").await.len() == 1
    })
    .await;
    let dead = deliveries(&server, "dead").await;
    assert_eq!(dead[0]["attempts"], 2);
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("500"),
        "{}",
        dead[0]
    );
    let id = dead[0]["id"].as_str().unwrap().to_owned();
    let one = server
        .get_ok(&format!("/api/v1/webhooks/deliveries/{id}"))
        .await;
    assert_eq!(one["contact"]["contact_id"], "c1");

    // Replay is for admins; unknown ids are 404; a bad status filter is 400.
    let path = format!("/api/v1/webhooks/deliveries/{id}/replay");
    let (status, _) = server
        .api(Method::POST, Some(&server.read), &path, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = server
        .api(
            Method::POST,
            Some(&server.admin),
            "/api/v1/webhooks/deliveries/dlv_x/replay",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    support::assert_error(&body, "not_found", None);
    let (status, body) = server.get("/api/v1/webhooks/deliveries?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    support::assert_error(&body, "bad_request", Some("status"));

    receiver.failing.store(false, Ordering::SeqCst);
    let (status, body) = server
        .api(Method::POST, Some(&server.admin), &path, None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "pending");
    eventually(10, "the replayed delivery", || async {
        !receiver.accepted().is_empty()
    })
    .await;
    assert_eq!(receiver.accepted()[0].key, id);
    // The receiver has the request before the worker has read its answer and marked
    // the delivery: wait for the mark instead of reading it at once (this raced).
    eventually(10, "the replayed delivery marked delivered", || async {
        deliveries(&server, "delivered").await.len() == 1
    })
    .await;
    assert!(deliveries(&server, "dead").await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_unless_allow_listed() {
    let (receiver, url) = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        sqlite(&dir).await,
        &model(&url, false, &TEAM, 40),
        delivery(&[]),
        None,
    )
    .await;
    create(&server, "c1").await;
    adjust(&server, "c1", 90.0).await;
    eventually(10, "the refusal", || async {
        deliveries(&server, "dead").await.len() == 1
    })
    .await;
    let dead = deliveries(&server, "dead").await;
    let error = dead[0]["last_error"].as_str().unwrap();
    assert!(error.contains("--allow-webhook-host 127.0.0.1"), "{error}");
    assert_eq!(dead[0]["attempts"], 1);
    assert!(receiver.calls().is_empty());
    server.stop().await;

    // The same database under a server that allows the host: a replay gets through.
    let server = start(
        sqlite(&dir).await,
        &model(&url, false, &TEAM, 40),
        delivery(&["127.0.0.1"]),
        None,
    )
    .await;
    let id = dead[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/deliveries/{id}/replay");
    let (status, _) = server
        .api(Method::POST, Some(&server.admin), &path, None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually(10, "the allowed delivery", || async {
        receiver.accepted().len() == 1
    })
    .await;
    server.stop().await;
}

/// A tiny SMTP server on 127.0.0.1 that accepts every message and keeps its DATA.
async fn smtp_sink() -> (Arc<Mutex<Vec<String>>>, String) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let messages = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let kept = Arc::clone(&messages);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(data.take().unwrap_or_default());
                            write.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (messages, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_sends_an_email_through_smtp() {
    let (messages, smtp) = smtp_sink().await;
    let (_receiver, url) = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = DeliveryConfig {
        smtp: Some(smtp),
        notify_from: "leadscore@example.com".into(),
        ..delivery(&["127.0.0.1"])
    };
    let server = start(
        sqlite(&dir).await,
        &model(&url, true, &TEAM, 40),
        config,
        None,
    )
    .await;
    create(&server, "c1").await;
    adjust(&server, "c1", 90.0).await;
    eventually(10, "the e-mail", || async {
        !messages.lock().unwrap().is_empty()
    })
    .await;
    let message = messages.lock().unwrap()[0].clone();
    assert!(message.contains("To: sales-lead@example.com"), "{message}");
    assert!(message.contains("From: leadscore@example.com"), "{message}");
    assert!(
        message.contains("Subject: leadscore: hot for c1 (score 90)"),
        "{message}"
    );
    assert!(
        message.contains("Trigger `hot` fired for contact c1"),
        "{message}"
    );
    eventually(5, "both delivered", || async {
        deliveries(&server, "delivered").await.len() == 2
    })
    .await;
    let kinds: BTreeSet<String> = deliveries(&server, "delivered")
        .await
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["email".to_owned(), "webhook".to_owned()])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_over_1000_leads_is_even_and_respects_capacity() {
    let dir = tempfile::tempdir().unwrap();
    // Scores of 60: routed (above 50), never hot, so no webhook is involved.
    let text = model("https://crm.example.com/hook", false, &TEAM, 300);
    let server = start(sqlite(&dir).await, &text, delivery(&[]), None).await;
    for chunk in 0..2 {
        let batch: Vec<Value> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                json!({"type": "track", "userId": format!("lead-{n:04}"), "event": "Signed Up",
                       "messageId": format!("s-{n}"), "timestamp": support::now_plus(-1_000)})
            })
            .collect();
        server.ingest("/v1/batch", json!({"batch": batch})).await;
    }
    // Settled once the list answers (reads wait for rescoring).
    server.get_ok("/api/v1/contacts?limit=1").await;
    let loads = server.state.store.owner_loads().await.unwrap();
    assert_eq!(
        loads,
        TEAM.iter()
            .map(|m| ((*m).to_owned(), 300))
            .collect::<Vec<_>>(),
        "even, and never above capacity"
    );
    // The 100 left over stay unassigned (owner null).
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/contacts?limit=500&cursor={c}"),
            None => "/api/v1/contacts?limit=500".to_owned(),
        };
        let page = server.get_ok(&path).await;
        for item in page["items"].as_array().unwrap() {
            let owner = item["owner"].as_str().unwrap_or("-").to_owned();
            *owners.entry(owner).or_default() += 1;
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(owners.get("-"), Some(&100));
    assert_eq!(owners.values().sum::<usize>(), 1000);
    // A rep's queue: best first, all theirs.
    let queue = server
        .get_ok(&format!("/api/v1/owners/{}/queue?limit=500", TEAM[1]))
        .await;
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 300);
    assert!(items.iter().all(|i| i["owner"] == TEAM[1]));
    // The team's capacity as the dashboard shows it: everyone full, no room left.
    let teams = server.get_ok("/api/v1/teams").await;
    let team = &teams["items"][0];
    assert_eq!(team["capacity"], 300);
    assert_eq!(team["open"], 900);
    assert_eq!(team["free"], 0);
    let members: Vec<(String, i64, bool)> = team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["member"].as_str().unwrap().to_owned(),
                m["open"].as_i64().unwrap(),
                m["full"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        members,
        TEAM.iter()
            .map(|m| ((*m).to_owned(), 300, true))
            .collect::<Vec<_>>()
    );
    // Every assignment is audited.
    let trail = server.get_ok("/api/v1/contacts/lead-0000/automation").await;
    assert_eq!(trail["assignments"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_of_a_removed_member_are_reassigned() {
    let dir = tempfile::tempdir().unwrap();
    let text = model("https://crm.example.com/hook", false, &TEAM, 100);
    let server = start(sqlite(&dir).await, &text, delivery(&[]), None).await;
    for i in 0..6 {
        create(&server, &format!("c{i}")).await;
        adjust(&server, &format!("c{i}"), 60.0).await;
    }
    assert_eq!(server.state.store.owner_loads().await.unwrap().len(), 3);
    // Ben leaves the team in a new model version.
    let smaller = model(
        "https://crm.example.com/hook",
        false,
        &[TEAM[0], TEAM[2]],
        100,
    );
    let (status, body) = server
        .client
        .post(format!("{}/api/v1/models", server.base))
        .bearer_auth(&server.admin)
        .body(smaller)
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let version = body.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    let (status, _) = server
        .api(
            Method::POST,
            Some(&server.admin),
            &format!("/api/v1/models/{version}/activate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually(10, "the rescoring", || async {
        server.get_ok("/api/v1/models/rescoring").await["finished"] == true
    })
    .await;
    let loads = server.state.store.owner_loads().await.unwrap();
    assert_eq!(
        loads,
        [(TEAM[0].to_owned(), 3), (TEAM[2].to_owned(), 3)],
        "Ben's two contacts went to the others"
    );
    let bens = server.state.store.assignments("c1").await.unwrap();
    assert_eq!(
        bens.len(),
        3,
        "assigned, released, assigned again: {bens:?}"
    );
    assert_eq!(bens[1].reason, "member removed");
    assert_eq!(bens[1].previous_owner.as_deref(), Some(TEAM[1]));
    server.stop().await;
}

mod postgres {
    //! Two servers on one PostgreSQL schema, both with a delivery worker.

    use std::str::FromStr;

    use leadscore_store::{NewAdjustment, PostgresStore};
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    use super::*;

    fn base_url() -> String {
        std::env::var("LEADSCORE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    async fn execute(sql: &str) {
        let mut conn = PgConnectOptions::from_str(&base_url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    /// Drops the schema when the test ends, also when it panics.
    struct DropSchema(String);

    impl Drop for DropSchema {
        fn drop(&mut self) {
            let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0);
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(execute(&sql));
            })
            .join();
        }
    }

    async fn store(schema: &str) -> AnyStore {
        let options = PgConnectOptions::from_str(&base_url())
            .unwrap()
            .options([("search_path", schema)]);
        AnyStore::Postgres(PostgresStore::connect_with(options, 8).await.unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_servers_never_deliver_one_edge_under_two_ids() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let schema = format!("auto_{}_{}", std::process::id(), nanos % 1_000_000_000_000);
        execute(&format!("CREATE SCHEMA {schema}")).await;
        let _drop = DropSchema(schema.clone());
        let first_store = store(&schema).await;
        first_store.migrate().await.unwrap();
        let (receiver, url) = Receiver::start(0).await;
        let text = model(&url, false, &TEAM, 100);
        let a = start(first_store, &text, delivery(&["127.0.0.1"]), None).await;
        let b = start(store(&schema).await, &text, delivery(&["127.0.0.1"]), None).await;
        const CONTACTS: usize = 20;
        for i in 0..CONTACTS {
            let id = format!("c{i}");
            create(&a, &id).await;
            // Points stored behind the API's back, so that neither server has seen
            // them: both rescorings below see the edge at the same time.
            a.state
                .store
                .add_adjustment(&NewAdjustment {
                    contact_id: id,
                    points: 90.0,
                    reason: "race".into(),
                    author: "test".into(),
                    group: None,
                    at: 0,
                })
                .await
                .unwrap();
        }
        // Both servers rescore every contact at once (PUT rescores).
        let put = |server: &Server, i: usize| {
            let request = server
                .client
                .put(format!("{}/api/v1/contacts/c{i}", server.base))
                .bearer_auth(&server.admin)
                .json(&json!({"country": "DE"}));
            async move { request.send().await.unwrap().status() }
        };
        let mut racing = Vec::new();
        for i in 0..CONTACTS {
            racing.push(tokio::spawn(put(&a, i)));
            racing.push(tokio::spawn(put(&b, i)));
        }
        for task in racing {
            assert!(task.await.unwrap().is_success());
        }
        eventually(20, "every edge delivered", || async {
            deliveries(&a, "delivered").await.len() == CONTACTS
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // One id per contact, each delivered once, and nothing else in the outbox.
        let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for call in receiver.accepted() {
            let body: Value = serde_json::from_str(&call.body).unwrap();
            let contact = body["contact"]["contact_id"].as_str().unwrap().to_owned();
            ids.entry(contact).or_default().insert(call.key.clone());
        }
        assert_eq!(ids.len(), CONTACTS);
        assert!(ids.values().all(|keys| keys.len() == 1), "{ids:?}");
        assert_eq!(receiver.calls().len(), CONTACTS, "each edge sent once");
        assert!(deliveries(&b, "pending").await.is_empty());
        a.stop().await;
        b.stop().await;
    }
}

/// Figures, not a check (run with `--ignored --nocapture`, ideally `--release`): the
/// cost of recording a trigger edge per score change, and webhook delivery throughput
/// to a local receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_automation_figures() {
    let (receiver, url) = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let text = model(&url, false, &TEAM, 100_000);
    let quiet = DeliveryConfig {
        worker: false,
        ..delivery(&["127.0.0.1"])
    };
    let server = start(sqlite(&dir).await, &text, quiet, None).await;
    const CONTACTS: usize = 200;
    for i in 0..CONTACTS {
        create(&server, &format!("c{i}")).await;
    }
    // Score changes that move no trigger (70 -> 71 -> ...), then ones that each fire
    // or re-arm `hot` (crossing 80 both ways): the difference is the edge's cost.
    let timed = |label: &'static str, deltas: &'static [f64]| {
        let server = &server;
        async move {
            let started = std::time::Instant::now();
            let mut changes = 0;
            for i in 0..CONTACTS {
                for &d in deltas {
                    adjust(server, &format!("c{i}"), d).await;
                    changes += 1;
                }
            }
            let per = started.elapsed().as_secs_f64() / f64::from(changes) * 1e3;
            println!(
                "{label}: {changes} score changes, {per:.3} ms each (HTTP + rescoring + store)"
            );
            per
        }
    };
    let plain = timed("no trigger edge", &[70.0, 1.0, 1.0, 1.0]).await;
    let edges = timed("every change an edge", &[10.0, -10.0, 10.0, -10.0]).await;
    println!(
        "trigger edge (state upsert + outbox row + tag + stage, one transaction): {:.3} ms more per change",
        edges - plain
    );
    let pending = server
        .state
        .store
        .deliveries(&Default::default())
        .await
        .unwrap();
    server.stop().await;
    let total = {
        let mut n = 0;
        let mut after = None;
        loop {
            let page = {
                let store = sqlite(&dir).await;
                let page = store
                    .deliveries(&leadscore_store::automation::DeliveryQuery {
                        limit: 1000,
                        after: after.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                store.close().await;
                page
            };
            n += page.items.len();
            match page.next {
                Some(next) => after = Some(next),
                None => break n,
            }
        }
    };
    assert!(!pending.items.is_empty());
    let started = std::time::Instant::now();
    let server = start(sqlite(&dir).await, &text, delivery(&["127.0.0.1"]), None).await;
    eventually(120, "every delivery", || async {
        receiver.accepted().len() >= total
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "webhook delivery: {total} deliveries in {seconds:.2} s = {:.0}/s (signed, 16 in flight, SQLite outbox, local receiver)",
        total as f64 / seconds
    );
    server.stop().await;
}

/// Account automation: `[[account.trigger]]` edges, their webhooks and tags, re-armed by
/// erasure and by the tick.
mod accounts {
    use super::*;
    use leadscore_store::automation::account_delivery_id;

    /// Contacts grouped by `company_id`; the account scores the sum of its members'
    /// engagement (`Demo Requested` 100 decaying with a one-minute half-life, `Signed
    /// Up` 60); trigger `hot-account` at `threshold` with a webhook and a tag.
    fn account_model(webhook: &str, threshold: u32) -> String {
        format!(
            r#"
version = 1
name = "account-automation-test"

[[engagement]]
id = "demo"
event = "Demo Requested"
points = 100
decay = {{ half_life = "1m" }}

[[engagement]]
id = "signup"
event = "Signed Up"
points = 60

[account]
key = "company_id"

[[account.engagement]]
id = "members"
top_contacts = {{ n = 10 }}

[[account.trigger]]
id = "hot-account"
when = {{ score_gte = {threshold} }}
actions = [ {{ webhook = "{webhook}" }}, {{ tag = "hot-account" }} ]
"#
        )
    }

    /// `id` as a contact of `company`.
    async fn member(server: &Server, id: &str, company: &str) {
        let (status, body) = server
            .api(
                Method::PUT,
                Some(&server.admin),
                &format!("/api/v1/contacts/{id}"),
                Some(&json!({ "company_id": company })),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }

    async fn event(server: &Server, id: &str, name: &str, message: &str, ago_ms: i64) {
        server
            .ingest(
                "/v1/track",
                json!({"userId": id, "event": name, "messageId": message,
                       "timestamp": support::now_plus(-ago_ms)}),
            )
            .await;
        // Waits for the rescoring (and with it the account's automation).
        server.get_ok(&format!("/api/v1/contacts/{id}/score")).await;
    }

    fn account_deliveries(list: &[Value]) -> Vec<Value> {
        list.iter()
            .filter(|d| d["account"].is_string())
            .cloned()
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_account_crossing_its_threshold_fires_once_rearms_and_fires_again() {
        let (receiver, url) = Receiver::start(0).await;
        let dir = tempfile::tempdir().unwrap();
        let text = account_model(&url, 150);
        let server = start(sqlite(&dir).await, &text, delivery(&["127.0.0.1"]), None).await;
        member(&server, "a1", "acme").await;
        member(&server, "a2", "acme").await;
        member(&server, "a3", "acme").await;
        event(&server, "a1", "Demo Requested", "m1", 0).await;
        // 100 < 150: nothing yet.
        assert!(account_deliveries(&deliveries(&server, "pending").await).is_empty());
        // A second engaged member: about 200, the edge.
        event(&server, "a2", "Demo Requested", "m2", 0).await;
        eventually(10, "the account webhook", || async {
            receiver.accepted().len() == 1
        })
        .await;
        // Staying above does not fire again.
        event(&server, "a1", "Signed Up", "m3", 0).await;
        event(&server, "a2", "Signed Up", "m4", 0).await;

        let first = receiver.accepted()[0].clone();
        // The id is derived from (account, trigger, fire number, action index).
        assert_eq!(first.key, account_delivery_id("acme", "hot-account", 1, 0));
        let body: Value = serde_json::from_str(&first.body).unwrap();
        assert_eq!(body["id"], first.key.as_str());
        assert_eq!(body["trigger"], "hot-account");
        assert!(body.get("contact").is_none(), "{body}");
        let account = &body["account"];
        assert_eq!(account["account"], "acme", "{body}");
        assert_eq!(account["members"], json!(["a1", "a2", "a3"]));
        assert_eq!(account["owner"], Value::Null);
        assert_eq!(account["triggers_active"], json!(["hot-account"]));
        assert!(account["score"].as_i64().unwrap() >= 150, "{body}");
        assert_eq!(account["explain"][0]["rule"], "members", "{body}");
        // The tag went to every member of the account.
        for id in ["a1", "a2", "a3"] {
            let auto = server
                .get_ok(&format!("/api/v1/contacts/{id}/automation"))
                .await;
            assert_eq!(auto["tags"], json!(["hot-account"]), "{id}: {auto}");
        }
        let listed = account_deliveries(&deliveries(&server, "delivered").await);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["contact_id"], Value::Null);
        assert_eq!(listed[0]["account"], "acme");
        assert_eq!(listed[0]["id"], first.key.as_str());
        let auto = server.get_ok("/api/v1/accounts/acme/automation").await;
        assert_eq!(auto["triggers"][0]["fires"], 1, "{auto}");
        assert_eq!(auto["triggers"][0]["active"], true, "{auto}");

        // Erasing a2 takes the account to about 160: still above. Erasing a1 too
        // leaves nothing engaged: the trigger re-arms.
        for id in ["a2", "a1"] {
            let (status, _) = server
                .api(
                    Method::DELETE,
                    Some(&server.admin),
                    &format!("/api/v1/contacts/{id}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
        let auto = server.get_ok("/api/v1/accounts/acme/automation").await;
        assert_eq!(auto["triggers"][0]["active"], false, "{auto}");
        // The delivery that named the erased contacts is gone with them.
        assert!(account_deliveries(&deliveries(&server, "delivered").await).is_empty());
        let account = server.get_ok("/api/v1/accounts/acme").await;
        assert_eq!(account["members"], json!(["a3"]));

        // Over the threshold again: the second edge, a new id.
        event(&server, "a3", "Demo Requested", "m5", 0).await;
        event(&server, "a3", "Signed Up", "m6", 0).await;
        eventually(10, "the second account webhook", || async {
            receiver.accepted().len() == 2
        })
        .await;
        let second = receiver.accepted()[1].clone();
        assert_eq!(second.key, account_delivery_id("acme", "hot-account", 2, 0));
        assert_ne!(second.key, first.key);
        assert_eq!(receiver.accepted().len(), 2);
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decay_rearms_an_account_trigger_on_the_tick() {
        let (receiver, url) = Receiver::start(0).await;
        let dir = tempfile::tempdir().unwrap();
        let server = start(
            sqlite(&dir).await,
            &account_model(&url, 80),
            delivery(&["127.0.0.1"]),
            Some(200),
        )
        .await;
        member(&server, "b1", "beta").await;
        // 100 points 17 s ago: about 82 now, below 80 about two seconds later.
        event(&server, "b1", "Demo Requested", "d1", 17_000).await;
        eventually(10, "the first account delivery", || async {
            receiver.accepted().len() == 1
        })
        .await;
        eventually(15, "the re-arm by the tick", || async {
            let auto = server.get_ok("/api/v1/accounts/beta/automation").await;
            auto["triggers"][0]["active"] == false
        })
        .await;
        let account = server.get_ok("/api/v1/accounts/beta").await;
        assert!(account["raw"].as_f64().unwrap() < 80.0, "{account}");
        event(&server, "b1", "Signed Up", "s1", 0).await;
        eventually(10, "the second account delivery", || async {
            receiver.accepted().len() == 2
        })
        .await;
        let calls = receiver.accepted();
        assert_eq!(
            calls[0].key,
            account_delivery_id("beta", "hot-account", 1, 0)
        );
        assert_eq!(
            calls[1].key,
            account_delivery_id("beta", "hot-account", 2, 0)
        );
        server.stop().await;
    }

    /// Single leads route round-robin within `sales` above 50; an account goes to one
    /// owner of `sales` from 250 on.
    fn routed_model() -> String {
        format!(
            r#"
version = 1
name = "account-routing-test"

[[engagement]]
id = "demo"
event = "Demo Requested"
points = 100

[[engagement]]
id = "signup"
event = "Signed Up"
points = 60

[[route]]
id = "inbound"
when = {{ score_gt = 50 }}
assign = {{ team = "sales" }}

[account]
key = "company_id"

[[account.engagement]]
id = "members"
top_contacts = {{ n = 10 }}

[[account.route]]
id = "buying-group"
when = {{ score_gte = 250 }}
assign = {{ team = "sales" }}

[teams.sales]
members = [{members}]
"#,
            members = TEAM.map(|m| format!("\"{m}\"")).join(", ")
        )
    }

    async fn owner(server: &Server, id: &str) -> Value {
        server.get_ok(&format!("/api/v1/contacts/{id}/score")).await["owner"].clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_account_given_an_owner_gathers_contacts_routed_before() {
        let dir = tempfile::tempdir().unwrap();
        let server = start(sqlite(&dir).await, &routed_model(), delivery(&[]), None).await;
        for (id, company) in [
            ("a1", "acme"),
            ("a2", "acme"),
            ("a3", "acme"),
            ("b1", "beta"),
            ("b2", "beta"),
        ] {
            member(&server, id, company).await;
        }
        // Routed one by one while the account is below 250: a split buying group.
        event(&server, "a1", "Demo Requested", "m1", 0).await;
        event(&server, "a2", "Demo Requested", "m2", 0).await;
        assert_eq!(owner(&server, "a1").await, TEAM[0]);
        assert_eq!(owner(&server, "a2").await, TEAM[1]);
        // a3 takes the account over 250: its owner is the rep holding most of it (a
        // tie: the first of the team), and ben's contact joins her.
        event(&server, "a3", "Demo Requested", "m3", 0).await;
        let auto = server.get_ok("/api/v1/accounts/acme/automation").await;
        assert_eq!(auto["owner"], TEAM[0], "{auto}");
        for id in ["a1", "a2", "a3"] {
            assert_eq!(owner(&server, id).await, TEAM[0], "{id}");
        }
        let trail = server.get_ok("/api/v1/contacts/a2/automation").await;
        let last = trail["assignments"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            last["reason"], "account acme: joins the account owner",
            "{trail}"
        );
        assert_eq!(last["previous_owner"], TEAM[1], "{trail}");
        assert_eq!(last["owner"], TEAM[0], "{trail}");

        // beta: both members owned (cara, then anna) before an event of an owned
        // member takes the account over 250; it gets its owner all the same.
        event(&server, "b1", "Demo Requested", "m4", 0).await;
        event(&server, "b2", "Demo Requested", "m5", 0).await;
        assert_eq!(owner(&server, "b1").await, TEAM[2]);
        assert_eq!(owner(&server, "b2").await, TEAM[0]);
        event(&server, "b1", "Signed Up", "m6", 0).await;
        let auto = server.get_ok("/api/v1/accounts/beta/automation").await;
        assert_eq!(auto["owner"], TEAM[0], "{auto}");
        assert_eq!(
            auto["assignments"][0]["reason"], "account beta (route buying-group)",
            "{auto}"
        );
        eventually(10, "b1 rescored with its new owner", || async {
            owner(&server, "b1").await == TEAM[0]
        })
        .await;
        let account = server.get_ok("/api/v1/accounts/beta").await;
        assert_eq!(account["owner"], TEAM[0], "{account}");
        server.stop().await;
    }

    async fn erase(server: &Server, id: &str) {
        let (status, _) = server
            .api(
                Method::DELETE,
                Some(&server.admin),
                &format!("/api/v1/contacts/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    /// `(owner, reason, previous_owner)` of each line of an account's audit trail.
    async fn account_trail(server: &Server, key: &str) -> Vec<(Value, Value, Value)> {
        let auto = server
            .get_ok(&format!("/api/v1/accounts/{key}/automation"))
            .await;
        auto["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["owner"].clone(),
                    l["reason"].clone(),
                    l["previous_owner"].clone(),
                )
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_account_owner_is_released_when_the_last_member_is_erased_or_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let server = start(sqlite(&dir).await, &routed_model(), delivery(&[]), None).await;
        for (i, company) in ["acme", "beta"].iter().enumerate() {
            for n in 1..=3 {
                let id = format!("{company}-{n}");
                member(&server, &id, company).await;
                event(&server, &id, "Demo Requested", &format!("m{i}{n}"), 0).await;
            }
        }
        let acme = server.get_ok("/api/v1/accounts/acme/automation").await;
        let beta = server.get_ok("/api/v1/accounts/beta/automation").await;
        assert!(
            acme["owner"].is_string() && beta["owner"].is_string(),
            "{acme} {beta}"
        );

        // acme: one member erased, one moves to another company; the last one erased.
        erase(&server, "acme-1").await;
        member(&server, "acme-2", "elsewhere").await;
        let account = server.get_ok("/api/v1/accounts/acme").await;
        assert_eq!(account["members"], json!(["acme-3"]));
        assert_eq!(
            account["owner"], acme["owner"],
            "kept while a member is left"
        );
        erase(&server, "acme-3").await;
        let (status, _) = server.get("/api/v1/accounts/acme").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let trail = account_trail(&server, "acme").await;
        assert_eq!(trail.len(), 2, "{trail:?}");
        assert_eq!(
            trail[1],
            (
                Value::Null,
                json!("last member gone"),
                acme["owner"].clone()
            )
        );
        let auto = server.get_ok("/api/v1/accounts/acme/automation").await;
        assert_eq!(auto["owner"], Value::Null);

        // beta: every member leaves for another company.
        for n in 1..=3 {
            member(&server, &format!("beta-{n}"), "gamma").await;
        }
        let trail = account_trail(&server, "beta").await;
        assert_eq!(trail.len(), 2, "{trail:?}");
        assert_eq!(
            trail[1],
            (
                Value::Null,
                json!("last member gone"),
                beta["owner"].clone()
            )
        );
        // gamma is a new account of the same three contacts, still with their owners.
        let gamma = server.get_ok("/api/v1/accounts/gamma").await;
        assert_eq!(gamma["members"], json!(["beta-1", "beta-2", "beta-3"]));
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_account_notify_sends_the_account_summary() {
        let (messages, smtp) = super::smtp_sink().await;
        let dir = tempfile::tempdir().unwrap();
        let config = DeliveryConfig {
            smtp: Some(smtp),
            notify_from: "leadscore@example.com".into(),
            ..delivery(&[])
        };
        // The webhook action goes to an address nobody listens on (dead, refused);
        // the e-mail is what this test reads.
        let text = account_model("https://hooks.invalid/x", 150).replace(
            r#"{ tag = "hot-account" }"#,
            r#"{ notify = "sales-lead@example.com" }"#,
        );
        let server = start(sqlite(&dir).await, &text, config, None).await;
        for id in ["n1", "n2"] {
            member(&server, id, "acme").await;
            event(&server, id, "Demo Requested", &format!("d-{id}"), 0).await;
        }
        eventually(10, "the e-mail", || async {
            !messages.lock().unwrap().is_empty()
        })
        .await;
        let message = messages.lock().unwrap()[0].clone();
        assert!(message.contains("To: sales-lead@example.com"), "{message}");
        assert!(
            message.contains("Subject: leadscore: hot-account for account acme (score "),
            "{message}"
        );
        assert!(
            message.contains("Trigger `hot-account` fired for account acme"),
            "{message}"
        );
        assert!(message.contains("Members: n1, n2"), "{message}");
        server.stop().await;
    }
}
