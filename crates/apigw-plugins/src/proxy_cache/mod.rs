//! proxy_cache: the backend's answers to GET and HEAD kept on the node and served again
//! without calling it (SPEC §7, `docs/proxy_cache.md`).
//!
//! ```json
//! {"cache_key": {"system_params": ["$context.appId"], "parameters": ["page"], "headers": ["x-tenant"]},
//!  "cache_http_status_and_ttl": [{"http_status": [200, 203], "ttl": 300}, {"http_status": [404], "ttl": 10}],
//!  "client_cache_control": {"mode": "apps", "datas": ["app-id"]},
//!  "cacheable_headers": ["etag", "last-modified"]}
//! ```
//!
//! The request hook runs after authentication, third_auth and throttling (a hit is still
//! checked and counted): a fresh entry answers the call (`X-Apig-Cache: HIT`, `Age`), and the
//! response plug-ins (set_resp_headers, cors, kafka_log) see that answer as any other. A miss
//! goes to the backend (`MISS`); the first call that misses a key fills it from the backend's
//! answer as it streams to the client, and the calls missing the same key meanwhile wait for
//! that answer instead of calling the backend too. Calls the cache does not serve — other
//! methods, a named caller's `no-cache` — say `BYPASS`.

pub mod config;
pub mod store;

use crate::chain::{BuildCtx, RequestCtx};
use crate::counters::Clock;
use crate::engine::{BackendResult, Call, Decision, Done, Flow, Io, Plugin, Reply, Step};
use crate::headers::{Headers, RequestHead};
use apigw_model::PluginType;
use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue, AGE, CACHE_CONTROL, CONTENT_LENGTH};
use http::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;
use store::{Entry, Filler, Lookup, Store, MAX_BODY_BYTES};

/// `X-Apig-Cache`: `HIT`, `MISS` or `BYPASS`, on every answer of an API with the plug-in.
pub const X_APIG_CACHE: HeaderName = HeaderName::from_static("x-apig-cache");
/// Longest a call waits for another call's fill of its key before calling the backend itself
/// (APIG's longest backend timeout).
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The headers always kept with a body.
const ALWAYS_STORED: [&str; 3] = ["content-type", "content-encoding", "content-language"];

/// Whose own `Cache-Control` is obeyed.
#[derive(Debug)]
enum Callers {
    None,
    All,
    Apps(Vec<String>),
}

/// A running proxy_cache plug-in.
pub struct ProxyCache {
    store: Arc<Store>,
    /// Milliseconds since the epoch.
    clock: Clock,
    /// What every key of this plug-in and content starts with: a changed content keys anew.
    prefix: String,
    system_params: Vec<String>,
    parameters: Vec<String>,
    headers: Vec<HeaderName>,
    /// Seconds to keep an answer, by status.
    ttls: Vec<(u16, u64)>,
    callers: Callers,
    /// The response headers kept with a body.
    stored: Vec<HeaderName>,
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
}

impl std::fmt::Debug for ProxyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCache")
            .field("prefix", &self.prefix)
            .field("ttls", &self.ttls)
            .field("callers", &self.callers)
            .finish_non_exhaustive()
    }
}

/// What the cache did for a call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The call did not reach the cache (refused before it) or it was not consulted.
    #[default]
    Bypass,
    Hit,
    Miss,
}

/// What proxy_cache keeps about one call.
#[derive(Debug, Default)]
pub struct State {
    mark: Mark,
    fill: Option<Fill>,
}

/// A call filling its key from the backend's answer.
#[derive(Debug)]
struct Fill {
    filler: Filler,
    /// The API's backend answered.
    answered: bool,
    /// The answer being kept, once its head is known to be cacheable.
    kept: Option<Kept>,
}

#[derive(Debug)]
struct Kept {
    status: StatusCode,
    headers: Headers,
    body: BytesMut,
    ttl_ms: u64,
}

/// What a caller's `Cache-Control` asks of the cache.
#[derive(Debug, PartialEq, Eq)]
enum Asks {
    Nothing,
    /// `no-cache` or `max-age=0`: a fresh answer, which refreshes the entry.
    Fresh,
    /// `no-store`: a fresh answer, not kept.
    NoStore,
}

impl ProxyCache {
    /// Builds the plug-in from validated, canonical content.
    pub fn new(
        c: &Config,
        plugin_id: &str,
        canonical: &str,
        store: Arc<Store>,
        clock: Clock,
    ) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        canonical.hash(&mut h);
        let names = |l: &[String]| -> Vec<HeaderName> {
            l.iter()
                .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                .collect()
        };
        let mut stored = names(&ALWAYS_STORED.map(String::from));
        stored.extend(names(&c.cacheable_headers));
        let cc = &c.client_cache_control;
        Self {
            store,
            clock,
            prefix: format!("{plugin_id}:{:016x}", h.finish()),
            system_params: c.cache_key.system_params.clone(),
            parameters: c.cache_key.parameters.clone(),
            headers: names(&c.cache_key.headers),
            ttls: c
                .cache_http_status_and_ttl
                .iter()
                .flat_map(|r| r.http_status.iter().map(|s| (*s, r.ttl)))
                .collect(),
            callers: match cc.mode.as_str() {
                "all" => Callers::All,
                "apps" => Callers::Apps(cc.datas.clone()),
                _ => Callers::None,
            },
            stored,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypasses: AtomicU64::new(0),
        }
    }

    /// The call's key: this plug-in, the API, the environment, the path, then the listed
    /// `$context` values, query parameters (as sent, every value in order) and headers.
    fn key(&self, head: &RequestHead, ctx: &RequestCtx) -> String {
        let mut k = String::with_capacity(96);
        for part in [&*self.prefix, &ctx.api_id, &ctx.stage, &ctx.path] {
            k.push_str(part);
            k.push('\0');
        }
        for p in &self.system_params {
            match p.as_str() {
                // The cache is the node's: the node's own address and name split nothing.
                "$context.serverAddr" | "$context.serverName" => {}
                "$context.handleTime" => k.push_str(&ctx.request_time_ms().to_string()),
                v => k.push_str(&ctx.context_var(v).unwrap_or_default()),
            }
            k.push('\0');
        }
        let query = head.uri.query().unwrap_or("");
        for name in &self.parameters {
            for pair in query.split('&') {
                let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
                if n == name {
                    k.push_str(v);
                    k.push('\x01');
                }
            }
            k.push('\0');
        }
        for name in &self.headers {
            for v in head.headers.get_all(name) {
                k.push_str(&String::from_utf8_lossy(v.as_bytes()));
                k.push('\x01');
            }
            k.push('\0');
        }
        k
    }

    /// What the caller's `Cache-Control` asks, when `client_cache_control` names the caller.
    fn asks(&self, head: &RequestHead, ctx: &RequestCtx) -> Asks {
        let named = match &self.callers {
            Callers::None => false,
            Callers::All => true,
            Callers::Apps(ids) => ctx
                .app_id
                .as_deref()
                .is_some_and(|a| ids.iter().any(|i| i == a)),
        };
        if !named {
            return Asks::Nothing;
        }
        let mut asks = Asks::Nothing;
        for d in directives(&head.headers) {
            match d {
                ("no-store", _) => return Asks::NoStore,
                ("no-cache", _) | ("max-age", Some("0")) => asks = Asks::Fresh,
                _ => {}
            }
        }
        asks
    }

    /// How long to keep the backend's answer with `status` and `headers`, if at all: the
    /// backend's `Cache-Control` prevails (`no-store`, `no-cache`, `private`: not kept;
    /// `s-maxage`, then `max-age`), else the status's ttl; only listed statuses are kept.
    fn ttl_ms(&self, status: u16, headers: &Headers) -> Option<u64> {
        let ttl = self.ttls.iter().find(|(s, _)| *s == status)?.1;
        let (mut s_maxage, mut max_age) = (None, None);
        for d in directives(headers) {
            match d {
                ("no-store" | "no-cache" | "private", _) => return None,
                ("s-maxage", Some(v)) => s_maxage = v.parse::<u64>().ok(),
                ("max-age", Some(v)) => max_age = v.parse::<u64>().ok(),
                _ => {}
            }
        }
        let secs = s_maxage.or(max_age).unwrap_or(ttl);
        (secs > 0).then(|| secs.saturating_mul(1000))
    }

    fn hit(&self, st: &mut State, e: &Entry) -> Flow {
        st.mark = Mark::Hit;
        self.hits.fetch_add(1, Relaxed);
        let mut headers = Headers::with_capacity(e.headers.len() + 2);
        for (n, v) in e.headers.iter() {
            headers.append(n.clone(), v.clone());
        }
        let age = (self.clock)().saturating_sub(e.stored_ms) / 1000;
        headers.insert(AGE, HeaderValue::from(age));
        Flow::Respond(Reply {
            status: e.status,
            headers,
            body: e.body.clone(),
            decision: Decision::Cached,
        })
    }

    fn miss(&self, st: &mut State, filler: Option<Filler>) -> Flow {
        st.mark = Mark::Miss;
        self.misses.fetch_add(1, Relaxed);
        st.fill = filler.map(Fill::new);
        Flow::Continue
    }

    fn bypass(&self, st: &mut State, filler: Option<Filler>) -> Flow {
        st.mark = Mark::Bypass;
        self.bypasses.fetch_add(1, Relaxed);
        st.fill = filler.map(Fill::new);
        Flow::Continue
    }
}

impl Fill {
    fn new(filler: Filler) -> Self {
        Self {
            filler,
            answered: false,
            kept: None,
        }
    }
}

/// The directives of the `Cache-Control` headers: lower-case names, values unquoted.
fn directives(headers: &Headers) -> impl Iterator<Item = (&str, Option<&str>)> {
    headers
        .get_all(CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| {
            let d = d.trim();
            match d.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (d, None),
            }
        })
        .map(|(n, v)| {
            // Directive names are case-insensitive; the ones we act on are ASCII.
            let n = match n {
                _ if n.eq_ignore_ascii_case("no-store") => "no-store",
                _ if n.eq_ignore_ascii_case("no-cache") => "no-cache",
                _ if n.eq_ignore_ascii_case("private") => "private",
                _ if n.eq_ignore_ascii_case("max-age") => "max-age",
                _ if n.eq_ignore_ascii_case("s-maxage") => "s-maxage",
                other => other,
            };
            (n, v)
        })
}

impl Plugin for ProxyCache {
    const TYPE: PluginType = PluginType::ProxyCache;
    type Config = Config;
    type State = State;
    /// After authentication, third_auth and throttling: a hit is still checked and counted.
    const STEP: Option<Step> = Some(Step::Admitted);
    const COMPLETES: bool = true;

    fn build(c: &Config, plugin_id: &str, canonical: &str, ctx: &BuildCtx) -> Result<Self, String> {
        Ok(Self::new(
            c,
            plugin_id,
            canonical,
            ctx.shared.get::<Store>(),
            ctx.clock.clone(),
        ))
    }

    async fn request<I: Io>(&self, st: &mut State, call: &mut Call<'_, I>) -> Flow {
        let get = call.head.method == Method::GET;
        if !get && call.head.method != Method::HEAD {
            return self.bypass(st, None);
        }
        let key = self.key(call.head, call.ctx);
        match self.asks(call.head, call.ctx) {
            Asks::Nothing => {}
            Asks::Fresh => {
                let refill = if get { self.store.refill(&key) } else { None };
                return self.bypass(st, refill);
            }
            Asks::NoStore => return self.bypass(st, None),
        }
        // A HEAD answer has no body to keep: HEAD is served from what GET kept.
        match self.store.lookup(&key, (self.clock)(), get) {
            Some(Lookup::Hit(e)) => self.hit(st, &e),
            Some(Lookup::Fill(f)) => self.miss(st, Some(f)),
            None => self.miss(st, None),
            Some(Lookup::Wait(mut done)) => {
                let _ = tokio::time::timeout(MAX_WAIT, done.changed()).await;
                match self.store.lookup(&key, (self.clock)(), false) {
                    Some(Lookup::Hit(e)) => self.hit(st, &e),
                    // The fill gave up (an answer not to keep) or is still going: the
                    // backend it is, without filling.
                    _ => self.miss(st, None),
                }
            }
        }
    }

    fn backend_result(&self, st: &mut State, r: &BackendResult<'_>) {
        if let Some(f) = &mut st.fill {
            if r.answered && !r.alternate {
                f.answered = true;
            } else {
                st.fill = None;
            }
        }
    }

    fn response_head(&self, st: &mut State, headers: &mut Headers, ctx: &RequestCtx) {
        if let Some(f) = st.fill.take() {
            let too_long = || {
                headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
                    .is_some_and(|n| n > MAX_BODY_BYTES)
            };
            if let Some(ttl_ms) = self
                .ttl_ms(ctx.status, headers)
                .filter(|_| f.answered && !too_long())
            {
                let mut kept = Headers::with_capacity(self.stored.len());
                for name in &self.stored {
                    for v in headers.get_all(name) {
                        kept.append(name.clone(), v.clone());
                    }
                }
                st.fill = Some(Fill {
                    kept: Some(Kept {
                        status: StatusCode::from_u16(ctx.status).unwrap_or(StatusCode::OK),
                        headers: kept,
                        body: BytesMut::new(),
                        ttl_ms,
                    }),
                    ..f
                });
            }
            // Not kept: the filler is dropped here and the waiting calls go on.
        }
        let mark = match st.mark {
            Mark::Hit => "HIT",
            Mark::Miss => "MISS",
            Mark::Bypass => "BYPASS",
        };
        headers.insert(X_APIG_CACHE, HeaderValue::from_static(mark));
    }

    fn response_body(&self, st: &mut State, data: &[u8]) {
        if let Some(k) = st.fill.as_mut().and_then(|f| f.kept.as_mut()) {
            if k.body.len() + data.len() > MAX_BODY_BYTES {
                st.fill = None;
            } else {
                k.body.extend_from_slice(data);
            }
        }
    }

    fn complete(&self, st: &mut State, _: &RequestCtx, done: &Done) {
        let Some(Fill {
            filler,
            kept: Some(k),
            ..
        }) = st.fill.take()
        else {
            return;
        };
        if done.whole {
            let now = (self.clock)();
            filler.store(Entry {
                status: k.status,
                headers: k.headers,
                body: k.body.freeze(),
                stored_ms: now,
                expires_ms: now.saturating_add(k.ttl_ms),
            });
        }
    }

    fn awaits_completion(st: &State) -> bool {
        st.fill.as_ref().is_some_and(|f| f.kept.is_some())
    }

    fn render_metrics(instances: &[(&str, &Self)], out: &mut String) {
        use std::fmt::Write;
        out.push_str(
            "# HELP apigw_cache_requests_total Calls of cached APIs: answered from the cache \
             (hit), from the backend (miss), or not served by the cache (bypass).\n\
             # TYPE apigw_cache_requests_total counter\n",
        );
        for (id, c) in instances {
            for (result, n) in [
                ("hit", &c.hits),
                ("miss", &c.misses),
                ("bypass", &c.bypasses),
            ] {
                let _ = writeln!(
                    out,
                    "apigw_cache_requests_total{{plugin_id=\"{id}\",result=\"{result}\"}} {}",
                    n.load(Relaxed)
                );
            }
        }
        if let Some((_, c)) = instances.first() {
            let _ = write!(
                out,
                "# HELP apigw_cache_bytes Memory the node's cache entries take.\n\
                 # TYPE apigw_cache_bytes gauge\napigw_cache_bytes {}\n\
                 # HELP apigw_cache_entries Entries in the node's cache.\n\
                 # TYPE apigw_cache_entries gauge\napigw_cache_entries {}\n",
                c.store.bytes(),
                c.store.entries()
            );
        }
    }
}

#[cfg(test)]
mod tests;
