//! proxy_mirror end to end: a real backend answers the calls, a real mirror server receives
//! the copies (method, path as configured, query, headers, body), and a mirror that is dead or
//! never answers changes nothing of the real call — its latency measured against the same
//! calls without the plug-in.

use apigw_testkit::{http_api, Backend, GatewayClient, Resp, TestServer, RELEASE};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A copy the mirror received: method, path and query, a header, body.
#[derive(Debug, PartialEq)]
struct Copy {
    method: String,
    target: String,
    demo: Option<String>,
    body: String,
}

/// A real HTTP server recording what it receives; answers 500 (the answer is discarded).
async fn recording_mirror() -> (String, mpsc::UnboundedReceiver<Copy>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let tx = tx.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let _ = tx.send(Copy {
                method: parts.method.to_string(),
                target: parts.uri.to_string(),
                demo: parts
                    .headers
                    .get("x-demo")
                    .map(|v| v.to_str().unwrap().to_string()),
                body: String::from_utf8_lossy(&body).into(),
            });
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "mirror")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), rx)
}

/// A server that accepts connections and never answers (nor closes them).
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            held.push(c);
        }
    });
    addr.to_string()
}

async fn next_copy(rx: &mut mpsc::UnboundedReceiver<Copy>) -> Copy {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the mirror received a copy")
        .unwrap()
}

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
        let (group, host) = s.admin.create_group("mirrored").await;
        Self {
            s,
            backend,
            gw,
            group,
            host,
        }
    }

    /// A published API on `method uri` proxied to the backend's `backend_uri`.
    async fn api(&self, name: &str, method: &str, uri: &str, backend_uri: &str) -> String {
        let body = http_api(
            name,
            &self.group,
            method,
            uri,
            &self.backend.addr.to_string(),
            backend_uri,
        );
        self.s.admin.create_published_api(body).await
    }

    async fn mirror(&self, content: Value, api: &str) -> String {
        let p = self
            .s
            .admin
            .create_plugin("mirror", "proxy_mirror", content)
            .await;
        self.s.admin.bind(&p, RELEASE, &[api]).await;
        p
    }

    /// Replaces the mirror plug-in's content.
    async fn update(&self, plugin: &str, content: Value) {
        let r = self
            .s
            .admin
            .put(
                &format!("/plugins/{plugin}"),
                &json!({"plugin_name": "mirror", "plugin_type": "proxy_mirror", "plugin_scope": "global",
                        "plugin_content": content.to_string()}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    async fn call(&self, method: &str, path: &str, body: &[u8]) -> Resp {
        let h = [("host", self.host.as_str()), ("x-demo", "d1")];
        self.gw.call(method, path, &h, body).await
    }
}

#[tokio::test]
async fn a_call_is_copied_with_method_path_query_headers_and_body() {
    let w = World::new().await;
    let api = w.api("orders", "POST", "/orders/{id}", "/o/{id}").await;
    let (mirror, mut copies) = recording_mirror().await;
    let plugin = w
        .mirror(
            json!({"protocol": "HTTP", "host": mirror, "path": "/shadow", "path_concat_mode": "prefix"}),
            &api,
        )
        .await;

    let r = w.call("POST", "/orders/7?x=1&y=2", b"hello").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["path"], "/o/7", "the real call is unchanged");
    assert_eq!(r.json["body"], "hello");
    assert_eq!(
        next_copy(&mut copies).await,
        Copy {
            method: "POST".into(),
            target: "/shadow/orders/7?x=1&y=2".into(),
            demo: Some("d1".into()),
            body: "hello".into(),
        }
    );

    // replace, without the body.
    let content = json!({"protocol": "HTTP", "host": mirror, "path": "/copy",
                         "mirror_request_body_enabled": false});
    w.update(&plugin, content).await;
    let r = w.call("POST", "/orders/8?x=3", b"secret").await;
    assert_eq!(r.json["body"], "secret", "the backend still gets the body");
    let copy = next_copy(&mut copies).await;
    assert_eq!(
        (copy.target.as_str(), copy.body.as_str()),
        ("/copy?x=3", "")
    );
    assert_eq!(w.backend.calls(), 2);
}

#[tokio::test]
async fn the_sample_ratio_picks_that_share_of_calls() {
    let w = World::new().await;
    let api = w.api("sampled", "GET", "/s", "/s").await;
    let (mirror, mut copies) = recording_mirror().await;
    w.mirror(
        json!({"protocol": "HTTP", "host": mirror, "sample_ratio": 0.25}),
        &api,
    )
    .await;
    for _ in 0..8 {
        assert_eq!(w.call("GET", "/s", b"").await.status, 200);
    }
    next_copy(&mut copies).await;
    next_copy(&mut copies).await;
    // Every call is answered before its copy could be lost: none more arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), copies.recv())
            .await
            .is_err(),
        "two copies of eight calls at 0.25"
    );
    assert_eq!(w.backend.calls(), 8);
}

/// The median of `n` calls' latency.
async fn median_latency(w: &World, n: usize) -> Duration {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = w.call("GET", "/m", b"").await;
        took.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", r.text);
    }
    took.sort();
    took[n / 2]
}

#[tokio::test]
async fn a_mirror_that_never_answers_or_is_dead_changes_nothing_of_the_real_call() {
    let w = World::new().await;
    let api = w.api("measured", "GET", "/m", "/m").await;
    let without = median_latency(&w, 30).await;

    let plugin = w
        .mirror(
            json!({"protocol": "HTTP", "host": black_hole().await, "timeout": 60000}),
            &api,
        )
        .await;
    let with_silent = median_latency(&w, 30).await;
    // The mirror's timeout is a minute: a call waiting on it would take that long.
    assert!(
        with_silent < without + Duration::from_millis(50),
        "median {with_silent:?} with a silent mirror, {without:?} without"
    );

    // A dead mirror (nothing listens): every call still answered by the backend.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let content = json!({"protocol": "HTTP", "host": dead_addr});
    w.update(&plugin, content).await;
    for _ in 0..5 {
        let r = w.call("GET", "/m", b"").await;
        assert_eq!((r.status, r.json["path"].as_str()), (200, Some("/m")));
    }
    assert_eq!(w.backend.calls(), 65);
    let metrics = w.s.admin.metrics().await;
    assert!(
        metrics.contains(&format!(
            "apigw_mirror_dropped_total{{plugin_id=\"{plugin}\"}} 0"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn binding_to_a_mock_api_is_refused_naming_the_ids() {
    let w = World::new().await;
    let mock =
        w.s.admin
            .create_published_api(
                json!({"name": "mocked", "type": 1, "req_protocol": "HTTP", "req_method": "GET",
            "req_uri": "/mock", "auth_type": "NONE", "backend_type": "MOCK", "group_id": w.group,
            "mock_info": {"status_code": 200, "result_content": "hi"}}),
            )
            .await;
    let plugin =
        w.s.admin
            .create_plugin(
                "mirror",
                "proxy_mirror",
                json!({"protocol": "HTTP", "host": "127.0.0.1:9"}),
            )
            .await;
    let r =
        w.s.admin
            .post(
                &format!("/plugins/{plugin}/attach"),
                &json!({"env_id": RELEASE, "api_ids": [mock]}),
            )
            .await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
    assert!(r.text.contains("api_ids"), "{}", r.text);
    let r =
        w.s.admin
            .post(
                &format!("/apis/{mock}/plugins/attach"),
                &json!({"env_id": RELEASE, "plugin_ids": [plugin]}),
            )
            .await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
    assert!(r.text.contains("plugin_ids"), "{}", r.text);
    // Other types still bind to it.
    let cors =
        w.s.admin
            .create_plugin("cors", "cors", json!({"allow_origin": "*"}))
            .await;
    w.s.admin.bind(&cors, RELEASE, &[&mock]).await;
}

#[tokio::test]
async fn bad_content_is_refused_naming_every_field() {
    let w = World::new().await;
    let content = json!({"protocol": "FTP", "host": "", "path": "no-slash",
                         "path_concat_mode": "x", "sample_ratio": 2, "timeout": 0});
    let r = w
        .s
        .admin
        .post(
            "/plugins",
            &json!({"plugin_name": "mirror", "plugin_type": "proxy_mirror", "plugin_scope": "global",
                    "plugin_content": content.to_string()}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
    for field in [
        "protocol",
        "host",
        "path",
        "path_concat_mode",
        "sample_ratio",
        "timeout",
    ] {
        assert!(
            r.text.contains(&format!("plugin_content.{field}")),
            "{field}: {}",
            r.text
        );
    }
}
