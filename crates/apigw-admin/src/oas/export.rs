//! `POST /openapi/export`: a group's APIs published in an environment as an OpenAPI document
//! with APIG's `x-apigateway-*` extensions, the inverse of the import (`import.rs`): exporting
//! what an import wrote gives back the document imported (ids and times aside).

use super::document::{Version, METHOD_KEYS};
use crate::error::ApiError;
use crate::AppState;
use apigw_model::api::ApiDef;
use apigw_model::resources::Api;
use apigw_model::throttle::Throttle;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `define`: how much of each API is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Define {
    /// The frontend only.
    Spec,
    /// Frontend and backend.
    Proxy,
    /// Frontend, backend, throttling and access control policies and plug-ins.
    All,
    /// As `proxy`, for every API of the group, published or not.
    Dev,
}

impl Define {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "spec" => Some(Define::Spec),
            "proxy" => Some(Define::Proxy),
            "all" => Some(Define::All),
            "dev" => Some(Define::Dev),
            _ => None,
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) env_id: String,
    pub(crate) group_id: String,
    pub(crate) define: Define,
    pub(crate) version: String,
    pub(crate) apis: Option<Vec<String>>,
    pub(crate) oas: Version,
}

/// The document.
pub(crate) async fn run(
    state: &AppState,
    instance_id: &str,
    req: &Request,
) -> Result<Value, ApiError> {
    let store = &state.store;
    let group = crate::groups::find(state, instance_id, &req.group_id).await?;
    let ctx = crate::apis::Context::load(state, instance_id).await?;
    ctx.require_env(&req.env_id)?;
    let published = |a: &Api| ctx.publication(&a.id, &req.env_id).is_some();
    let mut apis: Vec<Api> = store
        .list_apis(instance_id)
        .await?
        .into_iter()
        .filter(|a| a.group_id == group.id)
        .filter(|a| req.define == Define::Dev || published(a))
        .filter(|a| req.apis.as_ref().is_none_or(|ids| ids.contains(&a.id)))
        .collect();
    apis.sort_by(|a, b| a.name.cmp(&b.name));
    let host = store
        .list_domains(instance_id)
        .await?
        .into_iter()
        .filter(|d| d.group_id == group.id)
        .map(|d| d.url_domain)
        .next()
        .unwrap_or_else(|| format!("{}.{}", group.id, state.domain_suffix));
    let channels: BTreeMap<String, String> = store
        .list_vpc_channels(instance_id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let extended = req.define == Define::All;
    let policies = if extended {
        Some(Policies::load(state, instance_id, &req.env_id).await?)
    } else {
        None
    };

    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut auth_used = (false, false, false);
    let response_sets = store.list_gateway_responses(instance_id).await?;
    let mut ratelimits: BTreeMap<String, Value> = BTreeMap::new();
    let mut access_controls: BTreeMap<String, Value> = BTreeMap::new();
    for api in &apis {
        let def: ApiDef =
            serde_json::from_str(&api.def).map_err(|e| ApiError::Internal(e.to_string()))?;
        if def.req_protocol == "GRPCS" {
            continue; // gRPC APIs are neither imported nor exported (SPEC §11).
        }
        let mut op = Map::new();
        op.insert("operationId".into(), def.name.clone().into());
        if !def.remark.is_empty() {
            op.insert("description".into(), def.remark.clone().into());
        }
        let schemes: &[&str] = match def.req_protocol.as_str() {
            "HTTP" => &["http"],
            "BOTH" => &["http", "https"],
            _ => &["https"],
        };
        match req.oas {
            Version::V2 => {
                op.insert("schemes".into(), json!(schemes));
            }
            Version::V3 => {
                let servers: Vec<Value> = schemes
                    .iter()
                    .map(|s| json!({"url": format!("{s}://{host}")}))
                    .collect();
                op.insert("servers".into(), servers.into());
            }
        }
        if let Some(Value::Array(params)) = def.extra.get("req_params") {
            if !params.is_empty() {
                let out: Vec<Value> = params.iter().map(|p| parameter(req.oas, p)).collect();
                op.insert("parameters".into(), out.into());
            }
        }
        op.insert(
            "responses".into(),
            json!({"default": {"description": "default response"}}),
        );
        let app_code = def
            .extra
            .get("auth_opt")
            .and_then(|o| o.get("app_code_auth_type"))
            .and_then(Value::as_str);
        match def.auth_type.as_str() {
            "APP" if app_code == Some("HEADER") => {
                auth_used.2 = true;
                op.insert("security".into(), json!([{"apig-auth-app-header": []}]));
            }
            "APP" => {
                auth_used.0 = true;
                op.insert("security".into(), json!([{"apig-auth-app": []}]));
            }
            "IAM" => {
                auth_used.1 = true;
                op.insert("security".into(), json!([{"apig-auth-iam": []}]));
            }
            _ => {}
        }
        let request_type = if def.api_type == 2 {
            "private"
        } else {
            "public"
        };
        op.insert("x-apigateway-request-type".into(), request_type.into());
        op.insert(
            "x-apigateway-match-mode".into(),
            def.match_mode.clone().into(),
        );
        for (ours, theirs) in [
            ("cors", "x-apigateway-cors"),
            (
                "is_send_fg_body_base64",
                "x-apigateway-is-send-fg-body-base64",
            ),
        ] {
            if let Some(Value::Bool(b)) = def.extra.get(ours) {
                op.insert(theirs.into(), (*b).into());
            }
        }
        if let Some(Value::String(rid)) = def.extra.get("response_id") {
            if let Some(r) = response_sets.iter().find(|r| &r.id == rid) {
                op.insert("x-apigateway-response".into(), r.name.clone().into());
            }
        }
        if req.define != Define::Spec {
            op.insert("x-apigateway-backend".into(), backend(&def, &channels));
        }
        if let Some(p) = &policies {
            if let Some(t) = p.throttle_of(&api.id) {
                op.insert("x-apigateway-ratelimit".into(), t.name.clone().into());
                ratelimits.insert(t.name.clone(), p.ratelimit(t));
            }
            if let Some((name, a)) = p.acl_of(&api.id) {
                op.insert("x-apigateway-access-control".into(), name.clone().into());
                access_controls.insert(name, a);
            }
            let plugins = p.plugins_of(&api.id);
            if !plugins.is_empty() {
                op.insert("x-apigateway-plugins".into(), plugins.into());
            }
        }
        let key = METHOD_KEYS
            .iter()
            .find(|(_, m)| *m == def.req_method)
            .map_or("x-apigateway-any-method", |(k, _)| k);
        paths
            .entry(def.req_uri.clone())
            .or_default()
            .insert(key.to_string(), Value::Object(op));
    }

    // Methods in a fixed order within each path.
    let paths: Map<String, Value> = paths
        .into_iter()
        .map(|(uri, ops)| {
            let mut ordered = Map::new();
            for (k, _) in METHOD_KEYS {
                if let Some(op) = ops.get(*k) {
                    ordered.insert(k.to_string(), op.clone());
                }
            }
            (uri, Value::Object(ordered))
        })
        .collect();
    let mut info = json!({"title": group.name, "version": req.version});
    if !group.remark.is_empty() {
        info["description"] = group.remark.clone().into();
    }
    let mut schemes = Map::new();
    if auth_used.0 {
        schemes.insert(
            "apig-auth-app".into(),
            json!({"type": "apiKey", "name": "Authorization", "in": "header", "x-apigateway-auth-type": "AppSigv1"}),
        );
    }
    if auth_used.2 {
        schemes.insert(
            "apig-auth-app-header".into(),
            json!({"type": "apiKey", "name": "Authorization", "in": "header", "x-apigateway-auth-type": "AppSigv1",
                   "x-apigateway-auth-opt": {"appcode-auth-type": "header"}}),
        );
    }
    if auth_used.1 {
        schemes.insert(
            "apig-auth-iam".into(),
            json!({"type": "apiKey", "name": "unused", "in": "header", "x-apigateway-auth-type": "IAM"}),
        );
    }
    let mut doc = Map::new();
    match req.oas {
        Version::V2 => {
            doc.insert("swagger".into(), "2.0".into());
            doc.insert("info".into(), info);
            doc.insert("host".into(), host.into());
            doc.insert("paths".into(), paths.into());
            if !schemes.is_empty() {
                doc.insert("securityDefinitions".into(), schemes.into());
            }
        }
        Version::V3 => {
            doc.insert("openapi".into(), "3.0.0".into());
            doc.insert("info".into(), info);
            doc.insert(
                "servers".into(),
                json!([{"url": format!("https://{host}")}]),
            );
            doc.insert("paths".into(), paths.into());
            if !schemes.is_empty() {
                doc.insert("components".into(), json!({"securitySchemes": schemes}));
            }
        }
    }
    if !ratelimits.is_empty() {
        doc.insert(
            "x-apigateway-ratelimits".into(),
            Value::Object(ratelimits.into_iter().collect()),
        );
    }
    if !access_controls.is_empty() {
        doc.insert(
            "x-apigateway-access-controls".into(),
            Value::Object(access_controls.into_iter().collect()),
        );
    }
    Ok(Value::Object(doc))
}

/// One `req_params` entry as an OpenAPI parameter.
fn parameter(version: Version, p: &Value) -> Value {
    let mut out = Map::new();
    let get = |k: &str| p.get(k).filter(|v| !v.is_null());
    if let Some(n) = get("name") {
        out.insert("name".into(), n.clone());
    }
    let location = get("location")
        .and_then(Value::as_str)
        .unwrap_or("QUERY")
        .to_lowercase();
    out.insert("in".into(), location.into());
    let required = get("required").and_then(Value::as_i64) == Some(1);
    out.insert("required".into(), required.into());
    if let Some(d) = get("remark") {
        out.insert("description".into(), d.clone());
    }
    if let Some(e) = get("sample_value") {
        out.insert("example".into(), e.clone());
    }
    let mut schema = Map::new();
    let kind = match get("type").and_then(Value::as_str) {
        Some("NUMBER") => "number",
        _ => "string",
    };
    schema.insert("type".into(), kind.into());
    for (ours, theirs) in [
        ("default_value", "default"),
        ("max_num", "maximum"),
        ("min_num", "minimum"),
        ("max_size", "maxLength"),
        ("min_size", "minLength"),
    ] {
        if let Some(v) = get(ours) {
            schema.insert(theirs.into(), v.clone());
        }
    }
    if let Some(Value::String(e)) = get("enumerations") {
        if !e.is_empty() {
            let items: Vec<Value> = e.split(',').map(|s| s.into()).collect();
            schema.insert("enum".into(), items.into());
        }
    }
    match version {
        Version::V2 => out.extend(schema),
        Version::V3 => {
            out.insert("schema".into(), schema.into());
        }
    }
    match get("pass_through").and_then(Value::as_i64) {
        Some(1) => {
            out.insert("x-apigateway-pass-through".into(), "always".into());
        }
        Some(2) => {
            out.insert("x-apigateway-pass-through".into(), "never".into());
        }
        _ => {}
    }
    Value::Object(out)
}

/// `x-apigateway-backend` of an API.
fn backend(def: &ApiDef, channels: &BTreeMap<String, String>) -> Value {
    let mut out = Map::new();
    if let Some(Value::Array(params)) = def.extra.get("backend_params") {
        if !params.is_empty() {
            let list: Vec<Value> = params
                .iter()
                .map(|p| {
                    let mut m = json!({
                        "name": p.get("name"), "value": p.get("value"),
                        "in": p.get("location").and_then(Value::as_str).unwrap_or("").to_lowercase(),
                        "origin": p.get("origin"),
                    });
                    if let Some(d) = p.get("remark").filter(|v| !v.is_null()) {
                        m["description"] = d.clone();
                    }
                    m
                })
                .collect();
            out.insert("parameters".into(), list.into());
        }
    }
    match (&def.backend_api, &def.mock_info) {
        (Some(b), _) => {
            let mut e = Map::new();
            let vpc = b.vpc_channel_status == 1;
            if vpc {
                let id = b
                    .vpc_channel_info
                    .as_ref()
                    .map(|i| i.vpc_channel_id.as_str())
                    .unwrap_or("");
                let name = channels.get(id).cloned().unwrap_or_else(|| id.to_string());
                e.insert("name".into(), name.into());
            } else {
                e.insert("address".into(), b.url_domain.clone().into());
            }
            e.insert("scheme".into(), b.req_protocol.to_lowercase().into());
            e.insert("method".into(), b.req_method.clone().into());
            e.insert("path".into(), b.req_uri.clone().into());
            e.insert("timeout".into(), b.timeout.into());
            if vpc {
                out.insert("type".into(), "HTTP-VPC".into());
                out.insert("httpVpcEndpoints".into(), e.into());
            } else {
                out.insert("type".into(), "HTTP".into());
                out.insert("httpEndpoints".into(), e.into());
            }
        }
        (None, Some(m)) => {
            out.insert("type".into(), "MOCK".into());
            out.insert(
                "mockEndpoints".into(),
                json!({"result-content": m.result_content}),
            );
        }
        (None, None) => {
            out.insert("type".into(), "MOCK".into());
        }
    }
    Value::Object(out)
}

/// The policies and plug-ins bound in the environment exported.
struct Policies {
    throttles: Vec<(String, Throttle)>,
    specials: Vec<apigw_model::throttle::ThrottleSpecial>,
    acls: Vec<(String, apigw_model::acl::Acl, apigw_model::acl::AclKind)>,
    plugins: Vec<(String, String)>,
}

impl Policies {
    async fn load(state: &AppState, instance_id: &str, env_id: &str) -> Result<Self, ApiError> {
        let store = &state.store;
        let throttles = store.list_throttles(instance_id).await?;
        let acls = store.list_acls(instance_id).await?;
        let throttle_bindings = store.list_throttle_bindings(instance_id).await?;
        let acl_bindings = store.list_acl_bindings(instance_id).await?;
        let bindings = store.list_bindings(instance_id).await?;
        let mut plugins = Vec::new();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for b in bindings.iter().filter(|b| b.env_id == env_id) {
            if !names.contains_key(&b.plugin_id) {
                if let Some(p) = store.get_plugin(instance_id, &b.plugin_id).await? {
                    names.insert(p.id.clone(), p.name);
                }
            }
            if let Some(n) = names.get(&b.plugin_id) {
                plugins.push((b.api_id.clone(), n.clone()));
            }
        }
        plugins.sort();
        Ok(Policies {
            throttles: throttle_bindings
                .iter()
                .filter(|b| b.env_id == env_id)
                .filter_map(|b| {
                    let t = throttles.iter().find(|t| t.id == b.throttle_id)?;
                    Some((b.api_id.clone(), t.clone()))
                })
                .collect(),
            specials: store.list_throttle_specials(instance_id).await?,
            acls: acl_bindings
                .iter()
                .filter(|b| b.env_id == env_id)
                .filter_map(|b| {
                    let a = acls.iter().find(|a| a.id == b.acl_id)?;
                    Some((b.api_id.clone(), a.clone(), b.kind))
                })
                .collect(),
            plugins,
        })
    }

    fn throttle_of(&self, api_id: &str) -> Option<&Throttle> {
        self.throttles
            .iter()
            .find(|(a, _)| a == api_id)
            .map(|(_, t)| t)
    }

    /// The API's access control policy: the IP one where it has both (the extension names one).
    fn acl_of(&self, api_id: &str) -> Option<(String, Value)> {
        let mut mine: Vec<_> = self.acls.iter().filter(|(a, _, _)| a == api_id).collect();
        mine.sort_by_key(|(_, _, kind)| kind.as_str() != "IP");
        mine.first().map(|(_, a, _)| {
            (
                a.name.clone(),
                json!({"acl-type": a.acl_type.as_str(), "entity-type": a.entity_type.as_str(), "value": a.value}),
            )
        })
    }

    fn plugins_of(&self, api_id: &str) -> Vec<Value> {
        self.plugins
            .iter()
            .filter(|(a, _)| a == api_id)
            .map(|(_, n)| n.clone().into())
            .collect()
    }

    fn ratelimit(&self, t: &Throttle) -> Value {
        let mut m = Map::new();
        m.insert("api-limit".into(), t.api_call_limits.into());
        for (k, v) in [
            ("user-limit", t.user_call_limits),
            ("app-limit", t.app_call_limits),
            ("ip-limit", t.ip_call_limits),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        }
        m.insert("interval".into(), t.time_interval.into());
        m.insert("unit".into(), t.time_unit.as_str().into());
        m.insert("shared".into(), (t.kind == 2).into());
        let mut specials: Vec<_> = self
            .specials
            .iter()
            .filter(|s| s.throttle_id == t.id)
            .collect();
        specials.sort_by(|a, b| a.object_id.cmp(&b.object_id));
        if !specials.is_empty() {
            let list: Vec<Value> = specials
                .iter()
                .map(|s| json!({"type": s.object_type.as_str(), "limit": s.call_limits, "instance": s.object_id}))
                .collect();
            m.insert("special".into(), list.into());
        }
        Value::Object(m)
    }
}
