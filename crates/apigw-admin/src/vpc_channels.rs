//! Load balance (VPC) channels (`CreateVpcChannelV2` and the sixteen calls beside it,
//! `otc-api/vpc_channel_management`, SPEC §9): a channel of servers (`type` 2), its members,
//! its member groups and its health check. A channel is stored whole, so every call that
//! changes a part reads the channel, changes it and writes it back in one store write.
//!
//! Decisions where the pages are silent (`docs/control-plane.md`): a member is always reached
//! at its `host` (an `ecs` member without one is refused: apigw cannot look ECS ids up);
//! members are identified by `host` and `port`; deleting a member group deletes its members;
//! a missing member group is 404 APIG.3007; each member carries `health_status` from the
//! running data plane.

use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::ApiError;
use crate::openapi::{Errors, InstancePath};
use crate::path::{ChannelPath, MemberGroupPath, MemberPath, Path};
use crate::AppState;
use apigw_model::field::Errors as FieldErrors;
use apigw_model::vpc_channel::{
    self as model, range, BalanceStrategy, HealthConfig, HealthProtocol, Member, MemberGroup,
    VpcChannel, MAX_PER_INSTANCE,
};
use apigw_model::{id, time};
use apigw_store::{Resource, StoreError};
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/vpc-channels", post(create).get(list))
        .route(
            "/vpc-channels/{vpc_channel_id}",
            get(show).put(update).delete(delete_one),
        )
        .route(
            "/vpc-channels/{vpc_channel_id}/members",
            post(add_members).put(update_members).get(list_members),
        )
        .route(
            "/vpc-channels/{vpc_channel_id}/members/batch-enable",
            post(enable_members),
        )
        .route(
            "/vpc-channels/{vpc_channel_id}/members/batch-disable",
            post(disable_members),
        )
        .route(
            "/vpc-channels/{vpc_channel_id}/members/{member_id}",
            delete(remove_member),
        )
        .route(
            "/vpc-channels/{vpc_channel_id}/member-groups",
            post(add_groups).get(list_groups),
        )
        .route(
            "/vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}",
            get(show_group).put(update_group).delete(delete_group),
        )
        .route(
            "/vpc-channels/{vpc_channel_id}/health-config",
            put(update_health),
        )
}

// ---------------------------------------------------------------------------------------
// Answers

/// `MemberGroupInfo`.
fn group_info(g: &MemberGroup) -> Value {
    let mut v = json!({"member_group_id": g.id, "member_group_name": g.name,
           "member_group_remark": g.remark, "dict_code": g.dict_code,
           "microservice_version": "", "microservice_port": 0,
           "create_time": time::format_millis(g.create_time),
           "update_time": time::format_millis(g.update_time)});
    if let Some(w) = g.weight {
        v["member_group_weight"] = json!(w);
    }
    v
}

/// `VpcMemberInfo`, with `health_status` as the data plane sees the member.
fn member_info(state: &AppState, channel_id: &str, m: &Member) -> Value {
    let health = state
        .member_health
        .as_ref()
        .and_then(|f| f(channel_id, &m.id));
    let health_status = match health {
        Some(true) => "normal",
        Some(false) => "abnormal",
        None => "unknown",
    };
    json!({"id": m.id, "vpc_channel_id": channel_id, "host": m.host, "port": m.port,
           "weight": m.weight, "is_backup": m.is_backup, "status": m.status,
           "member_group_name": m.member_group_name, "member_group_id": m.member_group_id,
           "ecs_id": m.ecs_id, "ecs_name": m.ecs_name,
           "create_time": time::format_millis(m.create_time),
           "health_status": health_status})
}

/// `VpcHealthConfigInfo`.
fn health_info(channel_id: &str, h: &HealthConfig) -> Value {
    json!({"id": h.id, "vpc_channel_id": channel_id, "protocol": h.protocol.as_str(),
           "path": h.path, "method": h.method, "port": h.port,
           "threshold_normal": h.threshold_normal, "threshold_abnormal": h.threshold_abnormal,
           "time_interval": h.time_interval, "timeout": h.timeout, "http_code": h.http_code,
           "enable_client_ssl": h.enable_client_ssl, "status": h.status,
           "create_time": time::format_millis(h.create_time)})
}

/// `VpcChannelInfo` (create, update, the list's items): the channel and its groups.
fn channel_info(c: &VpcChannel) -> Value {
    json!({"id": c.id, "name": c.name, "port": c.port,
           "balance_strategy": c.balance_strategy.code(), "member_type": c.member_type,
           "type": c.channel_type, "dict_code": c.dict_code, "status": 1,
           "create_time": time::format_millis(c.create_time),
           "member_groups": c.member_groups.iter().map(group_info).collect::<Vec<_>>()})
}

/// The details (show): the channel, its members and its health check.
fn channel_details(state: &AppState, c: &VpcChannel) -> Value {
    let mut v = channel_info(c);
    v["members"] = c
        .members
        .iter()
        .map(|m| member_info(state, &c.id, m))
        .collect();
    if let Some(h) = &c.health {
        v["vpc_health_config"] = health_info(&c.id, h);
    }
    v
}

// ---------------------------------------------------------------------------------------
// Parsing: each reader takes one JSON object and reports its errors under `prefix`.

/// An optional integer within `(lo, hi)` (else an error naming it), `default` when absent.
fn int_in(f: &mut Fields, name: &str, (lo, hi): (i64, i64), default: i64) -> i64 {
    match f.opt_int(name) {
        Some(v) if (lo..=hi).contains(&v) => v,
        Some(v) => {
            f.errs.range(v, lo, hi, name);
            default
        }
        None => default,
    }
}

/// A mandatory integer within `(lo, hi)`.
fn required_int(f: &mut Fields, name: &str, bounds: (i64, i64)) -> i64 {
    if !f.has(name) {
        f.errs.add(name, "is mandatory");
    }
    int_in(f, name, bounds, bounds.0)
}

/// The object `v` at `field`, or an error and `None`.
fn object(errs: &mut FieldErrors, field: &str, v: Value) -> Option<Fields> {
    match v {
        Value::Object(m) => Some(Fields::new(m)),
        _ => {
            errs.add(field, "must be an object");
            None
        }
    }
}

/// Ends the reading of a nested object: its unknown fields and errors go to `errs` under
/// `prefix`.
fn close(errs: &mut FieldErrors, prefix: &str, f: Fields) {
    if let Err(ApiError::Invalid(e)) = f.finish() {
        if prefix.is_empty() {
            errs.0.extend(e);
        } else {
            errs.extend_within(prefix, e);
        }
    }
}

/// The optional array `name` of `f`.
fn opt_array(f: &mut Fields, name: &str) -> Option<Vec<Value>> {
    match f.take(name) {
        None => None,
        Some(Value::Array(a)) => Some(a),
        Some(_) => {
            f.errs.add(name, "must be an array");
            None
        }
    }
}

/// Whether a value given for an unsupported field says nothing (`""`, `0`, `[]`, `{}`).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) => false,
    }
}

/// Refuses a value for a field of microservice channels.
fn refuse_unsupported(f: &mut Fields, name: &str, why: &str) {
    if f.take(name).is_some_and(|v| !is_empty(&v)) {
        f.errs.add(name, why);
    }
}

const MICROSERVICE: &str = "only for microservice channels (type 3), which are not supported";

/// A `MemberInfo` at `prefix`: a member as given, its group by name (ids and times are set by
/// [`place_members`]). `ecs_id` and `ecs_name` default to the host, as APIG answers them.
fn parse_member(errs: &mut FieldErrors, prefix: &str, v: Value, member_type: &str) -> Member {
    let mut f = object(errs, prefix, v).unwrap_or_else(|| Fields::new(Map::new()));
    let host = f.opt_string("host").unwrap_or_default();
    let port = int_in(&mut f, "port", range::MEMBER_PORT, 0);
    let weight = int_in(&mut f, "weight", range::WEIGHT, 1);
    let is_backup = f.opt_bool("is_backup").unwrap_or(false);
    let member_group_name = f.opt_string("member_group_name").unwrap_or_default();
    let status = int_in(&mut f, "status", (1, 2), 1);
    let ecs_id = f.opt_string("ecs_id").unwrap_or_default();
    let ecs_name = f.opt_string("ecs_name").unwrap_or_default();
    if host.is_empty() {
        let why = if member_type == "ecs" {
            "is mandatory: an ecs member is reached at the host given (ECS ids are not looked up)"
        } else {
            "is mandatory"
        };
        f.errs.add("host", why);
    }
    let m = Member {
        id: String::new(),
        ecs_id: if ecs_id.is_empty() {
            host.clone()
        } else {
            ecs_id
        },
        ecs_name: if ecs_name.is_empty() {
            host.clone()
        } else {
            ecs_name
        },
        host,
        port: port as u16,
        weight: weight as u32,
        is_backup,
        member_group_name,
        member_group_id: String::new(),
        status: status as i32,
        create_time: 0,
    };
    let mut own = FieldErrors::default();
    model::check_member(&mut own, &m, "");
    f.merge(own);
    close(errs, prefix, f);
    m
}

/// The `members` array of `f` (each item checked; `None` when absent).
fn parse_members(f: &mut Fields, member_type: &str) -> Option<Vec<Member>> {
    let items = opt_array(f, "members")?;
    let mut errs = FieldErrors::default();
    let members = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| parse_member(&mut errs, &format!("members[{i}]"), v, member_type))
        .collect();
    f.errs.0.extend(errs.0);
    Some(members)
}

/// A `MemberGroupCreate` (ids and times are set by [`place_groups`]).
fn parse_group(errs: &mut FieldErrors, prefix: &str, mut f: Fields) -> MemberGroup {
    let name = f.string("member_group_name");
    let remark = f.opt_string("member_group_remark").unwrap_or_default();
    let weight = f.opt_int("member_group_weight").map(|w| {
        let (lo, hi) = range::GROUP_WEIGHT;
        f.errs.range(w, lo, hi, "member_group_weight");
        w.clamp(lo, hi) as u32
    });
    let dict_code = f.opt_string("dict_code").unwrap_or_default();
    for micro in [
        "microservice_version",
        "microservice_port",
        "microservice_labels",
    ] {
        refuse_unsupported(&mut f, micro, MICROSERVICE);
    }
    refuse_unsupported(
        &mut f,
        "reference_vpc_channel_id",
        "groups referring to other channels are not supported",
    );
    let g = MemberGroup {
        id: String::new(),
        name,
        remark,
        weight,
        dict_code,
        create_time: 0,
        update_time: 0,
    };
    let mut own = FieldErrors::default();
    model::check_group(&mut own, &g, "");
    f.merge(own);
    close(errs, prefix, f);
    g
}

/// The `member_groups` array of `f` (each item checked, names unique; `None` when absent).
fn parse_groups(f: &mut Fields) -> Option<Vec<MemberGroup>> {
    let items = opt_array(f, "member_groups")?;
    let mut errs = FieldErrors::default();
    let mut groups: Vec<MemberGroup> = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        let field = format!("member_groups[{i}]");
        let Some(g) = object(&mut errs, &field, v) else {
            continue;
        };
        let g = parse_group(&mut errs, &field, g);
        if groups.iter().any(|o| o.name == g.name) {
            errs.add(
                format!("{field}.member_group_name"),
                format!("duplicate group name {}", g.name),
            );
        }
        groups.push(g);
    }
    f.errs.0.extend(errs.0);
    Some(groups)
}

/// A `VpcHealthConfig` read from `f` (fields named under `prefix`, bare when it is empty);
/// `old` keeps its id and creation time.
fn parse_health(
    errs: &mut FieldErrors,
    prefix: &str,
    mut f: Fields,
    old: Option<&HealthConfig>,
    now: i64,
) -> HealthConfig {
    let protocol = match f.opt_string("protocol") {
        None => {
            f.errs.add("protocol", "is mandatory");
            HealthProtocol::Tcp
        }
        // The pages' examples write it in lower case.
        Some(p) => HealthProtocol::parse(&p.to_ascii_uppercase()).unwrap_or_else(|| {
            f.errs.add("protocol", "must be TCP, HTTP or HTTPS");
            HealthProtocol::Tcp
        }),
    };
    let path = f.opt_string("path").unwrap_or_default();
    let method = f
        .opt_string("method")
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_else(|| "GET".into());
    let port = int_in(&mut f, "port", range::MEMBER_PORT, 0);
    let threshold_normal = required_int(&mut f, "threshold_normal", range::THRESHOLD);
    let threshold_abnormal = required_int(&mut f, "threshold_abnormal", range::THRESHOLD);
    let time_interval = required_int(&mut f, "time_interval", range::TIME_INTERVAL);
    let timeout = required_int(&mut f, "timeout", range::TIMEOUT);
    let http_code = f.opt_string("http_code").unwrap_or_default();
    let enable_client_ssl = f.opt_bool("enable_client_ssl").unwrap_or(false);
    let status = int_in(&mut f, "status", (1, 2), 1);
    let h = HealthConfig {
        id: old.map_or_else(id::new_id, |o| o.id.clone()),
        protocol,
        path,
        method,
        port: port as u16,
        threshold_normal: threshold_normal as u32,
        threshold_abnormal: threshold_abnormal as u32,
        time_interval: time_interval as u32,
        timeout: timeout as u32,
        http_code,
        enable_client_ssl,
        status: status as i32,
        create_time: old.map_or(now, |o| o.create_time),
    };
    let mut own = FieldErrors::default();
    model::check_health(&mut own, &h, "");
    f.merge(own);
    close(errs, prefix, f);
    h
}

/// Gives groups their ids and times: a group of the same name in `old` keeps its own.
fn place_groups(groups: &mut [MemberGroup], old: &[MemberGroup], now: i64) {
    for g in groups {
        match old.iter().find(|o| o.name == g.name) {
            Some(o) => {
                g.id = o.id.clone();
                g.create_time = o.create_time;
            }
            None => {
                g.id = id::new_id();
                g.create_time = now;
            }
        }
        g.update_time = now;
    }
}

/// Gives members their ids, times and group ids: a member at the same host and port in
/// `old` keeps its id (and so its health on the data plane). A member's group must be one
/// of `groups` (else an error naming `{field}[i].member_group_name`).
fn place_members(
    errs: &mut FieldErrors,
    field: &str,
    members: &mut [Member],
    old: &[Member],
    groups: &[MemberGroup],
    now: i64,
) {
    for (i, m) in members.iter_mut().enumerate() {
        match old.iter().find(|o| o.host == m.host && o.port == m.port) {
            Some(o) => {
                m.id = o.id.clone();
                m.create_time = o.create_time;
            }
            None => {
                m.id = id::new_id();
                m.create_time = now;
            }
        }
        m.member_group_id = String::new();
        if !m.member_group_name.is_empty() {
            match groups.iter().find(|g| g.name == m.member_group_name) {
                Some(g) => m.member_group_id = g.id.clone(),
                None => errs.add(
                    format!("{field}[{i}].member_group_name"),
                    format!("no member group {} in the channel", m.member_group_name),
                ),
            }
        }
    }
}

/// Keeps the first of members given twice at one address (the add page's rule).
fn first_of_each(members: Vec<Member>) -> Vec<Member> {
    let mut out: Vec<Member> = Vec::with_capacity(members.len());
    for m in members {
        if !out.iter().any(|o| o.host == m.host && o.port == m.port) {
            out.push(m);
        }
    }
    out
}

/// A `VpcCreate` (create, and update: a whole replace of `old`).
fn parse_channel(
    bytes: &[u8],
    instance_id: &str,
    old: Option<&VpcChannel>,
    now: i64,
) -> Result<VpcChannel, ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let name = f.string("name");
    let port = required_int(&mut f, "port", range::PORT);
    let balance = required_int(&mut f, "balance_strategy", (1, 4));
    let member_type = f.string("member_type");
    let channel_type = f.opt_int("type").unwrap_or(2);
    // The SDK's model has it; the pages do not say what it holds: accepted, not kept.
    f.opt_string("vpc_channel_type");
    let dict_code = f.opt_string("dict_code").unwrap_or_default();
    refuse_unsupported(&mut f, "microservice_info", MICROSERVICE);
    let mut groups = parse_groups(&mut f).unwrap_or_default();
    let members = parse_members(&mut f, &member_type).unwrap_or_default();
    let mut members = first_of_each(members);
    let health = match f.take("vpc_health_config") {
        None => None,
        Some(v) => {
            let mut errs = FieldErrors::default();
            let h = object(&mut errs, "vpc_health_config", v).map(|h| {
                parse_health(
                    &mut errs,
                    "vpc_health_config",
                    h,
                    old.and_then(|o| o.health.as_ref()),
                    now,
                )
            });
            f.errs.0.extend(errs.0);
            h
        }
    };
    place_groups(&mut groups, old.map_or(&[], |o| &o.member_groups), now);
    let mut errs = FieldErrors::default();
    place_members(
        &mut errs,
        "members",
        &mut members,
        old.map_or(&[], |o| &o.members),
        &groups,
        now,
    );
    f.errs.0.extend(errs.0);
    let c = VpcChannel {
        id: old.map_or_else(id::new_id, |o| o.id.clone()),
        instance_id: instance_id.to_string(),
        name,
        port: port as u16,
        balance_strategy: BalanceStrategy::from_code(balance)
            .unwrap_or(BalanceStrategy::RoundRobin),
        member_type,
        channel_type: i32::try_from(channel_type).unwrap_or(0),
        dict_code,
        create_time: old.map_or(now, |o| o.create_time),
        member_groups: groups,
        members,
        health,
    };
    let mut own = FieldErrors::default();
    model::check_channel(&mut own, &c);
    f.merge(own);
    f.finish()?;
    Ok(c)
}

// ---------------------------------------------------------------------------------------
// Handlers

/// The server time in milliseconds (the injected clock).
fn now(state: &AppState) -> i64 {
    (state.clock)().saturating_mul(1000)
}

/// The channel `id` of the instance, else 404 APIG.3023.
async fn find(state: &AppState, instance_id: &str, id: &str) -> Result<VpcChannel, ApiError> {
    state
        .store
        .get_vpc_channel(instance_id, id)
        .await?
        .ok_or_else(|| ApiError::missing(Resource::VpcChannel, id))
}

/// Writes back a channel changed by a call.
async fn save(state: &AppState, c: &VpcChannel) -> Result<(), ApiError> {
    state
        .store
        .update_vpc_channel(c)
        .await
        .map_err(ApiError::store(Resource::VpcChannel, &c.id))
}

/// 404 for a member group (the appendix has no code of its own for one: APIG.3007, "the
/// configuration does not exist").
fn group_missing(id: &str) -> ApiError {
    ApiError::Coded(
        StatusCode::NOT_FOUND,
        "APIG.3007",
        format!("The backend server group does not exist;id:{id}"),
    )
}

/// 404 APIG.3024 for a member.
fn member_missing(id: &str) -> ApiError {
    ApiError::Coded(
        StatusCode::NOT_FOUND,
        "APIG.3024",
        format!("The VPC instance does not exist,id:{id}"),
    )
}

/// `{total, size, members}` of `members`.
fn members_answer(state: &AppState, channel_id: &str, members: &[Member]) -> Value {
    let items: Vec<Value> = members
        .iter()
        .map(|m| member_info(state, channel_id, m))
        .collect();
    json!({"total": items.len(), "size": items.len(), "members": items})
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = parse_channel(&bytes, &scope.instance_id, None, now(&state))?;
    match state
        .store
        .create_vpc_channel(&c, Some(MAX_PER_INSTANCE))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Quota(max)) => {
            return Err(ApiError::Coded(
                StatusCode::FORBIDDEN,
                "APIG.3109",
                format!("The number of VPC channels exceeds the maximum allowed limit.: at most {max} per instance"),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(vpc_channel_id = %c.id, members = c.members.len(), "load balance channel created");
    Ok((StatusCode::CREATED, Json(channel_info(&c))))
}

/// A whole replace: members, groups and health check as given (members at the same address
/// and groups of the same name keep their ids).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ChannelPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let old = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let c = parse_channel(&bytes, &scope.instance_id, Some(&old), now(&state))?;
    save(&state, &c).await?;
    Ok(Json(channel_info(&c)))
}

/// Refused (403 APIG.3414) while an API's backend goes through the channel.
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}", tag = "vpc-channels",
    params(InstancePath, ChannelPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_one(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
) -> Result<StatusCode, ApiError> {
    match state
        .store
        .delete_vpc_channel(&scope.instance_id, &vpc_channel_id)
        .await
    {
        Ok(()) => {
            tracing::info!(%vpc_channel_id, "load balance channel deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(StoreError::InUse(Resource::Api)) => Err(ApiError::Coded(
            StatusCode::FORBIDDEN,
            "APIG.3414",
            "The VPC channel is already being used by another API.".into(),
        )),
        Err(e) => Err(ApiError::store(Resource::VpcChannel, &vpc_channel_id)(e)),
    }
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}", tag = "vpc-channels",
    params(InstancePath, ChannelPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
) -> Result<Json<Value>, ApiError> {
    let c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    Ok(Json(channel_details(&state, &c)))
}

/// Whether `precise_search` (a comma-separated list) names `field`.
fn exact(q: &Query, field: &str) -> bool {
    q.get("precise_search")
        .is_some_and(|p| p.split(',').any(|f| f.trim() == field))
}

/// `filter` against `value`: exactly when `precise`, else as a substring.
fn matches(filter: &Option<String>, value: &str, precise: bool) -> bool {
    if precise {
        eq(filter, value)
    } else {
        contains(filter, value)
    }
}

/// Filters: `id`, `name` (substring; exact with `precise_search=name`), `dict_code`,
/// `member_host` and `member_port` (a member at it), `member_group_name` (a group with it;
/// exact with `precise_search=member_group_name`), `member_group_id`.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels", tag = "vpc-channels",
    params(InstancePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("id" = Option<String>, Query), ("name" = Option<String>, Query), ("dict_code" = Option<String>, Query), ("precise_search" = Option<String>, Query), ("member_host" = Option<String>, Query), ("member_port" = Option<i64>, Query), ("member_group_name" = Option<String>, Query), ("member_group_id" = Option<String>, Query), ("vpc_channel_type" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let id = q.text("id", 64)?;
    let name = q.text("name", 64)?;
    let dict_code = q.text("dict_code", 64)?;
    let member_host = q.text("member_host", 64)?;
    let member_port = q.int("member_port")?;
    let group_name = q.text("member_group_name", 64)?;
    let group_id = q.text("member_group_id", 64)?;
    let (exact_name, exact_group) = (exact(&q, "name"), exact(&q, "member_group_name"));
    let found: Vec<VpcChannel> = state
        .store
        .list_vpc_channels(&scope.instance_id)
        .await?
        .into_iter()
        .filter(|c| {
            eq(&id, &c.id)
                && matches(&name, &c.name, exact_name)
                && eq(&dict_code, &c.dict_code)
                && (member_host.is_none() && member_port.is_none()
                    || c.members.iter().any(|m| {
                        eq(&member_host, &m.host)
                            && member_port.is_none_or(|p| p == i64::from(m.port))
                    }))
                && (group_name.is_none() && group_id.is_none()
                    || c.member_groups.iter().any(|g| {
                        matches(&group_name, &g.name, exact_group) && eq(&group_id, &g.id)
                    }))
        })
        .collect();
    let (total, page) = paginate(found, &q)?;
    let items: Vec<Value> = page.iter().map(channel_info).collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "vpc_channels": items}),
    ))
}

/// `AddingBackendInstancesV2`: a member at the address of one the channel has updates it;
/// the others are added. Answers the members given.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/members", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ChannelPath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn add_members(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let mut c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let given = parse_members(&mut f, &c.member_type);
    if given.is_none() && !f.errs.0.iter().any(|e| e.field == "members") {
        f.errs.add("members", "is mandatory");
    }
    let mut given = first_of_each(given.unwrap_or_default());
    let mut errs = FieldErrors::default();
    let now = now(&state);
    place_members(
        &mut errs,
        "members",
        &mut given,
        &c.members,
        &c.member_groups,
        now,
    );
    f.errs.0.extend(errs.0);
    f.finish()?;
    for m in &given {
        match c.members.iter_mut().find(|o| o.id == m.id) {
            Some(o) => *o = m.clone(),
            None => c.members.push(m.clone()),
        }
    }
    save(&state, &c).await?;
    Ok((
        StatusCode::CREATED,
        Json(members_answer(&state, &c.id, &given)),
    ))
}

/// `UpdateBackendInstancesV2`: the members given replace the channel's, or only those of the
/// group `member_group_name` names (members given for other groups are then ignored).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/members", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ChannelPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update_members(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let mut c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let group = f.opt_string("member_group_name").filter(|g| !g.is_empty());
    if let Some(g) = &group {
        f.errs.check(
            c.member_groups.iter().any(|x| &x.name == g),
            "member_group_name",
            format!("no member group {g} in the channel"),
        );
    }
    let given = parse_members(&mut f, &c.member_type).unwrap_or_default();
    let mut given: Vec<Member> = first_of_each(given)
        .into_iter()
        .filter(|m| group.as_ref().is_none_or(|g| &m.member_group_name == g))
        .collect();
    let mut errs = FieldErrors::default();
    let now = now(&state);
    place_members(
        &mut errs,
        "members",
        &mut given,
        &c.members,
        &c.member_groups,
        now,
    );
    f.errs.0.extend(errs.0);
    f.finish()?;
    c.members
        .retain(|m| group.as_ref().is_some_and(|g| &m.member_group_name != g));
    c.members.extend(given);
    save(&state, &c).await?;
    Ok(Json(members_answer(&state, &c.id, &c.members)))
}

/// Filters: `name` (the member's `ecs_name`, which is its host unless given; substring, exact
/// with `precise_search=name`), `member_group_name` (likewise), `member_group_id`.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/members", tag = "vpc-channels",
    params(InstancePath, ChannelPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("name" = Option<String>, Query), ("member_group_name" = Option<String>, Query), ("member_group_id" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list_members(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let name = q.text("name", 64)?;
    let group_name = q.text("member_group_name", 64)?;
    let group_id = q.text("member_group_id", 64)?;
    let (exact_name, exact_group) = (exact(&q, "name"), exact(&q, "member_group_name"));
    let c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let found: Vec<&Member> = c
        .members
        .iter()
        .filter(|m| {
            matches(&name, &m.ecs_name, exact_name)
                && matches(&group_name, &m.member_group_name, exact_group)
                && eq(&group_id, &m.member_group_id)
        })
        .collect();
    let (total, page) = paginate(found, &q)?;
    let items: Vec<Value> = page.iter().map(|m| member_info(&state, &c.id, m)).collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "members": items}),
    ))
}

#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/members/{member_id}", tag = "vpc-channels",
    params(InstancePath, MemberPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn remove_member(
    Call { state, scope }: Call,
    Path(MemberPath {
        vpc_channel_id,
        member_id,
    }): Path<MemberPath>,
) -> Result<StatusCode, ApiError> {
    let mut c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let before = c.members.len();
    c.members.retain(|m| m.id != member_id);
    if c.members.len() == before {
        return Err(member_missing(&member_id));
    }
    save(&state, &c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the `status` of the members named, all or none (an unknown id: 404 APIG.3024).
async fn set_status(
    state: &AppState,
    instance_id: &str,
    channel_id: &str,
    bytes: &[u8],
    status: i32,
) -> Result<StatusCode, ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let ids = f.ids("member_ids", 1000);
    f.finish()?;
    let mut c = find(state, instance_id, channel_id).await?;
    if let Some(unknown) = ids.iter().find(|i| !c.members.iter().any(|m| &&m.id == i)) {
        return Err(member_missing(unknown));
    }
    for m in c.members.iter_mut().filter(|m| ids.contains(&m.id)) {
        m.status = status;
    }
    save(state, &c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `BatchEnableMembers`: the members named take calls again (`status` 1).
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/members/batch-enable", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ChannelPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn enable_members(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    set_status(&state, &scope.instance_id, &vpc_channel_id, &bytes, 1).await
}

/// `BatchDisableMembers`: the members named get no calls (`status` 2).
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/members/batch-disable", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ChannelPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn disable_members(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    set_status(&state, &scope.instance_id, &vpc_channel_id, &bytes, 2).await
}

/// `CreateMemberGroup`: a group of the name of one the channel has updates it; the others
/// are added. Answers the groups given.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/member-groups", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ChannelPath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn add_groups(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(&bytes)?);
    let mut c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let mut given = parse_groups(&mut f).unwrap_or_default();
    f.finish()?;
    place_groups(&mut given, &c.member_groups, now(&state));
    for g in &given {
        match c.member_groups.iter_mut().find(|o| o.id == g.id) {
            Some(o) => *o = g.clone(),
            None => c.member_groups.push(g.clone()),
        }
    }
    save(&state, &c).await?;
    let items: Vec<Value> = given.iter().map(group_info).collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({"total": items.len(), "size": items.len(), "member_groups": items})),
    ))
}

/// Filters: `member_group_name` (substring; exact with `precise_search=member_group_name`),
/// `dict_code`.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/member-groups", tag = "vpc-channels",
    params(InstancePath, ChannelPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("member_group_name" = Option<String>, Query), ("dict_code" = Option<String>, Query), ("precise_search" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list_groups(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let name = q.text("member_group_name", 64)?;
    let dict_code = q.text("dict_code", 64)?;
    let exact_name = exact(&q, "member_group_name");
    let c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let found: Vec<&MemberGroup> = c
        .member_groups
        .iter()
        .filter(|g| matches(&name, &g.name, exact_name) && eq(&dict_code, &g.dict_code))
        .collect();
    let (total, page) = paginate(found, &q)?;
    let items: Vec<Value> = page.iter().map(|g| group_info(g)).collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "member_groups": items}),
    ))
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}", tag = "vpc-channels",
    params(InstancePath, MemberGroupPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show_group(
    Call { state, scope }: Call,
    Path(MemberGroupPath {
        vpc_channel_id,
        member_group_id,
    }): Path<MemberGroupPath>,
) -> Result<Json<Value>, ApiError> {
    let c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let g = c
        .member_groups
        .iter()
        .find(|g| g.id == member_group_id)
        .ok_or_else(|| group_missing(&member_group_id))?;
    Ok(Json(group_info(g)))
}

/// A rename carries the group's members along.
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, MemberGroupPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update_group(
    Call { state, scope }: Call,
    Path(MemberGroupPath {
        vpc_channel_id,
        member_group_id,
    }): Path<MemberGroupPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut errs = FieldErrors::default();
    let g = parse_group(&mut errs, "", Fields::new(body::object(&bytes)?));
    let mut c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let Some(i) = c.member_groups.iter().position(|o| o.id == member_group_id) else {
        return Err(group_missing(&member_group_id));
    };
    if c.member_groups
        .iter()
        .any(|o| o.id != member_group_id && o.name == g.name)
    {
        errs.add(
            "member_group_name",
            format!("the channel already has a group named {}", g.name),
        );
    }
    errs.into_result().map_err(ApiError::Invalid)?;
    let old_name = std::mem::replace(&mut c.member_groups[i].name, g.name.clone());
    let kept = &mut c.member_groups[i];
    kept.remark = g.remark;
    kept.weight = g.weight;
    kept.dict_code = g.dict_code;
    kept.update_time = now(&state).max(kept.update_time);
    let answer = group_info(kept);
    for m in c
        .members
        .iter_mut()
        .filter(|m| m.member_group_name == old_name)
    {
        m.member_group_name = g.name.clone();
    }
    save(&state, &c).await?;
    Ok(Json(answer))
}

/// The group's members go with it.
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}", tag = "vpc-channels",
    params(InstancePath, MemberGroupPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_group(
    Call { state, scope }: Call,
    Path(MemberGroupPath {
        vpc_channel_id,
        member_group_id,
    }): Path<MemberGroupPath>,
) -> Result<StatusCode, ApiError> {
    let mut c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let Some(i) = c.member_groups.iter().position(|o| o.id == member_group_id) else {
        return Err(group_missing(&member_group_id));
    };
    let g = c.member_groups.remove(i);
    c.members.retain(|m| m.member_group_name != g.name);
    save(&state, &c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `UpdateHealthCheck`: replaces the channel's health check (keeping its id).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/vpc-channels/{vpc_channel_id}/health-config", tag = "vpc-channels",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ChannelPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update_health(
    Call { state, scope }: Call,
    Path(ChannelPath { vpc_channel_id }): Path<ChannelPath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let f = Fields::new(body::object(&bytes)?);
    let mut c = find(&state, &scope.instance_id, &vpc_channel_id).await?;
    let mut errs = FieldErrors::default();
    let h = parse_health(&mut errs, "", f, c.health.as_ref(), now(&state));
    errs.into_result().map_err(ApiError::Invalid)?;
    let answer = health_info(&c.id, &h);
    c.health = Some(h);
    save(&state, &c).await?;
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn member(id: &str) -> Member {
        Member {
            id: id.into(),
            host: "10.0.0.1".into(),
            port: 0,
            weight: 1,
            is_backup: false,
            member_group_name: String::new(),
            member_group_id: String::new(),
            status: 1,
            ecs_id: "10.0.0.1".into(),
            ecs_name: "10.0.0.1".into(),
            create_time: 0,
        }
    }

    #[tokio::test]
    async fn health_status_reports_what_the_data_plane_sees_of_each_member() {
        let dir = tempfile::tempdir().unwrap();
        let secrets =
            apigw_store::Secrets::parse(&apigw_store::Secrets::generate_text().unwrap()).unwrap();
        let store = apigw_store::open(None, dir.path(), secrets).await.unwrap();
        let mut state = AppState {
            store,
            credentials: Arc::new(Vec::new()),
            instance_id: "i".into(),
            clock: crate::system_clock(),
            domain_suffix: "apigw.localhost".into(),
            after_write: None,
            member_health: None,
        };
        let status = |state: &AppState, id: &str| {
            member_info(state, "c1", &member(id))["health_status"].clone()
        };
        assert_eq!(status(&state, "up"), "unknown", "no data plane wired");
        state.member_health = Some(Arc::new(|channel: &str, member: &str| {
            match (channel, member) {
                ("c1", "up") => Some(true),
                ("c1", "down") => Some(false),
                _ => None,
            }
        }));
        assert_eq!(status(&state, "up"), "normal");
        assert_eq!(status(&state, "down"), "abnormal");
        assert_eq!(status(&state, "new"), "unknown", "not checked yet");
    }
}
