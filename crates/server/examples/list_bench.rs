//! How long the dashboard's list takes with many contacts stored: server time of
//! `GET /api/v1/contacts` pages (first page, a deep page by cursor, a label filter, a
//! group filter, a `q` search) and of `GET /api/v1/reports/distribution` (after a
//! rescoring, i.e. the aggregate, and cached), over SQLite, for each store size given,
//! in one run so that the figures can be compared as ratios.
//!
//! ```sh
//! cargo run --release -p leadscore-server --example list_bench -- [SIZES=200000,1000000] [ROUNDS=20]
//! ```
//!
//! The scores are written with `save_scores` in bulk (no events, no scoring); a third
//! of the contacts have points in the `product-interest` group. Then an in-process
//! server answers real HTTP requests on loopback: the times are a request's round trip
//! on the same machine, i.e. server time plus a loopback hop. Figures are printed, not
//! asserted: a benchmark, not a test.

use std::time::{Duration, Instant};

use leadscore_server::keys::{Role, hash_secret, new_id, new_secret};
use leadscore_server::{AppState, Config};
use leadscore_store::{AnyStore, KeyRecord, ScoreQuery, Store as _, StoredScore};

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
    let groups = if i.is_multiple_of(3) {
        format!(r#"{{"product-interest":{}}}"#, (i * 31) % 97)
    } else {
        "{}".to_owned()
    };
    let result = format!(
        r#"{{"contact_id":"{id}","as_of":"2026-11-01T00:00:00Z","score":{score},"raw":{score},"fit":20,"engagement":{e},"manual":0,"grade":"B","label":"{label}","groups":{groups},"stage":"lead","disqualified":false,"owner":null,"route":null,"explain":[{{"rule":"decision-maker","label":"Decision-maker title","kind":"fit","count":1,"points":20}}]}}"#,
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

/// Medians per request name, for one store size.
type Figures = Vec<(&'static str, Duration)>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<u64> = args
        .first()
        .map_or("200000,1000000", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let rounds: u32 = args.get(1).map_or(Ok(20), |s| s.parse())?;
    let mut all: Vec<(u64, Figures)> = Vec::new();
    for &n in &sizes {
        all.push((n, measure(n, rounds).await?));
    }
    if let Some((base_n, base)) = all.first() {
        println!();
        print!("{:<40}", "median");
        for (n, _) in &all {
            print!(" {:>12}", format!("{n}"));
        }
        for (n, _) in all.iter().skip(1) {
            print!(" {:>12}", format!("{n}/{base_n}"));
        }
        println!();
        for (i, (name, first)) in base.iter().enumerate() {
            print!("{name:<40}");
            for (_, figures) in &all {
                print!(" {:>12.1?}", figures[i].1);
            }
            for (_, figures) in all.iter().skip(1) {
                print!(
                    " {:>11.1}x",
                    figures[i].1.as_secs_f64() / first.as_secs_f64().max(1e-9)
                );
            }
            println!();
        }
    }
    Ok(())
}

/// Store `n` scores in a fresh SQLite file, serve them, and time each request.
async fn measure(n: u64, rounds: u32) -> Result<Figures, Box<dyn std::error::Error>> {
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
    println!("\nstored {n} scores in {:.1?}", start.elapsed());

    let checked = leadscore_model::load("b2b.toml", MODEL).map_err(|e| format!("{e:?}"))?;
    let state = AppState::new(
        store,
        leadscore_engine::Engine::new(checked.model),
        Config::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(leadscore_server::run(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
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
    let group_first = format!("{base}/api/v1/contacts?limit=50&group=product-interest");
    let (_, _, group_page) = time(&client, &group_first, &secret, 1).await;
    let group_page: serde_json::Value = serde_json::from_str(&group_page)?;
    assert_eq!(group_page["items"].as_array().map(Vec::len), Some(50));
    let group_cursor = group_page["next"].as_str().unwrap_or_default().to_owned();
    assert!(body.contains("\"items\""));
    let mut figures = Figures::new();
    println!("{:<40} {:>10} {:>10}", "request", "median", "max");
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
        ("group=product-interest, 50", group_first.clone(), rounds),
        (
            "group=product-interest, page 2 by cursor",
            format!("{group_first}&cursor={group_cursor}"),
            rounds,
        ),
        (
            "group + label=hot, 50",
            format!("{group_first}&label=hot"),
            rounds,
        ),
        (
            "q=c-4242 (search), 50",
            format!("{base}/api/v1/contacts?limit=50&q=c-4242"),
            rounds.min(5),
        ),
    ] {
        let (median, max, _) = time(&client, &url, &secret, rounds).await;
        println!("{name:<40} {median:>10.1?} {max:>10.1?}");
        figures.push((name, median));
    }
    // The distribution right after a rescoring (a saved score moves the generation:
    // the aggregate runs), then from the cache.
    let distribution = format!("{base}/api/v1/reports/distribution");
    let mut fresh = Vec::new();
    for round in 0..rounds.min(5) {
        state.store.save_score(&stored(u64::from(round))).await?;
        fresh.push(time(&client, &distribution, &secret, 1).await.0);
    }
    fresh.sort();
    let median = fresh[fresh.len() / 2];
    println!(
        "{:<40} {median:>10.1?} {:>10.1?}",
        "distribution after a rescoring",
        fresh[fresh.len() - 1]
    );
    figures.push(("distribution after a rescoring", median));
    let (median, max, _) = time(&client, &distribution, &secret, rounds).await;
    println!(
        "{:<40} {median:>10.1?} {max:>10.1?}",
        "distribution, cached"
    );
    figures.push(("distribution, cached", median));
    // Before the aggregate (same run, for the ratio): the report read every current
    // score, result text included, a page of 1,000 at a time.
    let start = Instant::now();
    let (mut after, mut read) = (None, 0usize);
    loop {
        let page = state
            .store
            .list_scores(&ScoreQuery {
                limit: 1000,
                after: after.take(),
                ..ScoreQuery::default()
            })
            .await?;
        read += page.items.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(read as u64, n);
    let old = start.elapsed();
    println!(
        "{:<40} {old:>10.1?}",
        "distribution before (paged full read)"
    );
    figures.push(("distribution before (paged full read)", old));
    let _ = stop.send(());
    let _ = server.await;
    Ok(figures)
}
