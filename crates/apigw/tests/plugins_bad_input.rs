//! Bad input to CreatePlugin and UpdatePlugin: every case is a 4xx with an APIG error body that
//! names the field, never a 5xx, and nothing is written.

use apigw_testkit::{Resp, TestServer};
use serde_json::{json, Value};

fn good() -> Value {
    json!({"plugin_name": "good name", "plugin_type": "cors", "plugin_scope": "global",
           "plugin_content": "{\"allow_origin\":\"*\"}"})
}

fn with(k: &str, v: Value) -> Value {
    let mut b = good();
    b[k] = v;
    b
}

fn without(k: &str) -> Value {
    let mut b = good();
    b.as_object_mut().unwrap().remove(k);
    b
}

fn assert_field(r: &Resp, field: &str, what: &str) {
    assert_eq!(
        (r.status, r.code()),
        (400, "APIG.2012"),
        "{what}: {}",
        r.text
    );
    assert!(
        r.msg().contains(&format!("parameterName:{field}")),
        "{what}: {}",
        r.msg()
    );
}

async fn assert_nothing_written(s: &TestServer) {
    assert_eq!(s.admin.get("/plugins").await.json["total"], 0);
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_apig_2000() {
    let s = TestServer::start().await;
    let path = format!("{}/plugins", s.admin.base_path());
    for body in [
        &b""[..],
        b"not json",
        b"[1]",
        b"\"str\"",
        b"null",
        b"{\"plugin_name\":",
        b"\xff\xfe",
    ] {
        let r = s.admin.call("POST", &path, body).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "APIG.2000"),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert_nothing_written(&s).await;
}

#[tokio::test]
async fn missing_mistyped_and_unknown_fields_are_named() {
    let s = TestServer::start().await;
    for field in [
        "plugin_name",
        "plugin_type",
        "plugin_scope",
        "plugin_content",
    ] {
        assert_field(
            &s.admin.post("/plugins", &without(field)).await,
            field,
            "missing",
        );
        assert_field(
            &s.admin.post("/plugins", &with(field, json!(null))).await,
            field,
            "null",
        );
        assert_field(
            &s.admin.post("/plugins", &with(field, json!(12))).await,
            field,
            "number",
        );
        assert_field(
            &s.admin.post("/plugins", &with(field, json!({}))).await,
            field,
            "object",
        );
        assert_field(
            &s.admin.post("/plugins", &with(field, json!(""))).await,
            field,
            "empty",
        );
    }
    assert_field(
        &s.admin.post("/plugins", &with("remark", json!(true))).await,
        "remark",
        "remark type",
    );
    assert_field(
        &s.admin.post("/plugins", &with("surprise", json!(1))).await,
        "surprise",
        "unknown field",
    );
    assert_nothing_written(&s).await;
}

#[tokio::test]
async fn names_are_3_to_255_characters_starting_with_a_letter() {
    let s = TestServer::start().await;
    for name in [
        "ab".to_string(),
        "a".repeat(256),
        "1abc".into(),
        "_abc".into(),
        "abc!".into(),
        "abc ".into(),
        "a\u{0}bc".into(),
    ] {
        assert_field(
            &s.admin
                .post("/plugins", &with("plugin_name", json!(name)))
                .await,
            "plugin_name",
            &name,
        );
    }
    assert_nothing_written(&s).await;
    assert_eq!(
        s.admin
            .post("/plugins", &with("plugin_name", json!("a".repeat(255))))
            .await
            .status,
        201
    );
    assert_eq!(
        s.admin
            .post("/plugins", &with("plugin_name", json!("插件 一.b-c_d")))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn unknown_types_and_scopes_are_rejected() {
    let s = TestServer::start().await;
    assert_field(
        &s.admin
            .post("/plugins", &with("plugin_type", json!("proxy_filter")))
            .await,
        "plugin_type",
        "type",
    );
    assert_field(
        &s.admin
            .post("/plugins", &with("plugin_type", json!("CORS")))
            .await,
        "plugin_type",
        "case",
    );
    assert_field(
        &s.admin
            .post("/plugins", &with("plugin_scope", json!("private")))
            .await,
        "plugin_scope",
        "scope",
    );
    assert_nothing_written(&s).await;
}

#[tokio::test]
async fn invalid_content_is_rejected_naming_the_content_field() {
    let s = TestServer::start().await;
    let cases = [
        (json!("not json"), "plugin_content"),
        (json!("[1,2]"), "plugin_content"),
        (
            json!("{\"allow_origin\":\"*\",\"max_age\":-5}"),
            "plugin_content.max_age",
        ),
        (
            json!("{\"allow_origin\":\"*\",\"max_age\":\"5\"}"),
            "plugin_content.max_age",
        ),
        (
            json!("{\"allow_origin\":\"*\",\"nope\":1}"),
            "plugin_content.nope",
        ),
        (json!("{}"), "plugin_content"),
    ];
    for (content, field) in cases {
        assert_field(
            &s.admin
                .post("/plugins", &with("plugin_content", content.clone()))
                .await,
            field,
            &content.to_string(),
        );
    }
    let kafka = json!({"plugin_name": "kafka", "plugin_type": "kafka_log", "plugin_scope": "global",
        "plugin_content": "{\"broker_list\":[\"a:1\"],\"topic\":\"t\",\"max_retry_count\":9}"});
    assert_field(
        &s.admin.post("/plugins", &kafka).await,
        "plugin_content.max_retry_count",
        "kafka",
    );
    assert_nothing_written(&s).await;
}

#[tokio::test]
async fn content_over_65535_characters_and_remark_over_255_are_rejected() {
    let s = TestServer::start().await;
    let big = format!(
        "{{\"allow_origin\":\"*\",\"allow_headers\":\"{}\"}}",
        "a".repeat(65535)
    );
    assert_field(
        &s.admin
            .post("/plugins", &with("plugin_content", json!(big)))
            .await,
        "plugin_content",
        "content",
    );
    assert_field(
        &s.admin
            .post("/plugins", &with("remark", json!("r".repeat(256))))
            .await,
        "remark",
        "remark",
    );
    assert_eq!(
        s.admin
            .post("/plugins", &with("remark", json!("r".repeat(255))))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn oversize_bodies_are_refused_cleanly() {
    let s = TestServer::start().await;
    let path = format!("{}/plugins", s.admin.base_path());
    let huge = vec![b'x'; 2 * 1024 * 1024];
    let r = s.admin.call("POST", &path, &huge).await;
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert_eq!(r.code(), "APIG.2000");
    assert_nothing_written(&s).await;
}

#[tokio::test]
async fn a_failed_update_leaves_the_plugin_unchanged() {
    let s = TestServer::start().await;
    let created = s.admin.post("/plugins", &good()).await.json;
    let id = created["plugin_id"].as_str().unwrap();
    let mut bad = with(
        "plugin_content",
        json!("{\"allow_origin\":\"*\",\"max_age\":-1}"),
    );
    bad["plugin_name"] = json!("renamed");
    let r = s.admin.put(&format!("/plugins/{id}"), &bad).await;
    assert_field(&r, "plugin_content.max_age", "update");
    assert_eq!(s.admin.get(&format!("/plugins/{id}")).await.json, created);
}

#[tokio::test]
async fn an_id_in_the_path_that_is_not_utf8_is_an_apig_error_naming_it() {
    let s = TestServer::start().await;
    for (method, suffix, field) in [
        ("GET", "/plugins/%FF", "plugin_id"),
        ("PUT", "/plugins/%C3%28", "plugin_id"),
        ("DELETE", "/plugins/%FF", "plugin_id"),
        ("GET", "/plugins/%FF/attached-apis", "plugin_id"),
        ("GET", "/apis/%FF/attached-plugins", "api_id"),
        ("DELETE", "/envs/%FF", "env_id"),
    ] {
        let path = format!("{}{suffix}", s.admin.base_path());
        let body = serde_json::to_vec(&good()).unwrap();
        let r = s.admin.call(method, &path, &body).await;
        assert_field(&r, field, &format!("{method} {suffix}"));
    }
    assert_nothing_written(&s).await;
}
