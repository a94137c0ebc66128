//! Breaker state changes: each is logged, and counted per API and rule with the state it led
//! to, in the instance, which `/metrics` renders.

use super::runtime::Breaker;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// (API, rule) → (transitions, current state).
type StateTable = BTreeMap<(String, String), (u64, &'static str)>;

/// Transitions and current states of one plug-in's breakers.
#[derive(Debug, Default)]
pub(super) struct Transitions(Mutex<StateTable>);

impl Transitions {
    pub(super) fn note(
        &self,
        api: &str,
        rule: &str,
        plugin: &str,
        from: &'static str,
        to: &'static str,
    ) {
        tracing::warn!(api_id = %api, rule = %rule, plugin_id = %plugin, from, to, "circuit breaker state change");
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let e = m
            .entry((api.to_string(), rule.to_string()))
            .or_insert((0, "closed"));
        e.0 += 1;
        e.1 = to;
    }
}

/// Renders the running breakers' metrics in Prometheus' text format.
pub(super) fn render_metrics(instances: &[(&str, &Breaker)], out: &mut String) {
    use std::fmt::Write;
    let tables: Vec<_> = instances
        .iter()
        .map(|(plugin, b)| {
            (
                plugin,
                b.transitions().0.lock().unwrap_or_else(|e| e.into_inner()),
            )
        })
        .collect();
    out.push_str("# TYPE apigw_breaker_transitions_total counter\n");
    for (plugin, m) in &tables {
        for ((api, rule), (n, _)) in m.iter() {
            let _ = writeln!(out, "apigw_breaker_transitions_total{{api_id=\"{api}\",rule=\"{rule}\",plugin_id=\"{plugin}\"}} {n}");
        }
    }
    out.push_str("# TYPE apigw_breaker_open gauge\n");
    for (plugin, m) in &tables {
        for ((api, rule), (_, state)) in m.iter() {
            let open = u8::from(*state != "closed");
            let _ = writeln!(out, "apigw_breaker_open{{api_id=\"{api}\",rule=\"{rule}\",plugin_id=\"{plugin}\",state=\"{state}\"}} {open}");
        }
    }
}
