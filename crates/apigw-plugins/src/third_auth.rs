//! third_auth: third-party authentication through an external service
//! (`guide-policy_third-party_authorizer.rst`, SPEC §2). The fields are APIG's names; ROMA
//! Connect's names for six of them are mapped in [`crate::naming`].
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    #[serde(default)]
    pub carry_path_enabled: bool,
    /// On failure, answer with the auth service's body (ROMA: `return_resp_body`).
    #[serde(default)]
    pub return_resp_body_enabled: bool,
    /// Auth response headers copied to the backend request (client copies removed first);
    /// at most 10, names 1..64.
    #[serde(default, deserialize_with = "null_default")]
    pub carry_resp_headers: Vec<String>,
    /// Any 2xx is success (ROMA: `simple_auth_mode`); else `match_auth` decides.
    #[serde(default)]
    pub simple_auth_mode_enabled: bool,
    /// The auth response header that must equal a value; mandatory unless simple mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_auth: Option<MatchAuth>,
    /// Whether `rules` select the requests to authenticate (ROMA: `rule_switch`).
    #[serde(default)]
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
    #[serde(default)]
    pub auth_downgrade_enabled: bool,
}

/// `PluginThirdAuthRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    #[serde(default)]
    pub vpc_channel_enabled: bool,
    /// APIG VPC channel; accepted, and ignored while the channel is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_channel_info: Option<VpcChannelInfo>,
}

fn default_timeout() -> i64 {
    5000
}

/// `vpc_channel_info`, kept for APIG compatibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    /// Request headers forwarded to the auth service.
    #[serde(default, deserialize_with = "null_default")]
    pub headers: Vec<Identity>,
    /// Query parameters forwarded (the seeds' `query` is mapped in [`crate::naming`]).
    #[serde(default, deserialize_with = "null_default")]
    pub queries: Vec<Identity>,
}

/// One identity source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Header or query name, 1..64.
    pub name: String,
    /// A request without it is refused (401 APIG.0313) before the auth service is called.
    #[serde(default)]
    pub essential: bool,
}

/// `carry_body`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CarryBody {
    /// Send the body (ROMA: `switch`).
    #[serde(default)]
    pub enabled: bool,
    /// Largest body sent, in bytes; mandatory when enabled.
    #[serde(default)]
    pub max_body_size: i64,
}

/// `match_auth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchAuth {
    /// The auth response header to read.
    pub key: String,
    /// The value meaning "authenticated".
    pub value: String,
}

/// `rule_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    /// Requests matching a rule skip authentication.
    Allow,
    /// Only requests matching a rule need authentication.
    Deny,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

// ---------------------------------------------------------------------------------------------
// Runtime (docs/third_auth.md). The plug-in decides; the proxy makes the HTTP call it plans
// (with its pooled client) and hands the answer back to be judged.

use crate::chain::{BuildCtx, RequestCtx};
use crate::counters::Clock;
use crate::engine::{Call, Decision, Flow, Io, Plugin, Refusal, Reply, ServiceCall, Step};
use crate::headers::{Headers, RequestHead, Touched};
use apigw_model::expr::Expr;
use http::header::{HeaderName, HeaderValue};
use http::Method;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The brute-force window: failures counted per client IP over this long.
pub const FORBID_WINDOW_MS: u64 = 5 * 60 * 1000;
/// Most client IPs remembered by the brute-force guard.
pub const MAX_TRACKED_IPS: usize = 100_000;

/// Headers never forwarded to the auth service (hop-by-hop, and `Host`, which is the auth
/// service's own).
const NOT_FORWARDED: [&str; 9] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Identity headers and queries, each with whether it is essential.
type IdentityLists = (Vec<(HeaderName, bool)>, Vec<(String, bool)>);

/// A running third_auth plug-in.
pub struct ThirdAuth {
    method: Method,
    https: bool,
    url_domain: String,
    path: String,
    timeout: Duration,
    /// `None`: forward every header and the whole query.
    identities: Option<IdentityLists>,
    carry_body: Option<usize>,
    carry_path: bool,
    return_body: bool,
    carry_resp_headers: Vec<HeaderName>,
    simple: bool,
    match_auth: Option<(HeaderName, String)>,
    rules: Option<(RuleType, Vec<Expr>)>,
    parameters: Vec<Parameter>,
    forbid_limit: u32,
    failures: Mutex<HashMap<IpAddr, (u64, u32)>>,
    downgrade: bool,
    clock: Clock,
}

impl std::fmt::Debug for ThirdAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThirdAuth")
            .field("url_domain", &self.url_domain)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The HTTP call to make to the auth service.
/// The call to the auth service a request needs, and how much of its body goes along.
#[derive(Debug)]
pub struct AuthCall {
    pub service: ServiceCall,
    pub body_limit: Option<usize>,
}

/// What the plug-in decided before calling the auth service.
#[derive(Debug)]
pub enum Plan {
    /// No authentication needed for this call (rules).
    Skip,
    /// This client IP failed too often: 403 APIG.0314.
    Forbidden,
    /// An essential identity is missing: 401 APIG.0313.
    MissingIdentity,
    /// Call the auth service.
    Call(Box<AuthCall>),
}

/// The verdict on the auth service's answer.
#[derive(Debug)]
pub enum Verdict {
    /// Authenticated: copy these headers to the backend request.
    Pass(Vec<(HeaderName, HeaderValue)>),
    /// Refused: 401 APIG.0312, with the auth service's body when configured.
    Fail(Option<bytes::Bytes>),
    /// The auth service failed (unreachable, timeout, 5xx) and downgrade is off: 500 APIG.0617.
    Error,
}

impl ThirdAuth {
    /// Builds the plug-in from validated content.
    pub fn new(c: &Config, clock: Clock) -> Self {
        let a = &c.auth_request;
        let known = |p: &str| {
            c.parameters.iter().any(|q| q.name == p) || crate::common::CONTEXT_VARS.contains(&p)
        };
        let identities = c
            .identities
            .as_ref()
            .filter(|i| !i.headers.is_empty() || !i.queries.is_empty())
            .map(|i| {
                (
                    i.headers
                        .iter()
                        .filter_map(|h| {
                            Some((HeaderName::from_bytes(h.name.as_bytes()).ok()?, h.essential))
                        })
                        .collect(),
                    i.queries
                        .iter()
                        .map(|q| (q.name.clone(), q.essential))
                        .collect(),
                )
            });
        Self {
            method: a.method.parse().unwrap_or(Method::GET),
            https: a.protocol == "HTTPS",
            url_domain: a.url_domain.clone(),
            path: a.path.clone(),
            timeout: Duration::from_millis(a.timeout.max(1) as u64),
            identities,
            carry_body: c
                .carry_body
                .enabled
                .then_some(c.carry_body.max_body_size.max(0) as usize),
            carry_path: c.carry_path_enabled,
            return_body: c.return_resp_body_enabled,
            carry_resp_headers: c
                .carry_resp_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            simple: c.simple_auth_mode_enabled,
            match_auth: c.match_auth.as_ref().and_then(|m| {
                Some((
                    HeaderName::from_bytes(m.key.as_bytes()).ok()?,
                    m.value.clone(),
                ))
            }),
            rules: c.rule_enabled.then(|| {
                let exprs = c
                    .rules
                    .iter()
                    .filter_map(|r| Expr::parse(&r.match_regex, &known).ok())
                    .collect();
                (c.rule_type.unwrap_or(RuleType::Allow), exprs)
            }),
            parameters: c.parameters.clone(),
            forbid_limit: c.custom_forbid_limit.max(0) as u32,
            failures: Mutex::new(HashMap::new()),
            downgrade: c.auth_downgrade_enabled,
            clock,
        }
    }

    /// The headers the auth service may set on the backend request: client copies of them are
    /// removed before the call goes on, whatever the verdict.
    pub fn carried_headers(&self) -> &[HeaderName] {
        &self.carry_resp_headers
    }

    /// Decides what to do with a call.
    pub fn plan(&self, req: &RequestHead, ctx: &RequestCtx) -> Plan {
        if let Some((rule_type, exprs)) = &self.rules {
            let matched = exprs.iter().any(|e| {
                e.eval(&mut |p| crate::common::param_value(&self.parameters, p, req, ctx))
            });
            let needs_auth = match rule_type {
                RuleType::Allow => !matched,
                RuleType::Deny => matched,
            };
            if !needs_auth {
                return Plan::Skip;
            }
        }
        if self.forbidden(ctx.client_ip) {
            return Plan::Forbidden;
        }
        let mut headers = Headers::new();
        let mut query: Vec<String> = Vec::new();
        match &self.identities {
            None => {
                for (k, v) in &req.headers {
                    if !NOT_FORWARDED.contains(&k.as_str()) {
                        headers.append(k.clone(), v.clone());
                    }
                }
                if let Some(q) = req.uri.query() {
                    query.push(q.to_string());
                }
            }
            Some((hs, qs)) => {
                for (name, essential) in hs {
                    let values: Vec<&HeaderValue> = req.headers.get_all(name).collect();
                    // An empty value identifies no one: an essential identity needs a value.
                    let given = values.iter().any(|v| !v.as_bytes().trim_ascii().is_empty());
                    if !given && *essential {
                        return Plan::MissingIdentity;
                    }
                    for v in values {
                        headers.append(name.clone(), v.clone());
                    }
                }
                let pairs: Vec<(&str, &str)> = req
                    .uri
                    .query()
                    .map(|q| {
                        q.split('&')
                            .map(|p| p.split_once('=').unwrap_or((p, "")))
                            .collect()
                    })
                    .unwrap_or_default();
                for (name, essential) in qs {
                    let found: Vec<&(&str, &str)> =
                        pairs.iter().filter(|(k, _)| k == name).collect();
                    if !found.iter().any(|(_, v)| !v.is_empty()) && *essential {
                        return Plan::MissingIdentity;
                    }
                    query.extend(found.iter().map(|(k, v)| format!("{k}={v}")));
                }
            }
        }
        let mut path = self.path.clone();
        if self.carry_path {
            path = format!("{}{}", path.trim_end_matches('/'), req.uri.path());
        }
        if !query.is_empty() {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&query.join("&"));
        }
        Plan::Call(Box::new(AuthCall {
            service: ServiceCall {
                method: self.method.clone(),
                https: self.https,
                url_domain: self.url_domain.clone(),
                path_and_query: path,
                headers,
                timeout: self.timeout,
            },
            body_limit: self.carry_body,
        }))
    }

    /// Judges the auth service's answer: `None` when it could not be had (unreachable,
    /// timeout), else its status, headers and body.
    pub fn judge(
        &self,
        answer: Option<(u16, &Headers, bytes::Bytes)>,
        ctx: &RequestCtx,
    ) -> Verdict {
        let Some((status, headers, body)) = answer.filter(|(s, _, _)| *s < 500) else {
            return if self.downgrade {
                Verdict::Pass(Vec::new())
            } else {
                Verdict::Error
            };
        };
        let ok = if self.simple {
            (200..300).contains(&status)
        } else {
            self.match_auth
                .as_ref()
                .is_some_and(|(k, v)| headers.get(k).is_some_and(|h| h.as_bytes() == v.as_bytes()))
        };
        if ok {
            let carried = self
                .carry_resp_headers
                .iter()
                .flat_map(|name| {
                    headers
                        .get_all(name)
                        .map(move |v| (name.clone(), v.clone()))
                })
                .collect();
            Verdict::Pass(carried)
        } else {
            self.failed(ctx.client_ip);
            Verdict::Fail(self.return_body.then_some(body))
        }
    }

    fn forbidden(&self, ip: IpAddr) -> bool {
        if self.forbid_limit == 0 {
            return false;
        }
        let ip = client_of(ip);
        let now = (self.clock)();
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&ip)
            .is_some_and(|(start, n)| now < start + FORBID_WINDOW_MS && *n > self.forbid_limit)
    }

    fn failed(&self, ip: IpAddr) {
        if self.forbid_limit == 0 {
            return;
        }
        let ip = client_of(ip);
        let now = (self.clock)();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED_IPS && !failures.contains_key(&ip) {
            failures.retain(|_, (start, _)| now < *start + FORBID_WINDOW_MS);
            if failures.len() >= MAX_TRACKED_IPS {
                return; // Bounded memory: a new IP is not tracked until windows expire.
            }
        }
        let e = failures.entry(ip).or_insert((now, 0));
        if now >= e.0 + FORBID_WINDOW_MS {
            *e = (now, 0);
        }
        e.1 += 1;
    }
}

/// Whom the brute-force guard counts for an address: an IPv4 address (also written as an
/// IPv4-mapped IPv6 one), or an IPv6 address's /64 — one host (one customer line) holds a whole
/// /64 and could otherwise take a fresh address for every few guesses.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl Plugin for ThirdAuth {
    const TYPE: apigw_model::PluginType = apigw_model::PluginType::ThirdAuth;
    type Config = Config;
    type State = ();
    const STEP: Option<Step> = Some(Step::Authenticated);

    fn build(c: &Config, _: &str, _: &str, ctx: &BuildCtx) -> Result<Self, String> {
        Ok(Self::new(c, ctx.clock.clone()))
    }

    /// It decides before the backend is called.
    fn touches_response_headers(&self) -> Touched {
        Touched::none()
    }

    /// The auth service decides; the headers it may carry are never taken from the client.
    async fn request<I: Io>(&self, _: &mut (), call: &mut Call<'_, I>) -> Flow {
        for h in self.carried_headers() {
            call.head.headers.remove(h);
        }
        let auth = match self.plan(call.head, call.ctx) {
            Plan::Skip => return Flow::Continue,
            Plan::Forbidden => return Flow::Refuse(Refusal::AuthForbidden),
            Plan::MissingIdentity => return Flow::Refuse(Refusal::IdentityMissing),
            Plan::Call(auth) => auth,
        };
        let mut body = bytes::Bytes::new();
        if let Some(limit) = auth.body_limit {
            body = match call.io.body().await {
                Ok(b) if b.len() > limit => return Flow::Refuse(Refusal::BodyTooLarge),
                Ok(b) => b,
                Err(r) => return Flow::Refuse(r),
            };
        }
        // Boxed: a rare path, kept out of the state every call's future carries.
        let answer = Box::pin(call.io.call(auth.service, body)).await;
        let answer_ref = answer.as_ref().map(|(s, h, b)| (*s, h, b.clone()));
        match self.judge(answer_ref, call.ctx) {
            Verdict::Pass(carried) => {
                for (k, v) in carried {
                    call.head.headers.append(k, v);
                }
                Flow::Continue
            }
            Verdict::Fail(Some(body)) => {
                let mut headers = Headers::new();
                if let Some(ct) = answer
                    .as_ref()
                    .and_then(|(_, h, _)| h.get(http::header::CONTENT_TYPE))
                {
                    headers.insert(http::header::CONTENT_TYPE, ct.clone());
                }
                Flow::Respond(Reply {
                    status: http::StatusCode::UNAUTHORIZED,
                    headers,
                    body,
                    decision: Decision::AuthRejected,
                })
            }
            Verdict::Fail(None) => Flow::Refuse(Refusal::ThirdAuthFailed),
            Verdict::Error => Flow::Refuse(Refusal::AuthServiceError),
        }
    }
}

#[cfg(test)]
mod runtime_tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn plugin(limit: i64) -> (ThirdAuth, Arc<AtomicU64>) {
        let c: Config = serde_json::from_value(serde_json::json!({
            "auth_request": {"method": "GET", "protocol": "HTTP", "url_domain": "auth:80", "path": "/a"},
            "simple_auth_mode_enabled": true, "custom_forbid_limit": limit})).unwrap();
        let now = Arc::new(AtomicU64::new(10_000_000));
        let n = now.clone();
        (
            ThirdAuth::new(&c, Arc::new(move || n.load(Ordering::SeqCst))),
            now,
        )
    }

    #[test]
    fn an_ip_over_the_forbid_limit_is_refused_until_its_five_minutes_end() {
        let (p, now) = plugin(2);
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..2 {
            p.failed(ip);
        }
        assert!(!p.forbidden(ip), "2 failures are not more than 2");
        p.failed(ip);
        assert!(p.forbidden(ip));
        assert!(
            !p.forbidden("10.0.0.8".parse().unwrap()),
            "other IPs are not affected"
        );
        now.fetch_add(FORBID_WINDOW_MS - 1, Ordering::SeqCst);
        assert!(p.forbidden(ip), "still inside the window");
        now.fetch_add(1, Ordering::SeqCst);
        assert!(!p.forbidden(ip), "the window ended");
        p.failed(ip);
        assert!(!p.forbidden(ip), "a new window starts counting from one");
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let (p, _) = plugin(1);
        for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
            p.failed(ip.parse().unwrap());
        }
        assert!(
            p.forbidden("2001:db8:1:2::77".parse().unwrap()),
            "another address of the same /64 is the same client"
        );
        assert!(!p.forbidden("2001:db8:1:3::1".parse().unwrap()));
        p.failed("::ffff:10.0.0.5".parse().unwrap());
        p.failed("10.0.0.5".parse().unwrap());
        assert!(p.forbidden("10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn an_empty_essential_identity_is_missing() {
        let c: Config = serde_json::from_value(serde_json::json!({
            "auth_request": {"method": "GET", "protocol": "HTTP", "url_domain": "auth:80", "path": "/a"},
            "simple_auth_mode_enabled": true,
            "identities": {"headers": [{"name": "token", "essential": true}],
                           "queries": [{"name": "user", "essential": true}]}}))
        .unwrap();
        let p = ThirdAuth::new(&c, Arc::new(|| 0));
        let ctx = RequestCtx::new(
            "r".into(),
            http::Method::GET,
            "/".into(),
            "10.0.0.1".parse().unwrap(),
        );
        let plan = |uri: &str, token: &str| {
            let req: RequestHead = http::Request::builder()
                .uri(uri)
                .header("token", token)
                .body(())
                .unwrap()
                .into_parts()
                .0
                .into();
            p.plan(&req, &ctx)
        };
        assert!(matches!(plan("/?user=u", "t"), Plan::Call(_)));
        assert!(matches!(plan("/?user=u", " "), Plan::MissingIdentity));
        assert!(matches!(plan("/?user=", "t"), Plan::MissingIdentity));
        assert!(matches!(plan("/?user", "t"), Plan::MissingIdentity));
    }

    #[test]
    fn a_zero_limit_never_forbids() {
        let (p, _) = plugin(0);
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..100 {
            p.failed(ip);
        }
        assert!(!p.forbidden(ip));
    }
}
