//! Environment variables end to end: the five calls validated field by field, and one API
//! whose backend is `#host#` published in two environments reaching two real backends;
//! publishing where a variable is missing is refused; a changed value is followed at once.

use apigw_testkit::{http_api, Backend, GatewayClient, Resp, TestServer, RELEASE};
use serde_json::{json, Value};

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
}

fn variable(group: &str, env: &str, name: &str, value: &str) -> Value {
    json!({"group_id": group, "env_id": env, "variable_name": name, "variable_value": value})
}

/// The backend's echo of a call through the gateway to `host` in `stage`.
async fn echo(gw: &GatewayClient, host: &str, stage: &str) -> Resp {
    gw.call("GET", "/v", &[("host", host), ("x-stage", stage)], b"")
        .await
}

#[tokio::test]
async fn one_api_in_two_environments_reaches_each_environments_backend() {
    let s = TestServer::start().await;
    let (release_backend, test_backend) = (Backend::start().await, Backend::start().await);
    let (group, host) = s.admin.create_group("vars").await;
    let test_env = s.admin.post("/envs", &json!({"name": "TEST"})).await;
    assert_eq!(test_env.status, 201, "{}", test_env.text);
    let test_env = test_env.json["id"].as_str().unwrap().to_string();
    let api = http_api("by_env", &group, "GET", "/v", "#host#", "/#ver#/here");
    let api_id = s.admin.create_api(api).await;

    // Publishing before the variables exist names the first one missing.
    let r = s
        .admin
        .post(
            "/apis/action",
            &json!({"action": "online", "env_id": RELEASE, "api_id": api_id}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    assert!(
        r.text.contains("backend_api.url_domain") && r.text.contains("host"),
        "{}",
        r.text
    );

    for (env, backend, ver) in [
        (RELEASE, &release_backend, "v1"),
        (test_env.as_str(), &test_backend, "v2"),
    ] {
        for (name, value) in [("host", backend.addr.to_string()), ("ver", ver.to_string())] {
            let r = s
                .admin
                .post("/env-variables", &variable(&group, env, name, &value))
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(r.json["variable_value"], json!(value));
        }
        s.admin.publish(&api_id, env, true).await;
    }

    let gw = GatewayClient::new(s.running.gateway_addr);
    let r = echo(&gw, &host, "RELEASE").await;
    assert_eq!(
        (r.status, r.json["path"].clone()),
        (200, json!("/v1/here")),
        "{}",
        r.text
    );
    let r = echo(&gw, &host, "TEST").await;
    assert_eq!(
        (r.status, r.json["path"].clone()),
        (200, json!("/v2/here")),
        "{}",
        r.text
    );
    assert_eq!((release_backend.calls(), test_backend.calls()), (1, 1));

    // A changed value is served at once (the write waits for the data plane).
    let list = s
        .admin
        .get(&format!("/env-variables?group_id={group}&env_id={test_env}&variable_name=ver&precise_search=variable_name"))
        .await;
    assert_eq!(list.json["total"], json!(1), "{}", list.text);
    let ver_id = list.json["variables"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .admin
        .put(
            &format!("/env-variables/{ver_id}"),
            &json!({"variable_value": "v3"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["variable_name"], json!("ver"));
    let r = echo(&gw, &host, "TEST").await;
    assert_eq!(r.json["path"], json!("/v3/here"), "{}", r.text);
    assert_eq!(
        s.admin.get(&format!("/env-variables/{ver_id}")).await.json["variable_value"],
        json!("v3")
    );
}

#[tokio::test]
async fn variable_calls_name_every_bad_field_and_apig_codes() {
    let s = TestServer::start().await;
    let (group, _) = s.admin.create_group("vars").await;
    let r = s
        .admin
        .post(
            "/env-variables",
            &json!({"group_id": group, "env_id": RELEASE, "variable_name": "1x", "variable_value": "a b"}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    assert!(
        r.text.contains("variable_name") && r.text.contains("variable_value"),
        "{}",
        r.text
    );
    let r = s
        .admin
        .post(
            "/env-variables",
            &json!({"group_id": group, "env_id": RELEASE}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    let r = s
        .admin
        .post("/env-variables", &variable("nope", RELEASE, "host", "h"))
        .await;
    err(&r, 404, "APIG.3001");
    let r = s
        .admin
        .post("/env-variables", &variable(&group, "nope", "host", "h"))
        .await;
    err(&r, 404, "APIG.3003");
    let ok = s
        .admin
        .post("/env-variables", &variable(&group, RELEASE, "host", "h"))
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let r = s
        .admin
        .post("/env-variables", &variable(&group, RELEASE, "host", "h2"))
        .await;
    err(&r, 400, "APIG.3303");
    let r = s
        .admin
        .post("/env-variables", &variable(&group, RELEASE, "HOST", "h2"))
        .await;
    assert_eq!(r.status, 201, "names are case-sensitive: {}", r.text);
    err(&s.admin.get("/env-variables").await, 400, "APIG.2012");
    err(&s.admin.get("/env-variables/nope").await, 404, "APIG.3011");
    let id = ok.json["id"].as_str().unwrap();
    let r = s
        .admin
        .put(
            &format!("/env-variables/{id}"),
            &json!({"variable_value": "a#b"}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    assert_eq!(
        s.admin.delete(&format!("/env-variables/{id}")).await.status,
        204
    );
    err(
        &s.admin.delete(&format!("/env-variables/{id}")).await,
        404,
        "APIG.3011",
    );
}
