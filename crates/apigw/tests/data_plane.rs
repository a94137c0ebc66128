//! The data plane end to end: routing, backends, authentication and hot reload, with the real
//! server on 127.0.0.1:0 and a real backend.

use apigw_testkit::{http_api, within, Backend, GatewayClient, TestServer, AK, RELEASE, SK, TOKEN};
use serde_json::{json, Value};
use sha2::Digest;
use std::time::Duration;

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
        let (group, host) = s.admin.create_group("shop").await;
        Self {
            s,
            backend,
            gw,
            group,
            host,
        }
    }

    fn b(&self) -> String {
        self.backend.addr.to_string()
    }

    /// Creates and publishes an API; returns its id.
    async fn api(
        &self,
        name: &str,
        method: &str,
        uri: &str,
        backend_uri: &str,
        extra: Value,
    ) -> String {
        let mut body = http_api(name, &self.group, method, uri, &self.b(), backend_uri);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.s.admin.create_published_api(body).await
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> apigw_testkit::Resp {
        let mut h = vec![("host", self.host.as_str())];
        h.extend_from_slice(headers);
        self.gw.call(method, path, &h, b"").await
    }

    /// `POST path` with the `(x-sdk-date, authorization)` of [`sign`], `extra` headers and `body`.
    async fn signed_post(
        &self,
        path: &str,
        (date, auth): &(String, String),
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> apigw_testkit::Resp {
        let mut h = vec![
            ("host", self.host.as_str()),
            ("x-sdk-date", date.as_str()),
            ("authorization", auth.as_str()),
        ];
        h.extend_from_slice(extra);
        self.gw.call("POST", path, &h, body).await
    }
}

/// The backend's echo of what it received.
fn echo(r: &apigw_testkit::Resp) -> &Value {
    assert_eq!(
        r.headers.get("x-backend").map(|v| v.to_str().unwrap()),
        Some("echo"),
        "{}",
        r.text
    );
    &r.json
}

#[tokio::test]
async fn routes_prefer_exact_then_param_then_prefix_and_substitute_parameters() {
    let w = World::new().await;
    w.api("me_api", "GET", "/users/me", "/me", json!({})).await;
    w.api(
        "user_api",
        "GET",
        "/users/{id}",
        "/backend/users/{id}",
        json!({}),
    )
    .await;
    w.api(
        "files_api",
        "GET",
        "/files/{path+}",
        "/store/{path}",
        json!({}),
    )
    .await;
    w.api(
        "swa_api",
        "ANY",
        "/static",
        "/assets",
        json!({"match_mode": "SWA"}),
    )
    .await;
    assert_eq!(echo(&w.call("GET", "/users/me", &[]).await)["path"], "/me");
    let r = w.call("GET", "/users/42?x=1&y=2", &[]).await;
    assert_eq!(echo(&r)["path"], "/backend/users/42");
    assert_eq!(echo(&r)["query"], "x=1&y=2", "the query string is kept");
    assert_eq!(
        echo(&w.call("GET", "/files/a/b/c.txt", &[]).await)["path"],
        "/store/a/b/c.txt"
    );
    assert_eq!(
        echo(&w.call("DELETE", "/static/css/site.css", &[]).await)["path"],
        "/assets/css/site.css"
    );
    let miss = w.call("POST", "/users/42", &[]).await;
    assert_eq!(
        (miss.status, miss.json["error_code"].as_str()),
        (404, Some("APIG.0101"))
    );
    assert_eq!(
        miss.json["request_id"],
        miss.headers["x-request-id"].to_str().unwrap()
    );
}

#[tokio::test]
async fn host_selects_the_group_and_x_stage_the_environment() {
    let w = World::new().await;
    w.api("in_group", "GET", "/where", "/group", json!({}))
        .await;
    let default_group = w.s.admin.default_group().await;
    w.s.admin
        .create_published_api(http_api(
            "in_default",
            &default_group,
            "GET",
            "/where",
            &w.b(),
            "/default",
        ))
        .await;
    let env = w.s.admin.post("/envs", &json!({"name": "TEST"})).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t =
        w.s.admin
            .create_api(http_api(
                "in_test",
                &w.group,
                "GET",
                "/only-test",
                &w.b(),
                "/test",
            ))
            .await;
    w.s.admin.publish(&t, &env, true).await;

    assert_eq!(echo(&w.call("GET", "/where", &[]).await)["path"], "/group");
    assert_eq!(
        echo(
            &w.gw
                .call("GET", "/where", &[("host", "other.example")], b"")
                .await
        )["path"],
        "/default"
    );
    assert_eq!(
        w.call("GET", "/only-test", &[]).await.status,
        404,
        "RELEASE is the default stage"
    );
    assert_eq!(
        echo(&w.call("GET", "/only-test", &[("x-stage", "TEST")]).await)["path"],
        "/test"
    );
    assert_eq!(
        w.call("GET", "/where", &[("x-stage", "NOPE")]).await.status,
        404
    );
}

#[tokio::test]
async fn the_backend_gets_the_body_and_forwarding_headers() {
    let w = World::new().await;
    w.api("post_api", "POST", "/orders", "/orders", json!({}))
        .await;
    let r =
        w.gw.call(
            "POST",
            "/orders",
            &[
                ("host", &w.host),
                ("x-forwarded-for", "10.1.1.1"),
                ("x-custom", "v"),
            ],
            b"{\"n\":1}",
        )
        .await;
    let e = echo(&r);
    assert_eq!(e["body"], "{\"n\":1}");
    assert_eq!(e["headers"]["x-forwarded-for"][0], "10.1.1.1, 127.0.0.1");
    assert_eq!(e["headers"]["x-forwarded-host"][0], w.host.as_str());
    assert_eq!(e["headers"]["x-forwarded-proto"][0], "http");
    assert_eq!(e["headers"]["host"][0], w.b().as_str());
    assert_eq!(e["headers"]["x-custom"][0], "v");
    assert_eq!(
        e["headers"]["x-request-id"][0],
        r.headers["x-request-id"].to_str().unwrap()
    );
    assert_eq!(r.headers["x-request-id"].len(), 32);
}

#[tokio::test]
async fn backend_timeouts_are_504_and_refusals_502() {
    let w = World::new().await;
    let mut slow = http_api("slow_api", &w.group, "GET", "/slow", &w.b(), "/slow/1500");
    slow["backend_api"]["timeout"] = json!(200);
    w.s.admin.create_published_api(slow).await;
    let r = w.call("GET", "/slow", &[]).await;
    assert_eq!(
        (
            r.status,
            r.json["error_code"].as_str(),
            r.json["error_msg"].as_str()
        ),
        (504, Some("APIG.0201"), Some("Backend timeout"))
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    w.s.admin
        .create_published_api(http_api("dead_api", &w.group, "GET", "/dead", &closed, "/"))
        .await;
    let r = w.call("GET", "/dead", &[]).await;
    assert_eq!(
        (
            r.status,
            r.json["error_code"].as_str(),
            r.json["error_msg"].as_str()
        ),
        (502, Some("APIG.0201"), Some("Backend unavailable"))
    );
    assert!(r.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn mock_backends_answer_without_a_backend() {
    let w = World::new().await;
    let body = json!({"name": "mock_api", "type": 1, "req_protocol": "HTTP", "req_method": "GET", "req_uri": "/mock",
        "auth_type": "NONE", "backend_type": "MOCK", "group_id": w.group,
        "mock_info": {"result_content": "{\"ok\":true}", "status_code": 201}});
    w.s.admin.create_published_api(body).await;
    let r = w.call("GET", "/mock", &[]).await;
    assert_eq!((r.status, r.text.as_str()), (201, "{\"ok\":true}"));
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(w.backend.calls(), 0);
}

#[tokio::test]
async fn iam_apis_take_the_admin_token_or_signature() {
    let w = World::new().await;
    w.api(
        "iam_api",
        "GET",
        "/iam",
        "/iam",
        json!({"auth_type": "IAM"}),
    )
    .await;
    let r = w.call("GET", "/iam", &[]).await;
    assert_eq!(
        (r.status, r.json["error_code"].as_str()),
        (401, Some("APIG.0301"))
    );
    let r = w.call("GET", "/iam", &[("x-auth-token", "wrong")]).await;
    assert_eq!(r.status, 401);
    let ok = w.call("GET", "/iam", &[("x-auth-token", TOKEN)]).await;
    assert_eq!(ok.status, 200);
    assert!(
        echo(&ok)["headers"].get("x-auth-token").is_none(),
        "the admin token is not handed on to the backend: {}",
        ok.text
    );
    let (date, auth) = sign("GET", "/iam", None, b"", &w.host, AK, SK);
    assert_eq!(
        w.call(
            "GET",
            "/iam",
            &[("x-sdk-date", &date), ("authorization", &auth)]
        )
        .await
        .status,
        200
    );
}

/// Now, as `X-Sdk-Date` writes it.
fn sdk_date() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap()
}

/// Signs a request the way the SDKs do (host and x-sdk-date signed).
fn sign(
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    host: &str,
    key: &str,
    secret: &str,
) -> (String, String) {
    let date = sdk_date();
    let parts = apigw_model::sign::RequestParts {
        method,
        path,
        query,
        body,
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
async fn app_apis_need_a_valid_signature_of_an_authorised_app() {
    let w = World::new().await;
    let api = w
        .api(
            "app_api",
            "POST",
            "/app",
            "/app",
            json!({"auth_type": "APP"}),
        )
        .await;
    let app = w.s.admin.post("/apps", &json!({"name": "caller_app", "app_key": "app-key-0001", "app_secret": "app-secret-0001"})).await.json;
    // An app that exists but is not authorised for the API.
    let other = w.s.admin.post("/apps", &json!({"name": "other_app", "app_key": "app-key-0002", "app_secret": "app-secret-0002"})).await;
    assert_eq!(other.status, 201);
    w.s.admin
        .post(
            "/app-auths",
            &json!({"env_id": RELEASE, "app_ids": [app["id"]], "api_ids": [api]}),
        )
        .await;
    let body = b"{\"x\":1}";
    let signed = sign(
        "POST",
        "/app",
        Some("q=1"),
        body,
        &w.host,
        "app-key-0001",
        "app-secret-0001",
    );
    let ok = w.signed_post("/app?q=1", &signed, &[], body).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        echo(&ok)["body"],
        "{\"x\":1}",
        "the body read for the signature still reaches the backend"
    );
    let tampered = w.signed_post("/app?q=1", &signed, &[], b"{\"x\":2}").await;
    assert_eq!(
        (tampered.status, tampered.json["error_code"].as_str()),
        (401, Some("APIG.0303"))
    );
    let outsider = sign(
        "POST",
        "/app",
        None,
        b"",
        &w.host,
        "app-key-0002",
        "app-secret-0002",
    );
    let denied = w.signed_post("/app", &outsider, &[], b"").await;
    assert_eq!(
        (denied.status, denied.json["error_code"].as_str()),
        (403, Some("APIG.0304"))
    );
    let unsigned = w.call("POST", "/app", &[]).await;
    assert_eq!(unsigned.status, 401);
    // X-Sdk-Content-Sha256 is not signed: naming the captured body's hash there does not let
    // another body through.
    let hash = hex::encode(sha2::Sha256::digest(body));
    let swapped = w
        .signed_post(
            "/app?q=1",
            &signed,
            &[("x-sdk-content-sha256", &hash)],
            b"{\"x\":666}",
        )
        .await;
    assert_eq!(
        (swapped.status, swapped.json["error_code"].as_str()),
        (401, Some("APIG.0303"))
    );
    // A signed header sent twice: every value is signed, so a value added to a captured
    // request (which the backend might read instead of the first) breaks the signature.
    let doubled = w
        .signed_post(
            "/app?q=1",
            &signed,
            &[("x-sdk-date", "20991231T000000Z")],
            body,
        )
        .await;
    assert_eq!(
        (doubled.status, doubled.json["error_code"].as_str()),
        (401, Some("APIG.0303"))
    );
    // The official SDKs send UNSIGNED-PAYLOAD on a request without a body and sign the empty
    // body's hash: accepted.
    let bodyless = sign(
        "POST",
        "/app",
        None,
        b"",
        &w.host,
        "app-key-0001",
        "app-secret-0001",
    );
    let sdk_empty = w
        .signed_post(
            "/app",
            &bodyless,
            &[("x-sdk-content-sha256", "UNSIGNED-PAYLOAD")],
            b"",
        )
        .await;
    assert_eq!(sdk_empty.status, 200, "{}", sdk_empty.text);
}

#[tokio::test]
async fn a_signed_body_is_not_read_before_the_signature_could_be_valid() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = World::new().await;
    w.api(
        "app_body_api",
        "POST",
        "/app-body",
        "/app",
        json!({"auth_type": "APP"}),
    )
    .await;
    // A head announcing a body that never comes: an unknown key or a malformed header is
    // answered at once, without waiting for (and buffering) the body.
    let unknown_key = format!(
        "SDK-HMAC-SHA256 Access=nobody, SignedHeaders=host;x-sdk-date, Signature={}",
        "0".repeat(64)
    );
    let date = sdk_date();
    for authorization in ["x", unknown_key.as_str()] {
        let mut c = tokio::net::TcpStream::connect(w.s.running.gateway_addr)
            .await
            .unwrap();
        let head = format!(
            "POST /app-body HTTP/1.1\r\nhost: {}\r\nx-sdk-date: {date}\r\n\
             authorization: {authorization}\r\ncontent-length: 1000000\r\n\r\n",
            w.host
        );
        c.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(3), c.read(&mut answer))
            .await
            .expect("answered without the body")
            .unwrap();
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 401"), "{authorization}: {text}");
        assert!(text.contains("APIG.0303"), "{text}");
    }
}

#[tokio::test]
async fn publishing_binding_and_offline_take_effect_within_100ms() {
    let w = World::new().await;
    let id =
        w.s.admin
            .create_api(http_api("hot_api", &w.group, "GET", "/hot", &w.b(), "/hot"))
            .await;
    assert_eq!(w.call("GET", "/hot", &[]).await.status, 404);
    w.s.admin.publish(&id, RELEASE, true).await;
    let took = within(Duration::from_millis(100), || async {
        w.call("GET", "/hot", &[]).await.status == 200
    })
    .await;
    assert!(took.is_some(), "published API served within 100 ms");

    let p = w
        .s
        .admin
        .create_plugin(
            "hot headers",
            "set_resp_headers",
            json!({"response_headers": [{"name": "x-hot", "value": "on", "action": "override"}]}),
        )
        .await;
    w.s.admin.bind(&p, RELEASE, &[&id]).await;
    let took = within(Duration::from_millis(100), || async {
        w.call("GET", "/hot", &[])
            .await
            .headers
            .contains_key("x-hot")
    })
    .await;
    assert!(took.is_some(), "binding enforced within 100 ms");

    let upd = json!({"plugin_name": "hot headers", "plugin_type": "set_resp_headers", "plugin_scope": "global",
        "plugin_content": json!({"response_headers": [{"name": "x-hot", "value": "updated", "action": "override"}]}).to_string()});
    assert_eq!(
        w.s.admin.put(&format!("/plugins/{p}"), &upd).await.status,
        200
    );
    let took = within(Duration::from_millis(100), || async {
        w.call("GET", "/hot", &[])
            .await
            .headers
            .get("x-hot")
            .is_some_and(|v| v == "updated")
    })
    .await;
    assert!(took.is_some(), "plug-in update enforced within 100 ms");

    w.s.admin.unbind(&p, RELEASE, &[&id]).await;
    let took = within(Duration::from_millis(100), || async {
        !w.call("GET", "/hot", &[])
            .await
            .headers
            .contains_key("x-hot")
    })
    .await;
    assert!(took.is_some(), "unbinding enforced within 100 ms");

    w.s.admin.publish(&id, RELEASE, false).await;
    let took = within(Duration::from_millis(100), || async {
        w.call("GET", "/hot", &[]).await.status == 404
    })
    .await;
    assert!(took.is_some(), "offline enforced within 100 ms");
}

#[tokio::test]
async fn in_flight_calls_survive_a_reload() {
    let w = World::new().await;
    let id = w
        .api("slow_api", "GET", "/slow", "/slow/300", json!({}))
        .await;
    let gw = w.gw.clone();
    let host = w.host.clone();
    let in_flight =
        tokio::spawn(async move { gw.call("GET", "/slow", &[("host", &host)], b"").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    w.s.admin.publish(&id, RELEASE, false).await;
    let r = in_flight.await.unwrap();
    assert_eq!(
        r.status, 200,
        "the call that started before the change completes"
    );
}

#[tokio::test]
async fn metrics_count_calls_by_api_and_status() {
    let w = World::new().await;
    let id = w.api("metered", "GET", "/m", "/m", json!({})).await;
    for _ in 0..3 {
        w.call("GET", "/m", &[]).await;
    }
    let text = w.s.admin.metrics().await;
    assert!(
        text.contains(&format!(
            "apigw_requests_total{{api_id=\"{id}\",api_name=\"metered\",status=\"200\"}} 3"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "apigw_decisions_total{{api_id=\"{id}\",decision=\"proxied\"}} 3"
    )));
    assert!(text.contains(&format!(
        "apigw_request_duration_seconds_count{{api_id=\"{id}\"}} 3"
    )));
    assert!(text.contains("apigw_reloads_total"));
}

#[tokio::test]
async fn backend_connections_are_pooled_and_reused() {
    let w = World::new().await;
    w.api("pooled", "GET", "/pooled", "/pooled", json!({}))
        .await;
    let mut peers = std::collections::HashSet::new();
    for _ in 0..20 {
        let r = w.call("GET", "/pooled", &[]).await;
        peers.insert(echo(&r)["peer"].as_str().unwrap().to_string());
    }
    assert_eq!(
        peers.len(),
        1,
        "20 sequential calls share one keep-alive connection: {peers:?}"
    );
    // Large bodies stream both ways, and the connection goes back to the pool afterwards.
    w.api("upload", "POST", "/upload", "/upload", json!({}))
        .await;
    let big = vec![b'x'; 300_000];
    let r =
        w.gw.call("POST", "/upload", &[("host", &w.host)], &big)
            .await;
    assert_eq!(echo(&r)["body"].as_str().unwrap().len(), 300_000);
    peers.insert(echo(&r)["peer"].as_str().unwrap().to_string());
    let again = w.call("GET", "/pooled", &[]).await;
    peers.insert(echo(&again)["peer"].as_str().unwrap().to_string());
    assert_eq!(
        peers.len(),
        1,
        "still one connection after a large exchange: {peers:?}"
    );
}
