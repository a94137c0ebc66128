//! Calls sent in the background, their answers discarded (proxy_mirror's copies): nothing of
//! the call that asked waits for them.
//!
//! The copies to one destination share a few connections and are pipelined (HTTP/1.1, RFC
//! 9112 §9.3.2): a connection writes every copy waiting for it in one write, then reads their
//! answers together, while the copies that come meanwhile wait for the next round (or for
//! another connection, up to [`CONNECTIONS`]). Under load a copy then costs a share of a
//! system call instead of a whole exchange — what keeps mirroring every call close to the
//! price of the call itself (`bench/run.py`, `apigw+mirror`).
//!
//! At most [`MAX_DETACHED`] copies are in flight (queued, sent, or awaiting their answer);
//! more are refused, for the plug-in to count. A round's answers are awaited up to the longest
//! timeout among its copies; a destination that does not answer in time, closes or breaks the
//! protocol loses the connection and the copies on it, never more.

use crate::upstream::h1::{encode_head, Conn, ReqFraming};
use crate::upstream::{GatewayHeaders, Upstream};
use crate::wire::BodyState;
use apigw_plugins::engine::ServiceCall;
use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::HeaderValue;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Most calls in flight at once; more are refused (and counted by the plug-in that asked).
pub const MAX_DETACHED: usize = 1024;
/// Most connections per destination.
pub const CONNECTIONS: usize = 64;
/// Copies waiting for a connection beyond which another one is opened.
const PILE_UP: usize = 8;
/// Most copies written in one round on a connection.
const ROUND: usize = 128;

/// The background calls of the node.
#[derive(Debug)]
pub struct Detached {
    permits: Arc<Semaphore>,
    upstream: Upstream,
    /// The lanes, one per destination (a few: a list is cheaper to search than a map).
    lanes: Mutex<Vec<Arc<Lane>>>,
}

/// One destination: its queue and the connections taking from it.
#[derive(Debug)]
struct Lane {
    https: bool,
    /// `host[:port]`, as the plug-in has it.
    host: String,
    scheme: Scheme,
    authority: Authority,
    queue: mpsc::UnboundedSender<Copy>,
    /// Held by the connection that waits for the next copies.
    waiting: tokio::sync::Mutex<mpsc::UnboundedReceiver<Copy>>,
    /// Copies in the queue.
    queued: AtomicUsize,
    /// Connections running, and those of them waiting for copies.
    running: AtomicUsize,
    idle: AtomicUsize,
}

/// A call ready for the wire.
#[derive(Debug)]
struct Copy {
    /// The request, head and body, as written.
    wire: Vec<u8>,
    head_request: bool,
    timeout: Duration,
    /// Held until the answer is read or given up.
    _permit: OwnedSemaphorePermit,
}

impl Detached {
    pub fn new(upstream: Upstream) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(MAX_DETACHED)),
            upstream,
            lanes: Mutex::default(),
        }
    }

    /// Sends `call` with `body` in the background; `false` when [`MAX_DETACHED`] are in
    /// flight already or the call cannot be written (a bad `host[:port]`).
    pub fn send(&self, call: ServiceCall, body: Bytes) -> bool {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return false;
        };
        let Some(lane) = self.lane(call.https, &call.url_domain) else {
            return false;
        };
        let Ok(host) = HeaderValue::from_str(&call.url_domain) else {
            return false;
        };
        let mut wire = Vec::with_capacity(256 + body.len());
        let framing = if body.is_empty() {
            ReqFraming::None
        } else {
            ReqFraming::Length(body.len() as u64)
        };
        encode_head(
            &mut wire,
            &call.method,
            &call.path_and_query,
            &call.headers,
            &GatewayHeaders::Host(&host),
            framing,
            None,
        );
        wire.extend_from_slice(&body);
        let copy = Copy {
            wire,
            head_request: call.method == http::Method::HEAD,
            timeout: call.timeout,
            _permit: permit,
        };
        let queued = lane.queued.fetch_add(1, Relaxed) + 1;
        let _ = lane.queue.send(copy);
        // One more connection when none is waiting for copies and they pile up (or there is
        // none yet), within the bound.
        let running = lane.running.load(Relaxed);
        if lane.idle.load(Relaxed) == 0
            && (running == 0 || queued > PILE_UP)
            && running < CONNECTIONS
            && lane
                .running
                .compare_exchange(running, running + 1, Relaxed, Relaxed)
                .is_ok()
        {
            tokio::spawn(connection(self.upstream.clone(), lane));
        }
        true
    }

    /// The lane of a destination, made on first use; `None` for a bad `host[:port]`.
    fn lane(&self, https: bool, host: &str) -> Option<Arc<Lane>> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = lanes.iter().find(|l| l.https == https && l.host == host) {
            return Some(l.clone());
        }
        let (queue, rx) = mpsc::unbounded_channel();
        let lane = Arc::new(Lane {
            https,
            host: host.to_string(),
            scheme: if https { Scheme::HTTPS } else { Scheme::HTTP },
            authority: host.parse().ok()?,
            queue,
            waiting: tokio::sync::Mutex::new(rx),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
        });
        lanes.push(lane.clone());
        Some(lane)
    }

    /// Calls in flight.
    pub fn in_flight(&self) -> usize {
        MAX_DETACHED - self.permits.available_permits()
    }
}

/// One connection of a lane: takes the copies waiting, writes them in one write, reads their
/// answers, and again. Connects when it has copies and no connection; lives as long as the
/// node.
async fn connection(upstream: Upstream, lane: Arc<Lane>) {
    let mut conn: Option<Box<Conn>> = None;
    let mut round: Vec<Copy> = Vec::with_capacity(ROUND);
    let mut wire = Vec::new();
    let mut heads = Vec::with_capacity(ROUND);
    loop {
        lane.idle.fetch_add(1, Relaxed);
        let got = lane.waiting.lock().await.recv_many(&mut round, ROUND).await;
        lane.idle.fetch_sub(1, Relaxed);
        if got == 0 {
            return;
        }
        lane.queued.fetch_sub(got, Relaxed);
        let timeout = round.iter().map(|c| c.timeout).max().unwrap_or_default();
        wire.clear();
        heads.clear();
        for c in &round {
            wire.extend_from_slice(&c.wire);
            heads.push(c.head_request);
        }
        let exchange = async {
            let mut c = match conn.take() {
                Some(c) => c,
                None => upstream.connect(&lane.scheme, &lane.authority).await.ok()?,
            };
            c.send_all(&wire).await.ok()?;
            for head_request in &heads {
                let h = c.read_head(*head_request).await.ok()?;
                let mut body = BodyState::new(h.body);
                while let Some(piece) = std::future::poll_fn(|cx| c.poll_body(cx, &mut body)).await
                {
                    piece.ok()?;
                }
                if !h.reusable {
                    return None;
                }
            }
            Some(c)
        };
        conn = tokio::time::timeout(timeout, exchange).await.ok().flatten();
        // The round's permits go back: answered, or given up with the connection.
        round.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_plugins::headers::Headers;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A destination that answers each request it reads (`200`, `content-length: 2`, a body
    /// but for HEAD), pipelined or not, and counts them.
    async fn counting_server() -> (String, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    while let Ok(n) = c.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let mut out = Vec::new();
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            buf.drain(..end + 4);
                            count.fetch_add(1, Relaxed);
                            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
                            if !head.starts_with("HEAD ") {
                                out.extend_from_slice(b"ok");
                            }
                        }
                        if c.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    fn call(host: &str, method: http::Method, timeout_ms: u64) -> ServiceCall {
        ServiceCall {
            method,
            https: false,
            url_domain: host.into(),
            path_and_query: "/copy?x=1".into(),
            headers: Headers::new(),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    async fn settled(d: &Detached) {
        for _ in 0..500 {
            if d.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} copies still in flight", d.in_flight());
    }

    #[tokio::test]
    async fn every_copy_arrives_pipelined_on_few_connections_and_frees_its_place() {
        let (host, seen) = counting_server().await;
        let d = Detached::new(Upstream::new());
        for i in 0..600 {
            let method = if i % 3 == 0 {
                http::Method::HEAD
            } else {
                http::Method::GET
            };
            assert!(d.send(call(&host, method, 5000), Bytes::new()));
        }
        settled(&d).await;
        assert_eq!(seen.load(Relaxed), 600, "each copy was received once");
        let lane = d.lane(false, &host).unwrap();
        assert!(lane.running.load(Relaxed) <= CONNECTIONS);
    }

    #[tokio::test]
    async fn past_the_bound_copies_are_refused_and_a_silent_destination_gives_them_back() {
        // Accepts and never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = l.accept().await {
                held.push(c);
            }
        });
        let d = Detached::new(Upstream::new());
        for _ in 0..MAX_DETACHED {
            assert!(d.send(call(&host, http::Method::GET, 300), Bytes::new()));
        }
        assert!(!d.send(call(&host, http::Method::GET, 300), Bytes::new()));
        settled(&d).await;
        assert!(
            d.send(call(&host, http::Method::GET, 300), Bytes::new()),
            "room again after the timeout"
        );
    }
}
