//! third_auth: third-party authentication through an external service
//! (`guide-policy_third-party_authorizer.rst`, SPEC §2). ROMA Connect's older field names are
//! accepted as aliases and stored under the APIG names.
//!
//! ```json
//! {"auth_request": {"method": "POST", "protocol": "HTTP", "url_domain": "auth:1234",
//!   "timeout": 10, "path": "/check", "vpc_channel_enabled": false},
//!  "identities": {"headers": [{"name": "token"}], "queries": [{"name": "user"}]},
//!  "simple_auth_mode_enabled": false, "match_auth": {"key": "x-result", "value": "success"}}
//! ```

use crate::common::{
    check_expr, is_header_name, is_host_port, null_default, validate_parameters, Parameter,
};
use crate::registry::{max_items, ContentModel};
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};

/// Most rules in one plug-in.
pub const MAX_RULES: usize = 100;
/// Most identities of each kind.
pub const MAX_IDENTITIES: usize = 10;
/// Largest body the plug-in may carry to the auth service (the gateway's body limit).
pub const MAX_CARRY_BODY: i64 = 12 * 1024 * 1024;

/// `ThirdAuthContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How to call the auth service. Mandatory.
    pub auth_request: AuthRequest,
    /// Headers and queries forwarded to the auth service; none = all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<Identities>,
    /// Whether, and how much of, the request body goes to the auth service.
    #[serde(default, deserialize_with = "null_default")]
    pub carry_body: CarryBody,
    /// Append the original request path to `auth_request.path` (ROMA: `carry_path`).
    #[serde(default, alias = "carry_path")]
    pub carry_path_enabled: bool,
    /// On failure, answer with the auth service's body (ROMA: `return_resp_body`).
    #[serde(default, alias = "return_resp_body")]
    pub return_resp_body_enabled: bool,
    /// Auth response headers copied to the backend request (client copies removed first);
    /// at most 10, names 1..64.
    #[serde(
        default,
        alias = "carry_resp_header",
        deserialize_with = "null_default"
    )]
    pub carry_resp_headers: Vec<String>,
    /// Any 2xx is success (ROMA: `simple_auth_mode`); else `match_auth` decides.
    #[serde(default, alias = "simple_auth_mode")]
    pub simple_auth_mode_enabled: bool,
    /// The auth response header that must equal a value; mandatory unless simple mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_auth: Option<MatchAuth>,
    /// Whether `rules` select the requests to authenticate (ROMA: `rule_switch`).
    #[serde(default, alias = "rule_switch")]
    pub rule_enabled: bool,
    /// `allow`: matching requests skip auth; `deny`: only matching requests need auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_type: Option<RuleType>,
    /// Request values that rules refer to.
    #[serde(default, deserialize_with = "null_default")]
    pub parameters: Vec<Parameter>,
    /// At most 100 rules.
    #[serde(default, deserialize_with = "null_default")]
    pub rules: Vec<Rule>,
    /// Failures from one client IP within 5 minutes after which it gets 403; 0 = off.
    #[serde(default)]
    pub custom_forbid_limit: i64,
    /// Let calls pass when the auth service is unreachable or fails (5xx).
    #[serde(default, alias = "auth_downgrade_enable")]
    pub auth_downgrade_enabled: bool,
}

/// `PluginThirdAuthRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    /// `GET`, `POST`, `PUT` or `HEAD`.
    pub method: String,
    /// `HTTP` or `HTTPS`.
    pub protocol: String,
    /// `host[:port]` of the auth service.
    #[serde(default)]
    pub url_domain: String,
    /// Timeout in ms, 1..60000 (default 5000).
    #[serde(default = "default_timeout")]
    pub timeout: i64,
    /// Path on the auth service, starting with `/`.
    pub path: String,
    /// APIG VPC channel switch (ROMA: `vpc_channel_enable`); apigw has none, so it must be false.
    #[serde(default, alias = "vpc_channel_enable")]
    pub vpc_channel_enabled: bool,
    /// APIG VPC channel; accepted, and ignored while the channel is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_channel_info: Option<VpcChannelInfo>,
}

fn default_timeout() -> i64 {
    5000
}

/// `vpc_channel_info`, kept for APIG compatibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcChannelInfo {
    /// Host header for the channel.
    #[serde(default)]
    pub vpc_proxy_host: String,
    /// The channel's id.
    #[serde(default)]
    pub vpc_id: String,
}

/// `identities`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    /// Request headers forwarded to the auth service.
    #[serde(default, deserialize_with = "null_default")]
    pub headers: Vec<Identity>,
    /// Query parameters forwarded (the seeds say `query`).
    #[serde(default, alias = "query", deserialize_with = "null_default")]
    pub queries: Vec<Identity>,
}

/// One identity source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Header or query name, 1..64.
    pub name: String,
    /// A request without it is refused (401 APIG.0313) before the auth service is called.
    #[serde(default)]
    pub essential: bool,
}

/// `carry_body`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CarryBody {
    /// Send the body (ROMA: `switch`).
    #[serde(default, alias = "switch")]
    pub enabled: bool,
    /// Largest body sent, in bytes; mandatory when enabled.
    #[serde(default)]
    pub max_body_size: i64,
}

/// `match_auth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchAuth {
    /// The auth response header to read.
    pub key: String,
    /// The value meaning "authenticated".
    pub value: String,
}

/// `rule_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    /// Requests matching a rule skip authentication.
    Allow,
    /// Only requests matching a rule need authentication.
    Deny,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Label, 1..64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// Expression over `parameters`.
    pub match_regex: String,
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        let a = &self.auth_request;
        let method_ok = matches!(
            a.method.to_ascii_uppercase().as_str(),
            "GET" | "POST" | "PUT" | "HEAD"
        );
        errs.check(
            method_ok,
            "auth_request.method",
            "must be GET, POST, PUT or HEAD",
        );
        errs.check(
            matches!(a.protocol.to_ascii_uppercase().as_str(), "HTTP" | "HTTPS"),
            "auth_request.protocol",
            "must be HTTP or HTTPS",
        );
        errs.check(
            is_host_port(&a.url_domain),
            "auth_request.url_domain",
            "must be host[:port]",
        );
        errs.range(a.timeout, 1, 60000, "auth_request.timeout");
        errs.check(
            a.path.starts_with('/')
                && a.path.len() <= 1024
                && !a.path.contains(char::is_whitespace),
            "auth_request.path",
            "must start with '/', hold no spaces and be at most 1024 characters",
        );
        errs.check(
            !a.vpc_channel_enabled,
            "auth_request.vpc_channel_enabled",
            "VPC channels are not supported by apigw",
        );
        if let Some(ids) = &self.identities {
            for (kind, list) in [("headers", &ids.headers), ("queries", &ids.queries)] {
                let f = format!("identities.{kind}");
                max_items(list, MAX_IDENTITIES, &f, &mut errs);
                for (i, id) in list.iter().enumerate() {
                    errs.len(&id.name, 1, 64, &format!("{f}[{i}].name"));
                    if kind == "headers" {
                        errs.check(
                            is_header_name(&id.name),
                            format!("{f}[{i}].name"),
                            "must be a header name",
                        );
                    }
                }
            }
        }
        if self.carry_body.enabled {
            errs.range(
                self.carry_body.max_body_size,
                1,
                MAX_CARRY_BODY,
                "carry_body.max_body_size",
            );
        } else {
            errs.range(
                self.carry_body.max_body_size,
                0,
                MAX_CARRY_BODY,
                "carry_body.max_body_size",
            );
        }
        max_items(
            &self.carry_resp_headers,
            10,
            "carry_resp_headers",
            &mut errs,
        );
        for (i, h) in self.carry_resp_headers.iter().enumerate() {
            errs.check(
                h.len() <= 64 && is_header_name(h),
                format!("carry_resp_headers[{i}]"),
                "must be a header name of at most 64 characters",
            );
        }
        match &self.match_auth {
            Some(m) => {
                errs.check(
                    m.key.len() <= 64 && is_header_name(&m.key),
                    "match_auth.key",
                    "must be a header name",
                );
                errs.len(&m.value, 0, 255, "match_auth.value");
            }
            None => errs.check(
                self.simple_auth_mode_enabled,
                "match_auth",
                "is mandatory unless simple_auth_mode_enabled",
            ),
        }
        if self.rule_enabled {
            errs.check(
                self.rule_type.is_some(),
                "rule_type",
                "is mandatory when rule_enabled",
            );
        }
        validate_parameters(&self.parameters, "parameters", &mut errs);
        max_items(&self.rules, MAX_RULES, "rules", &mut errs);
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(n) = &r.rule_name {
                errs.len(n, 1, 64, &format!("rules[{i}].rule_name"));
            }
            check_expr(
                &r.match_regex,
                &self.parameters,
                &format!("rules[{i}].match_regex"),
                &mut errs,
            );
        }
        errs.range(
            self.custom_forbid_limit,
            0,
            i64::from(i32::MAX),
            "custom_forbid_limit",
        );
        errs.0
    }

    fn canonicalize(&mut self) {
        self.auth_request.method = self.auth_request.method.to_ascii_uppercase();
        self.auth_request.protocol = self.auth_request.protocol.to_ascii_uppercase();
    }
}
