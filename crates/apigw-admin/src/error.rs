//! The control plane's error type. Each variant is one APIG error code; [`IntoResponse`] turns
//! it into the status and `{"error_code", "error_msg"}` body that APIG (and so the SDKs) use.

use apigw_model::FieldError;
use apigw_store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answered by the control plane.
#[derive(Debug)]
pub enum ApiError {
    /// 401 APIG.1000: neither a token nor a signature was sent.
    TokenMissing,
    /// 401 APIG.1002: the token or signature is wrong, expired or malformed.
    BadCredentials(String),
    /// 403 APIG.1005: valid credentials of another project.
    Forbidden,
    /// 404 APIG.3030: the instance in the path is not served here.
    InstanceNotFound(String),
    /// 400 APIG.2000: the body is not a JSON object, or is too large.
    BadBody(String),
    /// 400 APIG.2012: invalid fields, all of them, each named.
    Invalid(Vec<FieldError>),
    /// 404 APIG.3068.
    PluginNotFound(String),
    /// 400 APIG.3326.
    PluginNameExists,
    /// 404: no such route.
    NoRoute,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 500 APIG.9999: the store failed; the detail is logged, not returned.
    Internal(String),
}

impl ApiError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, reason)])
    }

    /// The status, APIG code and message of this error.
    pub fn parts(&self) -> (StatusCode, &'static str, String) {
        use ApiError::*;
        match self {
            TokenMissing => (
                StatusCode::UNAUTHORIZED,
                "APIG.1000",
                "Token missing. Log in again or try again later.".into(),
            ),
            BadCredentials(why) => (
                StatusCode::UNAUTHORIZED,
                "APIG.1002",
                format!("Incorrect token or token resolution failed.: {why}"),
            ),
            Forbidden => (
                StatusCode::FORBIDDEN,
                "APIG.1005",
                "No permissions to request this method".into(),
            ),
            InstanceNotFound(id) => (
                StatusCode::NOT_FOUND,
                "APIG.3030",
                format!("The instance does not exist;id:{id}"),
            ),
            BadBody(why) => (
                StatusCode::BAD_REQUEST,
                "APIG.2000",
                format!("Parameter error.: {why}"),
            ),
            Invalid(errs) => (StatusCode::BAD_REQUEST, "APIG.2012", invalid_message(errs)),
            PluginNotFound(id) => (
                StatusCode::NOT_FOUND,
                "APIG.3068",
                format!("Plugin {id} does not exist"),
            ),
            PluginNameExists => (
                StatusCode::BAD_REQUEST,
                "APIG.3326",
                "The plugin name already exists".into(),
            ),
            NoRoute => (
                StatusCode::NOT_FOUND,
                "APIG.3000",
                "The requested resource does not exist".into(),
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "APIG.2000",
                "Parameter error.: method not allowed on this resource".into(),
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "APIG.9999",
                "Internal Server Error".into(),
            ),
        }
    }
}

/// APIG's message for an invalid parameter, naming the first field; further fields and the
/// reasons follow in parentheses so that one answer lists every problem.
fn invalid_message(errs: &[FieldError]) -> String {
    let first = errs.first().map(|e| e.field.as_str()).unwrap_or("body");
    let details = errs
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "Invalid parameter value,parameterName:{first}. Please refer to the support documentation ({details})"
    )
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "control-plane call failed in the store");
        }
        let (status, code, msg) = self.parts();
        (
            status,
            Json(serde_json::json!({ "error_code": code, "error_msg": msg })),
        )
            .into_response()
    }
}
