//! The web dashboard at `/`: a small single-page application for marketing and sales,
//! built into the binary.
//!
//! Design (`docs/dashboard.md` has the page-by-page description):
//!
//! * **No build step, no Node at run time.** Three hand-written files in
//!   `crates/server/dashboard/` (`index.html`, `app.css`, `app.js`: plain HTML, CSS and
//!   one vanilla JavaScript module, no framework, no bundler) are compiled in with
//!   `include_str!`, so `leadscore serve` is still one self-contained binary and the
//!   dashboard always matches the server it came with.
//! * **A client of the public REST API, nothing more.** The pages call `/api/v1/...`
//!   with `Authorization: Bearer <key>` like any other client; the dashboard has no
//!   routes, sessions or permissions of its own. The key is typed into a sign-in form
//!   and kept in the tab's `sessionStorage` (gone when the tab closes; never a
//!   cookie, so there is no CSRF surface). A read key sees no write controls, and the
//!   server refuses writes from it anyway.
//! * **Static routes only:** `GET /` (the page; client-side views live in the URL
//!   fragment, `#/contacts`, `#/contact/ID`, ...) and `GET /assets/{file}`. Anything
//!   else under `/assets/` is a JSON 404 like every unknown route. One small API
//!   route helps it: `GET /api/v1/me` (read) says the key's role and name and the
//!   active model's labels, grades, stages, groups and team members (for filters).
//! * **Caching:** every answer has a strong `ETag` (a hash of the file, computed once)
//!   and `Cache-Control: no-cache`, so a browser revalidates with `If-None-Match` and
//!   gets a bodiless 304 until the binary changes.
//! * **Hardening:** a `Content-Security-Policy` that allows only this origin's own
//!   scripts, styles and API (no inline script, no third-party anything), plus
//!   `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::{self, Access};
use crate::error::{Error, Result};
use crate::state::AppState;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every file the dashboard serves; `index.html` is `/`, the others `/assets/NAME`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../dashboard/index.html"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../dashboard/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../dashboard/app.js"),
    },
];

/// Only our own origin; `img-src data:` for nothing but inline SVG icons.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// The dashboard routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        .route("/api/v1/me", get(me))
}

/// `GET /api/v1/me`: what the dashboard needs to know about its key and the active
/// model (read or admin key).
#[derive(Serialize)]
struct Me {
    /// `read` or `admin`: the dashboard shows write controls to admins only.
    role: &'static str,
    /// The key's name (its id when it has none).
    name: String,
    model: ModelInfo,
}

/// The active model's vocabulary, for the filters and pickers.
#[derive(Serialize)]
struct ModelInfo {
    version: Option<i64>,
    name: String,
    labels: Vec<String>,
    grades: Vec<String>,
    stages: Vec<String>,
    groups: Vec<String>,
    /// Every team member, in file order, without repeats.
    members: Vec<String>,
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let (role, key) = auth::api_key(&state, &headers, Access::Read).await?;
    let engine = state.engine();
    let model = engine.model();
    let mut members: Vec<String> = Vec::new();
    for member in model.teams.iter().flat_map(|t| &t.members) {
        if !members.contains(member) {
            members.push(member.clone());
        }
    }
    Ok(axum::Json(Me {
        role: role.as_str(),
        name: key.name.unwrap_or(key.id),
        model: ModelInfo {
            version: state.active_version(),
            name: model.name.clone(),
            labels: model.labels.iter().map(|t| t.name.clone()).collect(),
            grades: model.grades.iter().map(|t| t.name.clone()).collect(),
            stages: model.stages.iter().map(|s| s.id.clone()).collect(),
            groups: model.groups.iter().map(|g| g.name.clone()).collect(),
            members,
        },
    })
    .into_response())
}

/// The strong ETag of each asset, in [`ASSETS`] order (hashed once).
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body.as_bytes());
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// `GET /`.
async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

/// `GET /assets/{file}`.
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS
        .iter()
        .position(|a| a.name == file && a.name != "index.html")
    {
        Some(index) => serve(index, &headers),
        None => Error::NotFound(format!("no dashboard asset `{file}`")).into_response(),
    }
}

fn serve(index: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, asset.body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_served() {
        let page = ASSETS[0].body;
        for asset in &ASSETS[1..] {
            assert!(
                page.contains(&format!("/assets/{}", asset.name)),
                "{}",
                asset.name
            );
        }
        assert_eq!(etags().len(), ASSETS.len());
    }
}
