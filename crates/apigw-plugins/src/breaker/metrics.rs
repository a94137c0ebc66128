//! Breaker state changes: each is logged, and counted per API, rule and plug-in with the state
//! it led to, which `/metrics` renders.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Transitions and current states of every breaker, for `/metrics`.
/// (API, rule, plug-in) → (transitions, current state).
type StateTable = BTreeMap<(String, String, String), (u64, &'static str)>;

static METRICS: Mutex<StateTable> = Mutex::new(BTreeMap::new());

pub(super) fn note(api: &str, rule: &str, plugin: &str, from: &'static str, to: &'static str) {
    tracing::warn!(api_id = %api, rule = %rule, plugin_id = %plugin, from, to, "circuit breaker state change");
    let mut m = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    let e = m
        .entry((api.to_string(), rule.to_string(), plugin.to_string()))
        .or_insert((0, "closed"));
    e.0 += 1;
    e.1 = to;
}

/// Renders breaker metrics in Prometheus' text format.
pub fn render_metrics(out: &mut String) {
    use std::fmt::Write;
    let m = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    out.push_str("# TYPE apigw_breaker_transitions_total counter\n");
    for ((api, rule, plugin), (n, _)) in m.iter() {
        let _ = writeln!(out, "apigw_breaker_transitions_total{{api_id=\"{api}\",rule=\"{rule}\",plugin_id=\"{plugin}\"}} {n}");
    }
    out.push_str("# TYPE apigw_breaker_open gauge\n");
    for ((api, rule, plugin), (_, state)) in m.iter() {
        let open = u8::from(*state != "closed");
        let _ = writeln!(out, "apigw_breaker_open{{api_id=\"{api}\",rule=\"{rule}\",plugin_id=\"{plugin}\",state=\"{state}\"}} {open}");
    }
}
