//! SIGTERM drains: a call in flight when the real binary is told to stop still completes (and
//! its connection closes after the answer); idle keep-alive connections close at once.

use apigw_testkit::{http_api, Backend, GatewayClient, ServerProcess};
use std::path::Path;
use std::time::Duration;

#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start().await;
    let mut server = ServerProcess::spawn(Path::new(env!("CARGO_BIN_EXE_apigw")), dir.path());
    let group = server.admin.default_group().await;
    server
        .admin
        .create_published_api(http_api(
            "slow_api",
            &group,
            "GET",
            "/slow",
            &backend.addr.to_string(),
            "/slow/400",
        ))
        .await;
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

#[tokio::test]
async fn idle_keep_alive_connections_close_at_once_and_busy_ones_after_their_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start().await;
    let mut server = ServerProcess::spawn(Path::new(env!("CARGO_BIN_EXE_apigw")), dir.path());
    let group = server.admin.default_group().await;
    for (name, uri, backend_uri) in [("fast", "/fast", "/echo"), ("slow", "/slow", "/slow/400")] {
        server
            .admin
            .create_published_api(http_api(
                name,
                &group,
                "GET",
                uri,
                &backend.addr.to_string(),
                backend_uri,
            ))
            .await;
    }
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: gw\r\n\r\n").into_bytes();
    // An idle keep-alive connection: one answered call, then nothing.
    let mut idle = tokio::net::TcpStream::connect(&server.gateway_addr)
        .await
        .unwrap();
    idle.write_all(&request("/fast")).await.unwrap();
    let mut first = vec![0u8; 4096];
    let n = idle.read(&mut first).await.unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    // A busy one: its call is in flight when the signal comes.
    let mut busy = tokio::net::TcpStream::connect(&server.gateway_addr)
        .await
        .unwrap();
    busy.write_all(&request("/slow")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest))
        .await
        .expect("the idle connection is closed at once")
        .unwrap();
    assert!(rest.is_empty(), "nothing more on the idle connection");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), busy.read_to_string(&mut answer))
        .await
        .expect("the busy connection is answered, then closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{answer}"
    );
    let status = tokio::task::spawn_blocking(move || server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}
