//! The five plug-in calls of APIG (`otc-docs/api-plugin_*.rst`, SPEC §1.3): CreatePlugin,
//! UpdatePlugin, DeletePlugin, ListPlugins, ShowPlugin.

use crate::auth::{Call, Family};
use crate::body::{self, Fields, Query};
use crate::error::{deleted, ApiError};
use crate::openapi::{Errors, ErrorsOrConflict, InstancePath};
use crate::path::{Path, PluginPath};
use crate::AppState;
use apigw_model::page::Page;
use apigw_model::plugin::{validate_plugin_name, MAX_REMARK_CHARS};
use apigw_model::{id, time, Plugin, PluginScope, PluginType};
use apigw_plugins::registry;
use apigw_store::{PluginFilter, Resource};
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

/// The plug-in routes, relative to the instance base path.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", post(create).get(list))
        .route("/plugins/{plugin_id}", get(show).put(update).delete(delete))
}

/// Request body of CreatePlugin and UpdatePlugin (`PluginCreate`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct PluginCreate {
    /// 3..255 characters, starting with a letter or CJK character; letters, digits, CJK,
    /// `_`, `-`, `.` and inner spaces. Unique per instance.
    plugin_name: String,
    /// One of the plug-in types (`apigw_model::PluginType::ALL`: cors, set_resp_headers,
    /// rate_limit, kafka_log, breaker, third_auth, …). Not changeable.
    plugin_type: String,
    /// global or app. Not changeable.
    plugin_scope: String,
    /// The type's content model as a JSON string, at most 65535 characters. Fields may use
    /// APIG's or ROMA Connect's names on either family.
    plugin_content: String,
    /// At most 255 characters.
    remark: Option<String>,
    /// ROMA Connect integration app (only under `/apic/`).
    roma_app_id: Option<String>,
    /// Its name (only under `/apic/`).
    roma_app_name: Option<String>,
}

/// A plug-in as returned by the API (`PluginInfo`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginInfo {
    plugin_id: String,
    plugin_name: String,
    plugin_type: String,
    plugin_scope: String,
    /// The content as a JSON string, in the family's field names (ROMA's under `/apic/`),
    /// with secrets masked as `******`.
    plugin_content: String,
    remark: String,
    /// RFC 3339 UTC with milliseconds.
    create_time: String,
    /// RFC 3339 UTC with milliseconds.
    update_time: String,
    /// ROMA Connect only.
    #[serde(skip_serializing_if = "Option::is_none")]
    roma_app_id: Option<String>,
    /// ROMA Connect only.
    #[serde(skip_serializing_if = "Option::is_none")]
    roma_app_name: Option<String>,
}

impl PluginInfo {
    pub(crate) fn new(p: &Plugin, family: Family) -> Self {
        let roma = family == Family::Apic;
        Self {
            plugin_id: p.id.clone(),
            plugin_name: p.name.clone(),
            plugin_type: p.plugin_type.to_string(),
            plugin_scope: p.scope.to_string(),
            plugin_content: registry::shown_content(p.plugin_type, &p.content, family.naming()),
            remark: p.remark.clone(),
            create_time: time::format_millis(p.create_time),
            update_time: time::format_millis(p.update_time),
            roma_app_id: if roma {
                Some(p.roma_app_id.clone().unwrap_or_default())
            } else {
                None
            },
            roma_app_name: if roma {
                Some(p.roma_app_name.clone().unwrap_or_default())
            } else {
                None
            },
        }
    }
}

/// ListPlugins response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPluginsResponse {
    /// Matches in all.
    total: u64,
    /// Items in this page.
    size: usize,
    plugins: Vec<PluginInfo>,
}

/// The fields of a create or update body, checked.
struct Envelope {
    name: String,
    plugin_type: PluginType,
    scope: PluginScope,
    content: String,
    remark: String,
    roma_app_id: Option<String>,
    roma_app_name: Option<String>,
}

/// Parses and checks a PluginCreate body, except the content (which needs the type).
fn parse_envelope(bytes: &[u8], family: Family) -> Result<Envelope, ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let name = f.string("plugin_name");
    if !f.errs.0.iter().any(|e| e.field == "plugin_name") {
        if let Err(e) = validate_plugin_name(&name, "plugin_name") {
            f.errs.0.push(e);
        }
    }
    let types: Vec<&str> = PluginType::ALL.iter().map(|t| t.as_str()).collect();
    let plugin_type =
        f.enumerated::<PluginType>("plugin_type", &format!("must be {}", types.join(", ")));
    let scope = f.enumerated::<PluginScope>("plugin_scope", "must be global or app");
    let content = f.string("plugin_content");
    let remark = f.opt_string("remark").unwrap_or_default();
    f.errs.len(&remark, 0, MAX_REMARK_CHARS, "remark");
    let (roma_app_id, roma_app_name) = if family == Family::Apic {
        (f.opt_string("roma_app_id"), f.opt_string("roma_app_name"))
    } else {
        (None, None)
    };
    if let Some(id) = &roma_app_id {
        f.errs.len(id, 0, 64, "roma_app_id");
    }
    if let Some(n) = &roma_app_name {
        f.errs.len(n, 0, 255, "roma_app_name");
    }
    f.finish()?;
    Ok(Envelope {
        name,
        plugin_type: plugin_type.expect("finish() fails when it is missing"),
        scope: scope.expect("finish() fails when it is missing"),
        content,
        remark,
        roma_app_id,
        roma_app_name,
    })
}

/// CreatePlugin.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins",
    tag = "plugins", request_body = PluginCreate,
    params(InstancePath),
    responses((status = 201, body = PluginInfo), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let env = parse_envelope(&bytes, scope.family)?;
    let content = registry::canonical_content(env.plugin_type, &env.content, None)
        .map_err(ApiError::Invalid)?;
    let now = time::now_millis();
    let plugin = Plugin {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        name: env.name,
        plugin_type: env.plugin_type,
        scope: env.scope,
        content,
        remark: env.remark,
        roma_app_id: env.roma_app_id,
        roma_app_name: env.roma_app_name,
        create_time: now,
        update_time: now,
    };
    state
        .store
        .create_plugin(&plugin, registry::max_per_instance(plugin.plugin_type))
        .await
        .map_err(ApiError::store(Resource::Plugin, &plugin.id))?;
    tracing::info!(plugin_id = %plugin.id, plugin_type = %plugin.plugin_type, "plug-in created");
    Ok((
        StatusCode::CREATED,
        Json(PluginInfo::new(&plugin, scope.family)),
    ))
}

/// UpdatePlugin. Type and scope cannot change.
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins/{plugin_id}",
    tag = "plugins", request_body = PluginCreate,
    params(InstancePath, PluginPath),
    responses((status = 200, body = PluginInfo), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(PluginPath { plugin_id }): Path<PluginPath>,
    bytes: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let env = parse_envelope(&bytes, scope.family)?;
    let old = crate::bindings::plugin(&state, &scope.instance_id, &plugin_id).await?;
    let mut errs = Vec::new();
    if env.plugin_type != old.plugin_type {
        errs.push(apigw_model::FieldError::new(
            "plugin_type",
            "cannot be changed",
        ));
    }
    if env.scope != old.scope {
        errs.push(apigw_model::FieldError::new(
            "plugin_scope",
            "cannot be changed",
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let content = registry::canonical_content(env.plugin_type, &env.content, Some(&old.content))
        .map_err(ApiError::Invalid)?;
    let plugin = Plugin {
        name: env.name,
        content,
        remark: env.remark,
        roma_app_id: env.roma_app_id.or(old.roma_app_id.clone()),
        roma_app_name: env.roma_app_name.or(old.roma_app_name.clone()),
        update_time: time::now_millis().max(old.update_time),
        ..old
    };
    state
        .store
        .update_plugin(&plugin)
        .await
        .map_err(ApiError::store(Resource::Plugin, &plugin.id))?;
    tracing::info!(plugin_id = %plugin.id, "plug-in updated");
    Ok(Json(PluginInfo::new(&plugin, scope.family)))
}

/// DeletePlugin.
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins/{plugin_id}",
    tag = "plugins",
    params(InstancePath, PluginPath),
    responses((status = 204), ErrorsOrConflict))]
pub(crate) async fn delete(
    Call { state, scope }: Call,
    Path(PluginPath { plugin_id }): Path<PluginPath>,
) -> Result<StatusCode, ApiError> {
    let result = state
        .store
        .delete_plugin(&scope.instance_id, &plugin_id)
        .await;
    deleted(result, Resource::Plugin, &plugin_id)
}

/// ShowPlugin.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins/{plugin_id}",
    tag = "plugins",
    params(InstancePath, PluginPath),
    responses((status = 200, body = PluginInfo), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(PluginPath { plugin_id }): Path<PluginPath>,
) -> Result<Json<PluginInfo>, ApiError> {
    let p = crate::bindings::plugin(&state, &scope.instance_id, &plugin_id).await?;
    Ok(Json(PluginInfo::new(&p, scope.family)))
}

/// ListPlugins: filters by type, scope, id, name (substring, or exact with
/// `precise_search=plugin_name`), and pages.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins",
    tag = "plugins",
    params(InstancePath,
        ("offset" = Option<i64>, Query, description = "default 0; negative = 0"),
        ("limit" = Option<i64>, Query, description = "1..500, default 20"),
        ("plugin_type" = Option<String>, Query), ("plugin_scope" = Option<String>, Query),
        ("plugin_id" = Option<String>, Query),
        ("plugin_name" = Option<String>, Query, description = "substring match"),
        ("precise_search" = Option<String>, Query, description = "plugin_name: match plugin_name exactly")),
    responses((status = 200, body = ListPluginsResponse), Errors))]
pub(crate) async fn list(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<ListPluginsResponse>, ApiError> {
    let q = Query::parse(uri.query());
    let page = Page::new(q.int("offset")?, q.int("limit")?);
    let plugin_type = match q.get("plugin_type") {
        None => None,
        Some(t) => Some(t.parse::<PluginType>().map_err(|_| {
            ApiError::invalid("plugin_type", format!("unknown plug-in type '{t}'"))
        })?),
    };
    let plugin_scope = match q.get("plugin_scope") {
        None => None,
        Some(s) => Some(s.parse::<PluginScope>().map_err(|_| {
            ApiError::invalid("plugin_scope", format!("unknown plug-in scope '{s}'"))
        })?),
    };
    let name_exact = match q.get("precise_search") {
        None => false,
        Some("plugin_name") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "precise_search",
                format!("only plugin_name supports exact search, not '{other}'"),
            ))
        }
    };
    let roma = scope.family == Family::Apic;
    let filter = PluginFilter {
        plugin_type,
        scope: plugin_scope,
        id: q.text("plugin_id", 64)?,
        name: q.text("plugin_name", 255)?,
        name_exact,
        roma_app_id: if roma {
            q.text("roma_app_id", 64)?
        } else {
            None
        },
        roma_app_name: if roma {
            q.text("roma_app_name", 255)?
        } else {
            None
        },
    };
    let (total, items) = state
        .store
        .list_plugins(&scope.instance_id, &filter, page)
        .await?;
    let plugins: Vec<PluginInfo> = items
        .iter()
        .map(|p| PluginInfo::new(p, scope.family))
        .collect();
    Ok(Json(ListPluginsResponse {
        total,
        size: plugins.len(),
        plugins,
    }))
}
