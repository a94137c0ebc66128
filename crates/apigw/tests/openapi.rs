//! The OpenAPI document is served and true: every documented operation is routed, the
//! documented operations are exactly the calls the control plane serves, and every status an
//! operation answers is documented for it (SPEC §13).

use apigw_testkit::{Auth, TestServer, TOKEN};
use serde_json::Value;

/// Asserts that `op` (an operation object of the document) documents `status`.
fn documents(op: &Value, status: u16, what: &str) {
    assert!(
        op["responses"].get(status.to_string()).is_some(),
        "{what} answers {status}, which its document does not list"
    );
}

#[tokio::test]
async fn every_operation_is_served_and_documents_every_status_it_answers() {
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
    let huge = vec![b'x'; 2 * 1024 * 1024];
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
                .replace("{app_auth_id}", "0123456789abcdef0123456789abcdef")
                .replace("{certificate_id}", "0123456789abcdef0123456789abcdef")
                .replace("{domain_id}", "0123456789abcdef0123456789abcdef");
            let body = if method == "post" || method == "put" {
                b"{}".as_slice()
            } else {
                b""
            };
            let m = method.to_uppercase();
            let what = format!("{m} {path}");
            let r = s.admin.call(&m, &concrete, body).await;
            assert_ne!(r.code(), "APIG.3000", "{what} is documented but not routed");
            assert_ne!(r.status, 405, "{what} is documented but not routed");
            assert!(r.status < 500);
            let op = &item[method];
            documents(op, r.status, &what);
            let foreign = concrete.replacen(&s.admin.project, &"f".repeat(32), 1);
            let r = s.admin.call(&m, &foreign, body).await;
            assert_eq!((r.status, r.code()), (403, "APIG.1005"), "{what}");
            documents(op, r.status, &what);
            // The certificate calls have no instance in their path.
            if path.contains("{instance_id}") {
                let elsewhere = concrete.replacen(&s.admin.instance, &"e".repeat(32), 1);
                let r = s.admin.call(&m, &elsewhere, body).await;
                assert_eq!((r.status, r.code()), (404, "APIG.3030"), "{what}");
                documents(op, r.status, &what);
            }
            let r = s
                .admin
                .with_auth(Auth::None)
                .call(&m, &concrete, body)
                .await;
            assert_eq!((r.status, r.code()), (401, "APIG.1000"), "{what}");
            documents(op, r.status, &what);
            let r = s.admin.call(&m, &concrete, &huge).await;
            assert_eq!((r.status, r.code()), (400, "APIG.2000"), "{what}");
            documents(op, r.status, &what);
            for status in [500, 400, 401, 403, 404] {
                documents(op, status, &what);
            }
        }
    }
    for op in [
        "delete /plugins/{plugin_id}",
        "post /plugins/{plugin_id}/attach",
        "post /apis/{api_id}/plugins/attach",
    ] {
        let (method, suffix) = op.split_once(' ').unwrap();
        let path = format!("/v2/{{project_id}}/apigw/instances/{{instance_id}}{suffix}");
        documents(&doc["paths"][&path][method], 409, op);
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
        "GET /app-auths/binded-apis",
        "POST /env-variables",
        "GET /env-variables",
        "GET /env-variables/{env_variable_id}",
        "PUT /env-variables/{env_variable_id}",
        "DELETE /env-variables/{env_variable_id}",
        "POST /api-groups/{group_id}/gateway-responses",
        "GET /api-groups/{group_id}/gateway-responses",
        "GET /api-groups/{group_id}/gateway-responses/{response_id}",
        "PUT /api-groups/{group_id}/gateway-responses/{response_id}",
        "DELETE /api-groups/{group_id}/gateway-responses/{response_id}",
        "GET /api-groups/{group_id}/gateway-responses/{response_id}/{response_type}",
        "PUT /api-groups/{group_id}/gateway-responses/{response_id}/{response_type}",
        "DELETE /api-groups/{group_id}/gateway-responses/{response_id}/{response_type}",
        "POST /acls",
        "GET /acls",
        "PUT /acls",
        "GET /acls/{acl_id}",
        "PUT /acls/{acl_id}",
        "DELETE /acls/{acl_id}",
        "POST /acl-bindings",
        "PUT /acl-bindings",
        "DELETE /acl-bindings/{acl_bindings_id}",
        "GET /acl-bindings/binded-acls",
        "GET /acl-bindings/binded-apis",
        "GET /acl-bindings/unbinded-apis",
        "POST /throttles",
        "GET /throttles",
        "GET /throttles/{throttle_id}",
        "PUT /throttles/{throttle_id}",
        "DELETE /throttles/{throttle_id}",
        "POST /throttles/{throttle_id}/throttle-specials",
        "GET /throttles/{throttle_id}/throttle-specials",
        "PUT /throttles/{throttle_id}/throttle-specials/{strategy_id}",
        "DELETE /throttles/{throttle_id}/throttle-specials/{strategy_id}",
        "POST /throttle-bindings",
        "PUT /throttle-bindings",
        "DELETE /throttle-bindings/{throttle_binding_id}",
        "GET /throttle-bindings/binded-throttles",
        "GET /throttle-bindings/binded-apis",
        "GET /throttle-bindings/unbinded-apis",
        "POST /signs",
        "GET /signs",
        "PUT /signs/{sign_id}",
        "DELETE /signs/{sign_id}",
        "POST /sign-bindings",
        "DELETE /sign-bindings/{sign_bindings_id}",
        "GET /sign-bindings/binded-signs",
        "GET /sign-bindings/binded-apis",
        "GET /sign-bindings/unbinded-apis",
        "POST /api-groups/{group_id}/domains",
        "PUT /api-groups/{group_id}/domains/{domain_id}",
        "DELETE /api-groups/{group_id}/domains/{domain_id}",
        "POST /api-groups/{group_id}/domains/{domain_id}/certificate",
        "GET /api-groups/{group_id}/domains/{domain_id}/certificate/{certificate_id}",
        "DELETE /api-groups/{group_id}/domains/{domain_id}/certificate/{certificate_id}",
        "POST /api-groups/{group_id}/domains/{domain_id}/certificates/attach",
        "POST /api-groups/{group_id}/domains/{domain_id}/certificates/detach",
        "POST /vpc-channels",
        "GET /vpc-channels",
        "GET /vpc-channels/{vpc_channel_id}",
        "PUT /vpc-channels/{vpc_channel_id}",
        "DELETE /vpc-channels/{vpc_channel_id}",
        "POST /vpc-channels/{vpc_channel_id}/members",
        "PUT /vpc-channels/{vpc_channel_id}/members",
        "GET /vpc-channels/{vpc_channel_id}/members",
        "DELETE /vpc-channels/{vpc_channel_id}/members/{member_id}",
        "POST /vpc-channels/{vpc_channel_id}/members/batch-enable",
        "POST /vpc-channels/{vpc_channel_id}/members/batch-disable",
        "POST /vpc-channels/{vpc_channel_id}/member-groups",
        "GET /vpc-channels/{vpc_channel_id}/member-groups",
        "GET /vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}",
        "PUT /vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}",
        "DELETE /vpc-channels/{vpc_channel_id}/member-groups/{member_group_id}",
        "PUT /vpc-channels/{vpc_channel_id}/health-config",
        "POST /openapi/import",
        "POST /openapi/export",
    ];
    let project_routes = [
        "GET /certificates",
        "POST /certificates",
        "GET /certificates/{certificate_id}",
        "PUT /certificates/{certificate_id}",
        "DELETE /certificates/{certificate_id}",
        "POST /certificates/{certificate_id}/domains/attach",
        "POST /certificates/{certificate_id}/domains/detach",
        "GET /certificates/{certificate_id}/attached-domains",
    ];
    let mut expected: Vec<String> = routes
        .iter()
        .map(|r| {
            let (m, p) = r.split_once(' ').unwrap();
            format!("{m} {base}{p}")
        })
        .chain(project_routes.iter().map(|r| {
            let (m, p) = r.split_once(' ').unwrap();
            format!("{m} /v2/{{project_id}}/apigw{p}")
        }))
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
