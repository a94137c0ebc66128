//! The plug-in's phases on calls made by hand, with an injected clock: what is kept, for how
//! long, under which key, and what a hit answers. End to end: `apigw/tests/proxy_cache.rs`.

use super::*;
use crate::engine::{Refusal, ServiceAnswer, ServiceCall};
use crate::registry::validate;
use bytes::Bytes;
use serde_json::json;
use std::sync::atomic::AtomicU64;

struct NoIo;

impl Io for NoIo {
    async fn body(&mut self) -> Result<Bytes, Refusal> {
        Ok(Bytes::new())
    }
    async fn call(&mut self, _: ServiceCall, _: Bytes) -> Option<ServiceAnswer> {
        None
    }
    fn detach(&mut self, _: ServiceCall, _: Bytes) -> bool {
        false
    }
}

struct World {
    cache: ProxyCache,
    now: Arc<AtomicU64>,
}

/// What a call came to: the cache's mark, and the answer when it was a hit.
#[derive(Debug)]
struct Outcome {
    mark: &'static str,
    hit: Option<Reply>,
}

/// A backend answer: status, headers, body.
struct Answer<'a> {
    status: u16,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
}

const OK: Answer = Answer {
    status: 200,
    headers: &[("content-type", "text/plain")],
    body: b"fresh",
};

fn world(content: serde_json::Value) -> World {
    let c = validate(PluginType::ProxyCache, content).unwrap();
    let canonical = c.to_string();
    let config: Config = serde_json::from_value(c).unwrap();
    let now = Arc::new(AtomicU64::new(1_000_000));
    let n = now.clone();
    let clock: Clock = Arc::new(move || n.load(Relaxed));
    World {
        cache: ProxyCache::new(&config, "p1", &canonical, Arc::default(), clock),
        now,
    }
}

fn basic() -> World {
    world(
        json!({"cache_key": {"parameters": ["page"], "headers": ["x-tenant"]},
                 "cache_http_status_and_ttl": [{"http_status": [200], "ttl": 10}, {"http_status": [404], "ttl": 2}],
                 "client_cache_control": {"mode": "apps", "datas": ["app-a"]},
                 "cacheable_headers": ["etag"]}),
    )
}

fn head(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.append(n.parse().unwrap(), v.parse().unwrap());
    }
    RequestHead {
        method: method.parse().unwrap(),
        uri: target.parse().unwrap(),
        version: http::Version::HTTP_11,
        headers: h,
    }
}

fn ctx(head: &RequestHead, app: Option<&str>) -> RequestCtx {
    let mut c = RequestCtx::new(
        "req".into(),
        head.method.clone(),
        head.uri.path().into(),
        "10.0.0.1".parse().unwrap(),
    );
    c.api_id = "api1".into();
    c.stage = "RELEASE".into();
    c.app_id = app.map(Into::into);
    c
}

impl World {
    fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Relaxed);
    }

    /// One call through the plug-in's phases; the backend answers `answer` when the call
    /// reaches it, its body sent whole unless `cut`.
    async fn call_with(
        &self,
        head: &mut RequestHead,
        app: Option<&str>,
        answer: &Answer<'_>,
        cut: bool,
    ) -> Outcome {
        let mut ctx = ctx(head, app);
        let mut st = State::default();
        let flow = self
            .cache
            .request(
                &mut st,
                &mut Call {
                    head,
                    ctx: &ctx,
                    io: &mut NoIo,
                },
            )
            .await;
        let mut headers = Headers::new();
        let hit = match flow {
            Flow::Respond(reply) => {
                headers = reply.headers.clone();
                Some(reply)
            }
            Flow::Continue => {
                let authority: http::uri::Authority = "backend:80".parse().unwrap();
                self.cache.backend_result(
                    &mut st,
                    &BackendResult {
                        authority: &authority,
                        target: "/",
                        status: answer.status,
                        backend_failed: false,
                        answered: true,
                        alternate: false,
                        latency_ms: 1,
                    },
                );
                for (n, v) in answer.headers {
                    headers.append(n.parse().unwrap(), v.parse().unwrap());
                }
                ctx.status = answer.status;
                None
            }
            other => panic!("the cache continues or answers: {other:?}"),
        };
        self.cache.response_head(&mut st, &mut headers, &ctx);
        if hit.is_none() && ProxyCache::awaits_completion(&st) {
            let (a, b) = answer.body.split_at(answer.body.len() / 2);
            self.cache.response_body(&mut st, a);
            self.cache.response_body(&mut st, b);
            let done = Done {
                sent: answer.body.len() as u64,
                whole: !cut,
            };
            self.cache.complete(&mut st, &ctx, &done);
        }
        let mark = match headers.get(&X_APIG_CACHE).map(|v| v.to_str().unwrap()) {
            Some("HIT") => "HIT",
            Some("MISS") => "MISS",
            Some("BYPASS") => "BYPASS",
            other => panic!("X-Apig-Cache on every answer, got {other:?}"),
        };
        Outcome { mark, hit }
    }

    async fn call(&self, target: &str, answer: &Answer<'_>) -> Outcome {
        self.call_with(&mut head("GET", target, &[]), None, answer, false)
            .await
    }

    async fn mark(&self, target: &str) -> &'static str {
        self.call(target, &OK).await.mark
    }
}

#[tokio::test]
async fn a_hit_answers_the_kept_status_headers_and_body_with_its_age() {
    let w = basic();
    let backend = Answer {
        status: 200,
        headers: &[
            ("content-type", "application/json"),
            ("etag", "\"v1\""),
            ("x-other", "not kept"),
            ("set-cookie", "s=1"),
        ],
        body: b"{\"n\":1}",
    };
    assert_eq!(w.call("/a", &backend).await.mark, "MISS");
    w.advance(3_500);
    let hit = w.call("/a", &OK).await;
    assert_eq!(hit.mark, "HIT");
    let reply = hit.hit.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, &b"{\"n\":1}"[..]);
    assert_eq!(reply.decision, Decision::Cached);
    let names: Vec<&str> = reply.headers.names().map(|n| n.as_str()).collect();
    assert_eq!(names, ["content-type", "etag", "age"]);
    assert_eq!(reply.headers.get(&AGE).unwrap(), "3");
}

#[tokio::test]
async fn an_entry_lives_its_status_ttl() {
    let w = basic();
    w.mark("/a").await;
    w.advance(9_999);
    assert_eq!(w.mark("/a").await, "HIT");
    w.advance(1);
    assert_eq!(w.mark("/a").await, "MISS", "10 s later it is gone");
    let not_found = Answer {
        status: 404,
        headers: &[],
        body: b"none",
    };
    w.call("/gone", &not_found).await;
    w.advance(1_999);
    assert_eq!(w.call("/gone", &not_found).await.mark, "HIT");
    w.advance(1);
    assert_eq!(w.call("/gone", &not_found).await.mark, "MISS");
}

#[tokio::test]
async fn only_the_listed_statuses_are_kept() {
    let w = basic();
    let error = Answer {
        status: 500,
        headers: &[],
        body: b"oops",
    };
    w.call("/e", &error).await;
    assert_eq!(w.call("/e", &error).await.mark, "MISS");
}

#[tokio::test]
async fn the_backends_cache_control_prevails() {
    for (cc, kept_ms) in [
        ("no-store", None),
        ("no-cache", None),
        ("private, max-age=60", None),
        ("max-age=0", None),
        ("max-age=60", Some(60_000)),
        ("public, MAX-AGE=\"3\"", Some(3_000)),
        ("max-age=60, s-maxage=2", Some(2_000)),
        ("immutable", Some(10_000)),
    ] {
        let w = basic();
        let answer = Answer {
            status: 200,
            headers: &[("cache-control", cc)],
            body: b"x",
        };
        w.call("/c", &answer).await;
        match kept_ms {
            None => assert_eq!(w.mark("/c").await, "MISS", "{cc}: not kept"),
            Some(ms) => {
                w.advance(ms - 1);
                assert_eq!(w.mark("/c").await, "HIT", "{cc}: kept {ms} ms");
                w.advance(1);
                assert_eq!(w.mark("/c").await, "MISS", "{cc}: not longer");
            }
        }
    }
}

#[tokio::test]
async fn the_listed_parameters_and_headers_split_the_cache_and_others_do_not() {
    let w = basic();
    w.mark("/list?page=1&sort=a").await;
    assert_eq!(
        w.mark("/list?page=1&sort=b").await,
        "HIT",
        "sort is not listed"
    );
    assert_eq!(w.mark("/list?page=2").await, "MISS");
    assert_eq!(w.mark("/other?page=1").await, "MISS", "the path splits");
    let tenant = |t: &'static str| head("GET", "/list?page=1", &[("x-tenant", t)]);
    assert_eq!(
        w.call_with(&mut tenant("t1"), None, &OK, false).await.mark,
        "MISS"
    );
    assert_eq!(
        w.call_with(&mut tenant("t1"), None, &OK, false).await.mark,
        "HIT"
    );
    assert_eq!(
        w.call_with(&mut tenant("t2"), None, &OK, false).await.mark,
        "MISS"
    );
}

#[tokio::test]
async fn system_params_split_by_caller() {
    let w = world(
        json!({"cache_key": {"system_params": ["$context.appId", "$context.serverName"]},
                         "cache_http_status_and_ttl": [{"http_status": [200], "ttl": 10}]}),
    );
    let get = || head("GET", "/x", &[]);
    assert_eq!(
        w.call_with(&mut get(), Some("a"), &OK, false).await.mark,
        "MISS"
    );
    assert_eq!(
        w.call_with(&mut get(), Some("a"), &OK, false).await.mark,
        "HIT"
    );
    assert_eq!(
        w.call_with(&mut get(), Some("b"), &OK, false).await.mark,
        "MISS"
    );
}

#[tokio::test]
async fn a_callers_no_cache_is_obeyed_only_for_the_named_apps() {
    let w = basic();
    w.mark("/a").await;
    let no_cache = || head("GET", "/a", &[("cache-control", "no-cache")]);
    assert_eq!(
        w.call_with(&mut no_cache(), Some("app-b"), &OK, false)
            .await
            .mark,
        "HIT",
        "app-b is not named"
    );
    let fresh = Answer {
        status: 200,
        headers: &[],
        body: b"newer",
    };
    let named = w
        .call_with(&mut no_cache(), Some("app-a"), &fresh, false)
        .await;
    assert_eq!(named.mark, "BYPASS");
    let hit = w
        .call("/a", &OK)
        .await
        .hit
        .expect("the fresh answer was kept");
    assert_eq!(hit.body, &b"newer"[..], "no-cache refreshed the entry");
    let mut no_store = head("GET", "/b", &[("cache-control", "no-store")]);
    w.call_with(&mut no_store, Some("app-a"), &OK, false).await;
    assert_eq!(w.mark("/b").await, "MISS", "no-store keeps nothing");
    let mut max_age0 = head("GET", "/a", &[("cache-control", "max-age=0")]);
    assert_eq!(
        w.call_with(&mut max_age0, Some("app-a"), &OK, false)
            .await
            .mark,
        "BYPASS"
    );
}

#[tokio::test]
async fn only_get_and_head_are_served_and_head_uses_what_get_kept() {
    let w = basic();
    let head_a = || head("HEAD", "/a", &[]);
    assert_eq!(
        w.call_with(&mut head_a(), None, &OK, false).await.mark,
        "MISS"
    );
    assert_eq!(
        w.call_with(&mut head_a(), None, &OK, false).await.mark,
        "MISS",
        "a HEAD answer has no body to keep"
    );
    w.mark("/a").await;
    let h = w.call_with(&mut head_a(), None, &OK, false).await;
    assert_eq!(h.mark, "HIT");
    assert_eq!(
        h.hit.unwrap().body,
        &b"fresh"[..],
        "its length is the GET's"
    );
    let mut post = head("POST", "/a", &[]);
    assert_eq!(
        w.call_with(&mut post, None, &OK, false).await.mark,
        "BYPASS"
    );
}

#[tokio::test]
async fn a_body_over_1_mib_or_cut_is_not_kept() {
    let w = basic();
    let big = vec![b'b'; MAX_BODY_BYTES + 1];
    let answer = Answer {
        status: 200,
        headers: &[],
        body: &big,
    };
    w.call("/big", &answer).await;
    assert_eq!(w.mark("/big").await, "MISS");
    let exact = vec![b'b'; MAX_BODY_BYTES];
    let answer = Answer {
        status: 200,
        headers: &[],
        body: &exact,
    };
    w.call("/max", &answer).await;
    assert_eq!(w.mark("/max").await, "HIT", "1 MiB is kept");
    let length = (MAX_BODY_BYTES + 1).to_string();
    let declared = Answer {
        status: 200,
        headers: &[("content-length", &length)],
        body: b"",
    };
    w.call("/declared", &declared).await;
    assert_eq!(w.mark("/declared").await, "MISS");
    w.call_with(&mut head("GET", "/cut", &[]), None, &OK, true)
        .await;
    assert_eq!(w.mark("/cut").await, "MISS", "a cut body is not kept");
}

#[tokio::test]
async fn a_changed_content_keys_anew() {
    let store: Arc<Store> = Arc::default();
    let make = |ttl: u64| {
        let c = validate(
            PluginType::ProxyCache,
            json!({"cache_key": {"parameters": ["p"]},
                   "cache_http_status_and_ttl": [{"http_status": [200], "ttl": ttl}]}),
        )
        .unwrap();
        let config: Config = serde_json::from_value(c.clone()).unwrap();
        ProxyCache::new(
            &config,
            "p1",
            &c.to_string(),
            store.clone(),
            crate::counters::system_clock(),
        )
    };
    let (a, b) = (make(10), make(20));
    let h = head("GET", "/x", &[]);
    let c = ctx(&h, None);
    assert_ne!(a.key(&h, &c), b.key(&h, &c));
}
