//! Group commit: concurrent ingestion requests share one `append` (one transaction);
//! every `200` is stored exactly once, duplicates across requests of one group are
//! counted once, stored scores catch up with every acknowledged message, and a
//! graceful stop commits and rescores what was queued.

use leadscore_store::{AnyStore, Store as _};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::Server;

fn batch(client: usize, round: usize) -> Value {
    // Ten users shared by every client; messageIds repeat across clients in pairs
    // (client 2k and 2k+1 send the same ones), so one group often holds duplicates.
    let messages: Vec<Value> = (0..50)
        .map(|i| {
            json!({"type":"track","userId":format!("u-{}", i % 10),"event":"Email Opened",
                   "timestamp":format!("2026-01-01T00:{:02}:{:02}Z", round, i),
                   "messageId":format!("m-{}-{round}-{i}", client / 2)})
        })
        .collect();
    json!({ "batch": messages })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_stored_once_and_scores_catch_up() {
    let server = Server::start().await;
    let clients = 8;
    let rounds = 5;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (http, base, key) = (
            server.client.clone(),
            server.base.clone(),
            server.write.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                let response = http
                    .post(format!("{base}/v1/batch"))
                    .basic_auth(&key, Some(""))
                    .json(&batch(client, round))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // 4 distinct senders x 5 rounds x 50 messages, spread over 10 users.
    let mut total = 0;
    for user in 0..10 {
        let id = format!("u-{user}");
        let history = server.state.store.history(&id).await.unwrap();
        let mut ids: Vec<_> = history.iter().map(|e| e.event.message_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), history.len(), "{id}: a message stored twice");
        total += history.len();
        // The stored score (read after the 200s) counts every acknowledged message.
        let stored = server.get_ok(&format!("/api/v1/contacts/{id}/score")).await;
        let live = server
            .get_ok(&format!(
                "/api/v1/contacts/{id}/score?as_of={}",
                stored["as_of"].as_str().unwrap()
            ))
            .await;
        assert_eq!(stored["raw"], live["raw"], "{id}: {stored} {live}");
    }
    assert_eq!(total, 4 * rounds * 50);
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains("leadscore_events_ingested_total 1000"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_commits_and_rescores_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stop.db").display());
    let store = AnyStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let server = Server::start_on(store, tempfile::tempdir().unwrap()).await;
    let mut tasks = Vec::new();
    for client in 0..6 {
        let (http, base, key) = (
            server.client.clone(),
            server.base.clone(),
            server.write.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let response = http
                .post(format!("{base}/v1/batch"))
                .basic_auth(&key, Some(""))
                .json(&batch(client * 2, 0))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.stop().await;
    // Reopen the file: every contact has a stored score computed from all its events.
    let store = AnyStore::open(&url).await.unwrap();
    for user in 0..10 {
        let id = format!("u-{user}");
        let history = store.history(&id).await.unwrap();
        assert_eq!(history.len(), 6 * 5, "{id}");
        // Rescored after the last commit: the stop waited for rescoring to finish.
        let stored = store.score(&id).await.unwrap();
        assert!(stored.is_some(), "{id}: no stored score");
    }
    store.close().await;
}
