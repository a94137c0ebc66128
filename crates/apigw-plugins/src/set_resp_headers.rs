//! set_resp_headers: HTTP response header management
//! (`guide-policy_http_response_header_management.rst`, SPEC §2).
//!
//! ```json
//! {"response_headers": [{"name": "x-demo", "value": "sss", "action": "append"}]}
//! ```

use crate::common::{null_default, CONTEXT_VARS};
use crate::registry::{max_items, ContentModel};
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};

/// Most headers in one plug-in.
pub const MAX_HEADERS: usize = 10;
/// Longest header value.
pub const MAX_VALUE_CHARS: usize = 255;

/// `SetRespHeadersContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The headers to manage, at most 10, names unique (case-insensitively).
    #[serde(default, deserialize_with = "null_default")]
    pub response_headers: Vec<HeaderPolicy>,
}

/// What to do with one response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace every header of that name with ours (add it when absent).
    Override,
    /// Join existing values and ours with `,` (add it when absent).
    Append,
    /// Remove every header of that name.
    Delete,
    /// Leave an existing header alone; add ours when absent.
    Skip,
    /// Add ours as another header line, whatever exists.
    Add,
}

impl Action {
    /// Parses an action name, case-insensitively.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "override" => Action::Override,
            "append" => Action::Append,
            "delete" => Action::Delete,
            "skip" => Action::Skip,
            "add" => Action::Add,
            _ => return None,
        })
    }
}

/// Where the value of a header comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// `value` is the literal header value.
    #[default]
    CustomValue,
    /// `value` names a `$context` variable, resolved per request (only `add`/`append`).
    SystemParameter,
}

/// One managed header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderPolicy {
    /// Header name, 1..32 characters: letters, digits and `-`, starting with a letter;
    /// case-insensitive. `X-Apig-*`, `X-Request-Id` and CORS headers are protected.
    pub name: String,
    /// The value, ≤ 255 characters (ignored by `delete`).
    #[serde(default)]
    pub value: String,
    /// `custom_value` (default) or `system_parameter`.
    #[serde(default)]
    pub value_type: ValueType,
    /// `override`, `append`, `delete`, `skip` or `add`, case-insensitive; stored lowercase.
    pub action: String,
}

/// Whether a response header may not be changed by this plug-in.
pub fn is_protected(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("x-apig-") || n == "x-request-id" || n.starts_with("access-control-")
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        max_items(
            &self.response_headers,
            MAX_HEADERS,
            "response_headers",
            &mut errs,
        );
        for (i, h) in self.response_headers.iter().enumerate() {
            let f = format!("response_headers[{i}]");
            let name_ok = h.name.chars().count() <= 32
                && h.name.starts_with(|c: char| c.is_ascii_alphabetic())
                && h.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            errs.check(
                name_ok,
                format!("{f}.name"),
                "1..32 letters, digits or '-', starting with a letter",
            );
            errs.check(
                !is_protected(&h.name),
                format!("{f}.name"),
                "X-Apig-*, X-Request-Id and CORS headers cannot be changed",
            );
            if self.response_headers[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&h.name))
            {
                errs.add(format!("{f}.name"), "duplicate header name");
            }
            errs.len(&h.value, 0, MAX_VALUE_CHARS, &format!("{f}.value"));
            let action = Action::parse(&h.action);
            // The value of a `delete` rule takes no effect (APIG's page): anything goes there.
            errs.check(
                action == Some(Action::Delete) || HeaderValue::from_str(&h.value).is_ok(),
                format!("{f}.value"),
                "must not contain control characters (CR, LF, NUL, DEL, …)",
            );
            errs.check(
                action.is_some(),
                format!("{f}.action"),
                "must be override, append, delete, skip or add",
            );
            if h.value_type == ValueType::SystemParameter {
                errs.check(
                    matches!(action, Some(Action::Add | Action::Append) | None),
                    format!("{f}.action"),
                    "a system_parameter value only works with add or append",
                );
                errs.check(
                    CONTEXT_VARS.contains(&h.value.as_str()),
                    format!("{f}.value"),
                    format!("must be one of {}", CONTEXT_VARS.join(", ")),
                );
            }
        }
        errs.0
    }

    fn canonicalize(&mut self) {
        for h in &mut self.response_headers {
            h.action = h.action.to_ascii_lowercase();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime

use crate::chain::RequestCtx;
use crate::headers::{Headers, Touched};
use http::header::{HeaderName, HeaderValue};

/// Where a header's value comes from at run time.
#[derive(Debug)]
enum Value {
    Fixed(HeaderValue),
    Context(String),
}

/// A running set_resp_headers plug-in: names and values parsed once.
#[derive(Debug)]
pub struct SetRespHeaders {
    rules: Vec<(HeaderName, Action, Value)>,
}

impl SetRespHeaders {
    /// Builds the plug-in from validated content.
    pub fn new(c: &Config) -> Self {
        let rules = c
            .response_headers
            .iter()
            .filter_map(|h| {
                let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
                let action = Action::parse(&h.action)?;
                let value = match (h.value_type, action) {
                    // A delete rule's value is never used (and need not be a header value).
                    (_, Action::Delete) => Value::Fixed(HeaderValue::from_static("")),
                    (ValueType::CustomValue, _) => {
                        Value::Fixed(HeaderValue::from_str(&h.value).ok()?)
                    }
                    (ValueType::SystemParameter, _) => Value::Context(h.value.clone()),
                };
                Some((name, action, value))
            })
            .collect();
        Self { rules }
    }

    /// Applies every rule to the response headers, in order.
    pub fn apply(&self, headers: &mut Headers, ctx: &RequestCtx) {
        for (name, action, value) in &self.rules {
            let value = || match value {
                Value::Fixed(v) => Some(v.clone()),
                Value::Context(var) => ctx
                    .context_var(var)
                    .and_then(|s| HeaderValue::from_str(&s).ok()),
            };
            match action {
                Action::Override => {
                    if let Some(v) = value() {
                        headers.insert(name.clone(), v);
                    }
                }
                // The values it has and this one, joined by commas into one.
                Action::Append => {
                    let Some(v) = value() else { continue };
                    let mut joined = Vec::new();
                    for x in headers.get_all(name) {
                        joined.extend_from_slice(x.as_bytes());
                        joined.push(b',');
                    }
                    if joined.is_empty() {
                        headers.append(name.clone(), v);
                    } else {
                        joined.extend_from_slice(v.as_bytes());
                        if let Ok(j) = HeaderValue::from_bytes(&joined) {
                            headers.insert(name.clone(), j);
                        }
                    }
                }
                Action::Delete => {
                    headers.remove(name);
                }
                Action::Skip => {
                    if !headers.contains_key(name) {
                        if let Some(v) = value() {
                            headers.append(name.clone(), v);
                        }
                    }
                }
                Action::Add => {
                    if let Some(v) = value() {
                        headers.append(name.clone(), v);
                    }
                }
            }
        }
    }
}

impl crate::engine::Plugin for SetRespHeaders {
    const TYPE: apigw_model::PluginType = apigw_model::PluginType::SetRespHeaders;
    type Config = Config;
    type State = ();

    fn build(c: &Config, _: &str, _: &str, _: &crate::chain::BuildCtx) -> Result<Self, String> {
        Ok(Self::new(c))
    }

    /// The headers its rules name.
    fn touches_response_headers(&self) -> Touched {
        Touched::names(self.rules.iter().map(|(name, _, _)| name.clone()))
    }

    /// A header a rule at most.
    fn response_headers_added(&self) -> usize {
        self.rules.len()
    }

    fn response_head(&self, _: &mut (), headers: &mut Headers, ctx: &RequestCtx) {
        self.apply(headers, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use std::net::Ipv4Addr;

    fn plugin(rules: serde_json::Value) -> SetRespHeaders {
        SetRespHeaders::new(
            &serde_json::from_value(serde_json::json!({ "response_headers": rules })).unwrap(),
        )
    }

    fn ctx() -> RequestCtx {
        let mut c = RequestCtx::new(
            "req-1".into(),
            Method::GET,
            "/".into(),
            Ipv4Addr::new(10, 0, 0, 1).into(),
        );
        c.api_id = "api-1".into();
        c
    }

    fn values(h: &Headers, name: &str) -> Vec<String> {
        h.get_all(name)
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_delete_rule_deletes_whatever_its_value() {
        let p = plugin(serde_json::json!([
            {"name": "server", "value": "\u{1}", "action": "delete"}
        ]));
        let mut h = Headers::new();
        h.insert(
            HeaderName::from_static("server"),
            HeaderValue::from_static("nginx"),
        );
        p.apply(&mut h, &ctx());
        assert!(h.get("server").is_none());
    }

    fn backend() -> Headers {
        let mut h = Headers::new();
        for (k, v) in [
            ("x-o", "1"),
            ("x-o", "2"),
            ("x-a", "1"),
            ("x-a", "2"),
            ("x-d", "1"),
            ("x-s", "1"),
            ("x-add", "1"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn each_action_does_what_the_apig_page_says() {
        let p = plugin(serde_json::json!([
            {"name": "X-O", "value": "mine", "action": "override"},
            {"name": "x-a", "value": "mine", "action": "APPEND"},
            {"name": "x-d", "action": "delete"},
            {"name": "x-s", "value": "mine", "action": "skip"},
            {"name": "x-add", "value": "mine", "action": "add"},
        ]));
        let mut h = backend();
        p.apply(&mut h, &ctx());
        assert_eq!(values(&h, "x-o"), ["mine"], "override replaces every copy");
        assert_eq!(
            values(&h, "x-a"),
            ["1,2,mine"],
            "append joins the copies and ours"
        );
        assert!(values(&h, "x-d").is_empty(), "delete removes every copy");
        assert_eq!(values(&h, "x-s"), ["1"], "skip leaves an existing header");
        assert_eq!(values(&h, "x-add"), ["1", "mine"], "add adds another line");
    }

    #[test]
    fn absent_headers_are_added_by_every_action_but_delete() {
        let p = plugin(serde_json::json!([
            {"name": "n-o", "value": "v", "action": "override"},
            {"name": "n-a", "value": "v", "action": "append"},
            {"name": "n-d", "value": "v", "action": "delete"},
            {"name": "n-s", "value": "v", "action": "skip"},
            {"name": "n-add", "value": "v", "action": "add"},
        ]));
        let mut h = Headers::new();
        p.apply(&mut h, &ctx());
        for n in ["n-o", "n-a", "n-s", "n-add"] {
            assert_eq!(values(&h, n), ["v"], "{n}");
        }
        assert!(!h.contains_key("n-d"));
    }

    #[test]
    fn system_parameters_are_resolved_per_request() {
        let p = plugin(serde_json::json!([
            {"name": "x-rid", "value": "$context.requestId", "value_type": "system_parameter", "action": "add"},
            {"name": "x-ip", "value": "$context.sourceIp", "value_type": "system_parameter", "action": "append"},
            {"name": "x-app", "value": "$context.appId", "value_type": "system_parameter", "action": "add"},
        ]));
        let mut h = Headers::new();
        p.apply(&mut h, &ctx());
        assert_eq!(values(&h, "x-rid"), ["req-1"]);
        assert_eq!(values(&h, "x-ip"), ["10.0.0.1"]);
        assert!(
            !h.contains_key("x-app"),
            "a variable without a value adds nothing"
        );
    }
}
