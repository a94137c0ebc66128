//! Secrets never reach the log (issue #10): the real binary at debug level, driven through
//! signed and token-authenticated control-plane calls, a kafka_log plug-in with a SASL
//! password, an app with its secret, a certificate's private key and a data-plane call signed
//! with the app's secret. None of the secrets
//! appears in anything the process prints, nor in the database file read raw, and the data
//! directory, the database and the key file are the owner's only. (Responses: `plugins_api.rs` pins the kafka mask;
//! file permissions: `durability.rs` pins `credentials.json` at 0600.)

use apigw_testkit::{http_api, Admin, Auth, ServerProcess, RELEASE, SK, TOKEN};
use serde_json::json;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_apigw");

#[tokio::test]
async fn no_secret_appears_in_the_log_even_at_debug_level() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn_with_env(
        Path::new(BIN),
        dir.path(),
        &[("RUST_LOG", "debug,hyper=info,h2=info,rustls=info")],
    );
    let admin: Admin = server.admin.clone();
    let by_token = admin.with_auth(Auth::Token(TOKEN.into()));
    let kafka = json!({"broker_list": ["127.0.0.1:9"], "topic": "t",
        "sasl_config": {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanisms": "PLAIN",
                        "sasl_username": "u", "sasl_password": "kafka-password-4f1c"}});
    let p = admin
        .create_plugin("kafka_secret", "kafka_log", kafka)
        .await;
    let app_secret = "app-secret-9d2e-0000";
    let app = by_token
        .post(
            "/apps",
            &json!({"name": "secret_app", "app_key": "app-key-secret-01", "app_secret": app_secret}),
        )
        .await;
    assert_eq!(app.status, 201, "{}", app.text);
    // A certificate's private key (made with rcgen); a line of its base64 stands for it.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["secret.example.com".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let key_pem = key.serialize_pem();
    let key_line = key_pem.lines().nth(1).unwrap().to_string();
    let c = admin
        .call(
            "POST",
            &format!("/v2/{}/apigw/certificates", admin.project),
            json!({"name": "secret_cert", "cert_content": cert.pem(), "private_key": key_pem})
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert!(!c.text.contains(&key_line));
    let (group, host) = admin.create_group("secrets").await;
    let mut api = http_api("signed", &group, "GET", "/signed", "127.0.0.1:9", "/");
    api["auth_type"] = json!("APP");
    let api_id = admin.create_published_api(api).await;
    admin.bind(&p, RELEASE, &[&api_id]).await;
    let auth = admin
        .post(
            "/app-auths",
            &json!({"env_id": RELEASE, "app_ids": [app.json["id"]], "api_ids": [api_id]}),
        )
        .await;
    assert!(auth.status < 300, "{}", auth.text);
    // A data-plane call signed with the app's secret, and a wrong one.
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let parts = apigw_model::sign::RequestParts {
        method: "GET",
        path: "/signed",
        query: None,
        body: b"",
    };
    let http = reqwest::Client::new();
    for secret in [app_secret, "wrong-secret"] {
        let authz = apigw_model::sign::sign_request(
            "app-key-secret-01",
            secret,
            &parts,
            &[("host", host.as_str()), ("x-sdk-date", date.as_str())],
        );
        let r = http
            .get(format!("http://{}/signed", server.gateway_addr))
            .header("host", &host)
            .header("x-sdk-date", &date)
            .header("authorization", authz)
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 500);
    }
    // A wrong token and a wrong signature on the control plane.
    assert_eq!(
        reqwest::Client::new()
            .get(format!("{}{}/plugins", admin.base, admin.base_path()))
            .header("x-auth-token", "not-the-token")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = server.log();
    assert!(log.contains("DEBUG"), "the log is not at debug level");
    for secret in [SK, TOKEN, "kafka-password-4f1c", app_secret, &key_line] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }

    // At rest: the database, read raw (every table, every text column, and the file's bytes
    // with its WAL), holds neither secret; the signed call above proved the app's secret
    // still opens.
    let db = dir.path().join("apigw.db");
    let raw = rusqlite::Connection::open(&db).unwrap();
    let mut values = Vec::new();
    for (table, column) in [
        ("apps", "app_secret"),
        ("plugins", "content"),
        ("certificates", "private_key"),
    ] {
        let mut stmt = raw
            .prepare(&format!("SELECT {column} FROM {table}"))
            .unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        values.extend(rows.map(Result::unwrap));
    }
    assert_eq!(values.len(), 3, "{values:?}");
    for v in &values {
        assert!(v.starts_with("enc:v1:"), "not sealed: {v}");
    }
    let mut bytes = std::fs::read(&db).unwrap();
    bytes.extend(std::fs::read(dir.path().join("apigw.db-wal")).unwrap_or_default());
    let bytes = String::from_utf8_lossy(&bytes);
    for secret in ["kafka-password-4f1c", app_secret, &key_line] {
        assert!(!bytes.contains(secret), "{secret} is in the database file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700, "data directory");
        assert_eq!(mode(&db), 0o600, "database");
        assert_eq!(mode(&dir.path().join("apigw.db-wal")), 0o600, "WAL");
        assert_eq!(mode(&dir.path().join("secrets.key")), 0o600, "key file");
    }
}
