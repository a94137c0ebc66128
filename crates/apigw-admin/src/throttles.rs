//! Classic request throttling policies (`CreateRequestThrottlingPolicyV2` and the four calls
//! beside it), their bindings to published APIs (`AssociateRequestThrottlingPolicyV2` and the
//! five calls beside it) and their excluded configurations (`CreateSpecialThrottlingConfigurationV2`
//! and the three calls beside it). Rules (SPEC §10, `otc-guide/request_throttling.rst`): limits
//! nest (app ≤ user ≤ API, IP ≤ API); a policy binds to publications (an API in an
//! environment), one policy per API and environment; deleting a policy takes its bindings and
//! excluded configurations with it.

use crate::apis::{def_map, Context};
use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{Path, ThrottleBindingPath, ThrottlePath, ThrottleSpecialPath};
use crate::policy_bindings::{self as shared, BoundFilter, PolicyKind};
use crate::AppState;
use apigw_model::resources::Api;
use apigw_model::throttle::{
    self, ObjectType, Throttle, ThrottleBinding, ThrottleSpecial, TimeUnit,
};
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

/// Request throttling policies as a kind of policy bound to publications: an API takes one
/// per environment.
pub(crate) struct Throttles;

impl PolicyKind for Throttles {
    type Policy = Throttle;
    type Binding = ThrottleBinding;
    const POLICY: Resource = Resource::Throttle;
    const BINDING: Resource = Resource::ThrottleBinding;
    const BIND_FIELD: &'static str = "strategy_id";
    const ID_PARAM: &'static str = "throttle_id";
    const BATCH_FIELD: &'static str = "throttle_bindings";
    const LOG_NAME: &'static str = "request throttling bindings";
    fn id(t: &Throttle) -> &str {
        &t.id
    }
    fn name(t: &Throttle) -> &str {
        &t.name
    }
    fn rivals(_: &Throttle, _: &ThrottleBinding) -> bool {
        true
    }
    shared::store_calls!(
        get_throttle,
        list_throttles,
        bind_throttle,
        list_throttle_bindings,
        unbind_throttle
    );
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/throttles", get(list).post(create))
        .route(
            "/throttles/{throttle_id}",
            get(show).put(update).delete(delete_one),
        )
        .route(
            "/throttles/{throttle_id}/throttle-specials",
            get(list_specials).post(create_special),
        )
        .route(
            "/throttles/{throttle_id}/throttle-specials/{strategy_id}",
            axum::routing::put(update_special).delete(delete_special),
        )
        .route(
            "/throttle-bindings",
            axum::routing::post(bind).put(batch_unbind),
        )
        .route("/throttle-bindings/{throttle_binding_id}", delete(unbind))
        .route("/throttle-bindings/binded-throttles", get(bound_to_api))
        .route("/throttle-bindings/binded-apis", get(apis_bound))
        .route("/throttle-bindings/unbinded-apis", get(apis_not_bound))
}

/// `ThrottleBaseInfo` with `bind_num` and `is_inclu_special_throttle` (1 yes, 2 no).
fn info(t: &Throttle, bind_num: usize, has_specials: bool) -> Value {
    json!({"id": t.id, "name": t.name, "api_call_limits": t.api_call_limits,
           "user_call_limits": t.user_call_limits, "app_call_limits": t.app_call_limits,
           "ip_call_limits": t.ip_call_limits, "time_interval": t.time_interval,
           "time_unit": t.time_unit.as_str(), "type": t.kind,
           "enable_adaptive_control": t.enable_adaptive_control, "remark": t.remark,
           "create_time": time::format_millis(t.create_time), "bind_num": bind_num,
           "is_inclu_special_throttle": if has_specials { 1 } else { 2 }})
}

/// A policy's answer with its current binding count and excluded configurations.
async fn full_info(state: &AppState, t: &Throttle) -> Result<Value, ApiError> {
    let bindings = state.store.list_throttle_bindings(&t.instance_id).await?;
    let specials = state.store.list_throttle_specials(&t.instance_id).await?;
    Ok(info(
        t,
        bindings.iter().filter(|b| b.throttle_id == t.id).count(),
        specials.iter().any(|s| s.throttle_id == t.id),
    ))
}

/// A mandatory integer.
fn int(f: &mut Fields, name: &str) -> i64 {
    let before = f.errs.0.len();
    let v = f.opt_int(name);
    if v.is_none() && f.errs.0.len() == before {
        f.errs.add(name, "is mandatory");
    }
    v.unwrap_or(1)
}

/// Reads and checks a create or modify body into `t` (its id, instance and time kept).
/// A policy with only its identity set, for [`parse`] to fill.
pub(crate) fn blank(id: String, instance_id: &str, create_time: i64) -> Throttle {
    Throttle {
        id,
        instance_id: instance_id.to_string(),
        name: String::new(),
        api_call_limits: 0,
        user_call_limits: None,
        app_call_limits: None,
        ip_call_limits: None,
        time_interval: 0,
        time_unit: TimeUnit::Second,
        kind: 1,
        enable_adaptive_control: String::new(),
        remark: String::new(),
        create_time,
    }
}

pub(crate) fn parse(bytes: &[u8], mut t: Throttle) -> Result<Throttle, ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let name = f.string("name");
    if !f.errs.0.iter().any(|e| e.field == "name") {
        throttle::check_name(&mut f.errs, &name, "name");
    }
    t.name = name;
    t.api_call_limits = int(&mut f, "api_call_limits");
    t.user_call_limits = f.opt_int("user_call_limits");
    t.app_call_limits = f.opt_int("app_call_limits");
    t.ip_call_limits = f.opt_int("ip_call_limits");
    t.time_interval = int(&mut f, "time_interval");
    let unit = f.enumerated::<TimeUnit>("time_unit", "must be SECOND, MINUTE, HOUR or DAY");
    t.time_unit = unit.unwrap_or(TimeUnit::Second);
    t.kind = f.opt_int("type").unwrap_or(1);
    t.enable_adaptive_control = f
        .opt_string("enable_adaptive_control")
        .unwrap_or_else(|| "FALSE".into());
    t.remark = f.opt_string("remark").unwrap_or_default();
    let mut checks = apigw_model::field::Errors::default();
    t.check(&mut checks);
    // A field already refused (absent, not an integer) is not checked again.
    for e in checks.0 {
        if !f.errs.0.iter().any(|x| x.field == e.field) {
            f.errs.0.push(e);
        }
    }
    f.finish()?;
    Ok(t)
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles", tag = "throttles",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let blank = blank(id::new_id(), &scope.instance_id, time::now_millis());
    let t = parse(&bytes, blank)?;
    state.store.create_throttle(&t).await?;
    tracing::info!(throttle_id = %t.id, "request throttling policy created");
    Ok((StatusCode::CREATED, Json(info(&t, 0, false))))
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles/{throttle_id}", tag = "throttles",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ThrottlePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(ThrottlePath { throttle_id }): Path<ThrottlePath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let old = find(&state, &scope.instance_id, &throttle_id).await?;
    let t = parse(&bytes, old)?;
    state
        .store
        .update_throttle(&t)
        .await
        .map_err(ApiError::store(Resource::Throttle, &throttle_id))?;
    Ok(Json(full_info(&state, &t).await?))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles/{throttle_id}", tag = "throttles",
    params(InstancePath, ThrottlePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_one(
    Call { state, scope }: Call,
    Path(ThrottlePath { throttle_id }): Path<ThrottlePath>,
) -> Result<StatusCode, ApiError> {
    let result = state
        .store
        .delete_throttle(&scope.instance_id, &throttle_id)
        .await;
    deleted(result, Resource::Throttle, &throttle_id)
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles/{throttle_id}", tag = "throttles",
    params(InstancePath, ThrottlePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(ThrottlePath { throttle_id }): Path<ThrottlePath>,
) -> Result<Json<Value>, ApiError> {
    let t = find(&state, &scope.instance_id, &throttle_id).await?;
    Ok(Json(full_info(&state, &t).await?))
}

/// Filters: `id`, `name` (substring; exact with `precise_search=name`).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles", tag = "throttles",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("id" = Option<String>, Query), ("name" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let id = q.text("id", 64)?;
    let name = q.text("name", 64)?;
    let exact = q.get("precise_search") == Some("name");
    let bindings = state
        .store
        .list_throttle_bindings(&scope.instance_id)
        .await?;
    let specials = state
        .store
        .list_throttle_specials(&scope.instance_id)
        .await?;
    let found: Vec<Throttle> = state
        .store
        .list_throttles(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|t| {
            eq(&id, &t.id)
                && if exact {
                    eq(&name, &t.name)
                } else {
                    contains(&name, &t.name)
                }
        })
        .collect();
    let (total, page) = paginate(found, &q)?;
    let items: Vec<Value> = page
        .iter()
        .map(|t| {
            info(
                t,
                bindings.iter().filter(|b| b.throttle_id == t.id).count(),
                specials.iter().any(|s| s.throttle_id == t.id),
            )
        })
        .collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "throttles": items}),
    ))
}

async fn find(state: &AppState, instance_id: &str, id: &str) -> Result<Throttle, ApiError> {
    shared::find::<Throttles>(state, instance_id, id).await
}

/// `ThrottleApiBinding`.
fn binding_info(b: &ThrottleBinding, publish_id: &str) -> Value {
    json!({"id": b.id, "publish_id": publish_id, "strategy_id": b.throttle_id, "scope": 1,
           "apply_time": time::format_millis(b.create_time)})
}

/// `AssociateRequestThrottlingPolicyV2`: `POST /throttle-bindings` {strategy_id, publish_ids},
/// all or nothing.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttle-bindings", tag = "throttles",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn bind(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (strategy_id, publish_ids, made) =
        shared::bind::<Throttles>(&state, &scope.instance_id, &bytes).await?;
    tracing::info!(throttle_id = %strategy_id, bindings = made.len(), "request throttling policy bound");
    let items: Vec<Value> = made
        .iter()
        .zip(&publish_ids)
        .map(|(b, p)| binding_info(b, p))
        .collect();
    Ok((StatusCode::CREATED, Json(json!({"throttle_applys": items}))))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttle-bindings/{throttle_binding_id}", tag = "throttles",
    params(InstancePath, ThrottleBindingPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn unbind(
    Call { state, scope }: Call,
    Path(ThrottleBindingPath {
        throttle_binding_id,
    }): Path<ThrottleBindingPath>,
) -> Result<StatusCode, ApiError> {
    shared::unbind::<Throttles>(&state, &scope.instance_id, &throttle_binding_id).await
}

/// `BatchDisassociateThrottlingPolicyV2`: `PUT /throttle-bindings?action=delete`
/// {throttle_bindings}; each on its own, failures listed (an unknown one with APIG.3012).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttle-bindings", tag = "throttles",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ("action" = String, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn batch_unbind(
    Call { state, scope }: Call,
    uri: Uri,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    shared::batch_unbind::<Throttles>(&state, &scope.instance_id, &uri, &bytes).await
}

/// `ListRequestThrottlingPoliciesBindedToApiV2`: the policies bound to `api_id` (mandatory);
/// filters `throttle_id`, `throttle_name` (substring), `env_id`.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttle-bindings/binded-throttles", tag = "throttles",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("api_id" = String, Query), ("throttle_id" = Option<String>, Query), ("throttle_name" = Option<String>, Query), ("env_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn bound_to_api(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let filter = BoundFilter {
        api_id: q.required("api_id", 64)?,
        policy_id: q.text("throttle_id", 64)?,
        policy_name: q.text("throttle_name", 64)?,
        env_id: q.text("env_id", 64)?,
        env_name: None,
    };
    let specials = state
        .store
        .list_throttle_specials(&scope.instance_id)
        .await?;
    let answer = |l: &shared::Listing<Throttles>, t: &Throttle, b: &ThrottleBinding| {
        let mut v = info(
            t,
            l.bind_num(&t.id),
            specials.iter().any(|s| s.throttle_id == t.id),
        );
        v["env_name"] = json!(l.ctx.env_name(&b.env_id));
        v["bind_id"] = json!(b.id);
        v["bind_time"] = json!(time::format_millis(b.create_time));
        v
    };
    shared::bound_to_api(&state, &scope.instance_id, &q, filter, "throttles", answer).await
}

/// `ApiForThrottle`: an API published in `env_id`, with the policy binding it has there.
fn api_for_throttle(
    ctx: &Context,
    a: &Api,
    env_id: &str,
    binding: Option<(&ThrottleBinding, &Throttle)>,
) -> Value {
    let d = def_map(a);
    json!({"id": a.id, "name": a.name, "group_id": a.group_id,
           "group_name": ctx.group_name(&a.group_id),
           "type": d.get("type").cloned().unwrap_or(json!(1)),
           "remark": d.get("remark").cloned().unwrap_or(json!("")),
           "run_env_id": env_id, "run_env_name": ctx.env_name(env_id),
           "publish_id": ctx.publication(&a.id, env_id).map(|p| p.publish_id.as_str()).unwrap_or(""),
           "throttle_apply_id": binding.map(|(b, _)| b.id.as_str()),
           "apply_time": binding.map(|(b, _)| time::format_millis(b.create_time)),
           "throttle_name": binding.map(|(_, t)| t.name.as_str()),
           "req_uri": d.get("req_uri"), "auth_type": d.get("auth_type"),
           "req_method": d.get("req_method")})
}

/// `ListApisBindedToRequestThrottlingPolicyV2`: the APIs `throttle_id` (mandatory) is bound to.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttle-bindings/binded-apis", tag = "throttles",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("throttle_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("env_id" = Option<String>, Query), ("group_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn apis_bound(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    shared::apis_bound::<Throttles>(&state, &scope.instance_id, &uri, |l, t, a, b| {
        api_for_throttle(&l.ctx, a, &b.env_id, Some((b, t)))
    })
    .await
}

/// `ListApisUnbindedToRequestThrottlingPolicyV2`: the publications `throttle_id` (mandatory) is
/// not bound to; `throttle_name` names the policy the API has there instead, if any.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttle-bindings/unbinded-apis", tag = "throttles",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("throttle_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("env_id" = Option<String>, Query), ("group_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn apis_not_bound(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    shared::apis_not_bound::<Throttles>(&state, &scope.instance_id, &uri, |l, a, p, there| {
        let binding = there.and_then(|b| l.policy(&b.throttle_id).map(|t| (b, t)));
        api_for_throttle(&l.ctx, a, &p.env_id, binding)
    })
    .await
}

/// `ThrottleSpecialInfo`: `object_name` (and `app_name`) is the app's name for APP, the
/// object id itself for USER.
fn special_info(s: &ThrottleSpecial, app_name: Option<&str>) -> Value {
    let is_app = s.object_type == ObjectType::App;
    json!({"id": s.id, "throttle_id": s.throttle_id, "object_type": s.object_type.as_str(),
           "object_id": s.object_id, "call_limits": s.call_limits,
           "object_name": app_name.unwrap_or(&s.object_id),
           "app_id": if is_app { Some(s.object_id.as_str()) } else { None },
           "app_name": if is_app { app_name } else { None },
           "apply_time": time::format_millis(s.create_time)})
}

/// The `call_limits` of a create or modify body.
fn call_limits(f: &mut Fields) -> i64 {
    let n = int(f, "call_limits");
    if !f.errs.0.iter().any(|e| e.field == "call_limits") {
        throttle::check_call_limits(&mut f.errs, n);
    }
    n
}

/// `CreateSpecialThrottlingConfigurationV2`: {object_type APP | USER, object_id, call_limits};
/// an APP object must be an app of the instance (404 APIG.3004); one per object and policy
/// (APIG.3308).
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles/{throttle_id}/throttle-specials", tag = "throttles",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ThrottlePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create_special(
    Call { state, scope }: Call,
    Path(ThrottlePath { throttle_id }): Path<ThrottlePath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let object_type = f.enumerated::<ObjectType>("object_type", "must be APP or USER");
    let object_id = f.string("object_id");
    if !f.errs.0.iter().any(|e| e.field == "object_id") {
        f.errs.len(&object_id, 1, 64, "object_id");
    }
    let limit = call_limits(&mut f);
    f.finish()?;
    let object_type =
        object_type.ok_or_else(|| ApiError::Internal("checked field missing".into()))?;
    find(&state, &scope.instance_id, &throttle_id).await?;
    let app_name = match object_type {
        ObjectType::App => Some(
            crate::apps::find(&state, &scope.instance_id, &object_id)
                .await?
                .name,
        ),
        ObjectType::User => None,
    };
    let s = ThrottleSpecial {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        throttle_id,
        object_type,
        object_id,
        call_limits: limit,
        create_time: time::now_millis(),
    };
    state.store.create_throttle_special(&s).await?;
    tracing::info!(throttle_id = %s.throttle_id, special_id = %s.id, "excluded throttling configuration created");
    Ok((
        StatusCode::CREATED,
        Json(special_info(&s, app_name.as_deref())),
    ))
}

/// The name of the app an APP configuration names ("" once the app is gone).
async fn app_names(state: &AppState, instance_id: &str) -> Result<Vec<(String, String)>, ApiError> {
    Ok(state
        .store
        .list_apps(instance_id)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}

fn app_name<'a>(names: &'a [(String, String)], s: &ThrottleSpecial) -> Option<&'a str> {
    match s.object_type {
        ObjectType::App => Some(
            names
                .iter()
                .find(|(id, _)| *id == s.object_id)
                .map(|(_, n)| n.as_str())
                .unwrap_or(""),
        ),
        ObjectType::User => None,
    }
}

/// `UpdateSpecialThrottlingConfigurationV2`: {call_limits}.
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles/{throttle_id}/throttle-specials/{strategy_id}", tag = "throttles",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ThrottleSpecialPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update_special(
    Call { state, scope }: Call,
    Path(ThrottleSpecialPath {
        throttle_id,
        strategy_id,
    }): Path<ThrottleSpecialPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let limit = call_limits(&mut f);
    f.finish()?;
    find(&state, &scope.instance_id, &throttle_id).await?;
    state
        .store
        .update_throttle_special(&scope.instance_id, &throttle_id, &strategy_id, limit)
        .await
        .map_err(ApiError::store(Resource::ThrottleSpecial, &strategy_id))?;
    let s = state
        .store
        .list_throttle_specials(&scope.instance_id)
        .await?
        .into_iter()
        .find(|s| s.id == strategy_id)
        .ok_or_else(|| ApiError::missing(Resource::ThrottleSpecial, &strategy_id))?;
    let names = app_names(&state, &scope.instance_id).await?;
    Ok(Json(special_info(&s, app_name(&names, &s))))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles/{throttle_id}/throttle-specials/{strategy_id}", tag = "throttles",
    params(InstancePath, ThrottleSpecialPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_special(
    Call { state, scope }: Call,
    Path(ThrottleSpecialPath {
        throttle_id,
        strategy_id,
    }): Path<ThrottleSpecialPath>,
) -> Result<StatusCode, ApiError> {
    find(&state, &scope.instance_id, &throttle_id).await?;
    let result = state
        .store
        .delete_throttle_special(&scope.instance_id, &throttle_id, &strategy_id)
        .await;
    deleted(result, Resource::ThrottleSpecial, &strategy_id)
}

/// `ListSpecialThrottlingConfigurationsV2`: filters `object_type`, `app_name` (substring),
/// `user` (substring of a USER object id).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/throttles/{throttle_id}/throttle-specials", tag = "throttles",
    params(InstancePath, ThrottlePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("object_type" = Option<String>, Query), ("app_name" = Option<String>, Query), ("user" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list_specials(
    Call { state, scope }: Call,
    Path(ThrottlePath { throttle_id }): Path<ThrottlePath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let object_type = q.text("object_type", 16)?;
    let app = q.text("app_name", 64)?;
    let user = q.text("user", 64)?;
    find(&state, &scope.instance_id, &throttle_id).await?;
    let names = app_names(&state, &scope.instance_id).await?;
    let items: Vec<Value> = state
        .store
        .list_throttle_specials(&scope.instance_id)
        .await?
        .iter()
        .filter(|s| s.throttle_id == throttle_id && eq(&object_type, s.object_type.as_str()))
        .filter(|s| match s.object_type {
            ObjectType::App => user.is_none() && contains(&app, app_name(&names, s).unwrap_or("")),
            ObjectType::User => app.is_none() && contains(&user, &s.object_id),
        })
        .map(|s| special_info(s, app_name(&names, s)))
        .collect();
    let (total, page) = paginate(items, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "throttle_specials": page}),
    ))
}
