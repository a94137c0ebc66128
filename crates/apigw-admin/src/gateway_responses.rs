//! Gateway responses (`CreateGatewayResponseV2` and the seven calls beside it): named
//! response sets of an API group, at most four, one of them the group's default. The default
//! set is created on first use (the first call to any of these routes for the group), is
//! called `default`, and can be neither renamed (APIG.3492) nor deleted (APIG.3491). A set
//! stores only its customised error types (`apigw_model::gateway_response`).

use crate::auth::Call;
use crate::body::{self, paginate, Fields, Query};
use crate::error::ApiError;
use crate::openapi::{Errors, InstancePath};
use crate::path::{GroupPath, Path, ResponsePath, ResponseTypePath};
use crate::AppState;
use apigw_model::gateway_response::{self as gr, GatewayResponse, ResponseInfo};
use apigw_model::{field, id, time};
use apigw_store::{Resource, StoreError};
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api-groups/{group_id}/gateway-responses",
            post(create).get(list),
        )
        .route(
            "/api-groups/{group_id}/gateway-responses/{response_id}",
            get(show).put(update).delete(delete),
        )
        .route(
            "/api-groups/{group_id}/gateway-responses/{response_id}/{response_type}",
            get(show_type).put(update_type).delete(delete_type),
        )
}

/// `ResponsesInfo` of the list: the set without its responses.
fn summary(r: &GatewayResponse) -> Value {
    json!({"id": r.id, "name": r.name, "default": r.is_default,
           "create_time": time::format_millis(r.create_time),
           "update_time": time::format_millis(r.update_time)})
}

/// The set with every error type.
fn info(r: &GatewayResponse) -> Value {
    let mut v = summary(r);
    v["responses"] = gr::view_all(&gr::decode(&r.responses));
    v
}

/// The sets of the group, its default first created if it has none.
async fn sets(
    state: &AppState,
    instance_id: &str,
    group_id: &str,
) -> Result<Vec<GatewayResponse>, ApiError> {
    crate::groups::find(state, instance_id, group_id).await?;
    let of_group = |all: Vec<GatewayResponse>| -> Vec<GatewayResponse> {
        all.into_iter().filter(|r| r.group_id == group_id).collect()
    };
    let mine = of_group(state.store.list_gateway_responses(instance_id).await?);
    if mine.iter().any(|r| r.is_default) {
        return Ok(mine);
    }
    let now = time::now_millis();
    let default = GatewayResponse {
        id: id::new_id(),
        instance_id: instance_id.to_string(),
        group_id: group_id.to_string(),
        name: gr::DEFAULT_NAME.to_string(),
        is_default: true,
        responses: "{}".into(),
        create_time: now,
        update_time: now,
    };
    match state.store.create_gateway_response(&default, None).await {
        // Another call created it at the same time.
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(of_group(
        state.store.list_gateway_responses(instance_id).await?,
    ))
}

/// One set of the group (404 APIG.3007 when the group has no such set).
async fn find(
    state: &AppState,
    instance_id: &str,
    group_id: &str,
    response_id: &str,
) -> Result<GatewayResponse, ApiError> {
    sets(state, instance_id, group_id)
        .await?
        .into_iter()
        .find(|r| r.id == response_id)
        .ok_or_else(|| ApiError::missing(Resource::GatewayResponse, response_id))
}

/// The error type of a per-type path (400 APIG.2012 naming `response_type`).
fn error_type(t: &str) -> Result<&str, ApiError> {
    if gr::is_type(t) {
        Ok(t)
    } else {
        Err(ApiError::invalid(
            "response_type",
            "is not an error type of Table 1 (THROTTLED, NOT_FOUND, ...)",
        ))
    }
}

fn quota(e: StoreError) -> ApiError {
    match e {
        StoreError::Quota(max) => ApiError::Coded(
            StatusCode::FORBIDDEN,
            "APIG.3136",
            format!("The number of responses exceeds the maximum allowed limit.: at most {max} per group"),
        ),
        other => other.into(),
    }
}

/// `name` and `responses` of a create or modify body.
fn parse_set(
    bytes: &[u8],
) -> Result<(String, std::collections::BTreeMap<String, ResponseInfo>), ApiError> {
    let mut map = body::object(bytes)?;
    let responses = map.remove("responses").unwrap_or(Value::Null);
    let mut f = Fields::new(map);
    let before = f.errs.0.len();
    let name = f.string("name");
    if f.errs.0.len() == before {
        gr::check_name(&mut f.errs, &name, "name");
    }
    let responses = gr::parse_responses(&mut f.errs, &responses);
    f.finish()?;
    Ok((name, responses))
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses", tag = "gateway-responses",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, GroupPath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    Path(GroupPath { group_id }): Path<GroupPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, responses) = parse_set(&bytes)?;
    sets(&state, &scope.instance_id, &group_id).await?;
    let now = time::now_millis();
    let r = GatewayResponse {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        group_id,
        name,
        is_default: false,
        responses: gr::encode(&responses),
        create_time: now,
        update_time: now,
    };
    state
        .store
        .create_gateway_response(&r, Some(gr::MAX_PER_GROUP))
        .await
        .map_err(quota)?;
    Ok((StatusCode::CREATED, Json(info(&r))))
}

/// The types given replace their customisation; the others keep theirs.
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses/{response_id}", tag = "gateway-responses",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ResponsePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(ResponsePath {
        group_id,
        response_id,
    }): Path<ResponsePath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (name, responses) = parse_set(&bytes)?;
    let old = find(&state, &scope.instance_id, &group_id, &response_id).await?;
    if old.is_default && name != old.name {
        return Err(ApiError::Coded(
            StatusCode::CONFLICT,
            "APIG.3492",
            "The default response name cannot be modified.".into(),
        ));
    }
    let mut custom = gr::decode(&old.responses);
    custom.extend(responses);
    let r = GatewayResponse {
        name,
        responses: gr::encode(&custom),
        update_time: time::now_millis().max(old.update_time),
        ..old
    };
    save(&state, &r).await?;
    Ok(Json(info(&r)))
}

async fn save(state: &AppState, r: &GatewayResponse) -> Result<(), ApiError> {
    state
        .store
        .update_gateway_response(r)
        .await
        .map_err(ApiError::store(Resource::GatewayResponse, &r.id))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses/{response_id}", tag = "gateway-responses",
    params(InstancePath, ResponsePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete(
    Call { state, scope }: Call,
    Path(ResponsePath {
        group_id,
        response_id,
    }): Path<ResponsePath>,
) -> Result<StatusCode, ApiError> {
    let r = find(&state, &scope.instance_id, &group_id, &response_id).await?;
    if r.is_default {
        return Err(ApiError::Coded(
            StatusCode::CONFLICT,
            "APIG.3491",
            "The default response cannot be deleted.".into(),
        ));
    }
    state
        .store
        .delete_gateway_response(&scope.instance_id, &response_id)
        .await
        .map_err(ApiError::store(Resource::GatewayResponse, &response_id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses/{response_id}", tag = "gateway-responses",
    params(InstancePath, ResponsePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(ResponsePath {
        group_id,
        response_id,
    }): Path<ResponsePath>,
) -> Result<Json<Value>, ApiError> {
    let r = find(&state, &scope.instance_id, &group_id, &response_id).await?;
    Ok(Json(info(&r)))
}

/// The group's sets, oldest (the default) first.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses", tag = "gateway-responses",
    params(InstancePath, GroupPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(
    Call { state, scope }: Call,
    Path(GroupPath { group_id }): Path<GroupPath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let all = sets(&state, &scope.instance_id, &group_id).await?;
    let (total, page) = paginate(all, &q)?;
    let items: Vec<Value> = page.iter().map(summary).collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "responses": items}),
    ))
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses/{response_id}/{response_type}", tag = "gateway-responses",
    params(InstancePath, ResponseTypePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show_type(
    Call { state, scope }: Call,
    Path(p): Path<ResponseTypePath>,
) -> Result<Json<Value>, ApiError> {
    let t = error_type(&p.response_type)?;
    let r = find(&state, &scope.instance_id, &p.group_id, &p.response_id).await?;
    let custom = gr::decode(&r.responses);
    Ok(Json(json!({ t: gr::view(t, custom.get(t)) })))
}

/// Replaces the type's customisation with the body (`status`, `body`, `headers`).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses/{response_id}/{response_type}", tag = "gateway-responses",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ResponseTypePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update_type(
    Call { state, scope }: Call,
    Path(p): Path<ResponseTypePath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let t = error_type(&p.response_type)?;
    let body = Value::Object(body::object(&bytes)?);
    let mut errs = field::Errors::default();
    let info = gr::parse_info(&mut errs, &body, "");
    errs.into_result().map_err(ApiError::Invalid)?;
    let old = find(&state, &scope.instance_id, &p.group_id, &p.response_id).await?;
    let mut custom = gr::decode(&old.responses);
    custom.insert(t.to_string(), info);
    let r = GatewayResponse {
        responses: gr::encode(&custom),
        update_time: time::now_millis().max(old.update_time),
        ..old
    };
    save(&state, &r).await?;
    Ok(Json(json!({ t: gr::view(t, custom.get(t)) })))
}

/// Resets the type to its default.
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/gateway-responses/{response_id}/{response_type}", tag = "gateway-responses",
    params(InstancePath, ResponseTypePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_type(
    Call { state, scope }: Call,
    Path(p): Path<ResponseTypePath>,
) -> Result<StatusCode, ApiError> {
    let t = error_type(&p.response_type)?;
    let old = find(&state, &scope.instance_id, &p.group_id, &p.response_id).await?;
    let mut custom = gr::decode(&old.responses);
    if custom.remove(t).is_some() {
        let r = GatewayResponse {
            responses: gr::encode(&custom),
            update_time: time::now_millis().max(old.update_time),
            ..old
        };
        save(&state, &r).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
