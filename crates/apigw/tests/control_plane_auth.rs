//! Authentication of the control plane (SPEC §3): tokens, SDK-HMAC-SHA256 signatures, the
//! project and instance checks, and their APIG error codes.

use apigw_testkit::{Auth, Family, TestServer, AK, INSTANCE, PROJECT, SK, TOKEN};

#[tokio::test]
async fn a_signed_request_and_a_token_are_both_accepted() {
    let s = TestServer::start().await;
    assert_eq!(s.admin.get("/plugins").await.status, 200);
    assert_eq!(
        s.admin
            .with_auth(Auth::Token(TOKEN.into()))
            .get("/plugins")
            .await
            .status,
        200
    );
    assert_eq!(
        s.admin
            .with_family(Family::Apic)
            .get("/plugins")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn missing_credentials_are_401_apig_1000() {
    let s = TestServer::start().await;
    let r = s.admin.with_auth(Auth::None).get("/plugins").await;
    assert_eq!((r.status, r.code()), (401, "APIG.1000"));
    assert!(r.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn a_wrong_token_is_401_apig_1002() {
    let s = TestServer::start().await;
    let r = s
        .admin
        .with_auth(Auth::Token("nope".into()))
        .get("/plugins")
        .await;
    assert_eq!((r.status, r.code()), (401, "APIG.1002"));
}

#[tokio::test]
async fn a_signature_with_the_wrong_secret_or_key_is_401_apig_1002() {
    let s = TestServer::start().await;
    for auth in [
        Auth::Sign {
            ak: AK.into(),
            sk: "wrong".into(),
            seconds_off: 0,
        },
        Auth::Sign {
            ak: "UNKNOWN".into(),
            sk: SK.into(),
            seconds_off: 0,
        },
    ] {
        let r = s.admin.with_auth(auth).get("/plugins").await;
        assert_eq!((r.status, r.code()), (401, "APIG.1002"));
    }
}

#[tokio::test]
async fn signatures_older_or_newer_than_15_minutes_are_rejected() {
    let s = TestServer::start().await;
    for off in [-16 * 60, 16 * 60] {
        let r = s
            .admin
            .with_auth(Auth::Sign {
                ak: AK.into(),
                sk: SK.into(),
                seconds_off: off,
            })
            .get("/plugins")
            .await;
        assert_eq!((r.status, r.code()), (401, "APIG.1002"), "{off}");
    }
    let r = s
        .admin
        .with_auth(Auth::Sign {
            ak: AK.into(),
            sk: SK.into(),
            seconds_off: -14 * 60,
        })
        .get("/plugins")
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_signature_over_another_body_or_query_is_rejected() {
    let s = TestServer::start().await;
    // Sign one request, send another with the same headers.
    let path = format!("{}/plugins?limit=1", s.admin.base_path());
    let signed = s.admin.call("GET", &path, b"").await;
    assert_eq!(signed.status, 200);
    let http = reqwest::Client::new();
    let date = "20991231T000000Z";
    let parts = apigw_model::sign::RequestParts {
        method: "GET",
        path: &path[..path.find('?').unwrap()],
        query: Some("limit=1"),
        body: b"",
    };
    let host = s.running.admin_addr.to_string();
    let authz = apigw_model::sign::sign_request(
        AK,
        SK,
        &parts,
        &[("host", host.as_str()), ("x-sdk-date", date)],
    );
    // Far-future date: rejected for skew even though the signature matches.
    let r = http
        .get(format!("{}{path}", s.admin.base))
        .header("x-sdk-date", date)
        .header("authorization", &authz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Tampered query with a fresh, valid date.
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let authz = apigw_model::sign::sign_request(
        AK,
        SK,
        &parts,
        &[("host", host.as_str()), ("x-sdk-date", date.as_str())],
    );
    let ok = http
        .get(format!("{}{path}", s.admin.base))
        .header("x-sdk-date", &date)
        .header("authorization", &authz)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let tampered = http
        .get(format!(
            "{}{}",
            s.admin.base,
            path.replace("limit=1", "limit=2")
        ))
        .header("x-sdk-date", &date)
        .header("authorization", &authz)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
    let body: serde_json::Value = tampered.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.1002");
}

#[tokio::test]
async fn a_malformed_authorization_header_is_401_apig_1002() {
    let s = TestServer::start().await;
    let http = reqwest::Client::new();
    for authz in [
        "Basic abc",
        "SDK-HMAC-SHA256 nonsense",
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=zz",
    ] {
        let r = http
            .get(format!("{}{}/plugins", s.admin.base, s.admin.base_path()))
            .header("authorization", authz)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{authz}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error_code"], "APIG.1002");
    }
}

#[tokio::test]
async fn another_projects_path_is_403_apig_1005() {
    let s = TestServer::start().await;
    let mut other = s.admin.clone();
    other.project = "ffffffffffffffffffffffffffffffff".into();
    let r = other.get("/plugins").await;
    assert_eq!((r.status, r.code()), (403, "APIG.1005"));
    // The SDK without a project id sends the literal template.
    other.project = "%7Bproject_id%7D".into();
    let r = other.get("/plugins").await;
    assert_eq!((r.status, r.code()), (403, "APIG.1005"));
}

#[tokio::test]
async fn an_unknown_instance_is_404_apig_3030() {
    let s = TestServer::start().await;
    let mut other = s.admin.clone();
    other.instance = "00000000000000000000000000000000".into();
    let r = other.get("/plugins").await;
    assert_eq!((r.status, r.code()), (404, "APIG.3030"));
    assert_eq!(
        r.msg(),
        "The instance does not exist;id:00000000000000000000000000000000"
    );
    assert_eq!(s.admin.instance, INSTANCE);
    assert_eq!(s.admin.project, PROJECT);
}

#[tokio::test]
async fn unknown_routes_need_credentials_first() {
    let s = TestServer::start().await;
    let r = s.admin.with_auth(Auth::None).get("/nothing-here").await;
    assert_eq!(r.status, 401);
    let r = s.admin.get("/nothing-here").await;
    assert_eq!((r.status, r.code()), (404, "APIG.3000"));
    let r = s
        .admin
        .call("PATCH", &format!("{}/plugins", s.admin.base_path()), b"")
        .await;
    assert_eq!(r.status, 405);
    assert!(r.code().starts_with("APIG."));
}

#[tokio::test]
async fn only_health_and_metrics_are_open_and_openapi_needs_credentials() {
    let s = TestServer::start().await;
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{}{path}", s.admin.base));
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        r.send()
    };
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(open, None).await.unwrap().status(), 200, "{open}");
    }
    let refused = get("/openapi.json", None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<serde_json::Value>().await.unwrap()["error_code"],
        "APIG.1000"
    );
    assert_eq!(
        get("/openapi.json", Some("not-the-token"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get("/openapi.json", Some(apigw_testkit::TOKEN))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn metrics_need_credentials_when_configured() {
    let s = TestServer::start_with(|a| a.metrics_auth = true).await;
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", s.admin.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let ok = http
        .get(&url)
        .header("X-Auth-Token", apigw_testkit::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("apigw_store_up"));
    assert_eq!(
        http.get(format!("{}/healthz", s.admin.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_signature_made_for_another_host_or_body_is_rejected() {
    let s = TestServer::start().await;
    let http = reqwest::Client::new();
    let path = format!("{}/plugins", s.admin.base_path());
    let host = s.running.admin_addr.to_string();
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let body = br#"{"plugin_name":"signed_body","plugin_type":"cors","plugin_scope":"global","plugin_content":"{\"allow_origin\":\"*\"}"}"#;
    let sign = |host: &str, body: &[u8]| {
        apigw_model::sign::sign_request(
            AK,
            SK,
            &apigw_model::sign::RequestParts {
                method: "POST",
                path: &path,
                query: None,
                body,
            },
            &[
                ("host", host),
                ("x-sdk-date", date.as_str()),
                ("content-type", "application/json"),
            ],
        )
    };
    let send = |authz: String, body: &'static [u8]| {
        http.post(format!("{}{path}", s.admin.base))
            .header("x-sdk-date", &date)
            .header("content-type", "application/json")
            .header("authorization", authz)
            .body(body)
            .send()
    };
    // Signed for another host (a captured request replayed at this gateway).
    let r = send(sign("apig.example.com", body), body).await.unwrap();
    assert_eq!(r.status(), 401);
    // Signed over another body: the name was changed after signing.
    let tampered: &[u8] = br#"{"plugin_name":"evil_body_x","plugin_type":"cors","plugin_scope":"global","plugin_content":"{\"allow_origin\":\"*\"}"}"#;
    let r = send(sign(&host, body), tampered).await.unwrap();
    assert_eq!(r.status(), 401);
    let err: serde_json::Value = r.json().await.unwrap();
    assert_eq!(err["error_code"], "APIG.1002");
    // Nothing was written by either.
    let list = s.admin.call("GET", &path, b"").await;
    assert_eq!(list.json["total"], 0, "{}", list.text);
    // The untampered request goes through.
    let r = send(sign(&host, body), body).await.unwrap();
    assert_eq!(r.status(), 201);
}
