//! Typed path parameters. Every route with an id in its path reads it through one small struct
//! here, so a handler has the id or the call is refused; it is never silently empty.
//!
//! The routes are nested under `/v2/{project_id}/{apigw|apic}/instances/{instance_id}`, so the
//! parameters also hold `project_id` and `instance_id`: the structs leave them out (serde skips
//! unknown fields) because the authentication middleware has checked both already and put the
//! instance in [`CallScope`](crate::auth::CallScope).

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;

/// axum's `Path`, answering a path it cannot read with an [`ApiError`] (400 APIG.2012 naming
/// the parameter) instead of axum's plain-text rejection.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Path(t)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// Declares the path struct `$name` holding the one id `$id` (described by `$what`) of the
/// routes `$routes`.
macro_rules! id_path {
    ($name:ident, $id:ident, $what:literal, $routes:literal) => {
        #[doc = $routes]
        #[derive(Debug, Deserialize, IntoParams)]
        #[into_params(parameter_in = Path)]
        pub(crate) struct $name {
            #[doc = $what]
            pub(crate) $id: String,
        }
    };
}

id_path!(
    PluginPath,
    plugin_id,
    "The plug-in's id.",
    "`/plugins/{plugin_id}...`"
);
id_path!(ApiPath, api_id, "The API's id.", "`/apis/{api_id}...`");
id_path!(
    GroupPath,
    group_id,
    "The API group's id.",
    "`/api-groups/{group_id}`"
);
id_path!(EnvPath, env_id, "The environment's id.", "`/envs/{env_id}`");
id_path!(AppPath, app_id, "The app's id.", "`/apps/{app_id}`");
id_path!(
    VariablePath,
    env_variable_id,
    "The environment variable's id.",
    "`/env-variables/{env_variable_id}`"
);
id_path!(
    AclPath,
    acl_id,
    "The access control policy's id.",
    "`/acls/{acl_id}`"
);
id_path!(
    AclBindingPath,
    acl_bindings_id,
    "The access control binding's id.",
    "`/acl-bindings/{acl_bindings_id}`"
);
id_path!(
    ThrottlePath,
    throttle_id,
    "The request throttling policy's id.",
    "`/throttles/{throttle_id}`"
);
id_path!(
    ThrottleBindingPath,
    throttle_binding_id,
    "The request throttling binding's id.",
    "`/throttle-bindings/{throttle_binding_id}`"
);
id_path!(
    SignPath,
    sign_id,
    "The signature key's id.",
    "`/signs/{sign_id}`"
);
id_path!(
    SignBindingPath,
    sign_bindings_id,
    "The signature key binding's id.",
    "`/sign-bindings/{sign_bindings_id}`"
);
id_path!(
    AppAuthPath,
    app_auth_id,
    "The authorisation's id.",
    "`/app-auths/{app_auth_id}`"
);

id_path!(
    CertificatePath,
    certificate_id,
    "The certificate's id.",
    "`/v2/{project_id}/apigw/certificates/{certificate_id}...`"
);

id_path!(
    ChannelPath,
    vpc_channel_id,
    "The load balance channel's id.",
    "`/vpc-channels/{vpc_channel_id}...`"
);

/// `/vpc-channels/{vpc_channel_id}/members/{member_id}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct MemberPath {
    /// The load balance channel's id.
    pub(crate) vpc_channel_id: String,
    /// The member's id.
    pub(crate) member_id: String,
}

/// `/vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct MemberGroupPath {
    /// The load balance channel's id.
    pub(crate) vpc_channel_id: String,
    /// The member group's id.
    pub(crate) member_group_id: String,
}

/// `/api-groups/{group_id}/domains/{domain_id}...`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct DomainPath {
    /// The API group's id.
    pub(crate) group_id: String,
    /// The domain's id.
    pub(crate) domain_id: String,
}

/// `/api-groups/{group_id}/domains/{domain_id}/certificate/{certificate_id}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct DomainCertificatePath {
    /// The API group's id.
    pub(crate) group_id: String,
    /// The domain's id.
    pub(crate) domain_id: String,
    /// The certificate's id.
    pub(crate) certificate_id: String,
}

/// `/api-groups/{group_id}/gateway-responses/{response_id}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ResponsePath {
    /// The API group's id.
    pub(crate) group_id: String,
    /// The response set's id.
    pub(crate) response_id: String,
}

/// `/api-groups/{group_id}/gateway-responses/{response_id}/{response_type}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ResponseTypePath {
    /// The API group's id.
    pub(crate) group_id: String,
    /// The response set's id.
    pub(crate) response_id: String,
    /// The error type (`THROTTLED`, `NOT_FOUND`, ...).
    pub(crate) response_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call(uri: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new().nest(
            "/v2/{project_id}/apigw/instances/{instance_id}",
            Router::new().route(
                "/plugins/{plugin_id}",
                get(|Path(p): Path<PluginPath>| async move { p.plugin_id }),
            ),
        );
        let resp = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
        });
        (status, body)
    }

    #[tokio::test]
    async fn the_id_is_read_beside_project_and_instance() {
        let (status, body) = call("/v2/p/apigw/instances/i/plugins/abc%20d").await;
        assert_eq!((status, body), (StatusCode::OK, "abc d".into()));
    }

    #[tokio::test]
    async fn an_unreadable_id_is_an_apig_error_naming_it() {
        let (status, body) = call("/v2/p/apigw/instances/i/plugins/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error_code"], "APIG.2012");
        let msg = body["error_msg"].as_str().unwrap();
        assert!(msg.contains("parameterName:plugin_id"), "{msg}");
    }
}

/// `/throttles/{throttle_id}/throttle-specials/{strategy_id}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ThrottleSpecialPath {
    /// The request throttling policy's id.
    pub(crate) throttle_id: String,
    /// The excluded configuration's id.
    pub(crate) strategy_id: String,
}
