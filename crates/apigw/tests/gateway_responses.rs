//! Gateway responses end to end: the eight calls of a group's response sets, every field
//! checked and named, the default set created on first use, the quota, and the codes for
//! duplicates, unknown ids and the default set's protections.

use apigw_testkit::{Resp, TestServer};
use serde_json::{json, Value};

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
}

fn names(r: &Resp, field: &str) {
    err(r, 400, "APIG.2012");
    assert!(
        r.text.contains(&format!("parameterName:{field}")),
        "{field}: {}",
        r.text
    );
}

const DEFAULT_BODY: &str = "{\"error_code\":\"$context.error.code\",\"error_msg\":\"$context.error.message\",\"request_id\":\"$context.requestId\"}";

#[tokio::test]
async fn response_sets_are_created_modified_listed_and_deleted() {
    let s = TestServer::start().await;
    let (group, _) = s.admin.create_group("responses").await;
    let base = format!("/api-groups/{group}/gateway-responses");

    // The default set exists from the first call on.
    let r = s.admin.get(&base).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(1), json!(1))
    );
    let default_id = r.json["responses"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["responses"][0]["name"], "default");
    assert_eq!(r.json["responses"][0]["default"], true);

    let r = s
        .admin
        .post(
            &base,
            &json!({"name": "custom_1", "responses": {
                "THROTTLED": {"status": 503, "body": "slow down $context.requestId",
                              "headers": [{"key": "Retry-After", "value": "1"}]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["default"], false);
    assert_eq!(
        r.json["responses"]["THROTTLED"],
        json!({"status": 503, "body": "slow down $context.requestId",
               "headers": [{"key": "Retry-After", "value": "1"}], "default": false})
    );
    assert_eq!(
        r.json["responses"]["NOT_FOUND"],
        json!({"status": 404, "body": DEFAULT_BODY, "default": true})
    );
    assert_eq!(r.json["responses"]["DEFAULT_4XX"].get("status"), None);
    err(
        &s.admin.post(&base, &json!({"name": "custom_1"})).await,
        400,
        "APIG.3216",
    );
    err(
        &s.admin.post(&base, &json!({"name": "default"})).await,
        400,
        "APIG.3216",
    );

    // Show, modify (given types replace theirs, others are kept), per type.
    let one = format!("{base}/{id}");
    let r = s.admin.get(&one).await;
    assert_eq!((r.status, r.json["name"].clone()), (200, json!("custom_1")));
    let r = s
        .admin
        .put(
            &one,
            &json!({"name": "renamed", "responses": {"NOT_FOUND": {"status": 410}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["name"], "renamed");
    assert_eq!(r.json["responses"]["NOT_FOUND"]["status"], 410);
    assert_eq!(r.json["responses"]["THROTTLED"]["status"], 503);

    let r = s.admin.get(&format!("{one}/THROTTLED")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["THROTTLED"]["status"], 503);
    let r = s
        .admin
        .put(
            &format!("{one}/ACCESS_DENIED"),
            &json!({"status": 451, "body": "no"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"ACCESS_DENIED": {"status": 451, "body": "no", "default": false}})
    );
    let r = s.admin.delete(&format!("{one}/ACCESS_DENIED")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s.admin.get(&format!("{one}/ACCESS_DENIED")).await;
    assert_eq!(
        r.json,
        json!({"ACCESS_DENIED": {"status": 403, "body": DEFAULT_BODY, "default": true}})
    );

    // The default set keeps its name and stays; its types can be customised.
    let default = format!("{base}/{default_id}");
    err(
        &s.admin.put(&default, &json!({"name": "other"})).await,
        409,
        "APIG.3492",
    );
    let r = s.admin.put(&default, &json!({"name": "default"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    err(&s.admin.delete(&default).await, 409, "APIG.3491");
    let r = s
        .admin
        .put(&format!("{default}/THROTTLED"), &json!({"status": 500}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // At most four sets per group, the default one included.
    for n in ["third", "fourth"] {
        let r = s.admin.post(&base, &json!({"name": n})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    err(
        &s.admin.post(&base, &json!({"name": "fifth"})).await,
        403,
        "APIG.3136",
    );
    let r = s.admin.get(&format!("{base}?offset=1&limit=2")).await;
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(4), json!(2))
    );
    assert_eq!(r.json["responses"][0]["name"], "renamed");

    // Unknown ids, and a set asked for through another group.
    let (other, _) = s.admin.create_group("other").await;
    err(
        &s.admin
            .get(&format!("/api-groups/{other}/gateway-responses/{id}"))
            .await,
        404,
        "APIG.3007",
    );
    err(
        &s.admin.get(&format!("{base}/nope")).await,
        404,
        "APIG.3007",
    );
    err(
        &s.admin.get("/api-groups/nope/gateway-responses").await,
        404,
        "APIG.3001",
    );
    names(&s.admin.get(&format!("{one}/NOPE")).await, "response_type");

    let r = s.admin.delete(&one).await;
    assert_eq!(r.status, 204, "{}", r.text);
    err(&s.admin.delete(&one).await, 404, "APIG.3007");
}

#[tokio::test]
async fn every_bad_field_is_named() {
    let s = TestServer::start().await;
    let (group, _) = s.admin.create_group("bad_fields").await;
    let base = format!("/api-groups/{group}/gateway-responses");
    let set = |responses: Value| json!({"name": "n", "responses": responses});
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "a b"}), "name"),
        (json!({"name": "a".repeat(65)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": "n", "extra": 1}), "extra"),
        (json!({"name": "n", "responses": []}), "responses"),
        (set(json!({"NOPE": {}})), "responses.NOPE"),
        (set(json!({"THROTTLED": 1})), "responses.THROTTLED"),
        (
            set(json!({"THROTTLED": {"status": 444}})),
            "responses.THROTTLED.status",
        ),
        (
            set(json!({"THROTTLED": {"status": 199}})),
            "responses.THROTTLED.status",
        ),
        (
            set(json!({"THROTTLED": {"status": 600}})),
            "responses.THROTTLED.status",
        ),
        (
            set(json!({"THROTTLED": {"status": "429"}})),
            "responses.THROTTLED.status",
        ),
        (
            set(json!({"THROTTLED": {"body": 1}})),
            "responses.THROTTLED.body",
        ),
        (
            set(json!({"THROTTLED": {"headers": {}}})),
            "responses.THROTTLED.headers",
        ),
        (
            set(
                json!({"THROTTLED": {"headers": (0..11).map(|i| json!({"key": format!("h{i}"), "value": "v"})).collect::<Vec<_>>()}}),
            ),
            "responses.THROTTLED.headers",
        ),
        (
            set(json!({"THROTTLED": {"headers": [{"key": "a b", "value": "v"}]}})),
            "responses.THROTTLED.headers[0].key",
        ),
        (
            set(json!({"THROTTLED": {"headers": [{"key": "a".repeat(129), "value": "v"}]}})),
            "responses.THROTTLED.headers[0].key",
        ),
        (
            set(json!({"THROTTLED": {"headers": [{"key": "X-A", "value": ""}]}})),
            "responses.THROTTLED.headers[0].value",
        ),
        (
            set(json!({"THROTTLED": {"headers": [{"key": "X-A", "value": "a\nb"}]}})),
            "responses.THROTTLED.headers[0].value",
        ),
        (
            set(json!({"THROTTLED": {"headers": [{"key": "X-A", "value": "v".repeat(1025)}]}})),
            "responses.THROTTLED.headers[0].value",
        ),
        (
            set(json!({"THROTTLED": {"color": "red"}})),
            "responses.THROTTLED.color",
        ),
    ];
    for (body, field) in cases {
        names(&s.admin.post(&base, &body).await, field);
    }
    let r = s.admin.get(&base).await;
    let default_id = r.json["responses"][0]["id"].as_str().unwrap().to_string();
    let one = format!("{base}/{default_id}/THROTTLED");
    for (body, field) in [
        (json!({"status": 444}), "status"),
        (json!({"body": []}), "body"),
        (
            json!({"headers": [{"key": "", "value": "v"}]}),
            "headers[0].key",
        ),
        (json!({"other": 1}), "other"),
    ] {
        names(&s.admin.put(&one, &body).await, field);
    }
    err(&s.admin.put(&one, &json!([])).await, 400, "APIG.2000");
}
