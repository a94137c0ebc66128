//! The `plugin_content` of breaker (`BreakerContent`): when a breaker opens, what serves calls
//! while it is open, the rules that pick a breaker per call, and their validation.

use crate::common::{
    check_expr, is_host_port, null_default, validate_parameters, Parameter, Scope,
};
use crate::registry::{max_items, ContentModel};
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most downgrade rules in one plug-in.
pub const MAX_RULES: usize = 100;
const MAX_INT: i64 = i32::MAX as i64;
/// The `$context` variables an `unhealthy_condition` may read.
pub const CONDITION_VARS: &[&str] = &["$context.statusCode", "$context.backendResponseTime"];

/// `BreakerContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `basic`: one breaker per API; `share`: one for all APIs bound to the plug-in.
    #[serde(default)]
    pub scope: Scope,
    /// When the breaker opens. Mandatory.
    pub breaker_condition: Condition,
    /// What answers while the breaker is open; none = 503.
    #[serde(default)]
    pub downgrade_default: Option<Downgrade>,
    /// Request values that rules refer to.
    #[serde(default, deserialize_with = "null_default")]
    pub downgrade_parameters: Vec<Parameter>,
    /// Matched top to bottom; a matching rule has its own condition, state and backend.
    #[serde(default, deserialize_with = "null_default")]
    pub downgrade_rules: Vec<DowngradeRule>,
}

/// `breaker_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerType {
    /// A call is unhealthy when the backend did not answer within the API's timeout.
    Timeout,
    /// A call is unhealthy when `unhealthy_condition` holds.
    Condition,
}

/// `breaker_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerMode {
    /// Open as soon as `unhealthy_threshold` unhealthy calls fall within `time_window`.
    Counter,
    /// At the end of a window, open when calls ≥ `min_call_threshold` and the unhealthy share
    /// ≥ `unhealthy_percentage`.
    Percentage,
}

/// `PluginBreakerCondition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `timeout` or `condition`.
    pub breaker_type: BreakerType,
    /// `counter` or `percentage`.
    pub breaker_mode: BreakerMode,
    /// Expression over `$context.statusCode` and `$context.backendResponseTime` (ms);
    /// mandatory for `condition`, may be empty for `timeout`.
    #[serde(default)]
    pub unhealthy_condition: String,
    /// Unhealthy calls that open the breaker (counter mode), 1..2^31-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<i64>,
    /// Fewest calls in a window before percentage mode may open, 1..2^31-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_call_threshold: Option<i64>,
    /// Unhealthy share that opens the breaker (percentage mode), 1..100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_percentage: Option<i64>,
    /// The window, in seconds, 1..2^31-1.
    pub time_window: i64,
    /// How long the breaker stays open, in seconds, 1..2^31-1.
    pub open_breaker_time: i64,
}

impl Condition {
    fn validate(&self, params: &[Parameter], errs: &mut Errors) {
        if self.breaker_type == BreakerType::Condition || !self.unhealthy_condition.is_empty() {
            let known = |p: &str| CONDITION_VARS.contains(&p) || params.iter().any(|q| q.name == p);
            if let Err(e) = apigw_model::expr::Expr::parse(&self.unhealthy_condition, &known) {
                errs.add("unhealthy_condition", e);
            }
        }
        let need =
            |v: Option<i64>, field: &str, min: i64, max: i64, required: bool, errs: &mut Errors| {
                match v {
                    Some(v) => errs.range(v, min, max, field),
                    None if required => errs.add(field, "is mandatory for this breaker_mode"),
                    None => {}
                }
            };
        let counter = self.breaker_mode == BreakerMode::Counter;
        need(
            self.unhealthy_threshold,
            "unhealthy_threshold",
            1,
            MAX_INT,
            counter,
            errs,
        );
        need(
            self.min_call_threshold,
            "min_call_threshold",
            1,
            MAX_INT,
            !counter,
            errs,
        );
        need(
            self.unhealthy_percentage,
            "unhealthy_percentage",
            1,
            100,
            !counter,
            errs,
        );
        errs.range(self.time_window, 1, MAX_INT, "time_window");
        errs.range(self.open_breaker_time, 1, MAX_INT, "open_breaker_time");
    }
}

/// Kinds of downgrade backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DowngradeType {
    /// A fixed response.
    Mock,
    /// Another HTTP backend.
    Http,
    /// The API's own backend, with extra headers.
    Passthrough,
    /// APIG's VPC-channel backend; apigw has no VPC channels and rejects it.
    HttpVpc,
    /// APIG's FunctionGraph backend; apigw has no functions and rejects it.
    Function,
}

/// `PluginBreakerDowngradeInfo`: what serves calls while the breaker is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Downgrade {
    /// `mock`, `http` or `passthrough`.
    #[serde(rename = "type")]
    pub downgrade_type: DowngradeType,
    /// The fixed response of `mock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_info: Option<MockInfo>,
    /// The backend of `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_info: Option<HttpInfo>,
    /// Extra headers of `passthrough`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub passthrough_infos: Vec<HeaderPair>,
    /// APIG's VPC backend; must be null or absent.
    #[serde(default, skip_serializing)]
    http_vpc_info: Option<Value>,
    /// APIG's function backend; must be null or absent.
    #[serde(default, skip_serializing)]
    func_info: Option<Value>,
}

/// A header given by name and value (`key` is accepted for `name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderPair {
    /// Header name.
    #[serde(alias = "key")]
    pub name: String,
    /// Header value.
    #[serde(default)]
    pub value: String,
}

/// The fixed response of a `mock` downgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockInfo {
    /// Status, 200..599 (default 200).
    #[serde(default = "ok_status")]
    pub status_code: i64,
    /// The body, sent as is (at most 65535 characters with the rest of the content).
    #[serde(default)]
    pub result_content: String,
    /// Response headers.
    #[serde(default, deserialize_with = "null_default")]
    pub headers: Vec<HeaderPair>,
}

fn ok_status() -> i64 {
    200
}

/// The backend of an `http` downgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpInfo {
    /// `host[:port]`.
    pub address: String,
    /// `HTTP` or `HTTPS`.
    #[serde(default = "http_scheme")]
    pub scheme: String,
    /// The method; `ANY` keeps the caller's.
    #[serde(default = "any_method")]
    pub method: String,
    /// The path, starting with `/`.
    #[serde(default = "root_path")]
    pub path: String,
    /// Timeout in ms, 1..60000 (default 5000).
    #[serde(default = "default_timeout")]
    pub timeout: i64,
    /// APIG console flag: the backend is a VPC channel. Must be false.
    #[serde(default, rename = "isVpc")]
    pub is_vpc: bool,
    /// APIG's VPC channel id; must be empty.
    #[serde(default)]
    pub vpc_channel_id: String,
}

fn http_scheme() -> String {
    "HTTP".into()
}
fn any_method() -> String {
    "ANY".into()
}
fn root_path() -> String {
    "/".into()
}
fn default_timeout() -> i64 {
    5000
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "ANY",
];

impl Downgrade {
    fn validate(&self, errs: &mut Errors) {
        match self.downgrade_type {
            DowngradeType::Mock => match &self.mock_info {
                Some(m) => {
                    errs.range(m.status_code, 200, 599, "mock_info.status_code");
                    check_headers(&m.headers, "mock_info.headers", errs);
                }
                None => errs.add("mock_info", "is mandatory for type mock"),
            },
            DowngradeType::Http => match &self.http_info {
                Some(h) => {
                    errs.check(
                        is_host_port(&h.address),
                        "http_info.address",
                        "must be host[:port]",
                    );
                    errs.check(
                        matches!(h.scheme.as_str(), "HTTP" | "HTTPS"),
                        "http_info.scheme",
                        "must be HTTP or HTTPS",
                    );
                    errs.check(
                        METHODS.contains(&h.method.as_str()),
                        "http_info.method",
                        "must be an HTTP method or ANY",
                    );
                    errs.check(
                        h.path.starts_with('/') && !h.path.contains(char::is_whitespace),
                        "http_info.path",
                        "must start with '/' and hold no spaces",
                    );
                    errs.range(h.timeout, 1, 60000, "http_info.timeout");
                    errs.check(
                        !h.is_vpc && h.vpc_channel_id.is_empty(),
                        "http_info.isVpc",
                        "VPC channels are not supported by apigw",
                    );
                }
                None => errs.add("http_info", "is mandatory for type http"),
            },
            DowngradeType::Passthrough => {
                check_headers(&self.passthrough_infos, "passthrough_infos", errs)
            }
            DowngradeType::HttpVpc | DowngradeType::Function => errs.add(
                "type",
                "http_vpc and function backends are not supported by apigw",
            ),
        }
        errs.check(
            self.http_vpc_info.is_none(),
            "http_vpc_info",
            "not supported by apigw",
        );
        errs.check(
            self.func_info.is_none(),
            "func_info",
            "not supported by apigw",
        );
    }
}

fn check_headers(headers: &[HeaderPair], field: &str, errs: &mut Errors) {
    max_items(headers, 20, field, errs);
    for (i, h) in headers.iter().enumerate() {
        errs.check(
            crate::common::is_header_name(&h.name),
            format!("{field}[{i}].name"),
            "must be a header name",
        );
        errs.check(
            !h.value.contains(['\r', '\n', '\0']),
            format!("{field}[{i}].value"),
            "must not contain CR, LF or NUL",
        );
    }
}

/// `PluginBreakerDowngradeRule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DowngradeRule {
    /// The rule's name, 1..64 characters, unique in the plug-in.
    pub rule_name: String,
    /// The parameter names the rule uses (the console sends names; objects are accepted too).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parameters: Vec<Value>,
    /// When the rule applies (expression over `downgrade_parameters`).
    pub match_regex: String,
    /// The rule's own breaker condition (its own state); none = the plug-in's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_condition: Option<Condition>,
    /// The rule's own downgrade; none = `downgrade_default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade_backend: Option<Downgrade>,
}

fn sub(errs: &mut Errors, prefix: &str, f: impl FnOnce(&mut Errors)) {
    let mut inner = Errors::default();
    f(&mut inner);
    errs.extend_within(prefix, inner.0);
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        let params = &self.downgrade_parameters;
        sub(&mut errs, "breaker_condition", |e| {
            self.breaker_condition.validate(params, e)
        });
        if let Some(d) = &self.downgrade_default {
            sub(&mut errs, "downgrade_default", |e| d.validate(e));
        }
        validate_parameters(params, "downgrade_parameters", &mut errs);
        max_items(
            &self.downgrade_rules,
            MAX_RULES,
            "downgrade_rules",
            &mut errs,
        );
        for (i, r) in self.downgrade_rules.iter().enumerate() {
            let f = format!("downgrade_rules[{i}]");
            errs.len(&r.rule_name, 1, 64, &format!("{f}.rule_name"));
            if self.downgrade_rules[..i]
                .iter()
                .any(|o| o.rule_name == r.rule_name)
            {
                errs.add(format!("{f}.rule_name"), "duplicate rule name");
            }
            for (j, p) in r.parameters.iter().enumerate() {
                let name = p.as_str().or_else(|| p.get("name").and_then(Value::as_str));
                errs.check(
                    name.is_some_and(|n| params.iter().any(|q| q.name == n)),
                    format!("{f}.parameters[{j}]"),
                    "must name one of downgrade_parameters",
                );
            }
            check_expr(
                &r.match_regex,
                params,
                &format!("{f}.match_regex"),
                &mut errs,
            );
            if let Some(c) = &r.breaker_condition {
                sub(&mut errs, &format!("{f}.breaker_condition"), |e| {
                    c.validate(params, e)
                });
            }
            if let Some(d) = &r.downgrade_backend {
                sub(&mut errs, &format!("{f}.downgrade_backend"), |e| {
                    d.validate(e)
                });
            }
        }
        errs.0
    }
}
