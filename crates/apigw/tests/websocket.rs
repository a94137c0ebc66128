//! WebSocket through the gateway (SPEC §8), with tokio-tungstenite on both ends: a real
//! WebSocket server as the backend and a real client, the handshake passing routing and a
//! rate_limit plug-in, then a tunnel both ways; over plain HTTP (`ws`) and TLS (`wss`).

use apigw_testkit::{client_trusting, http_api, TestServer, RELEASE};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket echo server: every message comes back, and a text message "push" also makes
/// the server send "pushed" first (a message the client did not answer).
async fn echo_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if msg.is_close() {
                        break;
                    }
                    if msg == Message::text("push") {
                        let _ = ws.send(Message::text("pushed")).await;
                    }
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, received)
}

/// A published API at `/ws` (HTTP and HTTPS) to `backend`, with a rate_limit of `limit`
/// handshakes an hour; returns its host.
async fn published(s: &TestServer, backend: std::net::SocketAddr, limit: u64) -> String {
    let (group, host) = s.admin.create_group("sockets").await;
    let mut body = http_api("chat", &group, "GET", "/ws", &backend.to_string(), "/chat");
    body["req_protocol"] = "BOTH".into();
    let id = s.admin.create_published_api(body).await;
    let p = s
        .admin
        .create_plugin(
            "ws limit",
            "rate_limit",
            json!({"api_limit": limit, "default_time_unit": "hour"}),
        )
        .await;
    s.admin.bind(&p, RELEASE, &[&id]).await;
    host
}

fn request(url: &str, host: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut r = url.into_client_request().unwrap();
    r.headers_mut().insert("host", host.parse().unwrap());
    r
}

#[tokio::test]
async fn messages_cross_both_ways_and_the_handshake_counts_against_rate_limit() {
    let s = TestServer::start().await;
    let (backend, _) = echo_server().await;
    let host = published(&s, backend, 2).await;
    let url = format!("ws://{}/ws", s.running.gateway_addr);
    let (mut ws, answer) = tokio_tungstenite::connect_async(request(&url, &host))
        .await
        .expect("the handshake passes through the gateway");
    assert_eq!(answer.status(), 101);
    assert!(answer.headers().contains_key("x-ratelimit-limit"));
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    // A message the server sends on its own.
    ws.send(Message::text("push")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("pushed"));
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("push"));
    // A large message, in many TCP segments.
    let big = "x".repeat(300_000);
    ws.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(big));
    ws.close(None).await.unwrap();

    // The second handshake passes, the third is throttled before any backend sees it.
    let second = tokio_tungstenite::connect_async(request(&url, &host)).await;
    assert!(second.is_ok());
    match tokio_tungstenite::connect_async(request(&url, &host)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("the third handshake was not throttled: {other:?}"),
    }
}

#[tokio::test]
async fn wss_on_the_tls_listener_tunnels_too() {
    let s = TestServer::start().await;
    let (backend, _) = echo_server().await;
    let host = published(&s, backend, 100).await;
    let pem = std::fs::read_to_string(s.dir.path().join("instance.crt")).unwrap();
    let tls = apigw_testkit::tls_connect(s.running.gateway_tls_addr, &host, client_trusting(&pem))
        .await
        .unwrap();
    let url = format!("wss://{host}/ws");
    let (mut ws, _) = tokio_tungstenite::client_async(request(&url, &host), tls)
        .await
        .expect("the handshake over TLS");
    ws.send(Message::text("over tls")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over tls"));
}

#[tokio::test]
async fn an_idle_tunnel_is_closed_after_the_client_timeout() {
    let s = TestServer::start_with(|a| a.client_timeout_ms = 300).await;
    let (backend, _) = echo_server().await;
    let host = published(&s, backend, 100).await;
    let url = format!("ws://{}/ws", s.running.gateway_addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(request(&url, &host))
        .await
        .unwrap();
    ws.send(Message::text("one")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("one"));
    // Nothing moves: the gateway closes the tunnel.
    let closed = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    match closed {
        Ok(None) | Ok(Some(Err(_))) => {}
        other => panic!("the idle tunnel stayed open: {other:?}"),
    }
}

#[tokio::test]
async fn a_frame_over_the_limit_cuts_the_tunnel_before_the_backend_gets_it() {
    let s = TestServer::start().await;
    let (backend, received) = echo_server().await;
    let host = published(&s, backend, 100).await;
    let url = format!("ws://{}/ws", s.running.gateway_addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(request(&url, &host))
        .await
        .unwrap();
    // 12 MiB + 1 in one frame: over APIG's request limit.
    let huge = vec![7u8; 12 * 1024 * 1024 + 1];
    let _ = ws.send(Message::binary(huge)).await;
    let after = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    match after {
        Ok(None) | Ok(Some(Err(_))) => {}
        other => panic!("the tunnel carried on: {other:?}"),
    }
    assert_eq!(
        received.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the backend received the frame"
    );
}

#[tokio::test]
async fn a_backend_that_refuses_the_handshake_answers_as_http() {
    let s = TestServer::start().await;
    // A plain HTTP backend: it answers the handshake 200, not 101.
    let backend = apigw_testkit::Backend::start().await;
    let host = published(&s, backend.addr, 100).await;
    let url = format!("ws://{}/ws", s.running.gateway_addr);
    match tokio_tungstenite::connect_async(request(&url, &host)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 200);
            let echo: serde_json::Value =
                serde_json::from_slice(r.body().as_deref().unwrap_or_default()).unwrap();
            // The backend saw the handshake's Upgrade.
            assert_eq!(echo["headers"]["upgrade"][0], "websocket");
            assert_eq!(echo["headers"]["connection"][0], "upgrade");
        }
        other => panic!("expected the backend's 200: {other:?}"),
    }
}
