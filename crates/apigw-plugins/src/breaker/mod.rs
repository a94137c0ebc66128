//! breaker: the circuit breaker with downgrade backends (`guide-policy_circuit_breaker.rst`,
//! SPEC §2).
//!
//! ```json
//! {"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter",
//!   "unhealthy_condition": "", "unhealthy_threshold": 30, "min_call_threshold": 20,
//!   "unhealthy_percentage": 51, "time_window": 15, "open_breaker_time": 15},
//!  "downgrade_default": null, "downgrade_parameters": null, "downgrade_rules": null,
//!  "scope": "basic"}
//! ```
//!
//! # Layout
//! - `config`: the content model ([`Config`]: the breaker condition, the downgrade backends and
//!   the downgrade rules) and its validation.
//! - `runtime`: the running plug-in ([`Breaker`], docs/breaker.md): conditions and downgrades
//!   compiled at build time, one closed/open/half-open state per scope key and rule, the
//!   [`Ticket`] of each admitted call and the [`Action`] that serves it while open.
//! - `metrics`: state changes, logged and counted for `/metrics`.

mod config;
mod metrics;
mod runtime;

pub use config::{
    BreakerMode, BreakerType, Condition, Config, Downgrade, DowngradeRule, DowngradeType,
    HeaderPair, HttpInfo, MockInfo, CONDITION_VARS, MAX_RULES,
};
pub use runtime::{Action, Breaker, Ticket, HALF_OPEN_PROBES};
