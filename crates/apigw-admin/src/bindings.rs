//! The eight binding calls of APIG (`otc-docs/api-plugin_binding_*`, `..._unbinding_*`,
//! `..._querying_*`): bind and unbind from the plug-in's side and from the API's side, and the
//! four listings. Rules (SPEC §1.3): only APIs published in the environment can be bound
//! (409 APIG.3707); an API holds one plug-in of each type per environment, binding another
//! replaces it; each call is all or nothing.

use crate::apis::{def_map, Context};
use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{found, ApiError};
use crate::openapi::{Errors, ErrorsOrConflict, InstancePath};
use crate::path::{ApiPath, Path, PluginPath};
use crate::plugins::PluginInfo;
use crate::AppState;
use apigw_model::resources::{Api, Binding};
use apigw_model::{time, Plugin, PluginType};
use apigw_plugins::registry;
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

/// Most ids in one bind or unbind call.
pub(crate) const MAX_IDS: usize = 500;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins/{plugin_id}/attach", post(attach_apis))
        .route("/plugins/{plugin_id}/detach", put(detach_apis))
        .route(
            "/plugins/{plugin_id}/attached-apis",
            get(plugin_attached_apis),
        )
        .route(
            "/plugins/{plugin_id}/attachable-apis",
            get(plugin_attachable_apis),
        )
        .route("/apis/{api_id}/plugins/attach", post(attach_plugins))
        .route("/apis/{api_id}/plugins/detach", put(detach_plugins))
        .route("/apis/{api_id}/attached-plugins", get(api_attached_plugins))
        .route(
            "/apis/{api_id}/attachable-plugins",
            get(api_attachable_plugins),
        )
}

/// What the path of a bind or unbind call names; its body lists ids of the other kind.
enum Side {
    /// `/plugins/{plugin_id}/...`: the body has `api_ids`.
    Plugin(String),
    /// `/apis/{api_id}/plugins/...`: the body has `plugin_ids`.
    Api(String),
}

/// Reads a bind or unbind body (`{env_id, api_ids}` or `{env_id, plugin_ids}`) and checks that
/// the plug-in or API of the path exists: the environment and the (plug-in, API) pairs named.
async fn parse_pairs(
    call: &Call,
    side: Side,
    bytes: &[u8],
) -> Result<(String, Vec<(String, String)>), ApiError> {
    let ids_field = match side {
        Side::Plugin(_) => "api_ids",
        Side::Api(_) => "plugin_ids",
    };
    let mut f = Fields::new(body::object(bytes)?);
    let env_id = f.string("env_id");
    let ids = f.ids(ids_field, MAX_IDS);
    f.finish()?;
    let instance_id = &call.scope.instance_id;
    let pairs = match side {
        Side::Plugin(plugin_id) => {
            plugin(&call.state, instance_id, &plugin_id).await?;
            ids.into_iter().map(|a| (plugin_id.clone(), a)).collect()
        }
        Side::Api(api_id) => {
            crate::apis::find(&call.state, instance_id, &api_id).await?;
            ids.into_iter().map(|p| (p, api_id.clone())).collect()
        }
    };
    Ok((env_id, pairs))
}

pub(crate) async fn plugin(
    state: &AppState,
    instance_id: &str,
    id: &str,
) -> Result<Plugin, ApiError> {
    found(
        state.store.get_plugin(instance_id, id).await,
        Resource::Plugin,
        id,
    )
}

/// Binds the (plug-in, API) `pairs` in `env_id`, all or nothing; answers the
/// `PluginApiAttachInfo` of each binding made.
async fn attach(
    call: &Call,
    env_id: &str,
    pairs: &[(String, String)],
    ids_field: &str,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (state, instance_id) = (&call.state, &call.scope.instance_id);
    refuse_mock_backends(call, pairs, ids_field).await?;
    let made = state
        .store
        .attach(instance_id, env_id, pairs, time::now_millis())
        .await?;
    let api_ids: Vec<String> = made.iter().map(|b| b.api_id.clone()).collect();
    let ctx = Context::load_for(state, instance_id, &[]).await?;
    let apis = state.store.list_apis_of(instance_id, &api_ids).await?;
    let mut items = Vec::with_capacity(made.len());
    for b in &made {
        let p = plugin(state, instance_id, &b.plugin_id).await?;
        let api_name = apis
            .iter()
            .find(|a| a.id == b.api_id)
            .map(|a| a.name.as_str())
            .unwrap_or("");
        items.push(json!({
            "plugin_attach_id": b.id, "plugin_id": p.id, "plugin_name": p.name,
            "plugin_type": p.plugin_type.as_str(), "plugin_scope": p.scope.as_str(),
            "env_id": b.env_id, "env_name": ctx.env_name(&b.env_id), "api_id": b.api_id,
            "api_name": api_name, "attached_time": time::format_millis(b.attached_time),
        }));
    }
    tracing::info!(bindings = made.len(), %env_id, "plug-ins bound");
    Ok((
        StatusCode::CREATED,
        Json(json!({"attached_plugins": items})),
    ))
}

/// Refuses (400, naming `ids_field`) a pair whose plug-in type cannot serve an API whose
/// backend is MOCK (proxy_mirror: nothing would be mirrored). Unknown ids are left to the
/// store, which names them.
async fn refuse_mock_backends(
    call: &Call,
    pairs: &[(String, String)],
    ids_field: &str,
) -> Result<(), ApiError> {
    let (state, instance_id) = (&call.state, &call.scope.instance_id);
    for (plugin_id, api_id) in pairs {
        let Ok(Some(p)) = state.store.get_plugin(instance_id, plugin_id).await else {
            continue;
        };
        if registry::binds_to_mock(p.plugin_type) {
            continue;
        }
        let Ok(Some(api)) = state.store.get_api(instance_id, api_id).await else {
            continue;
        };
        let def: Value = serde_json::from_str(&api.def).unwrap_or_default();
        if def["backend_type"] == "MOCK" {
            return Err(ApiError::invalid(
                ids_field,
                format!(
                    "{} plug-in {plugin_id} cannot be bound to API {api_id}: its backend is MOCK",
                    p.plugin_type
                ),
            ));
        }
    }
    Ok(())
}

/// Unbinds the (plug-in, API) `pairs` in `env_id`, all or nothing.
async fn detach(
    call: &Call,
    env_id: &str,
    pairs: &[(String, String)],
) -> Result<StatusCode, ApiError> {
    call.state
        .store
        .detach(&call.scope.instance_id, env_id, pairs)
        .await?;
    tracing::info!(bindings = pairs.len(), %env_id, "plug-ins unbound");
    Ok(StatusCode::NO_CONTENT)
}

/// AttachApiToPlugin: `POST /plugins/{plugin_id}/attach` {env_id, api_ids}.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins/{plugin_id}/attach", tag = "bindings",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, PluginPath),
    responses((status = 201, description = "success", body = Object), ErrorsOrConflict))]
pub(crate) async fn attach_apis(
    call: Call,
    Path(PluginPath { plugin_id }): Path<PluginPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (env_id, pairs) = parse_pairs(&call, Side::Plugin(plugin_id), &bytes).await?;
    attach(&call, &env_id, &pairs, "api_ids").await
}

/// AttachPluginToApi: `POST /apis/{api_id}/plugins/attach` {env_id, plugin_ids}. Two plug-ins
/// of one type in one call are refused: the API can hold only one of them.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/{api_id}/plugins/attach", tag = "bindings",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ApiPath),
    responses((status = 201, description = "success", body = Object), ErrorsOrConflict))]
pub(crate) async fn attach_plugins(
    call: Call,
    Path(ApiPath { api_id }): Path<ApiPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (env_id, pairs) = parse_pairs(&call, Side::Api(api_id), &bytes).await?;
    let mut types: Vec<(PluginType, &str)> = Vec::new();
    for (id, _) in &pairs {
        let pl = plugin(&call.state, &call.scope.instance_id, id).await?;
        if let Some((_, other)) = types.iter().find(|(t, _)| *t == pl.plugin_type) {
            return Err(ApiError::invalid(
                "plugin_ids",
                format!(
                    "{other} and {id} are both {}: an API holds one plug-in of each type",
                    pl.plugin_type
                ),
            ));
        }
        types.push((pl.plugin_type, id));
    }
    attach(&call, &env_id, &pairs, "plugin_ids").await
}

/// DetachApiFromPlugin: `PUT /plugins/{plugin_id}/detach` {env_id, api_ids}.
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins/{plugin_id}/detach", tag = "bindings",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, PluginPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn detach_apis(
    call: Call,
    Path(PluginPath { plugin_id }): Path<PluginPath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let (env_id, pairs) = parse_pairs(&call, Side::Plugin(plugin_id), &bytes).await?;
    detach(&call, &env_id, &pairs).await
}

/// DetachPluginFromApi: `PUT /apis/{api_id}/plugins/detach` {env_id, plugin_ids}.
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/{api_id}/plugins/detach", tag = "bindings",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ApiPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn detach_plugins(
    call: Call,
    Path(ApiPath { api_id }): Path<ApiPath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let (env_id, pairs) = parse_pairs(&call, Side::Api(api_id), &bytes).await?;
    detach(&call, &env_id, &pairs).await
}

/// `PluginApiInfo` of an API in an environment, with its binding when there is one.
fn plugin_api_info(a: &Api, env_id: &str, ctx: &Context, binding: Option<&Binding>) -> Value {
    let d = def_map(a);
    let mut v = json!({
        "api_id": a.id, "api_name": a.name, "type": d.get("type").cloned().unwrap_or(json!(1)),
        "req_protocol": d.get("req_protocol"), "req_method": d.get("req_method"),
        "req_uri": d.get("req_uri"), "auth_type": d.get("auth_type"),
        "match_mode": d.get("match_mode"), "remark": d.get("remark"),
        "group_id": a.group_id, "group_name": ctx.group_name(&a.group_id),
        "roma_app_id": d.get("roma_app_id").cloned().unwrap_or(json!("")),
        "env_id": env_id, "env_name": ctx.env_name(env_id),
        "publish_id": ctx.publication(&a.id, env_id).map(|p| p.publish_id.as_str()).unwrap_or(""),
    });
    if let Some(b) = binding {
        v["plugin_attach_id"] = json!(b.id);
        v["attached_time"] = json!(time::format_millis(b.attached_time));
    }
    v
}

/// The API filters of the two API listings.
struct ApiFilter {
    api_name: Option<String>,
    api_id: Option<String>,
    group_id: Option<String>,
    req_method: Option<String>,
    req_uri: Option<String>,
}

impl ApiFilter {
    fn parse(q: &Query) -> Result<Self, ApiError> {
        Ok(Self {
            api_name: q.text("api_name", 255)?,
            api_id: q.text("api_id", 64)?,
            group_id: q.text("group_id", 64)?,
            req_method: q.text("req_method", 16)?,
            req_uri: q.text("req_uri", 512)?,
        })
    }

    fn accepts(&self, a: &Api) -> bool {
        let d = def_map(a);
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        contains(&self.api_name, &a.name)
            && eq(&self.api_id, &a.id)
            && eq(&self.group_id, &a.group_id)
            && eq(&self.req_method, &s("req_method"))
            && contains(&self.req_uri, &s("req_uri"))
    }
}

/// ListPluginAttachedApis: the APIs the plug-in is bound to (offline ones included).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins/{plugin_id}/attached-apis", tag = "bindings",
    params(InstancePath, PluginPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("env_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("api_id" = Option<String>, Query), ("group_id" = Option<String>, Query), ("req_method" = Option<String>, Query), ("req_uri" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn plugin_attached_apis(
    Call { state, scope }: Call,
    Path(PluginPath { plugin_id }): Path<PluginPath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let env_id = q.text("env_id", 64)?;
    let filter = ApiFilter::parse(&q)?;
    plugin(&state, &scope.instance_id, &plugin_id).await?;
    let ctx = Context::load(&state, &scope.instance_id).await?;
    let apis = state.store.list_apis(&scope.instance_id).await?;
    let items: Vec<Value> = state
        .store
        .list_bindings(&scope.instance_id)
        .await?
        .iter()
        .filter(|b| b.plugin_id == plugin_id && eq(&env_id, &b.env_id))
        .filter_map(|b| apis.iter().find(|a| a.id == b.api_id).map(|a| (a, b)))
        .filter(|(a, _)| filter.accepts(a))
        .map(|(a, b)| plugin_api_info(a, &b.env_id, &ctx, Some(b)))
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "apis": page}),
    ))
}

/// ListPluginAttachableApis: APIs published in `env_id` (mandatory) that the plug-in is not
/// bound to there; APIs bound to other plug-ins are included.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/plugins/{plugin_id}/attachable-apis", tag = "bindings",
    params(InstancePath, PluginPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("env_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("api_id" = Option<String>, Query), ("group_id" = Option<String>, Query), ("req_method" = Option<String>, Query), ("req_uri" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn plugin_attachable_apis(
    Call { state, scope }: Call,
    Path(PluginPath { plugin_id }): Path<PluginPath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let env_id = q.required("env_id", 64)?;
    let filter = ApiFilter::parse(&q)?;
    plugin(&state, &scope.instance_id, &plugin_id).await?;
    let ctx = Context::load(&state, &scope.instance_id).await?;
    ctx.require_env(&env_id)?;
    let bindings = state.store.list_bindings(&scope.instance_id).await?;
    let items: Vec<Value> = state
        .store
        .list_apis(&scope.instance_id)
        .await?
        .iter()
        .filter(|a| ctx.publication(&a.id, &env_id).is_some())
        .filter(|a| {
            !bindings
                .iter()
                .any(|b| b.plugin_id == plugin_id && b.api_id == a.id && b.env_id == env_id)
        })
        .filter(|a| filter.accepts(a))
        .map(|a| plugin_api_info(a, &env_id, &ctx, None))
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "apis": page}),
    ))
}

/// ListApiAttachedPlugins: the plug-ins bound to the API (`AttachedPluginInfo`).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/{api_id}/attached-plugins", tag = "bindings",
    params(InstancePath, ApiPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("env_id" = Option<String>, Query), ("plugin_name" = Option<String>, Query), ("plugin_id" = Option<String>, Query), ("env_name" = Option<String>, Query), ("plugin_type" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn api_attached_plugins(
    Call { state, scope }: Call,
    Path(ApiPath { api_id }): Path<ApiPath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let (env_id, env_name) = (q.text("env_id", 64)?, q.text("env_name", 64)?);
    let (plugin_name, plugin_id) = (q.text("plugin_name", 255)?, q.text("plugin_id", 64)?);
    let plugin_type = q.text("plugin_type", 32)?;
    crate::apis::find(&state, &scope.instance_id, &api_id).await?;
    let ctx = Context::load(&state, &scope.instance_id).await?;
    let mut items = Vec::new();
    for b in state.store.list_bindings(&scope.instance_id).await? {
        if b.api_id != api_id || !eq(&env_id, &b.env_id) || !eq(&env_name, ctx.env_name(&b.env_id))
        {
            continue;
        }
        let pl = plugin(&state, &scope.instance_id, &b.plugin_id).await?;
        if !contains(&plugin_name, &pl.name)
            || !eq(&plugin_id, &pl.id)
            || !eq(&plugin_type, pl.plugin_type.as_str())
        {
            continue;
        }
        items.push(json!({
            "plugin_attach_id": b.id, "plugin_id": pl.id, "plugin_name": pl.name,
            "plugin_type": pl.plugin_type.as_str(), "plugin_scope": pl.scope.as_str(),
            "env_id": b.env_id, "env_name": ctx.env_name(&b.env_id),
            "attached_time": time::format_millis(b.attached_time),
            "plugin_content": registry::shown_content(pl.plugin_type, &pl.content, scope.family.naming()),
            "remark": pl.remark, "create_time": time::format_millis(pl.create_time),
            "update_time": time::format_millis(pl.update_time),
        }));
    }
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "plugins": page}),
    ))
}

/// ListApiAttachablePlugins: plug-ins not bound to the API in `env_id` (in any environment
/// when `env_id` is absent).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/{api_id}/attachable-plugins", tag = "bindings",
    params(InstancePath, ApiPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("env_id" = Option<String>, Query), ("plugin_name" = Option<String>, Query), ("plugin_type" = Option<String>, Query), ("plugin_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn api_attachable_plugins(
    Call { state, scope }: Call,
    Path(ApiPath { api_id }): Path<ApiPath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let env_id = q.text("env_id", 64)?;
    let (plugin_name, plugin_id) = (q.text("plugin_name", 255)?, q.text("plugin_id", 64)?);
    let plugin_type = q.text("plugin_type", 32)?;
    crate::apis::find(&state, &scope.instance_id, &api_id).await?;
    if let Some(e) = &env_id {
        Context::load(&state, &scope.instance_id)
            .await?
            .require_env(e)?;
    }
    let bindings = state.store.list_bindings(&scope.instance_id).await?;
    let filter = apigw_store::PluginFilter::default();
    let page_all = apigw_model::page::Page {
        offset: 0,
        limit: u64::MAX,
    };
    let (_, plugins) = state
        .store
        .list_plugins(&scope.instance_id, &filter, page_all)
        .await?;
    let items: Vec<PluginInfo> = plugins
        .iter()
        .filter(|pl| {
            !bindings
                .iter()
                .any(|b| b.plugin_id == pl.id && b.api_id == api_id && eq(&env_id, &b.env_id))
        })
        .filter(|pl| {
            contains(&plugin_name, &pl.name)
                && eq(&plugin_id, &pl.id)
                && eq(&plugin_type, pl.plugin_type.as_str())
        })
        .map(|pl| PluginInfo::new(pl, scope.family))
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "plugins": page}),
    ))
}
