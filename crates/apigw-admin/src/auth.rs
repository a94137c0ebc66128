//! Authentication of control-plane calls (SPEC §3): an `X-Auth-Token`, or an `SDK-HMAC-SHA256`
//! signature exactly as the SDKs make it. Then the project in the path must be the caller's
//! (403 APIG.1005) and the instance must be the one served (404 APIG.3030).
//!
//! The middleware reads the whole body (up to [`MAX_BODY_BYTES`]) because the signature covers
//! it, and hands the same bytes on to the handler.

use crate::error::ApiError;
use crate::AppState;
use apigw_model::sign::{self, RequestParts, SignError};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};

/// Largest request body accepted by the control plane.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub use apigw_model::credential::Credential;

/// The API family of a path: `/apigw/` (APIG) or `/apic/` (ROMA Connect, which adds the
/// `roma_app_*` fields and names some plug-in content fields its own way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Apigw,
    Apic,
}

impl Family {
    /// The field names `plugin_content` is answered in on this family.
    pub fn naming(self) -> apigw_plugins::naming::Naming {
        match self {
            Family::Apigw => apigw_plugins::naming::Naming::Apig,
            Family::Apic => apigw_plugins::naming::Naming::Roma,
        }
    }
}

/// What the middleware established about a call, for the handlers.
#[derive(Debug, Clone)]
pub struct CallScope {
    /// The caller's project (the one in the path).
    pub project_id: String,
    /// The instance in the path; for the project's routes without one (certificates), the
    /// instance served.
    pub instance_id: String,
    pub family: Family,
}

/// An authenticated call on the instance served, as the handlers take it: the state, and the
/// [`CallScope`] that [`require_auth`] established.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) state: AppState,
    pub(crate) scope: CallScope,
}

impl FromRequestParts<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match parts.extensions.get::<CallScope>() {
            Some(scope) => Ok(Call {
                state: state.clone(),
                scope: scope.clone(),
            }),
            None => Err(ApiError::Internal(
                "a /v2/ route ran without the authentication middleware".into(),
            )),
        }
    }
}

/// A header's value as text. The SDKs sign the UTF-8 text of values and send its bytes, so the
/// bytes are read as UTF-8 (not rejected when they are not ASCII).
fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Finds the credential the request presents, or the 401 to answer.
fn authenticate<'a>(
    creds: &'a [Credential],
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<&'a Credential, ApiError> {
    if let Some(token) = headers.get("x-auth-token") {
        return Credential::by_token(creds, token.as_bytes())
            .ok_or_else(|| ApiError::BadCredentials("unknown token".into()));
    }
    let Some(authorization) = header_value(headers, "authorization") else {
        return Err(ApiError::TokenMissing);
    };
    let req = RequestParts {
        method,
        path,
        query,
        body,
    };
    let lookup = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let secret_of = |ak: &str| {
        creds
            .iter()
            .find(|c| c.access_key == ak)
            .map(|c| c.secret_key.clone())
    };
    match sign::verify(&authorization, &req, &lookup, &secret_of, now) {
        Ok(ak) => creds
            .iter()
            .find(|c| c.access_key == ak)
            .ok_or_else(|| ApiError::BadCredentials("unknown access key".into())),
        Err(
            e @ (SignError::Malformed
            | SignError::BadDate
            | SignError::Expired
            | SignError::BodyHash),
        ) => Err(ApiError::BadCredentials(e.to_string())),
        Err(SignError::MissingHeader(h)) => Err(ApiError::BadCredentials(format!(
            "signed header {h} is missing"
        ))),
        Err(SignError::UnknownKey | SignError::Mismatch) => Err(ApiError::BadCredentials(
            "signature verification failed".into(),
        )),
    }
}

/// `/v2/{project}/{apigw|apic}/instances/{instance}/...` → (project, family, instance), and
/// the project's own routes `/v2/{project}/apigw/certificates...` → (project, APIG, none).
fn parse_base(path: &str) -> Option<(&str, Family, Option<&str>)> {
    let mut it = path.split('/');
    let (Some(""), Some("v2"), Some(project), Some(family), Some(kind)) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    let family = match family {
        "apigw" => Family::Apigw,
        "apic" => Family::Apic,
        _ => return None,
    };
    match (family, kind) {
        (_, "instances") => Some((project, family, Some(it.next()?))),
        (Family::Apigw, "certificates") => Some((project, family, None)),
        _ => None,
    }
}

/// The authentication middleware of every `/v2/` route.
pub(crate) async fn require_auth(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match check(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The project of the caller a [`require_credentials`] route serves.
#[derive(Debug, Clone)]
pub struct CallerProject(pub String);

/// The authentication middleware of the routes outside `/v2/` that are not public
/// (`/openapi.json`, the console's session, and `/metrics` when so configured): valid
/// credentials, nothing else. The caller's project goes to the handler as [`CallerProject`].
pub async fn require_credentials(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match authenticated(&state, req).await {
        Ok((mut parts, bytes, cred)) => {
            parts
                .extensions
                .insert(CallerProject(cred.project_id.clone()));
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => e.into_response(),
    }
}

/// Reads the body (the signature covers it) and authenticates the call: its parts, its body
/// and the caller.
async fn authenticated(
    state: &AppState,
    req: Request,
) -> Result<(axum::http::request::Parts, bytes::Bytes, &Credential), ApiError> {
    let (parts, body) = req.into_parts();
    // An import file may be larger than any other body.
    let limit = if parts.uri.path().ends_with("/openapi/import") {
        crate::oas::MAX_IMPORT_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let bytes = read_body(body, limit).await?;
    let cred = authenticate(
        &state.credentials,
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &bytes,
        (state.clock)(),
    )?;
    Ok((parts, bytes, cred))
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(ApiError::BadBody(format!(
            "the request body is larger than {limit} bytes or could not be read"
        ))),
    }
}

async fn check(state: &AppState, req: Request) -> Result<Request, ApiError> {
    let (mut parts, bytes, cred) = authenticated(state, req).await?;
    let Some((project, family, instance)) = parse_base(parts.uri.path()) else {
        return Err(ApiError::NoRoute);
    };
    let header_project = header_value(&parts.headers, "x-project-id");
    if project != cred.project_id || header_project.is_some_and(|p| p != cred.project_id) {
        return Err(ApiError::Forbidden);
    }
    let instance = instance.unwrap_or(&state.instance_id);
    if instance != state.instance_id {
        return Err(ApiError::InstanceNotFound(instance.to_string()));
    }
    parts.extensions.insert(CallScope {
        project_id: project.to_string(),
        instance_id: instance.to_string(),
        family,
    });
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_of_both_families_parse() {
        assert_eq!(
            parse_base("/v2/p/apigw/instances/i/plugins"),
            Some(("p", Family::Apigw, Some("i")))
        );
        assert_eq!(
            parse_base("/v2/p/apic/instances/i"),
            Some(("p", Family::Apic, Some("i")))
        );
        assert_eq!(
            parse_base("/v2/p/apigw/certificates/c/attached-domains"),
            Some(("p", Family::Apigw, None))
        );
        assert_eq!(parse_base("/v2/p/apic/certificates"), None);
        assert_eq!(parse_base("/v2/p/apigw/instances"), None);
        assert_eq!(parse_base("/v2/p/other/instances/i/plugins"), None);
        assert_eq!(parse_base("/v3/p/apigw/instances/i/plugins"), None);
    }
}
