//! The plug-in phases (in pingora's spirit) and the chain that runs them in SPEC §2's order.
//!
//! A request goes: route → [`Phase::Preflight`] (cors answers preflights) → API auth (the
//! proxy) → third_auth → rate_limit → breaker → backend → response phase (set_resp_headers,
//! then cors) → response sent → completion (kafka_log, breaker accounting). The response phase
//! also runs on responses the gateway makes itself (401, 403, 404, 429, 502, 503, 504).
//!
//! The plug-in types are a closed list, so a chain holds an enum and dispatches with `match`:
//! no boxing, no virtual calls on the hot path.

use http::{HeaderValue, Method, StatusCode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::counters::{Clock, RedisCounters, Verdict};
use crate::headers::{Headers, RequestHead};
use crate::{breaker, cors, kafka_log, rate_limit, set_resp_headers, third_auth};

/// What a request phase decided.
#[derive(Debug)]
pub enum Flow {
    /// Go on with the next phase.
    Continue,
    /// Answer now with this status, headers and body (the response phase still runs).
    Respond(StatusCode, Headers, Vec<u8>),
}

/// What the plug-ins know about the call; filled by the proxy as the call goes on.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// `X-Request-Id` of the call.
    pub request_id: String,
    /// The matched API (empty when none matched).
    pub api_id: Arc<str>,
    pub api_name: Arc<str>,
    /// The environment name (`X-Stage`).
    pub stage: Arc<str>,
    /// The app identified by APP authentication.
    pub app_id: Option<Arc<str>>,
    pub app_name: Option<Arc<str>>,
    /// The user identified by IAM authentication (the project id).
    pub user_id: Option<Arc<str>>,
    /// The client's address.
    pub client_ip: IpAddr,
    pub method: Method,
    /// The request path.
    pub path: String,
    /// The request's `Origin`, for cors.
    pub origin: Option<HeaderValue>,
    /// The request's `Access-Control-Request-Headers`, for cors preflights.
    pub request_headers: Option<HeaderValue>,
    /// When the gateway received the call.
    pub start: Instant,
    /// Milliseconds since the epoch when the call arrived.
    pub request_time_ms: i64,
    /// The response status, once known.
    pub status: u16,
    /// Time the backend took to answer with headers, once known.
    pub backend_latency_ms: Option<u64>,
    /// What rate_limit decided, for the `X-RateLimit-*` headers.
    pub rate_limit: Option<Verdict>,
    /// The request as kafka_log logs it (kept only when kafka_log is bound).
    pub captured: Option<Box<Captured>>,
}

/// The parts of a request kept for its log (cheap clones: header values and the URI share
/// their bytes with the request).
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// All request headers, only when header logging is on.
    pub headers: Option<Headers>,
    pub user_agent: Option<HeaderValue>,
    pub forwarded_for: Option<HeaderValue>,
    pub host: Option<HeaderValue>,
    pub uri: http::Uri,
    pub body: Option<bytes::Bytes>,
    pub upstream_addr: Option<http::uri::Authority>,
    pub upstream_uri: Option<http::uri::PathAndQuery>,
}

impl RequestCtx {
    /// The context for the call's log once the response is made: the owned parts (request id,
    /// path, what was captured) move out, the rest is copied; `self` is not used afterwards.
    pub fn take_for_log(&mut self) -> RequestCtx {
        RequestCtx {
            request_id: std::mem::take(&mut self.request_id),
            path: std::mem::take(&mut self.path),
            captured: self.captured.take(),
            origin: self.origin.take(),
            request_headers: self.request_headers.take(),
            rate_limit: self.rate_limit.take(),
            ..self.clone_light()
        }
    }

    /// A copy without the owned parts (reference counts and small values only).
    fn clone_light(&self) -> RequestCtx {
        RequestCtx {
            request_id: String::new(),
            api_id: self.api_id.clone(),
            api_name: self.api_name.clone(),
            stage: self.stage.clone(),
            app_id: self.app_id.clone(),
            app_name: self.app_name.clone(),
            user_id: self.user_id.clone(),
            client_ip: self.client_ip,
            method: self.method.clone(),
            path: String::new(),
            origin: None,
            request_headers: None,
            start: self.start,
            request_time_ms: self.request_time_ms,
            status: self.status,
            backend_latency_ms: self.backend_latency_ms,
            rate_limit: None,
            captured: None,
        }
    }

    /// A context for a call from `client_ip` that matched no API yet; the proxy fills in the
    /// rest as the call goes on.
    pub fn new(request_id: String, method: Method, path: String, client_ip: IpAddr) -> Self {
        Self::at(request_id, method, path, client_ip, Instant::now())
    }

    /// [`RequestCtx::new`] for a call that arrived at `start` (the data plane reads the clock
    /// once per call and stamps everything from it).
    pub fn at(
        request_id: String,
        method: Method,
        path: String,
        client_ip: IpAddr,
        start: Instant,
    ) -> Self {
        Self {
            request_id,
            // Empty `Arc<str>`s share one static allocation.
            api_id: Arc::default(),
            api_name: Arc::default(),
            stage: Arc::default(),
            app_id: None,
            app_name: None,
            user_id: None,
            client_ip,
            method,
            path,
            origin: None,
            request_headers: None,
            start,
            request_time_ms: apigw_model::time::millis_at(start),
            status: 0,
            backend_latency_ms: None,
            rate_limit: None,
            captured: None,
        }
    }

    /// The value of a `$context` variable.
    pub fn context_var(&self, name: &str) -> Option<String> {
        Some(match name {
            "$context.requestId" => self.request_id.clone(),
            "$context.apiId" => self.api_id.to_string(),
            "$context.apiName" => self.api_name.to_string(),
            "$context.appId" => self.app_id.as_deref()?.to_string(),
            "$context.appName" => self.app_name.as_deref()?.to_string(),
            "$context.userId" => self.user_id.as_deref()?.to_string(),
            "$context.sourceIp" => self.client_ip.to_string(),
            "$context.stage" => self.stage.to_string(),
            "$context.requestTime" => apigw_model::time::format_millis(self.request_time_ms),
            "$context.httpMethod" => self.method.to_string(),
            "$context.path" => self.path.clone(),
            "$context.statusCode" => self.status.to_string(),
            "$context.backendResponseTime" => self.backend_latency_ms?.to_string(),
            _ => return None,
        })
    }
}

const X_RATELIMIT_LIMIT: http::HeaderName = http::HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: http::HeaderName =
    http::HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: http::HeaderName = http::HeaderName::from_static("x-ratelimit-reset");

/// What building a plug-in instance may need besides its content.
#[derive(Clone)]
pub struct BuildCtx {
    /// Cluster-wide counters, when `APIGW_REDIS_URL` is set.
    pub redis: Option<RedisCounters>,
    /// Milliseconds since the epoch (rate windows); injectable for tests.
    pub clock: Clock,
    /// The in-process counters of classic request throttling policies, shared by every
    /// snapshot so that counts survive reloads.
    pub classic: Arc<crate::counters::LocalCounters>,
}

impl std::fmt::Debug for BuildCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildCtx")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl Default for BuildCtx {
    fn default() -> Self {
        Self {
            redis: None,
            clock: crate::counters::system_clock(),
            classic: Arc::default(),
        }
    }
}

/// A running plug-in instance: one per plug-in content, shared by every API it is bound to.
#[derive(Debug)]
pub enum Instance {
    Cors(cors::Cors),
    SetRespHeaders(set_resp_headers::SetRespHeaders),
    RateLimit(rate_limit::RateLimit),
    Breaker(breaker::Breaker),
    ThirdAuth(third_auth::ThirdAuth),
    KafkaLog(kafka_log::KafkaLog),
}

/// The plug-ins bound to one API in one environment, in phase order.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// The cors plug-in, if bound.
    pub cors: Option<Arc<Instance>>,
    /// The set_resp_headers plug-in, if bound.
    pub set_resp_headers: Option<Arc<Instance>>,
    /// The rate_limit plug-in, if bound.
    pub rate_limit: Option<Arc<Instance>>,
    /// The breaker plug-in, if bound.
    pub breaker: Option<Arc<Instance>>,
    /// The third_auth plug-in, if bound.
    pub third_auth: Option<Arc<Instance>>,
    /// The kafka_log plug-in, if bound.
    pub kafka_log: Option<Arc<Instance>>,
    /// Every bound instance, in the order bound ([`Chain::is_empty`] reads it).
    pub all: Vec<Arc<Instance>>,
}

impl Chain {
    /// Adds a bound instance in its place.
    pub fn push(&mut self, inst: Arc<Instance>) {
        match &*inst {
            Instance::Cors(_) => self.cors = Some(inst.clone()),
            Instance::SetRespHeaders(_) => self.set_resp_headers = Some(inst.clone()),
            Instance::RateLimit(_) => self.rate_limit = Some(inst.clone()),
            Instance::Breaker(_) => self.breaker = Some(inst.clone()),
            Instance::ThirdAuth(_) => self.third_auth = Some(inst.clone()),
            Instance::KafkaLog(_) => self.kafka_log = Some(inst.clone()),
        }
        self.all.push(inst);
    }

    /// Whether nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The preflight phase: a cors preflight is answered here, before authentication.
    pub fn preflight(&self, method: &Method, headers: &Headers, ctx: &RequestCtx) -> Flow {
        match self.cors.as_deref() {
            Some(Instance::Cors(c)) => c.preflight(method, headers, ctx),
            _ => Flow::Continue,
        }
    }

    /// The throttling phase (after authentication): counts the call; `Some` verdict when a
    /// rate_limit plug-in with a limit for this call is bound.
    pub async fn throttle(&self, req: &RequestHead, ctx: &RequestCtx) -> Option<Verdict> {
        match self.rate_limit.as_deref() {
            Some(Instance::RateLimit(r)) => r.check(req, ctx).await,
            _ => None,
        }
    }

    /// The third_auth plug-in, if bound.
    pub fn third_auth(&self) -> Option<&third_auth::ThirdAuth> {
        match self.third_auth.as_deref() {
            Some(Instance::ThirdAuth(t)) => Some(t),
            _ => None,
        }
    }

    /// The kafka_log plug-in, if bound.
    pub fn kafka_log(&self) -> Option<&kafka_log::KafkaLog> {
        match self.kafka_log.as_deref() {
            Some(Instance::KafkaLog(k)) => Some(k),
            _ => None,
        }
    }

    /// The breaker phase, before the backend: `Some` ticket when a breaker is bound; its
    /// `open` says what to do instead of calling the backend.
    pub fn breaker_admit(&self, req: &RequestHead, ctx: &RequestCtx) -> Option<breaker::Ticket> {
        match self.breaker.as_deref() {
            Some(Instance::Breaker(b)) => Some(b.admit(req, ctx)),
            _ => None,
        }
    }

    /// Reports the backend's outcome to the breaker: `timed_out` when it did not answer.
    pub fn breaker_record(
        &self,
        ticket: &breaker::Ticket,
        timed_out: bool,
        status: u16,
        latency_ms: u64,
    ) {
        if let Some(Instance::Breaker(b)) = self.breaker.as_deref() {
            b.record(
                ticket,
                breaker::Breaker::unhealthy(ticket, timed_out, status, latency_ms),
            );
        }
    }

    /// The response-header phase: set_resp_headers, then cors. Runs on every response; a
    /// preflight answered by cors already carries its CORS headers.
    pub fn on_response(&self, headers: &mut Headers, ctx: &RequestCtx, preflight: bool) {
        if let Some(v) = ctx.rate_limit {
            headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(v.limit));
            headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(v.remaining));
            headers.insert(X_RATELIMIT_RESET, HeaderValue::from(v.reset_secs));
        }
        if let Some(Instance::SetRespHeaders(s)) = self.set_resp_headers.as_deref() {
            s.apply(headers, ctx);
        }
        if let (Some(Instance::Cors(c)), false) = (self.cors.as_deref(), preflight) {
            c.apply(headers, ctx);
        }
    }
}
