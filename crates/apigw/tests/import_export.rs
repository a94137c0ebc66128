//! Importing and exporting OpenAPI documents with APIG's extensions (SPEC §11): the guide's
//! examples imported verbatim, per-API failures named, a broken file changing nothing, the
//! round trip export → import into an empty instance → export, 1 000 APIs in one call, and
//! `apigw apply` against a running instance.

use apigw_testkit::{GatewayClient, Resp, TestServer, RELEASE, TOKEN};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oas")
        .join(name)
}

/// `POST /openapi/import` as a multipart form, with the admin token.
async fn import(s: &TestServer, fields: &[(&str, &str)], file: &[u8]) -> Resp {
    let boundary = "----apigw-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"api.yaml\"\r\n\r\n").as_bytes());
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let url = format!(
        "http://{}{}/openapi/import",
        s.running.admin_addr,
        s.admin.base_path()
    );
    let resp = reqwest::Client::new()
        .post(url)
        .header("x-auth-token", TOKEN)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    Resp::read(resp).await.unwrap()
}

/// `POST /openapi/export`; the document parsed (JSON or YAML).
async fn export(s: &TestServer, oas: &str, body: Value) -> Value {
    let r = s
        .admin
        .post(&format!("/openapi/export?oas_version={oas}"), &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    serde_yaml::from_str(&r.text).unwrap()
}

async fn counts(s: &TestServer) -> (u64, u64, u64, u64) {
    let n = |v: Value| v["total"].as_u64().unwrap();
    (
        n(s.admin.get("/api-groups").await.json),
        n(s.admin.get("/apis").await.json),
        n(s.admin.get("/throttles").await.json),
        n(s.admin.get("/acls").await.json),
    )
}

async fn channel(s: &TestServer, name: &str) {
    let body = json!({"name": name, "port": 80, "balance_strategy": 1, "member_type": "ip", "type": 2,
        "members": [{"host": "127.0.0.1", "port": 9, "weight": 1}]});
    let r = s.admin.post("/vpc-channels", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn the_guides_examples_import_verbatim_and_function_backends_are_refused_by_name() {
    for (file, channel_name) in [
        ("guide_http_swagger.yaml", None),
        ("guide_http_openapi.yaml", None),
        ("guide_vpc_swagger.yaml", Some("userVpc")),
        ("guide_vpc_openapi.yaml", Some("userVpc")),
        ("guide_mock_swagger.yaml", None),
        ("guide_mock_openapi.yaml", None),
    ] {
        let s = TestServer::start().await;
        if let Some(c) = channel_name {
            channel(&s, c).await;
        }
        let doc = std::fs::read(fixture(file)).unwrap();
        let r = import(&s, &[], &doc).await;
        assert_eq!(r.status, 200, "{file}: {}", r.text);
        assert_eq!(r.json["failure"], json!([]), "{file}: {}", r.text);
        assert_eq!(r.json["success"].as_array().unwrap().len(), 1, "{file}");
        assert_eq!(r.json["success"][0]["action"], "create");
        let group = r.json["group_id"].as_str().unwrap().to_string();
        let api = s
            .admin
            .get(&format!(
                "/apis/{}",
                r.json["success"][0]["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(api.json["group_id"], json!(group));
        assert_eq!(api.json["cors"], json!(true), "{file}");
    }

    // The mock example, published, answers its content through the gateway.
    let s = TestServer::start().await;
    let doc = std::fs::read(fixture("guide_mock_swagger.yaml")).unwrap();
    let r = import(&s, &[("env_id", RELEASE)], &doc).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let group = r.json["group_id"].as_str().unwrap();
    let host = s.admin.get(&format!("/api-groups/{group}")).await.json["sl_domain"]
        .as_str()
        .unwrap()
        .to_string();
    let path = r.json["success"][0]["path"].as_str().unwrap().to_string();
    let method = r.json["success"][0]["method"].as_str().unwrap().to_string();
    let gw = GatewayClient::new(s.running.gateway_addr);
    let answer = gw.call(&method, &path, &[("host", &host)], b"").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.text.contains("mocked"), "{}", answer.text);
    // Its `x-apigateway-cors: true` answers preflights with APIG's fixed headers.
    let preflight = gw
        .call(
            "OPTIONS",
            &path,
            &[
                ("host", &host),
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
            ],
            b"",
        )
        .await;
    assert!(preflight.status < 300, "{}", preflight.status);
    assert_eq!(preflight.headers["access-control-max-age"], "172800");
    assert!(preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("X-Sdk-Date"));
    let with_origin = gw
        .call(
            &method,
            &path,
            &[("host", &host), ("origin", "https://app.example")],
            b"",
        )
        .await;
    assert_eq!(with_origin.headers["access-control-allow-origin"], "*");

    // FunctionGraph backends have no counterpart: each such API fails, naming the extension.
    for file in ["guide_function_swagger.yaml", "guide_function_openapi.yaml"] {
        let s = TestServer::start().await;
        let r = import(&s, &[], &std::fs::read(fixture(file)).unwrap()).await;
        assert_eq!(r.status, 200, "{file}: {}", r.text);
        assert_eq!(r.json["success"], json!([]), "{file}");
        let f = &r.json["failure"][0];
        assert_eq!(f["error_code"], "APIG.2012", "{file}: {}", r.text);
        assert!(
            f["error_msg"]
                .as_str()
                .unwrap()
                .contains("functionEndpoints"),
            "{file}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn a_broken_file_is_refused_naming_the_field_and_leaves_the_instance_untouched() {
    let s = TestServer::start().await;
    let before = counts(&s).await;
    let good = std::fs::read_to_string(fixture("every_extension.yaml")).unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("swagger: \"2.0\"\ninfo: [unclosed".into(), "file_name"),
        ("{\"openapi\": \"3.1.0\", \"paths\": {}}".into(), "swagger"),
        ("swagger: \"2.0\"\ninfo: {title: x1}\n".into(), "paths"),
        (
            good.replace("api-limit: 2", "api-limit: many"),
            "x-apigateway-ratelimits.two_per_minute.api-limit",
        ),
        (
            good.replace("acl-type: \"PERMIT\"", "acl-type: \"MAYBE\""),
            "x-apigateway-access-controls.office_only.acl-type",
        ),
        (
            good.replace("title: \"shop_api\"", "title: \"9 bad name\""),
            "info.title",
        ),
        (
            good.replace("type: USER", "type: ROBOT"),
            "x-apigateway-ratelimits.two_per_minute.special[0].type",
        ),
        (
            format!("{good}\nx-apigateway-something: 1\n"),
            "x-apigateway-something",
        ),
    ];
    for (doc, field) in cases {
        let r = import(&s, &[], doc.as_bytes()).await;
        assert_eq!(r.status, 400, "{field}: {}", r.text);
        assert_eq!(r.code(), "APIG.2012", "{field}: {}", r.text);
        assert!(r.msg().contains(field), "{field}: {}", r.text);
    }
    // Hostile documents: an alias bomb, nesting past any parser's depth, not UTF-8.
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for (i, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!(
            "{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_yaml = format!("{}x{}", "[".repeat(100_000), "]".repeat(100_000));
    for doc in [
        bomb.into_bytes(),
        deep_json.into_bytes(),
        deep_yaml.into_bytes(),
        vec![0xff, 0xfe, 0x00],
    ] {
        let r = import(&s, &[], &doc).await;
        assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
    }
    // Not a form at all, and a form without the file.
    let r = s
        .admin
        .post("/openapi/import", &json!({"file_name": "x"}))
        .await;
    assert_eq!((r.status, r.code()), (400, "APIG.2000"), "{}", r.text);
    let r = import(&s, &[("is_create_group", "perhaps")], good.as_bytes()).await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
    assert!(r.msg().contains("is_create_group"), "{}", r.text);
    let r = import(&s, &[("is_create_group", "false")], good.as_bytes()).await;
    assert!(r.msg().contains("group_id"), "{}", r.text);
    let r = import(
        &s,
        &[("is_create_group", "false"), ("group_id", "nope")],
        good.as_bytes(),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "APIG.3001"), "{}", r.text);
    assert_eq!(counts(&s).await, before);
}

#[tokio::test]
async fn failing_apis_are_listed_by_path_and_method_and_the_others_imported() {
    let s = TestServer::start().await;
    let doc = r#"
swagger: "2.0"
info: {title: "partial", version: "1"}
paths:
  /ok:
    get:
      operationId: ok_api
      x-apigateway-backend: {type: MOCK, mockEndpoints: {result-content: "ok"}}
  /no-plugin:
    get:
      operationId: no_plugin
      x-apigateway-plugins: [missing_plugin]
      x-apigateway-backend: {type: MOCK}
  /policies:
    get:
      operationId: with_policies
      x-apigateway-backend-policies: [{type: MOCK, name: p, conditions: []}]
      x-apigateway-backend: {type: MOCK}
  /dup:
    get:
      operationId: ok_api
      x-apigateway-backend: {type: MOCK}
  /nobackend:
    get:
      operationId: no_backend
"#;
    let r = import(&s, &[], doc.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["success"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(r.json["success"][0]["path"], "/ok");
    let failed: Vec<(String, String)> = r.json["failure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                format!(
                    "{} {}",
                    f["error_code"].as_str().unwrap(),
                    f["error_msg"].as_str().unwrap()
                ),
            )
        })
        .collect();
    let find = |p: &str| failed.iter().find(|(path, _)| path == p).unwrap().1.clone();
    assert!(find("/no-plugin").contains("missing_plugin"), "{failed:?}");
    assert!(
        find("/policies").contains("x-apigateway-backend-policies"),
        "{failed:?}"
    );
    assert!(find("/dup").starts_with("APIG.3202"), "{failed:?}");
    assert!(
        find("/nobackend").contains("x-apigateway-backend"),
        "{failed:?}"
    );
    // With mock_mode the API without a backend imports as a mock; the existing one conflicts
    // (merge) or is replaced (override).
    let group = r.json["group_id"].as_str().unwrap();
    let again = import(
        &s,
        &[
            ("is_create_group", "false"),
            ("group_id", group),
            ("mock_mode", "true"),
        ],
        doc.as_bytes(),
    )
    .await;
    let codes: Vec<&str> = again.json["failure"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] == "/ok")
        .map(|f| f["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["APIG.3301"], "{}", again.text);
    assert!(again.json["success"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["path"] == "/nobackend"));
    let replaced = import(
        &s,
        &[
            ("is_create_group", "false"),
            ("group_id", group),
            ("api_mode", "override"),
        ],
        doc.as_bytes(),
    )
    .await;
    let ok = replaced.json["success"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == "/ok")
        .unwrap()
        .clone();
    assert_eq!(ok["action"], "update", "{}", replaced.text);
    assert_eq!(ok["id"], r.json["success"][0]["id"]);
}

/// Host-dependent parts of an exported document (the group's domain holds its id).
fn without_hosts(mut doc: Value) -> Value {
    let m = doc.as_object_mut().unwrap();
    m.remove("host");
    m.remove("servers");
    for (_, item) in m["paths"].as_object_mut().unwrap() {
        for (_, op) in item.as_object_mut().unwrap() {
            op.as_object_mut().unwrap().remove("servers");
        }
    }
    doc
}

async fn instance_for_round_trip() -> TestServer {
    let s = TestServer::start().await;
    channel(&s, "shop_servers").await;
    s.admin
        .create_plugin("cors_all", "cors", json!({"allow_origin": "*"}))
        .await;
    s
}

#[tokio::test]
async fn export_then_import_into_an_empty_instance_then_export_gives_the_same_document() {
    let a = instance_for_round_trip().await;
    let source = std::fs::read(fixture("every_extension.yaml")).unwrap();
    let r = import(&a, &[("env_id", RELEASE)], &source).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["failure"], json!([]), "{}", r.text);
    assert_eq!(r.json["success"].as_array().unwrap().len(), 3);
    let group_a = r.json["group_id"].as_str().unwrap().to_string();

    // The imported API is served with its policies and plug-in.
    let host = a.admin.get(&format!("/api-groups/{group_a}")).await.json["sl_domain"]
        .as_str()
        .unwrap()
        .to_string();
    let gw = GatewayClient::new(a.running.gateway_addr);
    let headers = [
        ("host", host.as_str()),
        ("x-trace", "1"),
        ("origin", "https://x.example"),
    ];
    let call = || gw.call("GET", "/shop/items", &headers, b"");
    let first = call().await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.text, r#"{"items": []}"#);
    assert!(first.headers.contains_key("access-control-allow-origin"));
    assert_eq!(call().await.status, 200);
    assert_eq!(
        call().await.status,
        429,
        "the imported throttle (2 per minute) applies"
    );

    for (oas, format) in [("2.0", "yaml"), ("3.0", "json")] {
        let body = |g: &str| json!({"env_id": RELEASE, "group_id": g, "define": "all", "type": format, "version": "7"});
        let first = export(&a, oas, body(&group_a)).await;
        assert_eq!(
            first["x-apigateway-ratelimits"]["two_per_minute"]["special"][0]["instance"],
            "user_1"
        );
        assert_eq!(
            first["paths"]["/shop/items"]["get"]["x-apigateway-plugins"],
            json!(["cors_all"])
        );

        let b = instance_for_round_trip().await;
        let text = serde_json::to_vec(&first).unwrap();
        let r = import(&b, &[("env_id", RELEASE)], &text).await;
        assert_eq!(r.json["failure"], json!([]), "{oas}: {}", r.text);
        let group_b = r.json["group_id"].as_str().unwrap();
        let second = export(&b, oas, body(group_b)).await;
        assert_eq!(without_hosts(first), without_hosts(second), "{oas}");
    }

    // `define` spec leaves the backend out; unknown values are named.
    let spec = export(&a, "2.0", json!({"env_id": RELEASE, "group_id": group_a})).await;
    assert!(spec["paths"]["/shop/items"]["get"]
        .get("x-apigateway-backend")
        .is_none());
    let r = a
        .admin
        .post("/openapi/export", &json!({"group_id": group_a}))
        .await;
    assert_eq!((r.status, r.code()), (400, "APIG.2001"), "{}", r.text);
    assert!(r.msg().contains("env_id"));
    let r = a
        .admin
        .post(
            "/openapi/export",
            &json!({"group_id": group_a, "env_id": RELEASE, "define": "most"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
    assert!(r.msg().contains("define"));
}

#[tokio::test]
async fn a_thousand_apis_with_plugins_import_in_one_call_and_are_served_at_once() {
    let s = TestServer::start().await;
    s.admin
        .create_plugin("cors_all", "cors", json!({"allow_origin": "*"}))
        .await;
    let mut paths = serde_json::Map::new();
    for i in 0..1000 {
        paths.insert(
            format!("/r{i}"),
            json!({"get": {"operationId": format!("api_{i}"), "schemes": ["http"], "x-apigateway-plugins": ["cors_all"],
                "x-apigateway-backend": {"type": "MOCK", "mockEndpoints": {"result-content": format!("r{i}")}}}}),
        );
    }
    let doc =
        json!({"swagger": "2.0", "info": {"title": "big_group", "version": "1"}, "paths": paths});
    let started = std::time::Instant::now();
    let r = import(&s, &[("env_id", RELEASE)], doc.to_string().as_bytes()).await;
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["success"].as_array().unwrap().len(), 1000);
    eprintln!("1 000 APIs imported in {took:?}");
    let host = s
        .admin
        .get(&format!(
            "/api-groups/{}",
            r.json["group_id"].as_str().unwrap()
        ))
        .await
        .json["sl_domain"]
        .as_str()
        .unwrap()
        .to_string();
    let gw = GatewayClient::new(s.running.gateway_addr);
    let last = gw
        .call(
            "GET",
            "/r999",
            &[("host", &host), ("origin", "https://x.example")],
            b"",
        )
        .await;
    assert_eq!((last.status, last.text.as_str()), (200, "r999"));
    assert!(last.headers.contains_key("access-control-allow-origin"));
}

/// Runs the real `apigw` binary's `args` against `s`; its status and standard output.
async fn cli(s: &TestServer, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_apigw"))
        .args(args)
        .arg("--admin-url")
        .arg(format!("http://{}", s.running.admin_addr))
        .arg("--data-dir")
        .arg(s.dir.path())
        .env_remove("APIGW_AUTH_TOKEN")
        .env_remove("APIGW_PROJECT_ID")
        .env_remove("APIGW_INSTANCE_ID")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), format!("{text}{err}"))
}

#[tokio::test]
async fn apply_makes_the_instance_match_the_files_twice_idempotently_and_prunes_the_rest() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = |limit: i64, with_second: bool| {
        let second = if with_second {
            r#"
      - name: second
        type: 1
        req_protocol: HTTP
        req_method: GET
        req_uri: /second
        auth_type: NONE
        backend_type: MOCK
        mock_info: {result_content: "two"}
        publish: [RELEASE]"#
        } else {
            ""
        };
        format!(
            r#"
environments:
  - name: staging
    remark: the staging stage
acls:
  - name: office
    type: PERMIT
    entity_type: IP
    value: "127.0.0.1"
throttles:
  - name: hourly
    api_call_limits: 1000
    time_interval: 1
    time_unit: HOUR
plugins:
  - name: limit_it
    type: rate_limit
    content:
      default_time_unit: hour
      api_limit: {limit}
groups:
  - name: applied
    remark: from git
    apis:
      - name: first
        type: 1
        req_protocol: HTTP
        req_method: GET
        req_uri: /first
        auth_type: NONE
        backend_type: MOCK
        mock_info: {{result_content: "one"}}
        publish: [RELEASE, staging]
        plugins: [limit_it]
        acls: [office]
        throttle: hourly{second}
"#
        )
    };
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, config(2, true)).unwrap();
    let f = file.to_str().unwrap();
    // Something the files do not name, for --prune.
    s.admin.create_group("stray_group").await;

    let (ok, out) = cli(&s, &["apply", "-f", f, "--dry-run"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("+ group applied") && out.contains("dry run"),
        "{out}"
    );
    assert_eq!(
        s.admin.get("/api-groups?name=applied").await.json["total"],
        0
    );

    let (ok, out) = cli(&s, &["apply", "-f", f]).await;
    assert!(ok, "{out}");
    for line in [
        "+ environment staging",
        "+ plug-in limit_it",
        "+ group applied",
        "+ API applied/first",
        "+ publish applied/first in staging",
        "+ bind",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    let (ok, out) = cli(&s, &["apply", "-f", dir.path().to_str().unwrap()]).await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "no changes");

    // The data plane serves what was applied, with the plug-in.
    let group = &s.admin.get("/api-groups?name=applied").await.json["groups"][0];
    let host = group["sl_domain"].as_str().unwrap().to_string();
    let gw = GatewayClient::new(s.running.gateway_addr);
    let headers = [("host", host.as_str())];
    let call = || gw.call("GET", "/first", &headers, b"");
    assert_eq!(call().await.text, "one");
    assert_eq!(call().await.status, 200);
    assert_eq!(call().await.status, 429);

    // A change is applied as an update; removing an API from the files removes it with --prune,
    // and so the group and the plug-ins nobody names.
    std::fs::write(&file, config(5, false)).unwrap();
    let (ok, out) = cli(&s, &["apply", "-f", f, "--prune"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("~ plug-in limit_it"), "{out}");
    assert!(out.contains("- API applied/second"), "{out}");
    assert!(out.contains("- group stray_group"), "{out}");
    assert_eq!(
        s.admin.get("/api-groups?name=stray_group").await.json["total"],
        0
    );
    let (ok, out) = cli(&s, &["apply", "-f", f, "--prune"]).await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "no changes");

    // export and import through the command line.
    let exported = dir.path().join("export.yaml");
    let (ok, out) = cli(
        &s,
        &[
            "export",
            "--group",
            "applied",
            "--env",
            "RELEASE",
            "-o",
            exported.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{out}");
    let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    assert_eq!(
        doc["paths"]["/first"]["get"]["x-apigateway-plugins"],
        json!(["limit_it"])
    );
    let t = TestServer::start().await;
    let (ok, out) = cli(&t, &["import", exported.to_str().unwrap()]).await;
    assert!(!ok, "the plug-in is missing in the new instance: {out}");
    assert!(out.contains("limit_it"), "{out}");
}

#[tokio::test]
async fn on_postgres_an_import_round_trips_and_a_conflict_writes_nothing() {
    let schema = apigw_testkit::PgSchema::create().await;
    let keys = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        keys.path(),
        "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    let url = schema.url();
    let key_path = keys.path().to_path_buf();
    let s = TestServer::start_with(|a| {
        a.store_url = Some(url);
        a.secrets_key_file = Some(key_path);
    })
    .await;
    channel(&s, "shop_servers").await;
    s.admin
        .create_plugin("cors_all", "cors", json!({"allow_origin": "*"}))
        .await;
    let source = std::fs::read(fixture("every_extension.yaml")).unwrap();
    let r = import(&s, &[("env_id", RELEASE)], &source).await;
    assert_eq!(r.json["failure"], json!([]), "{}", r.text);
    let group = r.json["group_id"].as_str().unwrap().to_string();
    let body = json!({"env_id": RELEASE, "group_id": group, "define": "all", "version": "1"});
    let doc = export(&s, "2.0", body).await;
    assert_eq!(doc["paths"].as_object().unwrap().len(), 2);
    assert_eq!(
        doc["x-apigateway-access-controls"]["office_only"]["acl-type"],
        "PERMIT"
    );
    // The same title again: the group name is taken, and nothing of the file is written.
    let before = counts(&s).await;
    let r = import(&s, &[], &source).await;
    assert_eq!((r.status, r.code()), (400, "APIG.3201"), "{}", r.text);
    assert_eq!(counts(&s).await, before);
    drop(s);
    schema.drop_schema().await;
}
