//! The web console (SPEC §12): `/console` on the admin listener, its three files compiled into
//! the binary (`console/index.html`, `app.js`, `app.css`: plain HTML, CSS and JavaScript, no
//! build step and no external fetches). The files hold no secret and are served to anyone;
//! everything they show comes from the control-plane calls, made with the admin token the
//! person signs in with, and from `/metrics`. `GET /console/session` (credentials required)
//! checks the token and names the project and instance the console calls; `GET
//! /console/models` gives each plug-in type's content model as a JSON Schema (derived from the
//! Rust model, its doc comments as help), from which the console builds its forms.

use crate::auth::CallerProject;
use crate::AppState;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");
const RESOURCES_JS: &str = include_str!("../console/resources.js");

/// Only the gateway's own files and calls (no inline scripts, no other origin).
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, CSP),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The console's routes; `session` is behind credentials.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let session = crate::protect(
        Router::new()
            .route("/console/session", get(session))
            .route("/console/models", get(models)),
        state,
    );
    Router::new()
        .route(
            "/console",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/app.js",
            get(|| async { file("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/resources.js",
            get(|| async { file("text/javascript; charset=utf-8", RESOURCES_JS) }),
        )
        .route(
            "/console/app.css",
            get(|| async { file("text/css; charset=utf-8", APP_CSS) }),
        )
        .merge(session)
}

async fn session(
    axum::extract::State(state): axum::extract::State<AppState>,
    Extension(CallerProject(project_id)): Extension<CallerProject>,
) -> Json<serde_json::Value> {
    Json(json!({"project_id": project_id, "instance_id": state.instance_id}))
}

async fn models() -> Json<serde_json::Value> {
    let all: serde_json::Map<String, serde_json::Value> = apigw_model::PluginType::ALL
        .iter()
        .map(|t| (t.to_string(), apigw_plugins::registry::content_schema(*t)))
        .collect();
    Json(serde_json::Value::Object(all))
}
