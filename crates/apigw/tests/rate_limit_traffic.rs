//! rate_limit on live traffic: the 429 and its headers, exactness under concurrency with local
//! and Redis counters (also across two gateway processes sharing one Redis), Redis loss and
//! recovery, and which changes reset the counters.

use apigw_testkit::{
    http_api, redis_url, Backend, GatewayClient, RedisServer, Resp, ServerProcess, TestServer,
    RELEASE,
};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

struct World {
    s: TestServer,
    _backend: Backend,
    gw: GatewayClient,
    group: String,
    host: String,
    backend: String,
}

impl World {
    async fn new(redis: Option<String>) -> Self {
        let s = TestServer::start_with(|a| a.redis_url = redis).await;
        let backend = Backend::start().await;
        let gw = GatewayClient::new(s.running.gateway_addr);
        let (group, host) = s.admin.create_group("limited").await;
        let b = backend.addr.to_string();
        Self {
            s,
            _backend: backend,
            gw,
            group,
            host,
            backend: b,
        }
    }

    async fn api(&self, name: &str, uri: &str) -> String {
        self.s
            .admin
            .create_published_api(http_api(name, &self.group, "GET", uri, &self.backend, "/"))
            .await
    }

    async fn limit(&self, content: Value, apis: &[&str]) -> String {
        let p = self
            .s
            .admin
            .create_plugin("limit plugin", "rate_limit", content)
            .await;
        self.s.admin.bind(&p, RELEASE, apis).await;
        p
    }

    async fn get(&self, path: &str) -> Resp {
        self.gw
            .call("GET", path, &[("host", &self.host)], b"")
            .await
    }

    /// `n` calls from `clients` concurrent clients; returns how many passed.
    async fn hammer(&self, path: &str, n: usize, clients: usize) -> usize {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (gw, host, path) = (self.gw.clone(), self.host.clone(), path.to_string());
            let share = n / clients + usize::from(c < n % clients);
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..share {
                    let r = gw.call("GET", &path, &[("host", &host)], b"").await;
                    assert!(r.status == 200 || r.status == 429, "{}", r.status);
                    ok += usize::from(r.status == 200);
                }
                ok
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    }
}

fn header(r: &Resp, name: &str) -> Option<u64> {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn the_429_carries_the_apig_body_retry_after_and_rate_headers() {
    let w = World::new(None).await;
    let api = w.api("limited", "/l").await;
    w.limit(
        json!({"api_limit": 2, "default_time_unit": "hour"}),
        &[&api],
    )
    .await;
    let first = w.get("/l").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        (
            header(&first, "x-ratelimit-limit"),
            header(&first, "x-ratelimit-remaining")
        ),
        (Some(2), Some(1))
    );
    assert!(header(&first, "x-ratelimit-reset").is_some_and(|s| s <= 3600));
    assert_eq!(header(&w.get("/l").await, "x-ratelimit-remaining"), Some(0));
    let refused = w.get("/l").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json["error_code"], "APIG.0308");
    assert_eq!(
        refused.json["error_msg"],
        "The throttling threshold has been reached"
    );
    assert_eq!(
        refused.json["request_id"],
        refused.headers["x-request-id"].to_str().unwrap()
    );
    assert!(header(&refused, "retry-after").is_some_and(|s| (1..=3600).contains(&s)));
    assert_eq!(header(&refused, "x-ratelimit-remaining"), Some(0));
}

#[tokio::test]
async fn exactly_the_limit_passes_under_concurrency_with_local_counters() {
    let w = World::new(None).await;
    let api = w.api("busy", "/busy").await;
    w.limit(
        json!({"api_limit": 50, "default_time_unit": "day"}),
        &[&api],
    )
    .await;
    assert_eq!(w.hammer("/busy", 200, 20).await, 50);
}

#[tokio::test]
async fn exactly_the_limit_passes_under_concurrency_with_redis_counters() {
    let w = World::new(Some(redis_url())).await;
    let api = w.api("busy", "/busy").await;
    w.limit(
        json!({"api_limit": 40, "default_time_unit": "day"}),
        &[&api],
    )
    .await;
    assert_eq!(w.hammer("/busy", 150, 15).await, 40);
    let metrics = w.s.admin.metrics().await;
    assert!(
        metrics.contains("apigw_ratelimit_redis_degraded 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn content_changes_reset_counters_and_unrelated_changes_do_not() {
    let w = World::new(None).await;
    let api = w.api("reset_api", "/r").await;
    let content = json!({"api_limit": 3, "default_time_unit": "day"});
    let p = w.limit(content.clone(), &[&api]).await;
    assert_eq!(w.hammer("/r", 3, 1).await, 3);
    // Unrelated: another API is published.
    w.api("other_api", "/other").await;
    assert_eq!(
        w.get("/r").await.status,
        429,
        "counters survive unrelated changes"
    );
    let mut new = content.clone();
    new["api_limit"] = json!(4);
    let body = json!({"plugin_name": "limit plugin", "plugin_type": "rate_limit", "plugin_scope": "global", "plugin_content": new.to_string()});
    assert_eq!(
        w.s.admin.put(&format!("/plugins/{p}"), &body).await.status,
        200
    );
    assert_eq!(w.hammer("/r", 6, 1).await, 4, "new content, fresh counters");
}

#[tokio::test]
async fn two_gateway_processes_sharing_redis_admit_the_limit_once() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start().await;
    let bin = Path::new(env!("CARGO_BIN_EXE_apigw"));
    let redis = redis_url();
    let env = [("APIGW_REDIS_URL", redis.as_str())];
    let a = ServerProcess::spawn_with_env(bin, dir.path(), &env);
    let group = a.admin.default_group().await;
    let api = a
        .admin
        .create_published_api(http_api(
            "cluster_api",
            &group,
            "GET",
            "/c",
            &backend.addr.to_string(),
            "/",
        ))
        .await;
    let p = a
        .admin
        .create_plugin(
            "shared limit",
            "rate_limit",
            json!({"api_limit": 30, "default_time_unit": "day"}),
        )
        .await;
    a.admin.bind(&p, RELEASE, &[&api]).await;
    // A second process on the same store and the same Redis.
    let b = ServerProcess::spawn_with_env(bin, dir.path(), &env);
    let (ga, gb) = (
        GatewayClient::new(&a.gateway_addr),
        GatewayClient::new(&b.gateway_addr),
    );
    let mut tasks = Vec::new();
    for i in 0..10 {
        let gw = if i % 2 == 0 { ga.clone() } else { gb.clone() };
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..10 {
                ok += usize::from(gw.get("/c").await.status == 200);
            }
            ok
        }));
    }
    let mut passed = 0;
    for t in tasks {
        passed += t.await.unwrap();
    }
    assert_eq!(passed, 30, "one cluster-wide limit over both nodes");
}

#[tokio::test]
async fn losing_redis_falls_back_to_local_counters_and_recovers() {
    let mut redis = RedisServer::start();
    let w = World::new(Some(redis.url())).await;
    let api = w.api("resilient", "/res").await;
    w.limit(
        json!({"api_limit": 1000, "default_time_unit": "day"}),
        &[&api],
    )
    .await;
    assert_eq!(w.get("/res").await.status, 200);
    redis.stop();
    for _ in 0..5 {
        assert_eq!(
            w.get("/res").await.status,
            200,
            "calls keep flowing without Redis"
        );
    }
    let metrics = || async { w.s.admin.metrics().await };
    let m = metrics().await;
    assert!(m.contains("apigw_ratelimit_redis_degraded 1"), "{m}");
    assert!(
        !m.contains("apigw_ratelimit_local_fallbacks_total 0\n"),
        "{m}"
    );
    redis.restart();
    let mut back = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(w.get("/res").await.status, 200);
        if metrics().await.contains("apigw_ratelimit_redis_degraded 0") {
            back = true;
            break;
        }
    }
    assert!(back, "Redis is used again once it returns");
}
