//! The rescoring's history cache (only the messages appended since a contact's last
//! rescoring are read and parsed) gives exactly the scores of a full re-read: random
//! rounds of out-of-order events, identify calls with traits, anonymous visits, merges
//! (`identify` with both ids, `alias`), links moved to an earlier claimant and
//! erasures of a contact that later messages make again, each followed by a
//! comparison of every stored score (the cached path) with the score the server
//! computes from the whole stored history at the same instant (`?as_of=`,
//! `Engine::score`).

use std::time::{SystemTime, UNIX_EPOCH};

use leadscore_formats::format_timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::Server;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const USERS: u64 = 6;
const ANONYMOUS: u64 = 8;
const DAY: i64 = 86_400_000;

/// One random message, at a random instant of the last 60 days (so out of order).
fn message(rng: &mut Rng, now: i64, seq: u64) -> Value {
    let user = format!("u-{}", rng.below(USERS));
    let anonymous = format!("a-{}", rng.below(ANONYMOUS));
    let at = format_timestamp(now - i64::try_from(rng.below(60 * DAY as u64)).unwrap_or(0));
    let id = format!("m-{seq}");
    match rng.below(20) {
        0..=8 => json!({"type": "track", "messageId": id, "userId": user, "timestamp": at,
            "event": rng.pick(&["Email Opened", "Email Link Clicked", "Demo Requested",
                "Content Downloaded", "Form Submitted", "Webinar Attended", "Unsubscribed",
                "Ignored Event"])}),
        9..=12 => json!({"type": "page", "messageId": id, "anonymousId": anonymous,
            "timestamp": at, "name": "Page Viewed", "properties": {"url": format!(
                "https://example.com{}", rng.pick(&["/pricing", "/product/a", "/blog/x", "/careers"]))}}),
        13 => json!({"type": "page", "messageId": id, "userId": user, "timestamp": at,
            "name": "Page Viewed", "properties": {"url": "https://example.com/pricing"}}),
        14..=15 => json!({"type": "identify", "messageId": id, "userId": user, "timestamp": at,
            "traits": {"job_title": rng.pick(&["CTO", "Intern", "Marketing Manager", "Developer"]),
                "industry": rng.pick(&["Software", "Education", "Retail"]),
                "company_size": rng.below(6000)}}),
        16..=18 => json!({"type": "identify", "messageId": id, "userId": user,
            "anonymousId": anonymous, "timestamp": at}),
        _ => json!({"type": "alias", "messageId": id, "userId": user, "previousId": anonymous,
            "timestamp": at}),
    }
}

/// A result without what automation adds to the stored one (the owner, and the
/// reported stage, which never moves back).
fn engine_part(mut result: Value) -> Value {
    if let Some(map) = result.as_object_mut() {
        map.remove("owner");
        map.remove("stage");
    }
    result
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_rescoring_gives_the_scores_of_a_full_re_read() {
    let server = Server::start().await;
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seq = 0;
    let mut compared = 0;
    for round in 0..15 {
        let batch: Vec<Value> = (0..12)
            .map(|_| {
                seq += 1;
                message(&mut rng, now, seq)
            })
            .collect();
        let response = server
            .client
            .post(format!("{}/v1/batch", server.base))
            .basic_auth(&server.write, Some(""))
            .json(&json!({ "batch": batch }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        if round % 5 == 4 {
            // An erased contact that later messages make again starts from nothing:
            // its cached history must not come back (SQLite does not count the history
            // before a position; the erasure is what tells).
            let erased = format!("{}/api/v1/contacts/u-{}", server.base, round % USERS);
            let response = server
                .client
                .delete(&erased)
                .bearer_auth(&server.admin)
                .send()
                .await
                .unwrap();
            assert!(
                [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&response.status()),
                "round {round}: {}",
                response.status()
            );
        }
        for user in 0..USERS {
            let url = format!("{}/api/v1/contacts/u-{user}/score", server.base);
            let stored = server
                .client
                .get(&url)
                .bearer_auth(&server.read)
                .send()
                .await
                .unwrap();
            if stored.status() == StatusCode::NOT_FOUND {
                continue;
            }
            let stored: Value = stored.json().await.unwrap();
            let as_of = stored["as_of"].as_str().unwrap().to_owned();
            let full: Value = server
                .client
                .get(&url)
                .query(&[("as_of", as_of.as_str())])
                .bearer_auth(&server.read)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                engine_part(stored),
                engine_part(full),
                "u-{user} after round {round}: cached rescoring differs from a full re-read"
            );
            compared += 1;
        }
    }
    assert!(compared >= 60, "only {compared} comparisons");
    // The cached path was taken (most rescorings read a delta), and some entries were
    // rebuilt (new links bring older anonymous visits in).
    let metrics = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let deltas = metric(&metrics, "leadscore_history_reads_total{read=\"delta\"}");
    let full = metric(&metrics, "leadscore_history_reads_total{read=\"full\"}");
    assert!(deltas > full, "delta reads {deltas}, full reads {full}");
    assert!(
        full > u64::from(USERS as u32),
        "full reads {full}: no entry was ever rebuilt"
    );
}
