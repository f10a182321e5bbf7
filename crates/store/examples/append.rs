//! Appends synthetic messages to a store and prints how fast it went: a quick look at
//! durable ingestion throughput (the real benchmark drives the server).
//!
//! `cargo run --release -p leadscore-store --example append -- [URL] [EVENTS] [BATCH]`
//! (defaults: a SQLite file in the temp directory, 100000 events, batches of 100).

use std::time::Instant;

use leadscore_store::{AnyStore, NewEvent, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let default_url =
        std::env::temp_dir().join(format!("leadscore-append-{}.db", std::process::id()));
    let url = args
        .next()
        .unwrap_or_else(|| default_url.display().to_string());
    let total: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let batch: usize = args.next().map_or(Ok(100), |n| n.parse())?;

    let store = AnyStore::open(&url).await?;
    store.migrate().await?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let events: Vec<NewEvent> = (0..total)
        .map(|i| NewEvent {
            message_id: Some(format!("{run}-{i}")),
            kind: "track".to_owned(),
            user_id: Some(format!("user-{}", i % 10_000)),
            anonymous_id: None,
            timestamp: i as i64,
            received_at: i as i64,
            body: format!(r#"{{"type":"track","event":"Page Viewed","messageId":"{run}-{i}"}}"#),
        })
        .collect();
    let start = Instant::now();
    let mut inserted = 0;
    for chunk in events.chunks(batch.max(1)) {
        inserted += store.append(chunk).await?.inserted;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{inserted} events in {seconds:.2} s: {:.0} events/s, {:.2} ms per batch of {batch}",
        inserted as f64 / seconds,
        seconds * 1000.0 / (total.div_ceil(batch.max(1))) as f64
    );
    store.close().await;
    Ok(())
}
