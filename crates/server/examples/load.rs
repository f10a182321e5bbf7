//! Ingestion load generator: N concurrent clients post `/v1/batch` requests of 100
//! `track` messages (unique `messageId`s, users spread over 10,000 contacts) to a
//! running server for a fixed time, then print events/s and request latency.
//!
//! ```sh
//! leadscore keys create --db sqlite:///tmp/load.db --role write | tail -n 1   # KEY
//! leadscore serve --db sqlite:///tmp/load.db --model examples/b2b.toml &
//! cargo run --release -p leadscore-server --example load -- http://127.0.0.1:8088 KEY [CLIENTS] [SECONDS]
//! ```
//!
//! A benchmark, not a test: only messages answered `200` are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BATCH: usize = 100;
const USERS: u64 = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(key)) = (args.first(), args.get(1)) else {
        eprintln!("usage: load URL WRITE_KEY [CLIENTS=16] [SECONDS=10]");
        std::process::exit(2);
    };
    let clients: u64 = args.get(2).map_or(Ok(16), |s| s.parse())?;
    let seconds: u64 = args.get(3).map_or(Ok(10), |s| s.parse())?;
    let url = format!("{}/v1/batch", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()?;
    let run = format!(
        "{:x}",
        Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id())
    );
    let acknowledged = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url, key, run) = (client.clone(), url.clone(), key.clone(), run.clone());
        let (acknowledged, failed) = (acknowledged.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut seq: u64 = 0;
            while Instant::now() < deadline {
                let batch: Vec<Value> = (0..BATCH)
                    .map(|_| {
                        seq += 1;
                        let user = (c * 7919 + seq * 104_729) % USERS;
                        json!({
                            "type": "track",
                            "messageId": format!("load-{run}-{c}-{seq}"),
                            "userId": format!("u-{user}"),
                            "event": if seq.is_multiple_of(10) { "Pricing Page Viewed" } else { "Email Clicked" },
                            "timestamp": "2026-11-01T00:00:00Z",
                        })
                    })
                    .collect();
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await;
                latencies.push(sent.elapsed());
                match response {
                    Ok(r) if r.status().is_success() => {
                        acknowledged.fetch_add(BATCH as u64, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
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
        "clients={clients} seconds={elapsed:.1} events={events} failed_requests={} events_per_s={:.0} p50_ms={:.1} p99_ms={:.1}",
        failed.load(Ordering::Relaxed),
        events as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
    Ok(())
}
