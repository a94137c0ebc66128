//! The definition of an API (`ApiCreate` of the SDK), its checks, and its path template.
//!
//! Only what apigw runs is interpreted: the frontend (method, path template, match mode,
//! authentication) and the backend (HTTP or MOCK). The other `ApiCreate` fields of APIG
//! (`tags`, `req_params`, `trace_enabled`, ...) are accepted, stored and returned as given, so
//! that SDK callers can send what they send to APIG. Fields in neither list are rejected.

use crate::field::Errors;
use crate::FieldError;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `ApiCreate` fields that apigw stores and returns without interpreting them.
pub const PASSTHROUGH_FIELDS: &[&str] = &[
    "version",
    "auth_opt",
    "cors",
    "trace_enabled",
    "sampling_strategy",
    "sampling_param",
    "body_remark",
    "result_normal_sample",
    "result_failure_sample",
    "tags",
    "response_id",
    "roma_app_id",
    "domain_name",
    "tag",
    "content_type",
    "is_send_fg_body_base64",
    "req_params",
    "backend_params",
    "policy_mocks",
    "policy_functions",
    "policy_https",
];

/// Methods of APIs.
pub const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "ANY",
];

/// An API definition, canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiDef {
    /// 3..255 characters.
    pub name: String,
    /// 1 public, 2 private (informative in apigw).
    #[serde(rename = "type")]
    pub api_type: i64,
    /// HTTP, HTTPS or BOTH (informative: the listener's protocol decides).
    pub req_protocol: String,
    /// GET POST PUT DELETE HEAD PATCH OPTIONS ANY.
    pub req_method: String,
    /// Path template starting with `/`; `{name}` matches one segment, a last `{name+}` the rest.
    pub req_uri: String,
    /// NONE, APP or IAM.
    pub auth_type: String,
    /// HTTP or MOCK.
    pub backend_type: String,
    /// The group the API belongs to.
    pub group_id: String,
    /// NORMAL (exact) or SWA (prefix).
    #[serde(default = "normal")]
    pub match_mode: String,
    /// At most 255 characters.
    #[serde(default)]
    pub remark: String,
    /// The HTTP backend, for `backend_type` HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_api: Option<BackendApi>,
    /// The fixed answer, for `backend_type` MOCK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_info: Option<MockInfo>,
    /// Accepted APIG fields apigw does not interpret (see [`PASSTHROUGH_FIELDS`]).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn normal() -> String {
    "NORMAL".into()
}

/// `backend_api`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendApi {
    /// `host[:port]` of the backend; empty for a backend reached through a channel.
    #[serde(default)]
    pub url_domain: String,
    /// HTTP or HTTPS.
    #[serde(default = "http")]
    pub req_protocol: String,
    /// The backend method; ANY keeps the caller's.
    #[serde(default = "any")]
    pub req_method: String,
    /// Backend path template; its `{name}`s must be frontend path parameters.
    #[serde(default = "root")]
    pub req_uri: String,
    /// Timeout in ms, 1..600000 (default 5000).
    #[serde(default = "timeout")]
    pub timeout: i64,
    /// Retries, -1..10 (-1 = the gateway's default); the SDK sends a string.
    #[serde(default = "no_retry", deserialize_with = "int_or_string")]
    pub retry_count: i64,
    #[serde(default)]
    pub remark: String,
    /// Stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_client_ssl: Option<bool>,
    /// Stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    /// Stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_sm_channel: Option<bool>,
    /// Stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_group_url_infos: Option<Value>,
    /// 1 = through the load balance channel of `vpc_channel_info`, 2 = direct to
    /// `url_domain` (default).
    #[serde(default = "direct")]
    pub vpc_channel_status: i64,
    /// The channel, with `vpc_channel_status` 1 (and only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_channel_info: Option<VpcChannelInfo>,
}

/// `backend_api.vpc_channel_info`: the load balance channel an API's calls go to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcChannelInfo {
    pub vpc_channel_id: String,
    /// The `Host` the calls carry; absent: the member's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_channel_proxy_host: Option<String>,
}

fn http() -> String {
    "HTTP".into()
}
fn any() -> String {
    "ANY".into()
}
fn root() -> String {
    "/".into()
}
fn timeout() -> i64 {
    5000
}
fn no_retry() -> i64 {
    -1
}
fn direct() -> i64 {
    2
}

fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("must be an integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("must be an integer")),
        Value::Null => Ok(-1),
        _ => Err(serde::de::Error::custom("must be an integer")),
    }
}

/// `mock_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockInfo {
    /// The body answered.
    #[serde(default)]
    pub result_content: String,
    /// The status answered, 200..599 (default 200).
    #[serde(default = "ok")]
    pub status_code: i64,
    #[serde(default)]
    pub remark: String,
    /// Stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
}

fn ok() -> i64 {
    200
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches itself.
    Literal(String),
    /// `{name}`: one segment.
    Param(String),
    /// `{name+}`: the rest of the path (last segment only).
    Rest(String),
}

/// Parses a path template (`/a/{id}/b/{rest+}`).
pub fn parse_template(uri: &str) -> Result<Vec<Segment>, String> {
    if !uri.starts_with('/') {
        return Err("must start with '/'".into());
    }
    if uri.len() > 512 {
        return Err("at most 512 characters".into());
    }
    if uri.contains(['?', '#', ' ', '\\']) || uri.chars().any(char::is_control) {
        return Err("must not contain '?', '#', spaces or control characters".into());
    }
    let body = &uri[1..];
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = body.split('/').collect();
    let mut out = Vec::with_capacity(parts.len());
    for (i, seg) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if seg.is_empty() {
            if last {
                break; // one trailing slash is allowed
            }
            return Err("empty path segment".into());
        }
        if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, rest) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            let ok = !name.is_empty()
                && name.len() <= 32
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(format!("bad parameter '{seg}'"));
            }
            if rest && !last {
                return Err("a {name+} parameter must be the last segment".into());
            }
            if out
                .iter()
                .any(|s| matches!(s, Segment::Param(n) | Segment::Rest(n) if n == name))
            {
                return Err(format!("parameter '{name}' appears twice"));
            }
            out.push(if rest {
                Segment::Rest(name.into())
            } else {
                Segment::Param(name.into())
            });
        } else if seg.contains(['{', '}']) {
            return Err(format!("bad segment '{seg}'"));
        } else {
            out.push(Segment::Literal((*seg).to_string()));
        }
    }
    Ok(out)
}

/// The route shape of a template, parameter names erased: `/a/{}/{+}`.
pub fn route_shape(segments: &[Segment]) -> String {
    let mut s = String::new();
    for seg in segments {
        s.push('/');
        match seg {
            Segment::Literal(l) => s.push_str(l),
            Segment::Param(_) => s.push_str("{}"),
            Segment::Rest(_) => s.push_str("{+}"),
        }
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

/// Checks a resource name: `min..=max` characters, first a letter or CJK, then letters,
/// digits, CJK and `extra` characters.
pub fn check_name(errs: &mut Errors, name: &str, field: &str, min: usize, max: usize, extra: &str) {
    let n = name.chars().count();
    if !(min..=max).contains(&n) {
        errs.add(
            field,
            format!("length must be between {min} and {max} characters"),
        );
        return;
    }
    let first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || is_cjk(c));
    let rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || is_cjk(c) || extra.contains(c));
    errs.check(
        first && rest,
        field,
        format!("must start with a letter and contain only letters, digits and '{extra}'"),
    );
}

impl ApiDef {
    /// Parses and checks a definition; returns it canonical, or every error.
    pub fn from_json(v: Value) -> Result<ApiDef, Vec<FieldError>> {
        let def: ApiDef = serde_json::from_value(v.clone()).map_err(|e| {
            // serde's message names the field for missing ones; find the culprit otherwise.
            vec![FieldError::new(culprit(&v, &e.to_string()), e.to_string())]
        })?;
        let errs = def.validate();
        if errs.is_empty() {
            Ok(def.canonical())
        } else {
            Err(errs)
        }
    }

    /// A gRPC API's frontend (`otc-guide/creating_a_grpc_api.rst`): `POST`, at `/`,
    /// `/{package}.{service}` or `/{package}.{service}/{method}`, matched by prefix except at
    /// the last.
    fn check_grpc(&self, e: &mut Errors) {
        e.check(
            self.req_method.eq_ignore_ascii_case("POST"),
            "req_method",
            "is POST for a gRPC API",
        );
        let ident = |s: &str, dots: bool| {
            let mut b = s.bytes();
            b.next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || (dots && c == b'.'))
        };
        let parts: Vec<&str> = self.req_uri.trim_start_matches('/').split('/').collect();
        let depth = match parts.as_slice() {
            [""] if self.req_uri == "/" => Some(0),
            [service] if ident(service, true) => Some(1),
            [service, method] if ident(service, true) && ident(method, false) => Some(2),
            _ => None,
        };
        e.check(
            depth.is_some(),
            "req_uri",
            "must be /, /{package}.{service} or /{package}.{service}/{method} for a gRPC API",
        );
        e.check(
            depth == Some(2) || !self.match_mode.eq_ignore_ascii_case("NORMAL"),
            "match_mode",
            "must be SWA unless req_uri names a method",
        );
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut e = Errors::default();
        check_name(&mut e, &self.name, "name", 3, 255, "_-.");
        e.check(
            matches!(self.api_type, 1 | 2),
            "type",
            "must be 1 (public) or 2 (private)",
        );
        let grpc = self.req_protocol.eq_ignore_ascii_case("GRPCS");
        e.check(
            matches!(
                self.req_protocol.to_uppercase().as_str(),
                "HTTP" | "HTTPS" | "BOTH" | "GRPCS"
            ),
            "req_protocol",
            "must be HTTP, HTTPS, BOTH or GRPCS",
        );
        e.check(
            grpc == self.backend_type.eq_ignore_ascii_case("GRPC"),
            "backend_type",
            "must be GRPC exactly when req_protocol is GRPCS",
        );
        if grpc {
            self.check_grpc(&mut e);
        }
        e.check(
            METHODS.contains(&self.req_method.to_uppercase().as_str()),
            "req_method",
            "must be an HTTP method or ANY",
        );
        let front = parse_template(&self.req_uri);
        if let Err(why) = &front {
            e.add("req_uri", why.clone());
        }
        e.check(
            matches!(self.match_mode.to_uppercase().as_str(), "NORMAL" | "SWA"),
            "match_mode",
            "must be NORMAL or SWA",
        );
        e.check(
            matches!(
                self.auth_type.to_uppercase().as_str(),
                "NONE" | "APP" | "IAM"
            ),
            "auth_type",
            "must be NONE, APP or IAM (custom authorizers are not supported)",
        );
        e.len(&self.group_id, 1, 64, "group_id");
        e.len(&self.remark, 0, 255, "remark");
        match self.backend_type.to_uppercase().as_str() {
            "HTTP" => {
                match &self.backend_api {
                    None => e.add("backend_api", "is mandatory for backend_type HTTP"),
                    Some(b) => {
                        // Environment variables (`#Name#`) are checked by what they stand for.
                        // Through a channel the members are the address: `url_domain` may
                        // be empty.
                        let channel = b.vpc_channel_status == 1;
                        e.check(
                            (channel && b.url_domain.is_empty())
                                || is_host_port(&crate::variables::stand_in(&b.url_domain)),
                            "backend_api.url_domain",
                            "must be host[:port] (with #Name# environment variables)",
                        );
                        e.check(
                            matches!(b.req_protocol.to_uppercase().as_str(), "HTTP" | "HTTPS"),
                            "backend_api.req_protocol",
                            "must be HTTP or HTTPS",
                        );
                        e.check(
                            METHODS.contains(&b.req_method.to_uppercase().as_str()),
                            "backend_api.req_method",
                            "must be an HTTP method or ANY",
                        );
                        e.range(b.timeout, 1, 600000, "backend_api.timeout");
                        e.range(b.retry_count, -1, 10, "backend_api.retry_count");
                        e.len(&b.remark, 0, 255, "backend_api.remark");
                        check_channel_use(&mut e, b);
                        match (
                            parse_template(&crate::variables::stand_in(&b.req_uri)),
                            &front,
                        ) {
                            (Err(why), _) => e.add("backend_api.req_uri", why),
                            (Ok(back), Ok(front)) => {
                                for seg in &back {
                                    if let Segment::Param(n) | Segment::Rest(n) = seg {
                                        let known = front.iter().any(|f| matches!(f, Segment::Param(m) | Segment::Rest(m) if m == n));
                                        e.check(known, "backend_api.req_uri", format!("parameter '{n}' is not a path parameter of req_uri"));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            "GRPC" => match &self.backend_api {
                None => e.add("backend_api", "is mandatory for backend_type GRPC"),
                Some(b) => {
                    e.check(
                        is_host_port(&crate::variables::stand_in(&b.url_domain)),
                        "backend_api.url_domain",
                        "must be host[:port] (with #Name# environment variables)",
                    );
                    e.check(
                        matches!(b.req_protocol.to_uppercase().as_str(), "GRPC" | "GRPCS"),
                        "backend_api.req_protocol",
                        "must be GRPC or GRPCS for a gRPC backend",
                    );
                    e.check(
                        b.req_method.eq_ignore_ascii_case("POST"),
                        "backend_api.req_method",
                        "is POST for a gRPC backend",
                    );
                    e.check(
                        b.req_uri == "/",
                        "backend_api.req_uri",
                        "is / for a gRPC backend",
                    );
                    e.range(b.timeout, 1, 600000, "backend_api.timeout");
                    e.range(b.retry_count, -1, 10, "backend_api.retry_count");
                    e.len(&b.remark, 0, 255, "backend_api.remark");
                }
            },
            "MOCK" => {
                if let Some(m) = &self.mock_info {
                    e.range(m.status_code, 200, 599, "mock_info.status_code");
                    e.len(&m.result_content, 0, 65535, "mock_info.result_content");
                }
            }
            _ => e.add(
                "backend_type",
                "must be HTTP, MOCK or GRPC (function backends are not supported)",
            ),
        }
        for k in self.extra.keys() {
            e.check(
                PASSTHROUGH_FIELDS.contains(&k.as_str()),
                k.clone(),
                "unknown field",
            );
        }
        e.0
    }

    /// Upper-case enums; a MOCK API without `mock_info` gets an empty 200.
    fn canonical(mut self) -> ApiDef {
        self.req_protocol = self.req_protocol.to_uppercase();
        self.req_method = self.req_method.to_uppercase();
        self.match_mode = self.match_mode.to_uppercase();
        self.auth_type = self.auth_type.to_uppercase();
        self.backend_type = self.backend_type.to_uppercase();
        if let Some(b) = &mut self.backend_api {
            b.req_protocol = b.req_protocol.to_uppercase();
            b.req_method = b.req_method.to_uppercase();
        }
        if self.backend_type == "MOCK" {
            self.backend_api = None;
            self.mock_info.get_or_insert(MockInfo {
                result_content: String::new(),
                status_code: 200,
                remark: String::new(),
                version: None,
                authorizer_id: None,
            });
        } else {
            self.mock_info = None;
        }
        self
    }

    /// The parsed path template (valid once checked).
    pub fn template(&self) -> Vec<Segment> {
        parse_template(&self.req_uri).unwrap_or_default()
    }

    /// `METHOD MODE shape`: two APIs of a group may not share it (APIG.3301).
    pub fn route_key(&self) -> String {
        format!(
            "{} {} {}",
            self.req_method,
            self.match_mode,
            route_shape(&self.template())
        )
    }
}

/// `vpc_channel_status` 1 needs `vpc_channel_info` naming a channel (and an optional proxy
/// host name of at most 255 characters); 2 (direct) takes none.
fn check_channel_use(e: &mut Errors, b: &BackendApi) {
    match (b.vpc_channel_status, &b.vpc_channel_info) {
        (1, None) => e.add(
            "backend_api.vpc_channel_info",
            "is mandatory when vpc_channel_status is 1",
        ),
        (1, Some(info)) => {
            e.len(
                &info.vpc_channel_id,
                1,
                64,
                "backend_api.vpc_channel_info.vpc_channel_id",
            );
            if let Some(host) = &info.vpc_channel_proxy_host {
                e.check(
                    is_host_port(host) && !host.contains(':'),
                    "backend_api.vpc_channel_info.vpc_channel_proxy_host",
                    "must be a host name of at most 255 characters",
                );
            }
        }
        (2, None) => {}
        (2, Some(_)) => e.add(
            "backend_api.vpc_channel_info",
            "is only for vpc_channel_status 1",
        ),
        _ => e.add(
            "backend_api.vpc_channel_status",
            "must be 1 (through a load balance channel) or 2 (direct)",
        ),
    }
}

/// Finds which top-level field a serde error is about (serde names missing fields and types,
/// not the field of a type error, for flattened structs).
fn culprit(v: &Value, msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("missing field `") {
        return rest.split('`').next().unwrap_or("body").to_string();
    }
    let Some(obj) = v.as_object() else {
        return "body".into();
    };
    let typed = [
        ("name", "string"),
        ("type", "integer"),
        ("req_protocol", "string"),
        ("req_method", "string"),
        ("req_uri", "string"),
        ("auth_type", "string"),
        ("backend_type", "string"),
        ("group_id", "string"),
        ("match_mode", "string"),
        ("remark", "string"),
        ("backend_api", "object"),
        ("mock_info", "object"),
    ];
    for (k, want) in typed {
        if let Some(val) = obj.get(k) {
            let ok = match want {
                "string" => val.is_string(),
                "integer" => val.is_i64(),
                _ => val.is_object() || val.is_null(),
            };
            if !ok {
                return k.to_string();
            }
        }
    }
    for (k, _) in typed.iter().filter(|(_, w)| *w == "object") {
        if let Some(Value::Object(inner)) = obj.get(*k) {
            let unknown = msg
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next());
            if let Some(u) = unknown.filter(|u| inner.contains_key(*u)) {
                return format!("{k}.{u}");
            }
            for ik in inner.keys() {
                if msg.contains(&format!("`{ik}`")) {
                    return format!("{k}.{ik}");
                }
            }
            return k.to_string();
        }
    }
    "body".into()
}

/// Whether `s` is `host[:port]`.
pub fn is_host_port(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
        _ => (s, None),
    };
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_[]:".contains(&b))
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"name": "get_user", "type": 1, "req_protocol": "HTTP", "req_method": "GET",
               "req_uri": "/users/{id}", "auth_type": "NONE", "backend_type": "HTTP", "group_id": "g1",
               "backend_api": {"url_domain": "127.0.0.1:8080", "req_protocol": "HTTP", "req_method": "GET",
                               "req_uri": "/u/{id}", "timeout": 5000, "retry_count": "2"}})
    }

    fn fields(v: Value) -> Vec<String> {
        ApiDef::from_json(v)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_complete_definition_is_canonicalised() {
        let mut v = base();
        v["req_method"] = json!("get");
        v["tags"] = json!(["a"]);
        let d = ApiDef::from_json(v).unwrap();
        assert_eq!(d.req_method, "GET");
        assert_eq!(d.match_mode, "NORMAL");
        assert_eq!(d.backend_api.as_ref().unwrap().retry_count, 2);
        assert_eq!(d.extra["tags"], json!(["a"]));
        assert_eq!(d.route_key(), "GET NORMAL /users/{}");
    }

    #[test]
    fn bad_fields_are_named() {
        let with = |k: &str, val: Value| {
            let mut v = base();
            v[k] = val;
            v
        };
        assert_eq!(fields(with("type", json!(3))), ["type"]);
        assert_eq!(fields(with("type", json!("1"))), ["type"]);
        assert_eq!(fields(with("req_method", json!("FETCH"))), ["req_method"]);
        assert_eq!(fields(with("req_uri", json!("users"))), ["req_uri"]);
        assert_eq!(
            fields(with("auth_type", json!("AUTHORIZER"))),
            ["auth_type"]
        );
        assert_eq!(
            fields(with("backend_type", json!("FUNCTION"))),
            ["backend_type"]
        );
        assert_eq!(fields(with("bogus", json!(1))), ["bogus"]);
        assert_eq!(fields(with("name", json!("ab"))), ["name"]);
        let mut v = base();
        v.as_object_mut().unwrap().remove("group_id");
        assert_eq!(fields(v), ["group_id"]);
        let mut v = base();
        v["backend_api"]["req_uri"] = json!("/u/{other}");
        assert_eq!(fields(v), ["backend_api.req_uri"]);
        let mut v = base();
        v["backend_api"]["timeout"] = json!(600001);
        assert_eq!(fields(v), ["backend_api.timeout"]);
        let mut v = base();
        v["backend_api"]["nope"] = json!(1);
        assert_eq!(fields(v), ["backend_api.nope"]);
    }

    #[test]
    fn a_backend_through_a_channel_needs_the_channel_and_no_address() {
        let mut v = base();
        v["backend_api"]["url_domain"] = json!("");
        v["backend_api"]["vpc_channel_status"] = json!(1);
        assert_eq!(fields(v.clone()), ["backend_api.vpc_channel_info"]);
        v["backend_api"]["vpc_channel_info"] =
            json!({"vpc_channel_id": "c1", "vpc_channel_proxy_host": "api.example.com"});
        let d = ApiDef::from_json(v.clone()).unwrap();
        let stored = serde_json::to_value(&d).unwrap();
        assert_eq!(
            stored["backend_api"]["vpc_channel_info"]["vpc_channel_id"], "c1",
            "kept in the stored definition"
        );
        v["backend_api"]["vpc_channel_info"]["vpc_channel_proxy_host"] = json!("a b");
        assert_eq!(
            fields(v.clone()),
            ["backend_api.vpc_channel_info.vpc_channel_proxy_host"]
        );
        v["backend_api"]["vpc_channel_status"] = json!(2);
        v["backend_api"]["vpc_channel_info"]["vpc_channel_proxy_host"] = json!("h");
        assert_eq!(
            fields(v),
            ["backend_api.url_domain", "backend_api.vpc_channel_info"]
        );
    }

    #[test]
    fn templates_parse_params_and_rest() {
        assert_eq!(
            parse_template("/a/{id}/b/{rest+}").unwrap(),
            vec![
                Segment::Literal("a".into()),
                Segment::Param("id".into()),
                Segment::Literal("b".into()),
                Segment::Rest("rest".into())
            ]
        );
        assert_eq!(parse_template("/").unwrap(), vec![]);
        assert_eq!(
            parse_template("/a/").unwrap(),
            vec![Segment::Literal("a".into())]
        );
        for bad in [
            "a", "/a//b", "/{r+}/x", "/{}", "/{a}/{a}", "/a{b}", "/a?x=1", "/a b",
        ] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
        assert_eq!(
            route_shape(&parse_template("/a/{x}/{y+}").unwrap()),
            "/a/{}/{+}"
        );
    }
}
