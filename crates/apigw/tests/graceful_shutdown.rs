//! SIGTERM drains: a call in flight when the real binary is told to stop still completes.

use apigw_testkit::{http_api, Backend, GatewayClient, ServerProcess, RELEASE};
use std::path::Path;
use std::time::Duration;

#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start().await;
    let mut server = ServerProcess::spawn(Path::new(env!("CARGO_BIN_EXE_apigw")), dir.path());
    let group = server.admin.default_group().await;
    let api = server
        .admin
        .create_api(http_api(
            "slow_api",
            &group,
            "GET",
            "/slow",
            &backend.addr.to_string(),
            "/slow/400",
        ))
        .await;
    server.admin.publish(&api, RELEASE, true).await;
    let gw = GatewayClient::new(&server.gateway_addr);
    let call = tokio::spawn(async move { gw.get("/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let r = call.await.unwrap();
    assert_eq!(r.status, 200, "the in-flight call completed: {}", r.text);
    let status = tokio::task::spawn_blocking(move || server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "apigw exits cleanly after draining: {status:?}"
    );
}
