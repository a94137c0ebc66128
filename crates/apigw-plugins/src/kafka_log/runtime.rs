//! The running plug-in: which calls are logged, their messages queued without waiting, and
//! the delivery counters of every instance.

use super::config::{CallData, Config, SYSTEM_FIELDS};
use super::message::BODY_LIMIT;
use super::message::{encoded_key, CallRecord, Field};
use super::outbox::Outbox;
use super::producer::{produce, Producers};
use crate::chain::{BuildCtx, RequestCtx};
use crate::engine::{BackendResult, Call, Done, Flow, Io, Plugin, Step};
use crate::headers::{Headers, Touched};
use bytes::BytesMut;
use http::HeaderValue;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Compared as a name, not as text: a lookup costs a comparison per header, not a
/// case-insensitive one.
const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// While the brokers are down, one call in this many milliseconds still sends its message.
pub const PROBE_INTERVAL_MS: i64 = 100;

/// Delivery counters of one plug-in.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub dropped: AtomicU64,
    pub(super) failed_once: AtomicBool,
    /// The last delivery failed after its retries: calls drop their message without building it
    /// until a delivery succeeds again (one call per [`PROBE_INTERVAL_MS`] still sends its own).
    pub(super) down: AtomicBool,
    /// While down, when the next call may queue its message as a probe (ms since the epoch).
    next_probe_ms: AtomicI64,
}

/// Renders the delivery counters of the running kafka_log plug-ins in Prometheus' text format.
fn render_metrics(instances: &[(&str, &KafkaLog)], out: &mut String) {
    use std::fmt::Write;
    for (name, help) in [
        ("sent", "delivered"),
        ("retried", "retried"),
        ("dropped", "dropped"),
    ] {
        let _ = writeln!(out, "# HELP apigw_kafka_log_{name}_total Messages {help}.\n# TYPE apigw_kafka_log_{name}_total counter");
        for (id, k) in instances {
            let s = &k.outbox.stats;
            let v = match name {
                "sent" => &s.sent,
                "retried" => &s.retried,
                _ => &s.dropped,
            };
            let _ = writeln!(
                out,
                "apigw_kafka_log_{name}_total{{plugin_id=\"{id}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
    out.push_str("# TYPE apigw_kafka_log_queue_depth gauge\n");
    for (id, k) in instances {
        let _ = writeln!(
            out,
            "apigw_kafka_log_queue_depth{{plugin_id=\"{id}\"}} {}",
            k.outbox.queued()
        );
    }
}

/// A running kafka_log plug-in.
pub struct KafkaLog {
    /// The switched-on system fields, in APIG's order, each with what it writes.
    pub(super) system: Vec<(Box<[u8]>, Field)>,
    /// Whether `upstream_uri` is among them (the proxy keeps the backend path only then).
    upstream_uri: bool,
    /// Whether the message waits for the response to be sent (`response_size` is switched on,
    /// or the response body is logged); otherwise it is written once the response head is
    /// known, and the call is not kept until its response is sent.
    completes: bool,
    pub(super) call_data: CallData,
    outbox: Arc<Outbox>,
}

thread_local! {
    /// Where this thread writes a call's message before it is copied into the outbox: its
    /// capacity is reused, so a message is written without allocating.
    static MESSAGE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("system", &self.system.len())
            .finish_non_exhaustive()
    }
}

impl Drop for KafkaLog {
    /// The producer sends what is left and ends.
    fn drop(&mut self) {
        self.outbox.close();
    }
}

impl KafkaLog {
    /// Builds the plug-in and starts its producer (which connects lazily and reconnects), one
    /// of the node's `producers`.
    pub fn new(c: &Config, producers: Arc<Producers>) -> Self {
        let system = SYSTEM_FIELDS
            .iter()
            .filter(|(n, _)| {
                c.meta_config
                    .system
                    .get(*n)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            })
            .map(|(n, _)| (encoded_key(n), Field::of(n)))
            .collect::<Vec<_>>();
        let upstream_uri = system.iter().any(|(_, f)| matches!(f, Field::UpstreamUri));
        let completes = c.meta_config.call_data.log_response_body
            || system.iter().any(|(_, f)| matches!(f, Field::ResponseSize));
        let key = (!c.key.is_empty()).then_some(c.key.as_bytes());
        let outbox = Arc::new(Outbox::new(&c.topic, key));
        producers.add(&outbox);
        tokio::spawn(produce(c.clone(), outbox.clone(), producers));
        Self {
            system,
            upstream_uri,
            completes,
            call_data: c.meta_config.call_data.clone(),
            outbox,
        }
    }

    /// Whether the message logs the response headers, and the response body.
    pub fn wants_response(&self) -> (bool, bool) {
        (
            self.call_data.log_response_header,
            self.call_data.log_response_body,
        )
    }

    /// Whether all request headers are needed (header logging): the proxy keeps them only then
    /// (`User-Agent` and `X-Forwarded-For` are kept on their own).
    pub fn wants_request_headers(&self) -> bool {
        self.call_data.log_request_header
    }

    /// Whether `upstream_uri` is switched on (the proxy keeps the backend path only then).
    pub fn wants_upstream_uri(&self) -> bool {
        self.upstream_uri
    }

    /// Whether a call's message is to be built: always while the brokers are up; while they
    /// are known to be down, one call every [`PROBE_INTERVAL_MS`] (its message finds out when
    /// they are back), and the others count as dropped and keep nothing for the log.
    pub fn admit(&self, now_ms: i64) -> bool {
        let stats = &self.outbox.stats;
        if !stats.down.load(Ordering::Relaxed) {
            return true;
        }
        let next = stats.next_probe_ms.load(Ordering::Relaxed);
        let probe = now_ms >= next
            && stats
                .next_probe_ms
                .compare_exchange(
                    next,
                    now_ms + PROBE_INTERVAL_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if !probe {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        probe
    }

    /// Queues the message of an admitted call ([`KafkaLog::admit`]); never waits. A full queue
    /// drops it (counted).
    pub fn log(&self, ctx: &RequestCtx, r: &CallRecord<'_>) {
        let message = self.message(ctx, r, MESSAGE.take());
        self.outbox.push(&message);
        MESSAGE.set(message);
    }

    /// Queues the message of a call from what it kept and its `response_headers` (when
    /// logged); `sent` is the response body's size, once the response is sent.
    fn log_kept(
        &self,
        k: &Kept,
        response_headers: Option<&Headers>,
        ctx: &RequestCtx,
        sent: Option<u64>,
    ) {
        let upstream = k.upstream_addr.as_ref().map(|a| a.as_str());
        let record = CallRecord {
            request_headers: k.headers.as_ref(),
            user_agent: k.user_agent.as_ref(),
            forwarded_for: k.forwarded_for.as_ref(),
            query: k.uri.as_ref().and_then(|u| u.query()),
            request_body: ctx.body.as_deref(),
            response_headers,
            response_body: k.body.as_deref(),
            host: k.host.as_ref().and_then(|h| h.to_str().ok()),
            request_size: ctx.body.as_ref().map(|b| b.len() as u64),
            response_size: sent,
            upstream_addr: upstream,
            upstream_uri: k.upstream_uri.as_ref().map(|p| p.as_str()),
            error_type: (ctx.status >= 400).then(|| {
                if upstream.is_some() {
                    "backend"
                } else {
                    "gateway"
                }
            }),
            response_source: if upstream.is_some() {
                "backend"
            } else {
                "apig"
            },
            answered_after: k.answered_after,
        };
        self.log(ctx, &record);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A running plug-in built from `content` in its canonical form, as the registry builds it.
    pub(in crate::kafka_log) fn plugin(content: Value) -> KafkaLog {
        let c: Config = serde_json::from_value(content).unwrap();
        let mut c = c;
        crate::registry::ContentModel::canonicalize(&mut c);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        KafkaLog::new(&c, Default::default())
    }

    /// Messages handed to the queue (this test runtime is gone: its producer is not running,
    /// so they count as dropped).
    fn handed(k: &KafkaLog) -> u64 {
        k.outbox.queued() + k.outbox.stats.dropped.load(Ordering::Relaxed)
    }

    #[test]
    fn a_message_that_needs_nothing_of_the_body_is_written_at_the_response_head() {
        let ctx = RequestCtx::new(
            "rid-1".into(),
            http::Method::GET,
            "/a".into(),
            std::net::Ipv4Addr::LOCALHOST.into(),
        );
        let mut headers = Headers::new();
        let k = plugin(serde_json::json!({"broker_list": ["127.0.0.1:9"], "topic": "t"}));
        let mut kept = Some(Box::<Kept>::default());
        k.response_head(&mut kept, &mut headers, &ctx);
        assert!(
            kept.is_none(),
            "the call is not kept until its response is sent"
        );
        assert!(!KafkaLog::awaits_completion(&kept));
        assert_eq!(handed(&k), 1, "written at the response head");

        for waits in [
            serde_json::json!({"system": {"response_size": true}}),
            serde_json::json!({"call_data": {"log_response_body": true}}),
        ] {
            let k = plugin(
                serde_json::json!({"broker_list": ["127.0.0.1:9"], "topic": "t",
                "meta_config": waits}),
            );
            let mut kept = Some(Box::<Kept>::default());
            k.response_head(&mut kept, &mut headers, &ctx);
            assert!(
                KafkaLog::awaits_completion(&kept),
                "{waits}: waits for the body"
            );
            assert_eq!(handed(&k), 0);
            k.complete(
                &mut kept,
                &ctx,
                &Done {
                    sent: 7,
                    whole: true,
                },
            );
            assert_eq!(handed(&k), 1, "{waits}: written once the response is sent");
        }
    }

    #[test]
    fn while_the_brokers_are_down_one_call_per_probe_interval_is_logged() {
        let k = plugin(serde_json::json!({"broker_list": ["127.0.0.1:9"], "topic": "t"}));
        let dropped = |k: &KafkaLog| k.outbox.stats.dropped.load(Ordering::Relaxed);
        assert!(k.admit(1_000), "up: every call is logged");
        assert!(k.admit(1_000));
        k.outbox.stats.down.store(true, Ordering::Relaxed);
        assert!(k.admit(1_000), "the first call of an outage probes");
        for ms in [1_000, 1_050, 1_099] {
            assert!(!k.admit(ms), "within the interval: not logged");
        }
        assert_eq!(dropped(&k), 3, "calls not logged count as dropped");
        assert!(
            k.admit(1_000 + PROBE_INTERVAL_MS),
            "the next interval probes again"
        );
        assert!(!k.admit(1_000 + PROBE_INTERVAL_MS));
        k.outbox.stats.down.store(false, Ordering::Relaxed);
        assert!(
            k.admit(1_001 + PROBE_INTERVAL_MS),
            "back up: every call is logged"
        );
        assert_eq!(dropped(&k), 4);
    }
}

/// What a logged call keeps for its message (cheap clones: header values and the URI share
/// their bytes with the request).
#[derive(Debug, Default)]
pub struct Kept {
    /// All request headers, only when header logging is on.
    headers: Option<Headers>,
    user_agent: Option<HeaderValue>,
    forwarded_for: Option<HeaderValue>,
    host: Option<HeaderValue>,
    /// The request's query, only when it is logged.
    uri: Option<http::Uri>,
    upstream_addr: Option<http::uri::Authority>,
    upstream_uri: Option<http::uri::PathAndQuery>,
    /// The response headers, when logged.
    response_headers: Option<Headers>,
    /// The start of the response body, when logged.
    body: Option<BytesMut>,
    /// From the call's arrival to its response head.
    answered_after: Option<std::time::Duration>,
}

impl Plugin for KafkaLog {
    const TYPE: apigw_model::PluginType = apigw_model::PluginType::KafkaLog;
    type Config = Config;
    /// What an admitted call keeps for its message; `None` for a call whose message would be
    /// dropped.
    type State = Option<Box<Kept>>;
    const STEP: Option<Step> = Some(Step::Routed);
    const COMPLETES: bool = true;
    const MAX_PER_INSTANCE: Option<u64> = Some(5);

    fn build(c: &Config, _: &str, _: &str, ctx: &BuildCtx) -> Result<Self, String> {
        Ok(Self::new(c, ctx.shared.get::<Producers>()))
    }

    fn render_metrics(instances: &[(&str, &Self)], out: &mut String) {
        render_metrics(instances, out)
    }

    /// Only a message that logs them reads the response headers.
    fn touches_response_headers(&self) -> Touched {
        if self.wants_response().0 {
            Touched::All
        } else {
            Touched::none()
        }
    }

    async fn request<I: Io>(&self, kept: &mut Self::State, call: &mut Call<'_, I>) -> Flow {
        if !self.admit(call.ctx.request_time_ms()) {
            return Flow::Continue;
        }
        let h = &call.head.headers;
        // On an IAM route `X-Auth-Token` is the gateway's own admin credential (right or
        // wrong): it is never logged.
        let headers = self.wants_request_headers().then(|| {
            let mut all = h.clone();
            if call.ctx.iam {
                all.remove("x-auth-token");
            }
            all
        });
        *kept = Some(Box::new(Kept {
            headers,
            user_agent: h.get(http::header::USER_AGENT).cloned(),
            forwarded_for: h.get(&X_FORWARDED_FOR).cloned(),
            host: h.get(http::header::HOST).cloned(),
            uri: self
                .call_data
                .log_request_query_string
                .then(|| call.head.uri.clone()),
            ..Default::default()
        }));
        Flow::Continue
    }

    fn backend_result(&self, kept: &mut Self::State, r: &BackendResult<'_>) {
        if let Some(k) = kept {
            k.upstream_addr = Some(r.authority.clone());
            if self.upstream_uri {
                k.upstream_uri = http::uri::PathAndQuery::try_from(r.target).ok();
            }
        }
    }

    fn response_head(&self, kept: &mut Self::State, headers: &mut Headers, ctx: &RequestCtx) {
        let Some(k) = kept else { return };
        k.answered_after = Some(ctx.start.elapsed());
        let (log_headers, log_body) = self.wants_response();
        if !self.completes {
            // Nothing of the message waits for the body: it is written now, from the head as
            // it is, and the call is not kept.
            self.log_kept(k, log_headers.then_some(&*headers), ctx, None);
            *kept = None;
            return;
        }
        if log_headers {
            k.response_headers = Some(headers.clone());
        }
        if log_body {
            k.body = Some(BytesMut::new());
        }
    }

    fn response_body(&self, kept: &mut Self::State, data: &[u8]) {
        if let Some(b) = kept.as_mut().and_then(|k| k.body.as_mut()) {
            let room = (BODY_LIMIT + 1).saturating_sub(b.len());
            b.extend_from_slice(&data[..data.len().min(room)]);
        }
    }

    /// Only a call whose message is being kept.
    fn awaits_completion(kept: &Self::State) -> bool {
        kept.is_some()
    }

    fn complete(&self, kept: &mut Self::State, ctx: &RequestCtx, done: &Done) {
        if let Some(k) = kept.take() {
            self.log_kept(&k, k.response_headers.as_ref(), ctx, Some(done.sent));
        }
    }
}
