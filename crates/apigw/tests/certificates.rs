//! Certificates and group domains end to end (SPEC §8): the ten certificate calls and the six
//! domain calls with their fields and APIG codes, certificates made with rcgen. The private
//! key, the certificate and the trusted root CA never come back in any answer.

use apigw_testkit::{Family, Pki, Resp, TestServer};
use serde_json::{json, Value};

fn err(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
}

/// `r` is an invalid parameter naming `field`.
fn invalid(r: &Resp, field: &str) {
    err(r, 400, "APIG.2012");
    assert!(
        r.text.contains(&format!("parameterName:{field}")) || r.text.contains(field),
        "{field}: {}",
        r.text
    );
}

fn certs_path(s: &TestServer) -> String {
    format!("/v2/{}/apigw/certificates", s.admin.project)
}

async fn call(s: &TestServer, method: &str, path: &str, body: &Value) -> Resp {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    s.admin.call(method, path, &bytes).await
}

/// No answer carries a PEM text, nor a field holding one.
fn no_pem(r: &Resp) {
    for secret in [
        "-----BEGIN",
        "-----END",
        "\"private_key\":",
        "\"cert_content\":",
        "\"trusted_root_ca\":",
    ] {
        assert!(!r.text.contains(secret), "{secret} in {}", r.text);
    }
}

async fn create_cert(s: &TestServer, body: Value) -> Value {
    let r = call(s, "POST", &certs_path(s), &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    no_pem(&r);
    r.json
}

#[tokio::test]
async fn certificate_calls_answer_the_x509_fields_and_never_the_key() {
    let s = TestServer::start().await;
    let pki = Pki::new();
    let (leaf, key) = pki.leaf(&["api.example.com", "*.san.example.com"], (-1, 10));
    let chain = format!("{leaf}{}", pki.inter_pem);
    let c = create_cert(
        &s,
        json!({"name": "cert_demo", "cert_content": chain, "private_key": key,
               "trusted_root_ca": pki.root_pem}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(c["type"], "global");
    assert_eq!(c["instance_id"], "common");
    assert_eq!(c["project_id"], s.admin.project.as_str());
    assert_eq!(c["common_name"], "api.example.com");
    assert_eq!(c["san"], json!(["api.example.com", "*.san.example.com"]));
    assert_eq!(c["issuer"], json!(["apigw intermediate org"]));
    assert_eq!(c["organization"], json!(["api.example.com org"]));
    assert_eq!(c["country"], json!(["DE"]));
    assert_eq!(c["version"], 3);
    assert_eq!(c["signature_algorithm"], "SHA256-ECDSA");
    assert_eq!(c["algorithm_type"], "ECC");
    assert_eq!(c["is_has_trusted_root_ca"], true);
    let serial = c["serial_number"].as_str().unwrap();
    assert!(
        !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()),
        "{serial}"
    );
    for t in ["not_before", "not_after", "create_time", "update_time"] {
        assert!(c[t].as_str().unwrap().ends_with('Z'), "{t}: {}", c[t]);
    }

    let r = call(&s, "GET", &format!("{}/{id}", certs_path(&s)), &Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
    no_pem(&r);
    assert_eq!(r.json, c);

    // The list: instance_id is mandatory; global certificates show for any instance.
    let r = call(&s, "GET", &certs_path(&s), &Value::Null).await;
    invalid(&r, "instance_id");
    let list = format!("{}?instance_id={}", certs_path(&s), s.admin.instance);
    let r = call(&s, "GET", &list, &Value::Null).await;
    assert_eq!(
        (r.status, r.json["total"].as_u64()),
        (200, Some(1)),
        "{}",
        r.text
    );
    no_pem(&r);
    assert_eq!(r.json["certs"][0]["id"], id.as_str());
    assert_eq!(r.json["certs"][0]["is_has_trusted_root_ca"], true);
    for (q, n) in [
        ("&name=demo", 1),
        ("&name=other", 0),
        ("&common_name=api.example", 1),
        ("&signature_algorithm=SHA256-RSA", 0),
        ("&type=instance", 0),
        ("&type=global", 1),
    ] {
        let r = call(&s, "GET", &format!("{list}{q}"), &Value::Null).await;
        assert_eq!(r.json["total"], n, "{q}: {}", r.text);
    }
    invalid(
        &call(&s, "GET", &format!("{list}&type=both"), &Value::Null).await,
        "type",
    );

    // An instance certificate names the instance served; any other is 404 APIG.3030.
    let (leaf2, key2) = pki.leaf(&["b.example.com"], (-1, 10));
    let body = json!({"name": "cert_inst", "cert_content": leaf2, "private_key": key2,
                      "type": "instance", "instance_id": "e".repeat(32)});
    err(
        &call(&s, "POST", &certs_path(&s), &body).await,
        404,
        "APIG.3030",
    );
    let mut body = body;
    body["instance_id"] = json!(s.admin.instance);
    let inst = create_cert(&s, body).await;
    assert_eq!(inst["type"], "instance");
    assert_eq!(inst["instance_id"], s.admin.instance.as_str());
    let r = call(
        &s,
        "GET",
        &format!("{}?instance_id=common", certs_path(&s)),
        &Value::Null,
    )
    .await;
    assert_eq!(r.json["total"], 1, "only the global one: {}", r.text);

    // Update is a full replace: without trusted_root_ca the certificate has none.
    let r = call(
        &s,
        "PUT",
        &format!("{}/{id}", certs_path(&s)),
        &json!({"name": "cert_renamed", "cert_content": leaf2, "private_key": key2}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    no_pem(&r);
    assert_eq!(r.json["name"], "cert_renamed");
    assert_eq!(r.json["common_name"], "b.example.com");
    assert_eq!(r.json["is_has_trusted_root_ca"], false);
    assert_eq!(r.json["create_time"], c["create_time"]);

    // Another project's credentials are refused; an unknown id is 404 APIG.3021.
    let foreign = format!("/v2/{}/apigw/certificates/{id}", "f".repeat(32));
    err(
        &call(&s, "GET", &foreign, &Value::Null).await,
        403,
        "APIG.1005",
    );
    let missing = format!("{}/{}", certs_path(&s), "0".repeat(32));
    err(
        &call(&s, "GET", &missing, &Value::Null).await,
        404,
        "APIG.3021",
    );
    err(
        &call(&s, "DELETE", &missing, &Value::Null).await,
        404,
        "APIG.3021",
    );
    let r = call(
        &s,
        "DELETE",
        &format!("{}/{id}", certs_path(&s)),
        &Value::Null,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(&s, "GET", &format!("{}/{id}", certs_path(&s)), &Value::Null).await;
    err(&r, 404, "APIG.3021");
    // The certificate calls have no ROMA form.
    let apic = format!("/v2/{}/apic/certificates", s.admin.project);
    assert_eq!(call(&s, "GET", &apic, &Value::Null).await.status, 404);
}

#[tokio::test]
async fn bad_certificates_are_refused_naming_the_field() {
    let s = TestServer::start().await;
    let pki = Pki::new();
    let (leaf, key) = pki.leaf(&["api.example.com"], (-1, 10));
    let (_, other_key) = pki.leaf(&["api.example.com"], (-1, 10));
    let (expired, expired_key) = pki.leaf(&["api.example.com"], (-10, -1));
    let ok = json!({"name": "cert_ok", "cert_content": leaf, "private_key": key});
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = v;
        }
        b
    };
    let cases = [
        (
            with("cert_content", json!("not a certificate")),
            "cert_content",
        ),
        (
            with(
                "cert_content",
                json!("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            ),
            "cert_content",
        ),
        (with("private_key", json!("not a key")), "private_key"),
        (with("private_key", json!(other_key)), "private_key"),
        (
            json!({"name": "cert_ok", "cert_content": expired, "private_key": expired_key}),
            "cert_content",
        ),
        // Out of order: the root does not issue the leaf (the intermediate does).
        (
            with("cert_content", json!(format!("{leaf}{}", pki.root_pem))),
            "cert_content",
        ),
        (
            with("cert_content", json!(format!("{}{leaf}", pki.inter_pem))),
            "cert_content",
        ),
        (
            with("trusted_root_ca", json!("no CA here")),
            "trusted_root_ca",
        ),
        (with("trusted_root_ca", json!(expired)), "trusted_root_ca"),
        (with("name", json!("abc")), "name"),
        (with("name", json!("1cert")), "name"),
        (with("name", json!("a".repeat(51))), "name"),
        (with("name", Value::Null), "name"),
        (with("cert_content", Value::Null), "cert_content"),
        (with("private_key", Value::Null), "private_key"),
        (with("private_key", json!(5)), "private_key"),
        (with("type", json!("local")), "type"),
        (with("type", json!("instance")), "instance_id"),
        (with("algorithm_type", json!("SM2")), "algorithm_type"),
        (with("cert_content_sign", json!("x")), "cert_content_sign"),
        (with("extra", json!(1)), "extra"),
    ];
    for (body, field) in cases {
        let r = call(&s, "POST", &certs_path(&s), &body).await;
        invalid(&r, field);
        no_pem(&r);
    }
    // The chain in order, with the intermediate, is taken.
    create_cert(
        &s,
        with("cert_content", json!(format!("{leaf}{}", pki.inter_pem))),
    )
    .await;
    // Update checks the same.
    let c = create_cert(&s, ok.clone()).await;
    let path = format!("{}/{}", certs_path(&s), c["id"].as_str().unwrap());
    invalid(
        &call(&s, "PUT", &path, &with("private_key", json!(other_key))).await,
        "private_key",
    );
    invalid(
        &call(&s, "PUT", &path, &with("private_key", Value::Null)).await,
        "private_key",
    );
    err(
        &s.admin.call("POST", &certs_path(&s), b"[]").await,
        400,
        "APIG.2000",
    );
}

fn domain_path(s: &TestServer, group: &str) -> String {
    format!("{}/api-groups/{group}/domains", s.admin.base_path())
}

#[tokio::test]
async fn domains_hold_one_certificate_within_apig_limits() {
    let s = TestServer::start().await;
    let pki = Pki::new();
    let (group, _) = s.admin.create_group("shop").await;
    let domains = domain_path(&s, &group);

    // Bind: defaults, name rules, uniqueness, the quota of five.
    let r = call(
        &s,
        "POST",
        &domains,
        &json!({"url_domain": "api.example.com"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["min_ssl_version"], "TLSv1.1");
    assert_eq!(r.json["is_http_redirect_to_https"], false);
    assert_eq!(r.json["verified_client_certificate_enabled"], false);
    assert_eq!(r.json["status"], 3);
    let d1 = r.json["id"].as_str().unwrap().to_string();
    for bad in ["localhost", "-x.example.com", "a..example.com", ""] {
        let r = call(&s, "POST", &domains, &json!({"url_domain": bad})).await;
        err(&r, 400, "APIG.2024");
    }
    invalid(&call(&s, "POST", &domains, &json!({})).await, "url_domain");
    invalid(
        &call(
            &s,
            "POST",
            &domains,
            &json!({"url_domain": "x.example.com", "min_ssl_version": "TLSv1.0"}),
        )
        .await,
        "min_ssl_version",
    );
    invalid(
        &call(
            &s,
            "POST",
            &domains,
            &json!({"url_domain": "x.example.com", "is_http_redirect_to_https": "yes"}),
        )
        .await,
        "is_http_redirect_to_https",
    );
    invalid(
        &call(
            &s,
            "POST",
            &domains,
            &json!({"url_domain": "x.example.com", "ingress_http_port": 8080}),
        )
        .await,
        "ingress_http_port",
    );
    invalid(
        &call(
            &s,
            "POST",
            &domains,
            &json!({"url_domain": "x.example.com", "verified_client_certificate_enabled": true}),
        )
        .await,
        "verified_client_certificate_enabled",
    );
    err(
        &call(
            &s,
            "POST",
            &domains,
            &json!({"url_domain": "api.example.com"}),
        )
        .await,
        400,
        "APIG.3305",
    );
    let other = s.admin.default_group().await;
    err(
        &call(
            &s,
            "POST",
            &domain_path(&s, &other),
            &json!({"url_domain": "api.example.com"}),
        )
        .await,
        400,
        "APIG.3305",
    );
    err(
        &call(
            &s,
            "POST",
            &domain_path(&s, &"0".repeat(32)),
            &json!({"url_domain": "z.example.com"}),
        )
        .await,
        404,
        "APIG.3001",
    );
    for i in 2..=5 {
        let body = json!({"url_domain": format!("d{i}.example.com"), "min_ssl_version": "TLSv1.2",
                          "is_http_redirect_to_https": true});
        // Through the ROMA alias too.
        let admin = if i == 5 {
            s.admin.with_family(Family::Apic)
        } else {
            s.admin.clone()
        };
        let r = admin
            .call(
                "POST",
                &format!("{}/api-groups/{group}/domains", admin.base_path()),
                body.to_string().as_bytes(),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["min_ssl_version"], "TLSv1.2");
        assert_eq!(r.json["is_http_redirect_to_https"], true);
    }
    err(
        &call(
            &s,
            "POST",
            &domains,
            &json!({"url_domain": "d6.example.com"}),
        )
        .await,
        403,
        "APIG.3108",
    );

    // Update: min_ssl_version mandatory; answered 201; the group must be the domain's.
    let d1_path = format!("{domains}/{d1}");
    invalid(
        &call(&s, "PUT", &d1_path, &json!({})).await,
        "min_ssl_version",
    );
    invalid(
        &call(
            &s,
            "PUT",
            &d1_path,
            &json!({"min_ssl_version": "TLSv1.2", "url_domain": "b.example.com"}),
        )
        .await,
        "url_domain",
    );
    let r = call(
        &s,
        "PUT",
        &d1_path,
        &json!({"min_ssl_version": "TLSv1.2", "is_http_redirect_to_https": true}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["min_ssl_version"], "TLSv1.2");
    assert_eq!(r.json["is_http_redirect_to_https"], true);
    invalid(
        &call(
            &s,
            "PUT",
            &d1_path,
            &json!({"min_ssl_version": "TLSv1.2", "verified_client_certificate_enabled": true}),
        )
        .await,
        "verified_client_certificate_enabled",
    );
    let wrong_group = format!("{}/{d1}", domain_path(&s, &other));
    err(
        &call(
            &s,
            "PUT",
            &wrong_group,
            &json!({"min_ssl_version": "TLSv1.2"}),
        )
        .await,
        400,
        "APIG.3474",
    );
    err(
        &call(&s, "DELETE", &wrong_group, &Value::Null).await,
        400,
        "APIG.3474",
    );
    let nope = format!("{domains}/{}", "0".repeat(32));
    err(
        &call(&s, "PUT", &nope, &json!({"min_ssl_version": "TLSv1.2"})).await,
        404,
        "APIG.3020",
    );
    err(
        &call(&s, "DELETE", &nope, &Value::Null).await,
        404,
        "APIG.3020",
    );

    // C9/C10: one certificate, covering the name; the CA turns client verification on.
    let (leaf, key) = pki.leaf(&["api.example.com", "*.example.com"], (-1, 10));
    let cert = create_cert(
        &s,
        json!({"name": "shop_cert", "cert_content": leaf, "private_key": key,
               "trusted_root_ca": pki.root_pem}),
    )
    .await;
    let cert_id = cert["id"].as_str().unwrap().to_string();
    let attach = format!("{d1_path}/certificates/attach");
    let detach = format!("{d1_path}/certificates/detach");
    invalid(
        &call(&s, "POST", &attach, &json!({})).await,
        "certificate_ids",
    );
    invalid(
        &call(
            &s,
            "POST",
            &attach,
            &json!({"certificate_ids": [cert_id, "0".repeat(32)]}),
        )
        .await,
        "certificate_ids",
    );
    err(
        &call(
            &s,
            "POST",
            &attach,
            &json!({"certificate_ids": ["0".repeat(32)]}),
        )
        .await,
        404,
        "APIG.3021",
    );
    let (elsewhere, elsewhere_key) = pki.leaf(&["other.test.org"], (-1, 10));
    let unrelated = create_cert(
        &s,
        json!({"name": "unrelated", "cert_content": elsewhere, "private_key": elsewhere_key}),
    )
    .await;
    let unrelated_id = unrelated["id"].as_str().unwrap().to_string();
    err(
        &call(
            &s,
            "POST",
            &attach,
            &json!({"certificate_ids": [unrelated_id]}),
        )
        .await,
        400,
        "APIG.2103",
    );
    let r = call(&s, "POST", &attach, &json!({"certificate_ids": [cert_id]})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s.admin.get(&format!("/api-groups/{group}")).await;
    no_pem(&r);
    let ud = r.json["url_domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == d1.as_str())
        .unwrap()
        .clone();
    assert_eq!(ud["domain"], "api.example.com");
    assert_eq!(ud["ssl_id"], cert_id.as_str());
    assert_eq!(ud["ssl_name"], "shop_cert");
    assert_eq!(ud["verified_client_certificate_enabled"], true);
    assert_eq!(ud["is_has_trusted_root_ca"], true);
    assert_eq!(ud["cname_status"], 3);
    assert_eq!(r.json["url_domains"].as_array().unwrap().len(), 5);
    let listed = s.admin.get(&format!("/api-groups?id={group}")).await;
    assert_eq!(
        listed.json["groups"][0]["url_domains"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // One certificate per domain; a bound certificate cannot be deleted.
    let again = json!({"certificate_ids": [cert_id], "verified_client_certificate_enabled": false});
    let r = call(&s, "POST", &attach, &again).await;
    assert_eq!(r.status, 204, "binding again is kept: {}", r.text);
    let (leaf3, key3) = pki.leaf(&["api.example.com"], (-1, 10));
    let second = create_cert(
        &s,
        json!({"name": "second", "cert_content": leaf3, "private_key": key3}),
    )
    .await;
    let second_id = second["id"].as_str().unwrap().to_string();
    err(
        &call(
            &s,
            "POST",
            &attach,
            &json!({"certificate_ids": [second_id]}),
        )
        .await,
        400,
        "APIG.2051",
    );
    let cert_path = format!("{}/{cert_id}", certs_path(&s));
    invalid(
        &call(&s, "DELETE", &cert_path, &Value::Null).await,
        "certificate_id",
    );

    // C8 lists the certificate's domains; D5 shows it on the domain.
    let r = call(
        &s,
        "GET",
        &format!("{cert_path}/attached-domains"),
        &Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 1);
    let b = &r.json["bound_domains"][0];
    assert_eq!(b["url_domain"], "api.example.com");
    assert_eq!(b["api_group_id"], group.as_str());
    assert_eq!(b["api_group_name"], "shop");
    assert_eq!(b["ssl_name"], "shop_cert");
    assert_eq!(b["instance_id"], s.admin.instance.as_str());
    let r = call(
        &s,
        "GET",
        &format!("{cert_path}/attached-domains?url_domain=zzz"),
        &Value::Null,
    )
    .await;
    assert_eq!(r.json["total"], 0);
    let on_domain = format!("{d1_path}/certificate/{cert_id}");
    let r = call(&s, "GET", &on_domain, &Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
    no_pem(&r);
    assert_eq!(r.json["common_name"], "api.example.com");
    assert!(r.json.get("is_has_trusted_root_ca").is_none());
    err(
        &call(
            &s,
            "GET",
            &format!("{d1_path}/certificate/{second_id}"),
            &Value::Null,
        )
        .await,
        404,
        "APIG.3097",
    );

    // Update of a bound certificate keeps covering its names.
    let r = call(
        &s,
        "PUT",
        &cert_path,
        &json!({"name": "shop_cert", "cert_content": elsewhere, "private_key": elsewhere_key}),
    )
    .await;
    err(&r, 400, "APIG.2103");

    // Detach (C10), twice; D6 on an unbound certificate.
    let r = call(&s, "POST", &detach, &json!({"certificate_ids": [cert_id]})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    err(
        &call(&s, "POST", &detach, &json!({"certificate_ids": [cert_id]})).await,
        404,
        "APIG.3097",
    );
    err(
        &call(&s, "DELETE", &on_domain, &Value::Null).await,
        404,
        "APIG.3097",
    );

    // D4 adds a certificate straight onto the domain; D6 unbinds it (it stays).
    let add = format!("{d1_path}/certificate");
    invalid(
        &call(
            &s,
            "POST",
            &add,
            &json!({"name": "x", "cert_content": leaf3, "private_key": key3}),
        )
        .await,
        "name",
    );
    invalid(
        &call(
            &s,
            "POST",
            &add,
            &json!({"name": "added", "cert_content": leaf3, "private_key": key}),
        )
        .await,
        "private_key",
    );
    invalid(
        &call(&s, "POST", &add, &json!({"name": "added", "cert_content": leaf3, "private_key": key3, "trusted_root_ca": pki.root_pem})).await,
        "trusted_root_ca",
    );
    let r = call(
        &s,
        "POST",
        &add,
        &json!({"name": "added", "cert_content": leaf3, "private_key": key3}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    no_pem(&r);
    assert_eq!(r.json["ssl_name"], "added");
    assert_eq!(r.json["api_group_id"], group.as_str());
    assert_eq!(r.json["verified_client_certificate_enabled"], false);
    let added = r.json["ssl_id"].as_str().unwrap().to_string();
    err(
        &call(
            &s,
            "POST",
            &add,
            &json!({"name": "again", "cert_content": leaf3, "private_key": key3}),
        )
        .await,
        400,
        "APIG.2051",
    );
    let r = call(
        &s,
        "DELETE",
        &format!("{d1_path}/certificate/{added}"),
        &Value::Null,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(
        &s,
        "GET",
        &format!("{}/{added}", certs_path(&s)),
        &Value::Null,
    )
    .await;
    assert_eq!((r.status, r.json["type"].as_str()), (200, Some("instance")));

    // C6/C7 bind by name; verification asked of a certificate without a CA is refused.
    let by_name = format!("{cert_path}/domains/attach");
    let r = call(&s, "POST", &by_name, &json!({"domains": [{"domain": "d2.example.com"}, {"domain": "API.example.com", "instance_ids": [s.admin.instance]}]})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(
        &s,
        "GET",
        &format!("{cert_path}/attached-domains"),
        &Value::Null,
    )
    .await;
    assert_eq!(r.json["total"], 2, "{}", r.text);
    err(
        &call(
            &s,
            "POST",
            &by_name,
            &json!({"domains": [{"domain": "nope.example.com"}]}),
        )
        .await,
        404,
        "APIG.3020",
    );
    invalid(
        &call(&s, "POST", &by_name, &json!({"domains": []})).await,
        "domains",
    );
    invalid(
        &call(&s, "POST", &by_name, &json!({"domains": [{"name": "x"}]})).await,
        "domains[0].domain",
    );
    let second_by_name = format!("{}/{second_id}/domains/attach", certs_path(&s));
    invalid(
        &call(&s, "POST", &second_by_name, &json!({"domains": [{"domain": "api.example.com", "verified_client_certificate_enabled": true}]})).await,
        "domains[0].verified_client_certificate_enabled",
    );
    let r = call(
        &s,
        "POST",
        &format!("{cert_path}/domains/detach"),
        &json!({"domains": [{"domain": "d2.example.com"}, {"domain": "api.example.com"}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    err(
        &call(
            &s,
            "POST",
            &format!("{cert_path}/domains/detach"),
            &json!({"domains": [{"domain": "d2.example.com"}]}),
        )
        .await,
        404,
        "APIG.3097",
    );

    // D3 unbinds a domain; deleting the group takes its domains, freeing their certificates.
    let r = call(&s, "DELETE", &d1_path, &Value::Null).await;
    assert_eq!(r.status, 204, "{}", r.text);
    err(
        &call(&s, "DELETE", &d1_path, &Value::Null).await,
        404,
        "APIG.3020",
    );
    let r = call(
        &s,
        "POST",
        &attach.replace(&d1, "0"),
        &json!({"certificate_ids": [cert_id]}),
    )
    .await;
    err(&r, 404, "APIG.3020");
    let d2 = s.admin.get(&format!("/api-groups/{group}")).await.json["url_domains"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &s,
        "POST",
        &format!("{domains}/{d2}/certificates/attach"),
        &json!({"certificate_ids": [cert_id]}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    invalid(
        &call(&s, "DELETE", &cert_path, &Value::Null).await,
        "certificate_id",
    );
    let r = s.admin.delete(&format!("/api-groups/{group}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(
        &s,
        "GET",
        &format!("{cert_path}/attached-domains"),
        &Value::Null,
    )
    .await;
    assert_eq!(r.json["total"], 0, "{}", r.text);
    let r = call(&s, "DELETE", &cert_path, &Value::Null).await;
    assert_eq!(r.status, 204, "{}", r.text);
    // The name is free again in another group.
    let r = call(
        &s,
        "POST",
        &domain_path(&s, &other),
        &json!({"url_domain": "api.example.com"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}
