//! Classic request throttling on the data plane (SPEC §10): a route's bound policy, compiled
//! once per policy and snapshot, checked after authentication with the counters rate_limit
//! uses (in-process [`LocalCounters`], cluster-wide [`RedisCounters`] when `APIGW_REDIS_URL`
//! is set). A call passes when it is under every limit that applies to it — the API limit
//! over all callers, the user limit per IAM user, the app limit per APP app (an excluded
//! configuration replaces the app or user limit for its object), the IP limit per client IP —
//! and then counts in all of them, atomically.
//!
//! Counter keys are `classic:{throttle_id}:{scope}:{kind}:{who}`, `scope` being the API id for
//! type 1 and `*` for type 2 (every bound API shares the counts). The in-process counters are
//! shared by every snapshot (one [`LocalCounters`] in the build context), so counts survive
//! reloads; a changed period starts new windows.

use apigw_model::throttle::{ObjectType, Throttle, ThrottleSpecial};
use apigw_plugins::chain::RequestCtx;
use apigw_plugins::counters::{Clock, Limit, Limits, LocalCounters, RedisCounters, Verdict};
use std::collections::HashMap;
use std::sync::Arc;

/// One policy, compiled.
pub struct Classic {
    /// `classic:{throttle_id}`: the start of every counter key.
    prefix: String,
    shared: bool,
    window_ms: u64,
    api: u64,
    user: Option<u64>,
    app: Option<u64>,
    ip: Option<u64>,
    app_specials: HashMap<String, u64>,
    user_specials: HashMap<String, u64>,
    local: Arc<LocalCounters>,
    redis: Option<RedisCounters>,
    clock: Clock,
}

impl std::fmt::Debug for Classic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classic")
            .field("prefix", &self.prefix)
            .field("shared", &self.shared)
            .field("window_ms", &self.window_ms)
            .field("api", &self.api)
            .field("user", &self.user)
            .field("app", &self.app)
            .field("ip", &self.ip)
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

fn limit(v: i64) -> u64 {
    v.max(0) as u64
}

impl Classic {
    /// Compiles `t` with its excluded configurations (`specials` may hold other policies').
    pub fn new(
        t: &Throttle,
        specials: &[ThrottleSpecial],
        local: Arc<LocalCounters>,
        redis: Option<RedisCounters>,
        clock: Clock,
    ) -> Self {
        let of = |kind: ObjectType| -> HashMap<String, u64> {
            specials
                .iter()
                .filter(|s| s.throttle_id == t.id && s.object_type == kind)
                .map(|s| (s.object_id.clone(), limit(s.call_limits)))
                .collect()
        };
        Self {
            prefix: format!("classic:{}", t.id),
            shared: t.kind == 2,
            window_ms: limit(t.window_millis()).max(1),
            api: limit(t.api_call_limits),
            user: t.user_call_limits.map(limit),
            app: t.app_call_limits.map(limit),
            ip: t.ip_call_limits.map(limit),
            app_specials: of(ObjectType::App),
            user_specials: of(ObjectType::User),
            local,
            redis,
            clock,
        }
    }

    /// The counters this call counts in.
    pub fn limits(&self, ctx: &RequestCtx) -> Limits {
        let scope = if self.shared { "*" } else { &ctx.api_id };
        let key = |kind: &str, who: &str| [self.prefix.as_str(), scope, kind, who].join(":");
        let window_ms = self.window_ms;
        let mut out = Limits::new();
        out.push(Limit {
            key: key("api", ""),
            limit: self.api,
            window_ms,
        });
        if let Some(user) = ctx.user_id.as_deref() {
            if let Some(l) = self.user_specials.get(user).copied().or(self.user) {
                out.push(Limit {
                    key: key("user", user),
                    limit: l,
                    window_ms,
                });
            }
        }
        if let Some(app) = ctx.app_id.as_deref() {
            if let Some(l) = self.app_specials.get(app).copied().or(self.app) {
                out.push(Limit {
                    key: key("app", app),
                    limit: l,
                    window_ms,
                });
            }
        }
        if let Some(l) = self.ip {
            let mut ip = Vec::with_capacity(40);
            apigw_model::text::push_ip(&mut ip, ctx.client_ip);
            out.push(Limit {
                key: key("ip", &String::from_utf8(ip).unwrap_or_default()),
                limit: l,
                window_ms,
            });
        }
        out
    }

    /// Checks and counts the call.
    pub async fn check(&self, ctx: &RequestCtx) -> Verdict {
        let limits = self.limits(ctx);
        let now = (self.clock)();
        if let Some(redis) = &self.redis {
            if let Some(v) = redis.check(&limits, now).await {
                return v;
            }
        }
        self.local.check(&limits, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_model::throttle::TimeUnit;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::atomic::{AtomicU64, Ordering};

    fn policy(kind: i64) -> Throttle {
        Throttle {
            id: "t1".into(),
            instance_id: "i".into(),
            name: "p".into(),
            api_call_limits: 5,
            user_call_limits: None,
            app_call_limits: Some(2),
            ip_call_limits: Some(4),
            time_interval: 1,
            time_unit: TimeUnit::Minute,
            kind,
            enable_adaptive_control: "FALSE".into(),
            remark: String::new(),
            create_time: 0,
        }
    }

    fn ctx(api: &str, app: Option<&str>, ip: u8) -> RequestCtx {
        let mut c = RequestCtx::new(
            "r".into(),
            http::Method::GET,
            "/".into(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip)),
        );
        c.api_id = api.into();
        c.app_id = app.map(Into::into);
        c
    }

    fn compiled(t: &Throttle, specials: &[ThrottleSpecial]) -> (Classic, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_000_000_000_000));
        let n = now.clone();
        let clock: Clock = Arc::new(move || n.load(Ordering::SeqCst));
        (Classic::new(t, specials, Arc::default(), None, clock), now)
    }

    async fn passed(c: &Classic, ctx: &RequestCtx, n: usize) -> usize {
        let mut ok = 0;
        for _ in 0..n {
            if c.check(ctx).await.allowed {
                ok += 1;
            }
        }
        ok
    }

    #[tokio::test]
    async fn app_ip_and_api_limits_each_hold_and_a_special_replaces_the_app_limit() {
        let special = ThrottleSpecial {
            id: "s".into(),
            instance_id: "i".into(),
            throttle_id: "t1".into(),
            object_type: ObjectType::App,
            object_id: "vip".into(),
            call_limits: 3,
            create_time: 0,
        };
        let (c, now) = compiled(&policy(1), &[special]);
        assert_eq!(passed(&c, &ctx("a", Some("plain"), 1), 5).await, 2, "app");
        assert_eq!(
            passed(&c, &ctx("a", Some("vip"), 1), 5).await,
            2,
            "ip 4 in all"
        );
        assert_eq!(
            passed(&c, &ctx("a", Some("vip"), 2), 5).await,
            1,
            "api 5 in all"
        );
        now.fetch_add(60_000, Ordering::SeqCst);
        assert_eq!(passed(&c, &ctx("a", Some("vip"), 3), 5).await, 3, "special");
    }

    #[tokio::test]
    async fn type_one_counts_each_api_and_type_two_shares() {
        let (c, _) = compiled(&policy(1), &[]);
        assert_eq!(passed(&c, &ctx("a", None, 1), 9).await, 4);
        assert_eq!(passed(&c, &ctx("b", None, 2), 9).await, 4);
        let (c, _) = compiled(&policy(2), &[]);
        assert_eq!(passed(&c, &ctx("a", None, 1), 3).await, 3);
        assert_eq!(passed(&c, &ctx("b", None, 2), 9).await, 2);
    }
}
