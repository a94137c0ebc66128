//! `POST /openapi/import`: an OpenAPI document with APIG's `x-apigateway-*` extensions turned
//! into a group, its APIs and the policies they name, written in one transaction.
//!
//! A document that cannot be read (not JSON or YAML, not Swagger 2.0 / OpenAPI 3.0, a policy
//! definition or the group invalid) is refused whole with 400 naming the field. Each API is
//! then checked on its own, exactly as `POST /apis` checks it; those that fail are listed in
//! `failure` with their code, the others are imported together (SPEC §11, docs/import-export.md).

use super::document::{self, Version, METHOD_KEYS};
use crate::error::ApiError;
use crate::AppState;
use apigw_model::acl::{Acl, AclBinding};
use apigw_model::api::ApiDef;
use apigw_model::resources::{Api, Binding, Group, Publication};
use apigw_model::throttle::{ObjectType, ThrottleBinding, ThrottleSpecial};
use apigw_model::{id, time, variables, FieldError};
use apigw_store::{ImportBatch, PluginFilter, Resource};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// The form fields of the import call besides the file.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Create a group named by `info.title` (default), or import into `group_id`.
    pub(crate) create_group: bool,
    pub(crate) group_id: Option<String>,
    /// `extend_mode` override: policies of the same name are replaced by the document's.
    pub(crate) extend_override: bool,
    /// `api_mode` override: an API with the same method, path and match mode is replaced.
    pub(crate) api_override: bool,
    /// `mock_mode`: an operation without `x-apigateway-backend` gets a MOCK backend.
    pub(crate) mock_mode: bool,
    /// Ours: publish the imported APIs in this environment and bind what they name there.
    pub(crate) env_id: Option<String>,
}

/// What an operation names besides its definition.
#[derive(Debug, Default)]
struct Refs {
    ratelimit: Option<String>,
    access_control: Option<String>,
    plugins: Vec<String>,
    /// `x-apigateway-response`: a gateway response set of the group other than its default.
    response: Option<String>,
}

/// One API that failed, as the answer's `failure` lists it.
fn failure(path: &str, method: &str, e: &ApiError) -> Value {
    let (_, code, msg) = e.parts();
    json!({"path": path, "method": method, "error_code": code, "error_msg": msg})
}

/// The field errors of `e` renamed under `prefix` (`x-apigateway-ratelimits.limit.api-limit`).
fn under(e: ApiError, prefix: &str, names: &[(&str, &str)]) -> ApiError {
    match e {
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|f| {
                    let local = names
                        .iter()
                        .find(|(ours, _)| *ours == f.field)
                        .map_or(f.field.as_str(), |(_, theirs)| theirs);
                    FieldError::new(format!("{prefix}{local}"), f.reason)
                })
                .collect(),
        ),
        other => other,
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
    ApiError::invalid(field, reason)
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// Runs an import; the answer of the call.
pub(crate) async fn run(
    state: &AppState,
    instance_id: &str,
    opts: &Options,
    file: &[u8],
) -> Result<Value, ApiError> {
    let (version, doc) = document::read(file)?;
    let now = time::now_millis();
    let mut batch = ImportBatch::default();

    // The group.
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    let group_id = if opts.create_group {
        let title = str_of(&info, "title").unwrap_or_default();
        let remark = str_of(&info, "description").unwrap_or_default();
        let body = json!({"name": title, "remark": remark}).to_string();
        let (name, remark, _) = crate::groups::parse(body.as_bytes(), true).map_err(|e| {
            under(
                e,
                "",
                &[("name", "info.title"), ("remark", "info.description")],
            )
        })?;
        let taken = state
            .store
            .list_groups(instance_id)
            .await?
            .iter()
            .any(|g| g.name == name);
        if taken {
            return Err(ApiError::Coded(
                axum::http::StatusCode::BAD_REQUEST,
                "APIG.3201",
                format!("The API group name already exists: {name}"),
            ));
        }
        let g = Group {
            id: id::new_id(),
            instance_id: instance_id.to_string(),
            name,
            remark,
            is_default: false,
            roma_app_id: None,
            register_time: now,
            update_time: now,
        };
        let gid = g.id.clone();
        batch.group = Some(g);
        gid
    } else {
        let gid = opts
            .group_id
            .clone()
            .filter(|g| !g.is_empty())
            .ok_or_else(|| invalid("group_id", "is mandatory when is_create_group is false"))?;
        crate::groups::find(state, instance_id, &gid).await?;
        gid
    };
    if let Some(env_id) = &opts.env_id {
        if state.store.get_env(instance_id, env_id).await?.is_none() {
            return Err(ApiError::missing(Resource::Env, env_id));
        }
    }

    // Root extensions: the policies below, and gateway responses only as the empty default.
    for key in doc.keys().filter(|k| k.starts_with("x-apigateway-")) {
        if ![
            "x-apigateway-ratelimits",
            "x-apigateway-access-controls",
            "x-apigateway-responses",
        ]
        .contains(&key.as_str())
        {
            return Err(invalid(key, "this extension is not supported by apigw"));
        }
    }
    let responses = match version {
        Version::V2 => doc.get("x-apigateway-responses"),
        Version::V3 => doc
            .get("components")
            .and_then(|c| c.get("x-apigateway-responses"))
            .or_else(|| doc.get("x-apigateway-responses")),
    };
    if let Some(Value::Object(sets)) = responses {
        for (name, set) in sets {
            if set.as_object().is_some_and(|m| !m.is_empty()) {
                return Err(invalid(
                    format!("x-apigateway-responses.{name}"),
                    "gateway responses are not imported: create them with the gateway response calls and name them in x-apigateway-response",
                ));
            }
        }
    }
    let response_sets = state.store.list_gateway_responses(instance_id).await?;

    // The policies the document defines, by name.
    let throttles = ratelimits(state, instance_id, &doc, opts, now, &mut batch).await?;
    let acls = access_controls(state, instance_id, &doc, opts, now, &mut batch).await?;
    let schemes = auth_types(&doc, version)?;

    // What the APIs may refer to.
    let channels: HashMap<String, String> = state
        .store
        .list_vpc_channels(instance_id)
        .await?
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect();
    // The group's APIs and where they are published: an import costs its group, not the
    // instance.
    let apis = state.store.list_group_apis(instance_id, &group_id).await?;
    let in_group: Vec<&Api> = apis.iter().collect();
    let ids: Vec<String> = apis.iter().map(|a| a.id.clone()).collect();
    let mut published: HashMap<String, Vec<String>> = HashMap::new();
    for p in state.store.list_publications_of(instance_id, &ids).await? {
        published.entry(p.api_id).or_default().push(p.env_id);
    }
    let variables = match &opts.env_id {
        Some(_) => state.store.list_variables(instance_id).await?,
        None => Vec::new(),
    };
    let mut plugins: HashMap<String, Option<apigw_model::Plugin>> = HashMap::new();

    let base = match version {
        Version::V2 => doc
            .get("basePath")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_end_matches('/')
            .to_string(),
        Version::V3 => String::new(),
    };
    let (mut success, mut failures) = (Vec::new(), Vec::new());
    let (mut routes, mut names) = (HashSet::new(), HashSet::new());
    let paths = doc.get("paths").and_then(Value::as_object);
    for (path, item) in paths.into_iter().flatten() {
        let Some(item) = item.as_object() else {
            failures.push(failure(
                path,
                "",
                &invalid(format!("paths.{path}"), "must be an object"),
            ));
            continue;
        };
        let uri = format!("{base}{path}");
        for (key, method) in METHOD_KEYS {
            let Some(op) = item.get(*key) else { continue };
            let built = operation(
                &doc,
                version,
                &schemes,
                opts,
                &OpCtx {
                    uri: &uri,
                    method,
                    group_id: &group_id,
                    item,
                    channels: &channels,
                },
                op,
            );
            let (mut def, refs) = match built {
                Ok(x) => x,
                Err(e) => {
                    failures.push(failure(&uri, method, &e));
                    continue;
                }
            };
            if let Some(name) = &refs.response {
                match response_sets
                    .iter()
                    .find(|r| r.group_id == group_id && &r.name == name)
                {
                    Some(r) => {
                        def.extra.insert("response_id".into(), r.id.clone().into());
                    }
                    None => {
                        let e = invalid(
                            "x-apigateway-response",
                            format!("the group has no gateway response set {name}"),
                        );
                        failures.push(failure(&uri, method, &e));
                        continue;
                    }
                }
            }
            // Conflicts: in the document (the first one wins) and in the group.
            let route = def.route_key();
            let existing = in_group.iter().find(|a| a.route_key == route);
            let duplicate = if !routes.insert(route.clone()) {
                Some(ApiError::Coded(axum::http::StatusCode::BAD_REQUEST, "APIG.3301",
                    "The API already exists, An API with the same combination of the method, path, and x-apigateway-match-mode fields is earlier in the document.".into()))
            } else if !names.insert(def.name.clone()) {
                Some(ApiError::Coded(
                    axum::http::StatusCode::BAD_REQUEST,
                    "APIG.3202",
                    format!(
                        "The API name already exists: {} is earlier in the document",
                        def.name
                    ),
                ))
            } else if let (Some(a), false) = (existing, opts.api_override) {
                Some(ApiError::Coded(axum::http::StatusCode::BAD_REQUEST, "APIG.3301",
                    format!("The API already exists, An API with the same combination of the method, path, and x-apigateway-match-mode fields already exists. API name: {}", a.name)))
            } else if in_group
                .iter()
                .any(|a| a.name == def.name && Some(&a.id) != existing.map(|e| &e.id))
            {
                Some(ApiError::Coded(
                    axum::http::StatusCode::BAD_REQUEST,
                    "APIG.3202",
                    format!("The API name already exists: {}", def.name),
                ))
            } else {
                None
            };
            if let Some(e) = duplicate {
                failures.push(failure(&uri, method, &e));
                continue;
            }
            let (api_id, register_time) = match existing {
                Some(a) => (a.id.clone(), a.register_time),
                None => (id::new_id(), now),
            };
            // Where the API will be published once the import is written.
            let mut envs: Vec<String> = match existing {
                Some(_) => published.get(&api_id).cloned().unwrap_or_default(),
                None => Vec::new(),
            };
            if let Some(env_id) = &opts.env_id {
                if let Err(e) = check_variables(&def, &group_id, env_id, &variables) {
                    failures.push(failure(&uri, method, &e));
                    continue;
                }
                if !envs.contains(env_id) {
                    envs.push(env_id.clone());
                }
            }
            let bound = match bindings(
                state,
                instance_id,
                &api_id,
                &envs,
                &refs,
                &throttles,
                &acls,
                &mut plugins,
                now,
            )
            .await
            {
                Ok(b) => b,
                Err(e) => {
                    failures.push(failure(&uri, method, &e));
                    continue;
                }
            };
            let row = Api {
                id: api_id.clone(),
                instance_id: instance_id.to_string(),
                group_id: group_id.clone(),
                name: def.name.clone(),
                route_key: route,
                def: serde_json::to_string(&def).map_err(|e| ApiError::Internal(e.to_string()))?,
                register_time,
                update_time: now,
            };
            let action = if existing.is_some() {
                batch.updated_apis.push(row);
                "update"
            } else {
                batch.created_apis.push(row);
                "create"
            };
            if let Some(env_id) = &opts.env_id {
                batch.publications.push(Publication {
                    publish_id: id::new_id(),
                    instance_id: instance_id.to_string(),
                    api_id: api_id.clone(),
                    env_id: env_id.clone(),
                    remark: String::new(),
                    publish_time: now,
                });
            }
            let (b, ab, tb) = bound;
            batch.bindings.extend(b);
            batch.acl_bindings.extend(ab);
            batch.throttle_bindings.extend(tb);
            success.push(json!({"path": uri, "method": method, "action": action, "id": api_id}));
        }
    }
    state
        .store
        .import(&batch)
        .await
        .map_err(ApiError::store(Resource::Api, ""))?;
    Ok(json!({
        "success": success,
        "failure": failures,
        "ignore": [],
        "group_id": group_id,
        "swagger": {"id": id::new_id(), "result": if failures.is_empty() { "Success" } else { "Partial success" }},
    }))
}

/// `#Name#` variables of the backend must be defined for the group in the environment it is
/// published in (as `POST /apis/action` requires).
fn check_variables(
    def: &ApiDef,
    group_id: &str,
    env_id: &str,
    defined: &[apigw_model::variables::EnvVariable],
) -> Result<(), ApiError> {
    let Some(b) = &def.backend_api else {
        return Ok(());
    };
    for (field, text) in [
        ("x-apigateway-backend.httpEndpoints.address", &b.url_domain),
        ("x-apigateway-backend.httpEndpoints.path", &b.req_uri),
    ] {
        for name in variables::references(text) {
            let known = defined
                .iter()
                .any(|v| v.group_id == group_id && v.env_id == env_id && v.name == name);
            if !known {
                return Err(invalid(
                    field,
                    format!("the environment variable {name} (#{name}#) is not defined for the group in environment {env_id}"),
                ));
            }
        }
    }
    Ok(())
}

/// The bindings an imported API gets in each environment it is published in.
#[allow(clippy::too_many_arguments)]
async fn bindings(
    state: &AppState,
    instance_id: &str,
    api_id: &str,
    envs: &[String],
    refs: &Refs,
    throttles: &HashMap<String, String>,
    acls: &HashMap<String, Acl>,
    plugins: &mut HashMap<String, Option<apigw_model::Plugin>>,
    now: i64,
) -> Result<(Vec<Binding>, Vec<AclBinding>, Vec<ThrottleBinding>), ApiError> {
    let throttle = match &refs.ratelimit {
        Some(n) => Some(throttles.get(n).ok_or_else(|| {
            invalid(
                "x-apigateway-ratelimit",
                format!("{n} is neither defined in x-apigateway-ratelimits nor an existing request throttling policy"),
            )
        })?),
        None => None,
    };
    let acl = match &refs.access_control {
        Some(n) => Some(acls.get(n).ok_or_else(|| {
            invalid(
                "x-apigateway-access-control",
                format!("{n} is neither defined in x-apigateway-access-controls nor an existing access control policy"),
            )
        })?),
        None => None,
    };
    let mut chosen = Vec::new();
    for name in &refs.plugins {
        if !plugins.contains_key(name) {
            let filter = PluginFilter {
                name: Some(name.clone()),
                name_exact: true,
                ..Default::default()
            };
            let page = apigw_model::page::Page {
                offset: 0,
                limit: 1,
            };
            let (_, found) = state.store.list_plugins(instance_id, &filter, page).await?;
            plugins.insert(name.clone(), found.into_iter().next());
        }
        let p = plugins[name].clone().ok_or_else(|| {
            invalid(
                "x-apigateway-plugins",
                format!("the plug-in {name} does not exist"),
            )
        })?;
        if chosen
            .iter()
            .any(|c: &apigw_model::Plugin| c.plugin_type == p.plugin_type)
        {
            return Err(invalid(
                "x-apigateway-plugins",
                format!(
                    "an API takes one plug-in of each type; {name} is a second {}",
                    p.plugin_type.as_str()
                ),
            ));
        }
        chosen.push(p);
    }
    let (mut b, mut ab, mut tb) = (Vec::new(), Vec::new(), Vec::new());
    for env_id in envs {
        for p in &chosen {
            b.push(Binding {
                id: id::new_id(),
                instance_id: instance_id.to_string(),
                plugin_id: p.id.clone(),
                plugin_type: p.plugin_type,
                api_id: api_id.to_string(),
                env_id: env_id.clone(),
                attached_time: now,
            });
        }
        if let Some(a) = acl {
            ab.push(AclBinding {
                id: id::new_id(),
                instance_id: instance_id.to_string(),
                acl_id: a.id.clone(),
                api_id: api_id.to_string(),
                env_id: env_id.clone(),
                kind: a.entity_type.kind(),
                create_time: now,
            });
        }
        if let Some(t) = throttle {
            tb.push(ThrottleBinding {
                id: id::new_id(),
                instance_id: instance_id.to_string(),
                throttle_id: t.clone(),
                api_id: api_id.to_string(),
                env_id: env_id.clone(),
                create_time: now,
            });
        }
    }
    Ok((b, ab, tb))
}

/// `x-apigateway-ratelimits`: request throttling policies by name (created, or with
/// `extend_mode` override replacing the existing one of that name). Name → policy id, for
/// the document's and the instance's policies.
async fn ratelimits(
    state: &AppState,
    instance_id: &str,
    doc: &Map<String, Value>,
    opts: &Options,
    now: i64,
    batch: &mut ImportBatch,
) -> Result<HashMap<String, String>, ApiError> {
    let existing = state.store.list_throttles(instance_id).await?;
    let mut out: HashMap<String, String> = existing
        .iter()
        .map(|t| (t.name.clone(), t.id.clone()))
        .collect();
    let Some(defs) = doc.get("x-apigateway-ratelimits") else {
        return Ok(out);
    };
    let defs = defs
        .as_object()
        .ok_or_else(|| invalid("x-apigateway-ratelimits", "must be an object"))?;
    let apps = state.store.list_apps(instance_id).await?;
    for (name, d) in defs {
        let prefix = format!("x-apigateway-ratelimits.{name}.");
        let old = existing.iter().find(|t| &t.name == name);
        if old.is_some() && !opts.extend_override {
            continue;
        }
        let unit = str_of(d, "unit").map(str::to_uppercase);
        let shared = d.get("shared").and_then(Value::as_bool).unwrap_or(false);
        let body = json!({
            "name": name, "api_call_limits": d.get("api-limit"),
            "user_call_limits": d.get("user-limit"), "app_call_limits": d.get("app-limit"),
            "ip_call_limits": d.get("ip-limit"), "time_interval": d.get("interval"),
            "time_unit": unit, "type": if shared { 2 } else { 1 },
        });
        let mut blank = crate::throttles::blank(
            old.map_or_else(id::new_id, |t| t.id.clone()),
            instance_id,
            old.map_or(now, |t| t.create_time),
        );
        blank.remark = old.map(|t| t.remark.clone()).unwrap_or_default();
        let t = crate::throttles::parse(body.to_string().as_bytes(), blank).map_err(|e| {
            under(
                e,
                &prefix,
                &[
                    ("name", "name"),
                    ("api_call_limits", "api-limit"),
                    ("user_call_limits", "user-limit"),
                    ("app_call_limits", "app-limit"),
                    ("ip_call_limits", "ip-limit"),
                    ("time_interval", "interval"),
                    ("time_unit", "unit"),
                    ("type", "shared"),
                ],
            )
        })?;
        let specials = match d.get("special") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(invalid(format!("{prefix}special"), "must be an array")),
        };
        let mut seen = HashSet::new();
        for (i, sp) in specials.iter().enumerate() {
            let field = format!("{prefix}special[{i}]");
            let object_type = match str_of(sp, "type") {
                Some("APP") => ObjectType::App,
                Some("USER") => ObjectType::User,
                _ => return Err(invalid(format!("{field}.type"), "must be APP or USER")),
            };
            let limit = sp
                .get("limit")
                .and_then(Value::as_i64)
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(format!("{field}.limit"), "must be a positive integer"))?;
            let object_id = str_of(sp, "instance")
                .filter(|s| !s.is_empty() && s.len() <= 64)
                .ok_or_else(|| invalid(format!("{field}.instance"), "must be 1..64 characters"))?;
            if object_type == ObjectType::App && !apps.iter().any(|a| a.id == object_id) {
                return Err(invalid(
                    format!("{field}.instance"),
                    format!("the app {object_id} does not exist"),
                ));
            }
            if !seen.insert(object_id.to_string()) {
                return Err(invalid(
                    format!("{field}.instance"),
                    "is excluded twice in this policy",
                ));
            }
            batch.throttle_specials.push(ThrottleSpecial {
                id: id::new_id(),
                instance_id: instance_id.to_string(),
                throttle_id: t.id.clone(),
                object_type,
                object_id: object_id.to_string(),
                call_limits: limit,
                create_time: now,
            });
        }
        out.insert(t.name.clone(), t.id.clone());
        if old.is_some() {
            batch.updated_throttles.push(t);
        } else {
            batch.created_throttles.push(t);
        }
    }
    Ok(out)
}

/// `x-apigateway-access-controls`: access control policies by name, as for the throttles.
async fn access_controls(
    state: &AppState,
    instance_id: &str,
    doc: &Map<String, Value>,
    opts: &Options,
    now: i64,
    batch: &mut ImportBatch,
) -> Result<HashMap<String, Acl>, ApiError> {
    let existing = state.store.list_acls(instance_id).await?;
    let mut out: HashMap<String, Acl> = existing
        .iter()
        .map(|a| (a.name.clone(), a.clone()))
        .collect();
    let Some(defs) = doc.get("x-apigateway-access-controls") else {
        return Ok(out);
    };
    let defs = defs
        .as_object()
        .ok_or_else(|| invalid("x-apigateway-access-controls", "must be an object"))?;
    for (name, d) in defs {
        let prefix = format!("x-apigateway-access-controls.{name}.");
        let old = existing.iter().find(|a| &a.name == name);
        if old.is_some() && !opts.extend_override {
            continue;
        }
        let body = json!({
            "acl_name": name, "acl_type": d.get("acl-type"),
            "entity_type": d.get("entity-type"), "acl_value": d.get("value"),
        });
        let (name, acl_type, entity_type, value) = crate::acls::parse(body.to_string().as_bytes())
            .map_err(|e| {
                under(
                    e,
                    &prefix,
                    &[
                        ("acl_name", "name"),
                        ("acl_type", "acl-type"),
                        ("entity_type", "entity-type"),
                        ("acl_value", "value"),
                    ],
                )
            })?;
        let a = Acl {
            id: old.map_or_else(id::new_id, |a| a.id.clone()),
            instance_id: instance_id.to_string(),
            name,
            acl_type,
            entity_type,
            value,
            update_time: now,
        };
        out.insert(a.name.clone(), a.clone());
        if old.is_some() {
            batch.updated_acls.push(a);
        } else {
            batch.created_acls.push(a);
        }
    }
    Ok(out)
}

/// An APIG security scheme: `auth_type`, and `auth_opt` from `x-apigateway-auth-opt`.
type Scheme = (String, Option<Value>);

/// Security scheme name → `auth_type` (`x-apigateway-auth-type` AppSigv1 → APP, IAM → IAM).
fn auth_types(
    doc: &Map<String, Value>,
    version: Version,
) -> Result<HashMap<String, Scheme>, ApiError> {
    let mut out = HashMap::new();
    let Some(schemes) = document::security_schemes(doc, version) else {
        return Ok(out);
    };
    let schemes = schemes
        .as_object()
        .ok_or_else(|| invalid("securityDefinitions", "must be an object"))?;
    for (name, s) in schemes {
        let opt = match s
            .get("x-apigateway-auth-opt")
            .and_then(|o| str_of(o, "appcode-auth-type"))
        {
            None => None,
            Some("header") => Some(json!({"app_code_auth_type": "HEADER"})),
            Some("disable") => Some(json!({"app_code_auth_type": "DISABLE"})),
            Some(_) => {
                return Err(invalid(
                    format!("securityDefinitions.{name}.x-apigateway-auth-opt.appcode-auth-type"),
                    "must be header or disable",
                ))
            }
        };
        match str_of(s, "x-apigateway-auth-type") {
            Some("AppSigv1") => {
                out.insert(name.clone(), ("APP".into(), opt));
            }
            Some("IAM") => {
                out.insert(name.clone(), ("IAM".into(), None));
            }
            Some(other) => {
                return Err(invalid(
                    format!("securityDefinitions.{name}.x-apigateway-auth-type"),
                    format!("must be AppSigv1 or IAM, not {other}"),
                ))
            }
            // Not an APIG scheme: an operation that uses it fails (see `operation`).
            None => {}
        }
    }
    Ok(out)
}

/// Where an operation sits.
struct OpCtx<'a> {
    uri: &'a str,
    method: &'a str,
    group_id: &'a str,
    item: &'a Map<String, Value>,
    channels: &'a HashMap<String, String>,
}

/// The extensions of an operation apigw reads; any other `x-apigateway-*` key is refused by
/// name.
const KNOWN_EXTENSIONS: &[&str] = &[
    "x-apigateway-request-type",
    "x-apigateway-match-mode",
    "x-apigateway-cors",
    "x-apigateway-is-send-fg-body-base64",
    "x-apigateway-backend",
    "x-apigateway-ratelimit",
    "x-apigateway-access-control",
    "x-apigateway-plugins",
    "x-apigateway-response",
];

/// One operation as an API definition (checked as `POST /apis` checks it), and what it names.
fn operation(
    doc: &Map<String, Value>,
    version: Version,
    schemes: &HashMap<String, Scheme>,
    opts: &Options,
    at: &OpCtx<'_>,
    op: &Value,
) -> Result<(ApiDef, Refs), ApiError> {
    let op = op
        .as_object()
        .ok_or_else(|| invalid("operation", "must be an object"))?;
    for key in op.keys() {
        if key == "x-apigateway-backend-policies" {
            return Err(invalid(
                key,
                "backend policies are not supported by apigw: remove the extension or the policies",
            ));
        }
        if key.starts_with("x-apigateway-") && !KNOWN_EXTENSIONS.contains(&key.as_str()) {
            return Err(invalid(key, "this extension is not supported by apigw"));
        }
    }
    let mut api = Map::new();
    let name = match op.get("operationId") {
        Some(Value::String(s)) => s.clone(),
        None => default_name(at.method, at.uri),
        Some(_) => return Err(invalid("operationId", "must be a string")),
    };
    api.insert("name".into(), name.into());
    api.insert("group_id".into(), at.group_id.into());
    api.insert("req_method".into(), at.method.into());
    api.insert("req_uri".into(), at.uri.into());
    api.insert("req_protocol".into(), protocol(doc, version, op).into());
    if let Some(d) = op.get("description") {
        api.insert("remark".into(), d.clone());
    }
    let request_type = match op.get("x-apigateway-request-type").map(|v| v.as_str()) {
        None | Some(Some("public")) => 1,
        Some(Some("private")) => 2,
        Some(_) => {
            return Err(invalid(
                "x-apigateway-request-type",
                "must be public or private",
            ))
        }
    };
    api.insert("type".into(), request_type.into());
    match op.get("x-apigateway-match-mode") {
        None => {}
        Some(Value::String(m)) if m == "NORMAL" || m == "SWA" => {
            api.insert("match_mode".into(), m.clone().into());
        }
        Some(_) => return Err(invalid("x-apigateway-match-mode", "must be NORMAL or SWA")),
    }
    match op.get("x-apigateway-cors") {
        None => {}
        Some(Value::Bool(b)) => {
            api.insert("cors".into(), (*b).into());
        }
        Some(_) => return Err(invalid("x-apigateway-cors", "must be true or false")),
    }
    match op.get("x-apigateway-is-send-fg-body-base64") {
        None => {}
        Some(Value::Bool(b)) => {
            api.insert("is_send_fg_body_base64".into(), (*b).into());
        }
        Some(_) => {
            return Err(invalid(
                "x-apigateway-is-send-fg-body-base64",
                "must be true or false",
            ))
        }
    }
    let (auth_type, auth_opt) = auth(doc, schemes, op)?;
    api.insert("auth_type".into(), auth_type.into());
    if let Some(o) = auth_opt {
        api.insert("auth_opt".into(), o);
    }
    let params = request_params(doc, version, at.item, op)?;
    if !params.is_empty() {
        api.insert("req_params".into(), params.into());
    }
    backend(&mut api, op, opts, at)?;
    let refs = Refs {
        ratelimit: optional_name(op, "x-apigateway-ratelimit")?,
        access_control: optional_name(op, "x-apigateway-access-control")?,
        plugins: match op.get("x-apigateway-plugins") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        invalid("x-apigateway-plugins", "must be an array of plug-in names")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(
                    "x-apigateway-plugins",
                    "must be an array of plug-in names",
                ))
            }
        },
        response: None,
    };
    let refs = Refs {
        response: match op.get("x-apigateway-response") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "default" => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("x-apigateway-response", "must be a response name")),
        },
        ..refs
    };
    let def = ApiDef::from_json(Value::Object(api)).map_err(|errs| {
        ApiError::Invalid(
            errs.into_iter()
                .map(|f| FieldError::new(oas_field(&f.field), f.reason))
                .collect(),
        )
    })?;
    Ok((def, refs))
}

/// Where an `ApiCreate` field comes from in the document, for error messages.
fn oas_field(field: &str) -> String {
    let map: &[(&str, &str)] = &[
        ("name", "operationId"),
        ("remark", "description"),
        ("req_uri", "paths"),
        ("match_mode", "x-apigateway-match-mode"),
        (
            "backend_api.url_domain",
            "x-apigateway-backend.httpEndpoints.address",
        ),
        (
            "backend_api.req_protocol",
            "x-apigateway-backend.httpEndpoints.scheme",
        ),
        (
            "backend_api.req_method",
            "x-apigateway-backend.httpEndpoints.method",
        ),
        (
            "backend_api.req_uri",
            "x-apigateway-backend.httpEndpoints.path",
        ),
        (
            "backend_api.timeout",
            "x-apigateway-backend.httpEndpoints.timeout",
        ),
        (
            "mock_info.result_content",
            "x-apigateway-backend.mockEndpoints.result-content",
        ),
    ];
    map.iter()
        .find(|(ours, _)| *ours == field)
        .map_or_else(|| field.to_string(), |(_, theirs)| theirs.to_string())
}

fn optional_name(op: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match op.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(invalid(key, "must be a policy name")),
    }
}

/// A name for an operation without `operationId`: `API_` and the method and path's letters.
fn default_name(method: &str, uri: &str) -> String {
    let mut n = format!("API_{}", method.to_lowercase());
    for c in uri.chars() {
        n.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    n.chars().take(64).collect()
}

/// `req_protocol` from the operation's (or document's) `schemes` (2.0) or `servers` (3.0).
fn protocol(doc: &Map<String, Value>, version: Version, op: &Map<String, Value>) -> &'static str {
    let schemes: Vec<String> = match version {
        Version::V2 => op
            .get("schemes")
            .or_else(|| doc.get("schemes"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_lowercase))
                    .collect()
            })
            .unwrap_or_default(),
        Version::V3 => op
            .get("servers")
            .or_else(|| doc.get("servers"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| str_of(s, "url"))
                    .filter_map(|u| u.trim().split_once("://").map(|(s, _)| s.to_lowercase()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let http = schemes.iter().any(|s| s == "http");
    let https = schemes.iter().any(|s| s == "https");
    match (http, https) {
        (true, true) => "BOTH",
        (true, false) => "HTTP",
        _ => "HTTPS",
    }
}

/// `auth_type` from the operation's (or document's) `security`.
fn auth(
    doc: &Map<String, Value>,
    schemes: &HashMap<String, Scheme>,
    op: &Map<String, Value>,
) -> Result<Scheme, ApiError> {
    let none = || ("NONE".to_string(), None);
    let security = op.get("security").or_else(|| doc.get("security"));
    let Some(list) = security else {
        return Ok(none());
    };
    let list = list
        .as_array()
        .ok_or_else(|| invalid("security", "must be an array"))?;
    let Some(first) = list
        .iter()
        .find_map(|r| r.as_object()?.keys().next().cloned())
    else {
        return Ok(none());
    };
    schemes.get(&first).cloned().ok_or_else(|| {
        invalid(
            "security",
            format!(
                "the scheme {first} is not an APIG scheme (x-apigateway-auth-type AppSigv1 or IAM)"
            ),
        )
    })
}

/// `req_params` from the path item's and the operation's `parameters` (header, query and
/// path; APIG has no body or form parameters, which are left to the backend).
fn request_params(
    doc: &Map<String, Value>,
    version: Version,
    item: &Map<String, Value>,
    op: &Map<String, Value>,
) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<Value> = Vec::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for list in lists.into_iter().flatten() {
        let list = list
            .as_array()
            .ok_or_else(|| invalid("parameters", "must be an array"))?;
        for p in list {
            let p = document::resolve(doc, version, p).map_err(|e| invalid("parameters", e))?;
            let name =
                str_of(p, "name").ok_or_else(|| invalid("parameters.name", "is mandatory"))?;
            let location = match str_of(p, "in") {
                Some("path") => "PATH",
                Some("query") => "QUERY",
                Some("header") => "HEADER",
                Some("body" | "formData" | "cookie") => continue,
                _ => {
                    return Err(invalid(
                        format!("parameters.{name}.in"),
                        "must be path, query or header",
                    ))
                }
            };
            let schema = match version {
                Version::V2 => p,
                Version::V3 => p.get("schema").unwrap_or(p),
            };
            let kind = match str_of(schema, "type") {
                Some("integer" | "number" | "long" | "float" | "double") => "NUMBER",
                _ => "STRING",
            };
            let mut r = Map::new();
            r.insert("name".into(), name.into());
            r.insert("type".into(), kind.into());
            r.insert("location".into(), location.into());
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            r.insert("required".into(), if required { 1 } else { 2 }.into());
            for (theirs, ours, from_schema) in [
                ("description", "remark", false),
                ("default", "default_value", true),
                ("example", "sample_value", false),
                ("maximum", "max_num", true),
                ("minimum", "min_num", true),
                ("maxLength", "max_size", true),
                ("minLength", "min_size", true),
            ] {
                let src = if from_schema { schema } else { p };
                if let Some(v) = src.get(theirs) {
                    let v = match (ours, v) {
                        ("default_value" | "sample_value", Value::String(_)) => v.clone(),
                        ("default_value" | "sample_value", other) => other.to_string().into(),
                        _ => v.clone(),
                    };
                    r.insert(ours.into(), v);
                }
            }
            if let Some(Value::Array(e)) = schema.get("enum") {
                let joined: Vec<String> = e
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect();
                r.insert("enumerations".into(), joined.join(",").into());
            }
            match str_of(p, "x-apigateway-pass-through") {
                Some("always") => {
                    r.insert("pass_through".into(), 1.into());
                }
                Some("never") => {
                    r.insert("pass_through".into(), 2.into());
                }
                _ => {}
            }
            // An operation's parameter overrides the path item's of the same name and place.
            out.retain(|o| !(o["name"] == r["name"] && o["location"] == r["location"]));
            out.push(Value::Object(r));
        }
    }
    Ok(out)
}

/// `x-apigateway-backend` into `backend_type` and `backend_api` / `mock_info`.
fn backend(
    api: &mut Map<String, Value>,
    op: &Map<String, Value>,
    opts: &Options,
    at: &OpCtx<'_>,
) -> Result<(), ApiError> {
    let Some(b) = op.get("x-apigateway-backend") else {
        if opts.mock_mode {
            api.insert("backend_type".into(), "MOCK".into());
            api.insert("mock_info".into(), json!({"result_content": ""}));
            return Ok(());
        }
        return Err(invalid(
            "x-apigateway-backend",
            "is mandatory (or import with mock_mode true)",
        ));
    };
    let kind = str_of(b, "type").unwrap_or_default();
    if let Some(Value::Array(params)) = b.get("parameters") {
        let mut out = Vec::new();
        for (i, p) in params.iter().enumerate() {
            let field = format!("x-apigateway-backend.parameters[{i}]");
            let get = |k: &str| {
                str_of(p, k)
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("{field}.{k}"), "is mandatory"))
            };
            let (name, value, location, origin) =
                (get("name")?, get("value")?, get("in")?, get("origin")?);
            let location = location.to_uppercase();
            if !["HEADER", "QUERY", "PATH"].contains(&location.as_str()) {
                return Err(invalid(
                    format!("{field}.in"),
                    "must be header, query or path",
                ));
            }
            if !["REQUEST", "CONSTANT", "SYSTEM"].contains(&origin.as_str()) {
                return Err(invalid(
                    format!("{field}.origin"),
                    "must be REQUEST or CONSTANT",
                ));
            }
            let mut m =
                json!({"name": name, "value": value, "location": location, "origin": origin});
            if let Some(d) = p.get("description") {
                m["remark"] = d.clone();
            }
            out.push(m);
        }
        api.insert("backend_params".into(), out.into());
    } else if b.get("parameters").is_some_and(|p| !p.is_null()) {
        return Err(invalid(
            "x-apigateway-backend.parameters",
            "must be an array",
        ));
    }
    match kind {
        "HTTP" | "HTTP-VPC" => {
            let (key, vpc) = if kind == "HTTP" {
                ("httpEndpoints", false)
            } else {
                ("httpVpcEndpoints", true)
            };
            let e = b
                .get(key)
                .ok_or_else(|| invalid(format!("x-apigateway-backend.{key}"), "is mandatory"))?;
            let field = |k: &str| format!("x-apigateway-backend.{key}.{k}");
            let scheme = str_of(e, "scheme").unwrap_or("http").to_uppercase();
            let mut ba = json!({
                "req_protocol": scheme,
                "req_method": str_of(e, "method").unwrap_or(at.method).to_uppercase(),
                "req_uri": str_of(e, "path").unwrap_or("/"),
            });
            if let Some(t) = e.get("timeout") {
                ba["timeout"] = t.clone();
            }
            let target = single(e, if vpc { "name" } else { "address" }, &field)?;
            if vpc {
                let id = at.channels.get(&target).ok_or_else(|| {
                    invalid(
                        field("name"),
                        format!("the load balance channel {target} does not exist"),
                    )
                })?;
                ba["vpc_channel_status"] = 1.into();
                ba["vpc_channel_info"] = json!({"vpc_channel_id": id});
            } else {
                ba["url_domain"] = target.into();
            }
            api.insert("backend_type".into(), "HTTP".into());
            api.insert("backend_api".into(), ba);
        }
        "MOCK" => {
            let content = b
                .get("mockEndpoints")
                .and_then(|m| m.get("result-content"))
                .cloned()
                .unwrap_or_else(|| "".into());
            let content = match content {
                Value::String(s) => s,
                other => other.to_string(),
            };
            api.insert("backend_type".into(), "MOCK".into());
            api.insert("mock_info".into(), json!({"result_content": content}));
        }
        "FUNCTION" => {
            return Err(invalid(
                "x-apigateway-backend.functionEndpoints",
                "FunctionGraph backends are not supported by apigw",
            ))
        }
        _ => {
            return Err(invalid(
                "x-apigateway-backend.type",
                "must be HTTP, HTTP-VPC or MOCK",
            ))
        }
    }
    Ok(())
}

/// `address` / `name`: one string, or an array of one.
fn single(e: &Value, key: &str, field: &dyn Fn(&str) -> String) -> Result<String, ApiError> {
    match e.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().unwrap_or_default().to_string())
        }
        Some(Value::Array(a)) if a.len() > 1 => Err(invalid(
            field(key),
            "gives more than one backend: put them in a load balance channel (HTTP-VPC)",
        )),
        _ => Err(invalid(field(key), "is mandatory")),
    }
}
