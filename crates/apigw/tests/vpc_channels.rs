//! Load balance channels through the control plane, as raw JSON: the pages' example requests
//! are accepted verbatim (a lower-case health check protocol included), bad fields are named,
//! the quota and the name rule hold, and a member answers `health_status`.

use apigw_testkit::{Resp, TestServer};
use serde_json::{json, Value};

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
}

/// The field an APIG.2012 answer names first.
fn named(r: &Resp) -> String {
    err(r, 400, "APIG.2012");
    let msg = r.json["error_msg"].as_str().unwrap();
    let rest = msg.split("parameterName:").nth(1).unwrap();
    rest.split('.').next().unwrap().to_string()
}

/// The create page's example of a server channel, named `name`.
fn example(name: &str) -> Value {
    json!({
      "balance_strategy": 1, "member_type": "ip", "name": name, "port": 22, "type": 2,
      "vpc_health_config": {"http_code": "200", "path": "/vpc/demo", "port": 22, "protocol": "http",
        "threshold_abnormal": 5, "threshold_normal": 2, "time_interval": 10, "timeout": 5,
        "enable_client_ssl": false},
      "member_groups": [
        {"member_group_name": "test", "member_group_weight": 1, "member_group_remark": "remark"},
        {"member_group_name": "default", "member_group_weight": 2, "member_group_remark": "remark"}],
      "members": [
        {"host": "192.168.0.5", "weight": 1, "member_group_name": "test"},
        {"host": "192.168.1.124", "weight": 2, "member_group_name": "default"}]
    })
}

#[tokio::test]
async fn the_pages_examples_are_accepted_verbatim() {
    let s = TestServer::start().await;
    let r = s.admin.post("/vpc-channels", &example("VPC_demo")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["member_groups"].as_array().unwrap().len(), 2);
    assert!(r.json["create_time"].as_str().unwrap().ends_with('Z'));

    let base = format!("/vpc-channels/{id}");
    let r = s
        .admin
        .post(
            &format!("{base}/members"),
            &json!({"members": [{"host": "192.168.2.25", "weight": 1, "member_group_name": "test"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s
        .admin
        .put(
            &format!("{base}/members"),
            &json!({"member_group_name": "test", "members": [{"host": "192.168.2.25",
                    "weight": 1, "is_backup": false, "member_group_name": "test"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .admin
        .post(
            &format!("{base}/member-groups"),
            &json!({"member_groups": [{"member_group_name": "vpc_member_group", "member_group_weight": 10}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let group_id = r.json["member_groups"][0]["member_group_id"]
        .as_str()
        .unwrap();
    let r = s
        .admin
        .put(
            &format!("{base}/member-groups/{group_id}"),
            &json!({"member_group_name": "vpc_member_group", "member_group_weight": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .admin
        .put(
            &format!("{base}/health-config"),
            &example("x")["vpc_health_config"],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["protocol"], "HTTP");

    let r = s.admin.get(&base).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let members = r.json["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{}", r.text);
    assert!(
        members.iter().all(|m| m["health_status"] == "unknown"),
        "no data plane has checked them: {}",
        r.text
    );
}

#[tokio::test]
async fn bad_channels_are_refused_naming_each_field() {
    let s = TestServer::start().await;
    let with = |k: &str, v: Value| {
        let mut body = example("VPC_bad");
        body[k] = v;
        body
    };
    for (body, field) in [
        (with("type", json!(3)), "type"),
        (with("port", json!(65536)), "port"),
        (with("balance_strategy", json!("1")), "balance_strategy"),
        (with("member_type", json!("pod")), "member_type"),
        (
            with("microservice_info", json!({"service_type": "CCE"})),
            "microservice_info",
        ),
        (with("bogus", json!(1)), "bogus"),
        (
            with(
                "members",
                json!([{"ecs_id": "1082720c", "ecs_name": "APIGtest02", "weight": 2}]),
            ),
            "members[0]",
        ),
        (with("members", json!([{"host": "a b"}])), "members[0]"),
        (
            with("member_groups", json!([{"member_group_name": "g1"}])),
            "member_groups[0]",
        ),
    ] {
        let r = s.admin.post("/vpc-channels", &body).await;
        assert_eq!(named(&r), field, "{}", r.text);
    }
    let mut body = example("VPC_bad");
    body["vpc_health_config"]["timeout"] = json!(10);
    let r = s.admin.post("/vpc-channels", &body).await;
    assert!(
        r.text
            .contains("vpc_health_config.timeout: must be less than time_interval"),
        "{}",
        r.text
    );
    let path = format!("{}/vpc-channels", s.admin.base_path());
    let r = s.admin.call("POST", &path, b"{").await;
    err(&r, 400, "APIG.2000");
    err(
        &s.admin
            .get(&format!("/vpc-channels/{}", "f".repeat(32)))
            .await,
        404,
        "APIG.3023",
    );
}

#[tokio::test]
async fn names_are_unique_and_an_instance_holds_thirty_channels() {
    let s = TestServer::start().await;
    for i in 0..30 {
        let r = s
            .admin
            .post("/vpc-channels", &example(&format!("VPC_{i}")))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        if i == 0 {
            let again = s.admin.post("/vpc-channels", &example("VPC_0")).await;
            err(&again, 400, "APIG.3208");
        }
    }
    err(
        &s.admin.post("/vpc-channels", &example("VPC_30")).await,
        403,
        "APIG.3109",
    );
    let r = s.admin.get("/vpc-channels?limit=500&name=VPC_1").await;
    assert_eq!(r.json["total"], 11, "VPC_1 and VPC_10..19: {}", r.text);
    let r = s
        .admin
        .get("/vpc-channels?name=VPC_1&precise_search=name")
        .await;
    assert_eq!(r.json["total"], 1, "{}", r.text);
}
