//! The OpenAPI 3 document of the control plane, generated from the handlers' annotations and
//! the response types, served at `GET /openapi.json`. A test checks that every documented
//! operation is routed and every routed operation documented, and that every status an
//! operation answers is documented.
//!
//! What every operation shares is declared here once: its [`InstancePath`] parameters and its
//! error answers ([`Errors`], or [`ErrorsOrConflict`] where the state of what it changes can
//! refuse it).

use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

/// The error body of every failed call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `APIG.xxxx`.
    pub error_code: String,
    /// What went wrong; names the field for invalid parameters.
    pub error_msg: String,
}

/// The path parameters of every operation, checked by the authentication middleware before the
/// handler runs (so the handlers do not read them).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InstancePath {
    /// The caller's project; another project's is 403 APIG.1005.
    pub project_id: String,
    /// The instance this gateway serves; any other is 404 APIG.3030.
    pub instance_id: String,
}

/// The path parameter of the project's operations without an instance (certificates).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The caller's project; another project's is 403 APIG.1005.
    pub project_id: String,
}

/// The error answers of every operation under `/v2/`: the authentication middleware
/// can answer 400 (body too large), 401, 403 and 404 (instance) to any of them, the handlers
/// add their own 400s and 404s, and a failing store is 500.
#[derive(Debug)]
pub struct Errors;

/// [`Errors`] and 409: the operation can be refused by the state of what it changes.
#[derive(Debug)]
pub struct ErrorsOrConflict;

/// Status and description of each error answer in [`Errors`].
const ERRORS: [(&str, &str); 5] = [
    (
        "400",
        "APIG.2000: the body is not a JSON object, or is larger than 1 MiB. APIG.2012: an \
         invalid parameter (path, query or body), named in error_msg. APIG.3326 / 3201 / 3202 / \
         3203 / 3205 / 3208 / 3301 / 3310: a name, route or key already taken.",
    ),
    (
        "401",
        "APIG.1000: neither X-Auth-Token nor a signature. APIG.1002: a wrong token or signature.",
    ),
    (
        "403",
        "APIG.1005: credentials of another project. APIG.3100: at most 5 kafka_log plug-ins. \
         APIG.3108: at most 5 domain names per group. APIG.3109: at most 30 load balance \
         channels. APIG.3414: an API goes through the channel. \
         APIG.3415: the group still has APIs. APIG.3418: the environment has published APIs.",
    ),
    (
        "404",
        "APIG.3030: the instance is not served here. APIG.3068 plug-in, 3002 API, 3003 \
         environment, 3001 group, 3004 app, 3009 app authorisation, 3015 publication, 3023 \
         load balance channel, 3024 channel member, 3007 member group: the \
         resource named in the path or the body does not exist.",
    ),
    ("500", "APIG.9999: the store failed; the detail is logged."),
];

/// The 409 of [`ErrorsOrConflict`].
const CONFLICT: (&str, &str) = (
    "409",
    "APIG.3462: the plug-in is bound to APIs. APIG.3707: only APIs published in the \
     environment can be bound.",
);

/// `{status: response}` for each `(status, description)`, the body an [`ErrorBody`].
fn error_answers<'a>(
    list: impl IntoIterator<Item = &'a (&'a str, &'a str)>,
) -> BTreeMap<String, RefOr<Response>> {
    list.into_iter()
        .map(|(status, description)| {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let answer = ResponseBuilder::new()
                .description(*description)
                .content("application/json", body)
                .build();
            (status.to_string(), RefOr::T(answer))
        })
        .collect()
}

impl IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_answers(&ERRORS)
    }
}

impl IntoResponses for ErrorsOrConflict {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_answers(ERRORS.iter().chain([&CONFLICT]))
    }
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
        crate::env_variables::create,
        crate::env_variables::list,
        crate::env_variables::show,
        crate::env_variables::update,
        crate::env_variables::delete,
        crate::gateway_responses::create,
        crate::gateway_responses::list,
        crate::gateway_responses::show,
        crate::gateway_responses::update,
        crate::gateway_responses::delete,
        crate::gateway_responses::show_type,
        crate::gateway_responses::update_type,
        crate::gateway_responses::delete_type,
        crate::acls::create,
        crate::acls::list,
        crate::acls::show,
        crate::acls::update,
        crate::acls::delete_one,
        crate::acls::batch_delete,
        crate::acls::bind,
        crate::acls::unbind,
        crate::acls::batch_unbind,
        crate::acls::bound_to_api,
        crate::acls::apis_bound,
        crate::acls::apis_not_bound,
        crate::throttles::create,
        crate::throttles::list,
        crate::throttles::show,
        crate::throttles::update,
        crate::throttles::delete_one,
        crate::throttles::bind,
        crate::throttles::unbind,
        crate::throttles::batch_unbind,
        crate::throttles::bound_to_api,
        crate::throttles::apis_bound,
        crate::throttles::apis_not_bound,
        crate::throttles::create_special,
        crate::throttles::update_special,
        crate::throttles::delete_special,
        crate::throttles::list_specials,
        crate::signs::create,
        crate::signs::list,
        crate::signs::update,
        crate::signs::delete_one,
        crate::signs::bind,
        crate::signs::unbind,
        crate::signs::bound_to_api,
        crate::signs::apis_bound,
        crate::signs::apis_not_bound,
        crate::certificates::create,
        crate::certificates::list,
        crate::certificates::show,
        crate::certificates::update,
        crate::certificates::delete_one,
        crate::certificates::attach_domains,
        crate::certificates::detach_domains,
        crate::certificates::attached_domains,
        crate::domains::create,
        crate::domains::update,
        crate::domains::delete_one,
        crate::domains::add_certificate,
        crate::domains::show_certificate,
        crate::domains::remove_certificate,
        crate::domains::attach_certificates,
        crate::domains::detach_certificates,
        crate::vpc_channels::create,
        crate::vpc_channels::list,
        crate::vpc_channels::show,
        crate::vpc_channels::update,
        crate::vpc_channels::delete_one,
        crate::vpc_channels::add_members,
        crate::vpc_channels::update_members,
        crate::vpc_channels::list_members,
        crate::vpc_channels::remove_member,
        crate::vpc_channels::enable_members,
        crate::vpc_channels::disable_members,
        crate::vpc_channels::add_groups,
        crate::vpc_channels::list_groups,
        crate::vpc_channels::show_group,
        crate::vpc_channels::update_group,
        crate::vpc_channels::delete_group,
        crate::vpc_channels::update_health,
        crate::apis::create,
        crate::apis::list,
        crate::apis::show,
        crate::apis::update,
        crate::apis::delete,
        crate::apis::action,
        crate::apis::batch_publish,
        crate::oas::import_apis,
        crate::oas::export_apis,
        crate::apps::create,
        crate::apps::list,
        crate::apps::show,
        crate::apps::update,
        crate::apps::remove,
        crate::apps::authorize,
        crate::apps::unauthorize,
        crate::apps::bound_apis,
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
