//! A real server for a test: SQLite in a temporary directory, the example model, three
//! keys (write, read, admin), and helpers to call it over HTTP.

use leadscore_engine::Engine;
use leadscore_server::keys::{Role, hash_secret, new_id, new_secret};
use leadscore_server::{AppState, Config};
use leadscore_store::{AnyStore, KeyRecord, Store};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The example model every test scores with.
pub const MODEL: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/b2b.toml"
));

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// A write (ingestion) key.
    pub write: String,
    /// A read key.
    pub read: String,
    /// An admin key.
    pub admin: String,
    /// The server's state (its store, to look behind the API).
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// The compiled example model.
pub fn engine() -> Engine {
    let checked = leadscore_model::load("b2b.toml", MODEL).expect("the example model is valid");
    Engine::new(checked.model)
}

/// Create a key with `role` in `store`; returns the secret.
pub async fn create_key(store: &AnyStore, role: Role) -> String {
    let secret = new_secret();
    store
        .create_key(&KeyRecord {
            id: new_id(),
            name: Some(format!("test {}", role.as_str())),
            role: role.as_str().to_owned(),
            hash: hash_secret(&secret),
            created_at: 0,
            revoked_at: None,
        })
        .await
        .unwrap();
    secret
}

impl Server {
    /// Start a server on a fresh SQLite file.
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = AnyStore::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        Self::start_on(store, dir).await
    }

    /// Start a server on `store` (already migrated).
    pub async fn start_on(store: AnyStore, dir: tempfile::TempDir) -> Server {
        Self::start_with(store, dir, engine(), Config::default()).await
    }

    /// Start a server on a fresh SQLite file scoring with `engine` under `config`.
    pub async fn start_configured(engine: Engine, config: Config) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = AnyStore::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        Self::start_with(store, dir, engine, config).await
    }

    /// Start a server on `store` (already migrated) scoring with `engine` under `config`.
    pub async fn start_with(
        store: AnyStore,
        dir: tempfile::TempDir,
        engine: Engine,
        config: Config,
    ) -> Server {
        let write = create_key(&store, Role::Write).await;
        let read = create_key(&store, Role::Read).await;
        let admin = create_key(&store, Role::Admin).await;
        let state = AppState::new(store, engine, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(leadscore_server::run(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Server {
            base,
            client: reqwest::Client::new(),
            write,
            read,
            admin,
            state,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Shut down gracefully; the server must stop cleanly.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// POST `body` to an ingestion route with HTTP Basic `key` (or no auth).
    pub async fn ingest_as(
        &self,
        key: Option<&str>,
        route: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{route}", self.base)).json(body);
        if let Some(key) = key {
            request = request.basic_auth(key, Some(""));
        }
        let response = request.send().await.unwrap();
        read(response).await
    }

    /// POST `body` to an ingestion route with the write key; asserts 200.
    pub async fn ingest(&self, route: &str, body: Value) {
        let (status, answer) = self.ingest_as(Some(&self.write), route, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer, serde_json::json!({"success": true}));
    }

    /// An API call with Bearer `key` (or none).
    pub async fn api(
        &self,
        method: Method,
        key: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.unwrap()).await
    }

    /// GET with the read key.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.api(Method::GET, Some(&self.read), path, None).await
    }

    /// GET with the read key; asserts 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// A raw GET (no key), as text.
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }
}

/// Status and JSON body (`null` for an empty body). Every body we send must be JSON.
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"));
    (status, value)
}

/// The explain line of `rule` in a result, if any.
pub fn line<'a>(result: &'a Value, rule: &str) -> Option<&'a Value> {
    result["explain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rule"] == rule)
}

/// Asserts an error body with `code` (and `field`, when given).
pub fn assert_error(body: &Value, code: &str, field: Option<&str>) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

/// RFC 3339 of now plus `offset_ms`.
pub fn now_plus(offset_ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    leadscore_formats::format_timestamp(now + offset_ms)
}
