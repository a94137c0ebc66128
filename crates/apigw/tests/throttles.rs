//! Classic request throttling policies end to end: the fifteen calls (policies, bindings,
//! excluded configurations) with their fields and APIG codes, and real traffic through the
//! gateway to a real backend: exact under concurrency with local and Redis counters, IP and
//! app limits, an app's excluded configuration, the rate_limit plug-in deciding when both are
//! bound.

use apigw_testkit::{
    http_api, redis_url, Backend, GatewayClient, Resp, TestServer, PROJECT, RELEASE, TOKEN,
};
use serde_json::{json, Value};

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
}

/// The page's example policy, renamed.
fn policy(name: &str) -> Value {
    json!({"name": name, "api_call_limits": 800, "user_call_limits": 500,
           "app_call_limits": 300, "ip_call_limits": 600, "time_interval": 1,
           "time_unit": "SECOND", "type": 1, "enable_adaptive_control": "FALSE",
           "remark": "demo"})
}

fn id(r: &Resp) -> String {
    r.json["id"].as_str().unwrap_or_default().to_string()
}

/// Publishes `api_id` in RELEASE; its publication record's id.
async fn publish(s: &TestServer, api_id: &str) -> String {
    let r = s
        .admin
        .post(
            "/apis/action",
            &json!({"action": "online", "env_id": RELEASE, "api_id": api_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["publish_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn policy_calls_name_every_bad_field_and_refuse_broken_nesting() {
    let s = TestServer::start().await;
    // Every bad field named in one answer.
    let r = s
        .admin
        .post(
            "/throttles",
            &json!({"name": "1bad", "api_call_limits": 0, "user_call_limits": "5",
                    "app_call_limits": -1, "ip_call_limits": 2_147_483_648_i64,
                    "time_interval": 0, "time_unit": "WEEK", "type": 3,
                    "enable_adaptive_control": "yes", "remark": "x".repeat(256), "extra": 1}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    for field in [
        "name",
        "api_call_limits",
        "user_call_limits",
        "app_call_limits",
        "ip_call_limits",
        "time_interval",
        "time_unit",
        "type",
        "enable_adaptive_control",
        "remark",
        "extra",
    ] {
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    // The mandatory ones.
    let r = s.admin.post("/throttles", &json!({})).await;
    err(&r, 400, "APIG.2012");
    for field in ["name", "api_call_limits", "time_interval", "time_unit"] {
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    // Nesting: app ≤ user ≤ API, IP ≤ API.
    for (field, value) in [
        ("user_call_limits", 801),
        ("app_call_limits", 501),
        ("ip_call_limits", 801),
    ] {
        let mut body = policy("nested");
        body[field] = json!(value);
        let r = s.admin.post("/throttles", &body).await;
        err(&r, 400, "APIG.2012");
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    let mut body = policy("nested");
    body["user_call_limits"] = Value::Null;
    body["app_call_limits"] = json!(801);
    let r = s.admin.post("/throttles", &body).await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("app_call_limits"), "{}", r.text);
}

#[tokio::test]
async fn policies_bindings_and_excluded_configurations_answer_the_pages() {
    let s = TestServer::start().await;
    let (group, _) = s.admin.create_group("throttled").await;

    // Create with every field answered, duplicate name, defaults.
    let r = s.admin.post("/throttles", &policy("throttle_demo")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for (field, value) in [
        ("name", json!("throttle_demo")),
        ("api_call_limits", json!(800)),
        ("user_call_limits", json!(500)),
        ("app_call_limits", json!(300)),
        ("ip_call_limits", json!(600)),
        ("time_interval", json!(1)),
        ("time_unit", json!("SECOND")),
        ("type", json!(1)),
        ("enable_adaptive_control", json!("FALSE")),
        ("remark", json!("demo")),
        ("bind_num", json!(0)),
        ("is_inclu_special_throttle", json!(2)),
    ] {
        assert_eq!(r.json[field], value, "{field}: {}", r.text);
    }
    assert!(r.json["create_time"].is_string(), "{}", r.text);
    let demo = id(&r);
    err(
        &s.admin.post("/throttles", &policy("throttle_demo")).await,
        400,
        "APIG.3204",
    );
    let r = s
        .admin
        .post(
            "/throttles",
            &json!({"name": "throttle_min", "api_call_limits": 10, "time_interval": 2, "time_unit": "MINUTE"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.json["type"].clone(), r.json["user_call_limits"].clone()),
        (json!(1), Value::Null),
        "{}",
        r.text
    );
    let min = id(&r);

    // List with filters and paging, show, modify.
    let r = s.admin.get("/throttles?name=throttle").await;
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(2), json!(2)),
        "{}",
        r.text
    );
    let r = s
        .admin
        .get("/throttles?name=throttle&limit=1&offset=1")
        .await;
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(2), json!(1)),
        "{}",
        r.text
    );
    let r = s
        .admin
        .get("/throttles?name=throttle&precise_search=name")
        .await;
    assert_eq!(r.json["total"], json!(0), "{}", r.text);
    let r = s.admin.get(&format!("/throttles?id={min}")).await;
    assert_eq!(
        r.json["throttles"][0]["name"],
        json!("throttle_min"),
        "{}",
        r.text
    );
    err(&s.admin.get("/throttles/nope").await, 404, "APIG.3005");
    let mut changed = policy("throttle_demo");
    changed["api_call_limits"] = json!(900);
    changed["time_unit"] = json!("HOUR");
    let r = s.admin.put(&format!("/throttles/{demo}"), &changed).await;
    assert_eq!(
        (
            r.status,
            r.json["api_call_limits"].clone(),
            r.json["time_unit"].clone()
        ),
        (200, json!(900), json!("HOUR")),
        "{}",
        r.text
    );
    let mut renamed = policy("throttle_min");
    renamed["api_call_limits"] = json!(900);
    err(
        &s.admin.put(&format!("/throttles/{demo}"), &renamed).await,
        400,
        "APIG.3204",
    );
    err(
        &s.admin.put("/throttles/nope", &changed).await,
        404,
        "APIG.3005",
    );
    changed["user_call_limits"] = json!(901);
    let r = s.admin.put(&format!("/throttles/{demo}"), &changed).await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("user_call_limits"), "{}", r.text);

    // Bind: one policy per API and environment.
    let api = s
        .admin
        .create_api(http_api(
            "thr_api",
            &group,
            "GET",
            "/t",
            "127.0.0.1:9",
            "/t",
        ))
        .await;
    let other = s
        .admin
        .create_api(http_api(
            "thr_other",
            &group,
            "GET",
            "/o",
            "127.0.0.1:9",
            "/o",
        ))
        .await;
    let publish_id = publish(&s, &api).await;
    publish(&s, &other).await;
    let r = s
        .admin
        .post(
            "/throttle-bindings",
            &json!({"strategy_id": demo, "publish_ids": [publish_id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let applied = &r.json["throttle_applys"][0];
    for field in ["id", "publish_id", "strategy_id", "apply_time", "scope"] {
        assert!(applied.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(applied["publish_id"], json!(publish_id));
    let bind_id = applied["id"].as_str().unwrap().to_string();
    let r = s
        .admin
        .post(
            "/throttle-bindings",
            &json!({"strategy_id": min, "publish_ids": [publish_id]}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("publish_ids"), "{}", r.text);
    err(
        &s.admin
            .post(
                "/throttle-bindings",
                &json!({"strategy_id": "nope", "publish_ids": [publish_id]}),
            )
            .await,
        404,
        "APIG.3005",
    );
    err(
        &s.admin
            .post(
                "/throttle-bindings",
                &json!({"strategy_id": min, "publish_ids": ["nope"]}),
            )
            .await,
        404,
        "APIG.3015",
    );
    let r = s.admin.post("/throttle-bindings", &json!({})).await;
    err(&r, 400, "APIG.2012");
    for field in ["strategy_id", "publish_ids"] {
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }

    // The three listings.
    let r = s
        .admin
        .get(&format!("/throttle-bindings/binded-throttles?api_id={api}"))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let t = &r.json["throttles"][0];
    assert_eq!(
        (
            t["id"].clone(),
            t["bind_id"].clone(),
            t["env_name"].clone(),
            t["bind_num"].clone()
        ),
        (json!(demo), json!(bind_id), json!("RELEASE"), json!(1)),
        "{}",
        r.text
    );
    err(
        &s.admin
            .get("/throttle-bindings/binded-throttles?api_id=nope")
            .await,
        404,
        "APIG.3002",
    );
    err(
        &s.admin.get("/throttle-bindings/binded-throttles").await,
        400,
        "APIG.2012",
    );
    let r = s
        .admin
        .get(&format!(
            "/throttle-bindings/binded-apis?throttle_id={demo}"
        ))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let a = &r.json["apis"][0];
    assert_eq!(
        (
            a["id"].clone(),
            a["throttle_apply_id"].clone(),
            a["throttle_name"].clone(),
            a["publish_id"].clone(),
            a["run_env_id"].clone()
        ),
        (
            json!(api),
            json!(bind_id),
            json!("throttle_demo"),
            json!(publish_id),
            json!(RELEASE)
        ),
        "{}",
        r.text
    );
    let r = s
        .admin
        .get(&format!(
            "/throttle-bindings/unbinded-apis?throttle_id={demo}"
        ))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    assert_eq!(r.json["apis"][0]["id"], json!(other), "{}", r.text);
    let r = s
        .admin
        .get(&format!(
            "/throttle-bindings/unbinded-apis?throttle_id={min}&api_name=thr_api"
        ))
        .await;
    assert_eq!(
        (
            r.json["total"].clone(),
            r.json["apis"][0]["throttle_name"].clone()
        ),
        (json!(1), json!("throttle_demo")),
        "{}",
        r.text
    );
    err(
        &s.admin
            .get("/throttle-bindings/binded-apis?throttle_id=nope")
            .await,
        404,
        "APIG.3005",
    );

    // Excluded configurations.
    let r = s.admin.post("/apps", &json!({"name": "special_app"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let app = id(&r);
    let specials = format!("/throttles/{demo}/throttle-specials");
    let r = s
        .admin
        .post(
            &specials,
            &json!({"object_type": "APP", "object_id": app, "call_limits": 50}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for (field, value) in [
        ("object_type", json!("APP")),
        ("object_id", json!(app)),
        ("app_id", json!(app)),
        ("app_name", json!("special_app")),
        ("object_name", json!("special_app")),
        ("call_limits", json!(50)),
        ("throttle_id", json!(demo)),
    ] {
        assert_eq!(r.json[field], value, "{field}: {}", r.text);
    }
    let app_special = id(&r);
    err(
        &s.admin
            .post(
                &specials,
                &json!({"object_type": "APP", "object_id": app, "call_limits": 5}),
            )
            .await,
        400,
        "APIG.3308",
    );
    err(
        &s.admin
            .post(
                &specials,
                &json!({"object_type": "APP", "object_id": "nope", "call_limits": 5}),
            )
            .await,
        404,
        "APIG.3004",
    );
    err(
        &s.admin
            .post(
                "/throttles/nope/throttle-specials",
                &json!({"object_type": "USER", "object_id": "u1", "call_limits": 5}),
            )
            .await,
        404,
        "APIG.3005",
    );
    let r = s
        .admin
        .post(
            &specials,
            &json!({"object_type": "ROBOT", "object_id": "", "call_limits": 0}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    for field in ["object_type", "object_id", "call_limits"] {
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    let r = s
        .admin
        .post(
            &specials,
            &json!({"object_type": "USER", "object_id": "project-1", "call_limits": 9}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["app_id"].clone()),
        (201, Value::Null),
        "{}",
        r.text
    );
    let r = s.admin.get(&specials).await;
    assert_eq!(r.json["total"], json!(2), "{}", r.text);
    let r = s.admin.get(&format!("{specials}?object_type=USER")).await;
    assert_eq!(
        r.json["throttle_specials"][0]["object_id"],
        json!("project-1"),
        "{}",
        r.text
    );
    let r = s.admin.get(&format!("{specials}?app_name=special")).await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let r = s.admin.get(&format!("/throttles/{demo}")).await;
    assert_eq!(r.json["is_inclu_special_throttle"], json!(1), "{}", r.text);
    let r = s
        .admin
        .put(
            &format!("{specials}/{app_special}"),
            &json!({"call_limits": 70}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["call_limits"].clone()),
        (200, json!(70)),
        "{}",
        r.text
    );
    err(
        &s.admin
            .put(&format!("{specials}/nope"), &json!({"call_limits": 70}))
            .await,
        404,
        "APIG.3013",
    );
    let r = s
        .admin
        .put(
            &format!("{specials}/{app_special}"),
            &json!({"call_limits": "x"}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("call_limits"), "{}", r.text);
    assert_eq!(
        s.admin
            .delete(&format!("{specials}/{app_special}"))
            .await
            .status,
        204
    );
    err(
        &s.admin.delete(&format!("{specials}/{app_special}")).await,
        404,
        "APIG.3013",
    );

    // Unbind one, batch unbind with a failure listed.
    assert_eq!(
        s.admin
            .delete(&format!("/throttle-bindings/{bind_id}"))
            .await
            .status,
        204
    );
    err(
        &s.admin
            .delete(&format!("/throttle-bindings/{bind_id}"))
            .await,
        404,
        "APIG.3012",
    );
    let r = s
        .admin
        .post(
            "/throttle-bindings",
            &json!({"strategy_id": min, "publish_ids": [publish_id]}),
        )
        .await;
    let again = r.json["throttle_applys"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .admin
        .put(
            "/throttle-bindings?action=delete",
            &json!({"throttle_bindings": [again, "nope"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["success_count"], json!(1), "{}", r.text);
    assert_eq!(
        (
            r.json["failure"][0]["bind_id"].clone(),
            r.json["failure"][0]["error_code"].clone()
        ),
        (json!("nope"), json!("APIG.3012")),
        "{}",
        r.text
    );
    err(
        &s.admin
            .put("/throttle-bindings", &json!({"throttle_bindings": []}))
            .await,
        400,
        "APIG.2012",
    );

    // Offline: the binding goes. Delete: bindings and excluded configurations go with it.
    s.admin
        .post(
            "/throttle-bindings",
            &json!({"strategy_id": demo, "publish_ids": [publish_id]}),
        )
        .await;
    s.admin.publish(&api, RELEASE, false).await;
    let r = s.admin.get(&format!("/throttles/{demo}")).await;
    assert_eq!(r.json["bind_num"], json!(0), "{}", r.text);
    assert_eq!(
        s.admin.delete(&format!("/throttles/{demo}")).await.status,
        204
    );
    err(
        &s.admin.delete(&format!("/throttles/{demo}")).await,
        404,
        "APIG.3005",
    );
    err(&s.admin.get(&specials).await, 404, "APIG.3005");
}

/// A gateway with a real backend and a group to publish APIs in.
struct World {
    s: TestServer,
    _backend: Backend,
    gw: GatewayClient,
    group: String,
    host: String,
    backend: String,
}

impl World {
    async fn new(redis: Option<String>) -> Self {
        let s = TestServer::start_with(|a| a.redis_url = redis).await;
        let backend = Backend::start().await;
        let gw = GatewayClient::new(s.running.gateway_addr);
        let (group, host) = s.admin.create_group("throttled").await;
        let b = backend.addr.to_string();
        Self {
            s,
            _backend: backend,
            gw,
            group,
            host,
            backend: b,
        }
    }

    /// Creates and publishes an API (with `extra` definition fields); its id and publish id.
    async fn api(&self, name: &str, uri: &str, extra: Value) -> (String, String) {
        let mut body = http_api(name, &self.group, "GET", uri, &self.backend, "/");
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let id = self.s.admin.create_api(body).await;
        let publish_id = publish(&self.s, &id).await;
        (id, publish_id)
    }

    /// Creates a policy from `fields` (over a day) and binds it to `publish_ids`; its id.
    async fn throttle(&self, fields: Value, publish_ids: &[&str]) -> String {
        let mut body = json!({"name": "traffic_policy", "time_interval": 1, "time_unit": "DAY"});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self.s.admin.post("/throttles", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let t = id(&r);
        let r = self
            .s
            .admin
            .post(
                "/throttle-bindings",
                &json!({"strategy_id": t, "publish_ids": publish_ids}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        t
    }

    async fn get(&self, path: &str, extra: &[(&str, &str)]) -> Resp {
        let mut h = vec![("host", self.host.as_str())];
        h.extend_from_slice(extra);
        self.gw.call("GET", path, &h, b"").await
    }

    /// `n` calls from `clients` concurrent clients; how many passed (the others must be the
    /// throttling refusal).
    async fn hammer(&self, path: &str, n: usize, clients: usize) -> usize {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (gw, host, path) = (self.gw.clone(), self.host.clone(), path.to_string());
            let share = n / clients + usize::from(c < n % clients);
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..share {
                    let r = gw.call("GET", &path, &[("host", &host)], b"").await;
                    assert!(r.status == 200 || r.status == 429, "{}", r.status);
                    ok += usize::from(r.status == 200);
                }
                ok
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    }
}

#[tokio::test]
async fn exactly_the_api_limit_passes_under_concurrency_with_local_counters() {
    let w = World::new(None).await;
    let (api, publish_id) = w.api("busy", "/busy", json!({})).await;
    w.throttle(json!({"api_call_limits": 50}), &[&publish_id])
        .await;
    assert_eq!(w.hammer("/busy", 200, 20).await, 50);
    let refused = w.get("/busy", &[]).await;
    assert_eq!(
        (refused.status, refused.json["error_code"].clone()),
        (429, json!("APIG.0308")),
        "{}",
        refused.text
    );
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    let m = w.s.admin.metrics().await;
    let line = format!("apigw_decisions_total{{api_id=\"{api}\",decision=\"throttled\"}} 151");
    assert!(m.contains(&line), "{line} in {m}");
}

#[tokio::test]
async fn exactly_the_api_limit_passes_under_concurrency_with_redis_counters() {
    let w = World::new(Some(redis_url())).await;
    let (_, publish_id) = w.api("busy", "/busy", json!({})).await;
    w.throttle(json!({"api_call_limits": 50}), &[&publish_id])
        .await;
    assert_eq!(w.hammer("/busy", 200, 20).await, 50);
    let m = w.s.admin.metrics().await;
    assert!(m.contains("apigw_ratelimit_redis_degraded 0"), "{m}");
}

#[tokio::test]
async fn the_ip_limit_holds_below_the_api_limit_and_type_two_shares_the_count() {
    let w = World::new(None).await;
    let (_, p1) = w.api("ip_one", "/one", json!({})).await;
    let (_, p2) = w.api("ip_two", "/two", json!({})).await;
    w.throttle(
        json!({"api_call_limits": 10, "ip_call_limits": 3, "type": 2}),
        &[&p1, &p2],
    )
    .await;
    assert_eq!(w.hammer("/one", 2, 1).await, 2);
    assert_eq!(
        w.hammer("/two", 5, 1).await,
        1,
        "the two APIs share the IP count"
    );
}

/// Signs a GET the way the SDKs do (host and x-sdk-date signed).
fn signed(path: &str, host: &str, key: &str, secret: &str) -> (String, String) {
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let parts = apigw_model::sign::RequestParts {
        method: "GET",
        path,
        query: None,
        body: b"",
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
async fn an_apps_excluded_configuration_raises_its_limit_alone() {
    let w = World::new(None).await;
    let (api, publish_id) = w.api("app_api", "/app", json!({"auth_type": "APP"})).await;
    let mut apps = Vec::new();
    for n in ["vip", "plain"] {
        let r = w
            .s
            .admin
            .post("/apps", &json!({"name": format!("{n}_app"), "app_key": format!("{n}-key-0001"), "app_secret": format!("{n}-secret-0001")}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        apps.push(id(&r));
    }
    let r =
        w.s.admin
            .post(
                "/app-auths",
                &json!({"env_id": RELEASE, "app_ids": apps, "api_ids": [api]}),
            )
            .await;
    assert!(r.status < 300, "{}", r.text);
    let t = w
        .throttle(
            json!({"api_call_limits": 100, "app_call_limits": 2}),
            &[&publish_id],
        )
        .await;
    let r =
        w.s.admin
            .post(
                &format!("/throttles/{t}/throttle-specials"),
                &json!({"object_type": "APP", "object_id": apps[0], "call_limits": 5}),
            )
            .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let passed = |n: &'static str| {
        let w = &w;
        async move {
            let mut ok = 0;
            for _ in 0..8 {
                let (date, auth) = signed(
                    "/app",
                    &w.host,
                    &format!("{n}-key-0001"),
                    &format!("{n}-secret-0001"),
                );
                let r = w
                    .get("/app", &[("x-sdk-date", &date), ("authorization", &auth)])
                    .await;
                assert!(r.status == 200 || r.status == 429, "{}", r.text);
                ok += usize::from(r.status == 200);
            }
            ok
        }
    };
    assert_eq!(passed("vip").await, 5, "the excluded app");
    assert_eq!(passed("plain").await, 2, "the policy's app limit");
}

#[tokio::test]
async fn a_bound_rate_limit_plugin_decides_instead_of_the_classic_policy() {
    let w = World::new(None).await;
    let (api, publish_id) = w.api("both", "/both", json!({})).await;
    w.throttle(json!({"api_call_limits": 1}), &[&publish_id])
        .await;
    let p =
        w.s.admin
            .create_plugin(
                "limit plugin",
                "rate_limit",
                json!({"api_limit": 3, "default_time_unit": "day"}),
            )
            .await;
    w.s.admin.bind(&p, RELEASE, &[&api]).await;
    assert_eq!(w.hammer("/both", 5, 1).await, 3, "the plug-in's limit");
    w.s.admin.unbind(&p, RELEASE, &[&api]).await;
    assert_eq!(
        w.hammer("/both", 3, 1).await,
        1,
        "the classic policy's limit"
    );
}

#[tokio::test]
async fn the_user_limit_holds_per_iam_caller_and_a_user_exclusion_replaces_it() {
    let w = World::new(None).await;
    let (_, publish_id) = w.api("iam_api", "/iam", json!({"auth_type": "IAM"})).await;
    let t = w
        .throttle(
            json!({"api_call_limits": 10, "user_call_limits": 2}),
            &[&publish_id],
        )
        .await;
    let passed = || async {
        let mut ok = 0;
        for _ in 0..5 {
            let r = w.get("/iam", &[("x-auth-token", TOKEN)]).await;
            assert!(r.status == 200 || r.status == 429, "{}", r.text);
            ok += usize::from(r.status == 200);
        }
        ok
    };
    assert_eq!(passed().await, 2, "the policy's user limit");
    // The gateway's IAM caller is its project: excluded with a limit of 4, it gets 2 more.
    let r =
        w.s.admin
            .post(
                &format!("/throttles/{t}/throttle-specials"),
                &json!({"object_type": "USER", "object_id": PROJECT, "call_limits": 4}),
            )
            .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(passed().await, 2, "the excluded user's limit");
}

#[tokio::test]
async fn modifying_and_unbinding_a_policy_take_effect_at_once() {
    let w = World::new(None).await;
    let (_, publish_id) = w.api("changing", "/c", json!({})).await;
    let t = w
        .throttle(json!({"api_call_limits": 1}), &[&publish_id])
        .await;
    assert_eq!(w.hammer("/c", 3, 1).await, 1);
    // A raised limit within the same period: the calls already counted still count.
    let body = json!({"name": "traffic_policy", "api_call_limits": 3, "time_interval": 1, "time_unit": "DAY"});
    assert_eq!(
        w.s.admin
            .put(&format!("/throttles/{t}"), &body)
            .await
            .status,
        200
    );
    assert_eq!(w.hammer("/c", 5, 1).await, 2);
    let bound =
        w.s.admin
            .get(&format!("/throttle-bindings/binded-apis?throttle_id={t}"))
            .await;
    let bind_id = bound.json["apis"][0]["throttle_apply_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.s.admin
            .delete(&format!("/throttle-bindings/{bind_id}"))
            .await
            .status,
        204
    );
    assert_eq!(w.hammer("/c", 5, 1).await, 5, "no policy, no limit");
}
