//! One call's message: the switched-on system fields and call data, written as JSON directly
//! (this runs for every logged call) and cut to fit in [`MESSAGE_LIMIT`] bytes.

use super::runtime::KafkaLog;
use crate::chain::RequestCtx;
use crate::headers::Headers;
use serde_json::Value;

/// Bodies are cut at this many bytes.
pub const BODY_LIMIT: usize = 1024;
/// A message is at most this many bytes.
pub const MESSAGE_LIMIT: usize = 4096;
/// Longest client-supplied text in a system field (`uri`, `host`, `http_user_agent`, …).
pub const FIELD_LIMIT: usize = 512;

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
    /// From the call's arrival to its response head (`request_time`); when not given, until
    /// the message is written.
    pub answered_after: Option<std::time::Duration>,
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
pub(super) enum Field {
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
    pub(super) fn of(name: &str) -> Field {
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
pub(super) fn encoded_key(name: &str) -> Box<[u8]> {
    format!(",\"{name}\":").into_bytes().into_boxed_slice()
}

impl JsonObject {
    fn with_capacity(n: usize) -> Self {
        Self::on(Vec::with_capacity(n))
    }

    /// An object written into `buf` (cleared; its capacity is reused).
    fn on(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.push(b'{');
        Self { out: buf }
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

    /// A duration given in microseconds, as seconds: a JSON number in decimal notation with
    /// at most six decimals and no trailing zero but a lone `.0` (`0.012`, `1.5`, `2.0`).
    /// Written by hand: a float's shortest form costs about three times as much, and the
    /// default fields have two.
    fn secs(&mut self, micros: u64) {
        let mut n = itoa::Buffer::new();
        self.out
            .extend_from_slice(n.format(micros / 1_000_000).as_bytes());
        let frac = micros % 1_000_000;
        if frac == 0 {
            self.out.extend_from_slice(b".0");
            return;
        }
        // "1dddddd": the six decimals with their leading zeros.
        let digits = n.format(frac + 1_000_000).trim_end_matches('0');
        self.out.push(b'.');
        self.out.extend_from_slice(&digits.as_bytes()[1..]);
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
        if apigw_model::text::is_plain_json(v) {
            self.plain(v);
            return cut;
        }
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
    /// The message of one call (switched-on fields only; bodies cut at 1 KB; at most 4 KB),
    /// written as JSON directly (no intermediate map: this runs for every call) into `buf`
    /// (cleared; its capacity is reused).
    pub fn message(&self, ctx: &RequestCtx, r: &CallRecord<'_>, buf: Vec<u8>) -> Vec<u8> {
        let mut m = JsonObject::on(buf);
        let mut cut_field = false;
        let elapsed = r.answered_after.unwrap_or_else(|| ctx.start.elapsed());
        for (key, field) in &self.system {
            m.field(key);
            match *field {
                Field::StartTime => {
                    let ms = ctx.request_time_ms();
                    match apigw_model::time::millis_text(ms) {
                        Some(text) => m.plain(&text),
                        None => m.str(&apigw_model::time::format_millis(ms)),
                    }
                }
                Field::RequestId => m.plain(ctx.request_id.as_bytes()),
                Field::ClientIp => m.ip(ctx.client_ip),
                Field::ApiId => m.str(&ctx.api_id),
                Field::ApiName => m.str(&ctx.api_name),
                Field::UserName => m.opt_str(ctx.user_id.as_deref()),
                Field::AppId => m.opt_str(ctx.app_id.as_deref()),
                Field::AppName => m.opt_str(ctx.app_name.as_deref()),
                Field::RequestTime => m.secs(elapsed.as_micros() as u64),
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
                Field::UpstreamTime => match ctx.backend_latency_ms {
                    Some(ms) => m.secs(ms.saturating_mul(1000)),
                    None => m.null(),
                },
                Field::ForwardedFor => {
                    cut_field |= m.client_text(r.forwarded_for.map(|v| v.as_bytes()))
                }
                Field::UserAgent => cut_field |= m.client_text(r.user_agent.map(|v| v.as_bytes())),
                Field::ErrorType => m.opt_str(r.error_type),
                Field::ResponseSource => m.str(r.response_source),
                Field::InnerTime => m.secs(
                    (elapsed.as_millis() as u64)
                        .saturating_sub(ctx.backend_latency_ms.unwrap_or(0))
                        .saturating_mul(1000),
                ),
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
        m.finish()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_log::runtime::tests::plugin;
    use crate::kafka_log::SYSTEM_FIELDS;
    use http::{HeaderValue, Method};
    use std::net::Ipv4Addr;

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
    fn durations_are_seconds_in_decimal_notation_without_trailing_zeros() {
        for (micros, text) in [
            (0, "0.0"),
            (1, "0.000001"),
            (12_000, "0.012"),
            (120_500, "0.1205"),
            (1_500_000, "1.5"),
            (2_000_000, "2.0"),
            (123_456_789, "123.456789"),
        ] {
            let mut m = JsonObject::with_capacity(16);
            m.secs(micros);
            assert_eq!(&m.out[1..], text.as_bytes(), "{micros} µs");
            let n: f64 = serde_json::from_slice(&m.out[1..]).unwrap();
            assert_eq!(n, micros as f64 / 1e6, "{micros} µs as a number");
        }
    }

    #[test]
    fn request_time_is_from_arrival_to_the_response_head() {
        let p = plugin(serde_json::json!({"broker_list": ["127.0.0.1:1"], "topic": "t"}));
        let r = CallRecord {
            answered_after: Some(std::time::Duration::from_micros(1_500_250)),
            ..Default::default()
        };
        let m = parse(&p.message(&ctx(), &r, Vec::new()));
        assert_eq!(m["request_time"], 1.50025, "{m}");
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
        let m = parse(&p.message(&ctx(), &CallRecord::default(), Vec::new()));
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
        let m = parse(&p.message(&ctx(), &r, Vec::new()));
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
            Vec::new(),
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
        c.path = format!("/{}", "p".repeat(20_000)).into();
        let long = HeaderValue::from_str(&"u".repeat(20_000)).unwrap();
        let record = CallRecord {
            user_agent: Some(&long),
            forwarded_for: Some(&long),
            host: Some(&"h".repeat(20_000)),
            upstream_uri: Some(&"b".repeat(20_000)),
            ..Default::default()
        };
        let out = p.message(&c, &record, Vec::new());
        assert!(out.len() <= MESSAGE_LIMIT, "{}", out.len());
        let m = parse(&out);
        assert_eq!(m["field_truncated"], true);
        assert_eq!(m["uri"].as_str().unwrap().len(), FIELD_LIMIT);
        assert_eq!(m["http_user_agent"].as_str().unwrap().len(), FIELD_LIMIT);

        // Control characters escape to six bytes each: still valid, still within 4 KB.
        let ctl = HeaderValue::from_bytes(&[b'\t'; 4000]).unwrap();
        c.path = "\u{1}".repeat(4000).into();
        let record = CallRecord {
            user_agent: Some(&ctl),
            forwarded_for: Some(&ctl),
            ..Default::default()
        };
        let out = p.message(&c, &record, Vec::new());
        assert!(out.len() <= MESSAGE_LIMIT, "{}", out.len());
        let m = parse(&out);
        assert_eq!(m["request_id"], "rid-1");
    }
}
