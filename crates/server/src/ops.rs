//! Operations: `GET /healthz`, `GET /metrics`, and the API's own description at
//! `GET /api/v1/openapi.json`. None of them needs a key: a load balancer, Prometheus
//! and client generators call them, and they reveal no contact data.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadscore_store::Store as _;

use crate::error::Result;
use crate::state::AppState;

/// The hand-written OpenAPI 3.1 document of the routes this crate serves.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The operations routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
}

/// 200 `{"status":"ok"}` once the store answered a trivial query; its error otherwise.
async fn healthz(State(state): State<AppState>) -> Result<Response> {
    state.store.key_by_hash("").await?;
    Ok(Json(serde_json::json!({ "status": "ok" })).into_response())
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    text.push_str(&state.rescoring.render());
    text.push_str(&state.automation.render());
    text.push_str(&state.history.render());
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_is_json_with_paths() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/v1/contacts/{id}/score"].is_object());
    }
}
