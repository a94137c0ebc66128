//! HTTP/1.1 on the wire, both sides of the gateway (`server/h1.rs`, `upstream/h1.rs`).
//!
//! Backends: response framing (length, chunks, end of connection, HEAD, 1xx), connection reuse
//! and its limits, a pooled connection the backend closed, uploads by length and by chunks,
//! HTTPS backends and their CA. Clients: pipelining, `Expect: 100-continue`, HTTP/1.0, unread
//! bodies. The backends here are real TCP servers that answer from a script, byte for byte;
//! the clients write raw bytes. (Limits and hostile input: `hostile_clients.rs`.)

use apigw_testkit::{http_api, Backend, GatewayClient, TestCa, TestServer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a scripted backend does for one request.
#[derive(Debug, Clone)]
enum Step {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Wait a little (so the bytes above go out on their own).
    Pause,
    /// Close the connection.
    Close,
}

fn write(b: &[u8]) -> Step {
    Step::Write(b.to_vec())
}

/// Steps for request `req` (0, 1, …) on connection `conn` (0, 1, …).
type Script = Arc<dyn Fn(usize, usize) -> Vec<Step> + Send + Sync>;

/// A backend answering from a script; it records every request it read, raw.
struct RawBackend {
    addr: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RawBackend {
    async fn start(script: impl Fn(usize, usize) -> Vec<Step> + Send + Sync + 'static) -> Self {
        let script: Script = Arc::new(script);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let conn = c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(s, conn, script.clone(), r.clone()));
            }
        });
        Self {
            addr,
            connections,
            requests,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn request(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.requests.lock().unwrap()[i]).into_owned()
    }
}

async fn serve(mut s: TcpStream, conn: usize, script: Script, log: Arc<Mutex<Vec<Vec<u8>>>>) {
    let mut buf = Vec::new();
    for req in 0.. {
        let Some(raw) = read_request(&mut s, &mut buf).await else {
            return;
        };
        log.lock().unwrap().push(raw);
        for step in script(conn, req) {
            match step {
                Step::Write(b) => {
                    if s.write_all(&b).await.is_err() {
                        return;
                    }
                }
                Step::Pause => tokio::time::sleep(Duration::from_millis(20)).await,
                Step::Close => return,
            }
        }
    }
}

/// Reads one request (head and body, framed by length or chunks), raw.
async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap());
    let end = loop {
        if let Some(n) = length {
            if buf.len() >= head_end + n {
                break head_end + n;
            }
        } else if head.contains("transfer-encoding: chunked") {
            if let Some(i) = buf[head_end..].windows(5).position(|w| w == b"0\r\n\r\n") {
                break head_end + i + 5;
            }
        } else {
            break head_end;
        }
        let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    Some(buf.drain(..end).collect())
}

struct World {
    s: TestServer,
    gw: GatewayClient,
    group: String,
    host: String,
}

impl World {
    async fn new() -> Self {
        Self::with(TestServer::start().await).await
    }

    async fn with(s: TestServer) -> Self {
        let gw = GatewayClient::new(s.running.gateway_addr);
        let (group, host) = s.admin.create_group("wire").await;
        Self { s, gw, group, host }
    }

    /// Publishes `ANY uri` proxied to `backend` (`host:port`) over `protocol`.
    async fn api(&self, uri: &str, backend: &str, protocol: &str) {
        let name = format!("api{}", uri.replace('/', "_"));
        let mut body = http_api(&name, &self.group, "ANY", uri, backend, "/b");
        body["backend_api"]["req_protocol"] = protocol.into();
        self.s.admin.create_published_api(body).await;
    }

    async fn call(&self, method: &str, path: &str, body: &[u8]) -> apigw_testkit::Resp {
        self.gw
            .call(method, path, &[("host", self.host.as_str())], body)
            .await
    }
}

const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

#[tokio::test]
async fn a_chunked_response_reaches_the_client_whole_and_its_connection_is_reused() {
    let b = RawBackend::start(|_, _| {
        vec![
            write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-b: 1\r\n\r\n5\r\nhel"),
            Step::Pause,
            write(b"lo\r\n7;ext=1\r\n, world\r\n"),
            Step::Pause,
            write(b"0\r\nx-trailer: t\r\n\r\n"),
        ]
    })
    .await;
    let w = World::new().await;
    w.api("/chunked", &b.addr, "HTTP").await;
    for _ in 0..3 {
        let r = w.call("GET", "/chunked", b"").await;
        assert_eq!((r.status, r.text.as_str()), (200, "hello, world"));
        assert_eq!(r.headers["x-b"], "1");
    }
    assert_eq!(b.connections(), 1, "one connection carries every call");
}

#[tokio::test]
async fn a_response_delimited_by_the_end_of_the_connection_is_read_to_the_end() {
    let b = RawBackend::start(|_, _| {
        vec![
            write(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nall of "),
            Step::Pause,
            write(b"this"),
            Step::Close,
        ]
    })
    .await;
    let w = World::new().await;
    w.api("/close", &b.addr, "HTTP").await;
    for _ in 0..2 {
        let r = w.call("GET", "/close", b"").await;
        assert_eq!((r.status, r.text.as_str()), (200, "all of this"));
    }
    assert_eq!(
        b.connections(),
        2,
        "a close-delimited body uses its connection up"
    );
}

#[tokio::test]
async fn interim_1xx_responses_are_skipped() {
    let b = RawBackend::start(|_, _| {
        vec![
            write(b"HTTP/1.1 100 Continue\r\n\r\n"),
            Step::Pause,
            write(b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n"),
            write(OK_HELLO),
        ]
    })
    .await;
    let w = World::new().await;
    w.api("/interim", &b.addr, "HTTP").await;
    let r = w.call("POST", "/interim", b"body").await;
    assert_eq!((r.status, r.text.as_str()), (200, "hello"));
    assert!(
        !r.headers.contains_key("link"),
        "the 103's headers stay there"
    );
}

#[tokio::test]
async fn head_and_204_responses_carry_no_body_and_keep_the_connection() {
    let b = RawBackend::start(|_, req| {
        if req % 2 == 0 {
            // The length of the body a GET would have had; no body follows.
            vec![write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")]
        } else {
            vec![write(b"HTTP/1.1 204 No Content\r\n\r\n")]
        }
    })
    .await;
    let w = World::new().await;
    w.api("/nobody", &b.addr, "HTTP").await;
    for _ in 0..2 {
        let head = w.call("HEAD", "/nobody", b"").await;
        assert_eq!((head.status, head.text.as_str()), (200, ""));
        assert_eq!(head.headers["content-length"], "5");
        let empty = w.call("DELETE", "/nobody", b"").await;
        assert_eq!((empty.status, empty.text.as_str()), (204, ""));
    }
    assert_eq!(b.connections(), 1);
}

/// `/stale` on a backend whose first connection answers once, then closes when the next
/// request arrives (the race of a backend's idle timeout with a new request).
async fn closes_under_the_second_request() -> (RawBackend, World) {
    let b = RawBackend::start(|conn, req| {
        if conn == 0 && req == 1 {
            vec![Step::Close]
        } else {
            vec![write(OK_HELLO)]
        }
    })
    .await;
    let w = World::new().await;
    w.api("/stale", &b.addr, "HTTP").await;
    (b, w)
}

#[tokio::test]
async fn a_pooled_connection_the_backend_closed_is_retried_on_a_new_one() {
    let (b, w) = closes_under_the_second_request().await;
    let first = w.call("GET", "/stale", b"").await;
    assert_eq!((first.status, first.text.as_str()), (200, "hello"));
    let second = w.call("GET", "/stale", b"").await;
    assert_eq!((second.status, second.text.as_str()), (200, "hello"));
    assert_eq!(b.connections(), 2);
    assert_eq!(
        b.requests.lock().unwrap().len(),
        3,
        "the retry is the one extra request"
    );
}

#[tokio::test]
async fn a_post_on_a_pooled_connection_the_backend_closed_is_not_sent_twice() {
    // The backend read the second request and closed without answering: it may have acted
    // on it, so a POST is not retried (RFC 9110 §9.2.2) — 502, and the backend saw it once.
    let (b, w) = closes_under_the_second_request().await;
    // Without a body, so it is at hand to be sent again (a streamed body never is).
    let first = w.call("POST", "/stale", b"").await;
    assert_eq!((first.status, first.text.as_str()), (200, "hello"));
    let second = w.call("POST", "/stale", b"").await;
    assert_eq!(second.status, 502, "{}", second.text);
    assert_eq!(
        b.requests.lock().unwrap().len(),
        2,
        "no second copy of the POST"
    );
}

#[tokio::test]
async fn a_length_beside_chunks_is_ignored_and_the_connection_not_reused() {
    let b = RawBackend::start(|_, _| {
        vec![write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )]
    })
    .await;
    let w = World::new().await;
    w.api("/smuggle", &b.addr, "HTTP").await;
    for _ in 0..2 {
        let r = w.call("GET", "/smuggle", b"").await;
        assert_eq!((r.status, r.text.as_str()), (200, "abc"));
        assert_ne!(
            r.headers.get("content-length").map(|v| v.as_bytes()),
            Some(&b"100"[..])
        );
    }
    assert_eq!(b.connections(), 2);
}

#[tokio::test]
async fn a_broken_response_head_is_502_and_the_next_call_is_served() {
    let b = RawBackend::start(|conn, _| match conn {
        0 => vec![write(
            b"HTTP/1.1 200 OK\r\ncontent-length: five\r\n\r\nhello",
        )],
        1 => vec![write(b"NOT HTTP AT ALL\r\n\r\n")],
        _ => vec![write(OK_HELLO)],
    })
    .await;
    let w = World::new().await;
    w.api("/broken", &b.addr, "HTTP").await;
    for _ in 0..2 {
        let r = w.call("GET", "/broken", b"").await;
        assert_eq!((r.status, r.code()), (502, "APIG.0201"), "{}", r.text);
    }
    let r = w.call("GET", "/broken", b"").await;
    assert_eq!((r.status, r.text.as_str()), (200, "hello"));
}

#[tokio::test]
async fn uploads_reach_the_backend_framed_by_length_or_by_chunks() {
    let b = RawBackend::start(|_, _| vec![write(OK_HELLO)]).await;
    let w = World::new().await;
    w.api("/upload", &b.addr, "HTTP").await;
    // By length: 1 MiB streamed through.
    let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let r = w.call("PUT", "/upload", &big).await;
    assert_eq!(r.status, 200);
    let req = b.requests.lock().unwrap()[0].clone();
    let head_end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&req[..head_end]).to_string();
    assert!(head.starts_with("PUT /b HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("content-length: 1048576\r\n"), "{head}");
    assert_eq!(&req[head_end..], &big[..]);
    // By chunks: a client that sends chunks gets them to the backend as chunks.
    let mut c = TcpStream::connect(w.s.running.gateway_addr).await.unwrap();
    let upload = format!(
        "POST /upload HTTP/1.1\r\nhost: {}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         4\r\nwire\r\n6\r\n chunk\r\n0\r\n\r\n",
        w.host
    );
    c.write_all(upload.as_bytes()).await.unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let req = b.request(1);
    assert!(req.contains("transfer-encoding: chunked\r\n"), "{req}");
    assert!(!req.contains("content-length"), "{req}");
    assert!(
        req.ends_with("\r\n\r\n4\r\nwire\r\n6\r\n chunk\r\n0\r\n\r\n"),
        "{req:?}"
    );
    // No body: no framing headers on a GET.
    w.call("GET", "/upload", b"").await;
    let req = b.request(2);
    assert!(
        !req.contains("content-length") && !req.contains("transfer-encoding"),
        "{req}"
    );
}

#[tokio::test]
async fn https_backends_are_verified_against_the_public_roots_and_the_configured_ca() {
    let ca = TestCa::new();
    let echo = Backend::start().await;
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    apigw_testkit::tls_terminator(port, echo.addr.to_string(), ca.server_config()).await;
    let backend = format!("127.0.0.1:{port}");

    // Not trusted by default: the certificate is from a private CA.
    let w = World::new().await;
    w.api("/tls", &backend, "HTTPS").await;
    let r = w.call("GET", "/tls", b"").await;
    assert_eq!((r.status, r.code()), (502, "APIG.0201"));
    assert_eq!(echo.calls(), 0);

    // Trusted with APIGW_BACKEND_CA_FILE.
    let ca_file = ca.dir.path().join("ca.pem");
    let s = TestServer::start_with(|a| a.backend_ca_file = Some(ca_file)).await;
    let w = World::with(s).await;
    w.api("/tls", &backend, "HTTPS").await;
    for _ in 0..3 {
        let r = w.call("POST", "/tls?q=1", b"over tls").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["body"], "over tls");
        assert_eq!(r.json["query"], "q=1");
    }
    assert_eq!(echo.calls(), 3);
}

/// Writes `bytes` on `c`, then reads until `count` responses have come (each framed by its
/// `content-length`) or the connection closes.
async fn exchange(c: &mut TcpStream, bytes: &[u8], count: usize) -> String {
    c.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    let read = async {
        loop {
            if complete_responses(&got) >= count {
                return;
            }
            match c.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the answers come");
    String::from_utf8_lossy(&got).into_owned()
}

/// How many whole responses with a `content-length` `bytes` holds.
fn complete_responses(mut bytes: &[u8]) -> usize {
    let mut n = 0;
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if bytes.len() < end + 4 + len {
            break;
        }
        bytes = &bytes[end + 4 + len..];
        n += 1;
    }
    n
}

#[tokio::test]
async fn a_backend_head_reaches_the_client_as_sent_but_for_hop_by_hop_lines_and_the_framing() {
    // Even requests: a head nothing reads, passed line for line. Odd: its `Connection` names
    // a header, so it is read into the list and written from it (lowercase).
    let b = RawBackend::start(|_, req| {
        let connection = if req % 2 == 0 {
            "keep-alive"
        } else {
            "X-Secret"
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nServer: raw/1\r\nSet-Cookie: a=1\r\nConnection: {connection}\r\n\
             Content-Length: 5\r\nKeep-Alive: timeout=5\r\nX-Request-Id: theirs\r\n\
             X-Secret: s\r\nSet-Cookie:  b=2 \r\n\r\nhello"
        );
        vec![Step::Write(head.into_bytes())]
    })
    .await;
    let w = World::new().await;
    w.api("/as-sent", &b.addr, "HTTP").await;
    let mut c = TcpStream::connect(w.s.running.gateway_addr).await.unwrap();
    let request = format!("GET /as-sent HTTP/1.1\r\nhost: {}\r\n\r\n", w.host);
    for read in 0..2 {
        let got = exchange(&mut c, request.as_bytes(), 1).await;
        let (head, body) = got.split_once("\r\n\r\n").expect("a whole answer");
        assert_eq!(body, "hello");
        let lines: Vec<&str> = head.lines().skip(1).collect();
        let ids: Vec<&&str> = lines
            .iter()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-request-id:"))
            .collect();
        assert_eq!(ids.len(), 1, "{head}");
        assert!(
            !ids[0].contains("theirs"),
            "the gateway's id replaces the backend's: {head}"
        );
        let lower = head.to_ascii_lowercase();
        assert!(!lower.contains("keep-alive: timeout"), "{head}");
        assert_eq!(lower.matches("content-length: 5\r\n").count(), 1, "{head}");
        if read == 0 {
            assert!(
                head.contains("\r\nServer: raw/1\r\nSet-Cookie: a=1\r\n"),
                "passed as sent: {head}"
            );
            assert!(
                head.contains("\r\nX-Secret: s\r\nSet-Cookie:  b=2 \r\n"),
                "{head}"
            );
        } else {
            assert!(
                !lower.contains("x-secret"),
                "a header Connection names goes: {head}"
            );
            assert!(
                lower.contains("\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n"),
                "{head}"
            );
        }
    }
}

#[tokio::test]
async fn a_backend_head_passes_as_sent_unless_a_bound_plug_in_touches_one_of_its_headers() {
    let b = RawBackend::start(|_, _| {
        vec![write(
            b"HTTP/1.1 200 OK\r\nX-CuStOm:  v \r\nContent-Length: 5\r\n\r\nhello",
        )]
    })
    .await;
    let w = World::new().await;
    let admin = &w.s.admin;
    // What the client gets of the backend's `X-CuStOm:  v ` line, and a line that follows it.
    const AS_SENT: &str = "\r\nX-CuStOm:  v \r\n";
    const LISTED: &str = "\r\nx-custom: v\r\n";
    let set_resp_headers = |name: &str, action: &str| serde_json::json!({"response_headers": [{"name": name, "value": "w", "action": action}]});
    let cases = [
        // Its response phase never looks at the headers.
        (
            "/past-breaker",
            "breaker",
            serde_json::json!({"breaker_condition": {"breaker_type": "timeout",
                "breaker_mode": "counter", "unhealthy_threshold": 5, "time_window": 60,
                "open_breaker_time": 60}, "scope": "basic"}),
            AS_SENT,
            "",
        ),
        // It touches only its own: the backend's lines pass, its own follow them.
        (
            "/past-rate-limit",
            "rate_limit",
            serde_json::json!({"api_limit": 1000, "default_time_unit": "day"}),
            AS_SENT,
            "\r\nx-ratelimit-limit: 1000\r\n",
        ),
        (
            "/past-set-resp-headers",
            "set_resp_headers",
            set_resp_headers("x-added", "add"),
            AS_SENT,
            "\r\nx-added: w\r\n",
        ),
        (
            "/past-cors",
            "cors",
            serde_json::json!({"allow_origin": "https://a.example"}),
            AS_SENT,
            "\r\nvary: Origin\r\n",
        ),
        // A rule names the backend's header: the head is read into the list and the rule
        // replaces it there.
        (
            "/set-resp-headers-on-it",
            "set_resp_headers",
            set_resp_headers("X-Custom", "override"),
            "\r\nx-custom: w\r\n",
            "",
        ),
        // `*` exposed with credentials lists every name: the head is read into the list.
        (
            "/cors-listing",
            "cors",
            serde_json::json!({"allow_origin": "*", "expose_headers": "*",
                "allow_credentials": true}),
            LISTED,
            "",
        ),
    ];
    for (uri, plugin, content, _, _) in &cases {
        let name = format!("api{}", uri.replace(['/', '-'], "_"));
        let api = admin
            .create_published_api(http_api(&name, &w.group, "GET", uri, &b.addr, "/b"))
            .await;
        let p = admin
            .create_plugin(&format!("p{name}"), plugin, content.clone())
            .await;
        admin.bind(&p, apigw_testkit::RELEASE, &[&api]).await;
    }
    let mut c = TcpStream::connect(w.s.running.gateway_addr).await.unwrap();
    for (uri, _, _, line, follows) in cases {
        let request = format!("GET {uri} HTTP/1.1\r\nhost: {}\r\n\r\n", w.host);
        let got = exchange(&mut c, request.as_bytes(), 1).await;
        let (head, body) = got.split_once("\r\n\r\n").expect("a whole answer");
        assert_eq!(body, "hello");
        let head = format!("{head}\r\n");
        assert_eq!(
            head.matches("\r\nX-CuStOm:").count(),
            usize::from(line == AS_SENT),
            "{uri}: {head}"
        );
        let at = head
            .find(line)
            .unwrap_or_else(|| panic!("{uri}: {line:?} in {head}"));
        if !follows.is_empty() {
            let after = head
                .find(follows)
                .unwrap_or_else(|| panic!("{uri}: {follows:?} in {head}"));
            assert!(after > at, "{uri}: after the backend's lines: {head}");
        }
        assert_eq!(
            head.to_ascii_lowercase().matches("\r\nx-custom:").count(),
            1,
            "{uri}: {head}"
        );
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let b = RawBackend::start(|_, req| {
        let body = format!("answer {req}");
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        vec![Step::Write(resp.into_bytes())]
    })
    .await;
    let w = World::new().await;
    w.api("/pipe", &b.addr, "HTTP").await;
    let one = format!("GET /pipe HTTP/1.1\r\nhost: {}\r\n\r\n", w.host);
    let three = one.repeat(3);
    let mut c = TcpStream::connect(w.s.running.gateway_addr).await.unwrap();
    let got = exchange(&mut c, three.as_bytes(), 3).await;
    assert_eq!(got.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{got}");
    let order: Vec<usize> = ["answer 0", "answer 1", "answer 2"]
        .iter()
        .map(|a| got.find(a).expect(a))
        .collect();
    assert!(order.windows(2).all(|p| p[0] < p[1]), "{got}");
    assert_eq!(b.connections(), 1);
}

#[tokio::test]
async fn expect_100_continue_gets_the_interim_answer_before_the_body_is_sent() {
    let b = RawBackend::start(|_, _| vec![write(OK_HELLO)]).await;
    let w = World::new().await;
    w.api("/expect", &b.addr, "HTTP").await;
    let mut c = TcpStream::connect(w.s.running.gateway_addr).await.unwrap();
    let head = format!(
        "PUT /expect HTTP/1.1\r\nhost: {}\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n",
        w.host
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut interim))
        .await
        .expect("the interim answer comes before the body")
        .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    let got = exchange(&mut c, b"data", 1).await;
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("hello"),
        "{got}"
    );
    assert!(b.request(0).ends_with("\r\n\r\ndata"), "{}", b.request(0));
}

#[tokio::test]
async fn http_1_0_clients_keep_the_connection_only_when_they_ask() {
    let b = RawBackend::start(|_, req| {
        if req == 0 {
            vec![write(OK_HELLO)]
        } else {
            // Chunked: a 1.0 client cannot read chunks; it gets the body up to the close.
            vec![write(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nchunk\r\n0\r\n\r\n",
            )]
        }
    })
    .await;
    let w = World::new().await;
    w.api("/old", &b.addr, "HTTP").await;
    let mut c = TcpStream::connect(w.s.running.gateway_addr).await.unwrap();
    let keep = format!(
        "GET /old HTTP/1.0\r\nhost: {}\r\nconnection: keep-alive\r\n\r\n",
        w.host
    );
    let got = exchange(&mut c, keep.as_bytes(), 1).await;
    assert!(
        got.to_ascii_lowercase()
            .contains("\r\nconnection: keep-alive\r\n"),
        "{got}"
    );
    assert!(got.ends_with("hello"), "{got}");
    let plain = format!("GET /old HTTP/1.0\r\nhost: {}\r\n\r\n", w.host);
    c.write_all(plain.as_bytes()).await.unwrap();
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut rest))
        .await
        .expect("the gateway closes after a 1.0 answer")
        .unwrap();
    let lower = rest.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: close\r\n"), "{rest}");
    assert!(!lower.contains("transfer-encoding"), "{rest}");
    assert!(rest.ends_with("\r\n\r\nchunk"), "{rest:?}");
}

#[tokio::test]
async fn a_short_body_the_call_did_not_read_is_skipped_and_the_connection_kept() {
    let b = RawBackend::start(|_, _| vec![write(OK_HELLO)]).await;
    let w = World::new().await;
    w.api("/kept", &b.addr, "HTTP").await;
    let mut c = TcpStream::connect(w.s.running.gateway_addr).await.unwrap();
    // No API at /nowhere: 404 without reading the body.
    let unread = format!(
        "POST /nowhere HTTP/1.1\r\nhost: {}\r\ncontent-length: 10\r\n\r\n0123456789",
        w.host
    );
    let got = exchange(&mut c, unread.as_bytes(), 1).await;
    assert!(got.starts_with("HTTP/1.1 404 "), "{got}");
    let next = format!("GET /kept HTTP/1.1\r\nhost: {}\r\n\r\n", w.host);
    let got = exchange(&mut c, next.as_bytes(), 1).await;
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("hello"),
        "{got}"
    );
}
