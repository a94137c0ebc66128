//! Metrics of the data plane, rendered in Prometheus' text format at `GET /metrics` on the
//! admin listener. The hot path only touches atomics held by the routes; the registry's lock
//! is taken when a snapshot is built and when metrics are rendered.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Statuses counted on their own; others count as `other`.
const STATUSES: [u16; 17] = [
    200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 413, 429, 500, 502, 503, 504,
];
/// Upper bounds of the latency buckets, in milliseconds.
const BUCKETS_MS: [u64; 13] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

pub use apigw_plugins::engine::Decision;

/// Counters of one API.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    statuses: [AtomicU64; STATUSES.len() + 1],
    decisions: [AtomicU64; Decision::ALL.len()],
    buckets: [AtomicU64; BUCKETS_MS.len() + 1],
    latency_sum_us: AtomicU64,
}

impl ApiMetrics {
    /// Records one finished call that took `took`.
    pub fn record(&self, status: u16, decision: Decision, took: Duration) {
        let i = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        self.statuses[i].fetch_add(1, Relaxed);
        self.decisions[decision as usize].fetch_add(1, Relaxed);
        let us = took.as_micros() as u64;
        let b = BUCKETS_MS
            .iter()
            .position(|ms| us <= ms * 1000)
            .unwrap_or(BUCKETS_MS.len());
        self.buckets[b].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
    }
}

/// All metrics of the process.
#[derive(Debug, Default)]
pub struct Registry {
    apis: Mutex<BTreeMap<String, (String, Arc<ApiMetrics>)>>,
    /// Calls that matched no API.
    pub unmatched: AtomicU64,
    /// Calls refused before routing: URI or headers over APIG's limits, ambiguous framing.
    pub rejected_requests: AtomicU64,
    /// Connections answered 503 because the connection cap was reached.
    pub rejected_connections: AtomicU64,
    /// TLS handshakes that failed or stalled past the client timeout.
    pub tls_handshake_failures: AtomicU64,
    /// Snapshots built or patched.
    pub reloads: AtomicU64,
    /// Of those, the ones made by applying route or app changes to the last one.
    pub patches: AtomicU64,
    /// Failed snapshot builds.
    pub reload_failures: AtomicU64,
    /// Milliseconds since the epoch of the last snapshot swap.
    pub last_reload_ms: AtomicU64,
    /// The store version of the current snapshot.
    pub version: AtomicU64,
    /// Whether the last reload failed because the store could not be read.
    pub store_down: std::sync::atomic::AtomicBool,
    /// The cluster-wide rate-limit counters, when configured.
    pub redis: Mutex<Option<apigw_plugins::counters::RedisCounters>>,
}

impl Registry {
    /// Records that the data plane now serves the snapshot of store `version`.
    pub fn snapshot_taken(&self, version: i64) {
        self.version.store(version as u64, Relaxed);
        self.last_reload_ms
            .store(apigw_model::time::now_millis() as u64, Relaxed);
    }

    /// The metrics of an API (created on first use; kept across reloads).
    pub fn api(&self, api_id: &str, api_name: &str) -> Arc<ApiMetrics> {
        let mut apis = self.apis.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((name, m)) = apis.get_mut(api_id) {
            if name != api_name {
                *name = api_name.to_string();
            }
            return m.clone();
        }
        let m = Arc::<ApiMetrics>::default();
        apis.insert(api_id.to_string(), (api_name.to_string(), m.clone()));
        m
    }

    /// The Prometheus text exposition, with the plug-in types' metrics of the running
    /// instances of `snapshot`.
    pub fn render(&self, snapshot: &crate::snapshot::Snapshot) -> String {
        let mut out = String::new();
        let apis = self.apis.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP apigw_requests_total Calls by API and status.\n# TYPE apigw_requests_total counter\n");
        for (id, (name, m)) in apis.iter() {
            for (i, c) in m.statuses.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let status = STATUSES
                        .get(i)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "other".into());
                    let _ = writeln!(out, "apigw_requests_total{{api_id=\"{id}\",api_name=\"{}\",status=\"{status}\"}} {n}", esc(name));
                }
            }
        }
        out.push_str("# HELP apigw_decisions_total Calls by API and gateway decision.\n# TYPE apigw_decisions_total counter\n");
        for (id, (_, m)) in apis.iter() {
            for (i, c) in m.decisions.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "apigw_decisions_total{{api_id=\"{id}\",decision=\"{}\"}} {n}",
                        Decision::ALL[i].name()
                    );
                }
            }
        }
        out.push_str("# HELP apigw_request_duration_seconds Time from request to response headers.\n# TYPE apigw_request_duration_seconds histogram\n");
        for (id, (_, m)) in apis.iter() {
            let mut cumulative = 0;
            for (i, c) in m.buckets.iter().enumerate() {
                cumulative += c.load(Relaxed);
                let le = BUCKETS_MS
                    .get(i)
                    .map(|ms| format!("{}", *ms as f64 / 1000.0))
                    .unwrap_or_else(|| "+Inf".into());
                let _ = writeln!(out, "apigw_request_duration_seconds_bucket{{api_id=\"{id}\",le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(
                out,
                "apigw_request_duration_seconds_sum{{api_id=\"{id}\"}} {}",
                m.latency_sum_us.load(Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "apigw_request_duration_seconds_count{{api_id=\"{id}\"}} {cumulative}"
            );
        }
        if let Some(r) = self
            .redis
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = write!(
                out,
                "# TYPE apigw_ratelimit_redis_errors_total counter\napigw_ratelimit_redis_errors_total {}\n\
                 # TYPE apigw_ratelimit_local_fallbacks_total counter\napigw_ratelimit_local_fallbacks_total {}\n\
                 # TYPE apigw_ratelimit_redis_degraded gauge\napigw_ratelimit_redis_degraded {}\n",
                r.errors.load(Relaxed),
                r.fallbacks.load(Relaxed),
                u8::from(r.degraded()),
            );
        }
        let instances: Vec<_> = snapshot
            .instances
            .iter()
            .map(|(id, (_, i))| (id.as_str(), &**i))
            .collect();
        apigw_plugins::engine::render_metrics(&instances, &mut out);
        render_channels(&snapshot.channels, &mut out);
        let now = apigw_model::time::now_millis() as u64;
        let last = self.last_reload_ms.load(Relaxed);
        let _ = write!(
            out,
            "# TYPE apigw_unmatched_requests_total counter\napigw_unmatched_requests_total {}\n\
             # TYPE apigw_rejected_requests_total counter\napigw_rejected_requests_total {}\n\
             # TYPE apigw_rejected_connections_total counter\napigw_rejected_connections_total {}\n\
             # TYPE apigw_tls_handshake_failures_total counter\napigw_tls_handshake_failures_total {}\n\
             # TYPE apigw_reloads_total counter\napigw_reloads_total {}\n\
             # TYPE apigw_snapshot_patches_total counter\napigw_snapshot_patches_total {}\n\
             # TYPE apigw_reload_failures_total counter\napigw_reload_failures_total {}\n\
             # TYPE apigw_snapshot_age_seconds gauge\napigw_snapshot_age_seconds {}\n\
             # TYPE apigw_snapshot_version gauge\napigw_snapshot_version {}\n\
             # TYPE apigw_store_up gauge\napigw_store_up {}\n",
            self.unmatched.load(Relaxed),
            self.rejected_requests.load(Relaxed),
            self.rejected_connections.load(Relaxed),
            self.tls_handshake_failures.load(Relaxed),
            self.reloads.load(Relaxed),
            self.patches.load(Relaxed),
            self.reload_failures.load(Relaxed),
            now.saturating_sub(last) as f64 / 1000.0,
            self.version.load(Relaxed),
            u8::from(!self.store_down.load(Relaxed)),
        );
        out
    }
}

/// Each member's health and each channel's members in rotation.
fn render_channels(channels: &[Arc<crate::channel::Channel>], out: &mut String) {
    if channels.is_empty() {
        return;
    }
    out.push_str("# HELP apigw_channel_member_healthy Whether a load balance channel member passes its health checks (1) or is out of rotation (0).\n# TYPE apigw_channel_member_healthy gauge\n");
    for ch in channels {
        for m in &ch.members {
            let _ = writeln!(
                out,
                "apigw_channel_member_healthy{{channel_id=\"{}\",channel_name=\"{}\",member_id=\"{}\",address=\"{}\"}} {}",
                ch.id,
                esc(&ch.name),
                m.id,
                m.authority,
                u8::from(m.state.healthy())
            );
        }
    }
    out.push_str("# HELP apigw_channel_members_in_rotation Members of a load balance channel that calls go to now.\n# TYPE apigw_channel_members_in_rotation gauge\n");
    for ch in channels {
        let _ = writeln!(
            out,
            "apigw_channel_members_in_rotation{{channel_id=\"{}\"}} {}",
            ch.id,
            ch.in_rotation()
        );
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
