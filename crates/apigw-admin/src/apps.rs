//! Apps (`AppCreate` / `AppInfo`) and app authorisation to APIs (`POST /app-auths`). An app's
//! `app_key`/`app_secret` sign APP-authenticated calls on the data plane; rate_limit's
//! `app_limit` and kafka_log's `app_id` refer to it.

use crate::apis::{def_map, Context};
use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, found, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{AppAuthPath, AppPath, Path};
use crate::AppState;
use apigw_model::resources::{App, AppAuth};
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/apps", post(create).get(list))
        .route("/apps/{app_id}", get(show).put(update).delete(remove))
        .route("/app-auths", post(authorize))
        .route("/app-auths/binded-apis", get(bound_apis))
        .route("/app-auths/{app_auth_id}", delete(unauthorize))
}

/// `AppInfo`. The secret is returned, as APIG does: it is the app owner's credential.
fn info(a: &App) -> Value {
    json!({
        "id": a.id, "name": a.name, "remark": a.remark, "creator": "USER", "status": 1,
        "app_key": a.app_key, "app_secret": a.app_secret, "app_type": "apig", "roma_app_type": "",
        "register_time": time::format_millis(a.register_time),
        "update_time": time::format_millis(a.update_time),
    })
}

fn key_ok(s: &str, extra: &str) -> bool {
    (8..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Name, remark, and the key/secret when given.
fn parse(bytes: &[u8]) -> Result<(String, String, Option<String>, Option<String>), ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let (name, remark) = f.name_and_remark();
    let key = f.opt_string("app_key");
    let secret = f.opt_string("app_secret");
    for field in ["related_domain_id", "related_project_id"] {
        let _ = f.opt_string(field);
    }
    if let Some(k) = &key {
        f.errs.check(
            key_ok(k, "_-"),
            "app_key",
            "8..64 letters, digits, '_' or '-'",
        );
    }
    if let Some(s) = &secret {
        f.errs.check(
            key_ok(s, "_-!@#$%+/="),
            "app_secret",
            "8..64 letters, digits or _-!@#$%+/=",
        );
    }
    f.finish()?;
    Ok((name, remark, key, secret))
}

pub(crate) async fn find(
    state: &AppState,
    instance_id: &str,
    app_id: &str,
) -> Result<App, ApiError> {
    found(
        state.store.get_app(instance_id, app_id).await,
        Resource::App,
        app_id,
    )
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/apps", tag = "apps",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, remark, key, secret) = parse(&bytes)?;
    let now = time::now_millis();
    let app = App {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        name,
        remark,
        app_key: key.unwrap_or_else(id::new_id),
        app_secret: secret.unwrap_or_else(|| id::new_secret(16)),
        register_time: now,
        update_time: now,
    };
    state.store.create_app(&app).await?;
    Ok((StatusCode::CREATED, Json(info(&app))))
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/apps/{app_id}", tag = "apps",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, AppPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(AppPath { app_id }): Path<AppPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (name, remark, key, secret) = parse(&bytes)?;
    let old = find(&state, &scope.instance_id, &app_id).await?;
    let app = App {
        name,
        remark,
        app_key: key.unwrap_or(old.app_key.clone()),
        app_secret: secret.unwrap_or(old.app_secret.clone()),
        update_time: time::now_millis().max(old.update_time),
        ..old
    };
    state
        .store
        .update_app(&app)
        .await
        .map_err(ApiError::store(Resource::App, &app_id))?;
    Ok(Json(info(&app)))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/apps/{app_id}", tag = "apps",
    params(InstancePath, AppPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn remove(
    Call { state, scope }: Call,
    Path(AppPath { app_id }): Path<AppPath>,
) -> Result<StatusCode, ApiError> {
    let result = state.store.delete_app(&scope.instance_id, &app_id).await;
    deleted(result, Resource::App, &app_id)
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/apps/{app_id}", tag = "apps",
    params(InstancePath, AppPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(AppPath { app_id }): Path<AppPath>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(info(
        &find(&state, &scope.instance_id, &app_id).await?,
    )))
}

/// Filters: `id`, `name` (substring; exact with `precise_search=name`), `app_key`.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/apps", tag = "apps",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("id" = Option<String>, Query), ("name" = Option<String>, Query), ("app_key" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let (id, name, key) = (
        q.text("id", 64)?,
        q.text("name", 64)?,
        q.text("app_key", 64)?,
    );
    let exact = q.get("precise_search") == Some("name");
    let auths = state.store.list_app_auths(&scope.instance_id).await?;
    let apps: Vec<App> = state
        .store
        .list_apps(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|a| {
            eq(&id, &a.id)
                && eq(&key, &a.app_key)
                && if exact {
                    eq(&name, &a.name)
                } else {
                    contains(&name, &a.name)
                }
        })
        .collect();
    let (total, page) = paginate(apps, &q)?;
    let items: Vec<Value> = page
        .iter()
        .map(|a| {
            let mut v = info(a);
            v["bind_num"] = json!(auths.iter().filter(|x| x.app_id == a.id).count());
            v
        })
        .collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "apps": items}),
    ))
}

/// `POST /app-auths` {env_id, app_ids, api_ids}: every app for every API, all or nothing.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/app-auths", tag = "apps",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn authorize(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let env_id = f.string("env_id");
    let app_ids = f.ids("app_ids", 100);
    let api_ids = f.ids("api_ids", 1000);
    f.finish()?;
    let now = time::now_millis();
    let wanted: Vec<AppAuth> = app_ids
        .iter()
        .flat_map(|app| {
            api_ids.iter().map(|api| AppAuth {
                id: id::new_id(),
                instance_id: scope.instance_id.clone(),
                app_id: app.clone(),
                api_id: api.clone(),
                env_id: env_id.clone(),
                auth_time: now,
            })
        })
        .collect();
    let auths = state.store.authorize(&scope.instance_id, &wanted).await?;
    let items: Vec<Value> = auths
        .iter()
        .map(|a| {
            json!({"id": a.id, "api_id": a.api_id, "app_id": a.app_id, "auth_role": "PROVIDER",
                   "auth_tunnel": "NORMAL", "auth_whitelist": [], "auth_blacklist": [], "visit_params": "",
                   "auth_time": time::format_millis(a.auth_time),
                   "auth_result": {"status": "SUCCESS", "error_msg": "", "error_code": "", "api_name": "", "app_name": ""}})
        })
        .collect();
    Ok((StatusCode::CREATED, Json(json!({"auths": items}))))
}

/// `ListApisBindedToAppV2`: the APIs `app_id` (mandatory; 404 APIG.3004 when there is no such
/// app) is authorised to, one item per authorisation (an API in an environment); filters
/// `api_id`, `api_name` (substring), `group_id`, `group_name` (substring), `env_id`.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/app-auths/binded-apis", tag = "apps",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("app_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("group_id" = Option<String>, Query), ("group_name" = Option<String>, Query), ("env_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn bound_apis(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let app_id = q.required("app_id", 64)?;
    let (api_id, api_name, group_id, group_name, env_id) = (
        q.text("api_id", 64)?,
        q.text("api_name", 64)?,
        q.text("group_id", 64)?,
        q.text("group_name", 64)?,
        q.text("env_id", 64)?,
    );
    let app = find(&state, &scope.instance_id, &app_id).await?;
    let ctx = Context::load(&state, &scope.instance_id).await?;
    let apis = state.store.list_apis(&scope.instance_id).await?;
    let items: Vec<Value> = state
        .store
        .list_app_auths(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|x| x.app_id == app.id && eq(&env_id, &x.env_id))
        .filter_map(|x| apis.iter().find(|a| a.id == x.api_id).map(|a| (x, a)))
        .filter(|(_, a)| {
            eq(&api_id, &a.id)
                && contains(&api_name, &a.name)
                && eq(&group_id, &a.group_id)
                && contains(&group_name, ctx.group_name(&a.group_id))
        })
        .map(|(x, a)| {
            let d = def_map(a);
            json!({"id": x.id, "api_id": a.id, "api_name": a.name,
                   "api_type": d.get("type").cloned().unwrap_or(json!(1)),
                   "api_remark": d.get("remark").cloned().unwrap_or(json!("")),
                   "group_id": a.group_id, "group_name": ctx.group_name(&a.group_id),
                   "env_id": x.env_id, "env_name": ctx.env_name(&x.env_id),
                   "publish_id": ctx.publication(&a.id, &x.env_id).map(|p| p.publish_id.as_str()).unwrap_or(""),
                   "app_id": app.id, "app_name": app.name, "app_remark": app.remark,
                   "app_type": "apig", "app_creator": "USER", "roma_app_type": "",
                   "auth_role": "PROVIDER", "auth_tunnel": "NORMAL", "auth_whitelist": [],
                   "auth_blacklist": [], "visit_param": "",
                   "auth_time": time::format_millis(x.auth_time)})
        })
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "auths": page}),
    ))
}

/// `DELETE /app-auths/{app_auth_id}`: cancels one authorisation.
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/app-auths/{app_auth_id}", tag = "apps",
    params(InstancePath, AppAuthPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn unauthorize(
    Call { state, scope }: Call,
    Path(AppAuthPath { app_auth_id: id }): Path<AppAuthPath>,
) -> Result<StatusCode, ApiError> {
    let result = state.store.delete_app_auth(&scope.instance_id, &id).await;
    deleted(result, Resource::AppAuth, &id)
}
