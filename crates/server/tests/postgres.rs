//! The ingestion flow on PostgreSQL: the same server over the shared store, in a fresh
//! schema that is dropped afterwards.

use std::str::FromStr;

use leadscore_store::{AnyStore, PostgresStore, Store as _};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::support::{Server, line};

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

/// Drops the test's schema when the test ends, also when it panics.
struct DropSchema(String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0);
        // A runtime of its own: `drop` cannot await, and may run while panicking.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(execute(&sql));
        });
        let _ = dropped.join();
    }
}

#[tokio::test]
async fn ingestion_and_scores_work_on_postgres() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "server_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    );
    execute(&format!("CREATE SCHEMA {schema}")).await;
    let _drop = DropSchema(schema.clone());
    let options = PgConnectOptions::from_str(&base_url())
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = AnyStore::Postgres(PostgresStore::connect_with(options, 4).await.unwrap());
    store.migrate().await.unwrap();
    let server = Server::start_on(store, tempfile::tempdir().unwrap()).await;

    let batch = json!({"batch":[
        {"type":"identify","userId":"c-1","anonymousId":"anon-1","timestamp":"2026-01-02T00:00:00Z",
         "traits":{"job_title":"CTO"}},
        {"type":"page","anonymousId":"anon-1","timestamp":"2026-01-01T00:00:00Z","messageId":"p-1",
         "properties":{"url":"https://x.example/pricing"}},
        {"type":"track","userId":"c-1","event":"Demo Requested","timestamp":"2026-01-03T00:00:00Z","messageId":"d-1"},
        {"type":"track","event":"no user"},
    ]});
    let write = server.write.clone();
    let (status, answer) = server.ingest_as(Some(&write), "/v1/batch", &batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["rejected"][0]["index"], 3);
    // Resending is safe: the stored ones are deduplicated by messageId.
    let (status, _) = server.ingest_as(Some(&write), "/v1/batch", &batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let result = server
        .get_ok("/api/v1/contacts/c-1/score?as_of=2026-01-03T00:00:00Z")
        .await;
    assert_eq!(line(&result, "demo-request").unwrap()["points"], 40);
    assert_eq!(line(&result, "pricing-visit").unwrap()["count"], 1);
    assert!(line(&result, "decision-maker").is_some());
    let list = server.get_ok("/api/v1/contacts?limit=10").await;
    assert_eq!(list["items"][0]["contact_id"], "c-1");
    let admin = server.admin.clone();
    let (status, _) = server
        .api(
            reqwest::Method::DELETE,
            Some(&admin),
            "/api/v1/contacts/c-1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/api/v1/contacts/c-1/score").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let store = server.state.store.clone();
    server.stop().await;
    store.close().await;
}
