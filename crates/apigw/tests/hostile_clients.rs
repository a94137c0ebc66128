//! Hostile clients on the data plane (issue #10): oversize URIs, headers and bodies, ambiguous
//! framing, bad bytes in headers, slow clients and too many connections. Each is answered with
//! APIG's code (or, where the request cannot be framed, its plain status) and a well-behaved client
//! keeps being served meanwhile. Raw TCP, so the bytes are exactly what a hostile client sends.

use apigw_testkit::{http_api, oversize_chunked_upload, Backend, TestServer};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct World {
    s: TestServer,
    backend: Backend,
    host: String,
}

impl World {
    async fn new(adjust: impl FnOnce(&mut apigw::config::ServeArgs)) -> Self {
        let s = TestServer::start_with(adjust).await;
        let backend = Backend::start().await;
        let (group, host) = s.admin.create_group("hostile").await;
        // An app whose key a signed call can name (its signature may still be wrong).
        let app = json!({"name": "slow_app", "app_key": "slow-app-key-01", "app_secret": "slow-app-secret-01"});
        assert_eq!(s.admin.post("/apps", &app).await.status, 201);
        let addr = backend.addr.to_string();
        for (name, auth) in [("open", "NONE"), ("signed", "APP")] {
            let mut body = http_api(name, &group, "ANY", &format!("/{name}"), &addr, "/echo");
            body["auth_type"] = json!(auth);
            s.admin.create_published_api(body).await;
        }
        Self { s, backend, host }
    }

    fn addr(&self) -> SocketAddr {
        self.s.running.gateway_addr
    }

    /// Sends raw bytes on a new connection; returns everything read until the server closes
    /// (or 5 s pass).
    async fn raw(&self, bytes: &[u8]) -> String {
        let mut c = TcpStream::connect(self.addr()).await.unwrap();
        // The server may answer and close before reading all of a large request.
        let _ = c.write_all(bytes).await;
        read_all(&mut c).await
    }

    fn get(&self, target: &str, extra: &str) -> Vec<u8> {
        format!(
            "GET {target} HTTP/1.1\r\nhost: {}\r\n{extra}connection: close\r\n\r\n",
            self.host
        )
        .into_bytes()
    }

    /// A well-behaved call on its own connection.
    async fn ok_call(&self) -> String {
        self.raw(&self.get("/open", "")).await
    }
}

async fn read_all(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn apig_body(resp: &str) -> serde_json::Value {
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not an APIG body: {resp}"))
}

#[tokio::test]
async fn a_uri_over_32_kib_is_414_apig_0201_and_one_under_passes() {
    let w = World::new(|_| {}).await;
    let long = format!("/open?q={}", "a".repeat(33 * 1024));
    let r = w.raw(&w.get(&long, "")).await;
    assert_eq!(status(&r), 414, "{r:.200}");
    assert_eq!(apig_body(&r)["error_code"], "APIG.0201");
    assert_eq!(apig_body(&r)["error_msg"], "Request URI too large");
    assert_eq!(w.backend.calls(), 0);
    let fits = format!("/open?q={}", "a".repeat(31 * 1024));
    assert_eq!(status(&w.raw(&w.get(&fits, "")).await), 200);
}

#[tokio::test]
async fn a_header_over_32_kib_or_headers_over_128_kib_are_494_apig_0201() {
    let w = World::new(|_| {}).await;
    let one = format!("x-big: {}\r\n", "b".repeat(33 * 1024));
    let r = w.raw(&w.get("/open", &one)).await;
    assert!(
        r.starts_with("HTTP/1.1 494 Request Header Too Large\r\n"),
        "{r:.200}"
    );
    assert_eq!(apig_body(&r)["error_code"], "APIG.0201");
    assert_eq!(apig_body(&r)["error_msg"], "Request headers too large");
    let many: String = (0..5)
        .map(|i| format!("x-h{i}: {}\r\n", "c".repeat(30 * 1024)))
        .collect();
    assert_eq!(status(&w.raw(&w.get("/open", &many)).await), 494);
    assert_eq!(w.backend.calls(), 0);
    let within: String = (0..3)
        .map(|i| format!("x-h{i}: {}\r\n", "c".repeat(30 * 1024)))
        .collect();
    assert_eq!(status(&w.raw(&w.get("/open", &within)).await), 200);
}

#[tokio::test]
async fn a_head_beyond_the_buffer_is_cut_off_and_the_gateway_goes_on() {
    let w = World::new(|_| {}).await;
    let huge: String = (0..64)
        .map(|i| format!("x-huge-{i}: {}\r\n", "d".repeat(16 * 1024)))
        .collect();
    let r = w.raw(&w.get("/open", &huge)).await;
    // Past the 256 KiB the gateway buffers for a head: 431 and closed; nothing reaches a
    // backend.
    assert_eq!(status(&r), 431, "{r:.200}");
    assert_eq!(w.backend.calls(), 0);
    assert_eq!(status(&w.ok_call().await), 200);
}

#[tokio::test]
async fn bodies_over_12_mib_are_413_whether_announced_or_chunked() {
    let w = World::new(|_| {}).await;
    let announced = format!(
        "POST /open HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        w.host,
        13 * 1024 * 1024
    );
    let r = w.raw(announced.as_bytes()).await;
    assert_eq!(status(&r), 413, "{r:.200}");
    assert_eq!(apig_body(&r)["error_msg"], "Request entity too large");
    // The same length twice, as a list (one length, RFC 9110 §8.6): refused up front as well,
    // before the backend is called with a body cut at 12 MiB.
    let before = w.backend.calls();
    let listed = format!(
        "POST /open HTTP/1.1\r\nhost: {}\r\ncontent-length: {n}, {n}\r\nconnection: close\r\n\r\n",
        w.host,
        n = 13 * 1024 * 1024
    );
    let r = w.raw(listed.as_bytes()).await;
    assert_eq!(status(&r), 413, "{r:.200}");
    assert_eq!(w.backend.calls(), before, "the backend was not called");

    // Chunked: no length up front, so the gateway counts while streaming and stops at 12 MiB.
    let r = oversize_chunked_upload(w.addr(), "POST", "/open", &w.host).await;
    assert_eq!(status(&r), 413, "{r:.200}");
    assert_eq!(apig_body(&r)["error_code"], "APIG.0201");
    assert_eq!(status(&w.ok_call().await), 200);
}

#[tokio::test]
async fn content_length_with_transfer_encoding_smuggles_nothing() {
    let w = World::new(|_| {}).await;
    // The classic CL.TE smuggling shape: a proxy trusting one framing and a backend the other
    // would see a second request hidden in the body. The gateway frames by Transfer-Encoding
    // alone (RFC 9112 §6.1), answers once and closes the connection: the hidden GET is never
    // read as a request, and the backend gets one request with the chunked (empty) body.
    for cl_first in [true, false] {
        let (a, b) = ("content-length: 44\r\n", "transfer-encoding: chunked\r\n");
        let (first, second) = if cl_first { (a, b) } else { (b, a) };
        let smuggle = format!(
            "POST /open HTTP/1.1\r\nhost: {}\r\n{first}{second}\r\n\
             0\r\n\r\nGET /open HTTP/1.1\r\nhost: {}\r\n\r\n",
            w.host, w.host
        );
        let before = w.backend.calls();
        let r = w.raw(smuggle.as_bytes()).await;
        assert_eq!(status(&r), 200, "{r:.300}");
        assert_eq!(r.matches("HTTP/1.1 ").count(), 1, "one answer only: {r}");
        assert_eq!(
            w.backend.calls(),
            before + 1,
            "the hidden request got through"
        );
        let echoed = apig_body(&r);
        assert_eq!(echoed["body"], "", "{echoed}");
    }

    // Two different lengths, and a non-chunked transfer coding: refused with 400.
    let two_lengths = format!(
        "POST /open HTTP/1.1\r\nhost: {}\r\ncontent-length: 3\r\ncontent-length: 5\r\n\r\nabcde",
        w.host
    );
    assert_eq!(status(&w.raw(two_lengths.as_bytes()).await), 400);
    let gzip_te = format!(
        "POST /open HTTP/1.1\r\nhost: {}\r\ntransfer-encoding: gzip\r\n\r\nabc",
        w.host
    );
    assert_eq!(status(&w.raw(gzip_te.as_bytes()).await), 400);
    assert_eq!(status(&w.ok_call().await), 200);
}

#[tokio::test]
async fn transfer_codings_besides_chunked_are_refused_not_forwarded_undecoded() {
    let w = World::new(|_| {}).await;
    let before = w.backend.calls();
    // gzip before chunked, on one line or two: the gateway cannot forward the body with its
    // own framing without decoding it (RFC 9112 §6.1: 501).
    for te in [
        "transfer-encoding: gzip, chunked\r\n",
        "transfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n",
    ] {
        let req = format!(
            "POST /open HTTP/1.1\r\nhost: {}\r\n{te}\r\n3\r\nabc\r\n0\r\n\r\n",
            w.host
        );
        assert_eq!(status(&w.raw(req.as_bytes()).await), 501, "{te}");
    }
    // chunked applied twice: the body's end cannot be told.
    let twice = format!(
        "POST /open HTTP/1.1\r\nhost: {}\r\ntransfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        w.host
    );
    assert_eq!(status(&w.raw(twice.as_bytes()).await), 400);
    assert_eq!(w.backend.calls(), before, "nothing reached the backend");
    assert_eq!(status(&w.ok_call().await), 200);
}

#[tokio::test]
async fn chunk_size_lines_that_peers_could_read_differently_break_the_body() {
    let w = World::new(|_| {}).await;
    // An empty size (read by some as the last chunk), a bare LF inside an extension (read by
    // some as the end of the line): either could hide a request in a body.
    for bad in [
        "\r\n",
        "3;a\nXX\r\nabc\r\n0\r\n\r\n",
        "3;\0\r\nabc\r\n0\r\n\r\n",
    ] {
        let req = format!(
            "POST /open HTTP/1.1\r\nhost: {}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{bad}",
            w.host
        );
        let r = w.raw(req.as_bytes()).await;
        // The body streams to the backend: the call is cut there, never completed.
        assert_eq!(status(&r), 400, "{bad:?}: {r:.300}");
    }
    assert_eq!(status(&w.ok_call().await), 200);
}

#[tokio::test]
async fn bad_bytes_in_headers_are_answered_cleanly() {
    let w = World::new(|_| {}).await;
    // Not UTF-8 (obs-text): legal bytes on the wire, forwarded untouched.
    let mut latin1 = w.get("/open", "");
    let at = latin1.len() - "connection: close\r\n\r\n".len();
    latin1.splice(at..at, b"x-name: caf\xe9\r\n".iter().copied());
    let r = w.raw(&latin1).await;
    assert_eq!(status(&r), 200, "{r:.300}");
    // A bare CR inside a value, a NUL, a space in a name: malformed, 400, nothing forwarded.
    for bad in [
        &b"x-a: one\rtwo\r\n"[..],
        &b"x-a: nul\0here\r\n"[..],
        &b"x bad: v\r\n"[..],
    ] {
        let mut req = w.get("/open", "");
        let at = req.len() - "connection: close\r\n\r\n".len();
        req.splice(at..at, bad.iter().copied());
        let r = w.raw(&req).await;
        assert_eq!(
            status(&r),
            400,
            "{:?} → {r:.300}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(w.backend.calls(), 1);
    assert_eq!(status(&w.ok_call().await), 200);
}

#[tokio::test]
async fn slow_clients_are_cut_off_after_the_client_timeout() {
    let w = World::new(|a| a.client_timeout_ms = 500).await;
    // Slow headers (slowloris): the connection is closed, no backend is called.
    let mut slow = TcpStream::connect(w.addr()).await.unwrap();
    slow.write_all(format!("GET /open HTTP/1.1\r\nhost: {}\r\n", w.host).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let _ = read_all(&mut slow).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // A slow body the gateway must read whole (a signed call covers its body): 408. The
    // signature's header, date and key are good (so the body is read), its value is not.
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let mut c = TcpStream::connect(w.addr()).await.unwrap();
    let head = format!(
        "POST /signed HTTP/1.1\r\nhost: {}\r\nx-sdk-date: {date}\r\nauthorization: SDK-HMAC-SHA256 \
         Access=slow-app-key-01, SignedHeaders=host;x-sdk-date, Signature={zeros}\r\n\
         content-length: 100\r\nconnection: close\r\n\r\n0123456789",
        w.host,
        zeros = "0".repeat(64)
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let r = read_all(&mut c).await;
    assert_eq!(status(&r), 408, "{r:.300}");
    assert_eq!(apig_body(&r)["error_code"], "APIG.0201");

    // An idle keep-alive connection is closed after the same time.
    let mut idle = TcpStream::connect(w.addr()).await.unwrap();
    idle.write_all(format!("GET /open HTTP/1.1\r\nhost: {}\r\n\r\n", w.host).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let r = read_all(&mut idle).await;
    assert_eq!(status(&r), 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "idle connection held open"
    );
    assert_eq!(w.backend.calls(), 1);
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_held_ones_keep_working() {
    let w = World::new(|a| a.max_connections = 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(w.addr()).await.unwrap());
    }
    // Let the gateway accept all four.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = w.ok_call().await;
    assert_eq!(status(&r), 503, "{r:.300}");
    assert_eq!(apig_body(&r)["error_msg"], "Too many connections");
    assert!(r.to_ascii_lowercase().contains("retry-after: 1"));

    // A held connection is served.
    let mut first = held.remove(0);
    first.write_all(&w.get("/open", "")).await.unwrap();
    assert_eq!(status(&read_all(&mut first).await), 200);
    // Its slot is free again once it closed.
    drop(first);
    let mut served = false;
    for _ in 0..50 {
        if status(&w.ok_call().await) == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a freed slot was not reused");
    let metrics = w.s.admin.metrics().await;
    assert!(
        !metrics.contains("apigw_rejected_connections_total 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_good_client_is_served_while_slow_clients_hold_connections() {
    let w = World::new(|a| a.client_timeout_ms = 10_000).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut c = TcpStream::connect(w.addr()).await.unwrap();
        c.write_all(b"GET /open HTTP/1.1\r\nhost: ").await.unwrap();
        slow.push(c);
    }
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(status(&w.ok_call().await), 200);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    drop(slow);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_the_client_timeout() {
    let w = World::new(|a| {
        a.max_connections = 1;
        a.client_timeout_ms = 300;
    })
    .await;
    // Large answers (the backend echoes each 1 MiB body), pipelined, never read: the gateway's
    // writes back up once the socket buffers are full.
    let mut c = TcpStream::connect(w.addr()).await.unwrap();
    let body = vec![b'a'; 1024 * 1024];
    let head = format!(
        "POST /open HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n\r\n",
        w.host,
        body.len()
    );
    let request = [head.into_bytes(), body].concat();
    let writer = tokio::spawn(async move {
        for _ in 0..64 {
            if c.write_all(&request).await.is_err() {
                break;
            }
        }
        c
    });
    // It holds the only connection slot (others get 503) until the gateway gives up on it.
    let start = Instant::now();
    let mut served = false;
    while start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if status(&w.ok_call().await) == 200 {
            served = true;
            break;
        }
    }
    writer.abort();
    assert!(
        served,
        "a client that reads nothing still holds its connection after {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn an_answer_before_an_expected_body_was_asked_for_closes_the_connection() {
    let w = World::new(|_| {}).await;
    // `Expect: 100-continue`, answered (404) before the body was asked for: the client may
    // send the body or skip it, so the bytes that follow cannot be told from a next request.
    let req = format!(
        "POST /nowhere HTTP/1.1\r\nhost: {}\r\nexpect: 100-continue\r\ncontent-length: 10\r\n\r\n",
        w.host
    );
    let started = Instant::now();
    let r = w.raw(req.as_bytes()).await;
    assert_eq!(status(&r), 404, "{r:.300}");
    assert!(
        !r.contains("100 Continue"),
        "the body was never asked for: {r:.300}"
    );
    assert!(
        r.to_ascii_lowercase().contains("connection: close"),
        "{r:.300}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the gateway waited for a body it never asked for"
    );
}

#[tokio::test]
async fn a_request_must_name_its_host_once_and_an_absolute_target_names_it() {
    let w = World::new(|_| {}).await;
    // No Host in HTTP/1.1, or two: 400 (RFC 9112 §3.2) — two hosts could be routed by one and
    // read by the backend by the other.
    let none = "GET /open HTTP/1.1\r\n\r\n".to_string();
    assert_eq!(status(&w.raw(none.as_bytes()).await), 400);
    let two = format!(
        "GET /open HTTP/1.1\r\nhost: {}\r\nhost: elsewhere.example\r\n\r\n",
        w.host
    );
    assert_eq!(status(&w.raw(two.as_bytes()).await), 400);
    // A target in absolute form names the host, over the Host header (RFC 9112 §3.2.2).
    let absolute = format!(
        "GET http://{}/open HTTP/1.1\r\nhost: elsewhere.example\r\nconnection: close\r\n\r\n",
        w.host
    );
    let r = w.raw(absolute.as_bytes()).await;
    assert_eq!(status(&r), 200, "{r:.300}");
    // ...and Host becomes it, for the signature and the backend alike.
    assert_eq!(
        apig_body(&r)["headers"]["x-forwarded-host"],
        json!([w.host]),
        "{r:.600}"
    );
    assert_eq!(status(&w.ok_call().await), 200);
}

#[tokio::test]
async fn naming_the_framing_in_connection_does_not_unframe_the_body() {
    let w = World::new(|_| {}).await;
    // `Connection: content-length` must not make the body's bytes read as a next request.
    let req = format!(
        "POST /open HTTP/1.1\r\nhost: {h}\r\nconnection: content-length\r\ncontent-length: 39\r\n\r\n\
         GET /open HTTP/1.1\r\nhost: x.example\r\n\r\n",
        h = w.host
    );
    let before = w.backend.calls();
    let mut c = TcpStream::connect(w.addr()).await.unwrap();
    c.write_all(req.as_bytes()).await.unwrap();
    c.write_all(
        format!(
            "GET /open HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            w.host
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let r = read_all(&mut c).await;
    assert_eq!(r.matches("HTTP/1.1 200").count(), 2, "{r}");
    assert_eq!(
        w.backend.calls(),
        before + 2,
        "the body was read as a request"
    );
    assert!(
        r.contains("GET /open HTTP/1.1"),
        "the body reached the backend as a body: {r:.600}"
    );
}

#[tokio::test]
async fn a_connection_header_naming_more_than_any_peer_does_is_refused() {
    let w = World::new(|_| {}).await;
    // Each named header is looked for among the request's: a list of thousands is refused
    // before it is read, not scanned once per name.
    let names: Vec<String> = (0..5000).map(|i| format!("x-{i}")).collect();
    let req = format!(
        "GET /open HTTP/1.1\r\nhost: {}\r\nconnection: {}\r\n\r\n",
        w.host,
        names.join(",")
    );
    assert_eq!(status(&w.raw(req.as_bytes()).await), 400);
    // A real one still works: the header it names goes, the call is served.
    let ok = format!(
        "GET /open HTTP/1.1\r\nhost: {}\r\nconnection: close, x-drop\r\nx-drop: 1\r\n\r\n",
        w.host
    );
    let r = w.raw(ok.as_bytes()).await;
    assert_eq!(status(&r), 200, "{r:.300}");
    assert!(apig_body(&r)["headers"].get("x-drop").is_none(), "{r:.600}");
}
