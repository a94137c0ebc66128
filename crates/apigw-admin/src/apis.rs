//! APIs (`ApiCreate` / `ApiInfo`) and publishing them to environments (`POST /apis/action`,
//! `POST /apis/publish`). Taking an API offline keeps its plug-in bindings; deleting an API
//! removes its publications, bindings and app authorisations.

use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, found, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{ApiPath, Path};
use crate::AppState;
use apigw_model::api::ApiDef;
use apigw_model::resources::{Api, Env, Group, Publication};
use apigw_model::{id, time, variables};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/apis", post(create).get(list))
        .route("/apis/action", post(action))
        .route("/apis/publish", post(batch_publish))
        .route("/apis/{api_id}", get(show).put(update).delete(delete))
}

/// The instance's groups and environments, and the publications of all its APIs or of those an
/// answer is about, for building answers.
pub(crate) struct Context {
    pub(crate) groups: Vec<Group>,
    pub(crate) envs: Vec<Env>,
    pub(crate) publications: Vec<Publication>,
}

impl Context {
    pub(crate) async fn load(state: &AppState, instance_id: &str) -> Result<Self, ApiError> {
        Ok(Self {
            groups: state.store.list_groups(instance_id).await?,
            envs: state.store.list_envs(instance_id).await?,
            publications: state.store.list_publications(instance_id).await?,
        })
    }

    /// [`Self::load`] with the publications of the APIs `api_ids` only (an answer about a few
    /// APIs costs what they are, not what the instance holds).
    pub(crate) async fn load_for(
        state: &AppState,
        instance_id: &str,
        api_ids: &[String],
    ) -> Result<Self, ApiError> {
        let store = &state.store;
        Ok(Self {
            groups: store.list_groups(instance_id).await?,
            envs: store.list_envs(instance_id).await?,
            publications: store.list_publications_of(instance_id, api_ids).await?,
        })
    }

    pub(crate) fn group_name(&self, id: &str) -> &str {
        self.groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.as_str())
            .unwrap_or("")
    }

    pub(crate) fn env_name(&self, id: &str) -> &str {
        self.envs
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.name.as_str())
            .unwrap_or("")
    }

    pub(crate) fn publication(&self, api_id: &str, env_id: &str) -> Option<&Publication> {
        self.publications
            .iter()
            .find(|p| p.api_id == api_id && p.env_id == env_id)
    }

    pub(crate) fn require_env(&self, env_id: &str) -> Result<&Env, ApiError> {
        self.envs
            .iter()
            .find(|e| e.id == env_id)
            .ok_or_else(|| ApiError::missing(Resource::Env, env_id))
    }
}

/// The stored definition as a JSON object.
pub(crate) fn def_map(api: &Api) -> Map<String, Value> {
    match serde_json::from_str(&api.def) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// `ApiInfo`: the definition plus what apigw knows about the API. `env_id` picks the
/// publication shown as `run_env_*` (else the newest).
pub(crate) fn info(api: &Api, ctx: &Context, env_id: Option<&str>) -> Value {
    let mut m = def_map(api);
    let publication = match env_id {
        Some(e) => ctx.publication(&api.id, e),
        None => ctx
            .publications
            .iter()
            .filter(|p| p.api_id == api.id)
            .max_by_key(|p| p.publish_time),
    };
    let (run_env_id, run_env_name, publish_id, publish_time) = match publication {
        Some(p) => (
            p.env_id.as_str(),
            ctx.env_name(&p.env_id),
            p.publish_id.as_str(),
            time::format_millis(p.publish_time),
        ),
        None => ("", "", "", String::new()),
    };
    let extra = json!({
        "id": api.id, "status": 1, "arrange_necessary": 2,
        "register_time": time::format_millis(api.register_time),
        "update_time": time::format_millis(api.update_time),
        "group_name": ctx.group_name(&api.group_id), "group_version": "V1",
        "run_env_id": run_env_id, "run_env_name": run_env_name,
        "publish_id": publish_id, "publish_time": publish_time, "roma_app_name": "",
    });
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

fn parse(bytes: &[u8]) -> Result<ApiDef, ApiError> {
    let map = body::object(bytes)?;
    ApiDef::from_json(Value::Object(map)).map_err(ApiError::Invalid)
}

/// `response_id`, when given, must name a gateway response set of the API's group (400
/// APIG.2012 naming it). Without one the group's default set applies.
async fn check_response_id(
    state: &AppState,
    instance_id: &str,
    def: &ApiDef,
) -> Result<(), ApiError> {
    let id = match def.extra.get("response_id") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) if s.is_empty() => return Ok(()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::invalid("response_id", "must be a string")),
    };
    let known = state
        .store
        .list_gateway_responses(instance_id)
        .await?
        .iter()
        .any(|r| &r.id == id && r.group_id == def.group_id);
    if known {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "response_id",
            format!("the gateway response {id} does not exist in the API's group"),
        ))
    }
}

pub(crate) async fn find(
    state: &AppState,
    instance_id: &str,
    api_id: &str,
) -> Result<Api, ApiError> {
    found(
        state.store.get_api(instance_id, api_id).await,
        Resource::Api,
        api_id,
    )
}

fn row(def: &ApiDef, id: String, instance_id: &str, register_time: i64, now: i64) -> Api {
    Api {
        id,
        instance_id: instance_id.to_string(),
        group_id: def.group_id.clone(),
        name: def.name.clone(),
        route_key: def.route_key(),
        def: serde_json::to_string(def).expect("definitions serialize"),
        register_time,
        update_time: now,
    }
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis", tag = "apis",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let def = parse(&bytes)?;
    check_response_id(&state, &scope.instance_id, &def).await?;
    let now = time::now_millis();
    let api = row(&def, id::new_id(), &scope.instance_id, now, now);
    state.store.create_api(&api).await?;
    let ctx = Context::load_for(&state, &scope.instance_id, std::slice::from_ref(&api.id)).await?;
    Ok((StatusCode::CREATED, Json(info(&api, &ctx, None))))
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/{api_id}", tag = "apis",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ApiPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(ApiPath { api_id }): Path<ApiPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let def = parse(&bytes)?;
    check_response_id(&state, &scope.instance_id, &def).await?;
    let old = find(&state, &scope.instance_id, &api_id).await?;
    let api = row(
        &def,
        api_id.clone(),
        &scope.instance_id,
        old.register_time,
        time::now_millis().max(old.update_time),
    );
    state
        .store
        .update_api(&api)
        .await
        .map_err(ApiError::store(Resource::Api, &api_id))?;
    let ctx = Context::load_for(&state, &scope.instance_id, std::slice::from_ref(&api.id)).await?;
    Ok(Json(info(&api, &ctx, None)))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/{api_id}", tag = "apis",
    params(InstancePath, ApiPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete(
    Call { state, scope }: Call,
    Path(ApiPath { api_id }): Path<ApiPath>,
) -> Result<StatusCode, ApiError> {
    let result = state.store.delete_api(&scope.instance_id, &api_id).await;
    deleted(result, Resource::Api, &api_id)
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/{api_id}", tag = "apis",
    params(InstancePath, ApiPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(ApiPath { api_id }): Path<ApiPath>,
) -> Result<Json<Value>, ApiError> {
    let api = find(&state, &scope.instance_id, &api_id).await?;
    let ctx = Context::load_for(&state, &scope.instance_id, std::slice::from_ref(&api.id)).await?;
    Ok(Json(info(&api, &ctx, None)))
}

/// Filters: `id`, `name` (substring; exact with `precise_search=name`), `group_id`,
/// `req_protocol`, `req_method`, `req_uri` (substring), `auth_type`, `type`, `env_id`
/// (published there).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis", tag = "apis",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("id" = Option<String>, Query), ("name" = Option<String>, Query), ("group_id" = Option<String>, Query), ("req_protocol" = Option<String>, Query), ("req_method" = Option<String>, Query), ("req_uri" = Option<String>, Query), ("auth_type" = Option<String>, Query), ("env_id" = Option<String>, Query), ("type" = Option<i64>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let ctx = Context::load(&state, &scope.instance_id).await?;
    let [id, name, group_id, proto, method, req_uri, auth, env_id] = [
        "id",
        "name",
        "group_id",
        "req_protocol",
        "req_method",
        "req_uri",
        "auth_type",
        "env_id",
    ]
    .map(|k| q.text(k, 512));
    let (id, name, group_id, proto, method, req_uri, auth, env_id) = (
        id?, name?, group_id?, proto?, method?, req_uri?, auth?, env_id?,
    );
    let api_type = q.int("type")?;
    let exact = q.get("precise_search") == Some("name");
    if let Some(e) = &env_id {
        ctx.require_env(e)?;
    }
    let apis: Vec<Api> = state
        .store
        .list_apis(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|a| {
            let d = def_map(a);
            let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            eq(&id, &a.id)
                && (if exact {
                    eq(&name, &a.name)
                } else {
                    contains(&name, &a.name)
                })
                && eq(&group_id, &a.group_id)
                && eq(&proto, &s("req_protocol"))
                && eq(&method, &s("req_method"))
                && contains(&req_uri, &s("req_uri"))
                && eq(&auth, &s("auth_type"))
                && api_type.is_none_or(|t| d.get("type").and_then(Value::as_i64) == Some(t))
                && env_id
                    .as_deref()
                    .is_none_or(|e| ctx.publication(&a.id, e).is_some())
        })
        .collect();
    let (total, page) = paginate(apis, &q)?;
    let items: Vec<Value> = page
        .iter()
        .map(|a| info(a, &ctx, env_id.as_deref()))
        .collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "apis": items}),
    ))
}

/// A publish record as APIG returns it.
fn record(p: &Publication, api_name: &str) -> Value {
    json!({"publish_id": p.publish_id, "api_id": p.api_id, "api_name": api_name, "env_id": p.env_id,
           "remark": p.remark, "publish_time": time::format_millis(p.publish_time), "version_id": p.publish_id})
}

/// Puts one API online or offline in one environment.
pub(crate) async fn publish_one(
    state: &AppState,
    instance_id: &str,
    online: bool,
    api: &Api,
    env_id: &str,
    remark: &str,
) -> Result<Value, ApiError> {
    if online {
        require_variables(state, instance_id, api, env_id).await?;
        let p = Publication {
            publish_id: id::new_id(),
            instance_id: instance_id.to_string(),
            api_id: api.id.clone(),
            env_id: env_id.to_string(),
            remark: remark.to_string(),
            publish_time: time::now_millis(),
        };
        state.store.publish(&p).await?;
        tracing::info!(api_id = %api.id, %env_id, "API published");
        Ok(record(&p, &api.name))
    } else {
        let p = state
            .store
            .unpublish(instance_id, &api.id, env_id)
            .await
            .map_err(ApiError::store(Resource::Publication, ""))?;
        tracing::info!(api_id = %api.id, %env_id, "API taken offline");
        Ok(record(&p, &api.name))
    }
}

/// 400 naming the first `#Name#` of the API's backend that its group does not define in the
/// environment (the API could not be served there).
async fn require_variables(
    state: &AppState,
    instance_id: &str,
    api: &Api,
    env_id: &str,
) -> Result<(), ApiError> {
    let def: ApiDef =
        serde_json::from_str(&api.def).map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(b) = def.backend_api else {
        return Ok(());
    };
    let used: Vec<(&str, &str)> = [
        ("backend_api.url_domain", b.url_domain.as_str()),
        ("backend_api.req_uri", b.req_uri.as_str()),
    ]
    .into_iter()
    .flat_map(|(field, text)| {
        variables::references(text)
            .into_iter()
            .map(move |n| (field, n))
    })
    .collect();
    if used.is_empty() {
        return Ok(());
    }
    let defined = state.store.list_variables(instance_id).await?;
    for (field, name) in used {
        let known = defined
            .iter()
            .any(|v| v.group_id == api.group_id && v.env_id == env_id && v.name == name);
        if !known {
            return Err(ApiError::invalid(
                field,
                format!("the environment variable {name} (#{name}#) is not defined for the API's group in environment {env_id}"),
            ));
        }
    }
    Ok(())
}

fn parse_action(f: &mut Fields, v: Option<&str>) -> Option<bool> {
    match v {
        Some("online") => Some(true),
        Some("offline") => Some(false),
        _ => {
            f.errs.add("action", "must be online or offline");
            None
        }
    }
}

/// `POST /apis/action` {action, env_id, api_id, remark}.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/action", tag = "apis",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn action(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let action = f.string("action");
    let online = parse_action(&mut f, Some(action.as_str()));
    let env_id = f.string("env_id");
    let api_id = f.string("api_id");
    let remark = f.opt_string("remark").unwrap_or_default();
    f.errs.len(&remark, 0, 255, "remark");
    f.finish()?;
    let ctx = Context::load_for(&state, &scope.instance_id, &[]).await?;
    ctx.require_env(&env_id)?;
    let api = find(&state, &scope.instance_id, &api_id).await?;
    let rec = publish_one(
        &state,
        &scope.instance_id,
        online.unwrap_or(true),
        &api,
        &env_id,
        &remark,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

/// `POST /apis/publish?action=online|offline` {apis, env_id, group_id, remark}: each API on its
/// own; failures are reported per API.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/apis/publish", tag = "apis",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ("action" = Option<String>, Query)),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn batch_publish(
    Call { state, scope }: Call,
    uri: Uri,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let q = Query::parse(uri.query());
    let mut f = Fields::new(body::object(&bytes)?);
    let online = parse_action(&mut f, q.get("action"));
    let api_ids = f.ids("apis", 1000);
    let env_id = f.string("env_id");
    let group_id = f.opt_string("group_id");
    let remark = f.opt_string("remark").unwrap_or_default();
    f.finish()?;
    let ctx = Context::load_for(&state, &scope.instance_id, &[]).await?;
    ctx.require_env(&env_id)?;
    let apis = state
        .store
        .list_apis_of(&scope.instance_id, &api_ids)
        .await?;
    let (mut success, mut failure) = (Vec::new(), Vec::new());
    for api_id in api_ids {
        let api = apis
            .iter()
            .find(|a| a.id == api_id && group_id.as_deref().is_none_or(|g| g == a.group_id));
        let result = match api {
            Some(api) => {
                publish_one(
                    &state,
                    &scope.instance_id,
                    online.unwrap_or(true),
                    api,
                    &env_id,
                    &remark,
                )
                .await
            }
            None => Err(ApiError::missing(Resource::Api, &api_id)),
        };
        match result {
            Ok(rec) => success.push(rec),
            Err(e) => {
                let (_, code, msg) = e.parts();
                let name = api.map(|a| a.name.as_str()).unwrap_or("");
                failure.push(json!({"api_id": api_id, "api_name": name, "error_code": code, "error_msg": msg}));
            }
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": success, "failure": failure})),
    ))
}
