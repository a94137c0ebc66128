//! Pieces shared by several plug-in content models.

use crate::headers::RequestHead;
use apigw_model::expr::Expr;
use apigw_model::field::Errors;
use serde::{Deserialize, Deserializer, Serialize};

/// Deserializes `null` as the type's default (APIG clients send `null` for empty lists and
/// absent objects).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The `$context` variables apigw knows, usable in rule expressions and as
/// `system_parameter` values.
pub const CONTEXT_VARS: &[&str] = &[
    "$context.requestId",
    "$context.apiId",
    "$context.apiName",
    "$context.appId",
    "$context.appName",
    "$context.userId",
    "$context.sourceIp",
    "$context.stage",
    "$context.requestTime",
    "$context.httpMethod",
    "$context.path",
    "$context.statusCode",
    "$context.backendResponseTime",
];

/// Where a rule parameter takes its value from on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// The request path; `value` is informative only.
    Path,
    /// The request method; `value` is informative only.
    Method,
    /// The request header named by `value`.
    Header,
    /// The query parameter named by `value`.
    Query,
    /// The gateway system parameter named by `value` (`serverName`, `reqPath`, ...).
    System,
}

/// A named request value that rules refer to (`PluginCommonParameter`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// The name rules use, 1..32 characters, unique in the list.
    pub name: String,
    /// Where the value comes from.
    #[serde(rename = "type")]
    pub param_type: ParamType,
    /// The header, query or system parameter name (for `path`/`method`, informative).
    pub value: String,
    /// Console bookkeeping sent by the APIG console and its examples; accepted and dropped.
    #[serde(default, skip_serializing)]
    id: Option<serde_json::Value>,
    /// Console bookkeeping, accepted and dropped.
    #[serde(default, skip_serializing)]
    disabled: Option<serde_json::Value>,
    /// Console bookkeeping, accepted and dropped.
    #[serde(default, skip_serializing)]
    focused: Option<serde_json::Value>,
}

/// Most parameters in one plug-in.
pub const MAX_PARAMETERS: usize = 50;

/// Validates a parameter list: names 1..32 characters, unique, values 1..255.
pub fn validate_parameters(params: &[Parameter], field: &str, errs: &mut Errors) {
    errs.check(
        params.len() <= MAX_PARAMETERS,
        field,
        format!("at most {MAX_PARAMETERS} parameters"),
    );
    for (i, p) in params.iter().enumerate() {
        let f = format!("{field}[{i}]");
        errs.len(&p.name, 1, 32, &format!("{f}.name"));
        errs.len(&p.value, 1, 255, &format!("{f}.value"));
        if params[..i].iter().any(|q| q.name == p.name) {
            errs.add(format!("{f}.name"), "duplicate parameter name");
        }
    }
}

/// Parses a rule expression whose parameters must be among `params` (or `$context` variables).
pub fn check_expr(src: &str, params: &[Parameter], field: &str, errs: &mut Errors) {
    let known = |p: &str| params.iter().any(|q| q.name == p) || CONTEXT_VARS.contains(&p);
    if let Err(e) = Expr::parse(src, &known) {
        errs.add(field, e);
    }
}

/// Time units of rate_limit periods.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    #[default]
    Second,
    Minute,
    Hour,
    Day,
}

impl TimeUnit {
    /// The unit in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            TimeUnit::Second => 1,
            TimeUnit::Minute => 60,
            TimeUnit::Hour => 3600,
            TimeUnit::Day => 86400,
        }
    }
}

/// `basic`: each bound API has its own state; `share`: all APIs bound to the plug-in share it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    Basic,
    Share,
}

/// Checks that a comma-separated list has no empty items and each item passes `ok`.
pub fn check_csv(
    value: &str,
    field: &str,
    ok: impl Fn(&str) -> bool,
    what: &str,
    errs: &mut Errors,
) {
    if value.trim().is_empty() {
        return;
    }
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() || !ok(item) {
            errs.add(field, format!("'{item}' is not {what}"));
            return;
        }
    }
}

/// Whether `s` is an HTTP header name (RFC 9110 token characters).
pub fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `s` is `host[:port]` with a plausible host and a port in 1..65535.
pub fn is_host_port(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (s, None), // bare IPv6
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_[]:".contains(&b));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    host_ok && port_ok
}

/// The value of parameter `name` on a request: a declared parameter (path, method, header,
/// query or system parameter), else a `$context` variable.
pub fn param_value(
    parameters: &[Parameter],
    name: &str,
    req: &RequestHead,
    ctx: &crate::chain::RequestCtx,
) -> Option<String> {
    let Some(p) = parameters.iter().find(|p| p.name == name) else {
        return ctx.context_var(name);
    };
    match p.param_type {
        ParamType::Path => Some(req.uri.path().to_string()),
        ParamType::Method => Some(req.method.to_string()),
        ParamType::Header => req
            .headers
            .get(p.value.as_str())
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        // The first pair whose key, decoded, is the parameter's name (`a%5B0%5D` is `a[0]`).
        ParamType::Query => req.uri.query().and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_encoding::percent_decode_str(k).decode_utf8_lossy() == p.value).then(
                    || {
                        percent_encoding::percent_decode_str(v)
                            .decode_utf8_lossy()
                            .into_owned()
                    },
                )
            })
        }),
        ParamType::System => match p.value.as_str() {
            "reqPath" => Some(req.uri.path().to_string()),
            "reqMethod" => Some(req.method.to_string()),
            "serverName" | "host" => req
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string),
            other => ctx.context_var(&format!("$context.{other}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_found_by_their_decoded_key() {
        let params: Vec<Parameter> = serde_json::from_value(serde_json::json!([
            {"name": "first", "type": "query", "value": "a[0]"},
            {"name": "user", "type": "query", "value": "user"}
        ]))
        .unwrap();
        let req: RequestHead = http::Request::builder()
            .uri("/p?a%5B0%5D=x%20y&user=u1&user=u2")
            .body(())
            .unwrap()
            .into_parts()
            .0
            .into();
        let ctx = crate::chain::RequestCtx::new(
            "r".into(),
            http::Method::GET,
            "/p".into(),
            "10.0.0.1".parse().unwrap(),
        );
        assert_eq!(
            param_value(&params, "first", &req, &ctx).as_deref(),
            Some("x y")
        );
        assert_eq!(
            param_value(&params, "user", &req, &ctx).as_deref(),
            Some("u1"),
            "the first value"
        );
    }

    #[test]
    fn host_port_accepts_names_ips_and_ports() {
        for ok in [
            "0.0.0.0:11",
            "xxx.xxx.xxx.xxx:1234",
            "example.com",
            "[::1]:9092",
            "10.0.0.1",
        ] {
            assert!(is_host_port(ok), "{ok}");
        }
        for bad in [
            "",
            ":80",
            "host:0",
            "host:65536",
            "host:x",
            "a b:80",
            "host/path",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }
}
