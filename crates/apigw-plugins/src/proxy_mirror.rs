//! proxy_mirror: traffic mirroring (SPEC §7, `docs/proxy_mirror.md`). A sampled share of the
//! calls that reach the backend is copied to a mirror — method, query, headers and (unless
//! turned off) body — whose answer is discarded: a dead, slow or failing mirror never delays,
//! fails or changes the real call.
//!
//! ```json
//! {"protocol": "HTTP", "host": "shadow.example:8080", "path": "/v2", "path_concat_mode": "prefix",
//!  "sample_ratio": 0.1, "timeout": 3000, "mirror_request_body_enabled": true}
//! ```

use crate::chain::BuildCtx;
use crate::engine::{Call, Flow, Io, Plugin, ServiceCall, Step};
use crate::headers::Touched;
use crate::registry::ContentModel;
use apigw_model::field::Errors;
use apigw_model::{FieldError, PluginType};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Longest `host` (`host[:port]`).
pub const MAX_HOST_CHARS: usize = 255;
/// Longest `path`.
pub const MAX_PATH_CHARS: usize = 512;
/// Smallest `sample_ratio` (ours).
pub const MIN_SAMPLE_RATIO: f64 = 0.00001;
/// Longest `timeout`, ms (ours).
pub const MAX_TIMEOUT_MS: u64 = 60_000;

fn default_ratio() -> f64 {
    1.0
}

fn default_timeout() -> u64 {
    5000
}

fn default_true() -> bool {
    true
}

/// `ProxyMirrorContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `HTTP` or `HTTPS` (case-insensitive; stored upper case). Required: missing, it is
    /// refused by name like a wrong value.
    #[serde(default)]
    pub protocol: String,
    /// The mirror's `host[:port]`, ≤ 255 characters; the port defaults to 80 / 443. Required.
    #[serde(default)]
    pub host: String,
    /// The path the copy goes to (see `path_concat_mode`); the request's path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `replace` (default: `path` instead of the request's path) or `prefix` (`path` followed
    /// by the request's path).
    #[serde(default = "default_mode")]
    pub path_concat_mode: String,
    /// The share of calls copied, 0.00001–1 (default 1).
    #[serde(default = "default_ratio")]
    pub sample_ratio: f64,
    /// How long a copy may take, 1–60000 ms (default 5000).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Whether the copy carries the request body (default true).
    #[serde(default = "default_true")]
    pub mirror_request_body_enabled: bool,
}

fn default_mode() -> String {
    "replace".into()
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        errs.check(
            ["http", "https"].contains(&self.protocol.to_ascii_lowercase().as_str()),
            "protocol",
            "must be HTTP or HTTPS",
        );
        errs.len(&self.host, 1, MAX_HOST_CHARS, "host");
        errs.check(
            self.host.is_empty() || valid_host(&self.host),
            "host",
            "must be host[:port] (a name or an IP address, a port 1-65535)",
        );
        if let Some(p) = &self.path {
            errs.len(p, 1, MAX_PATH_CHARS, "path");
            errs.check(
                p.starts_with('/')
                    && !p.contains(['?', '#'])
                    && http::uri::PathAndQuery::try_from(p.as_str()).is_ok(),
                "path",
                "must be a URI path starting with '/' (no query or fragment)",
            );
        }
        errs.check(
            ["replace", "prefix"].contains(&self.path_concat_mode.to_ascii_lowercase().as_str()),
            "path_concat_mode",
            "must be replace or prefix",
        );
        errs.check(
            self.sample_ratio.is_finite() && (MIN_SAMPLE_RATIO..=1.0).contains(&self.sample_ratio),
            "sample_ratio",
            format!("must be from {MIN_SAMPLE_RATIO} to 1"),
        );
        errs.range(self.timeout, 1, MAX_TIMEOUT_MS, "timeout");
        errs.0
    }

    fn canonicalize(&mut self) {
        self.protocol = self.protocol.to_ascii_uppercase();
        self.path_concat_mode = self.path_concat_mode.to_ascii_lowercase();
    }
}

/// `host[:port]`: an authority without user info, with a host and a port 1–65535 if any.
fn valid_host(host: &str) -> bool {
    let Ok(a) = host.parse::<http::uri::Authority>() else {
        return false;
    };
    let port_ok = match a.port() {
        None => true,
        Some(p) => p.as_str().parse::<u16>().is_ok_and(|n| n > 0),
    };
    !host.contains('@') && !a.host().is_empty() && port_ok
}

/// A running proxy_mirror plug-in.
#[derive(Debug)]
pub struct ProxyMirror {
    https: bool,
    host: String,
    path: Option<String>,
    prefix: bool,
    ratio: f64,
    timeout: Duration,
    body: bool,
    /// Calls seen, for sampling.
    seen: AtomicU64,
    /// Copies dropped because too many were in flight.
    dropped: AtomicU64,
}

impl ProxyMirror {
    /// Builds the plug-in from validated, canonical content.
    pub fn new(c: &Config) -> Self {
        Self {
            https: c.protocol == "HTTPS",
            host: c.host.clone(),
            path: c.path.clone(),
            prefix: c.path_concat_mode == "prefix",
            ratio: c.sample_ratio,
            timeout: Duration::from_millis(c.timeout),
            body: c.mirror_request_body_enabled,
            seen: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether this call is copied: of every `1 / ratio` calls one is, spread evenly (the
    /// n-th call is copied when `⌊n·ratio⌋` grows), so the share holds exactly over any run
    /// of calls without a random number per call.
    fn sampled(&self) -> bool {
        if self.ratio >= 1.0 {
            return true;
        }
        let n = self.seen.fetch_add(1, Relaxed);
        ((n + 1) as f64 * self.ratio).floor() > (n as f64 * self.ratio).floor()
    }

    /// The copy's path and query: `path` instead of the request's path (`replace`) or before
    /// it (`prefix`), then the request's query.
    fn target(&self, uri: &http::Uri) -> String {
        let mut t = String::with_capacity(64);
        match &self.path {
            None => t.push_str(uri.path()),
            Some(p) if self.prefix => {
                t.push_str(p.trim_end_matches('/'));
                t.push_str(uri.path());
            }
            Some(p) => t.push_str(p),
        }
        if let Some(q) = uri.query() {
            t.push('?');
            t.push_str(q);
        }
        t
    }

    /// Copies dropped because too many were in flight.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

impl Plugin for ProxyMirror {
    const TYPE: PluginType = PluginType::ProxyMirror;
    type Config = Config;
    type State = ();
    /// Only calls that go to the backend are copied: after authentication, throttling and the
    /// breaker.
    const STEP: Option<Step> = Some(Step::Admitted);
    const BINDS_TO_MOCK: bool = false;

    fn build(c: &Config, _: &str, _: &str, _: &BuildCtx) -> Result<Self, String> {
        Ok(Self::new(c))
    }

    /// The mirror's answers are dropped; the backend's are not looked at.
    fn touches_response_headers(&self) -> Touched {
        Touched::none()
    }

    async fn request<I: Io>(&self, _: &mut (), call: &mut Call<'_, I>) -> Flow {
        if !self.sampled() {
            return Flow::Continue;
        }
        // The body is read once and goes to the backend as read; a body the gateway would
        // refuse (too large, too slow) is refused as it would be without the mirror.
        let body = if self.body {
            match call.io.body().await {
                Ok(b) => b,
                Err(r) => return Flow::Refuse(r),
            }
        } else {
            bytes::Bytes::new()
        };
        let copy = ServiceCall {
            method: call.head.method.clone(),
            https: self.https,
            url_domain: self.host.clone(),
            path_and_query: self.target(&call.head.uri),
            headers: call.head.headers.clone(),
            timeout: self.timeout,
        };
        if !call.io.detach(copy, body) {
            self.dropped.fetch_add(1, Relaxed);
        }
        Flow::Continue
    }

    fn render_metrics(instances: &[(&str, &Self)], out: &mut String) {
        use std::fmt::Write;
        out.push_str(
            "# HELP apigw_mirror_dropped_total Mirror copies dropped: too many in flight.\n\
             # TYPE apigw_mirror_dropped_total counter\n",
        );
        for (id, m) in instances {
            let _ = writeln!(
                out,
                "apigw_mirror_dropped_total{{plugin_id=\"{id}\"}} {}",
                m.dropped()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::validate;
    use serde_json::json;

    fn errors(content: serde_json::Value) -> Vec<String> {
        match validate(PluginType::ProxyMirror, content) {
            Ok(_) => vec![],
            Err(e) => e.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn content_defaults_and_canonical_form() {
        let c = validate(
            PluginType::ProxyMirror,
            json!({"protocol": "http", "host": "mirror.example:8080"}),
        )
        .unwrap();
        assert_eq!(
            c,
            json!({"protocol": "HTTP", "host": "mirror.example:8080", "path_concat_mode": "replace",
                   "sample_ratio": 1.0, "timeout": 5000, "mirror_request_body_enabled": true})
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = json!({"protocol": "GRPC", "host": "a b", "path": "x?y", "path_concat_mode": "append",
                         "sample_ratio": 0.0, "timeout": 60001});
        let mut got = errors(bad);
        got.sort();
        assert_eq!(
            got,
            [
                "plugin_content.host",
                "plugin_content.path",
                "plugin_content.path_concat_mode",
                "plugin_content.protocol",
                "plugin_content.sample_ratio",
                "plugin_content.timeout"
            ]
        );
        assert_eq!(errors(json!({"host": "m"})), ["plugin_content.protocol"]);
        assert_eq!(errors(json!({"protocol": "HTTP"})), ["plugin_content.host"]);
        assert_eq!(
            errors(json!({"protocol": "HTTP", "host": "m", "timeout": "5"})),
            ["plugin_content.timeout"]
        );
        assert_eq!(
            errors(json!({"protocol": "HTTP", "host": "u@m"})),
            ["plugin_content.host"]
        );
        assert_eq!(
            errors(json!({"protocol": "HTTP", "host": "m:0"})),
            ["plugin_content.host"]
        );
        assert_eq!(
            errors(json!({"protocol": "HTTP", "host": "m", "extra": 1})),
            ["plugin_content.extra"]
        );
        assert!(errors(
            json!({"protocol": "HTTPS", "host": "[::1]:8443", "path": "/a/b",
                              "sample_ratio": 0.00001, "timeout": 60000})
        )
        .is_empty());
    }

    fn mirror(content: serde_json::Value) -> ProxyMirror {
        let c = validate(PluginType::ProxyMirror, content).unwrap();
        ProxyMirror::new(&serde_json::from_value(c).unwrap())
    }

    #[test]
    fn the_path_is_replaced_or_prefixed_and_the_query_kept() {
        let uri: http::Uri = "/orders/7?x=1&y=2".parse().unwrap();
        let keep = mirror(json!({"protocol": "HTTP", "host": "m"}));
        assert_eq!(keep.target(&uri), "/orders/7?x=1&y=2");
        let replace = mirror(json!({"protocol": "HTTP", "host": "m", "path": "/shadow"}));
        assert_eq!(replace.target(&uri), "/shadow?x=1&y=2");
        let prefix = mirror(
            json!({"protocol": "HTTP", "host": "m", "path": "/shadow/", "path_concat_mode": "PREFIX"}),
        );
        assert_eq!(prefix.target(&uri), "/shadow/orders/7?x=1&y=2");
    }

    #[test]
    fn sampling_copies_exactly_the_ratio_spread_evenly() {
        let m = mirror(json!({"protocol": "HTTP", "host": "m", "sample_ratio": 0.25}));
        let picks: Vec<bool> = (0..8).map(|_| m.sampled()).collect();
        assert_eq!(
            picks,
            [false, false, false, true, false, false, false, true]
        );
        let m = mirror(json!({"protocol": "HTTP", "host": "m", "sample_ratio": 0.3}));
        assert_eq!((0..1000).filter(|_| m.sampled()).count(), 300);
        let all = mirror(json!({"protocol": "HTTP", "host": "m"}));
        assert!((0..10).all(|_| all.sampled()));
    }
}
