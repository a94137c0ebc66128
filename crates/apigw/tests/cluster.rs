//! Cluster mode: several real `apigw serve` processes on one PostgreSQL (and one Redis). A
//! change made through one node is enforced by the others within a second; concurrent creates
//! of one name end in one success; a cluster-wide limit holds over the nodes; a node that
//! loses the database keeps serving and catches up; kill -9 of a node loses nothing
//! acknowledged.

use apigw_testkit::{
    http_api, redis_url, Backend, GatewayClient, PgSchema, ServerProcess, TcpProxy, RELEASE,
};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_apigw");

/// The secrets key file every node of a test cluster holds (each its own copy).
const CLUSTER_KEYS: &str = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

fn node(url: &str, extra: &[(&str, &str)]) -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("cluster.key");
    std::fs::write(&keys, CLUSTER_KEYS).unwrap();
    let keys = keys.to_str().unwrap().to_string();
    let mut env = vec![("APIGW_STORE_URL", url), ("APIGW_SECRETS_KEY_FILE", &keys)];
    env.extend_from_slice(extra);
    let p = ServerProcess::spawn_with_env(Path::new(BIN), dir.path(), &env);
    (dir, p)
}

/// The Prometheus text of node `p`.
async fn metrics(p: &ServerProcess) -> String {
    let url = format!("http://{}/metrics", p.admin_addr);
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

async fn ready(p: &ServerProcess) -> (u16, String) {
    let r = reqwest::get(format!("http://{}/readyz", p.admin_addr))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_plugin_bound_through_one_node_is_enforced_by_another_within_a_second() {
    let schema = PgSchema::create().await;
    let backend = Backend::start().await;
    let (_da, a) = node(&schema.url(), &[]);
    let (_db, b) = node(&schema.url(), &[]);
    let group = a.admin.default_group().await;
    let api = a
        .admin
        .create_published_api(http_api(
            "cluster_api",
            &group,
            "GET",
            "/c",
            &backend.addr.to_string(),
            "/",
        ))
        .await;
    let p = a
        .admin
        .create_plugin(
            "cluster headers",
            "set_resp_headers",
            json!({"response_headers": [{"name": "x-cluster", "value": "on", "action": "add"}]}),
        )
        .await;
    let start = Instant::now();
    a.admin.bind(&p, RELEASE, &[&api]).await;
    let gb = GatewayClient::new(&b.gateway_addr);
    loop {
        let r = gb.get("/c").await;
        if r.headers.contains_key("x-cluster") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "node B did not enforce the binding within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ready(&b).await.0, 200);
    // B applied A's writes to its snapshot from the change record, not by rebuilding it.
    let m = metrics(&b).await;
    let patches = m
        .lines()
        .find_map(|l| l.strip_prefix("apigw_snapshot_patches_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(patches.is_some_and(|n| n > 0), "{m}");
    drop((a, b));
    schema.drop_schema().await;
}

#[tokio::test]
async fn concurrent_creates_of_one_name_on_two_nodes_succeed_once() {
    let schema = PgSchema::create().await;
    let (_da, a) = node(&schema.url(), &[]);
    let (_db, b) = node(&schema.url(), &[]);
    let body = json!({"plugin_name": "only once", "plugin_type": "cors", "plugin_scope": "global",
                      "plugin_content": "{\"allow_origin\":\"*\"}"});
    let mut tasks = Vec::new();
    for i in 0..10 {
        let admin = if i % 2 == 0 {
            a.admin.clone()
        } else {
            b.admin.clone()
        };
        let body = body.clone();
        tasks.push(tokio::spawn(
            async move { admin.post("/plugins", &body).await },
        ));
    }
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => created += 1,
            _ => assert_eq!((r.status, r.code()), (400, "APIG.3326"), "{}", r.text),
        }
    }
    assert_eq!(created, 1);
    drop((a, b));
    schema.drop_schema().await;
}

#[tokio::test]
async fn a_cluster_wide_limit_admits_exactly_the_limit_over_the_nodes() {
    let schema = PgSchema::create().await;
    let backend = Backend::start().await;
    let redis = redis_url();
    let env = [("APIGW_REDIS_URL", redis.as_str())];
    let (_da, a) = node(&schema.url(), &env);
    let (_db, b) = node(&schema.url(), &env);
    let (_dc, c) = node(&schema.url(), &env);
    let group = a.admin.default_group().await;
    let api = a
        .admin
        .create_published_api(http_api(
            "limited",
            &group,
            "GET",
            "/l",
            &backend.addr.to_string(),
            "/",
        ))
        .await;
    let p = a
        .admin
        .create_plugin(
            "cluster limit",
            "rate_limit",
            json!({"api_limit": 25, "default_time_unit": "day"}),
        )
        .await;
    a.admin.bind(&p, RELEASE, &[&api]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // every node has the binding
    let gateways: Vec<GatewayClient> = [&a, &b, &c]
        .iter()
        .map(|n| GatewayClient::new(&n.gateway_addr))
        .collect();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let gw = gateways[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..5 {
                ok += usize::from(gw.get("/l").await.status == 200);
            }
            ok
        }));
    }
    let mut passed = 0;
    for t in tasks {
        passed += t.await.unwrap();
    }
    assert_eq!(passed, 25);
    drop((a, b, c));
    schema.drop_schema().await;
}

// Multi-threaded: the proxy keeps forwarding while the test blocks on starting a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_postgres_keeps_serving_and_catches_up() {
    let schema = PgSchema::create().await;
    let backend = Backend::start().await;
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let (_da, a) = node(&schema.url(), &[]);
    let (_db, b) = node(&schema.url_via(&proxy.addr()), &[]);
    let group = a.admin.default_group().await;
    a.admin
        .create_published_api(http_api(
            "steady",
            &group,
            "GET",
            "/s",
            &backend.addr.to_string(),
            "/",
        ))
        .await;
    let gb = GatewayClient::new(&b.gateway_addr);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(gb.get("/s").await.status, 200);

    proxy.cut();
    // Node A changes things B cannot see.
    a.admin
        .create_published_api(http_api(
            "later",
            &group,
            "GET",
            "/later",
            &backend.addr.to_string(),
            "/",
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        gb.get("/s").await.status,
        200,
        "B keeps serving its last snapshot"
    );
    assert_eq!(ready(&b).await.0, 503, "B reports that it lost the store");
    let m = metrics(&b).await;
    assert!(m.contains("apigw_store_up 0"), "{m}");

    proxy.restore().await;
    let start = Instant::now();
    while gb.get("/later").await.status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "B caught up after the store returned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready(&b).await.0, 200);
    drop((a, b));
    schema.drop_schema().await;
}

#[tokio::test]
async fn kill_9_of_a_node_loses_no_acknowledged_change() {
    let schema = PgSchema::create().await;
    let (_da, a) = node(&schema.url(), &[]);
    let mut acked = Vec::new();
    for i in 0..20 {
        let body = json!({"plugin_name": format!("durable {i}"), "plugin_type": "cors", "plugin_scope": "global",
                          "plugin_content": "{\"allow_origin\":\"*\"}"});
        let r = a.admin.post("/plugins", &body).await;
        assert_eq!(r.status, 201);
        acked.push(r.json["plugin_id"].as_str().unwrap().to_string());
    }
    a.kill9();
    let (_db, b) = node(&schema.url(), &[]);
    for id in &acked {
        assert_eq!(
            b.admin.get(&format!("/plugins/{id}")).await.status,
            200,
            "{id}"
        );
    }
    drop(b);
    schema.drop_schema().await;
}

#[tokio::test]
async fn a_node_on_postgres_without_a_shared_key_file_refuses_to_start() {
    let schema = PgSchema::create().await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(BIN)
        .arg("serve")
        .env("APIGW_DATA_DIR", dir.path())
        .env("APIGW_STORE_URL", schema.url())
        .env("APIGW_ADMIN_ADDR", "127.0.0.1:0")
        .env("APIGW_GATEWAY_ADDR", "127.0.0.1:0")
        .env("APIGW_GATEWAY_TLS_ADDR", "127.0.0.1:0")
        .env_remove("APIGW_SECRETS_KEY_FILE")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("APIGW_SECRETS_KEY_FILE is required"), "{err}");
    schema.drop_schema().await;
}
