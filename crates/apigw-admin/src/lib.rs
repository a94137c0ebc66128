//! The control plane of apigw: the APIG v2 REST API, as the official Huawei Cloud SDKs call it.
//!
//! # Layout
//! - [`auth`]: X-Auth-Token and SDK-HMAC-SHA256 authentication, project and instance checks.
//! - [`error`]: the one error type, mapped to APIG's error codes.
//! - [`body`]: strict parsing of JSON bodies and query strings with field-named errors.
//! - `path`: typed path parameters (`PluginPath`, `ApiPath`, …) whose rejection is an APIG error.
//! - [`plugins`]: the five plug-in calls (create, update, delete, list, show).
//! - `bindings`: the eight calls that bind plug-ins to published APIs and list bindings.
//! - `groups`, `envs`, `apis` (with publishing), `apps` (with app authorisation): what a
//!   plug-in is bound through.
//! - `env_variables`: the five environment variable calls (`#Name#` in backend addresses).
//! - `acls`: the six access control policy calls and the six that bind policies to APIs.
//! - `gateway_responses`: the eight calls of a group's response sets (SPEC §10).
//! - `throttles`: the five request throttling policy calls, the six that bind them to APIs and
//!   the four of their excluded configurations.
//! - `signs`: the four signature key calls and the five that bind keys to APIs.
//! - `certificates`: the eight SSL certificate calls of a project (no instance in the path).
//! - `domains`: the six calls of a group's domain names and the two that bind certificates to
//!   a domain.
//! - `vpc_channels`: the seventeen calls of load balance channels, their members, member
//!   groups and health check.
//! - `policy_bindings`: what the bindings of those three kinds of policy to published APIs share
//!   (batch unbinding, the three lists, their filters), each kind saying what is its own.
//! - [`openapi`]: the OpenAPI 3 document served at `GET /openapi.json`.
//!
//! Every route answers under `/v2/{project_id}/apigw/instances/{instance_id}` and, for ROMA
//! Connect, `/v2/{project_id}/apic/instances/{instance_id}`; the certificate calls answer
//! under `/v2/{project_id}/apigw` only.

mod acls;
mod apis;
mod apps;
pub mod auth;
mod bindings;
pub mod body;
mod certificates;
mod console;
mod domains;
mod env_variables;
mod envs;
pub mod error;
mod gateway_responses;
mod groups;
mod multipart;
mod oas;
pub mod openapi;
mod path;
pub mod plugins;
mod policy_bindings;
mod signs;
mod throttles;
mod vpc_channels;

use apigw_store::Store;
use auth::Credential;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use error::ApiError;
use std::fmt;
use std::sync::Arc;

/// Called after each successful write; the binary makes the local data plane catch up before
/// the answer leaves, so that a client that just published or bound sees it enforced.
pub type AfterWrite =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// The data plane's view of a channel member's health, by channel id and member id:
/// `Some(true)` healthy, `Some(false)` taken out by its health check, `None` unknown.
pub type MemberHealth = Arc<dyn Fn(&str, &str) -> Option<bool> + Send + Sync>;

/// A clock in seconds since the epoch, injectable for tests of signature expiry.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| apigw_model::time::now_millis() / 1000)
}

/// What every control-plane handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The control-plane state.
    pub store: Arc<dyn Store>,
    /// The credentials accepted, each bound to one project.
    pub credentials: Arc<Vec<Credential>>,
    /// The one instance this gateway serves.
    pub instance_id: String,
    /// Server time for signature expiry.
    pub clock: Clock,
    /// Suffix of group `sl_domain`s (`{group_id}.{suffix}`).
    pub domain_suffix: String,
    /// Run after every successful write (see [`AfterWrite`]).
    pub after_write: Option<AfterWrite>,
    /// Where channel members' `health_status` comes from (see [`MemberHealth`]); `None`:
    /// always `unknown`.
    pub member_health: Option<MemberHealth>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("credentials", &self.credentials)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

/// The control-plane router. Everything except `/healthz` needs credentials.
pub fn router(state: AppState) -> Router {
    let api = plugins::routes()
        .merge(bindings::routes())
        .merge(groups::routes())
        .merge(envs::routes())
        .merge(env_variables::routes())
        .merge(gateway_responses::routes())
        .merge(acls::routes())
        .merge(throttles::routes())
        .merge(signs::routes())
        .merge(domains::routes())
        .merge(vpc_channels::routes())
        .merge(apis::routes())
        .merge(apps::routes())
        .merge(oas::routes());
    Router::new()
        .nest(
            "/v2/{project_id}/apigw/instances/{instance_id}",
            api.clone(),
        )
        .nest("/v2/{project_id}/apic/instances/{instance_id}", api)
        .nest("/v2/{project_id}/apigw", certificates::routes())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn_with_state(state.clone(), settle))
        .layer(from_fn_with_state(state.clone(), auth::require_auth))
        .merge(protect(
            Router::new().route("/openapi.json", get(openapi::serve)),
            &state,
        ))
        .merge(console::routes(&state))
        .route("/healthz", get(|| async { "ok" }))
        .layer(from_fn(request_id))
        .with_state(state)
}

/// `routes` behind control-plane credentials (a token or a signature), for routes outside `/v2/`.
pub fn protect<S: Clone + Send + Sync + 'static>(routes: Router<S>, state: &AppState) -> Router<S> {
    routes.layer(from_fn_with_state(state.clone(), auth::require_credentials))
}

/// After a successful write, lets the data plane catch up (at most [`SETTLE_TIMEOUT`]).
async fn settle(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let write = req.method() != axum::http::Method::GET;
    let resp = next.run(req).await;
    if let (true, true, Some(after)) = (write, resp.status().is_success(), &state.after_write) {
        let _ = tokio::time::timeout(SETTLE_TIMEOUT, after()).await;
    }
    resp
}

/// Longest wait for the data plane after a write.
pub const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Gives every response an `X-Request-Id` (the SDKs report it with errors).
async fn request_id(req: Request, next: Next) -> Response {
    let id = apigw_model::id::new_id();
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
