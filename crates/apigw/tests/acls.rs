//! Access control policies end to end: the twelve calls with their fields and APIG codes, and
//! real traffic through the gateway to a real backend refused or let through by IP and by
//! account.

use apigw_testkit::{http_api, Backend, GatewayClient, Resp, TestServer, PROJECT, RELEASE, TOKEN};
use serde_json::{json, Value};

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
}

fn policy(name: &str, acl_type: &str, entity_type: &str, value: &str) -> Value {
    json!({"acl_name": name, "acl_type": acl_type, "entity_type": entity_type, "acl_value": value})
}

/// The id of an answer's `id` field.
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
async fn policy_calls_name_every_bad_field_and_answer_apig_codes() {
    let s = TestServer::start().await;
    let (group, _) = s.admin.create_group("acls").await;

    // Every bad field is named.
    let r = s
        .admin
        .post("/acls", &policy("1bad", "ALLOW", "HOST", "x"))
        .await;
    err(&r, 400, "APIG.2012");
    for field in ["acl_name", "acl_type", "entity_type"] {
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    for (entity, value) in [
        ("IP", "10.0.0.300"),
        ("IP", "10.0.0.9-10.0.0.1"),
        ("IP", "10.0.0.0/40"),
        ("IP", &vec!["10.0.0.1"; 101].join(",")),
        ("DOMAIN", "12345"),
        ("DOMAIN", &"a".repeat(65)),
        ("DOMAIN", &vec!["abcdefgh"; 120].join(",")),
        ("DOMAIN_ID", "a b"),
    ] {
        let r = s
            .admin
            .post("/acls", &policy("acl_x", "DENY", entity, value))
            .await;
        err(&r, 400, "APIG.2012");
        assert!(r.text.contains("acl_value"), "{value}: {}", r.text);
    }
    let r = s
        .admin
        .post("/acls", &json!({"acl_name": "acl_x", "acl_type": "DENY", "entity_type": "IP", "acl_value": "1.1.1.1", "extra": 1}))
        .await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("extra"), "{}", r.text);

    // Create, show, duplicate name, list with filters, modify.
    let r = s
        .admin
        .post(
            "/acls",
            &policy("acl_ip", "DENY", "IP", "192.168.1.5,10.0.0.0/8,::1"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for field in [
        "id",
        "acl_name",
        "acl_type",
        "acl_value",
        "entity_type",
        "update_time",
    ] {
        assert!(r.json.get(field).is_some(), "{field}: {}", r.text);
    }
    let ip_acl = id(&r);
    let r = s
        .admin
        .post("/acls", &policy("acl_ip", "PERMIT", "DOMAIN", "alice"))
        .await;
    err(&r, 400, "APIG.3206");
    let r = s
        .admin
        .post(
            "/acls",
            &policy("acl_account", "PERMIT", "DOMAIN", "alice,bob"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let account_acl = id(&r);
    let r = s
        .admin
        .post("/acls", &policy("acl_ip_two", "PERMIT", "IP", "10.1.1.1"))
        .await;
    let ip_acl_two = id(&r);
    let r = s.admin.get("/acls?entity_type=IP&name=acl_ip").await;
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(2), json!(2)),
        "{}",
        r.text
    );
    let r = s.admin.get("/acls?name=acl_ip&precise_search=name").await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    assert_eq!(r.json["acls"][0]["bind_num"], json!(0), "{}", r.text);
    let r = s.admin.get("/acls?acl_type=PERMIT&limit=1&offset=1").await;
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(2), json!(1)),
        "{}",
        r.text
    );
    let r = s.admin.get(&format!("/acls/{ip_acl}")).await;
    assert_eq!(
        r.json["acl_value"],
        json!("192.168.1.5,10.0.0.0/8,::1"),
        "{}",
        r.text
    );
    err(&s.admin.get("/acls/nope").await, 404, "APIG.3006");
    let r = s
        .admin
        .put(
            &format!("/acls/{account_acl}"),
            &policy("acl_account", "DENY", "DOMAIN_ID", "p1,p2"),
        )
        .await;
    assert_eq!(
        (r.status, r.json["entity_type"].clone()),
        (200, json!("DOMAIN_ID")),
        "{}",
        r.text
    );
    err(
        &s.admin
            .put("/acls/nope", &policy("acl_nope", "DENY", "IP", "1.1.1.1"))
            .await,
        404,
        "APIG.3006",
    );

    // Bind to a publication; a second IP policy on the same API and environment is refused.
    let api = s
        .admin
        .create_api(http_api(
            "acl_api",
            &group,
            "GET",
            "/a",
            "127.0.0.1:9",
            "/a",
        ))
        .await;
    let publish = publish(&s, &api).await;
    let r = s
        .admin
        .post(
            "/acl-bindings",
            &json!({"acl_id": ip_acl, "publish_ids": [publish]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let binding = &r.json["acl_bindings"][0];
    for field in ["id", "api_id", "env_id", "acl_id", "create_time"] {
        assert!(binding.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(
        (binding["api_id"].clone(), binding["env_id"].clone()),
        (json!(api), json!(RELEASE))
    );
    let bind_id = binding["id"].as_str().unwrap().to_string();
    let r = s
        .admin
        .post(
            "/acl-bindings",
            &json!({"acl_id": ip_acl_two, "publish_ids": [publish]}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("publish_ids"), "{}", r.text);
    let r = s
        .admin
        .post(
            "/acl-bindings",
            &json!({"acl_id": account_acl, "publish_ids": [publish]}),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "an account policy beside the IP one: {}",
        r.text
    );
    err(
        &s.admin
            .post(
                "/acl-bindings",
                &json!({"acl_id": "nope", "publish_ids": [publish]}),
            )
            .await,
        404,
        "APIG.3006",
    );
    err(
        &s.admin
            .post(
                "/acl-bindings",
                &json!({"acl_id": ip_acl, "publish_ids": ["nope"]}),
            )
            .await,
        404,
        "APIG.3015",
    );
    let r = s
        .admin
        .post("/acl-bindings", &json!({"acl_id": ip_acl}))
        .await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("publish_ids"), "{}", r.text);

    // The three listings.
    let r = s
        .admin
        .get(&format!("/acl-bindings/binded-acls?api_id={api}"))
        .await;
    assert_eq!(r.json["total"], json!(2), "{}", r.text);
    let r = s
        .admin
        .get(&format!(
            "/acl-bindings/binded-acls?api_id={api}&acl_name=acl_ip"
        ))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let item = &r.json["acls"][0];
    for field in [
        "acl_id",
        "acl_name",
        "entity_type",
        "acl_type",
        "acl_value",
        "env_id",
        "env_name",
        "bind_id",
        "bind_time",
    ] {
        assert!(item.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(item["env_name"], json!("RELEASE"));
    err(
        &s.admin.get("/acl-bindings/binded-acls").await,
        400,
        "APIG.2012",
    );
    err(
        &s.admin.get("/acl-bindings/binded-acls?api_id=nope").await,
        404,
        "APIG.3002",
    );
    let r = s
        .admin
        .get(&format!("/acl-bindings/binded-apis?acl_id={ip_acl}"))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let item = &r.json["apis"][0];
    for field in [
        "api_id",
        "api_name",
        "api_type",
        "api_remark",
        "env_id",
        "env_name",
        "bind_id",
        "group_name",
        "bind_time",
        "publish_id",
        "req_method",
    ] {
        assert!(item.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(item["publish_id"], json!(publish));
    let r = s
        .admin
        .get(&format!("/acl-bindings/unbinded-apis?acl_id={ip_acl_two}"))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let item = &r.json["apis"][0];
    for field in [
        "id",
        "name",
        "group_id",
        "group_name",
        "type",
        "remark",
        "run_env_name",
        "run_env_id",
        "publish_id",
        "acl_name",
        "req_uri",
        "auth_type",
        "req_method",
    ] {
        assert!(item.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(
        item["acl_name"],
        json!("acl_ip"),
        "the IP policy it already has"
    );
    let r = s
        .admin
        .get(&format!("/acl-bindings/unbinded-apis?acl_id={ip_acl}"))
        .await;
    assert_eq!(r.json["total"], json!(0), "{}", r.text);
    err(
        &s.admin.get("/acl-bindings/binded-apis?acl_id=nope").await,
        404,
        "APIG.3006",
    );
    let r = s.admin.get("/acls?name=acl_ip&precise_search=name").await;
    assert_eq!(r.json["acls"][0]["bind_num"], json!(1), "{}", r.text);

    // A bound policy cannot be deleted, alone or in a batch.
    err(
        &s.admin.delete(&format!("/acls/{ip_acl}")).await,
        403,
        "APIG.3447",
    );
    let r = s
        .admin
        .put(
            "/acls?action=delete",
            &json!({"acls": [ip_acl, ip_acl_two, "nope"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["success_count"], json!(1), "{}", r.text);
    let failures = r.json["failure"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{}", r.text);
    assert_eq!(
        (
            failures[0]["acl_id"].clone(),
            failures[0]["acl_name"].clone(),
            failures[0]["error_code"].clone()
        ),
        (json!(ip_acl), json!("acl_ip"), json!("APIG.3447"))
    );
    assert_eq!(failures[1]["error_code"], json!("APIG.3006"));
    err(
        &s.admin
            .put("/acls?action=remove", &json!({"acls": []}))
            .await,
        400,
        "APIG.2012",
    );
    err(
        &s.admin.put("/acls", &json!({"acls": []})).await,
        400,
        "APIG.2012",
    );

    // Unbinding: one, then a batch with an unknown record.
    let r = s.admin.delete(&format!("/acl-bindings/{bind_id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    err(
        &s.admin.delete(&format!("/acl-bindings/{bind_id}")).await,
        404,
        "APIG.3010",
    );
    let account_bind = s
        .admin
        .get(&format!("/acl-bindings/binded-acls?api_id={api}"))
        .await
        .json["acls"][0]["bind_id"]
        .clone();
    let r = s
        .admin
        .put(
            "/acl-bindings?action=delete",
            &json!({"acl_bindings": [account_bind, "nope"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["success_count"].clone()),
        (200, json!(1)),
        "{}",
        r.text
    );
    assert_eq!(
        (
            r.json["failure"][0]["bind_id"].clone(),
            r.json["failure"][0]["error_code"].clone()
        ),
        (json!("nope"), json!("APIG.3010"))
    );
    err(
        &s.admin
            .put("/acl-bindings", &json!({"acl_bindings": []}))
            .await,
        400,
        "APIG.2012",
    );
    let r = s.admin.delete(&format!("/acls/{ip_acl}")).await;
    assert_eq!(r.status, 204, "unbound, it goes: {}", r.text);

    // Taking the API offline removes its bindings in that environment.
    s.admin
        .post(
            "/acl-bindings",
            &json!({"acl_id": account_acl, "publish_ids": [publish]}),
        )
        .await;
    s.admin.publish(&api, RELEASE, false).await;
    let r = s
        .admin
        .get(&format!("/acl-bindings/binded-acls?api_id={api}"))
        .await;
    assert_eq!(r.json["total"], json!(0), "{}", r.text);

    // The ROMA family serves them too.
    let roma = s.admin.with_family(apigw_testkit::Family::Apic);
    assert_eq!(roma.get(&format!("/acls/{account_acl}")).await.status, 200);
}

/// Creates a policy; its id.
async fn create(s: &TestServer, name: &str, acl_type: &str, entity: &str, value: &str) -> String {
    let r = s
        .admin
        .post("/acls", &policy(name, acl_type, entity, value))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    id(&r)
}

/// Binds a policy to a publication; the binding's id.
async fn bind(s: &TestServer, acl_id: &str, publish_id: &str) -> String {
    let r = s
        .admin
        .post(
            "/acl-bindings",
            &json!({"acl_id": acl_id, "publish_ids": [publish_id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["acl_bindings"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A new group `group` with one API on `GET /p` (auth `auth_type`) proxied to a new backend, published.
async fn published(s: &TestServer, group: &str, auth_type: &str) -> (String, String, Backend) {
    let backend = Backend::start().await;
    let (group, host) = s.admin.create_group(group).await;
    let mut api = http_api(
        "acl_traffic",
        &group,
        "GET",
        "/p",
        &backend.addr.to_string(),
        "/p",
    );
    api["auth_type"] = json!(auth_type);
    let api_id = s.admin.create_api(api).await;
    (host, publish(s, &api_id).await, backend)
}

async fn call(gw: &GatewayClient, host: &str, extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![("host", host)];
    headers.extend_from_slice(extra);
    gw.call("GET", "/p", &headers, b"").await
}

#[tokio::test]
async fn ip_policies_refuse_or_let_through_real_calls_at_once() {
    let s = TestServer::start().await;
    let (host, publish_id, backend) = published(&s, "traffic", "NONE").await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    assert_eq!(call(&gw, &host, &[]).await.status, 200);

    // DENY 127.0.0.1: refused before the backend.
    let deny = create(&s, "deny_local", "DENY", "IP", "192.168.0.1,127.0.0.1").await;
    let bound = bind(&s, &deny, &publish_id).await;
    let r = call(&gw, &host, &[]).await;
    err(&r, 403, "APIG.0402");
    assert!(r.json["request_id"].is_string(), "{}", r.text);
    assert_eq!(
        backend.calls(),
        1,
        "the refused call never reached the backend"
    );
    // Unbound: let through at once.
    assert_eq!(
        s.admin
            .delete(&format!("/acl-bindings/{bound}"))
            .await
            .status,
        204
    );
    assert_eq!(call(&gw, &host, &[]).await.status, 200);
    assert_eq!(backend.calls(), 2);

    // PERMIT another range: refused; modified to 127.0.0.0/8: let through.
    let permit = create(
        &s,
        "permit_range",
        "PERMIT",
        "IP",
        "10.0.0.0-10.255.255.255",
    )
    .await;
    bind(&s, &permit, &publish_id).await;
    err(&call(&gw, &host, &[]).await, 403, "APIG.0402");
    let r = s
        .admin
        .put(
            &format!("/acls/{permit}"),
            &policy("permit_range", "PERMIT", "IP", "::1,127.0.0.0/8"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(call(&gw, &host, &[]).await.status, 200);
    // An untrusted X-Forwarded-For changes nothing.
    assert_eq!(
        call(&gw, &host, &[("x-forwarded-for", "10.9.9.9")])
            .await
            .status,
        200
    );
    assert_eq!(backend.calls(), 4);

    let metrics = s.admin.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("decision=\"access_denied\"") && l.ends_with(" 2")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_denied_address_gets_no_cors_preflight_grant() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let (group, host) = s.admin.create_group("preflight").await;
    let api_id = s
        .admin
        .create_api(http_api(
            "acl_cors",
            &group,
            "GET",
            "/p",
            &backend.addr.to_string(),
            "/p",
        ))
        .await;
    let publish_id = publish(&s, &api_id).await;
    let cors = s
        .admin
        .create_plugin(
            "cors_acl",
            "cors",
            json!({"allow_origin": "*", "allow_methods": "GET"}),
        )
        .await;
    s.admin.bind(&cors, RELEASE, &[&api_id]).await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    let preflight = [
        ("host", host.as_str()),
        ("origin", "https://app.example"),
        ("access-control-request-method", "GET"),
    ];
    let r = gw.call("OPTIONS", "/p", &preflight, b"").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.headers.get("access-control-allow-methods").is_some());
    assert_eq!(
        r.headers
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"*"[..])
    );

    // The IP check comes before the preflight is answered: a denied address is refused.
    let deny = create(&s, "deny_preflight", "DENY", "IP", "127.0.0.1").await;
    bind(&s, &deny, &publish_id).await;
    let r = gw.call("OPTIONS", "/p", &preflight, b"").await;
    err(&r, 403, "APIG.0402");
    // (A browser fails a preflight answered with anything but 2xx; no methods are granted.)
    assert!(
        r.headers.get("access-control-allow-methods").is_none(),
        "{:?}",
        r.headers
    );
    assert_eq!(backend.calls(), 0);
}

#[tokio::test]
async fn a_trusted_forwarded_for_is_the_address_checked() {
    let s = TestServer::start_with(|a| a.trust_forwarded_for = true).await;
    let (host, publish_id, backend) = published(&s, "traffic", "NONE").await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    let deny = create(
        &s,
        "deny_forwarded",
        "DENY",
        "IP",
        "10.9.9.0/24,2001:db8::/32",
    )
    .await;
    bind(&s, &deny, &publish_id).await;
    err(
        &call(&gw, &host, &[("x-forwarded-for", "10.9.9.9, 127.0.0.1")]).await,
        403,
        "APIG.0402",
    );
    err(
        &call(&gw, &host, &[("x-forwarded-for", "2001:db8::5")]).await,
        403,
        "APIG.0402",
    );
    assert_eq!(
        call(&gw, &host, &[("x-forwarded-for", "10.9.8.1")])
            .await
            .status,
        200
    );
    assert_eq!(call(&gw, &host, &[]).await.status, 200);
    assert_eq!(backend.calls(), 2);
}

#[tokio::test]
async fn account_policies_apply_to_iam_callers_after_authentication() {
    let s = TestServer::start().await;
    let (host, publish_id, backend) = published(&s, "traffic", "IAM").await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    let token = [("x-auth-token", TOKEN)];

    // PERMIT another account: the gateway's IAM caller (its project) is refused.
    let account = create(&s, "permit_other", "PERMIT", "DOMAIN_ID", "someoneelse").await;
    bind(&s, &account, &publish_id).await;
    err(&call(&gw, &host, &token).await, 403, "APIG.0302");
    // Authentication comes first.
    err(
        &call(&gw, &host, &[("x-auth-token", "wrong")]).await,
        401,
        "APIG.0301",
    );
    assert_eq!(backend.calls(), 0);
    let r = s
        .admin
        .put(
            &format!("/acls/{account}"),
            &policy(
                "permit_other",
                "PERMIT",
                "DOMAIN_ID",
                &format!("someoneelse,{PROJECT}"),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(call(&gw, &host, &token).await.status, 200);
    // DENY by account name.
    let r = s
        .admin
        .put(
            &format!("/acls/{account}"),
            &policy("permit_other", "DENY", "DOMAIN", PROJECT),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    err(&call(&gw, &host, &token).await, 403, "APIG.0302");

    // IP and account must both pass.
    let r = s
        .admin
        .put(
            &format!("/acls/{account}"),
            &policy("permit_other", "PERMIT", "DOMAIN", PROJECT),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ip = create(&s, "deny_local", "DENY", "IP", "127.0.0.1").await;
    bind(&s, &ip, &publish_id).await;
    err(&call(&gw, &host, &token).await, 403, "APIG.0402");
    assert_eq!(backend.calls(), 1);

    // On an API without IAM there is no account to check.
    let (none_host, none_publish, none_backend) = published(&s, "without_iam", "NONE").await;
    bind(&s, &account, &none_publish).await;
    let r = s
        .admin
        .put(
            &format!("/acls/{account}"),
            &policy("permit_other", "PERMIT", "DOMAIN", "nobody"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(call(&gw, &none_host, &[]).await.status, 200);
    assert_eq!(none_backend.calls(), 1);
}
