//! The data plane of apigw. It serves the published APIs of the instance and enforces the
//! plug-ins bound to them.
//!
//! Status: a skeleton. Publishing APIs is not built yet (the API/group/environment calls come
//! with the binding issue), so no API can be matched, and every call gets APIG's answer for
//! that: 404 `APIG.0101`, with the data-plane error body of SPEC §4 and an `X-Request-Id`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

/// The data-plane router.
pub fn router() -> Router {
    Router::new().fallback(|| async { no_api() })
}

/// 404 APIG.0101: no published API matches the request.
fn no_api() -> Response {
    let request_id = apigw_model::id::new_id();
    let body = serde_json::json!({
        "error_code": "APIG.0101",
        "error_msg": "The API does not exist or has not been published in the environment",
        "request_id": request_id,
    });
    let mut resp = (StatusCode::NOT_FOUND, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
