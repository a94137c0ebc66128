//! An acknowledged change survives kill -9: the real binary is killed with SIGKILL while a
//! stream of creates, updates, binds and deletes is in flight, restarted on the same data
//! directory, and every acknowledged change must be there, with the store consistent (no
//! binding to a missing plug-in or API). `APIGW_DURABILITY_ROUNDS` sets the number of kills
//! (5 by default; `scripts/reliability.sh durability` runs more).

use apigw_testkit::{http_api, Admin, Resp, ServerProcess, RELEASE};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_apigw");

/// One request; `None` when the server is gone (the connection failed or hung).
async fn send(admin: &Admin, method: &str, suffix: &str, body: &serde_json::Value) -> Option<Resp> {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let path = format!("{}{suffix}", admin.base_path());
    match tokio::time::timeout(Duration::from_secs(2), admin.try_call(method, &path, &body)).await {
        Ok(Ok(r)) => Some(r),
        _ => None,
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    // What the server acknowledged: plug-in id -> the remark it last acknowledged, or None
    // once deletion was acknowledged.
    let mut acked: HashMap<String, Option<String>> = HashMap::new();
    // A write sent but not acknowledged when the server died: it may or may not have landed.
    let mut in_flight: HashMap<String, Option<String>> = HashMap::new();
    let rounds: u64 = std::env::var("APIGW_DURABILITY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut group = String::new();
    for round in 0..rounds {
        let server = ServerProcess::spawn(Path::new(BIN), dir.path());
        let admin = server.admin.clone();
        if round == 0 {
            group = admin.create_group("durable").await.0;
        }
        let group = group.clone();
        // Kill after a varying delay while writers are busy.
        let kill_after = Duration::from_millis(40 + round * 37);
        let writer = tokio::spawn(async move {
            let mut acks = Vec::new();
            let mut maybe = Vec::new();
            for i in 0.. {
                let name = format!("p-{round}-{i}");
                let body = json!({"plugin_name": name, "plugin_type": "cors", "plugin_scope": "global",
                                  "plugin_content": "{\"allow_origin\":\"*\"}", "remark": "v1"});
                let Some(r) = send(&admin, "POST", "/plugins", &body).await else {
                    break;
                };
                if r.status != 201 {
                    break;
                }
                let id = r.json["plugin_id"].as_str().unwrap().to_string();
                acks.push((id.clone(), Some("v1".to_string())));
                // An API of its own, published, with the plug-in bound to it.
                let api = http_api(
                    &format!("a_{round}_{i}"),
                    &group,
                    "GET",
                    &format!("/d/{round}/{i}"),
                    "127.0.0.1:9",
                    "/",
                );
                let Some(r) = send(&admin, "POST", "/apis", &api).await else {
                    break;
                };
                let Some(api_id) = r.json["id"].as_str().map(str::to_string) else {
                    break;
                };
                let publish = json!({"action": "online", "env_id": RELEASE, "api_id": api_id});
                if send(&admin, "POST", "/apis/action", &publish)
                    .await
                    .is_none()
                {
                    break;
                }
                let bind = json!({"env_id": RELEASE, "api_ids": [api_id]});
                if send(&admin, "POST", &format!("/plugins/{id}/attach"), &bind)
                    .await
                    .is_none()
                {
                    break;
                }
                let mut upd = body.clone();
                upd["remark"] = json!("v2");
                let Some(r) = send(&admin, "PUT", &format!("/plugins/{id}"), &upd).await else {
                    // Unacknowledged: the update may or may not have been applied.
                    maybe.push((id.clone(), Some("v2".to_string())));
                    break;
                };
                if r.status == 200 {
                    acks.push((id.clone(), Some("v2".to_string())));
                }
                if i % 3 == 0 {
                    let Some(r) =
                        send(&admin, "DELETE", &format!("/plugins/{id}"), &json!(null)).await
                    else {
                        maybe.push((id.clone(), None));
                        break;
                    };
                    if r.status == 204 {
                        acks.push((id, None));
                    }
                }
            }
            (acks, maybe)
        });
        tokio::time::sleep(kill_after).await;
        server.kill9();
        // The writer stops at its first failed request (connection refused after the kill).
        let (acks, maybe) = tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .unwrap()
            .unwrap();
        for (id, state) in acks {
            acked.insert(id.clone(), state);
            in_flight.remove(&id);
        }
        for (id, state) in maybe {
            in_flight.insert(id, state);
        }
    }
    let server = ServerProcess::spawn(Path::new(BIN), dir.path());
    let mut stored: HashMap<String, String> = HashMap::new();
    loop {
        let page = server
            .admin
            .get(&format!("/plugins?limit=500&offset={}", stored.len()))
            .await;
        assert_eq!(page.status, 200);
        let items = page.json["plugins"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        for p in items {
            stored.insert(
                p["plugin_id"].as_str().unwrap().to_string(),
                p["remark"].as_str().unwrap().to_string(),
            );
        }
    }
    // Consistent: every binding names a plug-in that exists.
    let apis = server.admin.get("/apis?limit=500").await;
    assert_eq!(apis.status, 200);
    let mut bindings = 0;
    for api in apis.json["apis"].as_array().unwrap() {
        let id = api["id"].as_str().unwrap();
        let bound = server
            .admin
            .get(&format!(
                "/apis/{id}/attached-plugins?env_id={RELEASE}&limit=500"
            ))
            .await;
        assert_eq!(bound.status, 200, "{}", bound.text);
        for p in bound.json["plugins"].as_array().unwrap() {
            let pid = p["plugin_id"].as_str().unwrap();
            assert!(
                stored.contains_key(pid),
                "API {id} is bound to missing plug-in {pid}"
            );
            bindings += 1;
        }
    }
    assert!(bindings > 0, "no binding survived to check");
    println!(
        "durability: {rounds} kills, {} plug-ins with acknowledged writes, {} stored, {bindings} bindings checked",
        acked.len(),
        stored.len()
    );
    assert!(
        acked.len() >= 5,
        "enough writes were acknowledged to mean something: {}",
        acked.len()
    );
    for (id, state) in &acked {
        let now = stored.get(id).cloned();
        // The last acknowledged state, or the unacknowledged write that was in flight.
        let allowed = [
            state.clone(),
            in_flight.get(id).cloned().unwrap_or(state.clone()),
        ];
        assert!(
            allowed.contains(&now),
            "acknowledged state of {id} lost: stored {now:?}, acknowledged {state:?}"
        );
    }
}

#[tokio::test]
async fn the_generated_identity_is_kept_across_restarts_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = std::process::Command::new(BIN)
            .arg("serve")
            .env("APIGW_DATA_DIR", dir.path())
            .env("APIGW_ADMIN_ADDR", "127.0.0.1:0")
            .env("APIGW_GATEWAY_ADDR", "127.0.0.1:0")
            .env("APIGW_GATEWAY_TLS_ADDR", "127.0.0.1:0")
            .env_remove("APIGW_PROJECT_ID")
            .env_remove("APIGW_ACCESS_KEY")
            .env_remove("APIGW_SECRET_KEY")
            .env_remove("APIGW_AUTH_TOKEN")
            .env_remove("APIGW_INSTANCE_ID")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = out;
        let mut first = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        first
    };
    let first = run();
    let path = dir.path().join("credentials.json");
    assert!(
        first.contains(path.to_str().unwrap()),
        "it prints where the credentials are: {first}"
    );
    let before = std::fs::read_to_string(&path).unwrap();
    let id: serde_json::Value = serde_json::from_str(&before).unwrap();
    assert!(
        !first.contains(id["secret_key"].as_str().unwrap()),
        "the secret is not printed"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    run();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "same identity after a restart"
    );
}
