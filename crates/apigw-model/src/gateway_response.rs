//! Gateway responses (SPEC §10): named response sets of an API group, each giving, per error
//! type of `otc-guide/creating_a_gateway_response.rst` (Table 1), the status, body template
//! and headers of the responses the gateway makes itself. A set stores only the error types
//! that were customised; every other type answers as APIG does by default.

use crate::field::Errors;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Response sets per group, the default one included (APIG.3136 beyond).
pub const MAX_PER_GROUP: u64 = 4;
/// Custom headers per error type.
pub const MAX_HEADERS: usize = 10;
/// Longest body template (ours: APIG states no limit).
pub const MAX_BODY_CHARS: usize = 32 * 1024;
/// The name of the set every group has, created on first use.
pub const DEFAULT_NAME: &str = "default";
/// The body template of every error type until customised: APIG's JSON error.
pub const DEFAULT_BODY: &str = "{\"error_code\":\"$context.error.code\",\"error_msg\":\"$context.error.message\",\"request_id\":\"$context.requestId\"}";

/// Every error type and its default status (`None`: the status of the error itself).
pub const TYPES: &[(&str, Option<u16>)] = &[
    ("ACCESS_DENIED", Some(403)),
    ("AUTHORIZER_CONF_FAILURE", Some(500)),
    ("AUTHORIZER_FAILURE", Some(500)),
    ("AUTHORIZER_IDENTITIES_FAILURE", Some(401)),
    ("AUTH_FAILURE", Some(401)),
    ("AUTH_HEADER_MISSING", Some(401)),
    ("BACKEND_TIMEOUT", Some(504)),
    ("BACKEND_UNAVAILABLE", Some(502)),
    ("DEFAULT_4XX", None),
    ("DEFAULT_5XX", None),
    ("NOT_FOUND", Some(404)),
    ("REQUEST_PARAMETERS_FAILURE", Some(400)),
    ("THROTTLED", Some(429)),
    ("UNAUTHORIZED", Some(401)),
    ("THIRD_AUTH_FAILURE", Some(401)),
    ("THIRD_AUTH_IDENTITIES_FAILURE", Some(401)),
    ("THIRD_AUTH_CONF_FAILURE", Some(500)),
    ("ORCHESTRATION_PARAMETER_NOT_FOUND", Some(400)),
    ("ORCHESTRATION_FAILURE", Some(400)),
];

/// A stored response set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    pub id: String,
    pub instance_id: String,
    pub group_id: String,
    /// 1..64 letters, digits, `-` and `_`; unique in the group (APIG.3216).
    pub name: String,
    /// The group's default set: cannot be deleted or renamed (APIG.3491/3492).
    pub is_default: bool,
    /// The customised error types: a JSON object of [`ResponseInfo`] by type.
    pub responses: String,
    pub create_time: i64,
    pub update_time: i64,
}

/// One customised error type. An absent field keeps the default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header>,
}

/// A custom header of an error type's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub key: String,
    pub value: String,
}

/// The customised types of a stored set.
pub fn decode(responses: &str) -> BTreeMap<String, ResponseInfo> {
    serde_json::from_str(responses).unwrap_or_default()
}

/// The stored form of customised types.
pub fn encode(responses: &BTreeMap<String, ResponseInfo>) -> String {
    serde_json::to_string(responses).unwrap_or_else(|_| "{}".into())
}

/// Whether `t` is an error type.
pub fn is_type(t: &str) -> bool {
    TYPES.iter().any(|(n, _)| *n == t)
}

/// The default status of an error type.
pub fn default_status(t: &str) -> Option<u16> {
    TYPES.iter().find(|(n, _)| *n == t).and_then(|(_, s)| *s)
}

/// `ResponseInfoResp` of one type: the customisation over the defaults, with `default` telling
/// whether the type is customised.
pub fn view(t: &str, custom: Option<&ResponseInfo>) -> Value {
    let mut m = Map::new();
    let status = custom.and_then(|c| c.status).or(default_status(t));
    if let Some(s) = status {
        m.insert("status".into(), json!(s));
    }
    let body = custom
        .and_then(|c| c.body.as_deref())
        .unwrap_or(DEFAULT_BODY);
    m.insert("body".into(), json!(body));
    if let Some(c) = custom.filter(|c| !c.headers.is_empty()) {
        m.insert("headers".into(), json!(c.headers));
    }
    m.insert("default".into(), json!(custom.is_none()));
    Value::Object(m)
}

/// Every type of a set, as `responses` of the pages.
pub fn view_all(custom: &BTreeMap<String, ResponseInfo>) -> Value {
    let m: Map<String, Value> = TYPES
        .iter()
        .map(|(t, _)| (t.to_string(), view(t, custom.get(*t))))
        .collect();
    Value::Object(m)
}

/// Checks a set's name.
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    let n = name.chars().count();
    let ok = (1..=64).contains(&n)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    errs.check(
        ok,
        field,
        "must be 1 to 64 letters, digits, hyphens (-) and underscores (_)",
    );
}

/// Parses and checks one `ResponseInfo` (`field` names it in errors; empty: the body of the
/// per-type call, whose fields are named bare).
pub fn parse_info(errs: &mut Errors, v: &Value, field: &str) -> ResponseInfo {
    let mut info = ResponseInfo::default();
    let Some(obj) = v.as_object() else {
        errs.add(field, "must be an object");
        return info;
    };
    for (k, v) in obj {
        let f = if field.is_empty() {
            k.clone()
        } else {
            format!("{field}.{k}")
        };
        match k.as_str() {
            "status" => match v.as_u64() {
                Some(s) if (200..=599).contains(&s) && s != 444 => info.status = Some(s as u16),
                None if v.is_null() => {}
                _ => errs.add(f, "must be an integer from 200 to 599, but not 444"),
            },
            "body" => match v {
                Value::String(s) if s.chars().count() <= MAX_BODY_CHARS => {
                    info.body = Some(s.clone())
                }
                Value::String(_) => errs.add(f, format!("at most {MAX_BODY_CHARS} characters")),
                Value::Null => {}
                _ => errs.add(f, "must be a string"),
            },
            "headers" => match v {
                Value::Array(a) if a.len() <= MAX_HEADERS => {
                    for (i, h) in a.iter().enumerate() {
                        if let Some(h) = parse_header(errs, h, &format!("{f}[{i}]")) {
                            info.headers.push(h);
                        }
                    }
                }
                Value::Array(_) => errs.add(f, format!("at most {MAX_HEADERS} headers")),
                Value::Null => {}
                _ => errs.add(f, "must be an array"),
            },
            // Read-only in the answers; accepted so that an answer can be sent back.
            "default" => {}
            _ => errs.add(f, "unknown field"),
        }
    }
    info
}

fn parse_header(errs: &mut Errors, v: &Value, field: &str) -> Option<Header> {
    let key = v.get("key").and_then(Value::as_str).unwrap_or_default();
    let value = v.get("value").and_then(Value::as_str).unwrap_or_default();
    let before = errs.0.len();
    let Some(obj) = v.as_object() else {
        errs.add(field, "must be an object with key and value");
        return None;
    };
    for k in obj.keys().filter(|k| *k != "key" && *k != "value") {
        errs.add(format!("{field}.{k}"), "unknown field");
    }
    let key_ok = (1..=128).contains(&key.len())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    errs.check(
        key_ok,
        format!("{field}.key"),
        "must be 1 to 128 letters, digits and hyphens (-)",
    );
    let value_ok = (1..=1024).contains(&value.chars().count())
        && value.chars().all(|c| c == '\t' || (' '..='~').contains(&c));
    errs.check(
        value_ok,
        format!("{field}.value"),
        "must be 1 to 1024 printable ASCII characters",
    );
    (errs.0.len() == before).then(|| Header {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// Parses and checks a `responses` map of error types.
pub fn parse_responses(errs: &mut Errors, v: &Value) -> BTreeMap<String, ResponseInfo> {
    let mut out = BTreeMap::new();
    match v {
        Value::Object(m) => {
            for (t, info) in m {
                let field = format!("responses.{t}");
                if !is_type(t) {
                    errs.add(field, "is not an error type");
                    continue;
                }
                out.insert(t.clone(), parse_info(errs, info, &field));
            }
        }
        Value::Null => {}
        _ => errs.add("responses", "must be an object of error types"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_checked_and_named() {
        let mut e = Errors::default();
        let v = json!({
            "THROTTLED": {"status": 444, "body": 1, "headers": [{"key": "a b", "value": ""}]},
            "NOPE": {},
            "NOT_FOUND": {"status": 599, "headers": [{"key": "X-A", "value": "v"}], "extra": 1},
        });
        let r = parse_responses(&mut e, &v);
        let mut fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "responses.NOPE",
                "responses.NOT_FOUND.extra",
                "responses.THROTTLED.body",
                "responses.THROTTLED.headers[0].key",
                "responses.THROTTLED.headers[0].value",
                "responses.THROTTLED.status",
            ]
        );
        assert_eq!(r["NOT_FOUND"].status, Some(599));
        let mut e = Errors::default();
        let many: Vec<Value> = (0..11)
            .map(|i| json!({"key": format!("h{i}"), "value": "v"}))
            .collect();
        parse_info(&mut e, &json!({"headers": many, "status": 199}), "x");
        assert_eq!(e.0.len(), 2);
        check_name(&mut e, "ok_name-1", "name");
        check_name(&mut e, "bad name", "name");
        check_name(&mut e, &"a".repeat(65), "name");
        assert_eq!(e.0.len(), 4);
    }

    #[test]
    fn a_type_shows_its_defaults_until_customised() {
        assert_eq!(
            view("THROTTLED", None),
            json!({"status": 429, "body": DEFAULT_BODY, "default": true})
        );
        assert_eq!(view("DEFAULT_4XX", None)["status"], Value::Null);
        let c = ResponseInfo {
            status: Some(503),
            body: None,
            headers: vec![],
        };
        assert_eq!(
            view("THROTTLED", Some(&c)),
            json!({"status": 503, "body": DEFAULT_BODY, "default": false})
        );
        let m = BTreeMap::from([("THROTTLED".to_string(), c)]);
        assert_eq!(decode(&encode(&m)), m);
        assert_eq!(view_all(&m).as_object().unwrap().len(), TYPES.len());
    }
}
