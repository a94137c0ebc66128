//! Access control policies (`CreateAclStrategyV2` and the five calls beside it) and their
//! bindings to published APIs (`CreateApiAclBindingV2` and the five calls beside it). Rules
//! (SPEC §10, `otc-guide/access_control.rst`): a policy binds to publications (an API in an
//! environment); an API takes one policy of each kind (IP, account) per environment, a second
//! is refused; a bound policy cannot be deleted (403 APIG.3447).

use crate::apis::def_map;
use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{AclBindingPath, AclPath, Path};
use crate::policy_bindings::{
    self as shared, require_delete_action, BoundFilter, PolicyKind, MAX_IDS,
};
use crate::AppState;
use apigw_model::acl::{self, Acl, AclBinding, AclType, EntityType};
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

/// Access control policies as a kind of policy bound to publications: an API takes one of
/// each kind (IP, account) per environment.
pub(crate) struct Acls;

impl PolicyKind for Acls {
    type Policy = Acl;
    type Binding = AclBinding;
    const POLICY: Resource = Resource::Acl;
    const BINDING: Resource = Resource::AclBinding;
    const BIND_FIELD: &'static str = "acl_id";
    const ID_PARAM: &'static str = "acl_id";
    const BATCH_FIELD: &'static str = "acl_bindings";
    const LOG_NAME: &'static str = "access control bindings";
    fn id(a: &Acl) -> &str {
        &a.id
    }
    fn name(a: &Acl) -> &str {
        &a.name
    }
    fn rivals(a: &Acl, b: &AclBinding) -> bool {
        b.kind == a.entity_type.kind()
    }
    shared::store_calls!(get_acl, list_acls, bind_acl, list_acl_bindings, unbind_acl);
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/acls", get(list).post(create).put(batch_delete))
        .route("/acls/{acl_id}", get(show).put(update).delete(delete_one))
        .route("/acl-bindings", axum::routing::post(bind).put(batch_unbind))
        .route("/acl-bindings/{acl_bindings_id}", delete(unbind))
        .route("/acl-bindings/binded-acls", get(bound_to_api))
        .route("/acl-bindings/binded-apis", get(apis_bound))
        .route("/acl-bindings/unbinded-apis", get(apis_not_bound))
}

/// `ApiAclInfo`.
fn info(a: &Acl) -> Value {
    json!({"id": a.id, "acl_name": a.name, "acl_type": a.acl_type.as_str(),
           "entity_type": a.entity_type.as_str(), "acl_value": a.value,
           "update_time": time::format_millis(a.update_time)})
}

/// Reads and checks a create or modify body.
pub(crate) fn parse(bytes: &[u8]) -> Result<(String, AclType, EntityType, String), ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let name = f.string("acl_name");
    let acl_type = f.enumerated::<AclType>("acl_type", "must be PERMIT or DENY");
    let entity_type = f.enumerated::<EntityType>("entity_type", "must be IP, DOMAIN or DOMAIN_ID");
    let value = f.string("acl_value");
    if !f.errs.0.iter().any(|e| e.field == "acl_name") {
        acl::check_name(&mut f.errs, &name, "acl_name");
    }
    if let Some(e) = entity_type {
        if !f.errs.0.iter().any(|e| e.field == "acl_value") {
            acl::check_value(&mut f.errs, e, &value, "acl_value");
        }
    }
    f.finish()?;
    match (acl_type, entity_type) {
        (Some(t), Some(e)) => Ok((name, t, e, value)),
        _ => Err(ApiError::Internal("checked fields missing".into())),
    }
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/acls", tag = "acls",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, acl_type, entity_type, value) = parse(&bytes)?;
    let a = Acl {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        name,
        acl_type,
        entity_type,
        value,
        update_time: time::now_millis(),
    };
    state.store.create_acl(&a).await?;
    tracing::info!(acl_id = %a.id, "access control policy created");
    Ok((StatusCode::CREATED, Json(info(&a))))
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/acls/{acl_id}", tag = "acls",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, AclPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(AclPath { acl_id }): Path<AclPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (name, acl_type, entity_type, value) = parse(&bytes)?;
    let old = find(&state, &scope.instance_id, &acl_id).await?;
    let a = Acl {
        name,
        acl_type,
        entity_type,
        value,
        update_time: time::now_millis(),
        ..old
    };
    state
        .store
        .update_acl(&a)
        .await
        .map_err(ApiError::store(Resource::Acl, &acl_id))?;
    Ok(Json(info(&a)))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/acls/{acl_id}", tag = "acls",
    params(InstancePath, AclPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_one(
    Call { state, scope }: Call,
    Path(AclPath { acl_id }): Path<AclPath>,
) -> Result<StatusCode, ApiError> {
    let result = state.store.delete_acl(&scope.instance_id, &acl_id).await;
    deleted(result, Resource::Acl, &acl_id)
}

/// `BatchDeleteAclV2`: `PUT /acls?action=delete` {acls}; each policy on its own, failures
/// listed (a bound one with APIG.3447).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/acls", tag = "acls",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ("action" = String, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn batch_delete(
    Call { state, scope }: Call,
    uri: Uri,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    require_delete_action(&Query::parse(uri.query()))?;
    let mut f = Fields::new(body::object(&bytes)?);
    let ids = f.opt_ids("acls", MAX_IDS);
    f.finish()?;
    let (mut success, mut failure) = (0, Vec::new());
    for acl_id in &ids {
        let name = state
            .store
            .get_acl(&scope.instance_id, acl_id)
            .await?
            .map(|a| a.name)
            .unwrap_or_default();
        match state.store.delete_acl(&scope.instance_id, acl_id).await {
            Ok(()) => success += 1,
            Err(e) => {
                let (_, code, msg) = ApiError::store(Resource::Acl, acl_id)(e).parts();
                failure.push(json!({"acl_id": acl_id, "acl_name": name,
                                    "error_code": code, "error_msg": msg}));
            }
        }
    }
    tracing::info!(
        deleted = success,
        failed = failure.len(),
        "access control policies deleted"
    );
    Ok(Json(json!({"success_count": success, "failure": failure})))
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/acls/{acl_id}", tag = "acls",
    params(InstancePath, AclPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(AclPath { acl_id }): Path<AclPath>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(info(
        &find(&state, &scope.instance_id, &acl_id).await?,
    )))
}

/// Filters: `id`, `name` (substring; exact with `precise_search=name`), `acl_type`,
/// `entity_type`. Each item has `bind_num`, the number of APIs it is bound to.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/acls", tag = "acls",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("id" = Option<String>, Query), ("name" = Option<String>, Query), ("acl_type" = Option<String>, Query), ("entity_type" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let id = q.text("id", 64)?;
    let name = q.text("name", 64)?;
    let acl_type = q.text("acl_type", 16)?;
    let entity_type = q.text("entity_type", 16)?;
    let exact = q.get("precise_search") == Some("name");
    let bindings = state.store.list_acl_bindings(&scope.instance_id).await?;
    let found: Vec<Acl> = state
        .store
        .list_acls(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|a| {
            eq(&id, &a.id)
                && eq(&acl_type, a.acl_type.as_str())
                && eq(&entity_type, a.entity_type.as_str())
                && if exact {
                    eq(&name, &a.name)
                } else {
                    contains(&name, &a.name)
                }
        })
        .collect();
    let (total, page) = paginate(found, &q)?;
    let items: Vec<Value> = page
        .iter()
        .map(|a| {
            let mut v = info(a);
            v["bind_num"] = json!(bindings.iter().filter(|b| b.acl_id == a.id).count());
            v
        })
        .collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "acls": items}),
    ))
}

async fn find(state: &AppState, instance_id: &str, id: &str) -> Result<Acl, ApiError> {
    shared::find::<Acls>(state, instance_id, id).await
}

/// `AclApiBindingInfo`.
fn binding_info(b: &AclBinding) -> Value {
    json!({"id": b.id, "api_id": b.api_id, "env_id": b.env_id, "acl_id": b.acl_id,
           "create_time": time::format_millis(b.create_time)})
}

/// `CreateApiAclBindingV2`: `POST /acl-bindings` {acl_id, publish_ids}, all or nothing.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/acl-bindings", tag = "acls",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn bind(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (acl_id, _, made) = shared::bind::<Acls>(&state, &scope.instance_id, &bytes).await?;
    tracing::info!(%acl_id, bindings = made.len(), "access control policy bound");
    let items: Vec<Value> = made.iter().map(binding_info).collect();
    Ok((StatusCode::CREATED, Json(json!({"acl_bindings": items}))))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/acl-bindings/{acl_bindings_id}", tag = "acls",
    params(InstancePath, AclBindingPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn unbind(
    Call { state, scope }: Call,
    Path(AclBindingPath { acl_bindings_id }): Path<AclBindingPath>,
) -> Result<StatusCode, ApiError> {
    shared::unbind::<Acls>(&state, &scope.instance_id, &acl_bindings_id).await
}

/// `BatchDeleteApiAclBindingV2`: `PUT /acl-bindings?action=delete` {acl_bindings}; each on its
/// own, failures listed (an unknown one with APIG.3010).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/acl-bindings", tag = "acls",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ("action" = String, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn batch_unbind(
    Call { state, scope }: Call,
    uri: Uri,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    shared::batch_unbind::<Acls>(&state, &scope.instance_id, &uri, &bytes).await
}

/// `ListAclPolicyBindedToApiV2`: the policies bound to `api_id` (mandatory); filters
/// `env_id`, `env_name`, `acl_id`, `acl_name` (substring).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/acl-bindings/binded-acls", tag = "acls",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("api_id" = String, Query), ("env_id" = Option<String>, Query), ("env_name" = Option<String>, Query), ("acl_id" = Option<String>, Query), ("acl_name" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn bound_to_api(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let filter = BoundFilter {
        api_id: q.required("api_id", 64)?,
        env_id: q.text("env_id", 64)?,
        env_name: q.text("env_name", 64)?,
        policy_id: q.text("acl_id", 64)?,
        policy_name: q.text("acl_name", 64)?,
    };
    shared::bound_to_api::<Acls>(&state, &scope.instance_id, &q, filter, "acls", |l, a, b| {
        json!({"acl_id": a.id, "acl_name": a.name, "entity_type": a.entity_type.as_str(),
               "acl_type": a.acl_type.as_str(), "acl_value": a.value,
               "env_id": b.env_id, "env_name": l.ctx.env_name(&b.env_id),
               "bind_id": b.id, "bind_time": time::format_millis(b.create_time)})
    })
    .await
}

/// `ListApisBindedToAclPolicyV2`: the APIs `acl_id` (mandatory) is bound to.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/acl-bindings/binded-apis", tag = "acls",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("acl_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("env_id" = Option<String>, Query), ("group_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn apis_bound(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    shared::apis_bound::<Acls>(&state, &scope.instance_id, &uri, |l, _, a, b| {
        let d = def_map(a);
        json!({"api_id": a.id, "api_name": a.name,
               "api_type": d.get("type").cloned().unwrap_or(json!(1)),
               "api_remark": d.get("remark").cloned().unwrap_or(json!("")),
               "env_id": b.env_id, "env_name": l.ctx.env_name(&b.env_id), "bind_id": b.id,
               "group_name": l.ctx.group_name(&a.group_id),
               "bind_time": time::format_millis(b.create_time),
               "publish_id": l.ctx.publication(&a.id, &b.env_id).map(|p| p.publish_id.as_str()).unwrap_or(""),
               "req_method": d.get("req_method")})
    })
    .await
}

/// `ListApisUnbindedToAclPolicyV2`: the publications `acl_id` (mandatory) is not bound to;
/// `acl_name` names the policy of the same kind the API has there, if any.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/acl-bindings/unbinded-apis", tag = "acls",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("acl_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("env_id" = Option<String>, Query), ("group_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn apis_not_bound(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    shared::apis_not_bound::<Acls>(&state, &scope.instance_id, &uri, |l, a, p, same_kind| {
        let d = def_map(a);
        let same_kind = same_kind
            .and_then(|b| l.policy(&b.acl_id))
            .map(|x| x.name.as_str())
            .unwrap_or("");
        json!({"id": a.id, "name": a.name, "group_id": a.group_id,
               "group_name": l.ctx.group_name(&a.group_id),
               "type": d.get("type").cloned().unwrap_or(json!(1)),
               "remark": d.get("remark").cloned().unwrap_or(json!("")),
               "run_env_name": l.ctx.env_name(&p.env_id), "run_env_id": p.env_id,
               "publish_id": p.publish_id, "acl_name": same_kind,
               "req_uri": d.get("req_uri"), "auth_type": d.get("auth_type"),
               "req_method": d.get("req_method")})
    })
    .await
}
