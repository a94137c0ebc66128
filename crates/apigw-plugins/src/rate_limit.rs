//! rate_limit: Request Throttling 2.0 (`guide-policy_request_throttling_2.0.rst`, SPEC §2).
//!
//! ```json
//! {"scope": "basic", "default_time_unit": "minute", "default_interval": 1, "api_limit": 50,
//!  "app_limit": 0, "user_limit": 0, "ip_limit": 0, "algorithm": "counter",
//!  "specials": [], "parameters": [], "rules": []}
//! ```

use crate::common::{check_expr, null_default, validate_parameters, Parameter, Scope, TimeUnit};
use crate::headers::RequestHead;
use crate::registry::{max_items, ContentModel};
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};

/// Most rules in one plug-in.
pub const MAX_RULES: usize = 100;
/// Most keys in one `specials` entry.
pub const MAX_SPECIAL_KEYS: usize = 100;
const MAX_LIMIT: i64 = i32::MAX as i64;

/// `RateLimitContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `basic`: each bound API counts on its own; `share`: all bound APIs share the counters.
    #[serde(default)]
    pub scope: Scope,
    /// Unit of the throttling period.
    #[serde(default)]
    pub default_time_unit: TimeUnit,
    /// Length of the throttling period in `default_time_unit`s, 1..2^31-1.
    #[serde(default = "one")]
    pub default_interval: i64,
    /// Calls per period for the API; -1 = unlimited. Mandatory.
    pub api_limit: i64,
    /// Calls per period for each app; 0 = not set; ≤ api_limit.
    #[serde(default)]
    pub app_limit: i64,
    /// Calls per period for each user; 0 = not set; ≤ api_limit.
    #[serde(default)]
    pub user_limit: i64,
    /// Calls per period for each client IP; 0 = not set; ≤ api_limit.
    #[serde(default)]
    pub ip_limit: i64,
    /// `counter` (exact) or `haht` (local-first, bounded error).
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Per-app and per-user limits by key, overriding app_limit/user_limit for that key.
    #[serde(default, deserialize_with = "null_default")]
    pub specials: Vec<Special>,
    /// Request values that rules refer to.
    #[serde(default, deserialize_with = "null_default")]
    pub parameters: Vec<Parameter>,
    /// Parameter-based throttling: a matching rule applies its own limit and period.
    #[serde(default, deserialize_with = "null_default")]
    pub rules: Vec<Rule>,
}

fn one() -> i64 {
    1
}

/// The counting algorithm.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Exact counting: check-and-increment is atomic.
    #[default]
    Counter,
    /// High-throughput counting: local first, synchronised in batches, bounded error.
    Haht,
}

/// Whose special limits an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpecialType {
    /// Keys are app ids.
    App,
    /// Keys are user (project) ids.
    User,
}

/// Special limits for some apps or users (`RateLimitSpecial`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Special {
    /// `app` or `user`.
    #[serde(rename = "type")]
    pub special_type: SpecialType,
    /// One limit per key.
    #[serde(default, deserialize_with = "null_default")]
    pub policies: Vec<SpecialPolicy>,
}

/// One special limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialPolicy {
    /// The app id or user id, 1..64 characters.
    pub key: String,
    /// Calls per period for that key, 1..api_limit.
    pub limit: i64,
}

/// A parameter-based throttling rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Optional label, ≤ 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// The rule expression (SPEC §2) over `parameters`.
    pub match_regex: String,
    /// Unit of the rule's period; default `default_time_unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_unit: Option<TimeUnit>,
    /// Length of the rule's period; default `default_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Calls per period for requests matching the rule, 1..2^31-1.
    pub limit: i64,
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        errs.range(self.default_interval, 1, MAX_LIMIT, "default_interval");
        errs.check(
            self.api_limit == -1 || (1..=MAX_LIMIT).contains(&self.api_limit),
            "api_limit",
            "must be -1 (unlimited) or between 1 and 2147483647",
        );
        let cap = if self.api_limit > 0 {
            self.api_limit
        } else {
            MAX_LIMIT
        };
        for (field, v) in [
            ("app_limit", self.app_limit),
            ("user_limit", self.user_limit),
            ("ip_limit", self.ip_limit),
        ] {
            errs.check(
                (0..=cap).contains(&v),
                field,
                format!("must be between 0 (not set) and {cap} (api_limit)"),
            );
        }
        for (i, s) in self.specials.iter().enumerate() {
            let f = format!("specials[{i}]");
            if self.specials[..i]
                .iter()
                .any(|o| o.special_type == s.special_type)
            {
                errs.add(format!("{f}.type"), "one entry per type");
            }
            max_items(
                &s.policies,
                MAX_SPECIAL_KEYS,
                &format!("{f}.policies"),
                &mut errs,
            );
            for (j, p) in s.policies.iter().enumerate() {
                let pf = format!("{f}.policies[{j}]");
                errs.len(&p.key, 1, 64, &format!("{pf}.key"));
                if s.policies[..j].iter().any(|o| o.key == p.key) {
                    errs.add(format!("{pf}.key"), "duplicate key");
                }
                errs.range(p.limit, 1, cap, &format!("{pf}.limit"));
            }
        }
        validate_parameters(&self.parameters, "parameters", &mut errs);
        max_items(&self.rules, MAX_RULES, "rules", &mut errs);
        for (i, r) in self.rules.iter().enumerate() {
            let f = format!("rules[{i}]");
            if let Some(n) = &r.rule_name {
                errs.len(n, 1, 64, &format!("{f}.rule_name"));
            }
            check_expr(
                &r.match_regex,
                &self.parameters,
                &format!("{f}.match_regex"),
                &mut errs,
            );
            if let Some(iv) = r.interval {
                errs.range(iv, 1, MAX_LIMIT, &format!("{f}.interval"));
            }
            errs.range(r.limit, 1, MAX_LIMIT, &format!("{f}.limit"));
        }
        errs.0
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime
//
// Which counters a call counts in (docs/rate_limit.md):
// - the first rule whose expression matches: its own counter, limit and period, in place of
//   the API counter; otherwise the API counter (`api_limit`, unless -1);
// - the app counter (`app_limit`, or the app's `specials` limit) when APP authentication
//   identified an app; the user counter likewise for IAM users (`user_limit` / `specials`);
// - the client-IP counter when `ip_limit` is set.
// `basic` keeps these per API, `share` once for all APIs bound to the plug-in. A call passes
// when it is under every one of its limits, and then counts in all of them.

use crate::chain::RequestCtx;
use crate::counters::{Clock, LocalCounters, RedisCounters, Verdict};
use apigw_model::expr::Expr;
use std::collections::HashMap;

/// A running rate_limit plug-in with its counters.
pub struct RateLimit {
    /// Distinguishes this plug-in's content in shared (Redis) counters: new content, new keys.
    generation: String,
    share: bool,
    window_ms: u64,
    api_limit: Option<u64>,
    app_limit: Option<u64>,
    user_limit: Option<u64>,
    ip_limit: Option<u64>,
    app_specials: HashMap<String, u64>,
    user_specials: HashMap<String, u64>,
    parameters: Vec<Parameter>,
    rules: Vec<(Expr, u64, u64)>,
    local: LocalCounters,
    redis: Option<RedisCounters>,
    clock: Clock,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("generation", &self.generation)
            .field("share", &self.share)
            .field("window_ms", &self.window_ms)
            .field("api_limit", &self.api_limit)
            .field("rules", &self.rules.len())
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

fn positive(v: i64) -> Option<u64> {
    (v > 0).then_some(v as u64)
}

impl RateLimit {
    /// Builds the plug-in from validated content. `generation` must change when the content
    /// does (the registry passes the plug-in id and a hash of the content).
    pub fn new(c: &Config, generation: String, redis: Option<RedisCounters>, clock: Clock) -> Self {
        let period = |unit: TimeUnit, interval: i64| unit.seconds() * interval.max(1) as u64 * 1000;
        let window_ms = period(c.default_time_unit, c.default_interval);
        let known = |p: &str| {
            c.parameters.iter().any(|q| q.name == p) || crate::common::CONTEXT_VARS.contains(&p)
        };
        let rules = c
            .rules
            .iter()
            .filter_map(|r| {
                let expr = Expr::parse(&r.match_regex, &known).ok()?;
                let window = match (r.time_unit, r.interval) {
                    (None, None) => window_ms,
                    (u, i) => period(
                        u.unwrap_or(c.default_time_unit),
                        i.unwrap_or(c.default_interval),
                    ),
                };
                Some((expr, r.limit.max(0) as u64, window))
            })
            .collect();
        let specials = |t: SpecialType| -> HashMap<String, u64> {
            c.specials
                .iter()
                .filter(|s| s.special_type == t)
                .flat_map(|s| {
                    s.policies
                        .iter()
                        .map(|p| (p.key.clone(), p.limit.max(0) as u64))
                })
                .collect()
        };
        Self {
            generation,
            share: c.scope == Scope::Share,
            window_ms,
            api_limit: positive(c.api_limit),
            app_limit: positive(c.app_limit),
            user_limit: positive(c.user_limit),
            ip_limit: positive(c.ip_limit),
            app_specials: specials(SpecialType::App),
            user_specials: specials(SpecialType::User),
            parameters: c.parameters.clone(),
            rules,
            local: LocalCounters::default(),
            redis,
            clock,
        }
    }

    fn param(&self, name: &str, req: &RequestHead, ctx: &RequestCtx) -> Option<String> {
        crate::common::param_value(&self.parameters, name, req, ctx)
    }

    /// The counters this call counts in.
    pub fn limits(&self, req: &RequestHead, ctx: &RequestCtx) -> crate::counters::Limits {
        use crate::counters::Limit;
        let scope = if self.share { "*" } else { &ctx.api_id };
        // `{generation}:{scope}:{kind}:{who}`, joined without `core::fmt` (its machinery would
        // add ~1 000 instructions to every limited call).
        let key = |kind: &str, who: &str| [self.generation.as_str(), scope, kind, who].join(":");
        let mut out = crate::counters::Limits::new();
        let rule = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, (expr, _, _))| expr.eval(&mut |p| self.param(p, req, ctx)));
        match rule {
            Some((i, (_, limit, window))) => out.push(Limit {
                key: key("rule", &i.to_string()),
                limit: *limit,
                window_ms: *window,
            }),
            None => {
                if let Some(l) = self.api_limit {
                    out.push(Limit {
                        key: key("api", ""),
                        limit: l,
                        window_ms: self.window_ms,
                    });
                }
            }
        }
        if let Some(app) = ctx.app_id.as_deref() {
            if let Some(l) = self.app_specials.get(app).copied().or(self.app_limit) {
                out.push(Limit {
                    key: key("app", app),
                    limit: l,
                    window_ms: self.window_ms,
                });
            }
        }
        if let Some(user) = ctx.user_id.as_deref() {
            if let Some(l) = self.user_specials.get(user).copied().or(self.user_limit) {
                out.push(Limit {
                    key: key("user", user),
                    limit: l,
                    window_ms: self.window_ms,
                });
            }
        }
        if let Some(l) = self.ip_limit {
            out.push(Limit {
                key: key("ip", &ip_text(ctx.client_ip)),
                limit: l,
                window_ms: self.window_ms,
            });
        }
        out
    }

    /// Checks and counts the call; `None` when no limit applies to it.
    pub async fn check(&self, req: &RequestHead, ctx: &RequestCtx) -> Option<Verdict> {
        let limits = self.limits(req, ctx);
        if limits.is_empty() {
            return None;
        }
        let now = (self.clock)();
        if let Some(redis) = &self.redis {
            if let Some(v) = redis.check(&limits, now).await {
                return Some(v);
            }
        }
        Some(self.local.check(&limits, now))
    }
}

const X_RATELIMIT_LIMIT: http::HeaderName = http::HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: http::HeaderName =
    http::HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: http::HeaderName = http::HeaderName::from_static("x-ratelimit-reset");

impl crate::engine::Plugin for RateLimit {
    const TYPE: apigw_model::PluginType = apigw_model::PluginType::RateLimit;
    type Config = Config;
    /// What it decided, for the `X-RateLimit-*` headers.
    type State = Option<Verdict>;
    const STEP: Option<crate::engine::Step> = Some(crate::engine::Step::Admitted);
    const THROTTLES: bool = true;

    fn build(
        c: &Config,
        plugin_id: &str,
        canonical: &str,
        ctx: &crate::chain::BuildCtx,
    ) -> Result<Self, String> {
        // The counters of changed content start afresh: the generation names the content.
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        canonical.hash(&mut h);
        let generation = format!("{plugin_id}:{:016x}", h.finish());
        Ok(Self::new(
            c,
            generation,
            ctx.redis.clone(),
            ctx.clock.clone(),
        ))
    }

    async fn request<I: crate::engine::Io>(
        &self,
        verdict: &mut Option<Verdict>,
        call: &mut crate::engine::Call<'_, I>,
    ) -> crate::engine::Flow {
        if let Some(v) = self.check(call.head, call.ctx).await {
            *verdict = Some(v);
            if !v.allowed {
                return crate::engine::Flow::Refuse(crate::engine::Refusal::Throttled {
                    retry_after: v.reset_secs.max(1),
                });
            }
        }
        crate::engine::Flow::Continue
    }

    /// It inserts its three headers.
    fn touches_response_headers(&self) -> crate::headers::Touched {
        crate::headers::Touched::names([
            X_RATELIMIT_LIMIT,
            X_RATELIMIT_REMAINING,
            X_RATELIMIT_RESET,
        ])
    }

    /// Its three `X-RateLimit-*`.
    fn response_headers_added(&self) -> usize {
        3
    }

    fn response_head(
        &self,
        verdict: &mut Option<Verdict>,
        headers: &mut crate::headers::Headers,
        _: &RequestCtx,
    ) {
        if let Some(v) = verdict {
            use crate::headers::number_value;
            headers.insert(X_RATELIMIT_LIMIT, number_value(v.limit));
            headers.insert(X_RATELIMIT_REMAINING, number_value(v.remaining));
            headers.insert(X_RATELIMIT_RESET, number_value(v.reset_secs));
        }
    }
}

/// An address as text, without `core::fmt`.
fn ip_text(ip: std::net::IpAddr) -> String {
    let mut out = Vec::with_capacity(40);
    apigw_model::text::push_ip(&mut out, ip);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod runtime_tests {
    use super::*;
    use http::Method;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    struct Fixture {
        plugin: RateLimit,
        now: Arc<AtomicU64>,
    }

    fn fixture(content: serde_json::Value) -> Fixture {
        let config: Config = serde_json::from_value(content).unwrap();
        assert!(crate::registry::ContentModel::validate(&config).is_empty());
        let now = Arc::new(AtomicU64::new(1_000_000_000_000));
        let clock_now = now.clone();
        let clock: Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
        Fixture {
            plugin: RateLimit::new(&config, "gen".into(), None, clock),
            now,
        }
    }

    fn ctx(api: &str, app: Option<&str>, user: Option<&str>, ip: u8) -> RequestCtx {
        let mut c = RequestCtx::new(
            "r".into(),
            Method::GET,
            "/".into(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip)),
        );
        c.api_id = api.into();
        c.app_id = app.map(Into::into);
        c.user_id = user.map(Into::into);
        c
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0.into()
    }

    impl Fixture {
        fn run(&self, n: usize, r: &RequestHead, c: &RequestCtx) -> usize {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            (0..n)
                .filter(|_| {
                    rt.block_on(self.plugin.check(r, c))
                        .is_none_or(|v| v.allowed)
                })
                .count()
        }

        fn advance_secs(&self, s: u64) {
            self.now.fetch_add(s * 1000, Ordering::SeqCst);
        }
    }

    #[test]
    fn api_limit_holds_per_window_and_rolls_over_with_the_clock() {
        for (unit, secs) in [
            ("second", 1),
            ("minute", 60),
            ("hour", 3600),
            ("day", 86400),
        ] {
            let f = fixture(
                serde_json::json!({"api_limit": 3, "default_time_unit": unit, "default_interval": 2}),
            );
            let (r, c) = (req("GET", "/", &[]), ctx("a1", None, None, 1));
            // Align to a window start.
            let w = 2 * secs * 1000;
            let now = f.now.load(Ordering::SeqCst);
            f.now.store(now - now % w, Ordering::SeqCst);
            assert_eq!(f.run(5, &r, &c), 3, "{unit}");
            f.advance_secs(2 * secs - 1);
            assert_eq!(f.run(1, &r, &c), 0, "{unit}: still the same window");
            f.advance_secs(1);
            assert_eq!(f.run(5, &r, &c), 3, "{unit}: a new window");
        }
    }

    /// The keys are shared with other nodes through Redis: their layout must not drift.
    #[test]
    fn counter_keys_name_the_generation_scope_kind_and_caller() {
        let f = fixture(serde_json::json!({
            "scope": "basic", "default_time_unit": "minute", "api_limit": 50,
            "app_limit": 10, "ip_limit": 5
        }));
        let keys: Vec<String> = f
            .plugin
            .limits(&req("GET", "/", &[]), &ctx("api-1", Some("app-9"), None, 7))
            .into_iter()
            .map(|l| l.key)
            .collect();
        assert_eq!(
            keys,
            [
                "gen:api-1:api:",
                "gen:api-1:app:app-9",
                "gen:api-1:ip:10.0.0.7"
            ]
        );
    }

    #[test]
    fn minus_one_means_no_api_limit() {
        let f = fixture(serde_json::json!({"api_limit": -1}));
        assert_eq!(
            f.run(50, &req("GET", "/", &[]), &ctx("a1", None, None, 1)),
            50
        );
    }

    #[test]
    fn app_user_and_ip_limits_count_per_caller_with_specials() {
        let f = fixture(
            serde_json::json!({"api_limit": 100, "app_limit": 2, "user_limit": 3, "ip_limit": 4,
            "default_time_unit": "minute",
            "specials": [{"type": "app", "policies": [{"key": "vip", "limit": 5}]},
                         {"type": "user", "policies": [{"key": "boss", "limit": 6}]}]}),
        );
        let r = req("GET", "/", &[]);
        assert_eq!(
            f.run(10, &r, &ctx("a1", Some("app1"), None, 1)),
            2,
            "app_limit"
        );
        assert_eq!(
            f.run(10, &r, &ctx("a1", Some("app2"), None, 2)),
            2,
            "per app"
        );
        assert_eq!(
            f.run(10, &r, &ctx("a1", Some("vip"), None, 3)),
            4,
            "the special (5) is above the IP limit (4)"
        );
        assert_eq!(
            f.run(10, &r, &ctx("a1", None, Some("u1"), 4)),
            3,
            "user_limit"
        );
        assert_eq!(
            f.run(10, &r, &ctx("a1", None, Some("boss"), 5)),
            4,
            "user special 6, IP limit 4"
        );
        assert_eq!(f.run(10, &r, &ctx("a1", None, None, 6)), 4, "ip_limit");
        assert_eq!(
            f.run(10, &r, &ctx("a1", None, None, 6)),
            0,
            "that IP is done"
        );
    }

    #[test]
    fn basic_counts_per_api_and_share_across_apis() {
        let basic = fixture(
            serde_json::json!({"api_limit": 2, "scope": "basic", "default_time_unit": "minute"}),
        );
        let r = req("GET", "/", &[]);
        assert_eq!(
            basic.run(5, &r, &ctx("a1", None, None, 1))
                + basic.run(5, &r, &ctx("a2", None, None, 1)),
            4
        );
        let share = fixture(
            serde_json::json!({"api_limit": 2, "scope": "share", "default_time_unit": "minute"}),
        );
        assert_eq!(
            share.run(5, &r, &ctx("a1", None, None, 1))
                + share.run(5, &r, &ctx("a2", None, None, 1)),
            2
        );
    }

    #[test]
    fn a_matching_rule_has_its_own_limit_and_period() {
        let f = fixture(
            serde_json::json!({"api_limit": 100, "default_time_unit": "minute",
            "parameters": [{"name": "host", "type": "header", "value": "Host"},
                           {"name": "q", "type": "query", "value": "tier"},
                           {"name": "m", "type": "method", "value": "method"},
                           {"name": "p", "type": "path", "value": "path"}],
            "rules": [
                {"match_regex": "[\"host\",\"==\",\"a.example\"]", "limit": 1},
                {"match_regex": "[\"q\",\"in\",\"gold, silver\"]", "limit": 2, "time_unit": "second", "interval": 1},
                {"match_regex": "[\"AND\",[\"m\",\"~=\",\"GET\"],[\"p\",\"~~\",\"^/admin\"]]", "limit": 3},
                {"match_regex": "[\"p\",\"~*\",\"^/UPPER\"]", "limit": 4}
            ]}),
        );
        let c = ctx("a1", None, None, 1);
        assert_eq!(
            f.run(5, &req("GET", "/x", &[("host", "a.example")]), &c),
            1,
            "=="
        );
        assert_eq!(f.run(5, &req("GET", "/x?tier=silver", &[]), &c), 2, "in");
        f.advance_secs(1);
        assert_eq!(
            f.run(5, &req("GET", "/x?tier=gold", &[]), &c),
            2,
            "the rule's own one-second period rolled over"
        );
        assert_eq!(
            f.run(5, &req("POST", "/admin/users", &[]), &c),
            3,
            "AND, ~=, ~~"
        );
        assert_eq!(f.run(5, &req("GET", "/upper/case", &[]), &c), 4, "~*");
        assert_eq!(
            f.run(200, &req("GET", "/plain", &[]), &c),
            100,
            "no rule: the API limit"
        );
    }

    #[test]
    fn the_verdict_reports_the_tightest_limit_and_its_reset() {
        let f = fixture(
            serde_json::json!({"api_limit": 10, "ip_limit": 2, "default_time_unit": "minute"}),
        );
        let now = f.now.load(Ordering::SeqCst);
        f.now.store(now - now % 60_000 + 45_000, Ordering::SeqCst);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let v = rt
            .block_on(
                f.plugin
                    .check(&req("GET", "/", &[]), &ctx("a1", None, None, 1)),
            )
            .unwrap();
        assert_eq!(
            (v.allowed, v.limit, v.remaining, v.reset_secs),
            (true, 2, 1, 15)
        );
    }

    #[test]
    fn the_seed_rate_limit_configuration_allows_fifty_a_minute() {
        let seeds: Vec<serde_json::Value> = serde_json::from_str(include_str!(
            "../../../tests/fixtures/seed-example-requests.json"
        ))
        .unwrap();
        let body = &seeds[2]["body"];
        let content = crate::registry::canonical_content(
            apigw_model::PluginType::RateLimit,
            body["plugin_content"].as_str().unwrap(),
            None,
        )
        .unwrap();
        let f = fixture(serde_json::from_str(&content).unwrap());
        assert_eq!(
            f.run(80, &req("GET", "/", &[]), &ctx("a1", Some("app"), None, 1)),
            50
        );
    }
}
