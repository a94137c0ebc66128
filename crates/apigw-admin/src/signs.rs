//! Signature keys (`CreateSignatureKeyV2` and the three calls beside it) and their bindings to
//! published APIs (`AssociateSignatureKeyV2` and the four calls beside it). Rules (SPEC §10,
//! `otc-api/signature_key_management`): a key binds to publications (an API in an
//! environment), one key per API and environment; deleting a key takes its bindings with it.
//! The data plane signs every call to a bound API's backend with the key.

use crate::apis::def_map;
use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, ApiError};
use crate::openapi::{Errors, InstancePath};
use crate::path::{Path, SignBindingPath, SignPath};
use crate::policy_bindings::{self as shared, BoundFilter, Listing, PolicyKind};
use crate::AppState;
use apigw_model::resources::Api;
use apigw_model::signature_key::{self, SignAlgorithm, SignBinding, SignKey, SignType};
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

/// Signature keys as a kind of policy bound to publications: an API takes one per environment.
pub(crate) struct Signs;

impl PolicyKind for Signs {
    type Policy = SignKey;
    type Binding = SignBinding;
    const POLICY: Resource = Resource::Sign;
    const BINDING: Resource = Resource::SignBinding;
    const BIND_FIELD: &'static str = "sign_id";
    const ID_PARAM: &'static str = "sign_id";
    /// APIG has no batch unbinding of signature keys; the name it would have.
    const BATCH_FIELD: &'static str = "sign_bindings";
    const LOG_NAME: &'static str = "signature key bindings";
    const BOUND_APIS_FIELD: &'static str = "bindings";
    fn id(k: &SignKey) -> &str {
        &k.id
    }
    fn name(k: &SignKey) -> &str {
        &k.name
    }
    fn rivals(_: &SignKey, _: &SignBinding) -> bool {
        true
    }
    shared::store_calls!(
        get_sign,
        list_signs,
        bind_sign,
        list_sign_bindings,
        unbind_sign
    );
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/signs", get(list).post(create))
        .route(
            "/signs/{sign_id}",
            axum::routing::put(update).delete(delete_one),
        )
        .route("/sign-bindings", axum::routing::post(bind))
        .route("/sign-bindings/{sign_bindings_id}", delete(unbind))
        .route("/sign-bindings/binded-signs", get(bound_to_api))
        .route("/sign-bindings/binded-apis", get(apis_bound))
        .route("/sign-bindings/unbinded-apis", get(apis_not_bound))
}

/// `SignatureWithBindNum` without `bind_num`. The secret is answered as stored: the backend
/// needs it to verify the gateway's signatures, and a generated one is known only from here.
fn info(k: &SignKey) -> Value {
    json!({"id": k.id, "name": k.name, "sign_type": k.sign_type.as_str(),
           "sign_key": k.sign_key, "sign_secret": k.sign_secret,
           "sign_algorithm": k.sign_algorithm.map(SignAlgorithm::as_str),
           "create_time": time::format_millis(k.create_time),
           "update_time": time::format_millis(k.update_time)})
}

/// A create or modify body, checked: the name, and the type, key, secret and algorithm as
/// given (`None` when absent; an empty string is absent too).
struct Body {
    name: String,
    sign_type: Option<SignType>,
    sign_key: Option<String>,
    sign_secret: Option<String>,
    sign_algorithm: Option<SignAlgorithm>,
}

fn parse(bytes: &[u8]) -> Result<(Body, Fields), ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let name = f.string("name");
    let optional = |f: &mut Fields, field: &str| f.opt_string(field).filter(|s| !s.is_empty());
    let sign_type = optional(&mut f, "sign_type");
    let sign_key = optional(&mut f, "sign_key");
    let sign_secret = optional(&mut f, "sign_secret");
    let sign_algorithm = optional(&mut f, "sign_algorithm");
    if !f.errs.0.iter().any(|e| e.field == "name") {
        signature_key::check_name(&mut f.errs, &name, "name");
    }
    let sign_type = sign_type.and_then(|t| {
        let parsed = t.parse().ok();
        f.errs.check(
            parsed.is_some(),
            "sign_type",
            "must be hmac, basic, public_key or aes",
        );
        parsed
    });
    let sign_algorithm = sign_algorithm.and_then(|a| {
        let parsed = a.parse().ok();
        f.errs.check(
            parsed.is_some(),
            "sign_algorithm",
            "must be aes-128-cfb or aes-256-cfb",
        );
        parsed
    });
    let b = Body {
        name,
        sign_type,
        sign_key,
        sign_secret,
        sign_algorithm,
    };
    Ok((b, f))
}

/// The key a body makes of `old` (a new key: `None`): the type given, else the old one, else
/// hmac; the key and secret given, else the old ones while the type and algorithm stay, else
/// generated; every field checked against the type, all errors at once.
fn settle(b: Body, mut f: Fields, old: Option<&SignKey>) -> Result<SignKey, ApiError> {
    let sign_type = b
        .sign_type
        .or(old.map(|o| o.sign_type))
        .unwrap_or(SignType::Hmac);
    let kept = old.filter(|o| o.sign_type == sign_type && o.sign_algorithm == b.sign_algorithm);
    let (sign_key, sign_secret) = signature_key::fill(
        sign_type,
        b.sign_algorithm,
        b.sign_key.or_else(|| kept.map(|o| o.sign_key.clone())),
        b.sign_secret
            .or_else(|| kept.map(|o| o.sign_secret.clone())),
    );
    let type_known = !f.errs.0.iter().any(|e| e.field.starts_with("sign_"));
    if type_known {
        signature_key::check(
            &mut f.errs,
            sign_type,
            b.sign_algorithm,
            &sign_key,
            &sign_secret,
        );
    }
    f.finish()?;
    let now = time::now_millis();
    Ok(SignKey {
        id: old.map_or_else(id::new_id, |o| o.id.clone()),
        instance_id: old.map(|o| o.instance_id.clone()).unwrap_or_default(),
        name: b.name,
        sign_type,
        sign_key,
        sign_secret,
        sign_algorithm: b.sign_algorithm,
        create_time: old.map_or(now, |o| o.create_time),
        update_time: now,
    })
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/signs", tag = "signs",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (b, f) = parse(&bytes)?;
    let k = SignKey {
        instance_id: scope.instance_id.clone(),
        ..settle(b, f, None)?
    };
    state.store.create_sign(&k).await?;
    tracing::info!(sign_id = %k.id, sign_type = %k.sign_type, "signature key created");
    Ok((StatusCode::CREATED, Json(info(&k))))
}

#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/signs/{sign_id}", tag = "signs",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, SignPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(SignPath { sign_id }): Path<SignPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (b, f) = parse(&bytes)?;
    let old = shared::find::<Signs>(&state, &scope.instance_id, &sign_id).await?;
    let k = settle(b, f, Some(&old))?;
    state
        .store
        .update_sign(&k)
        .await
        .map_err(ApiError::store(Resource::Sign, &sign_id))?;
    Ok(Json(info(&k)))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/signs/{sign_id}", tag = "signs",
    params(InstancePath, SignPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_one(
    Call { state, scope }: Call,
    Path(SignPath { sign_id }): Path<SignPath>,
) -> Result<StatusCode, ApiError> {
    let result = state.store.delete_sign(&scope.instance_id, &sign_id).await;
    deleted(result, Resource::Sign, &sign_id)
}

/// Filters: `id`, `name` (substring; exact with `precise_search=name`). Each item has
/// `bind_num`, the number of APIs it is bound to, and `ldapi_bind_num` (custom backends: none
/// here).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/signs", tag = "signs",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("id" = Option<String>, Query), ("name" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let id = q.text("id", 64)?;
    let name = q.text("name", 64)?;
    let exact = q.get("precise_search") == Some("name");
    let bindings = state.store.list_sign_bindings(&scope.instance_id).await?;
    let found: Vec<SignKey> = state
        .store
        .list_signs(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|k| {
            eq(&id, &k.id)
                && if exact {
                    eq(&name, &k.name)
                } else {
                    contains(&name, &k.name)
                }
        })
        .collect();
    let (total, page) = paginate(found, &q)?;
    let items: Vec<Value> = page
        .iter()
        .map(|k| {
            let mut v = info(k);
            v["bind_num"] = json!(bindings.iter().filter(|b| b.sign_id == k.id).count());
            v["ldapi_bind_num"] = json!(0);
            v
        })
        .collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "signs": items}),
    ))
}

/// `SignApiBinding`: the binding with its API, publication and key.
fn binding_item(l: &Listing<Signs>, k: &SignKey, a: &Api, b: &SignBinding) -> Value {
    let d = def_map(a);
    json!({"id": b.id, "api_id": a.id, "api_name": a.name,
           "api_type": d.get("type").cloned().unwrap_or(json!(1)),
           "api_remark": d.get("remark").cloned().unwrap_or(json!("")),
           "req_method": d.get("req_method"),
           "group_name": l.ctx.group_name(&a.group_id),
           "env_id": b.env_id, "env_name": l.ctx.env_name(&b.env_id),
           "publish_id": l.ctx.publication(&a.id, &b.env_id).map(|p| p.publish_id.as_str()).unwrap_or(""),
           "binding_time": time::format_millis(b.create_time),
           "sign_id": k.id, "sign_name": k.name, "sign_type": k.sign_type.as_str(),
           "sign_key": k.sign_key, "sign_secret": k.sign_secret})
}

/// `AssociateSignatureKeyV2`: `POST /sign-bindings` {sign_id, publish_ids}, all or nothing.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/sign-bindings", tag = "signs",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn bind(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (sign_id, _, made) = shared::bind::<Signs>(&state, &scope.instance_id, &bytes).await?;
    tracing::info!(%sign_id, bindings = made.len(), "signature key bound");
    let l = Listing::<Signs>::load(&state, &scope.instance_id).await?;
    let items: Vec<Value> = made
        .iter()
        .filter_map(|b| {
            Some(binding_item(
                &l,
                l.policy(&b.sign_id)?,
                l.api(&b.api_id)?,
                b,
            ))
        })
        .collect();
    Ok((StatusCode::CREATED, Json(json!({"bindings": items}))))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/sign-bindings/{sign_bindings_id}", tag = "signs",
    params(InstancePath, SignBindingPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn unbind(
    Call { state, scope }: Call,
    Path(SignBindingPath { sign_bindings_id }): Path<SignBindingPath>,
) -> Result<StatusCode, ApiError> {
    shared::unbind::<Signs>(&state, &scope.instance_id, &sign_bindings_id).await
}

/// `ListSignatureKeysBindedToApiV2`: the keys bound to `api_id` (mandatory); filters `env_id`,
/// `sign_id`, `sign_name` (substring).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/sign-bindings/binded-signs", tag = "signs",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("api_id" = String, Query), ("env_id" = Option<String>, Query), ("sign_id" = Option<String>, Query), ("sign_name" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn bound_to_api(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let filter = BoundFilter {
        api_id: q.required("api_id", 64)?,
        env_id: q.text("env_id", 64)?,
        env_name: None,
        policy_id: q.text("sign_id", 64)?,
        policy_name: q.text("sign_name", 64)?,
    };
    shared::bound_to_api::<Signs>(
        &state,
        &scope.instance_id,
        &q,
        filter,
        "bindings",
        |l, k, b| match l.api(&b.api_id) {
            Some(a) => binding_item(l, k, a, b),
            None => Value::Null,
        },
    )
    .await
}

/// `ListAPIBindedToSignatureKeyV2`: the APIs `sign_id` (mandatory) is bound to.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/sign-bindings/binded-apis", tag = "signs",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("sign_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("env_id" = Option<String>, Query), ("group_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn apis_bound(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    shared::apis_bound::<Signs>(&state, &scope.instance_id, &uri, |l, k, a, b| {
        let mut v = binding_item(l, k, a, b);
        if let Some(m) = v.as_object_mut() {
            // This list's `SignApiBindingInfo` has no key, type or secret.
            for field in ["sign_type", "sign_key", "sign_secret"] {
                m.remove(field);
            }
        }
        v
    })
    .await
}

/// `ListAPIUnBindedToSignatureKeyV2`: the publications `sign_id` (mandatory) is not bound to;
/// `signature_name` names the key the API has there, if any.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/sign-bindings/unbinded-apis", tag = "signs",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("sign_id" = String, Query), ("api_id" = Option<String>, Query), ("api_name" = Option<String>, Query), ("env_id" = Option<String>, Query), ("group_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn apis_not_bound(
    Call { state, scope }: Call,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    shared::apis_not_bound::<Signs>(&state, &scope.instance_id, &uri, |l, a, p, other| {
        let d = def_map(a);
        let other = other
            .and_then(|b| l.policy(&b.sign_id))
            .map(|k| k.name.as_str())
            .unwrap_or("");
        json!({"id": a.id, "name": a.name, "group_id": a.group_id,
               "group_name": l.ctx.group_name(&a.group_id),
               "type": d.get("type").cloned().unwrap_or(json!(1)),
               "remark": d.get("remark").cloned().unwrap_or(json!("")),
               "run_env_name": l.ctx.env_name(&p.env_id), "run_env_id": p.env_id,
               "publish_id": p.publish_id, "signature_name": other,
               "req_uri": d.get("req_uri"), "auth_type": d.get("auth_type"),
               "req_method": d.get("req_method")})
    })
    .await
}
