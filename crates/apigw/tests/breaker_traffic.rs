//! The circuit breaker on live traffic with a real backend that can be made slow or failing
//! per call (its path picks the delay or status): opening, downgrades (503, mock, http), and
//! the seed's configuration. Open duration and half-open probing are pinned with an injected
//! clock in the plug-in's unit tests.

use apigw_testkit::{oversize_chunked_upload, Backend, GatewayClient, Resp, TestServer, RELEASE};
use serde_json::{json, Value};

struct World {
    s: TestServer,
    backend: Backend,
    spare: Backend,
    gw: GatewayClient,
    group: String,
    host: String,
}

impl World {
    async fn new() -> Self {
        let s = TestServer::start().await;
        let (backend, spare) = (Backend::start().await, Backend::start().await);
        let gw = GatewayClient::new(s.running.gateway_addr);
        let (group, host) = s.admin.create_group("fragile").await;
        Self {
            s,
            backend,
            spare,
            gw,
            group,
            host,
        }
    }

    /// `GET {uri}` proxied to `backend_uri` with a 200 ms timeout.
    async fn api(&self, name: &str, uri: &str, backend_uri: &str) -> String {
        let body = json!({"name": name, "type": 1, "req_protocol": "HTTP", "req_method": "GET", "req_uri": uri,
            "auth_type": "NONE", "backend_type": "HTTP", "group_id": self.group,
            "backend_api": {"url_domain": self.backend.addr.to_string(), "req_protocol": "HTTP", "req_method": "GET",
                            "req_uri": backend_uri, "timeout": 200}});
        self.s.admin.create_published_api(body).await
    }

    async fn breaker(&self, content: Value, apis: &[&str]) {
        let p = self
            .s
            .admin
            .create_plugin("breaker plugin", "breaker", content)
            .await;
        self.s.admin.bind(&p, RELEASE, apis).await;
    }

    async fn get(&self, path: &str) -> Resp {
        self.gw
            .call("GET", path, &[("host", &self.host)], b"")
            .await
    }
}

fn timeout_breaker(threshold: i64, downgrade: Value) -> Value {
    json!({"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter",
        "unhealthy_threshold": threshold, "time_window": 60, "open_breaker_time": 60},
        "downgrade_default": downgrade, "scope": "basic"})
}

#[tokio::test]
async fn timeouts_open_the_breaker_and_without_downgrade_calls_get_503() {
    let w = World::new().await;
    let api = w.api("slowish", "/t/{ms}", "/slow/{ms}").await;
    w.breaker(timeout_breaker(2, Value::Null), &[&api]).await;
    assert_eq!(w.get("/t/1").await.status, 200);
    assert_eq!(w.get("/t/500").await.status, 504);
    assert_eq!(
        w.get("/t/1").await.status,
        200,
        "one timeout of two: still closed"
    );
    assert_eq!(w.get("/t/500").await.status, 504);
    let calls = w.backend.calls();
    let r = w.get("/t/1").await;
    assert_eq!(
        (r.status, r.json["error_code"].as_str()),
        (503, Some("APIG.0202"))
    );
    assert_eq!(
        w.backend.calls(),
        calls,
        "an open breaker does not call the backend"
    );
    let m = w.s.admin.metrics().await;
    assert!(
        m.contains(&format!("apigw_breaker_open{{api_id=\"{api}\",rule=\"\"")),
        "{m}"
    );
    assert!(m.contains("decision=\"downgraded\"} 1"), "{m}");
}

#[tokio::test]
async fn a_condition_breaker_serves_the_mock_downgrade_and_spares_healthy_apis() {
    let w = World::new().await;
    let sick = w.api("statusy", "/s/{code}", "/status/{code}").await;
    let healthy = w.api("healthy", "/ok", "/").await;
    w.breaker(json!({"breaker_condition": {"breaker_type": "condition", "breaker_mode": "counter",
        "unhealthy_condition": "[\"$context.statusCode\",\">=\",\"500\"]",
        "unhealthy_threshold": 2, "time_window": 60, "open_breaker_time": 60},
        "downgrade_default": {"type": "mock", "mock_info": {"status_code": 200, "result_content": "{\"degraded\":true}",
            "headers": [{"key": "x-degraded", "value": "yes"}]}}}), &[&sick, &healthy]).await;
    assert_eq!(w.get("/s/500").await.status, 500);
    assert_eq!(w.get("/s/404").await.status, 404, "a 404 is healthy");
    assert_eq!(w.get("/s/503").await.status, 503);
    let r = w.get("/s/200").await;
    assert_eq!((r.status, r.text.as_str()), (200, "{\"degraded\":true}"));
    assert_eq!(r.headers["x-degraded"], "yes");
    assert!(r.headers.contains_key("x-request-id"));
    let ok = w.get("/ok").await;
    assert_eq!(
        ok.headers.get("x-backend").map(|v| v.to_str().unwrap()),
        Some("echo"),
        "basic: the healthy API still reaches its backend"
    );
}

#[tokio::test]
async fn an_http_downgrade_sends_calls_to_the_other_backend() {
    let w = World::new().await;
    let api = w.api("flaky", "/f/{ms}", "/slow/{ms}").await;
    let downgrade = json!({"type": "http", "http_info": {"address": w.spare.addr.to_string(), "scheme": "HTTP",
        "method": "GET", "path": "/spare", "timeout": 1000}});
    w.breaker(timeout_breaker(1, downgrade), &[&api]).await;
    assert_eq!(w.get("/f/500").await.status, 504);
    let r = w.get("/f/1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["path"], "/spare");
    assert_eq!(w.spare.calls(), 1);
}

#[tokio::test]
async fn the_seed_breaker_configuration_runs() {
    let w = World::new().await;
    let api = w.api("seeded", "/seeded", "/").await;
    let seeds = apigw_testkit::seed_requests();
    let p = w.s.admin.post("/plugins", &seeds[4]["body"]).await;
    assert_eq!(p.status, 201, "{}", p.text);
    w.s.admin
        .bind(p.json["plugin_id"].as_str().unwrap(), RELEASE, &[&api])
        .await;
    for _ in 0..5 {
        assert_eq!(
            w.get("/seeded").await.status,
            200,
            "healthy calls pass a breaker with threshold 30"
        );
    }
}

#[tokio::test]
async fn a_client_s_own_errors_do_not_count_against_the_backend() {
    let w = World::new().await;
    let api = w.api("sturdy", "/t/{ms}", "/slow/{ms}").await;
    w.breaker(timeout_breaker(1, Value::Null), &[&api]).await;
    // A streamed body that grows past 12 MiB: 413, the backend call cut by the gateway.
    let r = oversize_chunked_upload(w.s.running.gateway_addr, "GET", "/t/1", &w.host).await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r:.200}");
    // A breaker that opens on the first backend failure is still closed.
    assert_eq!(w.get("/t/1").await.status, 200);
}
