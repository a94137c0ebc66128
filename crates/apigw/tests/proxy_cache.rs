//! proxy_cache end to end: a real backend counts its calls, so a hit is seen not to reach it;
//! what the backend's `Cache-Control` and a named caller's own say; authentication and
//! throttling before a hit; the response plug-ins on a hit; 100 concurrent misses making one
//! backend call; and the node's 128 MiB filled with 1 MB answers pushing out the least
//! recently used. What is kept and for how long, to the millisecond, is pinned with an
//! injected clock in the plug-in's unit tests.

use apigw_testkit::{http_api, GatewayClient, Resp, TestServer, RELEASE};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// A real backend counting its calls. `/cc/{directive}` answers with that `Cache-Control`,
/// `/slow/{ms}` after that long, `/big/{bytes}` with a body that long; every other body is
/// `call {n}` (n: the calls so far, this one included).
async fn counting_backend() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, SeqCst) + 1;
            let path = req.uri().path().to_string();
            let mut segs = path.trim_start_matches('/').split('/');
            let mut resp =
                axum::response::Response::new(axum::body::Body::from(format!("call {n}")));
            let h = resp.headers_mut();
            h.insert("content-type", "text/plain".parse().unwrap());
            h.insert("x-unkept", "1".parse().unwrap());
            match (segs.next(), segs.next()) {
                (Some("cc"), Some(d)) => {
                    resp.headers_mut()
                        .insert("cache-control", d.parse().unwrap());
                }
                (Some("slow"), Some(ms)) => {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                }
                (Some("big"), Some(n)) => {
                    *resp.body_mut() = axum::body::Body::from(vec![b'b'; n.parse().unwrap()]);
                }
                _ => {}
            }
            resp
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), calls)
}

struct World {
    s: TestServer,
    backend: String,
    calls: Arc<AtomicUsize>,
    gw: GatewayClient,
    group: String,
    host: String,
}

impl World {
    async fn new() -> Self {
        let s = TestServer::start().await;
        let (backend, calls) = counting_backend().await;
        let gw = GatewayClient::new(s.running.gateway_addr);
        let (group, host) = s.admin.create_group("cached").await;
        Self {
            s,
            backend,
            calls,
            gw,
            group,
            host,
        }
    }

    /// A published API on `GET uri` (any method with `method`) proxied to `backend_uri`,
    /// `extra` merged into its definition.
    async fn api(&self, name: &str, uri: &str, backend_uri: &str, extra: Value) -> String {
        let mut body = http_api(name, &self.group, "GET", uri, &self.backend, backend_uri);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.s.admin.create_published_api(body).await
    }

    async fn plugin(&self, plugin_type: &str, content: Value, api: &str) -> String {
        let p = self
            .s
            .admin
            .create_plugin(plugin_type, plugin_type, content)
            .await;
        self.s.admin.bind(&p, RELEASE, &[api]).await;
        p
    }

    async fn cache(&self, api: &str, extra: Value) -> String {
        let mut content = json!({"cache_key": {"parameters": ["k"]},
                                 "cache_http_status_and_ttl": [{"http_status": [200], "ttl": 600}]});
        for (k, v) in extra.as_object().unwrap() {
            content[k] = v.clone();
        }
        self.plugin("proxy_cache", content, api).await
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut h = vec![("host", self.host.as_str())];
        h.extend_from_slice(headers);
        self.gw.call(method, path, &h, b"").await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[]).await
    }

    /// `GET /private` signed with the app `cacher`'s key, with `extra` headers.
    async fn signed(&self, extra: &[(&str, &str)]) -> Resp {
        let (date, auth) = sign(
            "/private",
            &self.host,
            "cacher-key-0001",
            "cacher-secret-0001",
        );
        let mut h = vec![
            ("x-sdk-date", date.as_str()),
            ("authorization", auth.as_str()),
        ];
        h.extend_from_slice(extra);
        self.call("GET", "/private", &h).await
    }

    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }
}

fn mark(r: &Resp) -> &str {
    r.headers
        .get("x-apig-cache")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("none")
}

#[tokio::test]
async fn a_hit_does_not_reach_the_backend_and_the_response_plugins_still_apply() {
    let w = World::new().await;
    let api = w
        .api("items", "/items", "/items", json!({"req_method": "ANY"}))
        .await;
    let plugin = w.cache(&api, json!({})).await;
    w.plugin(
        "set_resp_headers",
        json!({"response_headers": [{"name": "x-set", "value": "on", "action": "override"}]}),
        &api,
    )
    .await;
    w.plugin("cors", json!({"allow_origin": "*"}), &api).await;

    let first = w.get("/items?k=1").await;
    assert_eq!(
        (first.status, first.text.as_str(), mark(&first)),
        (200, "call 1", "MISS")
    );
    let hit = w
        .call(
            "GET",
            "/items?k=1&other=x",
            &[("origin", "https://a.example")],
        )
        .await;
    assert_eq!(
        (hit.status, hit.text.as_str(), mark(&hit)),
        (200, "call 1", "HIT")
    );
    assert_eq!(w.calls(), 1, "a hit does not reach the backend");
    assert!(hit.headers.contains_key("age"));
    assert_eq!(hit.headers["content-type"], "text/plain");
    assert!(
        !hit.headers.contains_key("x-unkept"),
        "only the stored headers are kept"
    );
    assert_eq!(
        hit.headers["x-set"], "on",
        "set_resp_headers applies to a hit"
    );
    assert_eq!(
        hit.headers["access-control-allow-origin"], "*",
        "so does cors"
    );
    assert!(hit.headers.contains_key("x-request-id"));

    let other = w.get("/items?k=2").await;
    assert_eq!((other.text.as_str(), mark(&other)), ("call 2", "MISS"));
    let head = w.call("HEAD", "/items?k=1", &[]).await;
    assert_eq!((head.status, mark(&head)), (200, "HIT"));
    assert_eq!(
        head.headers["content-length"], "6",
        "HEAD gets the kept GET's length"
    );
    let post = w.call("POST", "/items?k=1", &[]).await;
    assert_eq!((post.text.as_str(), mark(&post)), ("call 3", "BYPASS"));
    assert_eq!(w.calls(), 3);

    let metrics = w.s.admin.metrics().await;
    for (result, n) in [("hit", 2), ("miss", 2), ("bypass", 1)] {
        let line =
            format!("apigw_cache_requests_total{{plugin_id=\"{plugin}\",result=\"{result}\"}} {n}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    assert!(metrics.contains("apigw_cache_entries 2"), "{metrics}");
}

#[tokio::test]
async fn the_backends_cache_control_decides_what_is_kept_and_for_how_long() {
    let w = World::new().await;
    let api = w
        .api("cache_control", "/cc/{d}", "/cc/{d}", json!({}))
        .await;
    w.cache(&api, json!({})).await;
    for directive in ["no-store", "private", "no-cache"] {
        let path = format!("/cc/{directive}");
        let before = w.calls();
        assert_eq!(mark(&w.get(&path).await), "MISS");
        assert_eq!(mark(&w.get(&path).await), "MISS", "{directive}: not kept");
        assert_eq!(w.calls(), before + 2);
    }
    // max-age=1 over the ttl of 600 s: kept one second.
    let path = "/cc/max-age=1";
    assert_eq!(mark(&w.get(path).await), "MISS");
    assert_eq!(mark(&w.get(path).await), "HIT");
    let calls = w.calls();
    let mut expired = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if mark(&w.get(path).await) == "MISS" {
            expired = true;
            break;
        }
    }
    assert!(expired, "an entry with max-age=1 expires");
    assert_eq!(w.calls(), calls + 1);
}

#[tokio::test]
async fn authentication_and_throttling_run_before_a_hit_and_named_apps_may_ask_for_fresh() {
    let w = World::new().await;
    let api = w
        .api(
            "private",
            "/private",
            "/private",
            json!({"auth_type": "APP"}),
        )
        .await;
    let r = w
        .s
        .admin
        .post("/apps", &json!({"name": "cacher", "app_key": "cacher-key-0001", "app_secret": "cacher-secret-0001"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let app = r.json["id"].as_str().unwrap().to_string();
    let r =
        w.s.admin
            .post(
                "/app-auths",
                &json!({"env_id": RELEASE, "app_ids": [app], "api_ids": [api]}),
            )
            .await;
    assert_eq!(r.status, 201, "{}", r.text);
    w.cache(
        &api,
        json!({"cache_key": {"system_params": ["$context.appId"]},
               "client_cache_control": {"mode": "apps", "datas": [app]}}),
    )
    .await;
    w.plugin(
        "rate_limit",
        json!({"api_limit": 4, "default_time_unit": "minute"}),
        &api,
    )
    .await;
    assert_eq!(mark(&w.signed(&[]).await), "MISS");
    assert_eq!(mark(&w.signed(&[]).await), "HIT");
    let unsigned = w.get("/private").await;
    assert_eq!(
        unsigned.status, 401,
        "a kept answer is not given without authentication"
    );
    assert_ne!(mark(&unsigned), "HIT");
    let fresh = w.signed(&[("cache-control", "no-cache")]).await;
    assert_eq!(
        (fresh.text.as_str(), mark(&fresh)),
        ("call 2", "BYPASS"),
        "the named app asks for fresh"
    );
    let hit = w.signed(&[]).await;
    assert_eq!(
        (hit.status, hit.text.as_str(), mark(&hit)),
        (200, "call 2", "HIT"),
        "and refreshed the entry"
    );
    let throttled = w.signed(&[]).await;
    assert_eq!(
        throttled.status, 429,
        "hits count against the limit: {}",
        throttled.text
    );
    assert_eq!(w.calls(), 2);
}

/// Signs a GET the way the SDKs do (host and x-sdk-date signed).
fn sign(path: &str, host: &str, key: &str, secret: &str) -> (String, String) {
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let parts = apigw_model::sign::RequestParts {
        method: "GET",
        path,
        query: None,
        body: b"",
    };
    let auth = apigw_model::sign::sign_request(
        key,
        secret,
        &parts,
        &[("host", host), ("x-sdk-date", date.as_str())],
    );
    (date, auth)
}

#[tokio::test]
async fn a_hundred_concurrent_misses_make_one_backend_call() {
    let w = World::new().await;
    let api = w.api("slow", "/slow", "/slow/300", json!({})).await;
    w.cache(&api, json!({})).await;
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (gw, host) = (w.gw.clone(), w.host.clone());
        all.spawn(async move {
            gw.call("GET", "/slow?k=same", &[("host", &host)], b"")
                .await
        });
    }
    let answers = all.join_all().await;
    assert_eq!(w.calls(), 1, "one backend call for the 100");
    assert!(answers
        .iter()
        .all(|r| r.status == 200 && r.text == "call 1"));
    let hits = answers.iter().filter(|r| mark(r) == "HIT").count();
    assert_eq!(hits, 99, "the others waited for its answer");
}

#[tokio::test]
async fn the_node_keeps_128_mib_and_pushes_out_the_least_recently_used() {
    let w = World::new().await;
    // 1 000 000-byte answers: 134 fit in 128 MiB.
    let api = w.api("big", "/big", "/big/1000000", json!({})).await;
    w.cache(&api, json!({})).await;
    for k in 0..140 {
        let r = w.get(&format!("/big?k={k}")).await;
        assert_eq!(
            (r.status, r.text.len(), mark(&r)),
            (200, 1_000_000, "MISS"),
            "k={k}"
        );
        if k == 100 {
            // k=0 is used again: it is not among the oldest any more.
            assert_eq!(mark(&w.get("/big?k=0").await), "HIT");
        }
    }
    assert_eq!(mark(&w.get("/big?k=139").await), "HIT");
    assert_eq!(mark(&w.get("/big?k=0").await), "HIT", "used recently: kept");
    assert_eq!(
        mark(&w.get("/big?k=1").await),
        "MISS",
        "the oldest went first"
    );
    let metrics = w.s.admin.metrics().await;
    let bytes: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("apigw_cache_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        bytes <= 128 << 20 && bytes > 120 << 20,
        "{bytes} bytes kept"
    );
}

/// A backend that answers every call with a head promising 100 bytes, sends 5 and closes.
async fn cutting_backend() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 4096];
                let _ = c.read(&mut buf).await;
                counter.fetch_add(1, SeqCst);
                let _ = c
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/plain\r\n\r\nshort")
                    .await;
            });
        }
    });
    (addr.to_string(), calls)
}

#[tokio::test]
async fn an_answer_cut_mid_body_is_not_kept_and_frees_the_waiting_calls() {
    let w = World::new().await;
    let (cutting, calls) = cutting_backend().await;
    let body = http_api("cut", &w.group, "GET", "/cut", &cutting, "/cut");
    let api = w.s.admin.create_published_api(body).await;
    w.cache(&api, json!({})).await;
    let url = format!("{}/cut", w.gw.base);
    for n in 1..=2 {
        let r = reqwest::Client::new()
            .get(&url)
            .header("host", &w.host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-apig-cache"], "MISS", "call {n}");
        assert!(r.bytes().await.is_err(), "the client sees the cut");
    }
    assert_eq!(calls.load(SeqCst), 2, "nothing was kept");
    let ok = w.get("/nothing").await;
    assert_eq!(ok.status, 404, "the gateway still answers");
}
