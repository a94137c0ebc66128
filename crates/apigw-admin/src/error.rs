//! The control plane's error type. Each variant is one APIG error code; [`IntoResponse`] turns
//! it into the status and `{"error_code", "error_msg"}` body that APIG (and so the SDKs) use.

use apigw_model::FieldError;
use apigw_store::{Resource, StoreError, Unique};
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
    /// Any other APIG error: status, code, message.
    Coded(StatusCode, &'static str, String),
    /// 500 APIG.9999: the store failed (or a bug); the detail is logged, not returned.
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
            Coded(status, code, msg) => (*status, code, msg.clone()),
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

impl ApiError {
    /// 404 for a resource of `kind` that does not exist.
    pub fn missing(kind: Resource, id: &str) -> Self {
        let nf = StatusCode::NOT_FOUND;
        match kind {
            Resource::Plugin => ApiError::PluginNotFound(id.to_string()),
            Resource::Api => ApiError::Coded(nf, "APIG.3002", format!("API {id} does not exist")),
            Resource::Env => ApiError::Coded(
                nf,
                "APIG.3003",
                format!("The environment does not exist;id:{id}"),
            ),
            Resource::Group => ApiError::Coded(
                nf,
                "APIG.3001",
                format!("The API group does not exist;id:{id}"),
            ),
            Resource::App => {
                ApiError::Coded(nf, "APIG.3004", format!("The app does not exist;id:{id}"))
            }
            Resource::Publication => ApiError::Coded(
                nf,
                "APIG.3015",
                "The API publication record does not exist.".into(),
            ),
            Resource::AppAuth => ApiError::Coded(
                nf,
                "APIG.3009",
                format!("The app authorization record does not exist;id:{id}"),
            ),
            Resource::EnvVariable => ApiError::Coded(
                nf,
                "APIG.3011",
                format!("The environment variable does not exist;id:{id}"),
            ),
            Resource::Acl => ApiError::Coded(
                nf,
                "APIG.3006",
                format!("The access control policy does not exist;id:{id}"),
            ),
            Resource::AclBinding => ApiError::Coded(
                nf,
                "APIG.3010",
                format!("The access control policy binding record does not exist;id:{id}"),
            ),
            Resource::Throttle => ApiError::Coded(
                nf,
                "APIG.3005",
                format!("The request throttling policy does not exist;id:{id}"),
            ),
            Resource::ThrottleBinding => ApiError::Coded(
                nf,
                "APIG.3012",
                format!("The request throttling policy binding record does not exist;id:{id}"),
            ),
            Resource::ThrottleSpecial => ApiError::Coded(
                nf,
                "APIG.3013",
                format!("The excluded request throttling configuration does not exist;id:{id}"),
            ),
            Resource::Sign => ApiError::Coded(
                nf,
                "APIG.3017",
                format!("Signature key {id} does not exist"),
            ),
            Resource::SignBinding => ApiError::Coded(
                nf,
                "APIG.3018",
                format!("The signature key binding record does not exist;id:{id}"),
            ),
            // The appendix has no code of its own for a response set: "The configuration
            // does not exist".
            Resource::GatewayResponse => ApiError::Coded(
                nf,
                "APIG.3007",
                format!("The gateway response does not exist;id:{id}"),
            ),
            Resource::Certificate => ApiError::Coded(
                nf,
                "APIG.3021",
                format!("The SSL certificate does not exist;id:{id}"),
            ),
            Resource::Domain => ApiError::Coded(
                nf,
                "APIG.3020",
                format!("The URL domain does not exist;id:{id}"),
            ),
            Resource::CertificateBinding => ApiError::Coded(
                nf,
                "APIG.3097",
                format!("The binding record of this SSL certificate and domain name does not exist;id:{id}"),
            ),
            Resource::VpcChannel => ApiError::Coded(
                nf,
                "APIG.3023",
                format!("The VPC channel does not exist,id:{id}"),
            ),
            Resource::Binding => ApiError::NoRoute,
        }
    }

    /// Maps a store error about the resource `kind` with `id` (used for `NotFound`).
    pub fn store<'a>(kind: Resource, id: &'a str) -> impl FnOnce(StoreError) -> ApiError + 'a {
        move |e| match e {
            StoreError::NotFound => ApiError::missing(kind, id),
            other => other.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let bad = StatusCode::BAD_REQUEST;
        match e {
            StoreError::Missing(kind, id) => ApiError::missing(kind, &id),
            StoreError::Conflict(rule) => match rule {
                Unique::PluginName => ApiError::PluginNameExists,
                Unique::GroupName => ApiError::Coded(bad, "APIG.3201", "The API group name already exists.".into()),
                Unique::ApiName => ApiError::Coded(bad, "APIG.3202", "The API name already exists.".into()),
                Unique::Route => ApiError::Coded(bad, "APIG.3301", "The API already exists.".into()),
                Unique::AppName => ApiError::Coded(bad, "APIG.3203", "The app name already exists.".into()),
                Unique::AppKey => ApiError::Coded(bad, "APIG.3310", "The AppKey already exists.".into()),
                Unique::EnvName => ApiError::Coded(bad, "APIG.3205", "The environment name already exists.".into()),
                Unique::VariableName => ApiError::Coded(bad, "APIG.3303", "The environment variable already exists.".into()),
                Unique::AclName => ApiError::Coded(bad, "APIG.3206", "The access control policy name already exists.".into()),
                // APIG names no code of its own: an invalid parameter, naming the field.
                Unique::ResponseName => ApiError::Coded(bad, "APIG.3216", "The response name already exists.".into()),
                Unique::AclKind => ApiError::invalid("publish_ids", "the API already has an access control policy of this kind (IP or account) in that environment; unbind it first"),
                Unique::ThrottleName => ApiError::Coded(bad, "APIG.3204", "The request throttling policy name already exists.".into()),
                // The binding page's rule ("only one request throttling policy to the API in
                // each environment") has no code of its own: an invalid parameter, naming the field.
                Unique::ThrottleOne => ApiError::invalid("publish_ids", "the API already has a request throttling policy in that environment; unbind it first"),
                Unique::ThrottleSpecial => ApiError::Coded(bad, "APIG.3308", "The excluded request throttling configuration already exists.".into()),
                Unique::SignName => ApiError::Coded(bad, "APIG.3207", "The signature key name already exists.".into()),
                // One key per API and environment has no code of its own either.
                Unique::SignOne => ApiError::invalid("publish_ids", "the API already has a signature key in that environment; unbind it first"),
                Unique::DomainName => ApiError::Coded(bad, "APIG.3305", "The URL domain name already exists.".into()),
                Unique::DomainCertificate => ApiError::Coded(bad, "APIG.2051", "A domain name cannot be bound with different certificates.".into()),
                Unique::VpcChannelName => ApiError::Coded(bad, "APIG.3208", "The VPC channel name already exists.".into()),
            },
            StoreError::InUse(Resource::Binding) => ApiError::Coded(
                StatusCode::CONFLICT,
                "APIG.3462",
                "The plugin has been attached to the APIs and cannot perform the current operation".into(),
            ),
            StoreError::InUse(Resource::AclBinding) => ApiError::Coded(
                StatusCode::FORBIDDEN,
                "APIG.3447",
                "The access control policy cannot be deleted because it has been bound to APIs.".into(),
            ),
            StoreError::InUse(Resource::Api) => ApiError::Coded(
                StatusCode::FORBIDDEN,
                "APIG.3415",
                "The API group cannot be deleted because it contains APIs.".into(),
            ),
            // The delete page's rule ("only certificates that are not bound to any domain name
            // can be deleted") has no code of its own: an invalid parameter, naming it.
            StoreError::InUse(Resource::Domain) => ApiError::invalid(
                "certificate_id",
                "the certificate is bound to domain names; unbind it first",
            ),
            StoreError::InUse(_) => ApiError::Coded(
                StatusCode::FORBIDDEN,
                "APIG.3418",
                "The environment contains published APIs.".into(),
            ),
            StoreError::NotPublished(api_id) => ApiError::Coded(
                StatusCode::CONFLICT,
                "APIG.3707",
                format!("Only published APIs can be bound with plug-ins.;id:{api_id}"),
            ),
            StoreError::Quota(max) => ApiError::Coded(
                StatusCode::FORBIDDEN,
                "APIG.3100",
                format!("The number of resources exceeds the maximum allowed limit.: at most {max} plug-ins of this type per instance"),
            ),
            StoreError::NotFound => ApiError::NoRoute,
            StoreError::Backend(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    /// A path parameter that cannot be read (not UTF-8 once percent-decoded) is an invalid
    /// parameter named by its key. Any other rejection means a route and its path type disagree:
    /// a bug, answered as 500 and logged.
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        if let PathRejection::FailedToDeserializePathParams(e) = &rejection {
            if let ErrorKind::InvalidUtf8InPathParam { key }
            | ErrorKind::ParseErrorAtKey { key, .. }
            | ErrorKind::DeserializeError { key, .. } = e.kind()
            {
                return ApiError::invalid(key.as_str(), e.kind().to_string());
            }
        }
        ApiError::Internal(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "control-plane call failed");
        }
        let (status, code, msg) = self.parts();
        (
            status,
            Json(serde_json::json!({ "error_code": code, "error_msg": msg })),
        )
            .into_response()
    }
}

/// The resource a look-up by id found, else 404 for the `kind` with `id`.
pub(crate) fn found<T>(
    lookup: Result<Option<T>, StoreError>,
    kind: Resource,
    id: &str,
) -> Result<T, ApiError> {
    lookup?.ok_or_else(|| ApiError::missing(kind, id))
}

/// The answer to a delete: 204, or the store's error about the `kind` with `id`.
pub(crate) fn deleted(
    result: Result<(), StoreError>,
    kind: Resource,
    id: &str,
) -> Result<StatusCode, ApiError> {
    result.map_err(ApiError::store(kind, id))?;
    tracing::info!(%kind, id, "deleted");
    Ok(StatusCode::NO_CONTENT)
}
