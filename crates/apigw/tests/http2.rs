//! HTTP/2 end to end (SPEC §8): the `h2` crate and curl as clients, h2c with prior knowledge on
//! the plain listener and ALPN `h2` on the TLS one, a published API with a real backend and a
//! rate_limit plug-in behaving as over HTTP/1.1.

use apigw_testkit::{client_trusting, http_api, Backend, TestServer, RELEASE};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;

/// A published API at `/h2` with a rate_limit of `limit` calls an hour; returns its host.
async fn published(s: &TestServer, backend: &Backend, limit: u64) -> String {
    let (group, host) = s.admin.create_group("http2").await;
    let mut body = http_api(
        "http2",
        &group,
        "ANY",
        "/h2",
        &backend.addr.to_string(),
        "/echo",
    );
    body["req_protocol"] = "BOTH".into();
    let id = s.admin.create_published_api(body).await;
    let p = s
        .admin
        .create_plugin(
            "limit",
            "rate_limit",
            json!({"api_limit": limit, "default_time_unit": "hour"}),
        )
        .await;
    s.admin.bind(&p, RELEASE, &[&id]).await;
    host
}

type Sender = h2::client::SendRequest<Bytes>;

/// An HTTP/2 client over `io`, its connection driven in the background.
async fn client<T>(io: T) -> Sender
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = h2::client::handshake(io).await.expect("the h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// One call: `(status, headers, body)`.
async fn call(
    send: &mut Sender,
    method: &str,
    url: &str,
    body: &[u8],
) -> (u16, http::HeaderMap, Vec<u8>) {
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut stream) = ready.send_request(request, body.is_empty()).unwrap();
    if !body.is_empty() {
        stream
            .send_data(Bytes::copy_from_slice(body), true)
            .unwrap();
    }
    let response = response.await.expect("a response");
    let (parts, mut recv) = response.into_parts();
    let mut out = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (parts.status.as_u16(), parts.headers, out)
}

#[tokio::test]
async fn h2c_with_prior_knowledge_carries_calls_and_plugins_as_http1_does() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let host = published(&s, &backend, 3).await;
    let tcp = tokio::net::TcpStream::connect(s.running.gateway_addr)
        .await
        .unwrap();
    let mut send = client(tcp).await;
    let url = format!("http://{host}/h2?q=1");
    // Concurrent streams on one connection, one with a body.
    let (mut s1, mut s2) = (send.clone(), send.clone());
    let (a, b) = tokio::join!(
        call(&mut s1, "GET", &url, b""),
        call(&mut s2, "POST", &url, b"payload")
    );
    assert_eq!(a.0, 200, "{}", String::from_utf8_lossy(&a.2));
    assert_eq!(b.0, 200);
    let echo: Value = serde_json::from_slice(&b.2).unwrap();
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["query"], "q=1");
    // The rate_limit plug-in's headers, then its 429 with APIG's body.
    assert_eq!(a.1["x-ratelimit-limit"], "3");
    let third = call(&mut send, "GET", &url, b"").await;
    assert_eq!(third.0, 200);
    let refused = call(&mut send, "GET", &url, b"").await;
    assert_eq!(refused.0, 429);
    assert!(refused.1.contains_key("retry-after"));
    let err: Value = serde_json::from_slice(&refused.2).unwrap();
    assert_eq!(err["error_code"], "APIG.0308");
    // An unknown path: APIG's 404 JSON, as over HTTP/1.1.
    let missing = call(&mut send, "GET", &format!("http://{host}/nope"), b"").await;
    assert_eq!(missing.0, 404);
    let err: Value = serde_json::from_slice(&missing.2).unwrap();
    assert_eq!(err["error_code"], "APIG.0101");
    assert_eq!(backend.calls(), 3);
    // Every answer carries the call's id, the plug-ins' and the gateway's own alike.
    for headers in [&a.1, &refused.1, &missing.1] {
        assert_eq!(headers["x-request-id"].len(), 32, "{headers:?}");
    }
}

#[tokio::test]
async fn an_api_without_plugins_answers_http2_with_the_backends_headers_and_the_call_id() {
    // Nothing reads this API's response heads: they stay as the backend sent them until the
    // HTTP/2 writer reads them into its header map.
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let (group, host) = s.admin.create_group("http2_plain").await;
    let mut body = http_api(
        "plain",
        &group,
        "GET",
        "/plain",
        &backend.addr.to_string(),
        "/echo",
    );
    body["req_protocol"] = "BOTH".into();
    s.admin.create_published_api(body).await;
    let tcp = tokio::net::TcpStream::connect(s.running.gateway_addr)
        .await
        .unwrap();
    let mut send = client(tcp).await;
    let (status, headers, out) = call(&mut send, "GET", &format!("http://{host}/plain"), b"").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{headers:?}"
    );
    assert_eq!(headers["content-length"], out.len().to_string().as_str());
    assert_eq!(
        headers.get_all("x-request-id").iter().count(),
        1,
        "{headers:?}"
    );
    assert_eq!(headers["x-request-id"].len(), 32);
    let echo: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(echo["path"], "/echo");
}

#[tokio::test]
async fn alpn_h2_on_the_tls_listener_serves_calls() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let host = published(&s, &backend, 100).await;
    let pem = std::fs::read_to_string(s.dir.path().join("instance.crt")).unwrap();
    let mut config = Arc::unwrap_or_clone(client_trusting(&pem));
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tls = apigw_testkit::tls_connect(s.running.gateway_tls_addr, &host, Arc::new(config))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut send = client(tls).await;
    let (status, _, body) = call(&mut send, "GET", &format!("https://{host}/h2"), b"").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(backend.calls(), 1);
}

#[tokio::test]
async fn curl_speaks_http2_to_both_listeners() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let host = published(&s, &backend, 100).await;
    let ca = s.dir.path().join("instance.crt");
    let plain = s.running.gateway_addr;
    let tls = s.running.gateway_tls_addr;
    let out = tokio::task::spawn_blocking(move || {
        let run = |args: Vec<String>| {
            let out = std::process::Command::new("curl")
                .args(&args)
                .output()
                .expect("curl is installed");
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        let h2c = run(vec![
            "-s".into(),
            "--http2-prior-knowledge".into(),
            "-w".into(),
            " %{http_version} %{http_code}".into(),
            "-H".into(),
            format!("host: {host}"),
            format!("http://{plain}/h2"),
        ]);
        let h2 = run(vec![
            "-s".into(),
            "--http2".into(),
            "--cacert".into(),
            ca.display().to_string(),
            "--resolve".into(),
            format!("{host}:{}:127.0.0.1", tls.port()),
            "-w".into(),
            " %{http_version} %{http_code}".into(),
            format!("https://{host}:{}/h2", tls.port()),
        ]);
        (h2c, h2)
    })
    .await
    .unwrap();
    assert!(out.0.ends_with(" 2 200"), "h2c: {}", out.0);
    assert!(out.1.ends_with(" 2 200"), "h2 over TLS: {}", out.1);
}

#[tokio::test]
async fn with_http2_switched_off_tls_offers_http1_only_and_the_preface_is_refused() {
    let s = TestServer::start_with(|a| a.disable_http2 = true).await;
    let pem = std::fs::read_to_string(s.dir.path().join("instance.crt")).unwrap();
    let mut config = Arc::unwrap_or_clone(client_trusting(&pem));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = apigw_testkit::tls_connect(s.running.gateway_tls_addr, "localhost", Arc::new(config))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    // The preface where a request would be: refused as HTTP/1.1 refuses what it cannot read.
    let mut tcp = tokio::net::TcpStream::connect(s.running.gateway_addr)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

#[tokio::test]
async fn a_rapid_reset_flood_ends_its_connection_and_others_are_served() {
    let s = TestServer::start().await;
    let backend = Backend::start().await;
    let (group, host) = s.admin.create_group("flood").await;
    s.admin
        .create_published_api(http_api(
            "slow",
            &group,
            "GET",
            "/slow",
            &backend.addr.to_string(),
            "/slow/3000",
        ))
        .await;
    let tcp = tokio::net::TcpStream::connect(s.running.gateway_addr)
        .await
        .unwrap();
    let send = client(tcp).await;
    let url = format!("http://{host}/slow");
    // Streams opened and reset at once, as fast as the client can (CVE-2023-44487).
    let mut sent = 0;
    for _ in 0..2000 {
        let Ok(mut ready) = send.clone().ready().await else {
            break;
        };
        let request = http::Request::get(&url).body(()).unwrap();
        match ready.send_request(request, true) {
            Ok((_, mut stream)) => {
                stream.send_reset(h2::Reason::CANCEL);
                sent += 1;
            }
            Err(_) => break,
        }
        tokio::task::yield_now().await;
    }
    // The gateway ended the connection before the flood was over …
    assert!(
        sent < 2000,
        "2000 streams opened and reset on one connection"
    );
    // … the backend saw a bounded part of it, and another client is served meanwhile.
    assert!(backend.calls() <= 256, "{} backend calls", backend.calls());
    let other = tokio::net::TcpStream::connect(s.running.gateway_addr)
        .await
        .unwrap();
    let mut other = client(other).await;
    let (group2, host2) = s.admin.create_group("calm").await;
    s.admin
        .create_published_api(http_api(
            "fast",
            &group2,
            "GET",
            "/fast",
            &backend.addr.to_string(),
            "/fast",
        ))
        .await;
    let (status, _, _) = call(&mut other, "GET", &format!("http://{host2}/fast"), b"").await;
    assert_eq!(status, 200);
}

/// An HTTP/2 frame: length, type, flags, stream and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[tokio::test]
async fn a_continuation_flood_ends_its_connection_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let tcp = tokio::net::TcpStream::connect(s.running.gateway_addr)
        .await
        .unwrap();
    let (mut rx, mut tx) = tcp.into_split();
    // A header block that never ends: HEADERS without END_HEADERS, then CONTINUATION frames
    // of literal headers, up to 64 MiB in all.
    let mut field = vec![0x00, 5];
    field.extend_from_slice(b"x-pad");
    field.push(0x7f);
    field.push(0x81); // 127 + 1 + 0x7f … : a 255-byte value
    field.push(0x01);
    field.extend(std::iter::repeat_n(b'a', 255));
    let block: Vec<u8> = field.iter().cycle().take(16_000).copied().collect();
    let writer = tokio::spawn(async move {
        tx.write_all(h2_preface()).await?;
        tx.write_all(&frame(0x4, 0, 0, &[])).await?; // SETTINGS
        tx.write_all(&frame(0x1, 0x1, 1, &block)).await?; // HEADERS, END_STREAM
        for _ in 0..4096 {
            tx.write_all(&frame(0x9, 0, 1, &block)).await?; // CONTINUATION
        }
        Ok::<_, std::io::Error>(())
    });
    // The gateway reads a bounded part of it and ends the connection.
    let mut sink = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while rx.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection carried a 64 MiB header block"
    );
    let sent = writer.await.unwrap();
    assert!(sent.is_err(), "all 64 MiB of the header block were taken");
    // Another connection is served.
    let r = apigw_testkit::GatewayClient::new(s.running.gateway_addr)
        .get("/nothing")
        .await;
    assert_eq!(r.status, 404);
}

fn h2_preface() -> &'static [u8] {
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
}

#[tokio::test]
async fn a_settings_flood_from_a_client_that_does_not_read_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start_with(|a| a.client_timeout_ms = 300).await;
    let tcp = tokio::net::TcpStream::connect(s.running.gateway_addr)
        .await
        .unwrap();
    let (_rx, mut tx) = tcp.into_split();
    // SETTINGS frames without end, never reading the ACKs: the gateway's answers fill up.
    let settings = frame(0x4, 0, 0, &[0x00, 0x03, 0x00, 0x00, 0x00, 0x64]);
    let burst: Vec<u8> = settings
        .iter()
        .cycle()
        .take(settings.len() * 4096)
        .copied()
        .collect();
    let flood = async {
        tx.write_all(h2_preface()).await?;
        for _ in 0..2048 {
            tx.write_all(&burst).await?; // 60 KiB a burst, 120 MiB in all
        }
        Ok::<_, std::io::Error>(())
    };
    let cut = tokio::time::timeout(std::time::Duration::from_secs(20), flood).await;
    assert!(
        matches!(cut, Ok(Err(_))),
        "the flooding connection was not cut: {cut:?}"
    );
    let r = apigw_testkit::GatewayClient::new(s.running.gateway_addr)
        .get("/nothing")
        .await;
    assert_eq!(r.status, 404);
}
