//! kafka_log: push a log of every call to a Kafka broker (`guide-policy_kafka_log_push.rst`,
//! SPEC §2).
//!
//! ```json
//! {"broker_list": ["127.0.0.1:9092"], "topic": "apigw-calls", "key": "",
//!  "max_retry_count": 0, "retry_backoff": 1,
//!  "sasl_config": {"security_protocol": "PLAINTEXT", "sasl_mechanisms": "PLAIN"},
//!  "meta_config": {"system": {"start_time": true, "request_id": true}}}
//! ```
//!
//! `sasl_password` (and an `ssl_ca_content` that holds a private key) are stored but never
//! returned: responses show [`MASK`]; sending the mask back on update keeps the stored value.

use crate::common::{is_host_port, null_default};
use crate::registry::{max_items, ContentModel, MASK};
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `meta_config.system` fields, in APIG's order, with their defaults (on when the APIG
/// guide lists them as default fields).
pub const SYSTEM_FIELDS: &[(&str, bool)] = &[
    ("start_time", true),
    ("request_id", true),
    ("client_ip", true),
    ("api_id", false),
    ("user_name", false),
    ("app_id", false),
    ("access_model1", false),
    ("request_time", true),
    ("http_status", true),
    ("server_protocol", false),
    ("scheme", true),
    ("request_method", true),
    ("host", true),
    ("api_uri_mode", false),
    ("uri", true),
    ("request_size", false),
    ("response_size", false),
    ("upstream_uri", false),
    ("upstream_addr", true),
    ("upstream_status", true),
    ("upstream_connect_time", false),
    ("upstream_header_time", false),
    ("upstream_response_time", true),
    ("all_upstream_response_time", false),
    ("region_id", false),
    ("auth_type", false),
    ("http_x_forwarded_for", true),
    ("http_user_agent", true),
    ("error_type", true),
    ("access_model2", false),
    ("inner_time", false),
    ("proxy_protocol_vni", false),
    ("proxy_protocol_vpce_id", false),
    ("proxy_protocol_addr", false),
    ("body_bytes_sent", false),
    ("api_name", false),
    ("app_name", false),
    ("provider_app_id", false),
    ("provider_app_name", false),
    ("custom_data_log01", false),
    ("custom_data_log02", false),
    ("custom_data_log03", false),
    ("custom_data_log04", false),
    ("custom_data_log05", false),
    ("custom_data_log06", false),
    ("custom_data_log07", false),
    ("custom_data_log08", false),
    ("custom_data_log09", false),
    ("custom_data_log10", false),
    ("response_source", false),
];

/// `KafkaLogContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Bootstrap brokers, `host:port`, 1..32 of them.
    pub broker_list: Vec<String>,
    /// The topic, 1..249 characters of `[A-Za-z0-9._-]`.
    pub topic: String,
    /// The message key; empty = spread across partitions. ≤ 255 characters.
    #[serde(default)]
    pub key: String,
    /// Retries of a failed send, 0..5.
    #[serde(default)]
    pub max_retry_count: i64,
    /// Seconds between retries, 1..10.
    #[serde(default = "one")]
    pub retry_backoff: i64,
    /// How to connect and authenticate to the brokers.
    #[serde(default, deserialize_with = "null_default")]
    pub sasl_config: SaslConfig,
    /// What each message holds.
    #[serde(default, deserialize_with = "null_default")]
    pub meta_config: MetaConfig,
}

fn one() -> i64 {
    1
}

/// `sasl_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// `PLAINTEXT`, `SASL_PLAINTEXT` or `SASL_SSL`.
    #[serde(default = "plaintext")]
    pub security_protocol: String,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default = "plain")]
    pub sasl_mechanisms: String,
    /// SASL user; mandatory with a SASL protocol.
    #[serde(default)]
    pub sasl_username: String,
    /// SASL password (secret); mandatory with a SASL protocol.
    #[serde(default)]
    pub sasl_password: String,
    /// PEM CA certificate for `SASL_SSL`.
    #[serde(default)]
    pub ssl_ca_content: String,
}

fn plaintext() -> String {
    "PLAINTEXT".into()
}
fn plain() -> String {
    "PLAIN".into()
}

impl Default for SaslConfig {
    fn default() -> Self {
        Self {
            security_protocol: plaintext(),
            sasl_mechanisms: plain(),
            sasl_username: String::new(),
            sasl_password: String::new(),
            ssl_ca_content: String::new(),
        }
    }
}

/// `meta_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// The system fields switched on or off (names of [`SYSTEM_FIELDS`]); stored complete.
    #[serde(default, deserialize_with = "null_default")]
    pub system: Map<String, Value>,
    /// Request and response data to log.
    #[serde(default, deserialize_with = "null_default")]
    pub call_data: CallData,
}

/// `meta_config.call_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CallData {
    /// Log request headers.
    #[serde(default)]
    pub log_request_header: bool,
    /// Comma-separated request header names to log (`*` = all).
    #[serde(default)]
    pub request_header_filter: String,
    /// Log the query string.
    #[serde(default)]
    pub log_request_query_string: bool,
    /// Comma-separated query names to log (`*` = all).
    #[serde(default)]
    pub request_query_string_filter: String,
    /// Log the request body (first 1 KB).
    #[serde(default)]
    pub log_request_body: bool,
    /// Log response headers.
    #[serde(default)]
    pub log_response_header: bool,
    /// Comma-separated response header names to log (`*` = all).
    #[serde(default)]
    pub response_header_filter: String,
    /// Log the response body (first 1 KB).
    #[serde(default)]
    pub log_response_body: bool,
    /// Custom-authorizer fields to log (APIG); accepted for compatibility.
    #[serde(default, deserialize_with = "null_default")]
    pub custom_authorizer: CustomAuthorizer,
}

impl CallData {
    /// Whether anything of the call itself is logged.
    fn any(&self) -> bool {
        self.log_request_header
            || self.log_request_query_string
            || self.log_request_body
            || self.log_response_header
            || self.log_response_body
    }
}

/// `call_data.custom_authorizer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CustomAuthorizer {
    /// Frontend authorizer fields.
    #[serde(default, deserialize_with = "null_default")]
    pub frontend: Vec<String>,
    /// Backend authorizer fields.
    #[serde(default, deserialize_with = "null_default")]
    pub backend: Vec<String>,
}

fn is_topic(t: &str) -> bool {
    (1..=249).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        errs.check(
            !self.broker_list.is_empty(),
            "broker_list",
            "at least one broker",
        );
        max_items(&self.broker_list, 32, "broker_list", &mut errs);
        for (i, b) in self.broker_list.iter().enumerate() {
            errs.check(
                is_host_port(b),
                format!("broker_list[{i}]"),
                "must be host:port",
            );
        }
        errs.check(
            is_topic(&self.topic),
            "topic",
            "1..249 characters of letters, digits, '.', '_' and '-'",
        );
        errs.len(&self.key, 0, 255, "key");
        errs.range(self.max_retry_count, 0, 5, "max_retry_count");
        errs.range(self.retry_backoff, 1, 10, "retry_backoff");
        let s = &self.sasl_config;
        let proto = s.security_protocol.as_str();
        errs.check(
            matches!(proto, "PLAINTEXT" | "SASL_PLAINTEXT" | "SASL_SSL"),
            "sasl_config.security_protocol",
            "must be PLAINTEXT, SASL_PLAINTEXT or SASL_SSL",
        );
        errs.check(
            matches!(
                s.sasl_mechanisms.as_str(),
                "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
            ),
            "sasl_config.sasl_mechanisms",
            "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        );
        if proto.starts_with("SASL_") {
            errs.len(&s.sasl_username, 1, 255, "sasl_config.sasl_username");
            errs.len(&s.sasl_password, 1, 255, "sasl_config.sasl_password");
        }
        if proto == "SASL_SSL" {
            errs.check(
                s.ssl_ca_content.contains("-----BEGIN CERTIFICATE-----") && tls(s).is_ok(),
                "sasl_config.ssl_ca_content",
                "a valid PEM CA certificate is mandatory for SASL_SSL",
            );
        }
        errs.len(&s.ssl_ca_content, 0, 32768, "sasl_config.ssl_ca_content");
        for (k, v) in &self.meta_config.system {
            let f = format!("meta_config.system.{k}");
            errs.check(
                SYSTEM_FIELDS.iter().any(|(n, _)| n == k),
                &f,
                "unknown field",
            );
            errs.check(v.is_boolean(), &f, "must be a boolean");
        }
        let c = &self.meta_config.call_data;
        for (field, v) in [
            ("request_header_filter", &c.request_header_filter),
            (
                "request_query_string_filter",
                &c.request_query_string_filter,
            ),
            ("response_header_filter", &c.response_header_filter),
        ] {
            errs.len(v, 0, 1024, &format!("meta_config.call_data.{field}"));
        }
        for (field, v) in [
            ("frontend", &c.custom_authorizer.frontend),
            ("backend", &c.custom_authorizer.backend),
        ] {
            max_items(
                v,
                10,
                &format!("meta_config.call_data.custom_authorizer.{field}"),
                &mut errs,
            );
        }
        errs.0
    }

    fn canonicalize(&mut self) {
        let given = std::mem::take(&mut self.meta_config.system);
        self.meta_config.system = SYSTEM_FIELDS
            .iter()
            .map(|(name, default)| {
                let v = given
                    .get(*name)
                    .and_then(Value::as_bool)
                    .unwrap_or(*default);
                (name.to_string(), Value::Bool(v))
            })
            .collect();
    }
}

fn ca_is_secret(ca: &str) -> bool {
    ca.contains("PRIVATE KEY")
}

/// Replaces secrets in canonical content by [`MASK`].
pub(crate) fn mask_secrets(content: &mut Value) {
    if let Some(sasl) = content
        .get_mut("sasl_config")
        .and_then(Value::as_object_mut)
    {
        for key in ["sasl_password", "ssl_ca_content"] {
            if let Some(Value::String(s)) = sasl.get_mut(key) {
                let secret = if key == "sasl_password" {
                    !s.is_empty()
                } else {
                    ca_is_secret(s)
                };
                if secret {
                    *s = MASK.to_string();
                }
            }
        }
    }
}

/// On update: a secret sent back as [`MASK`] means "keep the stored one".
pub(crate) fn keep_masked_secrets(new: &mut Map<String, Value>, previous: &Map<String, Value>) {
    let Some(sasl) = new.get_mut("sasl_config").and_then(Value::as_object_mut) else {
        return;
    };
    for key in ["sasl_password", "ssl_ca_content"] {
        if sasl.get(key).and_then(Value::as_str) == Some(MASK) {
            if let Some(old) = previous.get("sasl_config").and_then(|s| s.get(key)) {
                sasl.insert(key.to_string(), old.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime (docs/kafka_log.md): one producer task per plug-in instance behind a bounded queue.
// Calls only ever `try_send` a finished message: a slow, full or dead broker never delays or
// fails them; what does not fit, or cannot be delivered after the retries, is dropped and
// counted.

use crate::chain::RequestCtx;
use crate::headers::Headers;
use std::collections::BTreeMap as Map2;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages waiting per plug-in; more are dropped.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Messages sent to the broker in one request at most.
pub const BATCH: usize = 500;
/// Bodies are cut at this many bytes.
pub const BODY_LIMIT: usize = 1024;
/// A message is at most this many bytes.
pub const MESSAGE_LIMIT: usize = 4096;
/// Longest client-supplied text in a system field (`uri`, `host`, `http_user_agent`, …).
pub const FIELD_LIMIT: usize = 512;
/// While the brokers are down, one call in this many milliseconds still sends its message.
pub const PROBE_INTERVAL_MS: i64 = 100;

/// One connect or produce attempt may take this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Delivery counters of one plug-in.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub dropped: AtomicU64,
    pub queued: AtomicU64,
    failed_once: AtomicBool,
    /// The last delivery failed after its retries: calls drop their message without building it
    /// until a delivery succeeds again (one call per [`PROBE_INTERVAL_MS`] still sends its own).
    down: AtomicBool,
    /// While down, when the next call may queue its message as a probe (ms since the epoch).
    next_probe_ms: AtomicI64,
}

static STATS: Mutex<Map2<String, Arc<Stats>>> = Mutex::new(Map2::new());

/// Renders delivery counters of every kafka_log plug-in in Prometheus' text format.
pub fn render_metrics(out: &mut String) {
    use std::fmt::Write;
    let m = STATS.lock().unwrap_or_else(|e| e.into_inner());
    for (name, help) in [
        ("sent", "delivered"),
        ("retried", "retried"),
        ("dropped", "dropped"),
    ] {
        let _ = writeln!(out, "# HELP apigw_kafka_log_{name}_total Messages {help}.\n# TYPE apigw_kafka_log_{name}_total counter");
        for (id, s) in m.iter() {
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
    for (id, s) in m.iter() {
        let _ = writeln!(
            out,
            "apigw_kafka_log_queue_depth{{plugin_id=\"{id}\"}} {}",
            s.queued.load(Ordering::Relaxed)
        );
    }
}

/// What a call leaves for the log besides its context.
#[derive(Debug, Default)]
pub struct CallRecord<'a> {
    pub request_headers: Option<&'a Headers>,
    pub user_agent: Option<&'a http::HeaderValue>,
    pub forwarded_for: Option<&'a http::HeaderValue>,
    pub query: Option<&'a str>,
    pub request_body: Option<&'a [u8]>,
    pub response_headers: Option<&'a Headers>,
    pub response_body: Option<&'a [u8]>,
    pub host: Option<&'a str>,
    pub request_size: Option<u64>,
    pub response_size: Option<u64>,
    pub upstream_addr: Option<&'a str>,
    pub upstream_uri: Option<&'a str>,
    pub error_type: Option<&'a str>,
    pub response_source: &'a str,
}

/// A running kafka_log plug-in.
pub struct KafkaLog {
    /// The switched-on system fields, in APIG's order, each with what it writes.
    system: Vec<(Box<[u8]>, Field)>,
    /// Whether `upstream_uri` is among them (the proxy keeps the backend path only then).
    upstream_uri: bool,
    call_data: CallData,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    stats: Arc<Stats>,
    /// The length of the last message: the next one's buffer is allocated that large, so
    /// that it is written without growing (and copied) on the way.
    last_len: AtomicUsize,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("system", &self.system.len())
            .finish_non_exhaustive()
    }
}

fn filtered<'h>(
    headers: impl IntoIterator<Item = (&'h http::HeaderName, &'h http::HeaderValue)>,
    filter: &str,
) -> serde_json::Map<String, Value> {
    let names: Vec<String> = filter
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let all = names.iter().any(|n| n == "*");
    headers
        .into_iter()
        .filter(|(k, _)| all || names.iter().any(|n| n == k.as_str()))
        .map(|(k, v)| {
            (
                k.to_string(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect()
}

/// What a switched-on system field writes (decided when the plug-in is built, not per call).
#[derive(Debug, Clone, Copy)]
enum Field {
    StartTime,
    RequestId,
    ClientIp,
    ApiId,
    ApiName,
    UserName,
    AppId,
    AppName,
    RequestTime,
    HttpStatus,
    ServerProtocol,
    Scheme,
    RequestMethod,
    Host,
    Uri,
    RequestSize,
    ResponseSize,
    UpstreamUri,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamTime,
    ForwardedFor,
    UserAgent,
    ErrorType,
    ResponseSource,
    InnerTime,
    /// No meaning in apigw (no regions, VPC endpoints, ROMA provider apps or custom
    /// authorizers, URI modes or auth types of APIG's own): present and null when switched on.
    Null,
}

impl Field {
    fn of(name: &str) -> Field {
        match name {
            "start_time" => Field::StartTime,
            "request_id" => Field::RequestId,
            "client_ip" => Field::ClientIp,
            "api_id" => Field::ApiId,
            "api_name" => Field::ApiName,
            "user_name" => Field::UserName,
            "app_id" => Field::AppId,
            "app_name" => Field::AppName,
            "request_time" => Field::RequestTime,
            "http_status" => Field::HttpStatus,
            "server_protocol" => Field::ServerProtocol,
            "scheme" => Field::Scheme,
            "request_method" => Field::RequestMethod,
            "host" => Field::Host,
            "uri" => Field::Uri,
            "request_size" => Field::RequestSize,
            "response_size" | "body_bytes_sent" => Field::ResponseSize,
            "upstream_uri" => Field::UpstreamUri,
            "upstream_addr" => Field::UpstreamAddr,
            "upstream_status" => Field::UpstreamStatus,
            "upstream_response_time" | "all_upstream_response_time" | "upstream_header_time" => {
                Field::UpstreamTime
            }
            "http_x_forwarded_for" => Field::ForwardedFor,
            "http_user_agent" => Field::UserAgent,
            "error_type" => Field::ErrorType,
            "response_source" => Field::ResponseSource,
            "inner_time" => Field::InnerTime,
            _ => Field::Null,
        }
    }
}

/// A JSON object written field by field (keys are known ASCII names, written as they are).
/// A field is its key (`key`, or `field` with the key already encoded) and then one value.
struct JsonObject {
    out: Vec<u8>,
}

/// A system field's key as written after another field: `,"name":`.
fn encoded_key(name: &str) -> Box<[u8]> {
    format!(",\"{name}\":").into_bytes().into_boxed_slice()
}

impl JsonObject {
    fn with_capacity(n: usize) -> Self {
        let mut out = Vec::with_capacity(n);
        out.push(b'{');
        Self { out }
    }

    fn len(&self) -> usize {
        self.out.len()
    }

    fn key(&mut self, k: &str) {
        self.out.reserve(k.len() + 4);
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A key made by [`encoded_key`] (one copy instead of four pushes).
    fn field(&mut self, encoded: &[u8]) {
        let skip = usize::from(self.out.len() == 1); // the first field has no comma
        self.out.extend_from_slice(&encoded[skip..]);
    }

    /// A string the gateway made that needs no escaping (ids, times, fixed words).
    fn plain(&mut self, v: &[u8]) {
        self.out.reserve(v.len() + 2);
        self.out.push(b'"');
        self.out.extend_from_slice(v);
        self.out.push(b'"');
    }

    fn value<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        // Writing to a Vec cannot fail; values are strings, numbers and string maps.
        let _ = serde_json::to_writer(&mut self.out, v);
    }

    fn str(&mut self, v: &str) {
        apigw_model::text::push_json_str(&mut self.out, v);
    }

    fn ip(&mut self, ip: std::net::IpAddr) {
        self.out.push(b'"');
        apigw_model::text::push_ip(&mut self.out, ip);
        self.out.push(b'"');
    }

    fn int(&mut self, v: u64) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn opt_str(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.str(v),
            None => self.null(),
        }
    }

    fn opt_int(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// A free-text value of the client's (path, host, user agent, forwarded-for), cut at
    /// [`FIELD_LIMIT`] bytes so that the system fields always fit in a message; returns
    /// whether it was cut. Bytes that are not UTF-8 become U+FFFD.
    fn client_text(&mut self, v: Option<&[u8]>) -> bool {
        let Some(v) = v else {
            self.null();
            return false;
        };
        let cut = v.len() > FIELD_LIMIT;
        let v = &v[..v.len().min(FIELD_LIMIT)];
        match std::str::from_utf8(v) {
            Ok(text) => self.str(text),
            Err(_) => self.str(&String::from_utf8_lossy(v)),
        }
        cut
    }

    fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }

    fn bool(&mut self, v: bool) {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// JSON written elsewhere, as it is.
    fn raw(&mut self, json: &[u8]) {
        self.out.extend_from_slice(json);
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

fn cut(body: &[u8]) -> (String, bool) {
    let end = body.len().min(BODY_LIMIT);
    (
        String::from_utf8_lossy(&body[..end]).into_owned(),
        body.len() > BODY_LIMIT,
    )
}

impl KafkaLog {
    /// Builds the plug-in and starts its producer (which connects lazily and reconnects).
    pub fn new(c: &Config, plugin_id: &str) -> Self {
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
        let stats = Arc::new(Stats::default());
        STATS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plugin_id.to_string(), stats.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(produce(c.clone(), rx, stats.clone()));
        Self {
            system,
            upstream_uri,
            call_data: c.meta_config.call_data.clone(),
            tx,
            stats,
            last_len: AtomicUsize::new(512),
        }
    }

    /// The message of one call (switched-on fields only; bodies cut at 1 KB; at most 4 KB),
    /// written as JSON directly (no intermediate map: this runs for every call).
    pub fn message(&self, ctx: &RequestCtx, r: &CallRecord<'_>) -> Vec<u8> {
        // Room for a message like the last one, and a little more (texts vary in length).
        let room = self.last_len.load(Ordering::Relaxed) + 64;
        let mut m = JsonObject::with_capacity(room.min(MESSAGE_LIMIT + 64));
        let secs = |ms: u64| ms as f64 / 1000.0;
        let mut cut_field = false;
        let elapsed = ctx.start.elapsed();
        for (key, field) in &self.system {
            m.field(key);
            match *field {
                Field::StartTime => match apigw_model::time::millis_text(ctx.request_time_ms) {
                    Some(text) => m.plain(&text),
                    None => m.str(&apigw_model::time::format_millis(ctx.request_time_ms)),
                },
                Field::RequestId => m.plain(ctx.request_id.as_bytes()),
                Field::ClientIp => m.ip(ctx.client_ip),
                Field::ApiId => m.str(&ctx.api_id),
                Field::ApiName => m.str(&ctx.api_name),
                Field::UserName => m.opt_str(ctx.user_id.as_deref()),
                Field::AppId => m.opt_str(ctx.app_id.as_deref()),
                Field::AppName => m.opt_str(ctx.app_name.as_deref()),
                Field::RequestTime => m.value(&elapsed.as_secs_f64()),
                Field::HttpStatus => m.int(ctx.status.into()),
                Field::ServerProtocol => m.plain(b"HTTP/1.1"),
                Field::Scheme => m.plain(b"http"),
                Field::RequestMethod => m.str(ctx.method.as_str()),
                Field::Host => cut_field |= m.client_text(r.host.map(str::as_bytes)),
                Field::Uri => cut_field |= m.client_text(Some(ctx.path.as_bytes())),
                Field::RequestSize => m.opt_int(r.request_size),
                Field::ResponseSize => m.opt_int(r.response_size),
                Field::UpstreamUri => cut_field |= m.client_text(r.upstream_uri.map(str::as_bytes)),
                Field::UpstreamAddr => m.opt_str(r.upstream_addr),
                Field::UpstreamStatus => m.opt_int(r.upstream_addr.map(|_| ctx.status.into())),
                Field::UpstreamTime => m.value(&ctx.backend_latency_ms.map(secs)),
                Field::ForwardedFor => {
                    cut_field |= m.client_text(r.forwarded_for.map(|v| v.as_bytes()))
                }
                Field::UserAgent => cut_field |= m.client_text(r.user_agent.map(|v| v.as_bytes())),
                Field::ErrorType => m.opt_str(r.error_type),
                Field::ResponseSource => m.str(r.response_source),
                Field::InnerTime => m.value(&secs(
                    (elapsed.as_millis() as u64)
                        .saturating_sub(ctx.backend_latency_ms.unwrap_or(0)),
                )),
                Field::Null => m.null(),
            }
        }
        let cd = &self.call_data;
        let mut truncated = false;
        if cd.any() {
            let mut call = JsonObject::with_capacity(0);
            truncated = self.call_data(&mut call, r);
            let call = call.finish();
            if call.len() > 2 {
                if m.len() + call.len() + 16 > MESSAGE_LIMIT {
                    // Too big: the call data goes, marked.
                    m.key("call_data_truncated");
                    m.bool(true);
                } else {
                    m.key("call_data");
                    m.raw(&call);
                }
            }
        }
        if truncated {
            m.key("body_truncated");
            m.bool(true);
        }
        if cut_field {
            m.key("field_truncated");
            m.bool(true);
        }
        if m.len() >= MESSAGE_LIMIT {
            // Only control characters (escaped six bytes each) in every client text get here:
            // the call is still logged, by its id and status.
            let mut short = JsonObject::with_capacity(128);
            short.key("request_id");
            short.str(&ctx.request_id);
            short.key("http_status");
            short.int(ctx.status.into());
            short.key("message_truncated");
            short.bool(true);
            return short.finish();
        }
        let out = m.finish();
        self.last_len.store(out.len(), Ordering::Relaxed);
        out
    }

    /// The switched-on call data (`call_data`) into `call`; returns whether a body was cut.
    fn call_data(&self, call: &mut JsonObject, r: &CallRecord<'_>) -> bool {
        let cd = &self.call_data;
        let mut truncated = false;
        if cd.log_request_header {
            if let Some(h) = r.request_headers {
                call.key("request_header");
                call.value(&filtered(h, &cd.request_header_filter));
            }
        }
        if cd.log_request_query_string {
            let q = r.query.unwrap_or("");
            let names: Vec<&str> = cd
                .request_query_string_filter
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let kept: Vec<&str> = q
                .split('&')
                .filter(|p| !p.is_empty())
                .filter(|p| {
                    names.contains(&"*") || names.contains(&p.split('=').next().unwrap_or(""))
                })
                .collect();
            call.key("request_query_string");
            call.str(&kept.join("&"));
        }
        if cd.log_request_body {
            let (b, t) = cut(r.request_body.unwrap_or(&[]));
            truncated |= t;
            call.key("request_body");
            call.str(&b);
        }
        if cd.log_response_header {
            if let Some(h) = r.response_headers {
                call.key("response_header");
                call.value(&filtered(h, &cd.response_header_filter));
            }
        }
        if cd.log_response_body {
            let (b, t) = cut(r.response_body.unwrap_or(&[]));
            truncated |= t;
            call.key("response_body");
            call.str(&b);
        }
        truncated
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
        if !self.stats.down.load(Ordering::Relaxed) {
            return true;
        }
        let next = self.stats.next_probe_ms.load(Ordering::Relaxed);
        let probe = now_ms >= next
            && self
                .stats
                .next_probe_ms
                .compare_exchange(
                    next,
                    now_ms + PROBE_INTERVAL_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if !probe {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        probe
    }

    /// Queues the message of an admitted call ([`KafkaLog::admit`]); never waits. A full queue
    /// drops it (counted).
    pub fn log(&self, ctx: &RequestCtx, r: &CallRecord<'_>) {
        let msg = self.message(ctx, r);
        match self.tx.try_send(msg) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn sasl(c: &SaslConfig) -> Option<rskafka::client::SaslConfig> {
    if !c.security_protocol.starts_with("SASL_") {
        return None;
    }
    let creds = rskafka::client::Credentials::new(c.sasl_username.clone(), c.sasl_password.clone());
    Some(match c.sasl_mechanisms.as_str() {
        "SCRAM-SHA-256" => rskafka::client::SaslConfig::ScramSha256(creds),
        "SCRAM-SHA-512" => rskafka::client::SaslConfig::ScramSha512(creds),
        _ => rskafka::client::SaslConfig::Plain(creds),
    })
}

/// The producer: batches what is queued, sends it with `max_retry_count` retries
/// `retry_backoff` seconds apart; ends (after sending what is left) when the plug-in instance is
/// dropped (update or unbinding).
async fn produce(c: Config, mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>, stats: Arc<Stats>) {
    let mut partitions: Vec<rskafka::client::partition::PartitionClient> = Vec::new();
    let mut next = 0usize;
    let key = (!c.key.is_empty()).then(|| c.key.clone().into_bytes());
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return; // the plug-in instance is gone and everything queued is sent
        }
        stats
            .queued
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let mut attempt = 0;
        loop {
            if partitions.is_empty() {
                partitions = connect(&c).await.unwrap_or_default();
            }
            let result = match partitions.len() {
                0 => Err("no broker answered".to_string()),
                n => {
                    let p = match &key {
                        Some(k) => &partitions[(k.iter().map(|b| *b as usize).sum::<usize>()) % n],
                        None => {
                            next = next.wrapping_add(1);
                            &partitions[next % n]
                        }
                    };
                    // The last attempt takes the messages; earlier ones send copies.
                    let last = attempt >= c.max_retry_count;
                    let timestamp = chrono::Utc::now();
                    let records = batch
                        .iter_mut()
                        .map(|m| rskafka::record::Record {
                            key: key.clone(),
                            value: Some(if last { std::mem::take(m) } else { m.clone() }),
                            headers: Default::default(),
                            timestamp,
                        })
                        .collect();
                    match tokio::time::timeout(
                        ATTEMPT_TIMEOUT,
                        p.produce(
                            records,
                            rskafka::client::partition::Compression::NoCompression,
                        ),
                    )
                    .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("produce timed out".to_string()),
                    }
                }
            };
            match result {
                Ok(()) => {
                    stats.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    stats.down.store(false, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    partitions.clear();
                    if !stats.failed_once.swap(true, Ordering::Relaxed) {
                        tracing::error!(error = %e, topic = %c.topic, "kafka_log: cannot deliver to the brokers (first failure of this plug-in)");
                    }
                    if attempt >= c.max_retry_count {
                        stats
                            .dropped
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        stats.down.store(true, Ordering::Relaxed);
                        // What queued up meanwhile would meet the same brokers: dropped too.
                        let mut stale = 0;
                        while rx.try_recv().is_ok() {
                            stale += 1;
                        }
                        stats.queued.fetch_sub(stale, Ordering::Relaxed);
                        stats.dropped.fetch_add(stale, Ordering::Relaxed);
                        break;
                    }
                    attempt += 1;
                    stats
                        .retried
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(c.retry_backoff.max(1) as u64)).await;
                }
            }
        }
    }
}

/// The TLS client configuration of `SASL_SSL`: only `ssl_ca_content` is trusted.
fn tls(c: &SaslConfig) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    if c.security_protocol != "SASL_SSL" {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(c.ssl_ca_content.as_bytes()) {
        let cert = cert.map_err(|e| format!("ssl_ca_content: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("ssl_ca_content: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

async fn connect(c: &Config) -> Option<Vec<rskafka::client::partition::PartitionClient>> {
    let mut builder = rskafka::client::ClientBuilder::new(c.broker_list.clone());
    if let Some(s) = sasl(&c.sasl_config) {
        builder = builder.sasl_config(s);
    }
    match tls(&c.sasl_config) {
        Ok(Some(config)) => builder = builder.tls_config(config),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "kafka_log: the CA certificate cannot be used");
            return None;
        }
    }
    let client = tokio::time::timeout(ATTEMPT_TIMEOUT, builder.build())
        .await
        .ok()?
        .ok()?;
    let topics = tokio::time::timeout(ATTEMPT_TIMEOUT, client.list_topics())
        .await
        .ok()?
        .ok()?;
    let count = topics
        .iter()
        .find(|t| t.name == c.topic)
        .map(|t| t.partitions.len())
        .unwrap_or(1)
        .max(1);
    let mut out = Vec::with_capacity(count);
    for p in 0..count as i32 {
        let pc = client
            .partition_client(
                c.topic.clone(),
                p,
                rskafka::client::partition::UnknownTopicHandling::Error,
            )
            .await
            .ok()?;
        out.push(pc);
    }
    Some(out)
}

#[cfg(test)]
mod runtime_tests {
    use super::*;
    use http::{HeaderValue, Method};
    use std::net::Ipv4Addr;

    fn plugin(content: Value) -> KafkaLog {
        let c: Config = serde_json::from_value(content).unwrap();
        let mut c = c;
        crate::registry::ContentModel::canonicalize(&mut c);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        KafkaLog::new(&c, "unit")
    }

    #[test]
    fn while_the_brokers_are_down_one_call_per_probe_interval_is_logged() {
        let k = plugin(serde_json::json!({"broker_list": ["127.0.0.1:9"], "topic": "t"}));
        let dropped = |k: &KafkaLog| k.stats.dropped.load(Ordering::Relaxed);
        assert!(k.admit(1_000), "up: every call is logged");
        assert!(k.admit(1_000));
        k.stats.down.store(true, Ordering::Relaxed);
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
        k.stats.down.store(false, Ordering::Relaxed);
        assert!(
            k.admit(1_001 + PROBE_INTERVAL_MS),
            "back up: every call is logged"
        );
        assert_eq!(dropped(&k), 4);
    }

    fn ctx() -> RequestCtx {
        let mut c = RequestCtx::new(
            "rid-1".into(),
            Method::POST,
            "/orders".into(),
            Ipv4Addr::new(10, 1, 2, 3).into(),
        );
        c.api_id = "api-1".into();
        c.status = 201;
        c.backend_latency_ms = Some(12);
        c
    }

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn only_switched_on_fields_are_in_the_message() {
        let p = plugin(
            serde_json::json!({"broker_list": ["127.0.0.1:1"], "topic": "t",
            "meta_config": {"system": {"start_time": false, "request_id": true, "client_ip": true, "api_id": true,
                "request_time": false, "http_status": true, "scheme": false, "request_method": true, "host": false, "uri": true,
                "upstream_addr": false, "upstream_status": false, "upstream_response_time": true, "http_x_forwarded_for": false,
                "http_user_agent": false, "error_type": false, "proxy_protocol_vni": true}}}),
        );
        let m = parse(&p.message(&ctx(), &CallRecord::default()));
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "request_id",
                "client_ip",
                "api_id",
                "http_status",
                "request_method",
                "uri",
                "upstream_response_time",
                "proxy_protocol_vni"
            ]
        );
        assert_eq!(m["request_id"], "rid-1");
        assert_eq!(m["client_ip"], "10.1.2.3");
        assert_eq!(m["http_status"], 201);
        assert_eq!(m["upstream_response_time"], 0.012);
        assert!(
            m["proxy_protocol_vni"].is_null(),
            "no meaning in apigw: null"
        );
    }

    #[test]
    fn call_data_follows_switches_filters_and_cuts_bodies() {
        let p = plugin(
            serde_json::json!({"broker_list": ["127.0.0.1:1"], "topic": "t",
            "meta_config": {"system": {"start_time": false, "request_id": false, "client_ip": false, "request_time": false,
                "http_status": false, "scheme": false, "request_method": false, "host": false, "uri": false, "upstream_addr": false,
                "upstream_status": false, "upstream_response_time": false, "http_x_forwarded_for": false, "http_user_agent": false,
                "error_type": false},
                "call_data": {"log_request_header": true, "request_header_filter": "x-a, X-B",
                    "log_request_query_string": true, "request_query_string_filter": "q",
                    "log_request_body": true, "log_response_header": true, "response_header_filter": "*"}}}),
        );
        let mut req = Headers::new();
        for (k, v) in [("x-a", "1"), ("x-b", "2"), ("x-c", "3")] {
            req.insert(
                http::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        let mut resp = Headers::new();
        resp.insert(
            http::HeaderName::from_static("x-r"),
            HeaderValue::from_static("r"),
        );
        let body = vec![b'z'; 3000];
        let r = CallRecord {
            request_headers: Some(&req),
            query: Some("q=1&other=2"),
            request_body: Some(&body),
            response_headers: Some(&resp),
            ..Default::default()
        };
        let m = parse(&p.message(&ctx(), &r));
        let cd = &m["call_data"];
        assert_eq!(
            cd["request_header"],
            serde_json::json!({"x-a": "1", "x-b": "2"})
        );
        assert_eq!(cd["request_query_string"], "q=1");
        assert_eq!(
            cd["request_body"].as_str().unwrap().len(),
            BODY_LIMIT,
            "bodies are cut at 1 KB"
        );
        assert_eq!(m["body_truncated"], true, "and the cut is marked");
        assert_eq!(cd["response_header"], serde_json::json!({"x-r": "r"}));
        assert!(cd.get("response_body").is_none(), "switched off");
    }

    #[test]
    fn messages_never_exceed_4_kb() {
        let p = plugin(
            serde_json::json!({"broker_list": ["127.0.0.1:1"], "topic": "t",
            "meta_config": {"call_data": {"log_request_header": true, "request_header_filter": "*"}}}),
        );
        let mut req = Headers::new();
        for i in 0..100 {
            req.insert(
                http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("0123456789012345678901234567890123456789"),
            );
        }
        let out = p.message(
            &ctx(),
            &CallRecord {
                request_headers: Some(&req),
                ..Default::default()
            },
        );
        assert!(out.len() <= MESSAGE_LIMIT);
        let m = parse(&out);
        assert_eq!(m["call_data_truncated"], true);
        assert_eq!(m["request_id"], "rid-1", "the system fields stay");
    }

    #[test]
    fn huge_client_texts_are_cut_and_the_message_stays_valid_json_within_4_kb() {
        let all: serde_json::Map<String, Value> = SYSTEM_FIELDS
            .iter()
            .map(|(n, _)| (n.to_string(), Value::Bool(true)))
            .collect();
        let p = plugin(
            serde_json::json!({"broker_list": ["127.0.0.1:1"], "topic": "t",
            "meta_config": {"system": all}}),
        );
        let mut c = ctx();
        c.path = format!("/{}", "p".repeat(20_000));
        let long = HeaderValue::from_str(&"u".repeat(20_000)).unwrap();
        let record = CallRecord {
            user_agent: Some(&long),
            forwarded_for: Some(&long),
            host: Some(&"h".repeat(20_000)),
            upstream_uri: Some(&"b".repeat(20_000)),
            ..Default::default()
        };
        let out = p.message(&c, &record);
        assert!(out.len() <= MESSAGE_LIMIT, "{}", out.len());
        let m = parse(&out);
        assert_eq!(m["field_truncated"], true);
        assert_eq!(m["uri"].as_str().unwrap().len(), FIELD_LIMIT);
        assert_eq!(m["http_user_agent"].as_str().unwrap().len(), FIELD_LIMIT);

        // Control characters escape to six bytes each: still valid, still within 4 KB.
        let ctl = HeaderValue::from_bytes(&[b'\t'; 4000]).unwrap();
        c.path = "\u{1}".repeat(4000);
        let record = CallRecord {
            user_agent: Some(&ctl),
            forwarded_for: Some(&ctl),
            ..Default::default()
        };
        let out = p.message(&c, &record);
        assert!(out.len() <= MESSAGE_LIMIT, "{}", out.len());
        let m = parse(&out);
        assert_eq!(m["request_id"], "rid-1");
    }
}
