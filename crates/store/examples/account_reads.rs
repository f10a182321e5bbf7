//! What reading accounts costs, before and after `account_members` (migration 0007):
//! figures, never assertions.
//!
//!     cargo run --release -p leadscore-store --example account_reads [CONTACTS] [PER_ACCOUNT]
//!
//! Stores CONTACTS (default 50,000) scores in a fresh SQLite file, PER_ACCOUNT (default 5)
//! per account, each result shaped like a real one (an explanation of a dozen lines and
//! the `account` member), then times, for one account and for all of them:
//!
//! * **before**: a pass over every stored score (pages of 1,000 through `list_scores`),
//!   each result parsed for its `account`, as the account API and routing did;
//! * **after**: `Accounts::account_members` (one index range) and a pass over
//!   `account_members` (pages of 5,000), as they do now;
//!
//! and what writing the membership adds to saving the scores (the same batches without
//! an `account` member, in a second file).

use std::time::Instant;

use leadscore_store::{Accounts, ScoreQuery, SqliteStore, Store, StoredScore};

/// A stored result of contact `i` of account `key`, about 1.5 KB like the service's.
fn result(id: &str, key: &str, engagement: f64) -> String {
    let lines: Vec<String> = (0..12)
        .map(|n| {
            format!(
                r#"{{"rule":"rule-{n}","label":"A rule with a label of some length {n}","kind":"engagement","count":{n},"points":{n}.5,"last_at":"2026-11-30T10:00:00Z"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"contact_id":"{id}","as_of":"2026-12-01T00:00:00Z","score":{engagement},"raw":{engagement},"fit":10,"engagement":{engagement},"manual":0,"label":"warm","grade":"B","stage":"mql","disqualified":false,"explain":[{}],"account":{{"key":"{key}","attributes":{{"industry":"Software","company_size":"800","job_title":"CTO"}}}}}}"#,
        lines.join(",")
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let contacts: usize = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let per_account: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let store =
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("a.db").display())).await?;
    store.migrate().await?;
    let scores: Vec<StoredScore> = (0..contacts)
        .map(|i| {
            let id = format!("c{i:07}");
            let key = format!("account-{:06}.example", i / per_account);
            StoredScore {
                result: result(&id, &key, (i % 97) as f64),
                contact_id: id,
                as_of: 1,
                score: (i % 97) as f64,
                label: Some("warm".into()),
                grade: Some("B".into()),
                stage: Some("mql".into()),
            }
        })
        .collect();
    // The save path's share: the same batches without an `account` member (no
    // membership row to write) in a second file, then with it.
    let plain =
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("b.db").display())).await?;
    plain.migrate().await?;
    let without: Vec<StoredScore> = scores
        .iter()
        .map(|s| StoredScore {
            result: s.result.replace(r#","account":"#, r#","company":"#),
            ..s.clone()
        })
        .collect();
    let t = Instant::now();
    for chunk in without.chunks(500) {
        plain.save_scores(chunk).await?;
    }
    let save_without = t.elapsed();
    plain.close().await;
    let t = Instant::now();
    for chunk in scores.chunks(500) {
        store.save_scores(chunk).await?;
    }
    let save_with = t.elapsed();
    let wanted = format!("account-{:06}.example", contacts / per_account / 2);

    // Before: every stored result read and parsed.
    let before = |only: Option<String>| {
        let store = &store;
        async move {
            let mut after = None;
            let mut members = 0usize;
            loop {
                let page = store
                    .list_scores(&ScoreQuery {
                        limit: 1000,
                        after: after.take(),
                        ..ScoreQuery::default()
                    })
                    .await?;
                for s in &page.items {
                    let v: serde_json::Value = serde_json::from_str(&s.result)?;
                    let key = v["account"]["key"].as_str().unwrap_or_default();
                    if only.as_deref().is_none_or(|o| o == key) {
                        members += 1;
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Ok::<_, Box<dyn std::error::Error>>(members),
                }
            }
        }
    };
    let t = Instant::now();
    let n = before(Some(wanted.clone())).await?;
    let one_before = t.elapsed();
    let t = Instant::now();
    let all = before(None).await?;
    let all_before = t.elapsed();

    // After: the membership table.
    let t = Instant::now();
    let m = store.account_members(&wanted).await?;
    let one_after = t.elapsed();
    let t = Instant::now();
    let mut seen = 0usize;
    let mut after: Option<(String, String)> = None;
    loop {
        let page = store
            .account_members_after(after.as_ref().map(|(k, c)| (k.as_str(), c.as_str())), 5000)
            .await?;
        seen += page.len();
        match page.last() {
            Some(last) if page.len() == 5000 => {
                after = Some((last.account_key.clone(), last.contact_id.clone()))
            }
            _ => break,
        }
    }
    let all_after = t.elapsed();
    assert_eq!((n, all), (m.len(), seen), "both read the same members");
    println!("contacts {contacts}, {per_account} per account");
    println!(
        "saving in batches of 500: without accounts {save_without:?}, with {save_with:?} ({:.2}x)",
        save_with.as_secs_f64() / save_without.as_secs_f64()
    );
    println!(
        "one account:  before {one_before:?}, after {one_after:?} ({:.0}x)",
        one_before.as_secs_f64() / one_after.as_secs_f64()
    );
    println!(
        "all accounts: before {all_before:?}, after {all_after:?} ({:.1}x)",
        all_before.as_secs_f64() / all_after.as_secs_f64()
    );
    store.close().await;
    Ok(())
}
