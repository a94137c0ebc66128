//! Signature keys end to end: the nine calls with their fields and APIG codes, and real calls
//! through the gateway reaching a real backend with the key's signature (`basic`: the
//! credentials a backend decodes; `hmac`: the headers a backend verifies — the verification
//! itself, with Huawei's own signer, is in `tests/sdk/test_sdk_signs.py`).

use apigw_testkit::{http_api, Backend, GatewayClient, Resp, TestServer, RELEASE};
use base64::Engine;
use serde_json::{json, Value};

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
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

async fn create(s: &TestServer, body: Value) -> String {
    let r = s.admin.post("/signs", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    id(&r)
}

async fn bind(s: &TestServer, sign_id: &str, publish_id: &str) -> Resp {
    s.admin
        .post(
            "/sign-bindings",
            &json!({"sign_id": sign_id, "publish_ids": [publish_id]}),
        )
        .await
}

#[tokio::test]
async fn key_calls_name_every_bad_field_and_answer_apig_codes() {
    let s = TestServer::start().await;

    // Every bad field is named, all at once.
    let r = s
        .admin
        .post(
            "/signs",
            &json!({"name": "1bad", "sign_type": "rsa", "sign_algorithm": "des", "extra": 1}),
        )
        .await;
    err(&r, 400, "APIG.2012");
    for field in ["name", "sign_type", "sign_algorithm", "extra"] {
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    for (body, field) in [
        (json!({"name": "k_x", "sign_key": "short"}), "sign_key"),
        (
            json!({"name": "k_x", "sign_secret": "short"}),
            "sign_secret",
        ),
        (
            json!({"name": "k_x", "sign_type": "basic", "sign_key": "1user"}),
            "sign_key",
        ),
        (json!({"name": "k_x", "sign_type": "aes"}), "sign_algorithm"),
        (
            json!({"name": "k_x", "sign_type": "aes", "sign_algorithm": "aes-256-cfb", "sign_key": "0123456789abcdef"}),
            "sign_key",
        ),
        (
            json!({"name": "k_x", "sign_type": "hmac", "sign_algorithm": "aes-128-cfb"}),
            "sign_algorithm",
        ),
        (json!({"name": "k_x", "sign_type": 1}), "sign_type"),
        (json!({"sign_type": "hmac"}), "name"),
    ] {
        let r = s.admin.post("/signs", &body).await;
        err(&r, 400, "APIG.2012");
        assert!(r.text.contains(field), "{body}: {}", r.text);
    }
    let raw = format!("{}/signs", s.admin.base_path());
    err(&s.admin.call("POST", &raw, b"{").await, 400, "APIG.2000");

    // Created with a generated key and secret (hmac by default); the answer's fields.
    let r = s.admin.post("/signs", &json!({"name": "sign_gen"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for field in [
        "id",
        "name",
        "sign_type",
        "sign_key",
        "sign_secret",
        "create_time",
        "update_time",
    ] {
        assert!(r.json.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(r.json["sign_type"], json!("hmac"));
    assert_eq!(r.json["sign_key"].as_str().unwrap().len(), 32);
    let generated = id(&r);
    let key = r.json["sign_key"].clone();
    err(
        &s.admin.post("/signs", &json!({"name": "sign_gen"})).await,
        400,
        "APIG.3207",
    );
    let aes = create(
        &s,
        json!({"name": "sign_aes", "sign_type": "aes", "sign_algorithm": "aes-256-cfb",
               "sign_key": "0123456789abcdef0123456789abcdef", "sign_secret": "fedcba9876543210"}),
    )
    .await;
    create(
        &s,
        json!({"name": "sign_basic", "sign_type": "basic", "sign_key": "user", "sign_secret": "password1"}),
    )
    .await;

    // Listing: filters, pages, exact names.
    let r = s.admin.get("/signs?name=sign_").await;
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(3), json!(3)),
        "{}",
        r.text
    );
    assert_eq!(r.json["signs"][0]["bind_num"], json!(0), "{}", r.text);
    let r = s.admin.get("/signs?name=sign&precise_search=name").await;
    assert_eq!(r.json["total"], json!(0), "{}", r.text);
    let r = s.admin.get(&format!("/signs?id={aes}")).await;
    assert_eq!(
        r.json["signs"][0]["sign_algorithm"],
        json!("aes-256-cfb"),
        "{}",
        r.text
    );
    let r = s.admin.get("/signs?limit=1&offset=2").await;
    assert_eq!(
        (r.json["total"].clone(), r.json["size"].clone()),
        (json!(3), json!(1)),
        "{}",
        r.text
    );
    err(&s.admin.get("/signs?limit=many").await, 400, "APIG.2012");

    // Modifying: a new name keeps the key and secret; a new type gets new ones.
    let r = s
        .admin
        .put(
            &format!("/signs/{generated}"),
            &json!({"name": "sign_renamed"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["sign_key"].clone()),
        (200, key.clone()),
        "{}",
        r.text
    );
    let r = s
        .admin
        .put(
            &format!("/signs/{generated}"),
            &json!({"name": "sign_renamed", "sign_type": "basic"}),
        )
        .await;
    assert_eq!(r.json["sign_type"], json!("basic"), "{}", r.text);
    assert_ne!(r.json["sign_key"], key, "{}", r.text);
    err(
        &s.admin
            .put(&format!("/signs/{generated}"), &json!({"name": "sign_aes"}))
            .await,
        400,
        "APIG.3207",
    );
    err(
        &s.admin
            .put(&format!("/signs/{generated}"), &json!({"name": "x"}))
            .await,
        400,
        "APIG.2012",
    );
    err(
        &s.admin
            .put("/signs/nope", &json!({"name": "sign_nope"}))
            .await,
        404,
        "APIG.3017",
    );
    err(&s.admin.delete("/signs/nope").await, 404, "APIG.3017");

    // Binding: one key per API and environment.
    let (group, _) = s.admin.create_group("signs").await;
    let api = s
        .admin
        .create_api(http_api(
            "sign_api",
            &group,
            "GET",
            "/s",
            "127.0.0.1:9",
            "/s",
        ))
        .await;
    let publish_id = publish(&s, &api).await;
    let r = bind(&s, &aes, &publish_id).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = &r.json["bindings"][0];
    for field in [
        "id",
        "api_id",
        "api_name",
        "api_type",
        "group_name",
        "env_id",
        "env_name",
        "publish_id",
        "binding_time",
        "sign_id",
        "sign_name",
        "req_method",
    ] {
        assert!(b.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(
        (
            b["api_id"].clone(),
            b["env_id"].clone(),
            b["env_name"].clone()
        ),
        (json!(api), json!(RELEASE), json!("RELEASE"))
    );
    let binding = b["id"].as_str().unwrap().to_string();
    let again = bind(&s, &aes, &publish_id).await;
    assert_eq!(
        (again.status, again.json["bindings"][0]["id"].clone()),
        (201, json!(binding)),
        "binding again keeps the binding: {}",
        again.text
    );
    let r = bind(&s, &generated, &publish_id).await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("publish_ids"), "{}", r.text);
    err(&bind(&s, "nope", &publish_id).await, 404, "APIG.3017");
    err(&bind(&s, &aes, "nope").await, 404, "APIG.3015");
    let r = s
        .admin
        .post("/sign-bindings", &json!({"sign_id": aes}))
        .await;
    err(&r, 400, "APIG.2012");
    assert!(r.text.contains("publish_ids"), "{}", r.text);

    // The three listings.
    let r = s
        .admin
        .get(&format!("/sign-bindings/binded-signs?api_id={api}"))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let item = &r.json["bindings"][0];
    for field in [
        "sign_id",
        "sign_name",
        "sign_type",
        "sign_key",
        "sign_secret",
        "env_id",
        "env_name",
        "id",
        "binding_time",
    ] {
        assert!(item.get(field).is_some(), "{field}: {}", r.text);
    }
    let r = s
        .admin
        .get(&format!(
            "/sign-bindings/binded-signs?api_id={api}&sign_name=nothing"
        ))
        .await;
    assert_eq!(r.json["total"], json!(0), "{}", r.text);
    err(
        &s.admin.get("/sign-bindings/binded-signs").await,
        400,
        "APIG.2012",
    );
    err(
        &s.admin.get("/sign-bindings/binded-signs?api_id=nope").await,
        404,
        "APIG.3002",
    );
    let r = s
        .admin
        .get(&format!("/sign-bindings/binded-apis?sign_id={aes}"))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let item = &r.json["bindings"][0];
    assert_eq!(item["publish_id"], json!(publish_id), "{}", r.text);
    assert!(
        item.get("sign_secret").is_none(),
        "this list shows no secret: {}",
        r.text
    );
    err(
        &s.admin.get("/sign-bindings/binded-apis?sign_id=nope").await,
        404,
        "APIG.3017",
    );
    let r = s
        .admin
        .get(&format!("/sign-bindings/unbinded-apis?sign_id={generated}"))
        .await;
    assert_eq!(r.json["total"], json!(1), "{}", r.text);
    let item = &r.json["apis"][0];
    for field in [
        "id",
        "name",
        "group_id",
        "group_name",
        "run_env_id",
        "run_env_name",
        "publish_id",
        "signature_name",
        "req_uri",
        "auth_type",
        "req_method",
    ] {
        assert!(item.get(field).is_some(), "{field}: {}", r.text);
    }
    assert_eq!(
        item["signature_name"],
        json!("sign_aes"),
        "the key it has: {}",
        r.text
    );
    let r = s
        .admin
        .get(&format!("/sign-bindings/unbinded-apis?sign_id={aes}"))
        .await;
    assert_eq!(r.json["total"], json!(0), "{}", r.text);
    let r = s
        .admin
        .get("/signs?name=sign_aes&precise_search=name")
        .await;
    assert_eq!(r.json["signs"][0]["bind_num"], json!(1), "{}", r.text);

    // Unbinding, then deleting a bound key: its bindings go with it.
    let r = s.admin.delete(&format!("/sign-bindings/{binding}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    err(
        &s.admin.delete(&format!("/sign-bindings/{binding}")).await,
        404,
        "APIG.3018",
    );
    assert_eq!(bind(&s, &generated, &publish_id).await.status, 201);
    let r = s.admin.delete(&format!("/signs/{generated}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s
        .admin
        .get(&format!("/sign-bindings/binded-signs?api_id={api}"))
        .await;
    assert_eq!(r.json["total"], json!(0), "{}", r.text);

    // The ROMA family serves them too.
    let roma = s.admin.with_family(apigw_testkit::Family::Apic);
    assert_eq!(roma.get("/signs").await.json["total"], json!(2));
}

/// A new group with one API on `GET /p` proxied to a new echo backend, published; the host,
/// the publication and the backend.
async fn published(s: &TestServer, group: &str) -> (String, String, Backend) {
    let backend = Backend::start().await;
    let (group, host) = s.admin.create_group(group).await;
    let api = http_api(
        "sign_traffic",
        &group,
        "GET",
        "/p",
        &backend.addr.to_string(),
        "/p",
    );
    let api_id = s.admin.create_api(api).await;
    (host, publish(s, &api_id).await, backend)
}

/// One header of the echo backend's answer.
fn seen(r: &Resp, name: &str) -> Option<String> {
    r.json["headers"][name][0].as_str().map(str::to_string)
}

#[tokio::test]
async fn basic_and_hmac_keys_sign_real_calls_to_the_backend_at_once() {
    let s = TestServer::start().await;
    let (host, publish_id, _backend) = published(&s, "signed").await;
    let gw = GatewayClient::new(s.running.gateway_addr);
    let call = |auth: Option<&'static str>| {
        let gw = &gw;
        let host = host.clone();
        async move {
            let mut headers = vec![("host", host.as_str())];
            if let Some(a) = auth {
                headers.push(("authorization", a));
            }
            gw.call("GET", "/p?b=2&a=1", &headers, b"").await
        }
    };
    let r = call(Some("Bearer client")).await;
    assert_eq!(
        seen(&r, "authorization").as_deref(),
        Some("Bearer client"),
        "unsigned, the client's header goes through: {}",
        r.text
    );

    // basic: the key and secret as credentials, replacing the client's header.
    let basic = create(
        &s,
        json!({"name": "basic_key", "sign_type": "basic", "sign_key": "gateway", "sign_secret": "s3cret-pass"}),
    )
    .await;
    let r = bind(&s, &basic, &publish_id).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let binding = r.json["bindings"][0]["id"].as_str().unwrap().to_string();
    let r = call(Some("Bearer client")).await;
    let header = seen(&r, "authorization").unwrap_or_default();
    let decoded = header
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    assert_eq!(
        decoded.as_deref(),
        Some(&b"gateway:s3cret-pass"[..]),
        "{}",
        r.text
    );
    assert_eq!(
        r.json["headers"]["authorization"].as_array().unwrap().len(),
        1
    );

    // A modified key signs the next call.
    let r = s
        .admin
        .put(
            &format!("/signs/{basic}"),
            &json!({"name": "basic_key", "sign_type": "basic", "sign_key": "other", "sign_secret": "new-pass-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let header = seen(&call(None).await, "authorization").unwrap_or_default();
    assert_eq!(
        header,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("other:new-pass-1")
        )
    );

    // hmac: SDK-HMAC-SHA256 over the backend's request, dated, with the key as Access.
    s.admin.delete(&format!("/sign-bindings/{binding}")).await;
    let hmac = create(
        &s,
        json!({"name": "hmac_key", "sign_type": "hmac", "sign_key": "gateway-key-1", "sign_secret": "gateway-secret-0001"}),
    )
    .await;
    assert_eq!(bind(&s, &hmac, &publish_id).await.status, 201);
    let r = call(Some("Bearer client")).await;
    let header = seen(&r, "authorization").unwrap_or_default();
    let date = seen(&r, "x-sdk-date").unwrap_or_default();
    assert!(
        header.starts_with("SDK-HMAC-SHA256 Access=gateway-key-1, SignedHeaders=")
            && header.contains(", Signature="),
        "{}",
        r.text
    );
    assert!(
        date.len() == 16 && date.ends_with('Z') && date.as_bytes()[8] == b'T',
        "{date}"
    );
    // Unbound: nothing is added.
    let bound = s
        .admin
        .get(&format!("/sign-bindings/binded-apis?sign_id={hmac}"))
        .await;
    let binding = bound.json["bindings"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.admin.delete(&format!("/sign-bindings/{binding}")).await;
    let r = call(None).await;
    assert_eq!(seen(&r, "authorization"), None, "{}", r.text);
    assert_eq!(seen(&r, "x-sdk-date"), None, "{}", r.text);
}
