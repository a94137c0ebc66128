//! third_auth on live traffic with a real auth service (a small HTTP app started here) and a
//! real backend: verdicts, identities, carried headers (and injection attempts), body and path
//! carrying, rules, the brute-force guard, downgrade, and the seed configurations.

use apigw_testkit::{http_api, seed_requests, Backend, GatewayClient, Resp, TestServer, RELEASE};
use axum::extract::Request;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// The auth service: the `token` header decides. `good` → 200 with `x-message-result: success`
/// and `x-user: alice`; `deny` → 200 with `x-message-result: fail` and a JSON body; `boom` → 500;
/// `slow` → answers after 2 s; `huge` → 403 with a 100 KiB body; anything else → 403. It remembers the last request it saw.
struct AuthService {
    addr: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl AuthService {
    async fn start() -> Self {
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let headers: serde_json::Map<String, Value> = parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap_or("").into())))
                    .collect();
                log.lock().unwrap().push(json!({"method": parts.method.as_str(), "path": parts.uri.path(),
                    "query": parts.uri.query().unwrap_or(""), "headers": headers, "body": String::from_utf8_lossy(&body)}));
                let token = parts.headers.get("token").and_then(|v| v.to_str().ok()).unwrap_or("");
                let mut resp = axum::response::Response::new(axum::body::Body::empty());
                match token {
                    "good" => {
                        resp.headers_mut().insert("x-message-result", "success".parse().unwrap());
                        resp.headers_mut().insert("x-user", "alice".parse().unwrap());
                    }
                    "deny" => {
                        resp.headers_mut().insert("x-message-result", "fail".parse().unwrap());
                        resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        *resp.body_mut() = axum::body::Body::from("{\"reason\":\"denied\"}");
                    }
                    "boom" => *resp.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "huge" => {
                        *resp.status_mut() = axum::http::StatusCode::FORBIDDEN;
                        *resp.body_mut() = axum::body::Body::from(vec![b'x'; 100 * 1024]);
                    }
                    "slow" => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
                    _ => *resp.status_mut() = axum::http::StatusCode::FORBIDDEN,
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen }
    }

    fn last(&self) -> Value {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

struct World {
    s: TestServer,
    _backend: Backend,
    auth: AuthService,
    gw: GatewayClient,
    host: String,
    api: String,
}

impl World {
    async fn new() -> Self {
        let s = TestServer::start().await;
        let backend = Backend::start().await;
        let auth = AuthService::start().await;
        let gw = GatewayClient::new(s.running.gateway_addr);
        let (group, host) = s.admin.create_group("guarded").await;
        let api = s
            .admin
            .create_published_api(http_api(
                "guarded_api",
                &group,
                "ANY",
                "/g",
                &backend.addr.to_string(),
                "/g",
            ))
            .await;
        let api2 = s.admin.create_published_api(json!({"name": "guarded_tree", "type": 1, "req_protocol": "HTTP", "req_method": "ANY",
            "req_uri": "/tree", "match_mode": "SWA", "auth_type": "NONE", "backend_type": "HTTP", "group_id": group,
            "backend_api": {"url_domain": backend.addr.to_string(), "req_protocol": "HTTP", "req_method": "ANY", "req_uri": "/tree", "timeout": 2000}})).await;
        Self {
            s,
            _backend: backend,
            auth,
            gw,
            host,
            api: format!("{api},{api2}"),
        }
    }

    fn base(&self) -> Value {
        json!({"auth_request": {"method": "POST", "protocol": "HTTP", "url_domain": self.auth.addr, "path": "/check", "timeout": 1000},
               "identities": {"headers": [{"name": "token", "essential": true}]},
               "simple_auth_mode_enabled": false, "match_auth": {"key": "x-message-result", "value": "success"},
               "carry_resp_headers": ["x-user"]})
    }

    async fn bind(&self, content: Value) {
        let p = self
            .s
            .admin
            .create_plugin("auth plugin", "third_auth", content)
            .await;
        let apis: Vec<&str> = self.api.split(',').collect();
        self.s.admin.bind(&p, RELEASE, &apis).await;
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut h = vec![("host", self.host.as_str())];
        h.extend_from_slice(headers);
        self.gw.call(method, path, &h, body).await
    }
}

fn code(r: &Resp) -> (u16, &str) {
    (r.status, r.json["error_code"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn a_matching_answer_passes_and_carries_headers_that_clients_cannot_inject() {
    let w = World::new().await;
    w.bind(w.base()).await;
    let r = w
        .call(
            "GET",
            "/g",
            &[("token", "good"), ("x-user", "mallory")],
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let users = &r.json["headers"]["x-user"];
    assert_eq!(
        users,
        &json!(["alice"]),
        "the auth service's value, never the client's"
    );
    // Nor can a client have it dropped by naming it as an option of its connection.
    let r = w
        .call(
            "GET",
            "/g",
            &[("token", "good"), ("connection", "x-user")],
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["headers"]["x-user"], json!(["alice"]), "{}", r.text);
    // A refused call has the client's copy removed as well.
    let r = w
        .call(
            "GET",
            "/g",
            &[("token", "nope"), ("x-user", "mallory")],
            b"",
        )
        .await;
    assert_eq!(code(&r), (401, "APIG.0312"));
}

#[tokio::test]
async fn refusals_are_401_with_the_auth_body_when_asked() {
    let w = World::new().await;
    let mut c = w.base();
    c["return_resp_body_enabled"] = json!(true);
    w.bind(c).await;
    let r = w.call("GET", "/g", &[("token", "deny")], b"").await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (401, "{\"reason\":\"denied\"}")
    );
    assert_eq!(r.headers["content-type"], "application/json");
}

#[tokio::test]
async fn simple_mode_passes_any_2xx() {
    let w = World::new().await;
    let mut c = w.base();
    c["simple_auth_mode_enabled"] = json!(true);
    c.as_object_mut().unwrap().remove("match_auth");
    w.bind(c).await;
    assert_eq!(
        w.call("GET", "/g", &[("token", "deny")], b"").await.status,
        200,
        "deny answers 200: simple mode passes"
    );
    assert_eq!(
        code(&w.call("GET", "/g", &[("token", "other")], b"").await),
        (401, "APIG.0312"),
        "403 from the service"
    );
}

#[tokio::test]
async fn identities_are_forwarded_and_essential_ones_required() {
    let w = World::new().await;
    let mut c = w.base();
    c["identities"] = json!({"headers": [{"name": "token", "essential": true}, {"name": "x-tenant"}],
                             "query": [{"name": "user", "essential": true}]});
    w.bind(c).await;
    let r = w
        .call(
            "GET",
            "/g?user=bob&other=1",
            &[("token", "good"), ("x-tenant", "t1"), ("x-secret", "s")],
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = w.auth.last();
    assert_eq!(seen["query"], "user=bob");
    assert_eq!(seen["headers"]["x-tenant"], "t1");
    assert!(
        seen["headers"].get("x-secret").is_none(),
        "only identities are forwarded"
    );
    assert_eq!(
        seen["headers"]["host"],
        w.auth.addr.as_str(),
        "the auth service's own Host"
    );
    let before = w.auth.calls();
    assert_eq!(
        code(&w.call("GET", "/g?user=bob", &[], b"").await),
        (401, "APIG.0313")
    );
    assert_eq!(
        code(&w.call("GET", "/g", &[("token", "good")], b"").await),
        (401, "APIG.0313")
    );
    assert_eq!(
        w.auth.calls(),
        before,
        "no call to the auth service without the essential identities"
    );
}

#[tokio::test]
async fn without_identities_every_header_and_the_query_go_along() {
    let w = World::new().await;
    let mut c = w.base();
    c.as_object_mut().unwrap().remove("identities");
    w.bind(c).await;
    assert_eq!(
        w.call(
            "GET",
            "/g?a=1&b=2",
            &[
                ("token", "good"),
                ("x-any", "v"),
                ("x-request-id", "client-correlation"),
                ("x-forwarded-for", "10.9.9.9"),
            ],
            b""
        )
        .await
        .status,
        200
    );
    let seen = w.auth.last();
    assert_eq!(
        (seen["query"].as_str(), seen["headers"]["x-any"].as_str()),
        (Some("a=1&b=2"), Some("v"))
    );
    // The gateway's own forwarding headers are for backends: the auth service gets the
    // client's as they came.
    assert_eq!(seen["headers"]["x-request-id"], "client-correlation");
    assert_eq!(seen["headers"]["x-forwarded-for"], "10.9.9.9");
}

#[tokio::test]
async fn body_and_path_can_be_carried_and_big_bodies_are_413() {
    let w = World::new().await;
    let mut c = w.base();
    c["carry_body"] = json!({"enabled": true, "max_body_size": 16});
    c["carry_path_enabled"] = json!(true);
    w.bind(c).await;
    let r = w
        .call("POST", "/tree/a/b", &[("token", "good")], b"{\"small\":1}")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["body"], "{\"small\":1}",
        "the backend still gets the body"
    );
    let seen = w.auth.last();
    assert_eq!(
        (seen["path"].as_str(), seen["body"].as_str()),
        (Some("/check/tree/a/b"), Some("{\"small\":1}"))
    );
    let r = w
        .call(
            "POST",
            "/tree/a",
            &[("token", "good")],
            b"{\"this body is too long\":1}",
        )
        .await;
    assert_eq!(code(&r), (413, "APIG.0201"));
}

#[tokio::test]
async fn allow_rules_skip_auth_and_deny_rules_require_it() {
    let w = World::new().await;
    let mut allow = w.base();
    allow["rule_enabled"] = json!(true);
    allow["rule_type"] = json!("allow");
    allow["parameters"] = json!([{"name": "reqPath", "type": "path", "value": "reqPath"}]);
    allow["rules"] =
        json!([{"rule_name": "public", "match_regex": "[\"reqPath\",\"~~\",\"^/tree/public\"]"}]);
    w.bind(allow).await;
    assert_eq!(
        w.call("GET", "/tree/public/x", &[], b"").await.status,
        200,
        "allow: matching calls skip auth"
    );
    assert_eq!(w.call("GET", "/tree/private", &[], b"").await.status, 401);

    let w = World::new().await;
    let mut deny = w.base();
    deny["rule_enabled"] = json!(true);
    deny["rule_type"] = json!("deny");
    deny["parameters"] = json!([{"name": "m", "type": "method", "value": "method"}]);
    deny["rules"] =
        json!([{"rule_name": "writes", "match_regex": "[\"m\",\"in\",\"POST,PUT,DELETE\"]"}]);
    w.bind(deny).await;
    assert_eq!(
        w.call("GET", "/g", &[], b"").await.status,
        200,
        "deny: only matching calls need auth"
    );
    assert_eq!(
        code(&w.call("POST", "/g", &[], b"").await),
        (401, "APIG.0313")
    );
}

#[tokio::test]
async fn repeated_failures_from_one_ip_are_403() {
    let w = World::new().await;
    let mut c = w.base();
    c["custom_forbid_limit"] = json!(2);
    w.bind(c).await;
    for _ in 0..3 {
        assert_eq!(
            code(&w.call("GET", "/g", &[("token", "bad")], b"").await),
            (401, "APIG.0312")
        );
    }
    let calls = w.auth.calls();
    assert_eq!(
        code(&w.call("GET", "/g", &[("token", "good")], b"").await),
        (403, "APIG.0314")
    );
    assert_eq!(
        w.auth.calls(),
        calls,
        "a forbidden IP does not reach the auth service"
    );
}

#[tokio::test]
async fn an_unavailable_auth_service_is_500_unless_downgrade_is_on() {
    let w = World::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut c = w.base();
    c["auth_request"]["url_domain"] = json!(closed);
    w.bind(c.clone()).await;
    assert_eq!(
        code(&w.call("GET", "/g", &[("token", "good")], b"").await),
        (500, "APIG.0617")
    );

    let w = World::new().await;
    let mut c = w.base();
    c["auth_request"]["timeout"] = json!(200);
    c["auth_downgrade_enabled"] = json!(true);
    w.bind(c).await;
    assert_eq!(
        w.call("GET", "/g", &[("token", "boom")], b"").await.status,
        200,
        "5xx with downgrade: passes"
    );
    assert_eq!(
        w.call("GET", "/g", &[("token", "slow")], b"").await.status,
        200,
        "timeout with downgrade: passes"
    );
    assert_eq!(
        code(&w.call("GET", "/g", &[("token", "bad")], b"").await),
        (401, "APIG.0312"),
        "a real refusal still refuses"
    );
    assert_eq!(
        code(&w.call("GET", "/g", &[("token", "huge")], b"").await),
        (401, "APIG.0312"),
        "a refusal with a body too large to keep is still a refusal, not an outage"
    );
}

#[tokio::test]
async fn the_seed_configurations_work_in_both_spellings() {
    for seed in [5usize, 11] {
        let w = World::new().await;
        let body = seed_requests()[seed]["body"].clone();
        let content =
            apigw_plugins::registry::decode(body["plugin_content"].as_str().unwrap()).unwrap();
        let mut content = Value::Object(content);
        // The seeds point at an address of theirs and wait 10 ms: point at ours, wait longer.
        content["auth_request"]["url_domain"] = json!(w.auth.addr);
        content["auth_request"]["timeout"] = json!(1000);
        w.bind(content).await;
        let r = w.call("GET", "/g?user=u1", &[("token", "good")], b"").await;
        assert_eq!(r.status, 200, "seed {seed}: {}", r.text);
        // The seeds return the auth service's body on refusal (here an empty 403 body).
        let refused = w.call("GET", "/g?user=u1", &[("token", "x")], b"").await;
        assert_eq!(
            (refused.status, refused.text.as_str()),
            (401, ""),
            "seed {seed}"
        );
        let seen = w.auth.last();
        assert_eq!(
            (seen["query"].as_str(), seen["headers"]["token"].as_str()),
            (Some("user=u1"), Some("x")),
            "seed {seed}: identities"
        );
        assert_eq!(seen["method"], "POST");
    }
}
