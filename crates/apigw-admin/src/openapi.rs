//! The OpenAPI 3 document of the control plane, generated from the handlers' annotations and
//! the response types, served at `GET /openapi.json`. A test checks that every documented
//! operation is routed and every routed operation documented.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The error body of every failed call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `APIG.xxxx`.
    pub error_code: String,
    /// What went wrong; names the field for invalid parameters.
    pub error_msg: String,
}

#[derive(Debug)]
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
        components.add_security_scheme(
            "aksk",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., Signature=... (with X-Sdk-Date)",
            ))),
        );
    }
}

/// The document. The same routes also answer under `/v2/{project_id}/apic/instances/...`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "apigw control plane", description = "The APIG v2 plug-in management API. \
        Every path also answers under /v2/{project_id}/apic/instances/{instance_id} (ROMA Connect)."),
    paths(
        crate::plugins::create,
        crate::plugins::list,
        crate::plugins::show,
        crate::plugins::update,
        crate::plugins::delete,
        crate::groups::create,
        crate::groups::list,
        crate::groups::show,
        crate::groups::update,
        crate::groups::delete,
        crate::envs::create,
        crate::envs::list,
        crate::envs::update,
        crate::envs::delete,
        crate::apis::create,
        crate::apis::list,
        crate::apis::show,
        crate::apis::update,
        crate::apis::delete,
        crate::apis::action,
        crate::apis::batch_publish,
        crate::apps::create,
        crate::apps::list,
        crate::apps::show,
        crate::apps::update,
        crate::apps::remove,
        crate::apps::authorize,
        crate::apps::unauthorize,
        crate::bindings::attach_apis,
        crate::bindings::detach_apis,
        crate::bindings::plugin_attached_apis,
        crate::bindings::plugin_attachable_apis,
        crate::bindings::attach_plugins,
        crate::bindings::detach_plugins,
        crate::bindings::api_attached_plugins,
        crate::bindings::api_attachable_plugins,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    security(("token" = []), ("aksk" = [])),
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
