//! Environment variables (`CreateEnvironmentVariableV2` and the four calls beside it): a value
//! per API group and environment, which a backend's `url_domain` and `req_uri` take through
//! `#Name#` in the environment a call is served in (`apigw_model::variables`).

use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, found, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{Path, VariablePath};
use crate::AppState;
use apigw_model::variables::{self, EnvVariable, MAX_PER_GROUP_AND_ENV};
use apigw_model::{id, time};
use apigw_store::{Resource, StoreError};
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/env-variables", post(create).get(list))
        .route(
            "/env-variables/{env_variable_id}",
            get(show).put(update).delete(delete),
        )
}

/// `EnvVariableInfo`.
fn info(v: &EnvVariable) -> Value {
    json!({"id": v.id, "group_id": v.group_id, "env_id": v.env_id,
           "variable_name": v.name, "variable_value": v.value})
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/env-variables", tag = "env-variables",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let group_id = f.string("group_id");
    let env_id = f.string("env_id");
    let name = f.string("variable_name");
    let value = f.string("variable_value");
    f.errs.len(&group_id, 1, 65, "group_id");
    f.errs.len(&env_id, 1, 65, "env_id");
    variables::check_name(&mut f.errs, &name, "variable_name");
    variables::check_value(&mut f.errs, &value, "variable_value");
    f.finish()?;
    let v = EnvVariable {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        group_id,
        env_id,
        name,
        value,
        create_time: time::now_millis(),
    };
    match state
        .store
        .create_variable(&v, Some(MAX_PER_GROUP_AND_ENV))
        .await
    {
        Ok(()) => Ok((StatusCode::CREATED, Json(info(&v)))),
        Err(StoreError::Quota(max)) => Err(ApiError::Coded(
            StatusCode::FORBIDDEN,
            "APIG.3106",
            format!("The number of variables exceeds the maximum allowed limit.: at most {max} per group and environment"),
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/env-variables/{env_variable_id}", tag = "env-variables",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, VariablePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(VariablePath { env_variable_id }): Path<VariablePath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let value = f.string("variable_value");
    variables::check_value(&mut f.errs, &value, "variable_value");
    f.finish()?;
    let old = find(&state, &scope.instance_id, &env_variable_id).await?;
    let v = EnvVariable { value, ..old };
    state
        .store
        .update_variable(&v)
        .await
        .map_err(ApiError::store(Resource::EnvVariable, &env_variable_id))?;
    Ok(Json(info(&v)))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/env-variables/{env_variable_id}", tag = "env-variables",
    params(InstancePath, VariablePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete(
    Call { state, scope }: Call,
    Path(VariablePath { env_variable_id }): Path<VariablePath>,
) -> Result<StatusCode, ApiError> {
    let result = state
        .store
        .delete_variable(&scope.instance_id, &env_variable_id)
        .await;
    deleted(result, Resource::EnvVariable, &env_variable_id)
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/env-variables/{env_variable_id}", tag = "env-variables",
    params(InstancePath, VariablePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(VariablePath { env_variable_id }): Path<VariablePath>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(info(
        &find(&state, &scope.instance_id, &env_variable_id).await?,
    )))
}

/// Filters: `group_id` (required, as on APIG), `env_id`, `variable_name` (substring; exact
/// with `precise_search=variable_name`).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/env-variables", tag = "env-variables",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("group_id" = String, Query), ("env_id" = Option<String>, Query), ("variable_name" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let group_id = q.required("group_id", 65)?;
    let env_id = q.text("env_id", 65)?;
    let name = q.text("variable_name", 32)?;
    let exact = q.get("precise_search") == Some("variable_name");
    let found: Vec<EnvVariable> = state
        .store
        .list_variables(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|v| {
            v.group_id == group_id
                && eq(&env_id, &v.env_id)
                && if exact {
                    eq(&name, &v.name)
                } else {
                    contains(&name, &v.name)
                }
        })
        .collect();
    let (total, page) = paginate(found, &q)?;
    let items: Vec<Value> = page.iter().map(info).collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "variables": items}),
    ))
}

async fn find(state: &AppState, instance_id: &str, id: &str) -> Result<EnvVariable, ApiError> {
    found(
        state.store.get_variable(instance_id, id).await,
        Resource::EnvVariable,
        id,
    )
}
