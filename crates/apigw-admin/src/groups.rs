//! API groups (`ApiGroupCreate`, `ApiGroupInfo`): each has `sl_domain` = `{id}.{domain suffix}`,
//! the Host that selects it on the data plane, and `url_domains`, the domain names bound to it
//! (`domains.rs`). Each instance has a built-in `DEFAULT` group.

use crate::auth::{Call, CallScope};
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, found, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{GroupPath, Path};
use crate::AppState;
use apigw_model::certificate::Certificate;
use apigw_model::domain::Domain;
use apigw_model::resources::Group;
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-groups", post(create).get(list))
        .route(
            "/api-groups/{group_id}",
            get(show).put(update).delete(delete),
        )
}

/// The domains of the instance and the caller's certificates, for groups' `url_domains`.
struct Bound {
    domains: Vec<Domain>,
    certificates: Vec<Certificate>,
}

impl Bound {
    async fn load(state: &AppState, scope: &CallScope) -> Result<Self, ApiError> {
        Ok(Bound {
            domains: state.store.list_domains(&scope.instance_id).await?,
            certificates: state.store.list_certificates(&scope.project_id).await?,
        })
    }

    /// `url_domains` of group `g`.
    fn of(&self, g: &Group) -> Vec<Value> {
        self.domains
            .iter()
            .filter(|d| d.group_id == g.id)
            .map(|d| {
                let c = self
                    .certificates
                    .iter()
                    .find(|c| Some(c.id.as_str()) == d.ssl_id.as_deref());
                crate::domains::group_item(d, c)
            })
            .collect()
    }
}

/// `ApiGroupInfo`, with `url_domains` (the group's domain names) when given.
fn info(g: &Group, suffix: &str, bound: Option<&Bound>) -> Value {
    let sl_domain = format!("{}.{suffix}", g.id);
    json!({
        "id": g.id, "name": g.name, "status": 1, "sl_domain": sl_domain,
        "register_time": time::format_millis(g.register_time),
        "update_time": time::format_millis(g.update_time),
        "on_sell_status": 2, "url_domains": bound.map(|b| b.of(g)).unwrap_or_default(), "sl_domain_access_enabled": true,
        "sl_domains": [sl_domain], "remark": g.remark, "call_limits": 0, "time_interval": 0,
        "time_unit": "", "is_default": if g.is_default { 1 } else { 2 }, "version": "V1",
        "roma_app_id": g.roma_app_id.clone().unwrap_or_default(), "roma_app_name": "",
    })
}

pub(crate) fn parse(
    bytes: &[u8],
    create: bool,
) -> Result<(String, String, Option<String>), ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let (name, remark) = f.name_and_remark();
    let roma_app_id = if create {
        f.opt_string("roma_app_id")
    } else {
        None
    };
    if create {
        let _version = f.opt_string("version");
    }
    f.finish()?;
    Ok((name, remark, roma_app_id))
}

pub(crate) async fn find(
    state: &AppState,
    instance_id: &str,
    group_id: &str,
) -> Result<Group, ApiError> {
    found(
        state.store.get_group(instance_id, group_id).await,
        Resource::Group,
        group_id,
    )
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups", tag = "api-groups",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, remark, roma_app_id) = parse(&bytes, true)?;
    let now = time::now_millis();
    let g = Group {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        name,
        remark,
        is_default: false,
        roma_app_id,
        register_time: now,
        update_time: now,
    };
    state.store.create_group(&g).await?;
    Ok((
        StatusCode::CREATED,
        Json(info(&g, &state.domain_suffix, None)),
    ))
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}", tag = "api-groups",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, GroupPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(GroupPath { group_id }): Path<GroupPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (name, remark, _) = parse(&bytes, false)?;
    let old = find(&state, &scope.instance_id, &group_id).await?;
    if old.is_default && name != old.name {
        return Err(ApiError::invalid(
            "name",
            "the DEFAULT group cannot be renamed",
        ));
    }
    let g = Group {
        name,
        remark,
        update_time: time::now_millis().max(old.update_time),
        ..old
    };
    state
        .store
        .update_group(&g)
        .await
        .map_err(ApiError::store(Resource::Group, &group_id))?;
    let bound = Bound::load(&state, &scope).await?;
    Ok(Json(info(&g, &state.domain_suffix, Some(&bound))))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}", tag = "api-groups",
    params(InstancePath, GroupPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete(
    Call { state, scope }: Call,
    Path(GroupPath { group_id }): Path<GroupPath>,
) -> Result<StatusCode, ApiError> {
    let g = find(&state, &scope.instance_id, &group_id).await?;
    if g.is_default {
        return Err(ApiError::invalid(
            "group_id",
            "the DEFAULT group cannot be deleted",
        ));
    }
    let result = state
        .store
        .delete_group(&scope.instance_id, &group_id)
        .await;
    deleted(result, Resource::Group, &group_id)
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}", tag = "api-groups",
    params(InstancePath, GroupPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(GroupPath { group_id }): Path<GroupPath>,
) -> Result<Json<Value>, ApiError> {
    let g = find(&state, &scope.instance_id, &group_id).await?;
    let bound = Bound::load(&state, &scope).await?;
    Ok(Json(info(&g, &state.domain_suffix, Some(&bound))))
}

/// Filters: `id`, `name` (substring; exact with `precise_search=name`).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups", tag = "api-groups",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("id" = Option<String>, Query), ("name" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let id = q.text("id", 64)?;
    let name = q.text("name", 255)?;
    let exact = q.get("precise_search") == Some("name");
    let groups: Vec<Group> = state
        .store
        .list_groups(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|g| {
            eq(&id, &g.id)
                && if exact {
                    eq(&name, &g.name)
                } else {
                    contains(&name, &g.name)
                }
        })
        .collect();
    let (total, page) = paginate(groups, &q)?;
    let bound = Bound::load(&state, &scope).await?;
    let items: Vec<Value> = page
        .iter()
        .map(|g| info(g, &state.domain_suffix, Some(&bound)))
        .collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "groups": items}),
    ))
}
