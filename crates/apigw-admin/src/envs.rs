//! Environments (`EnvCreate`, `EnvInfo`). `RELEASE` (id `DEFAULT_ENVIRONMENT_RELEASE_ID`) is
//! built in and cannot be changed or deleted.

use crate::auth::Call;
use crate::body::{self, contains, paginate, Fields, Query};
use crate::error::{deleted, found, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{EnvPath, Path};
use crate::AppState;
use apigw_model::resources::{Env, RELEASE_ENV_ID};
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/envs", post(create).get(list))
        .route("/envs/{env_id}", put(update).delete(delete))
}

/// `EnvInfo`.
pub(crate) fn info(e: &Env) -> Value {
    json!({"id": e.id, "name": e.name, "remark": e.remark, "create_time": time::format_millis(e.create_time)})
}

fn parse(bytes: &[u8]) -> Result<(String, String), ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let (name, remark) = f.name_and_remark();
    f.finish()?;
    Ok((name, remark))
}

fn builtin(env_id: &str) -> Result<(), ApiError> {
    if env_id == RELEASE_ENV_ID {
        Err(ApiError::invalid(
            "env_id",
            "the built-in RELEASE environment cannot be changed or deleted",
        ))
    } else {
        Ok(())
    }
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/envs", tag = "envs",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, remark) = parse(&bytes)?;
    let e = Env {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        name,
        remark,
        create_time: time::now_millis(),
    };
    state.store.create_env(&e).await?;
    Ok((StatusCode::CREATED, Json(info(&e))))
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/envs/{env_id}", tag = "envs",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, EnvPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(EnvPath { env_id }): Path<EnvPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (name, remark) = parse(&bytes)?;
    let old = found(
        state.store.get_env(&scope.instance_id, &env_id).await,
        Resource::Env,
        &env_id,
    )?;
    builtin(&env_id)?;
    let e = Env {
        name,
        remark,
        ..old
    };
    state
        .store
        .update_env(&e)
        .await
        .map_err(ApiError::store(Resource::Env, &env_id))?;
    Ok(Json(info(&e)))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/envs/{env_id}", tag = "envs",
    params(InstancePath, EnvPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete(
    Call { state, scope }: Call,
    Path(EnvPath { env_id }): Path<EnvPath>,
) -> Result<StatusCode, ApiError> {
    builtin(&env_id)?;
    let result = state.store.delete_env(&scope.instance_id, &env_id).await;
    deleted(result, Resource::Env, &env_id)
}

/// Filter: `name` (substring).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/envs", tag = "envs",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("name" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let name = q.text("name", 64)?;
    let envs: Vec<Env> = state
        .store
        .list_envs(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|e| contains(&name, &e.name))
        .collect();
    let (total, page) = paginate(envs, &q)?;
    let items: Vec<Value> = page.iter().map(info).collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "envs": items}),
    ))
}
