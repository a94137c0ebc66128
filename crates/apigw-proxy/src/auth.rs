//! Authentication of API calls (SPEC §3): APP (an app's key and secret, SDK-HMAC-SHA256, and
//! the app must be authorised for the API in the environment) and IAM (an admin token or
//! AK/SK signature).

use crate::error::GatewayError;
use crate::snapshot::{Route, Snapshot};
use apigw_model::credential::Credential;
use apigw_model::sign::{self, RequestParts};
use apigw_plugins::headers::RequestHead;
use std::sync::Arc;

/// Who called.
#[derive(Debug, Default)]
pub struct Caller {
    pub app_id: Option<Arc<str>>,
    pub app_name: Option<Arc<str>>,
    pub user_id: Option<Arc<str>>,
}

/// A header's first value as text (the SDKs sign the UTF-8 text of values and send its bytes).
fn header(parts: &RequestHead, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Every value of a header, as the signature reads them.
fn values(parts: &RequestHead, name: &str) -> Vec<String> {
    parts
        .headers
        .get_all(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// `body`: the bytes the signature may cover (empty when not read); `bodyless`: the request
/// has no body at all (as its connection framed it).
fn verify(
    parts: &RequestHead,
    body: &[u8],
    bodyless: bool,
    secret_of: &dyn Fn(&str) -> Option<String>,
    now: i64,
) -> Option<String> {
    let authorization = header(parts, "authorization")?;
    let req = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        body,
    };
    match sign::verify(&authorization, &req, &|n| values(parts, n), secret_of, now) {
        Ok(key) => Some(key),
        // The official SDKs send `UNSIGNED-PAYLOAD` with a request that has no body but sign
        // the empty body's hash. Accepted for a request that has no body at all — there is
        // nothing a changed payload could carry.
        Err(sign::SignError::Mismatch) if unsigned(parts) && bodyless => {
            let headers = |n: &str| values(parts, n);
            sign::verify_bodyless_unsigned(&authorization, &req, &headers, secret_of, now).ok()
        }
        Err(_) => None,
    }
}

fn unsigned(parts: &RequestHead) -> bool {
    parts
        .headers
        .get("x-sdk-content-sha256")
        .is_some_and(|v| v.as_bytes().trim_ascii() == sign::UNSIGNED_PAYLOAD.as_bytes())
}

/// What can be checked before a signed body is read and buffered (up to 12 MiB): the
/// `Authorization` header's shape, the signed date's window and that the key is known (an
/// app's for APP, an AK for IAM). Anything else waits for [`app`] / [`iam`].
pub fn precheck(
    snap: &Snapshot,
    route: &Route,
    parts: &RequestHead,
    now: i64,
) -> Result<(), GatewayError> {
    let (refused, known): (GatewayError, &dyn Fn(&str) -> bool) = match route.auth {
        crate::snapshot::AuthType::App => (GatewayError::AppAuth, &|k| snap.apps.contains_key(k)),
        crate::snapshot::AuthType::Iam => (GatewayError::IamAuth, &|k| {
            snap.credentials.iter().any(|c| c.access_key == k)
        }),
        crate::snapshot::AuthType::None => return Ok(()),
    };
    let authorization = header(parts, "authorization").ok_or(refused)?;
    match sign::precheck(&authorization, &|n| values(parts, n), now) {
        Ok((auth, _)) if known(&auth.access) => Ok(()),
        _ => Err(refused),
    }
}

/// APP authentication: 401 APIG.0303 unless signed by a known app; 403 APIG.0304 unless that
/// app is authorised for the route.
pub fn app(
    snap: &Snapshot,
    route: &Route,
    parts: &RequestHead,
    body: &[u8],
    bodyless: bool,
    now: i64,
) -> Result<Caller, GatewayError> {
    let secret_of = |key: &str| snap.apps.get(key).map(|a| a.secret.clone());
    let key = verify(parts, body, bodyless, &secret_of, now).ok_or(GatewayError::AppAuth)?;
    let app = snap.apps.get(&key).ok_or(GatewayError::AppAuth)?;
    if !route.apps.contains(&*app.id) {
        return Err(GatewayError::AppNotAuthorized);
    }
    Ok(Caller {
        app_id: Some(app.id.clone()),
        app_name: Some(app.name.clone()),
        user_id: None,
    })
}

/// IAM authentication: an admin `X-Auth-Token` or an admin AK/SK signature; else 401 APIG.0301.
pub fn iam(
    creds: &[Credential],
    parts: &RequestHead,
    body: &[u8],
    bodyless: bool,
    now: i64,
) -> Result<Caller, GatewayError> {
    let cred = if let Some(token) = parts.headers.get("x-auth-token") {
        Credential::by_token(creds, token.as_bytes())
    } else {
        let secret_of = |ak: &str| {
            creds
                .iter()
                .find(|c| c.access_key == ak)
                .map(|c| c.secret_key.clone())
        };
        verify(parts, body, bodyless, &secret_of, now)
            .and_then(|ak| creds.iter().find(|c| c.access_key == ak))
    };
    let cred = cred.ok_or(GatewayError::IamAuth)?;
    Ok(Caller {
        user_id: Some(cred.project_id.as_str().into()),
        ..Caller::default()
    })
}

/// Whether verifying the request needs its body: a signature without `UNSIGNED-PAYLOAD`.
pub fn needs_body(parts: &RequestHead) -> bool {
    parts.headers.contains_key("authorization") && !unsigned(parts)
}
