//! cors and set_resp_headers on live traffic: bound through the control plane, enforced by the
//! data plane, on backend responses and on responses the gateway makes itself.

use apigw_testkit::{http_api, seed_requests, Backend, GatewayClient, Resp, TestServer, RELEASE};
use serde_json::{json, Value};

struct World {
    s: TestServer,
    backend: Backend,
    gw: GatewayClient,
    group: String,
    host: String,
}

impl World {
    async fn new() -> Self {
        let s = TestServer::start().await;
        let backend = Backend::start().await;
        let gw = GatewayClient::new(s.running.gateway_addr);
        let (group, host) = s.admin.create_group("web").await;
        Self {
            s,
            backend,
            gw,
            group,
            host,
        }
    }

    async fn api(
        &self,
        name: &str,
        method: &str,
        uri: &str,
        backend: &str,
        backend_uri: &str,
        extra: Value,
    ) -> String {
        let mut body = http_api(name, &self.group, method, uri, backend, backend_uri);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.s.admin.create_published_api(body).await
    }

    async fn with_plugin(&self, t: &str, content: Value, apis: &[&str]) -> String {
        let p = self
            .s
            .admin
            .create_plugin(&format!("{t} plugin"), t, content)
            .await;
        self.s.admin.bind(&p, RELEASE, apis).await;
        p
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut h = vec![("host", self.host.as_str())];
        h.extend_from_slice(headers);
        self.gw.call(method, path, &h, b"").await
    }
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

fn all(r: &Resp, name: &str) -> Vec<String> {
    r.headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn preflight_is_answered_without_calling_backend() {
    let w = World::new().await;
    let b = w.backend.addr.to_string();
    let api = w
        .api("orders", "PUT", "/orders", &b, "/orders", json!({}))
        .await;
    w.with_plugin(
        "cors",
        json!({"allow_origin": "https://app.example", "allow_methods": "GET,PUT",
        "allow_headers": "X-Token", "max_age": 300}),
        &[&api],
    )
    .await;
    let r = w
        .call(
            "OPTIONS",
            "/orders",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "PUT"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(w.backend.calls(), 0, "the backend was not called");
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(header(&r, "access-control-allow-methods"), Some("GET,PUT"));
    assert_eq!(header(&r, "access-control-allow-headers"), Some("X-Token"));
    assert_eq!(header(&r, "access-control-max-age"), Some("300"));
    assert_eq!(header(&r, "vary"), Some("Origin"));
    assert!(header(&r, "x-request-id").is_some());
    // Another origin: answered, without CORS headers.
    let r = w
        .call(
            "OPTIONS",
            "/orders",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(header(&r, "access-control-allow-origin").is_none());
    assert_eq!(w.backend.calls(), 0);
}

#[tokio::test]
async fn cors_headers_replace_the_backends_on_actual_requests() {
    let w = World::new().await;
    let b = w.backend.addr.to_string();
    let api = w
        .api("items", "GET", "/items", &b, "/items", json!({}))
        .await;
    w.with_plugin("cors", json!({"allow_origin": "https://app.example", "expose_headers": "X-Request-Id", "allow_credentials": true}), &[&api]).await;
    let r = w
        .call("GET", "/items", &[("origin", "https://app.example")])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        all(&r, "access-control-allow-origin"),
        ["https://app.example"],
        "the backend's value is replaced"
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&r, "access-control-expose-headers"),
        Some("X-Request-Id")
    );
    assert_eq!(header(&r, "vary"), Some("Origin"));
    let r = w.call("GET", "/items", &[]).await;
    assert!(
        header(&r, "access-control-allow-origin").is_none(),
        "no Origin, no CORS headers (the backend's are dropped)"
    );
    assert_eq!(
        header(&r, "vary"),
        Some("Origin"),
        "the answer still depends on the origin: a cache must not serve it to one that has one"
    );
}

#[tokio::test]
async fn gateway_errors_carry_cors_and_response_headers_too() {
    let w = World::new().await;
    let b = w.backend.addr.to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let iam = w
        .api(
            "private",
            "GET",
            "/private",
            &b,
            "/",
            json!({"auth_type": "IAM"}),
        )
        .await;
    let dead = w.api("dead", "GET", "/dead", &closed, "/", json!({})).await;
    let slow = w.api("slow", "GET", "/slow", &b, "/slow/1000", json!({"backend_api": {"url_domain": b, "req_method": "GET", "req_uri": "/slow/1000", "timeout": 100}})).await;
    let getter = w.api("getter", "GET", "/getter", &b, "/", json!({})).await;
    let apis = [iam.as_str(), dead.as_str(), slow.as_str(), getter.as_str()];
    w.with_plugin("cors", json!({"allow_origin": "*"}), &apis)
        .await;
    w.with_plugin(
        "set_resp_headers",
        json!({"response_headers": [{"name": "x-served-by", "value": "apigw", "action": "add"}]}),
        &apis,
    )
    .await;
    for (method, path, status) in [
        ("GET", "/private", 401),
        ("GET", "/dead", 502),
        ("GET", "/slow", 504),
        ("POST", "/getter", 404),
    ] {
        let r = w
            .call(method, path, &[("origin", "https://x.example")])
            .await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert!(
            r.json["error_code"].as_str().unwrap().starts_with("APIG.0"),
            "{path}"
        );
        if status != 404 {
            assert_eq!(header(&r, "x-served-by"), Some("apigw"), "{path}");
        }
    }
}

#[tokio::test]
async fn set_resp_headers_runs_each_action_and_system_parameter() {
    let w = World::new().await;
    let b = w.backend.addr.to_string();
    let api = w.api("headers", "GET", "/h", &b, "/", json!({})).await;
    w.with_plugin("set_resp_headers", json!({"response_headers": [
        {"name": "x-backend", "value": "gw", "action": "append"},
        {"name": "content-type", "value": "text/x-overridden", "action": "override"},
        {"name": "x-new", "value": "n", "action": "skip"},
        {"name": "x-rid", "value": "$context.requestId", "value_type": "system_parameter", "action": "add"},
        {"name": "x-api", "value": "$context.apiId", "value_type": "system_parameter", "action": "add"},
        {"name": "server", "action": "delete"}
    ]}), &[&api]).await;
    let r = w.call("GET", "/h", &[]).await;
    assert_eq!(header(&r, "x-backend"), Some("echo,gw"));
    assert_eq!(header(&r, "content-type"), Some("text/x-overridden"));
    assert_eq!(header(&r, "x-new"), Some("n"));
    assert_eq!(header(&r, "x-rid"), header(&r, "x-request-id"));
    assert_eq!(header(&r, "x-api"), Some(api.as_str()));
    assert!(
        header(&r, "server").is_none(),
        "delete removes the backend's header"
    );
}

#[tokio::test]
async fn the_seed_cors_and_header_plugins_work_on_traffic() {
    let w = World::new().await;
    let b = w.backend.addr.to_string();
    let api = w.api("seeded", "GET", "/seeded", &b, "/", json!({})).await;
    for seed in seed_requests().into_iter().take(2) {
        let id = w.s.admin.post("/plugins", &seed["body"]).await.json["plugin_id"]
            .as_str()
            .unwrap()
            .to_string();
        w.s.admin.bind(&id, RELEASE, &[&api]).await;
    }
    let r = w
        .call("GET", "/seeded", &[("origin", "https://site.example")])
        .await;
    // The seed's "*" with credentials echoes the origin.
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://site.example")
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&r, "access-control-expose-headers"),
        Some("X-Request-Id,X-Apig-Latency")
    );
    assert_eq!(header(&r, "x-demo"), Some("sss"));
    let pre = w
        .call(
            "OPTIONS",
            "/seeded",
            &[
                ("origin", "https://site.example"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_eq!(header(&pre, "access-control-max-age"), Some("172800"));
    assert_eq!(
        header(&pre, "access-control-allow-methods"),
        Some("GET,POST,PUT")
    );
}
