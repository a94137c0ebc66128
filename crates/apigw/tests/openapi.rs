//! The OpenAPI document is served and true: every documented operation is routed, and the
//! documented operations are exactly the plug-in calls the control plane serves.

use apigw_testkit::{TestServer, TOKEN};

#[tokio::test]
async fn every_documented_operation_is_served() {
    let s = TestServer::start().await;
    let doc: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/openapi.json", s.admin.base))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push(format!("{} {path}", method.to_uppercase()));
            let concrete = path
                .replace("{project_id}", &s.admin.project)
                .replace("{instance_id}", &s.admin.instance)
                .replace("{plugin_id}", "0123456789abcdef0123456789abcdef")
                .replace("{api_id}", "0123456789abcdef0123456789abcdef")
                .replace("{group_id}", "0123456789abcdef0123456789abcdef")
                .replace("{env_id}", "0123456789abcdef0123456789abcdef")
                .replace("{app_id}", "0123456789abcdef0123456789abcdef")
                .replace("{app_auth_id}", "0123456789abcdef0123456789abcdef");
            let body = if method == "post" || method == "put" {
                b"{}".as_slice()
            } else {
                b""
            };
            let r = s.admin.call(&method.to_uppercase(), &concrete, body).await;
            assert_ne!(
                r.code(),
                "APIG.3000",
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                r.status, 405,
                "{method} {path} is documented but not routed"
            );
            assert!(r.status < 500);
        }
    }
    ops.sort();
    let base = "/v2/{project_id}/apigw/instances/{instance_id}";
    let routes = [
        "POST /plugins",
        "GET /plugins",
        "GET /plugins/{plugin_id}",
        "PUT /plugins/{plugin_id}",
        "DELETE /plugins/{plugin_id}",
        "POST /plugins/{plugin_id}/attach",
        "PUT /plugins/{plugin_id}/detach",
        "GET /plugins/{plugin_id}/attached-apis",
        "GET /plugins/{plugin_id}/attachable-apis",
        "POST /apis/{api_id}/plugins/attach",
        "PUT /apis/{api_id}/plugins/detach",
        "GET /apis/{api_id}/attached-plugins",
        "GET /apis/{api_id}/attachable-plugins",
        "POST /api-groups",
        "GET /api-groups",
        "GET /api-groups/{group_id}",
        "PUT /api-groups/{group_id}",
        "DELETE /api-groups/{group_id}",
        "POST /envs",
        "GET /envs",
        "PUT /envs/{env_id}",
        "DELETE /envs/{env_id}",
        "POST /apis",
        "GET /apis",
        "GET /apis/{api_id}",
        "PUT /apis/{api_id}",
        "DELETE /apis/{api_id}",
        "POST /apis/action",
        "POST /apis/publish",
        "POST /apps",
        "GET /apps",
        "GET /apps/{app_id}",
        "PUT /apps/{app_id}",
        "DELETE /apps/{app_id}",
        "POST /app-auths",
        "DELETE /app-auths/{app_auth_id}",
    ];
    let mut expected: Vec<String> = routes
        .iter()
        .map(|r| {
            let (m, p) = r.split_once(' ').unwrap();
            format!("{m} {base}{p}")
        })
        .collect();
    expected.sort();
    assert_eq!(ops, expected);
    for schema in [
        "PluginInfo",
        "ListPluginsResponse",
        "PluginCreate",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} is documented"
        );
    }
}
