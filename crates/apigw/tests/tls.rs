//! The TLS listener end to end (SPEC §8): real TLS clients (rustls, and the `openssl` CLI)
//! against the real server, a published API behind it with a real backend.

use apigw_testkit::{
    client_trusting, exchange, http_api, tls_connect, within, Backend, TestServer,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The instance certificate the server generated in its data directory.
fn instance_pem(s: &TestServer) -> String {
    std::fs::read_to_string(s.dir.path().join("instance.crt")).unwrap()
}

async fn published(s: &TestServer, backend: &Backend, protocol: &str) -> String {
    let (group, host) = s.admin.create_group("tls").await;
    let mut body = http_api(
        "hello",
        &group,
        "ANY",
        "/hello",
        &backend.addr.to_string(),
        "/echo",
    );
    body["req_protocol"] = protocol.into();
    s.admin.create_published_api(body).await;
    host
}

#[tokio::test]
async fn https_serves_a_published_api_with_the_instance_certificate_and_keeps_the_connection() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let host = published(&s, &backend, "HTTPS").await;
    let client = client_trusting(&instance_pem(&s));
    // The group's sl_domain is covered by the instance certificate's *.{suffix}.
    let mut tls = tls_connect(s.running.gateway_tls_addr, &host, client)
        .await
        .expect("the handshake verifies against the instance certificate");
    let get = format!("GET /hello?x=1 HTTP/1.1\r\nhost: {host}\r\n\r\n");
    let (status, _, body) = exchange(&mut tls, get.as_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "x=1");
    // The same connection carries a second call, with a body.
    let post = format!("POST /hello HTTP/1.1\r\nhost: {host}\r\ncontent-length: 5\r\n\r\nhello");
    let (status, _, body) = exchange(&mut tls, post.as_bytes()).await;
    assert_eq!(status, 200);
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["body"], "hello");
    assert_eq!(backend.calls(), 2);
}

#[tokio::test]
async fn an_api_answers_only_the_protocols_it_is_published_for() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let host = published(&s, &backend, "HTTPS").await;
    // Over plain HTTP, an HTTPS API is refused with APIG.0607 naming what it serves.
    let plain = apigw_testkit::GatewayClient::new(s.running.gateway_addr);
    let r = plain.call("GET", "/hello", &[("host", &host)], b"").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "APIG.0607");
    assert!(r.msg().contains("HTTPS"), "{}", r.msg());
    assert_eq!(backend.calls(), 0);

    let (group, host2) = s.admin.create_group("plain").await;
    s.admin
        .create_published_api(http_api(
            "plain",
            &group,
            "GET",
            "/plain",
            &backend.addr.to_string(),
            "/p",
        ))
        .await;
    let client = client_trusting(&instance_pem(&s));
    let mut tls = tls_connect(s.running.gateway_tls_addr, &host2, client)
        .await
        .unwrap();
    let get = format!("GET /plain HTTP/1.1\r\nhost: {host2}\r\n\r\n");
    let (status, _, body) = exchange(&mut tls, get.as_bytes()).await;
    assert_eq!(status, 400, "an HTTP-only API answered over HTTPS");
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(err["error_code"], "APIG.0607");
    assert_eq!(backend.calls(), 0);
}

#[tokio::test]
async fn a_handshake_that_names_no_server_gets_the_instance_certificate() {
    let s = TestServer::start().await;
    let pem = instance_pem(&s);
    let addr = s.running.gateway_tls_addr.to_string();
    // openssl's s_client without SNI prints the certificate it was given.
    let out = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new("openssl")
            .args(["s_client", "-connect", &addr, "-noservername", "-showcerts"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the openssl CLI is installed");
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let served = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|c| c.split("-----END CERTIFICATE-----").next())
        .expect("a certificate was served");
    let stored = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|c| c.split("-----END CERTIFICATE-----").next())
        .unwrap();
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(squash(served), squash(stored));
}

#[tokio::test]
async fn tls_1_1_and_older_are_refused_and_tls_1_2_and_1_3_are_served() {
    let s = TestServer::start().await;
    let addr = s.running.gateway_tls_addr.to_string();
    let handshake = |flag: &'static str| {
        let addr = addr.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut child = std::process::Command::new("openssl")
                    .args(["s_client", "-connect", &addr, flag])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                drop(child.stdin.take());
                let out = child.wait_with_output().unwrap();
                String::from_utf8_lossy(&out.stdout).to_string()
            })
            .await
            .unwrap()
        }
    };
    let new13 = handshake("-tls1_3").await;
    assert!(new13.contains("New, TLSv1.3, Cipher is TLS_"), "{new13}");
    let new12 = handshake("-tls1_2").await;
    assert!(new12.contains("New, TLSv1.2, Cipher is ECDHE-"), "{new12}");
    // openssl prints a failed handshake as a session with no cipher.
    let old = handshake("-tls1_1").await;
    assert!(
        old.contains("Cipher is (NONE)"),
        "a TLS 1.1 handshake succeeded: {old}"
    );
    assert!(
        !old.contains("written 0 bytes"),
        "openssl sent no TLS 1.1 hello: {old}"
    );
}

#[tokio::test]
async fn a_stalled_or_garbage_handshake_is_cut_off_without_hurting_other_connections() {
    let s = TestServer::start_with(|a| a.client_timeout_ms = 300).await;
    let addr = s.running.gateway_tls_addr;
    // Sends nothing: closed once the client timeout passes.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Sends what is not TLS: closed at once.
    let mut garbage = tokio::net::TcpStream::connect(addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while garbage.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "a connection speaking plain HTTP to TLS stays open"
    );
    // Meanwhile a real client is served.
    let client = client_trusting(&instance_pem(&s));
    let mut tls = tls_connect(addr, "localhost", client).await.unwrap();
    let (status, _, _) = exchange(&mut tls, b"GET /none HTTP/1.1\r\nhost: localhost\r\n\r\n").await;
    assert_eq!(status, 404);
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while stalled.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    assert!(closed.is_ok(), "a stalled handshake held its connection");
    let counted = within(Duration::from_secs(2), || async {
        let m = reqwest::get(format!("http://{}/metrics", s.running.admin_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        m.contains("apigw_tls_handshake_failures_total 2")
    })
    .await;
    assert!(
        counted.is_some(),
        "the two failed handshakes are not counted"
    );
}
