//! rate_limit: Request Throttling 2.0 (`guide-policy_request_throttling_2.0.rst`, SPEC §2).
//!
//! ```json
//! {"scope": "basic", "default_time_unit": "minute", "default_interval": 1, "api_limit": 50,
//!  "app_limit": 0, "user_limit": 0, "ip_limit": 0, "algorithm": "counter",
//!  "specials": [], "parameters": [], "rules": []}
//! ```

use crate::common::{check_expr, null_default, validate_parameters, Parameter, Scope, TimeUnit};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Exact counting: check-and-increment is atomic.
    #[default]
    Counter,
    /// High-throughput counting: local first, synchronised in batches, bounded error.
    Haht,
}

/// Whose special limits an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialType {
    /// Keys are app ids.
    App,
    /// Keys are user (project) ids.
    User,
}

/// Special limits for some apps or users (`RateLimitSpecial`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialPolicy {
    /// The app id or user id, 1..64 characters.
    pub key: String,
    /// Calls per period for that key, 1..api_limit.
    pub limit: i64,
}

/// A parameter-based throttling rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
