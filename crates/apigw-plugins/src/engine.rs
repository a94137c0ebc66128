//! The plug-in engine (SPEC §6): the phases a plug-in type implements, what they may decide,
//! and the one list of types, in the order their phases run.
//!
//! A call goes: route → request phase at [`Step::Routed`] (kafka_log keeps the request) →
//! access control by IP (the proxy) → request phase at [`Step::Screened`] (cors answers
//! preflights) → API authentication and access control by account (the proxy) → request phase
//! at [`Step::Authenticated`] (third_auth) → classic throttling policies (the proxy) → request
//! phase at [`Step::Admitted`] (rate_limit, proxy_cache's hits, breaker, proxy_mirror's copy)
//! → the backend, or what a request phase chose instead → backend result (breaker) → response
//! head (rate_limit's headers, set_resp_headers, cors, then kafka_log logs the call or keeps
//! the head) → response body → complete (kafka_log, when its message needs the body). The
//! response phases also run on the answers the gateway makes itself.
//!
//! Request hooks run in the declared order (by step), response hooks in the reverse order: the
//! first type declared sees the request first and the response last, as layers do.
//!
//! A type is one module implementing [`Plugin`] (every phase has a no-op default) and one line
//! in [`plugin_types!`]'s invocation below; nothing in the proxy names it. The types are a closed
//! list, so a chain holds an enum and dispatches with `match`: no boxing, no virtual calls.

use bytes::Bytes;
use http::StatusCode;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::chain::{BuildCtx, RequestCtx};
use crate::headers::{Headers, RequestHead, Touched};
use crate::registry::ContentModel;
use apigw_model::PluginType;

/// Where in the request phase a type's request hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Right after routing, before anything is checked (kafka_log keeps the request, so a
    /// refused call is logged too).
    Routed,
    /// After access control by IP, before authentication (cors answers preflights, which
    /// carry no credentials).
    Screened,
    /// After access control and API authentication.
    Authenticated,
    /// After the classic throttling policies, just before the backend.
    Admitted,
}

/// What the gateway decided about a call, as its metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sent to the backend.
    Proxied = 0,
    /// Answered by a MOCK backend.
    Mocked = 1,
    /// A CORS preflight answered by the cors plug-in.
    Preflight = 2,
    /// Refused by API authentication (or third_auth).
    AuthRejected = 3,
    /// The backend failed or timed out.
    BackendError = 4,
    /// The client's request was refused (too large, unreadable).
    BadRequest = 5,
    /// Refused by rate_limit or a throttling policy.
    Throttled = 6,
    /// Answered by a breaker's downgrade (or 503) while it is open.
    Downgraded = 7,
    /// Refused by an access control policy (IP or account).
    AccessDenied = 8,
    /// Answered from what a plug-in kept (a response cache).
    Cached = 9,
}

impl Decision {
    /// Every decision, in the order of their values.
    pub const ALL: [Decision; 10] = [
        Decision::Proxied,
        Decision::Mocked,
        Decision::Preflight,
        Decision::AuthRejected,
        Decision::BackendError,
        Decision::BadRequest,
        Decision::Throttled,
        Decision::Downgraded,
        Decision::AccessDenied,
        Decision::Cached,
    ];

    /// Its name in the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Proxied => "proxied",
            Decision::Mocked => "mocked",
            Decision::Preflight => "preflight",
            Decision::AuthRejected => "auth_rejected",
            Decision::BackendError => "backend_error",
            Decision::BadRequest => "bad_request",
            Decision::Throttled => "throttled",
            Decision::Downgraded => "downgraded",
            Decision::AccessDenied => "access_denied",
            Decision::Cached => "cached",
        }
    }
}

/// What a request hook decided.
#[derive(Debug)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Answer now with this response (the response phases still run).
    Respond(Reply),
    /// Refuse with one of the gateway's errors (answered through the route's gateway
    /// responses).
    Refuse(Refusal),
    /// Call this backend instead of the API's.
    Backend(AltBackend),
}

/// A response a plug-in makes.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Headers,
    pub body: Bytes,
    pub decision: Decision,
}

/// The gateway's own refusals a plug-in may answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over a limit; `retry_after` seconds until the window resets.
    Throttled { retry_after: u64 },
    /// Too many failed authentications from this client (third_auth).
    AuthForbidden,
    /// An identity source marked essential is missing (third_auth).
    IdentityMissing,
    /// The auth service refused the call (third_auth).
    ThirdAuthFailed,
    /// The auth service could not be reached or failed (third_auth).
    AuthServiceError,
    /// The breaker is open and nothing else serves the call.
    BreakerOpen,
    /// The request body is over a limit.
    BodyTooLarge,
    /// The client did not send its body in time.
    ClientTimeout,
    /// The request body could not be read.
    BadBody,
}

impl Refusal {
    /// How the metrics count the refusal.
    pub fn decision(self) -> Decision {
        match self {
            Refusal::Throttled { .. } => Decision::Throttled,
            Refusal::AuthForbidden
            | Refusal::IdentityMissing
            | Refusal::ThirdAuthFailed
            | Refusal::AuthServiceError => Decision::AuthRejected,
            Refusal::BreakerOpen => Decision::Downgraded,
            Refusal::BodyTooLarge | Refusal::ClientTimeout | Refusal::BadBody => {
                Decision::BadRequest
            }
        }
    }
}

/// Another HTTP backend for the call (a breaker's downgrade).
#[derive(Debug, Clone)]
pub struct AltBackend {
    pub https: bool,
    /// `host[:port]`.
    pub address: String,
    /// The method; the request's when `None`.
    pub method: Option<String>,
    pub path: String,
    pub timeout_ms: u64,
}

/// A call to a service a plug-in needs on the way (an auth service).
#[derive(Debug)]
pub struct ServiceCall {
    pub method: http::Method,
    pub https: bool,
    /// `host[:port]`.
    pub url_domain: String,
    pub path_and_query: String,
    pub headers: Headers,
    pub timeout: Duration,
}

/// A service's answer: status, headers, body (cut at 64 KiB).
pub type ServiceAnswer = (u16, Headers, Bytes);

/// What the proxy does for a request hook.
pub trait Io: Send {
    /// The client's body, read whole once (later calls answer the same bytes; the backend
    /// gets them too).
    fn body(&mut self) -> impl Future<Output = Result<Bytes, Refusal>> + Send;
    /// Calls a service; `None` when it cannot be reached or does not answer in time.
    fn call(
        &mut self,
        call: ServiceCall,
        body: Bytes,
    ) -> impl Future<Output = Option<ServiceAnswer>> + Send;
    /// Sends a call in the background, its answer discarded: nothing of the call waits for
    /// it. `false` when too many are in flight already (the call is dropped).
    fn detach(&mut self, call: ServiceCall, body: Bytes) -> bool;
}

/// The call as a request hook sees it.
pub struct Call<'a, I: Io> {
    /// The request head, as it will go to the backend.
    pub head: &'a mut RequestHead,
    pub ctx: &'a RequestCtx,
    pub io: &'a mut I,
}

impl<I: Io> std::fmt::Debug for Call<'_, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// How a backend call went, for the backend result hook.
#[derive(Debug)]
pub struct BackendResult<'a> {
    /// The backend's address.
    pub authority: &'a http::uri::Authority,
    /// The path and query sent.
    pub target: &'a str,
    /// The status answered: the backend's, or the gateway's when it failed.
    pub status: u16,
    /// The backend itself failed (timed out, unreachable): not the client's doing.
    pub backend_failed: bool,
    /// The backend answered: the response is its (not an error the gateway made).
    pub answered: bool,
    /// It is another backend a request hook chose (a breaker's downgrade), not the API's.
    pub alternate: bool,
    pub latency_ms: u64,
}

/// What the complete hook learns about the finished call.
#[derive(Debug)]
pub struct Done {
    /// Response body bytes sent.
    pub sent: u64,
    /// The body came whole from its source (the backend's to its end, without an error);
    /// the client may still have gone away before taking all of it.
    pub whole: bool,
}

/// A plug-in type's running instance: built once per content, shared by every API it is
/// bound to. Every phase is a no-op unless the type implements it.
pub trait Plugin: Sized + Send + Sync + std::fmt::Debug {
    /// The `plugin_type` it is.
    const TYPE: PluginType;
    /// Its `plugin_content` model.
    type Config: ContentModel;
    /// What it keeps about one call between its phases.
    type State: Default + Send + std::fmt::Debug;
    /// Where its request hook runs; `None` (the default): it has none, and no step calls it.
    const STEP: Option<Step> = None;
    /// It answers CORS preflights: a preflight is routed by the method it asks about when
    /// such a plug-in is bound to that route.
    const ANSWERS_PREFLIGHTS: bool = false;
    /// It decides throttling: classic throttling policies do not run beside it (as APIG).
    const THROTTLES: bool = false;
    /// It has a response body or complete hook: the proxy keeps the call's state until the
    /// response is sent only then.
    const COMPLETES: bool = false;
    /// The most plug-ins of the type one gateway may hold, where APIG limits it (APIG.3100).
    const MAX_PER_INSTANCE: Option<u64> = None;
    /// It may be bound to an API whose backend is MOCK.
    const BINDS_TO_MOCK: bool = true;

    /// Builds the instance of valid canonical content.
    fn build(
        config: &Self::Config,
        plugin_id: &str,
        canonical: &str,
        ctx: &BuildCtx,
    ) -> Result<Self, String>;

    /// The request hook, at [`Plugin::STEP`].
    fn request<I: Io>(
        &self,
        _state: &mut Self::State,
        _call: &mut Call<'_, I>,
    ) -> impl Future<Output = Flow> + Send {
        async { Flow::Continue }
    }

    /// The backend answered (or failed).
    fn backend_result(&self, _state: &mut Self::State, _result: &BackendResult<'_>) {}

    /// The response head, before it is sent.
    fn response_head(&self, _state: &mut Self::State, _headers: &mut Headers, _ctx: &RequestCtx) {}

    /// The response headers its response head hook reads or changes (appending needs no
    /// mention): all unless the type says otherwise. A backend's header lines of other names
    /// go to the client as they were received, outside the hook's list.
    fn touches_response_headers(&self) -> Touched {
        Touched::All
    }

    /// At most how many headers its response head hook adds: the list gets the room of the
    /// chain's plug-ins once, before their hooks run, instead of growing as they append.
    fn response_headers_added(&self) -> usize {
        0
    }

    /// A piece of the response body, as it is sent (only with [`Plugin::COMPLETES`]).
    fn response_body(&self, _state: &mut Self::State, _data: &[u8]) {}

    /// The response is sent, or the client went away (only with [`Plugin::COMPLETES`]).
    fn complete(&self, _state: &mut Self::State, _ctx: &RequestCtx, _done: &Done) {}

    /// Whether this call's state still needs the response body and complete hooks (only
    /// asked with [`Plugin::COMPLETES`]): a call with nothing to finish is not kept.
    fn awaits_completion(_state: &Self::State) -> bool {
        Self::COMPLETES
    }

    /// Writes the type's metrics in Prometheus' text format (for `/metrics`), from its running
    /// instances (with their plug-in ids).
    fn render_metrics(_instances: &[(&str, &Self)], _out: &mut String) {}
}

/// Declares the plug-in types, in the order their phases run: the running [`Instance`], the
/// per-call [`States`], the dispatch of every phase, and the registry's validation and build.
macro_rules! plugin_types {
    ($($field:ident: $variant:ident => $ty:ty),* $(,)?) => {
        /// A running plug-in instance.
        #[derive(Debug)]
        pub enum Instance {
            $($variant($ty),)*
        }

        /// What every bound type keeps about one call.
        #[derive(Debug, Default)]
        pub struct States {
            $($field: <$ty as Plugin>::State,)*
        }

        impl Instance {
            /// Its type's place in the order.
            fn rank(&self) -> usize {
                let mut i = 0;
                $(
                    if let Instance::$variant(_) = self {
                        return i;
                    }
                    i += 1;
                )*
                i
            }

            fn step(&self) -> Option<Step> {
                match self {
                    $(Instance::$variant(_) => <$ty as Plugin>::STEP,)*
                }
            }

            fn flags(&self) -> (bool, bool, bool) {
                match self {
                    $(Instance::$variant(_) => (
                        <$ty as Plugin>::ANSWERS_PREFLIGHTS,
                        <$ty as Plugin>::THROTTLES,
                        <$ty as Plugin>::COMPLETES,
                    ),)*
                }
            }

            async fn request<I: Io>(&self, s: &mut States, call: &mut Call<'_, I>) -> Flow {
                match self {
                    $(Instance::$variant(p) => p.request(&mut s.$field, call).await,)*
                }
            }

            fn backend_result(&self, s: &mut States, r: &BackendResult<'_>) {
                match self {
                    $(Instance::$variant(p) => p.backend_result(&mut s.$field, r),)*
                }
            }

            fn response_head(&self, s: &mut States, h: &mut Headers, ctx: &RequestCtx) {
                match self {
                    $(Instance::$variant(p) => p.response_head(&mut s.$field, h, ctx),)*
                }
            }

            fn touches_response_headers(&self) -> Touched {
                match self {
                    $(Instance::$variant(p) => p.touches_response_headers(),)*
                }
            }

            fn response_headers_added(&self) -> usize {
                match self {
                    $(Instance::$variant(p) => p.response_headers_added(),)*
                }
            }

            fn response_body(&self, s: &mut States, data: &[u8]) {
                match self {
                    $(Instance::$variant(p) => p.response_body(&mut s.$field, data),)*
                }
            }

            fn awaits_completion(&self, s: &States) -> bool {
                match self {
                    $(Instance::$variant(_) => <$ty as Plugin>::awaits_completion(&s.$field),)*
                }
            }

            fn complete(&self, s: &mut States, ctx: &RequestCtx, done: &Done) {
                match self {
                    $(Instance::$variant(p) => p.complete(&mut s.$field, ctx, done),)*
                }
            }
        }

        /// Writes every type's metrics in Prometheus' text format, from the running
        /// instances (with their plug-in ids).
        pub fn render_metrics(instances: &[(&str, &Instance)], out: &mut String) {
            $(
                let of_type: Vec<(&str, &$ty)> = instances
                    .iter()
                    .filter_map(|(id, i)| match i {
                        Instance::$variant(p) => Some((*id, p)),
                        _ => None,
                    })
                    .collect();
                <$ty as Plugin>::render_metrics(&of_type, out);
            )*
        }

        /// Whether a plug-in of `plugin_type` may be bound to an API whose backend is MOCK.
        pub fn binds_to_mock(plugin_type: PluginType) -> bool {
            $(
                if plugin_type == <$ty as Plugin>::TYPE {
                    return <$ty as Plugin>::BINDS_TO_MOCK;
                }
            )*
            true
        }

        /// The most plug-ins of `plugin_type` one gateway may hold, if limited.
        pub(crate) fn max_per_instance(plugin_type: PluginType) -> Option<u64> {
            $(
                if plugin_type == <$ty as Plugin>::TYPE {
                    return <$ty as Plugin>::MAX_PER_INSTANCE;
                }
            )*
            None
        }

        /// Validates decoded content as `plugin_type`'s model.
        pub(crate) fn check_content(
            plugin_type: PluginType,
            content: serde_json::Value,
        ) -> Result<serde_json::Value, Vec<apigw_model::FieldError>> {
            $(
                if plugin_type == <$ty as Plugin>::TYPE {
                    return crate::registry::check::<<$ty as Plugin>::Config>(content);
                }
            )*
            unreachable!("every plug-in type is declared")
        }

        /// Applies `plugin_type`'s content hook `f` (secret masking and keeping).
        pub(crate) fn with_model<R>(
            plugin_type: PluginType,
            f: impl ContentHook<R>,
        ) -> R {
            $(
                if plugin_type == <$ty as Plugin>::TYPE {
                    return f.run::<<$ty as Plugin>::Config>();
                }
            )*
            unreachable!("every plug-in type is declared")
        }

        /// Builds the running instance of valid canonical content.
        pub(crate) fn build_instance(
            plugin_type: PluginType,
            plugin_id: &str,
            canonical: &str,
            ctx: &BuildCtx,
        ) -> Result<Instance, String> {
            $(
                if plugin_type == <$ty as Plugin>::TYPE {
                    let config: <$ty as Plugin>::Config =
                        serde_json::from_str(canonical).map_err(|e| e.to_string())?;
                    return <$ty as Plugin>::build(&config, plugin_id, canonical, ctx)
                        .map(Instance::$variant);
                }
            )*
            Err(format!("{plugin_type} is not a declared plug-in type"))
        }
    };
}

/// A content-model operation run for the model of a type chosen at run time.
pub(crate) trait ContentHook<R> {
    fn run<M: ContentModel>(self) -> R;
}

// The plug-in types, outermost first: request hooks run in this order within their step,
// response hooks in the reverse one (rate_limit's headers, set_resp_headers, cors over them,
// kafka_log keeping the result). A proxy_cache hit is counted by rate_limit and never reaches
// the breaker or the mirror; the cache keeps the backend's answer before the response
// plug-ins change it.
plugin_types! {
    kafka_log: KafkaLog => crate::kafka_log::KafkaLog,
    cors: Cors => crate::cors::Cors,
    set_resp_headers: SetRespHeaders => crate::set_resp_headers::SetRespHeaders,
    third_auth: ThirdAuth => crate::third_auth::ThirdAuth,
    rate_limit: RateLimit => crate::rate_limit::RateLimit,
    proxy_cache: ProxyCache => crate::proxy_cache::ProxyCache,
    breaker: Breaker => crate::breaker::Breaker,
    proxy_mirror: ProxyMirror => crate::proxy_mirror::ProxyMirror,
}

/// The plug-ins bound to one API in one environment, in the declared order.
#[derive(Debug)]
pub struct Chain {
    all: Vec<Arc<Instance>>,
    /// The steps some bound type has a request hook at (bit `1 << step`).
    steps: u8,
    answers_preflights: bool,
    throttles: bool,
    completes: bool,
    /// The response headers the bound plug-ins' response head hooks read or change.
    touches_response_headers: Touched,
    /// At most how many headers their response head hooks add.
    response_headers_added: usize,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Chain {
    /// The chain of these instances (any order).
    pub fn new(mut all: Vec<Arc<Instance>>) -> Self {
        all.sort_by_key(|i| i.rank());
        let flags = all.iter().map(|i| i.flags());
        let (mut p, mut t, mut c) = (false, false, false);
        for (a, b, d) in flags {
            p |= a;
            t |= b;
            c |= d;
        }
        let steps = all
            .iter()
            .filter_map(|i| i.step())
            .fold(0, |m, s| m | 1 << s as u8);
        let touches_response_headers = all
            .iter()
            .fold(Touched::none(), |t, i| t.and(i.touches_response_headers()));
        let response_headers_added = all.iter().map(|i| i.response_headers_added()).sum();
        Self {
            all,
            steps,
            answers_preflights: p,
            throttles: t,
            completes: c,
            touches_response_headers,
            response_headers_added,
        }
    }

    /// The bound instances, in the declared order.
    pub fn instances(&self) -> &[Arc<Instance>] {
        &self.all
    }

    /// Whether nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Whether a bound type has a request hook at `step`.
    pub fn hooks_at(&self, step: Step) -> bool {
        self.steps & 1 << step as u8 != 0
    }

    /// The response headers the bound plug-ins' response head hooks read or change: a
    /// backend's lines of other names may be passed as received.
    pub fn touches_response_headers(&self) -> &Touched {
        &self.touches_response_headers
    }

    /// Whether a bound plug-in reads every response header: a backend's lines are then read
    /// into the list as they arrive.
    pub fn touches_every_response_header(&self) -> bool {
        matches!(self.touches_response_headers, Touched::All)
    }

    /// At most how many headers the bound plug-ins' response head hooks add.
    pub fn response_headers_added(&self) -> usize {
        self.response_headers_added
    }

    /// Whether a bound plug-in answers CORS preflights.
    pub fn answers_preflights(&self) -> bool {
        self.answers_preflights
    }

    /// Whether a bound plug-in decides throttling (classic policies then do not run).
    pub fn throttles(&self) -> bool {
        self.throttles
    }

    /// Whether a bound plug-in needs this call until its response is sent.
    pub fn awaits_completion(&self, states: &States) -> bool {
        self.completes && self.all.iter().any(|i| i.awaits_completion(states))
    }

    /// The request hooks at `step`, in order, until one decides something else than
    /// continuing.
    pub async fn request<I: Io>(
        &self,
        step: Step,
        states: &mut States,
        call: &mut Call<'_, I>,
    ) -> Flow {
        for inst in &self.all {
            if inst.step() == Some(step) {
                let flow = inst.request(states, call).await;
                if !matches!(flow, Flow::Continue) {
                    return flow;
                }
            }
        }
        Flow::Continue
    }

    /// The backend result hooks.
    pub fn backend_result(&self, states: &mut States, result: &BackendResult<'_>) {
        for inst in self.all.iter().rev() {
            inst.backend_result(states, result);
        }
    }

    /// The response head hooks.
    pub fn response_head(&self, states: &mut States, headers: &mut Headers, ctx: &RequestCtx) {
        for inst in self.all.iter().rev() {
            inst.response_head(states, headers, ctx);
        }
    }

    /// The response body hooks.
    pub fn response_body(&self, states: &mut States, data: &[u8]) {
        for inst in self.all.iter().rev() {
            inst.response_body(states, data);
        }
    }

    /// The complete hooks.
    pub fn complete(&self, states: &mut States, ctx: &RequestCtx, done: &Done) {
        for inst in self.all.iter().rev() {
            inst.complete(states, ctx, done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(plugin_type: PluginType, content: &str) -> Arc<Instance> {
        let built = crate::registry::build(plugin_type, "p", content, &BuildCtx::default());
        Arc::new(built.expect(content))
    }

    #[tokio::test]
    async fn a_chain_touches_the_response_headers_its_bound_plug_ins_name() {
        let quiet_log = r#"{"broker_list":["127.0.0.1:9"],"topic":"t"}"#;
        let header_log = r#"{"broker_list":["127.0.0.1:9"],"topic":"t",
            "meta_config":{"call_data":{"log_response_header":true}}}"#;
        let breaker = r#"{"breaker_condition":{"breaker_type":"timeout","breaker_mode":"counter",
            "unhealthy_threshold":5,"time_window":60,"open_breaker_time":60},"scope":"basic"}"#;
        let cors = r#"{"allow_origin":"*"}"#;
        let cors_listing = r#"{"allow_origin":"*","expose_headers":"*","allow_credentials":true}"#;
        let limit = r#"{"api_limit":1000,"default_time_unit":"day"}"#;
        let set = r#"{"response_headers":[
            {"name":"X-Demo","value":"a","value_type":"custom_value","action":"override"},
            {"name":"Server","value":"","value_type":"custom_value","action":"delete"}]}"#;
        assert_eq!(
            *Chain::default().touches_response_headers(),
            Touched::none()
        );
        let quiet = Chain::new(vec![
            bound(PluginType::KafkaLog, quiet_log),
            bound(PluginType::Breaker, breaker),
        ]);
        assert_eq!(*quiet.touches_response_headers(), Touched::none());
        let named = Chain::new(vec![
            bound(PluginType::Breaker, breaker),
            bound(PluginType::RateLimit, limit),
            bound(PluginType::SetRespHeaders, set),
            bound(PluginType::Cors, cors),
        ]);
        assert!(!named.touches_every_response_header());
        let Touched::Named { names, prefixes } = named.touches_response_headers() else {
            panic!("named: {named:?}");
        };
        let mut names: Vec<_> = names.iter().map(|n| n.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "server",
                "x-demo",
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset"
            ]
        );
        assert_eq!(*prefixes, ["access-control-"]);
        for reading in [
            bound(PluginType::KafkaLog, header_log),
            bound(PluginType::Cors, cors_listing),
        ] {
            let chain = Chain::new(vec![bound(PluginType::RateLimit, limit), reading]);
            assert_eq!(*chain.touches_response_headers(), Touched::All, "{chain:?}");
            assert!(chain.touches_every_response_header());
        }
    }

    #[test]
    fn a_chain_declares_room_for_every_response_header_its_plug_ins_add() {
        let limit = r#"{"api_limit":1000,"default_time_unit":"day"}"#;
        let set = r#"{"response_headers":[
            {"name":"X-A","value":"a","value_type":"custom_value","action":"add"},
            {"name":"X-B","value":"b","value_type":"custom_value","action":"override"}]}"#;
        let cors = r#"{"allow_origin":"https://a.example","expose_headers":"X-A",
            "allow_credentials":true}"#;
        let chain = Chain::new(vec![
            bound(PluginType::RateLimit, limit),
            bound(PluginType::SetRespHeaders, set),
            bound(PluginType::Cors, cors),
        ]);
        assert_eq!(chain.response_headers_added(), 3 + 2 + 4);
        assert_eq!(Chain::default().response_headers_added(), 0);
        // Each type at its most: an allowed origin with credentials and exposed headers,
        // every rule adding, a verdict.
        let mut states = States {
            rate_limit: Some(crate::counters::Verdict {
                allowed: true,
                limit: 1000,
                remaining: 999,
                reset_secs: 60,
            }),
            ..States::default()
        };
        let mut ctx = RequestCtx::new(
            "r".into(),
            http::Method::GET,
            "/".into(),
            std::net::Ipv4Addr::LOCALHOST.into(),
        );
        ctx.origin = Some(http::HeaderValue::from_static("https://a.example"));
        let mut headers = Headers::new();
        chain.response_head(&mut states, &mut headers, &ctx);
        assert_eq!(headers.len(), chain.response_headers_added(), "{headers:?}");
    }
}
