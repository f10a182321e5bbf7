//! Load generator: N concurrent clients call a running server for a fixed time, then
//! print throughput and request latency (p50/p99). Modes:
//!
//! * `batch` (default): `/v1/batch` requests of 100 `track` messages (unique
//!   `messageId`s, users spread over USERS contacts); KEY is a write key. The ids
//!   are random UUIDs, as Segment's libraries send.
//! * `single`: `/v1/track`, one message per request; KEY is a write key.
//! * `read`: `GET /api/v1/contacts/u-N/score` for random N below USERS; KEY is a read
//!   key (the contacts must exist: `bench/serve-load.sh` imports them).
//!
//! ```sh
//! leadscore keys create --db sqlite:///tmp/load.db --role write | tail -n 1   # KEY
//! leadscore serve --db sqlite:///tmp/load.db --model examples/b2b.toml &
//! cargo run --release -p leadscore-server --example load -- http://127.0.0.1:8088 KEY [CLIENTS] [SECONDS] [MODE] [USERS]
//! ```
//!
//! A benchmark, not a test: only requests answered `2xx` are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Messages per `/v1/batch` request.
const BATCH: usize = 100;

/// A random version-4 UUID, as Segment's libraries send: each lands at a random place
/// of the store's `messageId` index, as in production. Ids ordered by client and
/// sequence were all inserted at a few places of it, which real traffic never does:
/// they gave 1.4x the ingestion of random ids at about half the bytes written per
/// message (same run).
fn message_id() -> String {
    let bits = (rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(key)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: load URL KEY [CLIENTS=16] [SECONDS=10] [batch|single|read] [USERS=10000]"
        );
        std::process::exit(2);
    };
    let clients: u64 = args.get(2).map_or(Ok(16), |s| s.parse())?;
    let seconds: u64 = args.get(3).map_or(Ok(10), |s| s.parse())?;
    let mode = args.get(4).map_or("batch", String::as_str).to_owned();
    let users: u64 = args.get(5).map_or(Ok(10_000), |s| s.parse())?;
    let base = base.trim_end_matches('/').to_owned();
    let per_request: u64 = match mode.as_str() {
        "batch" => BATCH as u64,
        "single" | "read" => 1,
        other => return Err(format!("unknown mode `{other}`").into()),
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()?;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, base, key, mode) = (client.clone(), base.clone(), key.clone(), mode.clone());
        let (acknowledged, failed) = (acknowledged.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut seq: u64 = 0;
            let message = |seq: u64| {
                let user = (c * 7919 + seq * 104_729) % users;
                json!({
                    "type": "track",
                    "messageId": message_id(),
                    "userId": format!("u-{user}"),
                    "event": if seq.is_multiple_of(10) { "Demo Requested" } else { "Email Opened" },
                    "timestamp": "2026-11-01T00:00:00Z",
                })
            };
            while Instant::now() < deadline {
                let request = match mode.as_str() {
                    "batch" => {
                        let batch: Vec<Value> = (0..BATCH)
                            .map(|_| {
                                seq += 1;
                                message(seq)
                            })
                            .collect();
                        client
                            .post(format!("{base}/v1/batch"))
                            .basic_auth(&key, Some(""))
                            .json(&json!({ "batch": batch }))
                    }
                    "single" => {
                        seq += 1;
                        client
                            .post(format!("{base}/v1/track"))
                            .basic_auth(&key, Some(""))
                            .json(&message(seq))
                    }
                    _ => {
                        seq += 1;
                        let user = (c * 7919 + seq * 104_729) % users;
                        client
                            .get(format!("{base}/api/v1/contacts/u-{user}/score"))
                            .bearer_auth(&key)
                    }
                };
                let sent = Instant::now();
                // A request counts once its whole answer has arrived.
                let ok = match request.send().await {
                    Ok(r) => {
                        let success = r.status().is_success();
                        r.bytes().await.is_ok() && success
                    }
                    Err(_) => false,
                };
                latencies.push(sent.elapsed());
                if ok {
                    acknowledged.fetch_add(per_request, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let events = acknowledged.load(Ordering::Relaxed);
    println!(
        "mode={mode} clients={clients} seconds={elapsed:.1} done={events} failed_requests={} per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
        failed.load(Ordering::Relaxed),
        events as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
    Ok(())
}
