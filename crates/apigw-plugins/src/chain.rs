//! The request context every plug-in phase reads, and what building an instance may need.
//! The phases and the chain are in [`crate::engine`].

use http::{HeaderValue, Method};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::counters::{Clock, RedisCounters};

pub use crate::engine::{Chain, Flow, Instance};

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
    pub path: RequestPath,
    /// The request's `Origin`, for cors.
    pub origin: Option<HeaderValue>,
    /// The request's `Access-Control-Request-Headers`, for cors preflights.
    pub request_headers: Option<HeaderValue>,
    /// When the gateway received the call.
    pub start: Instant,
    /// The response status, once known.
    pub status: u16,
    /// Time the backend took to answer with headers, once known.
    pub backend_latency_ms: Option<u64>,
    /// The route authenticates with the gateway's own IAM tokens: `X-Auth-Token` is the
    /// admin credential, never to be logged or passed on.
    pub iam: bool,
    /// The client's body, when the gateway read it whole (a signature or a plug-in needed it).
    pub body: Option<bytes::Bytes>,
}

/// A call's request path: a share of the request's own target (a reference count, not a
/// copy: every call has one), or text of its own.
#[derive(Debug, Clone)]
pub enum RequestPath {
    /// The request's target: the path is its part before the query.
    Target(http::uri::PathAndQuery),
    /// A path as text.
    Text(String),
}

impl Default for RequestPath {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

impl std::ops::Deref for RequestPath {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Self::Target(target) => target.path(),
            Self::Text(text) => text,
        }
    }
}

impl std::fmt::Display for RequestPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl From<&http::Uri> for RequestPath {
    fn from(uri: &http::Uri) -> Self {
        match uri.path_and_query() {
            Some(target) => Self::Target(target.clone()),
            None => Self::Text(uri.path().to_string()),
        }
    }
}

impl From<String> for RequestPath {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for RequestPath {
    fn from(text: &str) -> Self {
        Self::Text(text.to_string())
    }
}

/// The API a call matched, as its context names it.
#[derive(Debug, Clone, Copy)]
pub struct MatchedApi<'a> {
    pub id: &'a Arc<str>,
    pub name: &'a Arc<str>,
    /// The environment's name.
    pub stage: &'a Arc<str>,
}

impl RequestCtx {
    /// The context for the call's completion once the response is made: the owned parts
    /// (request id, path, origin, the body read) move out, the rest is copied; `self` is not
    /// used afterwards.
    pub fn take_for_completion(&mut self) -> RequestCtx {
        RequestCtx {
            request_id: std::mem::take(&mut self.request_id),
            path: std::mem::take(&mut self.path),
            origin: self.origin.take(),
            request_headers: self.request_headers.take(),
            body: self.body.take(),
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
            path: RequestPath::default(),
            origin: None,
            request_headers: None,
            start: self.start,
            status: self.status,
            backend_latency_ms: self.backend_latency_ms,
            iam: self.iam,
            body: None,
        }
    }

    /// A context for a call from `client_ip` that matched no API yet; the proxy fills in the
    /// rest as the call goes on.
    pub fn new(request_id: String, method: Method, path: RequestPath, client_ip: IpAddr) -> Self {
        Self::at(request_id, method, path, client_ip, Instant::now(), None)
    }

    /// [`RequestCtx::new`] for a call that arrived at `start` (the data plane reads the clock
    /// once per call and stamps everything from it), that matched `api` if any.
    pub fn at(
        request_id: String,
        method: Method,
        path: RequestPath,
        client_ip: IpAddr,
        start: Instant,
        api: Option<MatchedApi<'_>>,
    ) -> Self {
        // The matched API's names, or empty ones. (An empty `Arc<str>` is a count on a static
        // all threads share: a matched call does not take one only to drop it.)
        let (api_id, api_name, stage) = match api {
            Some(a) => (a.id.clone(), a.name.clone(), a.stage.clone()),
            None => Default::default(),
        };
        Self {
            request_id,
            api_id,
            api_name,
            stage,
            app_id: None,
            app_name: None,
            user_id: None,
            client_ip,
            method,
            path,
            origin: None,
            request_headers: None,
            start,
            status: 0,
            backend_latency_ms: None,
            iam: false,
            body: None,
        }
    }

    /// Milliseconds since the epoch when the call arrived (worked out when asked: most calls
    /// never ask).
    pub fn request_time_ms(&self) -> i64 {
        apigw_model::time::millis_at(self.start)
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
            "$context.requestTime" => apigw_model::time::format_millis(self.request_time_ms()),
            "$context.httpMethod" => self.method.to_string(),
            "$context.path" => self.path.to_string(),
            "$context.statusCode" => self.status.to_string(),
            "$context.backendResponseTime" => self.backend_latency_ms?.to_string(),
            _ => return None,
        })
    }
}

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
    /// What a plug-in type keeps for the whole node, across its instances and reloads (a
    /// response cache's entries and its memory budget).
    pub shared: Arc<Shared>,
}

/// Per-node state of the plug-in types, one value of each kind, made on first use.
#[derive(Default)]
pub struct Shared(std::sync::Mutex<Vec<Arc<dyn std::any::Any + Send + Sync>>>);

impl Shared {
    /// The node's `T`, made with `T::default()` the first time it is asked for.
    pub fn get<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = all.iter().find_map(|a| a.clone().downcast::<T>().ok()) {
            return t;
        }
        let t = Arc::new(T::default());
        all.push(t.clone());
        t
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
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
            shared: Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_path_is_its_targets_path_without_the_query() {
        for (uri, path) in [
            ("/v1/users/7?x=1&y", "/v1/users/7"),
            ("/a%20b", "/a%20b"),
            ("http://h.example/p?q", "/p"),
            ("http://h.example", "/"),
            ("*", "*"),
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            let shared = RequestPath::from(&uri);
            assert_eq!(&*shared, path, "{uri}");
            assert_eq!(shared.to_string(), uri.path(), "{uri}");
        }
        assert_eq!(&*RequestPath::from("/text"), "/text");
        assert_eq!(&*RequestPath::default(), "");
    }
}
