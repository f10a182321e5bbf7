//! How long the dashboard's list takes with many contacts stored: server time of
//! `GET /api/v1/contacts` pages (first page, a deep page by cursor, a label filter, a
//! `q` search) and of `GET /api/v1/reports/distribution`, over SQLite.
//!
//! ```sh
//! cargo run --release -p leadscore-server --example list_bench -- [CONTACTS=200000] [ROUNDS=20]
//! ```
//!
//! The scores are written with `save_scores` in bulk (no events, no scoring); then an
//! in-process server answers real HTTP requests on loopback. Figures are printed, not
//! asserted: a benchmark, not a test.

use std::time::{Duration, Instant};

use leadscore_server::keys::{Role, hash_secret, new_id, new_secret};
use leadscore_server::{AppState, Config};
use leadscore_store::{AnyStore, KeyRecord, Store as _, StoredScore};

const MODEL: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/b2b.toml"
));

fn stored(i: u64) -> StoredScore {
    // A spread of scores with many ties, labels as the example model's.
    let score = ((i * 7919) % 1200) as f64 / 10.0;
    let label = if score >= 80.0 {
        "hot"
    } else if score >= 50.0 {
        "warm"
    } else {
        "cold"
    };
    let id = format!("c-{i}");
    let result = format!(
        r#"{{"contact_id":"{id}","as_of":"2026-11-01T00:00:00Z","score":{score},"raw":{score},"fit":20,"engagement":{e},"manual":0,"grade":"B","label":"{label}","groups":{{}},"stage":"lead","disqualified":false,"owner":null,"route":null,"explain":[{{"rule":"decision-maker","label":"Decision-maker title","kind":"fit","count":1,"points":20}}]}}"#,
        e = score - 20.0
    );
    StoredScore {
        contact_id: id,
        as_of: 1_793_491_200_000,
        score,
        label: Some(label.into()),
        grade: Some("B".into()),
        stage: Some("lead".into()),
        result,
    }
}

async fn time(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    rounds: u32,
) -> (Duration, Duration, String) {
    let mut times = Vec::new();
    let mut last = String::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let response = client
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        last = response.text().await.expect("body");
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() - 1], last)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.first().map_or(Ok(200_000), |s| s.parse())?;
    let rounds: u32 = args.get(1).map_or(Ok(20), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let store = AnyStore::open(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await?;
    store.migrate().await?;
    let secret = new_secret();
    store
        .create_key(&KeyRecord {
            id: new_id(),
            name: Some("bench".into()),
            role: Role::Read.as_str().into(),
            hash: hash_secret(&secret),
            created_at: 0,
            revoked_at: None,
        })
        .await?;
    let start = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        batch.push(stored(i));
        if batch.len() == 10_000 {
            store.save_scores(&batch).await?;
            batch.clear();
        }
    }
    store.save_scores(&batch).await?;
    println!("stored {n} scores in {:.1?}", start.elapsed());

    let checked = leadscore_model::load("b2b.toml", MODEL).map_err(|e| format!("{e:?}"))?;
    let state = AppState::new(
        store,
        leadscore_engine::Engine::new(checked.model),
        Config::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(leadscore_server::run(
        listener,
        state,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();

    let first = format!("{base}/api/v1/contacts?limit=50");
    let (_, _, body) = time(&client, &first, &secret, 1).await;
    // A deep page: follow cursors 20 pages of 500 in.
    let mut cursor = String::new();
    for _ in 0..20 {
        let url = format!("{base}/api/v1/contacts?limit=500&cursor={cursor}");
        let (_, _, page) = time(&client, &url, &secret, 1).await;
        let page: serde_json::Value = serde_json::from_str(&page)?;
        cursor = page["next"].as_str().unwrap_or_default().to_owned();
    }
    assert!(body.contains("\"items\""));
    println!("{:<48} {:>10} {:>10}", "request", "median", "max");
    for (name, url, rounds) in [
        ("first page, 50", first.clone(), rounds),
        (
            "page 10,001-10,050 by cursor",
            format!("{base}/api/v1/contacts?limit=50&cursor={cursor}"),
            rounds,
        ),
        (
            "label=warm, 50",
            format!("{base}/api/v1/contacts?limit=50&label=warm"),
            rounds,
        ),
        (
            "q=c-4242 (search), 50",
            format!("{base}/api/v1/contacts?limit=50&q=c-4242"),
            rounds.min(5),
        ),
        (
            "reports/distribution",
            format!("{base}/api/v1/reports/distribution"),
            rounds.min(3),
        ),
    ] {
        let (median, max, _) = time(&client, &url, &secret, rounds).await;
        println!("{name:<48} {median:>10.1?} {max:>10.1?}");
    }
    Ok(())
}
