//! Groups, environments, APIs, publishing, apps, and the eight binding calls, end to end over
//! HTTP, with their rules: only published APIs bind, one plug-in per type per API and
//! environment, bound plug-ins cannot be deleted, every call all or nothing.

use apigw_testkit::{Resp, TestServer};
use serde_json::{json, Value};

const RELEASE: &str = "DEFAULT_ENVIRONMENT_RELEASE_ID";

fn ok(r: Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    r.json
}

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
}

struct World {
    s: TestServer,
    group: String,
}

impl World {
    async fn new() -> Self {
        let s = TestServer::start().await;
        let group = ok(
            s.admin
                .post("/api-groups", &json!({"name": "shop", "remark": "r"}))
                .await,
            201,
        )["id"]
            .as_str()
            .unwrap()
            .to_string();
        Self { s, group }
    }

    async fn api(&self, name: &str, uri: &str) -> String {
        let body = json!({"name": name, "type": 1, "req_protocol": "HTTP", "req_method": "GET", "req_uri": uri,
            "auth_type": "NONE", "backend_type": "HTTP", "group_id": self.group,
            "backend_api": {"url_domain": "127.0.0.1:9", "req_protocol": "HTTP", "req_method": "GET", "req_uri": "/", "timeout": 1000}});
        ok(self.s.admin.post("/apis", &body).await, 201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn publish(&self, api: &str, env: &str) -> Value {
        ok(
            self.s
                .admin
                .post(
                    "/apis/action",
                    &json!({"action": "online", "env_id": env, "api_id": api}),
                )
                .await,
            201,
        )
    }

    async fn plugin(&self, name: &str, t: &str) -> String {
        let content = match t {
            "cors" => json!({"allow_origin": "*"}),
            "rate_limit" => json!({"api_limit": 10}),
            "kafka_log" => json!({"broker_list": ["127.0.0.1:9092"], "topic": "t"}),
            _ => json!({"response_headers": []}),
        };
        let body = json!({"plugin_name": name, "plugin_type": t, "plugin_scope": "global", "plugin_content": content.to_string()});
        ok(self.s.admin.post("/plugins", &body).await, 201)["plugin_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn attach(&self, plugin: &str, env: &str, apis: &[&str]) -> Resp {
        self.s
            .admin
            .post(
                &format!("/plugins/{plugin}/attach"),
                &json!({"env_id": env, "api_ids": apis}),
            )
            .await
    }

    async fn attached_plugin_ids(&self, api: &str) -> Vec<String> {
        let r = ok(
            self.s
                .admin
                .get(&format!("/apis/{api}/attached-plugins"))
                .await,
            200,
        );
        let mut ids: Vec<String> = r["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["plugin_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

#[tokio::test]
async fn builtins_exist_and_cannot_be_removed() {
    let w = World::new().await;
    let groups = ok(
        w.s.admin
            .get("/api-groups?name=DEFAULT&precise_search=name")
            .await,
        200,
    );
    assert_eq!(groups["total"], 1);
    let default = &groups["groups"][0];
    assert_eq!(default["is_default"], 1);
    let id = default["id"].as_str().unwrap();
    assert_eq!(default["sl_domain"], format!("{id}.apigw.localhost"));
    err(
        &w.s.admin.delete(&format!("/api-groups/{id}")).await,
        400,
        "APIG.2012",
    );
    let envs = ok(w.s.admin.get("/envs").await, 200);
    assert_eq!(envs["envs"][0]["id"], RELEASE);
    assert_eq!(envs["envs"][0]["name"], "RELEASE");
    err(
        &w.s.admin.delete(&format!("/envs/{RELEASE}")).await,
        400,
        "APIG.2012",
    );
    err(
        &w.s.admin
            .put(&format!("/envs/{RELEASE}"), &json!({"name": "PROD"}))
            .await,
        400,
        "APIG.2012",
    );
}

#[tokio::test]
async fn groups_have_unique_names_and_cannot_be_deleted_with_apis() {
    let w = World::new().await;
    err(
        &w.s.admin
            .post("/api-groups", &json!({"name": "shop"}))
            .await,
        400,
        "APIG.3201",
    );
    err(
        &w.s.admin.post("/api-groups", &json!({"name": "x"})).await,
        400,
        "APIG.2012",
    );
    err(
        &w.s.admin
            .post("/api-groups", &json!({"name": "good_name", "nope": 1}))
            .await,
        400,
        "APIG.2012",
    );
    let g = ok(
        w.s.admin.get(&format!("/api-groups/{}", w.group)).await,
        200,
    );
    assert_eq!(
        (g["name"].as_str(), g["remark"].as_str()),
        (Some("shop"), Some("r"))
    );
    let u = ok(
        w.s.admin
            .put(
                &format!("/api-groups/{}", w.group),
                &json!({"name": "shop2"}),
            )
            .await,
        200,
    );
    assert_eq!(u["name"], "shop2");
    let api = w.api("api_a1", "/a").await;
    err(
        &w.s.admin.delete(&format!("/api-groups/{}", w.group)).await,
        403,
        "APIG.3415",
    );
    ok(w.s.admin.delete(&format!("/apis/{api}")).await, 204);
    ok(
        w.s.admin.delete(&format!("/api-groups/{}", w.group)).await,
        204,
    );
    err(
        &w.s.admin.get(&format!("/api-groups/{}", w.group)).await,
        404,
        "APIG.3001",
    );
}

#[tokio::test]
async fn apis_are_validated_and_unique_by_name_and_route_in_a_group() {
    let w = World::new().await;
    let id = w.api("get_item", "/items/{id}").await;
    let shown = ok(w.s.admin.get(&format!("/apis/{id}")).await, 200);
    assert_eq!(shown["group_name"], "shop");
    assert_eq!(shown["backend_api"]["timeout"], 1000);
    assert_eq!(shown["match_mode"], "NORMAL");
    let dup = json!({"name": "get_item", "type": 1, "req_protocol": "HTTP", "req_method": "GET", "req_uri": "/other",
        "auth_type": "NONE", "backend_type": "MOCK", "group_id": w.group});
    err(&w.s.admin.post("/apis", &dup).await, 400, "APIG.3202");
    let mut same_route = dup.clone();
    same_route["name"] = json!("other_name");
    same_route["req_uri"] = json!("/items/{key}");
    err(
        &w.s.admin.post("/apis", &same_route).await,
        400,
        "APIG.3301",
    );
    let mut missing_group = dup.clone();
    missing_group["name"] = json!("third");
    missing_group["group_id"] = json!("0".repeat(32));
    err(
        &w.s.admin.post("/apis", &missing_group).await,
        404,
        "APIG.3001",
    );
    let mut bad = dup.clone();
    bad["req_method"] = json!("FETCH");
    bad["req_uri"] = json!("no-slash");
    let r = w.s.admin.post("/apis", &bad).await;
    err(&r, 400, "APIG.2012");
    assert!(
        r.msg().contains("parameterName:req_method") && r.msg().contains("req_uri"),
        "{}",
        r.msg()
    );
    let mut mock = dup.clone();
    mock["name"] = json!("mocked");
    mock["mock_info"] = json!({"result_content": "{\"ok\":true}", "status_code": 200});
    let m = ok(w.s.admin.post("/apis", &mock).await, 201);
    assert_eq!(m["mock_info"]["result_content"], "{\"ok\":true}");
    let list = ok(
        w.s.admin
            .get(&format!("/apis?group_id={}&name=mock", w.group))
            .await,
        200,
    );
    assert_eq!(list["total"], 1);
    let list = ok(w.s.admin.get("/apis?req_method=GET&limit=1").await, 200);
    assert_eq!(
        (list["total"].as_u64(), list["size"].as_u64()),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn publishing_online_offline_and_batches() {
    let w = World::new().await;
    let api = w.api("api_a1", "/a").await;
    let rec = w.publish(&api, RELEASE).await;
    assert_eq!(rec["api_id"], api.as_str());
    assert_eq!(rec["publish_id"].as_str().unwrap().len(), 32);
    let shown = ok(w.s.admin.get(&format!("/apis/{api}")).await, 200);
    assert_eq!(
        (shown["run_env_id"].as_str(), shown["run_env_name"].as_str()),
        (Some(RELEASE), Some("RELEASE"))
    );
    assert_eq!(
        ok(w.s.admin.get(&format!("/apis?env_id={RELEASE}")).await, 200)["total"],
        1
    );
    let off = json!({"action": "offline", "env_id": RELEASE, "api_id": api});
    ok(w.s.admin.post("/apis/action", &off).await, 201);
    err(
        &w.s.admin.post("/apis/action", &off).await,
        404,
        "APIG.3015",
    );
    err(
        &w.s.admin
            .post(
                "/apis/action",
                &json!({"action": "online", "env_id": "nope", "api_id": api}),
            )
            .await,
        404,
        "APIG.3003",
    );
    err(
        &w.s.admin
            .post(
                "/apis/action",
                &json!({"action": "online", "env_id": RELEASE, "api_id": "nope"}),
            )
            .await,
        404,
        "APIG.3002",
    );
    err(
        &w.s.admin
            .post(
                "/apis/action",
                &json!({"action": "sideways", "env_id": RELEASE, "api_id": api}),
            )
            .await,
        400,
        "APIG.2012",
    );
    let batch = ok(
        w.s.admin
            .post(
                "/apis/publish?action=online",
                &json!({"apis": [api, "missing"], "env_id": RELEASE}),
            )
            .await,
        201,
    );
    assert_eq!(batch["success"].as_array().unwrap().len(), 1);
    assert_eq!(batch["failure"][0]["error_code"], "APIG.3002");
}

#[tokio::test]
async fn environments_with_published_apis_cannot_be_deleted_and_take_their_bindings_along() {
    let w = World::new().await;
    let env = ok(
        w.s.admin
            .post("/envs", &json!({"name": "TEST", "remark": "t"}))
            .await,
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    err(
        &w.s.admin.post("/envs", &json!({"name": "TEST"})).await,
        400,
        "APIG.3205",
    );
    let api = w.api("api_a1", "/a").await;
    w.publish(&api, &env).await;
    let p = w.plugin("cors", "cors").await;
    ok(w.attach(&p, &env, &[&api]).await, 201);
    err(
        &w.s.admin.delete(&format!("/envs/{env}")).await,
        403,
        "APIG.3418",
    );
    ok(
        w.s.admin
            .post(
                "/apis/action",
                &json!({"action": "offline", "env_id": env, "api_id": api}),
            )
            .await,
        201,
    );
    ok(w.s.admin.delete(&format!("/envs/{env}")).await, 204);
    assert!(
        w.attached_plugin_ids(&api).await.is_empty(),
        "the environment's bindings went with it"
    );
    ok(w.s.admin.delete(&format!("/plugins/{p}")).await, 204);
}

#[tokio::test]
async fn only_published_apis_can_be_bound() {
    let w = World::new().await;
    let api = w.api("api_a1", "/a").await;
    let p = w.plugin("cors", "cors").await;
    err(&w.attach(&p, RELEASE, &[&api]).await, 409, "APIG.3707");
    w.publish(&api, RELEASE).await;
    let r = ok(w.attach(&p, RELEASE, &[&api]).await, 201);
    let info = &r["attached_plugins"][0];
    assert_eq!(
        (
            info["plugin_id"].as_str(),
            info["api_id"].as_str(),
            info["env_name"].as_str()
        ),
        (Some(p.as_str()), Some(api.as_str()), Some("RELEASE"))
    );
    assert_eq!(info["api_name"], "api_a1");
    assert_eq!(info["plugin_attach_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn binding_another_plugin_of_the_same_type_replaces_the_first() {
    let w = World::new().await;
    let api = w.api("api_a1", "/a").await;
    w.publish(&api, RELEASE).await;
    let (c1, c2, rl) = (
        w.plugin("cors one", "cors").await,
        w.plugin("cors two", "cors").await,
        w.plugin("limit", "rate_limit").await,
    );
    ok(w.attach(&c1, RELEASE, &[&api]).await, 201);
    ok(
        w.s.admin
            .post(
                &format!("/apis/{api}/plugins/attach"),
                &json!({"env_id": RELEASE, "plugin_ids": [rl]}),
            )
            .await,
        201,
    );
    ok(w.attach(&c2, RELEASE, &[&api]).await, 201);
    let mut expected = vec![c2.clone(), rl.clone()];
    expected.sort();
    assert_eq!(w.attached_plugin_ids(&api).await, expected);
    let both = json!({"env_id": RELEASE, "plugin_ids": [c1, c2]});
    let r =
        w.s.admin
            .post(&format!("/apis/{api}/plugins/attach"), &both)
            .await;
    err(&r, 400, "APIG.2012");
    assert!(r.msg().contains("parameterName:plugin_ids"));
    assert_eq!(
        w.attached_plugin_ids(&api).await,
        expected,
        "the refused call changed nothing"
    );
}

#[tokio::test]
async fn bound_plugins_cannot_be_deleted_until_unbound_from_either_side() {
    let w = World::new().await;
    let (a1, a2) = (w.api("api_a1", "/a").await, w.api("api_a2", "/b").await);
    w.publish(&a1, RELEASE).await;
    w.publish(&a2, RELEASE).await;
    let p = w.plugin("cors", "cors").await;
    ok(w.attach(&p, RELEASE, &[&a1, &a2]).await, 201);
    err(
        &w.s.admin.delete(&format!("/plugins/{p}")).await,
        409,
        "APIG.3462",
    );
    ok(
        w.s.admin
            .put(
                &format!("/plugins/{p}/detach"),
                &json!({"env_id": RELEASE, "api_ids": [a1]}),
            )
            .await,
        204,
    );
    err(
        &w.s.admin.delete(&format!("/plugins/{p}")).await,
        409,
        "APIG.3462",
    );
    ok(
        w.s.admin
            .put(
                &format!("/apis/{a2}/plugins/detach"),
                &json!({"env_id": RELEASE, "plugin_ids": [p]}),
            )
            .await,
        204,
    );
    ok(w.s.admin.delete(&format!("/plugins/{p}")).await, 204);
}

#[tokio::test]
async fn offline_keeps_bindings_and_deleting_the_api_removes_them() {
    let w = World::new().await;
    let api = w.api("api_a1", "/a").await;
    w.publish(&api, RELEASE).await;
    let p = w.plugin("cors", "cors").await;
    ok(w.attach(&p, RELEASE, &[&api]).await, 201);
    ok(
        w.s.admin
            .post(
                "/apis/action",
                &json!({"action": "offline", "env_id": RELEASE, "api_id": api}),
            )
            .await,
        201,
    );
    let attached = ok(
        w.s.admin.get(&format!("/plugins/{p}/attached-apis")).await,
        200,
    );
    assert_eq!(
        attached["total"], 1,
        "offline APIs keep and list their bindings"
    );
    assert_eq!(attached["apis"][0]["publish_id"], "");
    ok(w.s.admin.delete(&format!("/apis/{api}")).await, 204);
    assert_eq!(
        ok(
            w.s.admin.get(&format!("/plugins/{p}/attached-apis")).await,
            200
        )["total"],
        0
    );
    ok(w.s.admin.delete(&format!("/plugins/{p}")).await, 204);
}

#[tokio::test]
async fn batches_are_all_or_nothing_with_clear_errors() {
    let w = World::new().await;
    let (a1, a2) = (w.api("api_a1", "/a").await, w.api("api_a2", "/b").await);
    w.publish(&a1, RELEASE).await;
    let p = w.plugin("cors", "cors").await;
    err(&w.attach(&p, RELEASE, &[&a1, &a2]).await, 409, "APIG.3707");
    err(
        &w.attach(&p, RELEASE, &[&a1, "0123456789abcdef0123456789abcdef"])
            .await,
        404,
        "APIG.3002",
    );
    err(&w.attach(&p, "nope", &[&a1]).await, 404, "APIG.3003");
    err(
        &w.attach("0123456789abcdef0123456789abcdef", RELEASE, &[&a1])
            .await,
        404,
        "APIG.3068",
    );
    assert!(
        w.attached_plugin_ids(&a1).await.is_empty(),
        "nothing half-written"
    );
    let r = w.attach(&p, RELEASE, &[&a1, &a1]).await;
    err(&r, 400, "APIG.2012");
    assert!(r.msg().contains("parameterName:api_ids[1]"), "{}", r.msg());
    err(&w.attach(&p, RELEASE, &[]).await, 400, "APIG.2012");
    let many: Vec<String> = (0..501).map(|i| format!("{i:032x}")).collect();
    let r =
        w.s.admin
            .post(
                &format!("/plugins/{p}/attach"),
                &json!({"env_id": RELEASE, "api_ids": many}),
            )
            .await;
    err(&r, 400, "APIG.2012");
    let r =
        w.s.admin
            .post(
                &format!("/plugins/{p}/attach"),
                &json!({"env_id": RELEASE, "api_ids": "a1"}),
            )
            .await;
    err(&r, 400, "APIG.2012");
    let r =
        w.s.admin
            .post(&format!("/plugins/{p}/attach"), &json!({"api_ids": [a1]}))
            .await;
    assert!(r.msg().contains("parameterName:env_id"), "{}", r.msg());
}

#[tokio::test]
async fn the_four_listings_filter_and_page() {
    let w = World::new().await;
    let (a1, a2, a3) = (
        w.api("alpha", "/a").await,
        w.api("beta", "/b").await,
        w.api("gamma", "/c").await,
    );
    for a in [&a1, &a2] {
        w.publish(a, RELEASE).await;
    }
    let (c, rl) = (
        w.plugin("cors", "cors").await,
        w.plugin("limit", "rate_limit").await,
    );
    ok(w.attach(&c, RELEASE, &[&a1]).await, 201);
    ok(w.attach(&rl, RELEASE, &[&a1, &a2]).await, 201);

    let attached = ok(
        w.s.admin
            .get(&format!("/plugins/{rl}/attached-apis?env_id={RELEASE}"))
            .await,
        200,
    );
    assert_eq!(attached["total"], 2);
    let info = &attached["apis"][0];
    for k in [
        "api_id",
        "api_name",
        "type",
        "req_protocol",
        "req_method",
        "req_uri",
        "auth_type",
        "match_mode",
        "group_id",
        "group_name",
        "env_id",
        "env_name",
        "publish_id",
        "plugin_attach_id",
        "attached_time",
    ] {
        assert!(!info[k].is_null(), "PluginApiInfo.{k}");
    }
    let named = ok(
        w.s.admin
            .get(&format!("/plugins/{rl}/attached-apis?api_name=alp"))
            .await,
        200,
    );
    assert_eq!(named["apis"][0]["api_id"], a1.as_str());
    let paged = ok(
        w.s.admin
            .get(&format!("/plugins/{rl}/attached-apis?limit=1&offset=1"))
            .await,
        200,
    );
    assert_eq!(
        (paged["total"].as_u64(), paged["size"].as_u64()),
        (Some(2), Some(1))
    );

    let attachable = ok(
        w.s.admin
            .get(&format!("/plugins/{c}/attachable-apis?env_id={RELEASE}"))
            .await,
        200,
    );
    let ids: Vec<&str> = attachable["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["api_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [a2.as_str()],
        "published, not bound to this plug-in; unpublished gamma is not attachable"
    );
    let _ = a3;
    err(
        &w.s.admin
            .get(&format!("/plugins/{c}/attachable-apis"))
            .await,
        400,
        "APIG.2012",
    );

    let on_a1 = ok(
        w.s.admin
            .get(&format!("/apis/{a1}/attached-plugins?plugin_type=cors"))
            .await,
        200,
    );
    assert_eq!(on_a1["total"], 1);
    let p = &on_a1["plugins"][0];
    for k in [
        "plugin_attach_id",
        "plugin_id",
        "plugin_name",
        "plugin_type",
        "plugin_scope",
        "env_id",
        "env_name",
        "attached_time",
        "plugin_content",
        "remark",
        "create_time",
        "update_time",
    ] {
        assert!(!p[k].is_null(), "AttachedPluginInfo.{k}");
    }
    assert_eq!(
        ok(
            w.s.admin
                .get(&format!(
                    "/apis/{a1}/attached-plugins?env_name=RELEASE&plugin_name=lim"
                ))
                .await,
            200
        )["total"],
        1
    );
    let attachable = ok(
        w.s.admin
            .get(&format!("/apis/{a2}/attachable-plugins?env_id={RELEASE}"))
            .await,
        200,
    );
    assert_eq!(attachable["total"], 1);
    assert_eq!(attachable["plugins"][0]["plugin_id"], c.as_str());
    err(
        &w.s.admin
            .get("/apis/0123456789abcdef0123456789abcdef/attached-plugins")
            .await,
        404,
        "APIG.3002",
    );
}

#[tokio::test]
async fn at_most_five_kafka_log_plugins_per_instance() {
    let w = World::new().await;
    for i in 0..5 {
        w.plugin(&format!("kafka{i}"), "kafka_log").await;
    }
    let body = json!({"plugin_name": "kafka5", "plugin_type": "kafka_log", "plugin_scope": "global",
                      "plugin_content": "{\"broker_list\":[\"a:1\"],\"topic\":\"t\"}"});
    err(&w.s.admin.post("/plugins", &body).await, 403, "APIG.3100");
}

#[tokio::test]
async fn apps_get_keys_and_can_be_authorised_for_apis() {
    let w = World::new().await;
    let app = ok(
        w.s.admin
            .post("/apps", &json!({"name": "mobile_app"}))
            .await,
        201,
    );
    assert_eq!(app["app_key"].as_str().unwrap().len(), 32);
    assert!(app["app_secret"].as_str().unwrap().len() >= 16);
    err(
        &w.s.admin
            .post("/apps", &json!({"name": "mobile_app"}))
            .await,
        400,
        "APIG.3203",
    );
    let fixed = ok(w.s.admin.post("/apps", &json!({"name": "fixed_app", "app_key": "my-key-0001", "app_secret": "my-secret-0001"})).await, 201);
    assert_eq!(fixed["app_key"], "my-key-0001");
    err(
        &w.s.admin
            .post(
                "/apps",
                &json!({"name": "other_app", "app_key": "my-key-0001"}),
            )
            .await,
        400,
        "APIG.3310",
    );
    err(
        &w.s.admin
            .post("/apps", &json!({"name": "short_key", "app_key": "k"}))
            .await,
        400,
        "APIG.2012",
    );
    let api = w.api("api_a1", "/a").await;
    let app_id = app["id"].as_str().unwrap();
    let auths = ok(
        w.s.admin
            .post(
                "/app-auths",
                &json!({"env_id": RELEASE, "app_ids": [app_id], "api_ids": [api]}),
            )
            .await,
        201,
    );
    assert_eq!(auths["auths"][0]["app_id"], app_id);
    err(
        &w.s.admin
            .post(
                "/app-auths",
                &json!({"env_id": RELEASE, "app_ids": ["nope"], "api_ids": [api]}),
            )
            .await,
        404,
        "APIG.3004",
    );
    let listed = ok(w.s.admin.get("/apps?name=mobile").await, 200);
    assert_eq!(
        (
            listed["total"].as_u64(),
            listed["apps"][0]["bind_num"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let auth_id = auths["auths"][0]["id"].as_str().unwrap();
    // The APIs the app is authorised to (ListApisBindedToAppV2), with the authorisation's id.
    let bound = ok(
        w.s.admin
            .get(&format!("/app-auths/binded-apis?app_id={app_id}"))
            .await,
        200,
    );
    assert_eq!(bound["total"], 1, "{bound}");
    let item = &bound["auths"][0];
    assert_eq!(
        (
            &item["id"],
            &item["api_id"],
            &item["env_id"],
            &item["api_name"]
        ),
        (
            &json!(auth_id),
            &json!(api),
            &json!(RELEASE),
            &json!("api_a1")
        )
    );
    err(
        &w.s.admin.get("/app-auths/binded-apis").await,
        400,
        "APIG.2012",
    );
    err(
        &w.s.admin.get("/app-auths/binded-apis?app_id=nope").await,
        404,
        "APIG.3004",
    );
    ok(
        w.s.admin.delete(&format!("/app-auths/{auth_id}")).await,
        204,
    );
    let bound = ok(
        w.s.admin
            .get(&format!("/app-auths/binded-apis?app_id={app_id}"))
            .await,
        200,
    );
    assert_eq!(bound["total"], 0, "{bound}");
    ok(w.s.admin.delete(&format!("/apps/{app_id}")).await, 204);
    err(
        &w.s.admin.get(&format!("/apps/{app_id}")).await,
        404,
        "APIG.3004",
    );
}
