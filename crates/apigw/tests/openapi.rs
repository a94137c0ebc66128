//! The OpenAPI document is served and true: every documented operation is routed, and the
//! documented operations are exactly the plug-in calls the control plane serves.

use apigw_testkit::TestServer;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let s = TestServer::start().await;
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", s.admin.base))
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
                .replace("{plugin_id}", "0123456789abcdef0123456789abcdef");
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
    let mut expected = vec![
        format!("POST {base}/plugins"),
        format!("GET {base}/plugins"),
        format!("GET {base}/plugins/{{plugin_id}}"),
        format!("PUT {base}/plugins/{{plugin_id}}"),
        format!("DELETE {base}/plugins/{{plugin_id}}"),
    ];
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
