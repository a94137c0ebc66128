//! Access control policies (`CreateAclStrategyV2` and the five calls beside it) and their
//! bindings to published APIs (`CreateApiAclBindingV2` and the five calls beside it). Rules
//! (SPEC §10, `otc-guide/access_control.rst`): a policy binds to publications (an API in an
//! environment); an API takes one policy of each kind (IP, account) per environment, a second
//! is refused; a bound policy cannot be deleted (403 APIG.3447).

use crate::apis::{def_map, Context};
use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, found, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{AclBindingPath, AclPath, Path};
use crate::AppState;
use apigw_model::acl::{self, Acl, AclBinding, AclType, EntityType};
use apigw_model::resources::Api;
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

/// Most ids in one batch call.
const MAX_IDS: usize = 500;

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
fn parse(bytes: &[u8]) -> Result<(String, AclType, EntityType, String), ApiError> {
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

/// `?action=delete` is mandatory on the batch calls.
fn require_delete_action(q: &Query) -> Result<(), ApiError> {
    match q.get("action") {
        Some("delete") => Ok(()),
        _ => Err(ApiError::invalid("action", "must be delete")),
    }
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
    found(
        state.store.get_acl(instance_id, id).await,
        Resource::Acl,
        id,
    )
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
    let mut f = Fields::new(body::object(&bytes)?);
    let acl_id = f.string("acl_id");
    let publish_ids = f.ids("publish_ids", MAX_IDS);
    f.errs.len(&acl_id, 1, 64, "acl_id");
    f.finish()?;
    let made = state
        .store
        .bind_acl(
            &scope.instance_id,
            &acl_id,
            &publish_ids,
            time::now_millis(),
        )
        .await?;
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
    let result = state
        .store
        .unbind_acl(&scope.instance_id, &acl_bindings_id)
        .await;
    deleted(result, Resource::AclBinding, &acl_bindings_id)
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
    require_delete_action(&Query::parse(uri.query()))?;
    let mut f = Fields::new(body::object(&bytes)?);
    let ids = f.opt_ids("acl_bindings", MAX_IDS);
    f.finish()?;
    let bindings = state.store.list_acl_bindings(&scope.instance_id).await?;
    let apis = state.store.list_apis(&scope.instance_id).await?;
    let (mut success, mut failure) = (0, Vec::new());
    for bind_id in &ids {
        match state.store.unbind_acl(&scope.instance_id, bind_id).await {
            Ok(()) => success += 1,
            Err(e) => {
                let (_, code, msg) = ApiError::store(Resource::AclBinding, bind_id)(e).parts();
                let api_id = bindings
                    .iter()
                    .find(|b| &b.id == bind_id)
                    .map(|b| b.api_id.as_str())
                    .unwrap_or("");
                let api_name = apis
                    .iter()
                    .find(|a| a.id == api_id)
                    .map(|a| a.name.as_str())
                    .unwrap_or("");
                failure.push(
                    json!({"bind_id": bind_id, "error_code": code, "error_msg": msg,
                                    "api_id": api_id, "api_name": api_name}),
                );
            }
        }
    }
    tracing::info!(
        unbound = success,
        failed = failure.len(),
        "access control bindings removed"
    );
    Ok(Json(json!({"success_count": success, "failure": failure})))
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
    let api_id = q
        .text("api_id", 64)?
        .ok_or_else(|| ApiError::invalid("api_id", "is mandatory"))?;
    let env_id = q.text("env_id", 64)?;
    let env_name = q.text("env_name", 64)?;
    let acl_id = q.text("acl_id", 64)?;
    let acl_name = q.text("acl_name", 64)?;
    crate::apis::find(&state, &scope.instance_id, &api_id).await?;
    let ctx = Context::load(&state, &scope.instance_id).await?;
    let acls = state.store.list_acls(&scope.instance_id).await?;
    let items: Vec<Value> = state
        .store
        .list_acl_bindings(&scope.instance_id)
        .await?
        .iter()
        .filter(|b| b.api_id == api_id && eq(&env_id, &b.env_id) && eq(&acl_id, &b.acl_id))
        .filter(|b| eq(&env_name, ctx.env_name(&b.env_id)))
        .filter_map(|b| acls.iter().find(|a| a.id == b.acl_id).map(|a| (a, b)))
        .filter(|(a, _)| contains(&acl_name, &a.name))
        .map(|(a, b)| {
            json!({"acl_id": a.id, "acl_name": a.name, "entity_type": a.entity_type.as_str(),
                   "acl_type": a.acl_type.as_str(), "acl_value": a.value,
                   "env_id": b.env_id, "env_name": ctx.env_name(&b.env_id),
                   "bind_id": b.id, "bind_time": time::format_millis(b.create_time)})
        })
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "acls": page}),
    ))
}

/// The API filters of the two API listings: `api_id`, `api_name` (substring), `env_id`,
/// `group_id`.
struct ApiFilter {
    api_id: Option<String>,
    api_name: Option<String>,
    env_id: Option<String>,
    group_id: Option<String>,
}

impl ApiFilter {
    fn parse(q: &Query) -> Result<Self, ApiError> {
        Ok(Self {
            api_id: q.text("api_id", 64)?,
            api_name: q.text("api_name", 64)?,
            env_id: q.text("env_id", 64)?,
            group_id: q.text("group_id", 64)?,
        })
    }

    fn accepts(&self, a: &Api, env_id: &str) -> bool {
        eq(&self.api_id, &a.id)
            && contains(&self.api_name, &a.name)
            && eq(&self.env_id, env_id)
            && eq(&self.group_id, &a.group_id)
    }
}

/// `ListApisBindedToAclPolicyV2`: the APIs `acl_id` (mandatory) is bound to.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/acl-bindings/binded-apis", tag = "acls",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("acl_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("env_id" = Option<String>, Query), ("group_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn apis_bound(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let acl_id = q
        .text("acl_id", 64)?
        .ok_or_else(|| ApiError::invalid("acl_id", "is mandatory"))?;
    let filter = ApiFilter::parse(&q)?;
    find(&state, &scope.instance_id, &acl_id).await?;
    let ctx = Context::load(&state, &scope.instance_id).await?;
    let apis = state.store.list_apis(&scope.instance_id).await?;
    let items: Vec<Value> = state
        .store
        .list_acl_bindings(&scope.instance_id)
        .await?
        .iter()
        .filter(|b| b.acl_id == acl_id)
        .filter_map(|b| apis.iter().find(|a| a.id == b.api_id).map(|a| (a, b)))
        .filter(|(a, b)| filter.accepts(a, &b.env_id))
        .map(|(a, b)| {
            let d = def_map(a);
            json!({"api_id": a.id, "api_name": a.name,
                   "api_type": d.get("type").cloned().unwrap_or(json!(1)),
                   "api_remark": d.get("remark").cloned().unwrap_or(json!("")),
                   "env_id": b.env_id, "env_name": ctx.env_name(&b.env_id), "bind_id": b.id,
                   "group_name": ctx.group_name(&a.group_id),
                   "bind_time": time::format_millis(b.create_time),
                   "publish_id": ctx.publication(&a.id, &b.env_id).map(|p| p.publish_id.as_str()).unwrap_or(""),
                   "req_method": d.get("req_method")})
        })
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "apis": page}),
    ))
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
    let q = Query::parse(uri.query());
    let acl_id = q
        .text("acl_id", 64)?
        .ok_or_else(|| ApiError::invalid("acl_id", "is mandatory"))?;
    let filter = ApiFilter::parse(&q)?;
    let policy = find(&state, &scope.instance_id, &acl_id).await?;
    let kind = policy.entity_type.kind();
    let ctx = Context::load(&state, &scope.instance_id).await?;
    let acls = state.store.list_acls(&scope.instance_id).await?;
    let bindings = state.store.list_acl_bindings(&scope.instance_id).await?;
    let apis = state.store.list_apis(&scope.instance_id).await?;
    let bound = |api_id: &str, env_id: &str, pred: &dyn Fn(&AclBinding) -> bool| {
        bindings
            .iter()
            .find(|b| b.api_id == api_id && b.env_id == env_id && pred(b))
    };
    let items: Vec<Value> = ctx
        .publications
        .iter()
        .filter_map(|p| apis.iter().find(|a| a.id == p.api_id).map(|a| (a, p)))
        .filter(|(a, p)| filter.accepts(a, &p.env_id))
        .filter(|(a, p)| bound(&a.id, &p.env_id, &|b| b.acl_id == acl_id).is_none())
        .map(|(a, p)| {
            let d = def_map(a);
            let same_kind = bound(&a.id, &p.env_id, &|b| b.kind == kind)
                .and_then(|b| acls.iter().find(|x| x.id == b.acl_id))
                .map(|x| x.name.as_str())
                .unwrap_or("");
            json!({"id": a.id, "name": a.name, "group_id": a.group_id,
                   "group_name": ctx.group_name(&a.group_id),
                   "type": d.get("type").cloned().unwrap_or(json!(1)),
                   "remark": d.get("remark").cloned().unwrap_or(json!("")),
                   "run_env_name": ctx.env_name(&p.env_id), "run_env_id": p.env_id,
                   "publish_id": p.publish_id, "acl_name": same_kind,
                   "req_uri": d.get("req_uri"), "auth_type": d.get("auth_type"),
                   "req_method": d.get("req_method")})
        })
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "apis": page}),
    ))
}
