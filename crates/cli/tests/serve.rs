//! `leadscore serve` and `leadscore keys` as processes: a key made by `keys create`
//! works for ingestion; a `kill -9` during heavy concurrent ingestion loses no
//! acknowledged message and counts none twice (SQLite, WAL + `synchronous=FULL`); and
//! two servers on one PostgreSQL, fed concurrently for the same contacts, end with the
//! scores `leadscore score` computes from the same events.
//!
//! HTTP is spoken by hand over `std::net` (one request per connection), so this crate
//! needs no HTTP client; the store is read back with `leadscore_store`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadscore_store::{AnyStore, Store as _};
use serde_json::{Value, json};

use crate::support::{leadscore, root, scratch, stdout};

/// A `leadscore serve` child process and the address it listens on.
pub(crate) struct Serve {
    child: Child,
    pub(crate) address: String,
}

impl Serve {
    /// Start `serve` on `db` with the example model on a free port; waits until it
    /// says where it listens.
    pub(crate) fn start(db: &str) -> Serve {
        let model = root().join("examples/b2b.toml");
        let model = model.to_str().expect("a UTF-8 path");
        Serve::start_with(&[
            "serve",
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--model",
            model,
        ])
    }

    /// Start `leadscore` with `args` (a `serve` command line).
    fn start_with(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore"))
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start leadscore serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .expect("read serve's stderr");
            if let Some((_, rest)) = line.split_once("listening on http://") {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve { child, address }
    }

    /// `kill -9`: no shutdown, no flush.
    fn kill(mut self) {
        self.child.kill().expect("kill -9 serve");
        self.child.wait().expect("reap serve");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POST `body` to `path` with HTTP Basic `key`; the status, or `None` when the
/// connection failed or broke before a complete answer (not acknowledged).
fn post(address: &str, path: &str, key: &str, body: &Value) -> Option<u16> {
    let body = body.to_string();
    let auth = base64(format!("{key}:").as_bytes());
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    // A status line alone is not an answer: require the body (`{"success":true}`).
    (status != 200 || answer.contains("\"success\":true")).then_some(status)
}

/// Standard base64 with padding (for HTTP Basic).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `leadscore keys create --role ROLE`: the secret, alone on the last stdout line.
pub(crate) fn create_key(db: &str, role: &str) -> String {
    let output = leadscore(&["keys", "create", "--db", db, "--role", role, "--name", "t"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let last = text.lines().last().expect("a last line").to_owned();
    assert!(last.starts_with("lsk_"), "{text}");
    assert_eq!(last.trim(), last, "{text}");
    assert!(
        !last.contains(' '),
        "the secret is alone on its line: {text}"
    );
    last
}

fn batch(client: usize, n: usize, users: usize) -> (Value, Vec<String>) {
    let ids: Vec<String> = (0..100).map(|i| format!("c{client}-{n}-{i}")).collect();
    let messages: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"type":"track","userId":format!("u-{}", (n * 100 + i) % users),
                   "event":"Email Opened","messageId":id,
                   "timestamp":format!("2026-01-01T{:02}:{:02}:{:02}Z", client, n % 60, i % 60)})
        })
        .collect();
    (json!({ "batch": messages }), ids)
}

/// Every message id in `db` (SQLite), with how often it is stored.
fn stored_ids(db: &str, users: usize) -> BTreeMap<String, usize> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = AnyStore::open(db).await.unwrap();
        let mut ids = BTreeMap::new();
        for user in 0..users {
            for event in store.history(&format!("u-{user}")).await.unwrap() {
                let id = event
                    .event
                    .message_id
                    .expect("every test message has an id");
                *ids.entry(id).or_insert(0) += 1;
            }
        }
        store.close().await;
        ids
    })
}

#[test]
fn a_created_key_works_for_ingestion_and_a_read_key_does_not() {
    let dir = scratch("keys");
    let db = format!("sqlite://{}", dir.join("keys.db").display());
    let write = create_key(&db, "write");
    let read = create_key(&db, "read");
    let server = Serve::start(&db);
    let message = json!({"userId":"k-1","event":"Demo Requested","messageId":"k-m-1"});
    assert_eq!(
        post(&server.address, "/v1/track", &write, &message),
        Some(200)
    );
    assert_eq!(
        post(&server.address, "/v1/track", &read, &message),
        Some(403)
    );
    assert_eq!(
        post(&server.address, "/v1/track", "lsk_nope", &message),
        Some(401)
    );
    drop(server);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = runtime.block_on(async {
        let store = AnyStore::open(&db).await.unwrap();
        let history = store.history("k-1").await.unwrap();
        store.close().await;
        history
    });
    assert_eq!(stored.len(), 1);
}

#[test]
fn kill_9_during_ingestion_loses_no_acknowledged_message_and_counts_none_twice() {
    let dir = scratch("crash");
    let db = format!("sqlite://{}", dir.join("crash.db").display());
    let users = 50;
    let key = create_key(&db, "write");
    let server = Serve::start(&db);
    let clients = 6;
    let acknowledged = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    // Batches sent but not answered 200 (the kill cut them off): resent after restart.
    let unanswered = Arc::new(Mutex::new(Vec::<(Value, Vec<String>)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for client in 0..clients {
        let (address, key) = (server.address.clone(), key.clone());
        let (acknowledged, unanswered, stop) =
            (acknowledged.clone(), unanswered.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            for n in 0.. {
                let (body, ids) = batch(client, n, users);
                match post(&address, "/v1/batch", &key, &body) {
                    Some(200) => acknowledged.lock().unwrap().extend(ids),
                    Some(other) => panic!("unexpected status {other}"),
                    None => {
                        unanswered.lock().unwrap().push((body, ids));
                        return;
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
        }));
    }
    // Let the clients run, then kill the server in the middle of the stream.
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 10_000 && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let unanswered = unanswered.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 1_000,
        "too few acknowledged before the kill"
    );

    // Every acknowledged message is stored, exactly once.
    let stored = stored_ids(&db, users);
    for id in &acknowledged {
        assert_eq!(
            stored.get(id),
            Some(&1),
            "acknowledged `{id}` lost or doubled"
        );
    }
    assert!(stored.values().all(|&count| count == 1));

    // Restart on the same file; resend what was not acknowledged and some that was.
    let server = Serve::start(&db);
    let mut expected = acknowledged.clone();
    for (body, ids) in &unanswered {
        assert_eq!(post(&server.address, "/v1/batch", &key, body), Some(200));
        expected.extend(ids.iter().cloned());
    }
    let (again, _) = batch(0, 0, users);
    assert_eq!(post(&server.address, "/v1/batch", &key, &again), Some(200));
    drop(server);
    let stored = stored_ids(&db, users);
    assert_eq!(
        stored.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "the store holds exactly the acknowledged messages"
    );
    assert!(
        stored.values().all(|&count| count == 1),
        "a resent message was stored twice"
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// Run SQL on the test PostgreSQL with `psql` (this crate has no PostgreSQL client).
fn psql(sql: &str) {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-q",
            "-c",
            sql,
        ])
        .output()
        .expect("run psql (the PostgreSQL client)");
    assert!(output.status.success(), "psql `{sql}`: {output:?}");
}

/// Drops the test's schema when the test ends, also when it panics.
struct DropSchema(String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
    }
}

/// SIGTERM (a graceful stop: queued work is committed and rescored), then wait.
fn terminate(mut server: Serve) {
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "serve stopped with {exit}");
}

#[test]
fn two_servers_on_one_postgres_end_with_the_batch_clis_scores() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "serve2_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    );
    psql(&format!("CREATE SCHEMA {schema}"));
    let _drop = DropSchema(schema.clone());
    let db = format!("postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3D{schema}");
    let key = create_key(&db, "write");
    let servers = [Serve::start(&db), Serve::start(&db)];
    let addresses: Vec<String> = servers.iter().map(|s| s.address.clone()).collect();

    // 10 contacts; each client sends batches alternately to both servers, in shuffled
    // time order, and every fifth batch goes to both (duplicates across servers).
    let users = 10;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let titles = ["CTO", "Intern", "Head of Sales", "Engineer", "VP Marketing"];
    let events = [
        "Demo Requested",
        "Email Opened",
        "Email Link Clicked",
        "Webinar Attended",
    ];
    let message = move |client: usize, n: usize, i: usize| -> Value {
        let user = format!("u-{}", (client + n + i) % users);
        // Up to 20 days back, not in order.
        let at = leadscore_formats::format_timestamp(
            now - ((client * 7 + n * 13 + i * 29) % 480) as i64 * 3_600_000 - 1_000,
        );
        let id = format!("pg-{client}-{n}-{i}");
        match i % 4 {
            0 => json!({"type":"identify","userId":user,"messageId":id,"timestamp":at,
                        "traits":{"job_title":titles[(client + n) % titles.len()]}}),
            1 => json!({"type":"page","userId":user,"messageId":id,"timestamp":at,
                        "properties":{"url":"https://example.com/pricing"}}),
            _ => json!({"type":"track","userId":user,"messageId":id,"timestamp":at,
                        "event":events[(client + n + i) % events.len()]}),
        }
    };
    let mut threads = Vec::new();
    for client in 0..4 {
        let (addresses, key) = (addresses.clone(), key.clone());
        threads.push(std::thread::spawn(move || {
            let mut sent = Vec::new();
            for n in 0..15 {
                let batch: Vec<Value> = (0..20).map(|i| message(client, n, i)).collect();
                let body = json!({ "batch": batch });
                let targets: Vec<&String> = if n % 5 == 0 {
                    addresses.iter().collect()
                } else {
                    vec![&addresses[n % 2]]
                };
                for address in targets {
                    assert_eq!(post(address, "/v1/batch", &key, &body), Some(200));
                }
                sent.extend(batch);
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for thread in threads {
        sent.extend(thread.join().unwrap());
    }
    for server in servers {
        terminate(server);
    }

    // The same events, once each, for the batch CLI.
    let dir = scratch("two-servers");
    let mut jsonl = String::new();
    for message in &sent {
        jsonl.push_str(&message.to_string());
        jsonl.push('\n');
    }
    std::fs::write(dir.join("events.jsonl"), jsonl).unwrap();
    let mut csv = String::from("id\n");
    for user in 0..users {
        csv.push_str(&format!("u-{user}\n"));
    }
    std::fs::write(dir.join("contacts.csv"), csv).unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = runtime.block_on(async {
        let store = AnyStore::open(&db).await.unwrap();
        let mut stored = Vec::new();
        for user in 0..users {
            let id = format!("u-{user}");
            let score = store.score(&id).await.unwrap().expect("a stored score");
            stored.push((id, score));
        }
        store.close().await;
        stored
    });
    // Not a trivial agreement: the events moved the scores.
    assert!(
        stored.iter().any(|(_, score)| score.score > 0.0),
        "all scores are 0"
    );
    for (id, score) in stored {
        let result: Value = serde_json::from_str(&score.result).unwrap();
        let as_of = leadscore_formats::format_timestamp(score.as_of);
        let output = leadscore(&[
            "score",
            "--model",
            "examples/b2b.toml",
            "--contacts",
            dir.join("contacts.csv").to_str().unwrap(),
            "--events",
            dir.join("events.jsonl").to_str().unwrap(),
            "--as-of",
            &as_of,
        ]);
        assert!(output.status.success(), "{output:?}");
        let cli = crate::support::jsonl(&stdout(&output))
            .into_iter()
            .find(|r| r["contact_id"] == id.as_str())
            .expect("the CLI scored the contact");
        for field in ["score", "fit", "grade", "label", "stage"] {
            assert_eq!(result[field], cli[field], "{id} {field}: {result} vs {cli}");
        }
        let (a, b) = (
            result["raw"].as_f64().unwrap(),
            cli["raw"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-9, "{id} raw: {result} vs {cli}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `serve --config FILE`: the file's settings are used, a flag overrides one, and an
/// unknown key stops the server before it listens, naming the file and line.
#[test]
fn a_config_file_sets_what_flags_do_not() {
    let dir = scratch("config");
    let db = format!("sqlite://{}", dir.join("config.db").display());
    let config = dir.join("leadscore.toml");
    let model = root().join("examples/b2b.toml");
    std::fs::write(
        &config,
        format!(
            "# the service's settings\ndb = {db:?}\nmodel = {:?}\nlisten = \"127.0.0.1:9\"\ntick = 0\n",
            model.display().to_string()
        ),
    )
    .unwrap();
    let config_path = config.to_str().unwrap();
    // The file says port 9 (not ours to take); the flag wins with a free port.
    let server = Serve::start_with(&["serve", "--config", config_path, "--listen", "127.0.0.1:0"]);
    assert_ne!(server.address, "127.0.0.1:9");
    let health = get_status(&server.address, "/healthz");
    assert_eq!(health, Some(200));
    drop(server);
    // The database the file named was created and holds the model.
    assert!(dir.join("config.db").exists());

    std::fs::write(&config, format!("db = {db:?}\n\nlistn = \"127.0.0.1:0\"\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(["serve", "--config", config_path])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{config_path}:3: unknown setting `listn`")),
        "{stderr}"
    );
}

/// GET `path`; the status, or `None` when the connection failed.
fn get_status(address: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}
