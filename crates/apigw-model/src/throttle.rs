//! Classic request throttling policies (SPEC §10, `otc-api/request_throttling_policy_management`):
//! how often the APIs a policy is bound to may be called, in all, per user, per app and per
//! client IP, over `time_interval` × `time_unit`, with excluded (special) limits for single apps
//! and users. Validation only; no I/O.

use crate::field::Errors;

/// A request throttling policy (`ThrottleBaseInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    pub id: String,
    pub instance_id: String,
    /// 3–64 characters: a letter first, then letters, digits and `_`; unique per instance
    /// (APIG.3204).
    pub name: String,
    /// Calls of one API (type 1) or of all bound APIs together (type 2) per period.
    pub api_call_limits: i64,
    /// Calls per IAM user or app owner per period; at most `api_call_limits`.
    pub user_call_limits: Option<i64>,
    /// Calls per APP app per period; at most `user_call_limits` (or `api_call_limits`).
    pub app_call_limits: Option<i64>,
    /// Calls per client IP per period; at most `api_call_limits`.
    pub ip_call_limits: Option<i64>,
    /// The period, in `time_unit`s.
    pub time_interval: i64,
    pub time_unit: TimeUnit,
    /// 1: each bound API counted on its own; 2: all bound APIs share the counts.
    pub kind: i64,
    /// `TRUE` | `FALSE`, kept and shown (APIG: "currently not supported").
    pub enable_adaptive_control: String,
    pub remark: String,
    pub create_time: i64,
}

/// A policy bound to an API in an environment (`ThrottleApiBinding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleBinding {
    pub id: String,
    pub instance_id: String,
    pub throttle_id: String,
    pub api_id: String,
    pub env_id: String,
    pub create_time: i64,
}

/// An excluded configuration (`ThrottleSpecialInfo`): one app's or one user's own limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSpecial {
    pub id: String,
    pub instance_id: String,
    pub throttle_id: String,
    pub object_type: ObjectType,
    /// The app id (APP) or the IAM caller's project/account id (USER).
    pub object_id: String,
    pub call_limits: i64,
    pub create_time: i64,
}

/// `SECOND` | `MINUTE` | `HOUR` | `DAY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
}

/// `APP` | `USER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    App,
    User,
}

macro_rules! names {
    ($t:ident { $($v:ident = $s:literal),+ }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }
        }
        impl std::str::FromStr for $t {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($s => Ok($t::$v),)+ _ => Err(()) }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
names!(TimeUnit { Second = "SECOND", Minute = "MINUTE", Hour = "HOUR", Day = "DAY" });
names!(ObjectType { App = "APP", User = "USER" });

impl TimeUnit {
    /// The unit in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            TimeUnit::Second => 1_000,
            TimeUnit::Minute => 60_000,
            TimeUnit::Hour => 3_600_000,
            TimeUnit::Day => 86_400_000,
        }
    }
}

/// The largest limit or interval APIG takes.
pub const MAX_LIMIT: i64 = 2_147_483_647;

impl Throttle {
    /// The period in milliseconds (saturating: a huge interval of days is "forever").
    pub fn window_millis(&self) -> i64 {
        self.time_interval.saturating_mul(self.time_unit.millis())
    }

    /// Checks the limits, interval, type, adaptive flag and remark (the name is checked by
    /// [`check_name`]), each error naming its field; then the nesting: app ≤ user ≤ API,
    /// IP ≤ API.
    pub fn check(&self, errs: &mut Errors) {
        errs.range(self.api_call_limits, 1, MAX_LIMIT, "api_call_limits");
        for (v, field) in [
            (self.user_call_limits, "user_call_limits"),
            (self.app_call_limits, "app_call_limits"),
            (self.ip_call_limits, "ip_call_limits"),
        ] {
            if let Some(v) = v {
                errs.range(v, 1, MAX_LIMIT, field);
            }
        }
        errs.range(self.time_interval, 1, MAX_LIMIT, "time_interval");
        errs.check(
            self.kind == 1 || self.kind == 2,
            "type",
            "must be 1 (per API) or 2 (shared)",
        );
        errs.check(
            self.enable_adaptive_control == "TRUE" || self.enable_adaptive_control == "FALSE",
            "enable_adaptive_control",
            "must be TRUE or FALSE",
        );
        errs.len(&self.remark, 0, 255, "remark");
        if let Some(user) = self.user_call_limits {
            errs.check(
                user <= self.api_call_limits,
                "user_call_limits",
                "cannot exceed api_call_limits",
            );
        }
        if let Some(app) = self.app_call_limits {
            let (over, name) = match self.user_call_limits {
                Some(user) => (user, "user_call_limits"),
                None => (self.api_call_limits, "api_call_limits"),
            };
            errs.check(
                app <= over,
                "app_call_limits",
                format!("cannot exceed {name}"),
            );
        }
        if let Some(ip) = self.ip_call_limits {
            errs.check(
                ip <= self.api_call_limits,
                "ip_call_limits",
                "cannot exceed api_call_limits",
            );
        }
    }
}

/// Checks a policy's name.
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    crate::acl::check_name(errs, name, field);
}

/// Checks an excluded configuration's limit.
pub fn check_call_limits(errs: &mut Errors, call_limits: i64) {
    errs.range(call_limits, 1, MAX_LIMIT, "call_limits");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Throttle {
        Throttle {
            id: "t".into(),
            instance_id: "i".into(),
            name: "throttle_demo".into(),
            api_call_limits: 800,
            user_call_limits: Some(500),
            app_call_limits: Some(300),
            ip_call_limits: Some(600),
            time_interval: 1,
            time_unit: TimeUnit::Second,
            kind: 1,
            enable_adaptive_control: "FALSE".into(),
            remark: String::new(),
            create_time: 0,
        }
    }

    fn fields(t: &Throttle) -> Vec<String> {
        let mut errs = Errors::default();
        t.check(&mut errs);
        errs.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_page_example_is_valid() {
        assert!(fields(&policy()).is_empty());
    }

    #[test]
    fn limits_nest_app_under_user_under_api_and_ip_under_api() {
        let t = Throttle {
            user_call_limits: Some(900),
            ..policy()
        };
        assert_eq!(fields(&t), ["user_call_limits"]);
        let t = Throttle {
            app_call_limits: Some(501),
            ..policy()
        };
        assert_eq!(fields(&t), ["app_call_limits"]);
        let t = Throttle {
            user_call_limits: None,
            app_call_limits: Some(801),
            ..policy()
        };
        assert_eq!(fields(&t), ["app_call_limits"]);
        let t = Throttle {
            ip_call_limits: Some(801),
            ..policy()
        };
        assert_eq!(fields(&t), ["ip_call_limits"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let t = Throttle {
            api_call_limits: 0,
            user_call_limits: Some(0),
            app_call_limits: Some(-1),
            ip_call_limits: Some(MAX_LIMIT + 1),
            time_interval: 0,
            kind: 3,
            enable_adaptive_control: "yes".into(),
            remark: "x".repeat(256),
            ..policy()
        };
        let f = fields(&t);
        for name in [
            "api_call_limits",
            "user_call_limits",
            "app_call_limits",
            "ip_call_limits",
            "time_interval",
            "type",
            "enable_adaptive_control",
            "remark",
        ] {
            assert!(f.iter().any(|x| x == name), "{name} in {f:?}");
        }
    }

    #[test]
    fn the_window_is_interval_times_unit() {
        let t = Throttle {
            time_interval: 3,
            time_unit: TimeUnit::Minute,
            ..policy()
        };
        assert_eq!(t.window_millis(), 180_000);
    }
}
