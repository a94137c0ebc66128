//! Gateway responses on live traffic: a refusal of the gateway answered through the route's
//! response set (status, headers, body template), the group's default set for calls no API
//! matched, an API switched to another set by `response_id`, and the default unchanged.

use apigw_testkit::{http_api, Backend, GatewayClient, Resp, TestServer, RELEASE};
use serde_json::{json, Value};

fn request_id(r: &Resp) -> String {
    r.headers["x-request-id"].to_str().unwrap().to_string()
}

/// The group's default set id (created on first use).
async fn default_set(s: &TestServer, group: &str) -> String {
    let r = s
        .admin
        .get(&format!("/api-groups/{group}/gateway-responses"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["responses"][0]["id"].as_str().unwrap().to_string()
}

async fn customise(s: &TestServer, group: &str, set: &str, t: &str, body: Value) {
    let r = s
        .admin
        .put(
            &format!("/api-groups/{group}/gateway-responses/{set}/{t}"),
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_custom_throttled_response_reaches_the_client_when_rate_limit_refuses() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    let (group, host) = s.admin.create_group("custom").await;
    let (plain_group, plain_host) = s.admin.create_group("plain").await;
    let b = backend.addr.to_string();
    let limited = s
        .admin
        .create_api(http_api("limited", &group, "GET", "/l", &b, "/"))
        .await;
    let plain = s
        .admin
        .create_api(http_api("plain", &plain_group, "GET", "/l", &b, "/"))
        .await;
    for api in [&limited, &plain] {
        s.admin.publish(api, RELEASE, true).await;
    }
    let p = s
        .admin
        .create_plugin(
            "one per hour",
            "rate_limit",
            json!({"api_limit": 1, "default_time_unit": "hour"}),
        )
        .await;
    s.admin.bind(&p, RELEASE, &[&limited, &plain]).await;

    let set = default_set(&s, &group).await;
    customise(
        &s,
        &group,
        &set,
        "THROTTLED",
        json!({"status": 503, "headers": [{"key": "X-Why", "value": "throttled"}],
               "body": "slow down: $context.error.code ($context.error.type) id=$context.requestId api=$context.apiName"}),
    )
    .await;
    customise(
        &s,
        &group,
        &set,
        "NOT_FOUND",
        json!({"status": 410, "body": "<h1>$context.error.message</h1> $context.reqMethod $context.reqPath"}),
    )
    .await;

    let call = |host: String, path: &'static str| {
        let gw = gw.clone();
        async move { gw.call("GET", path, &[("host", &host)], b"").await }
    };
    assert_eq!(call(host.clone(), "/l").await.status, 200);
    let r = call(host.clone(), "/l").await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.headers["x-why"], "throttled");
    assert_eq!(
        r.text,
        format!(
            "slow down: APIG.0308 (THROTTLED) id={} api=limited",
            request_id(&r)
        )
    );
    assert_eq!(
        backend.calls(),
        1,
        "the refused call never reached the backend"
    );

    // No API matched, the group known: its default set answers.
    let r = call(host.clone(), "/nothing-here").await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(
        r.text,
        "<h1>The API does not exist or has not been published in the environment</h1> GET /nothing-here"
    );

    // The other group customises nothing: APIG's JSON, byte for byte.
    assert_eq!(call(plain_host.clone(), "/l").await.status, 200);
    let r = call(plain_host.clone(), "/l").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(
        r.text,
        format!(
            "{{\"error_code\":\"APIG.0308\",\"error_msg\":\"The throttling threshold has been reached\",\"request_id\":\"{}\"}}",
            request_id(&r)
        )
    );
    assert!(r.headers.get("x-why").is_none());
    let r = call(plain_host.clone(), "/nothing-here").await;
    assert_eq!((r.status, r.code()), (404, "APIG.0101"), "{}", r.text);

    // Reset to default: APIG's JSON again at once.
    let r = s
        .admin
        .delete(&format!(
            "/api-groups/{group}/gateway-responses/{set}/THROTTLED"
        ))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(host.clone(), "/l").await;
    assert_eq!((r.status, r.code()), (429, "APIG.0308"), "{}", r.text);
}

#[tokio::test]
async fn an_api_picks_its_response_set_by_response_id() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    let (group, host) = s.admin.create_group("sets").await;
    let b = backend.addr.to_string();
    let base = format!("/api-groups/{group}/gateway-responses");
    let r = s
        .admin
        .post(
            &base,
            &json!({"name": "strict", "responses": {"AUTH_FAILURE": {"status": 403,
                "body": "{\"denied\":\"$context.error.code\"}",
                "headers": [{"key": "X-Set", "value": "strict"}]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let strict = r.json["id"].as_str().unwrap().to_string();

    let mut picky = http_api("picky", &group, "GET", "/picky", &b, "/");
    picky["auth_type"] = json!("APP");
    picky["response_id"] = json!(strict);
    let mut other = http_api("other", &group, "GET", "/other", &b, "/");
    other["auth_type"] = json!("APP");
    let picky = s.admin.create_api(picky).await;
    let other = s.admin.create_api(other).await;
    for api in [&picky, &other] {
        s.admin.publish(api, RELEASE, true).await;
    }

    let r = gw.call("GET", "/picky", &[("host", &host)], b"").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.text, "{\"denied\":\"APIG.0303\"}");
    assert_eq!(r.headers["x-set"], "strict");
    let r = gw.call("GET", "/other", &[("host", &host)], b"").await;
    assert_eq!((r.status, r.code()), (401, "APIG.0303"), "{}", r.text);
    assert!(r.headers.get("x-set").is_none());
    assert_eq!(backend.calls(), 0);

    // response_id must name a set of the API's group.
    let (other_group, _) = s.admin.create_group("elsewhere").await;
    let mut bad = http_api("bad", &other_group, "GET", "/bad", &b, "/");
    bad["response_id"] = json!(strict);
    let r = s.admin.post("/apis", &bad).await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
    assert!(r.text.contains("parameterName:response_id"), "{}", r.text);
    bad["response_id"] = json!(1);
    let r = s.admin.post("/apis", &bad).await;
    assert!(r.text.contains("parameterName:response_id"), "{}", r.text);

    // A deleted set: the API falls back to the group's default.
    let r = s.admin.delete(&format!("{base}/{strict}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = gw.call("GET", "/picky", &[("host", &host)], b"").await;
    assert_eq!((r.status, r.code()), (401, "APIG.0303"), "{}", r.text);
}

#[tokio::test]
async fn access_denied_and_backend_errors_answer_through_the_set() {
    let s = TestServer::start().await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    let (group, host) = s.admin.create_group("more").await;
    // A port nothing listens on: the backend refuses the connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    let guarded = s
        .admin
        .create_api(http_api("guarded", &group, "GET", "/guarded", &dead, "/"))
        .await;
    s.admin
        .create_published_api(http_api("down", &group, "GET", "/down", &dead, "/"))
        .await;
    let r = s
        .admin
        .post(
            "/apis/action",
            &json!({"action": "online", "env_id": RELEASE, "api_id": guarded}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let publish_id = r.json["publish_id"].as_str().unwrap().to_string();
    let r = s
        .admin
        .post(
            "/acls",
            &json!({"acl_name": "no_local", "acl_type": "DENY", "entity_type": "IP",
                    "acl_value": "127.0.0.1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let acl = r.json["id"].as_str().unwrap().to_string();
    let r = s
        .admin
        .post(
            "/acl-bindings",
            &json!({"acl_id": acl, "publish_ids": [publish_id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let call = |path: &'static str| {
        let (gw, host) = (gw.clone(), host.clone());
        async move { gw.call("GET", path, &[("host", &host)], b"").await }
    };
    // Not customised yet: APIG's JSON.
    let r = call("/guarded").await;
    assert_eq!((r.status, r.code()), (403, "APIG.0402"), "{}", r.text);
    let r = call("/down").await;
    assert_eq!((r.status, r.code()), (502, "APIG.0201"), "{}", r.text);

    let set = default_set(&s, &group).await;
    customise(
        &s,
        &group,
        &set,
        "ACCESS_DENIED",
        json!({"body": "denied from $context.sourceIp ($context.error.code)"}),
    )
    .await;
    customise(
        &s,
        &group,
        &set,
        "BACKEND_UNAVAILABLE",
        json!({"status": 503, "headers": [{"key": "Content-Type", "value": "text/plain"}],
               "body": "$context.error.message"}),
    )
    .await;
    let r = call("/guarded").await;
    assert_eq!(r.status, 403, "the error's own status without one set");
    assert_eq!(r.text, "denied from 127.0.0.1 (APIG.0402)");
    let r = call("/down").await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.text, "Backend unavailable");
}
