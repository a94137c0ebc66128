//! The five plug-in calls end to end over HTTP: create, show, list (filters and pages), update,
//! delete, on both path families, the seed requests sent verbatim, and the content's field
//! names on each family (SPEC §13).

use apigw_plugins::naming::Naming;
use apigw_plugins::registry::shown_content;
use apigw_testkit::{http_api, seed_requests, Family, Resp, TestServer};
use serde_json::{json, Value};

fn cors(name: &str) -> Value {
    json!({"plugin_name": name, "plugin_type": "cors", "plugin_scope": "global",
           "plugin_content": "{\"allow_origin\":\"*\"}", "remark": "r"})
}

async fn create(s: &TestServer, body: &Value) -> Resp {
    let r = s.admin.post("/plugins", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r
}

#[tokio::test]
async fn create_returns_plugin_info_and_show_reads_it_back() {
    let s = TestServer::start().await;
    let r = create(&s, &cors("cors one")).await;
    let info = &r.json;
    let id = info["plugin_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(info["plugin_name"], "cors one");
    assert_eq!(info["plugin_type"], "cors");
    assert_eq!(info["plugin_scope"], "global");
    assert_eq!(info["remark"], "r");
    assert!(
        info["plugin_content"].is_string(),
        "content is a JSON string, as the SDK expects"
    );
    let t = info["create_time"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.len() == 24, "{t}");
    assert_eq!(info["create_time"], info["update_time"]);
    let keys: Vec<_> = info.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "plugin_id",
            "plugin_name",
            "plugin_type",
            "plugin_scope",
            "plugin_content",
            "remark",
            "create_time",
            "update_time"
        ]
    );
    let shown = s.admin.get(&format!("/plugins/{id}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json, r.json);
}

#[tokio::test]
async fn update_changes_name_content_and_remark_but_not_type_or_scope() {
    let s = TestServer::start().await;
    let created = create(&s, &cors("before")).await.json;
    let id = created["plugin_id"].as_str().unwrap();
    let mut body = cors("after");
    body["plugin_content"] = json!("{\"allow_origin\":\"https://a.example\",\"max_age\":10}");
    body["remark"] = json!("new");
    let r = s.admin.put(&format!("/plugins/{id}"), &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["plugin_name"], "after");
    assert_eq!(r.json["remark"], "new");
    assert_eq!(r.json["create_time"], created["create_time"]);
    let content: Value = serde_json::from_str(r.json["plugin_content"].as_str().unwrap()).unwrap();
    assert_eq!(content["max_age"], 10);
    assert_eq!(s.admin.get(&format!("/plugins/{id}")).await.json, r.json);

    let mut typed = body.clone();
    typed["plugin_type"] = json!("set_resp_headers");
    typed["plugin_content"] = json!("{\"response_headers\":[]}");
    let r = s.admin.put(&format!("/plugins/{id}"), &typed).await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"));
    assert!(r.msg().contains("parameterName:plugin_type"), "{}", r.msg());
    let mut scoped = body.clone();
    scoped["plugin_scope"] = json!("app");
    let r = s.admin.put(&format!("/plugins/{id}"), &scoped).await;
    assert!(
        r.msg().contains("parameterName:plugin_scope"),
        "{}",
        r.msg()
    );
    // Nothing was half-written.
    assert_eq!(
        s.admin.get(&format!("/plugins/{id}")).await.json["plugin_name"],
        "after"
    );
}

#[tokio::test]
async fn update_to_a_taken_name_is_apig_3326_and_unknown_ids_are_apig_3068() {
    let s = TestServer::start().await;
    create(&s, &cors("taken")).await;
    let id = create(&s, &cors("mine")).await.json["plugin_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.admin.put(&format!("/plugins/{id}"), &cors("taken")).await;
    assert_eq!((r.status, r.code()), (400, "APIG.3326"));
    let missing = "0123456789abcdef0123456789abcdef";
    for r in [
        s.admin.get(&format!("/plugins/{missing}")).await,
        s.admin
            .put(&format!("/plugins/{missing}"), &cors("x-name"))
            .await,
        s.admin.delete(&format!("/plugins/{missing}")).await,
    ] {
        assert_eq!((r.status, r.code()), (404, "APIG.3068"));
        assert_eq!(r.msg(), format!("Plugin {missing} does not exist"));
    }
}

#[tokio::test]
async fn duplicate_names_are_400_apig_3326() {
    let s = TestServer::start().await;
    create(&s, &cors("dup")).await;
    let r = s.admin.post("/plugins", &cors("dup")).await;
    assert_eq!(
        (r.status, r.code(), r.msg()),
        (400, "APIG.3326", "The plugin name already exists")
    );
}

#[tokio::test]
async fn delete_removes_the_plugin() {
    let s = TestServer::start().await;
    let id = create(&s, &cors("gone")).await.json["plugin_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.admin.delete(&format!("/plugins/{id}")).await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    assert_eq!(s.admin.get(&format!("/plugins/{id}")).await.status, 404);
    // The name is free again.
    create(&s, &cors("gone")).await;
}

#[tokio::test]
async fn list_filters_by_type_scope_id_and_name_and_pages() {
    let s = TestServer::start().await;
    let mut ids = Vec::new();
    for name in ["alpha cors", "beta cors", "gamma"] {
        ids.push(
            create(&s, &cors(name)).await.json["plugin_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let limit = json!({"plugin_name": "limiter", "plugin_type": "rate_limit", "plugin_scope": "app",
                       "plugin_content": "{\"api_limit\":10}"});
    create(&s, &limit).await;
    let names = |r: &Resp| -> Vec<String> {
        r.json["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["plugin_name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = s.admin.get("/plugins").await;
    assert_eq!(
        (all.json["total"].as_u64(), all.json["size"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        names(&all),
        ["limiter", "gamma", "beta cors", "alpha cors"],
        "newest first"
    );
    let r = s.admin.get("/plugins?plugin_type=cors").await;
    assert_eq!(r.json["total"], 3);
    let r = s.admin.get("/plugins?plugin_scope=app").await;
    assert_eq!(names(&r), ["limiter"]);
    let r = s.admin.get(&format!("/plugins?plugin_id={}", ids[1])).await;
    assert_eq!(names(&r), ["beta cors"]);
    let r = s.admin.get("/plugins?plugin_name=cors").await;
    assert_eq!(names(&r), ["beta cors", "alpha cors"], "fuzzy by default");
    let r = s
        .admin
        .get("/plugins?plugin_name=cors&precise_search=plugin_name")
        .await;
    assert_eq!(r.json["total"], 0);
    let r = s
        .admin
        .get("/plugins?plugin_name=beta%20cors&precise_search=plugin_name")
        .await;
    assert_eq!(names(&r), ["beta cors"]);
    let r = s.admin.get("/plugins?offset=1&limit=2").await;
    assert_eq!(
        (r.json["total"].as_u64(), names(&r)),
        (Some(4), vec!["gamma".to_string(), "beta cors".into()])
    );
    let r = s.admin.get("/plugins?offset=-3&limit=0").await;
    assert_eq!(
        r.json["size"], 4,
        "negative offset is 0, limit 0 is the default 20"
    );
    let r = s.admin.get("/plugins?limit=9999").await;
    assert_eq!(r.json["size"], 4, "limit above 500 is 500");
    let r = s.admin.get("/plugins?offset=10").await;
    assert_eq!(
        (r.json["total"].as_u64(), r.json["size"].as_u64()),
        (Some(4), Some(0))
    );
}

#[tokio::test]
async fn list_rejects_bad_parameters_with_their_names() {
    let s = TestServer::start().await;
    for (q, field) in [
        ("offset=abc", "offset"),
        ("limit=1.5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("plugin_type=nope", "plugin_type"),
        ("plugin_scope=nope", "plugin_scope"),
        ("precise_search=plugin_id", "precise_search"),
    ] {
        let r = s.admin.get(&format!("/plugins?{q}")).await;
        assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{q}");
        assert!(
            r.msg().contains(&format!("parameterName:{field}")),
            "{q}: {}",
            r.msg()
        );
    }
}

#[tokio::test]
async fn the_roma_family_adds_roma_app_fields_and_filters() {
    let s = TestServer::start().await;
    let roma = s.admin.with_family(Family::Apic);
    let mut body = cors("roma cors");
    body["roma_app_id"] = json!("app-1");
    body["roma_app_name"] = json!("My App");
    let r = roma.post("/plugins", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            r.json["roma_app_id"].as_str(),
            r.json["roma_app_name"].as_str()
        ),
        (Some("app-1"), Some("My App"))
    );
    create(&s, &cors("plain cors")).await;
    let r = roma.get("/plugins?roma_app_id=app-1").await;
    assert_eq!(r.json["total"], 1);
    let r = roma.get("/plugins?roma_app_name=App").await;
    assert_eq!(r.json["total"], 1);
    // The APIG family neither shows nor accepts them.
    let id = r.json["plugins"][0]["plugin_id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = s.admin.get(&format!("/plugins/{id}")).await;
    assert!(shown.json.get("roma_app_id").is_none());
    let r = s
        .admin
        .post("/plugins", &{
            let mut b = body.clone();
            b["plugin_name"] = json!("other");
            b
        })
        .await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"));
    assert!(r.msg().contains("parameterName:roma_app_id"), "{}", r.msg());
}

#[tokio::test]
async fn every_seed_request_sent_verbatim_is_created_and_reads_back() {
    let s = TestServer::start().await;
    let roma = s.admin.with_family(Family::Apic);
    for (i, seed) in seed_requests().into_iter().enumerate() {
        let path = seed["path"].as_str().unwrap();
        let (client, naming) = if path.contains("/apic/") {
            (&roma, Naming::Roma)
        } else {
            (&s.admin, Naming::Apig)
        };
        let mut body = seed["body"].clone();
        // Both seed pages use the same names; keep them unique per instance.
        if i >= 6 {
            body["plugin_name"] = json!(format!("{} ROMA", body["plugin_name"].as_str().unwrap()));
        }
        let r = client.post("/plugins", &body).await;
        assert_eq!(r.status, 201, "seed {i}: {}", r.text);
        for k in ["plugin_name", "plugin_type", "plugin_scope", "remark"] {
            assert_eq!(r.json[k], body[k], "seed {i} {k}");
        }
        let id = r.json["plugin_id"].as_str().unwrap();
        let shown = client.get(&format!("/plugins/{id}")).await;
        assert_eq!(shown.json, r.json, "seed {i}");
        let t = body["plugin_type"].as_str().unwrap().parse().unwrap();
        let expected = apigw_plugins::registry::canonical_content(
            t,
            body["plugin_content"].as_str().unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(
            shown.json["plugin_content"].as_str().unwrap(),
            shown_content(t, &expected, naming)
        );
    }
    assert_eq!(s.admin.get("/plugins").await.json["total"], 12);
}

/// The third_auth content of the ROMA seed (ROMA's names, `identities.query`), decoded.
fn roma_third_auth_content() -> Value {
    let seed = seed_requests()
        .into_iter()
        .find(|s| {
            s["path"].as_str().unwrap().contains("/apic/")
                && s["body"]["plugin_type"] == "third_auth"
        })
        .unwrap();
    let text = seed["body"]["plugin_content"].as_str().unwrap();
    Value::Object(apigw_plugins::registry::decode(text).unwrap())
}

/// The `plugin_content` of an answer, decoded.
fn content_of(info: &Value) -> Value {
    serde_json::from_str(info["plugin_content"].as_str().unwrap()).unwrap()
}

/// Asserts that `content` uses ROMA's six names (and `identities.queries`) or APIG's.
fn assert_names(content: &Value, naming: Naming, what: &str) {
    let pairs = [
        (&content, "carry_path_enabled", "carry_path"),
        (&content, "return_resp_body_enabled", "return_resp_body"),
        (&content, "simple_auth_mode_enabled", "simple_auth_mode"),
        (&content, "rule_enabled", "rule_switch"),
        (&&content["carry_body"], "enabled", "switch"),
        (
            &&content["auth_request"],
            "vpc_channel_enabled",
            "vpc_channel_enable",
        ),
    ];
    for (object, apig, roma) in pairs {
        let (shown, hidden) = match naming {
            Naming::Apig => (apig, roma),
            Naming::Roma => (roma, apig),
        };
        assert!(object.get(shown).is_some(), "{what}: {shown} in {content}");
        assert!(
            object.get(hidden).is_none(),
            "{what}: {hidden} in {content}"
        );
    }
    assert!(content["identities"].get("queries").is_some(), "{what}");
    assert!(content["identities"].get("query").is_none(), "{what}");
}

#[tokio::test]
async fn plugin_content_is_answered_in_roma_names_on_apic_and_apig_names_on_apigw() {
    let s = TestServer::start().await;
    let roma = s.admin.with_family(Family::Apic);
    let sent = roma_third_auth_content();
    let body = json!({"plugin_name": "third auth", "plugin_type": "third_auth",
                      "plugin_scope": "global", "plugin_content": sent.to_string()});
    let created = roma.post("/plugins", &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let content = content_of(&created.json);
    assert_names(&content, Naming::Roma, "create on /apic/");
    assert_eq!(
        content["carry_body"]["switch"],
        sent["carry_body"]["switch"]
    );
    assert_eq!(content["rule_switch"], sent["rule_switch"]);
    assert_eq!(
        content["identities"]["queries"][0]["name"],
        sent["identities"]["query"][0]["name"]
    );
    let id = created.json["plugin_id"].as_str().unwrap().to_string();

    // One stored content, shown per family by every call that shows it.
    let group = s.admin.default_group().await;
    let api = s
        .admin
        .create_published_api(http_api(
            "roma_api",
            &group,
            "GET",
            "/r",
            "127.0.0.1:9",
            "/r",
        ))
        .await;
    s.admin.bind(&id, RELEASE, &[&api]).await;
    for (client, naming) in [(&roma, Naming::Roma), (&s.admin, Naming::Apig)] {
        let shown = client.get(&format!("/plugins/{id}")).await.json;
        assert_names(&content_of(&shown), naming, "show");
        let listed = client.get("/plugins").await.json;
        assert_names(&content_of(&listed["plugins"][0]), naming, "list");
        let attached = client
            .get(&format!("/apis/{api}/attached-plugins"))
            .await
            .json;
        assert_names(&content_of(&attached["plugins"][0]), naming, "attached");
    }
    let apig_content = content_of(&s.admin.get(&format!("/plugins/{id}")).await.json);
    assert_eq!(
        apig_content["carry_body"]["enabled"],
        content["carry_body"]["switch"]
    );
    assert_eq!(apig_content["rule_enabled"], content["rule_switch"]);

    // Read-modify-write on either family keeps the content; input in either family's names
    // is accepted on both.
    for (client, naming) in [(&roma, Naming::Roma), (&s.admin, Naming::Apig)] {
        let shown = client.get(&format!("/plugins/{id}")).await.json;
        let mut again = body.clone();
        again["plugin_content"] = shown["plugin_content"].clone();
        let r = client.put(&format!("/plugins/{id}"), &again).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["plugin_content"], shown["plugin_content"]);
        assert_names(&content_of(&r.json), naming, "update");
    }
    let on_apig = s
        .admin
        .post("/plugins", &{
            let mut b = body.clone();
            b["plugin_name"] = json!("third auth apig");
            b
        })
        .await;
    assert_eq!(on_apig.status, 201, "{}", on_apig.text);
    assert_names(
        &content_of(&on_apig.json),
        Naming::Apig,
        "ROMA names on /apigw/",
    );

    // A field under both names is refused, naming it.
    let mut both = sent.clone();
    both["rule_enabled"] = json!(true);
    let mut b = body.clone();
    b["plugin_name"] = json!("third auth twice");
    b["plugin_content"] = json!(both.to_string());
    let r = roma.post("/plugins", &b).await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"));
    assert!(
        r.msg().contains("parameterName:plugin_content.rule_switch"),
        "{}",
        r.msg()
    );
}

const RELEASE: &str = "DEFAULT_ENVIRONMENT_RELEASE_ID";

#[tokio::test]
async fn kafka_secrets_are_masked_in_every_response() {
    let s = TestServer::start().await;
    let content = json!({"broker_list": ["127.0.0.1:9092"], "topic": "t",
        "sasl_config": {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanisms": "PLAIN",
                        "sasl_username": "u", "sasl_password": "very-secret"}});
    let body = json!({"plugin_name": "kafka", "plugin_type": "kafka_log", "plugin_scope": "global",
                      "plugin_content": content.to_string()});
    let r = create(&s, &body).await;
    let id = r.json["plugin_id"].as_str().unwrap().to_string();
    let list = s.admin.get("/plugins").await;
    let shown = s.admin.get(&format!("/plugins/{id}")).await;
    for text in [&r.text, &list.text, &shown.text] {
        assert!(!text.contains("very-secret"));
        assert!(text.contains("******"));
    }
    // Sending the masked content back (read-modify-write) keeps the secret.
    let mut again = body.clone();
    again["plugin_content"] = shown.json["plugin_content"].clone();
    again["remark"] = json!("touched");
    assert_eq!(
        s.admin.put(&format!("/plugins/{id}"), &again).await.status,
        200
    );
    assert!(
        stored_content(&s, &id).await.contains("very-secret"),
        "the stored secret survives a masked update"
    );
}

/// A plug-in's content as stored, read through a second store on the server's database and key.
async fn stored_content(s: &TestServer, id: &str) -> String {
    let keys = apigw_store::Secrets::load_or_create(&s.dir.path().join("secrets.key")).unwrap();
    let store = apigw_store::SqliteStore::open(&s.dir.path().join("apigw.db"), keys)
        .await
        .unwrap();
    use apigw_store::Store;
    store
        .get_plugin(apigw_testkit::INSTANCE, id)
        .await
        .unwrap()
        .unwrap()
        .content
}
