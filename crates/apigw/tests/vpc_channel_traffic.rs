//! Load balance channels on traffic: three real backends behind one channel — calls spread by
//! weight, hashes stick, a killed member leaves rotation without failing an idempotent call
//! and comes back, backups serve only while every primary is down, weight 0 drains, nothing
//! in rotation answers 502 APIG.0202, POST is retried only when `retry_count` says so.

use apigw_testkit::{GatewayClient, Resp, TestServer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A real HTTP/1.1 backend that can be killed (listener and every connection closed at once)
/// and started again on the same port. It answers every call 200 with its name; `/health`
/// answers 503 while `sick` is set.
struct Member {
    name: &'static str,
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    sick: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Member {
    async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut m = Member {
            name,
            addr: listener.local_addr().unwrap(),
            calls: Arc::default(),
            sick: Arc::default(),
            task: None,
        };
        m.serve(listener);
        m
    }

    fn serve(&mut self, listener: TcpListener) {
        let (name, calls, sick) = (self.name, self.calls.clone(), self.sick.clone());
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let (calls, sick) = (calls.clone(), sick.clone());
                conns.spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap_or(0));
                        while buf.len() < head_end + length {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.drain(..head_end + length);
                        let health =
                            head.starts_with("get /health") || head.starts_with("head /health");
                        let status = if health && sick.load(SeqCst) {
                            "503 No"
                        } else {
                            "200 OK"
                        };
                        if !health {
                            calls.fetch_add(1, SeqCst);
                        }
                        let answer = format!(
                            "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{name}",
                            name.len()
                        );
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }));
    }

    /// Closes the listener and every connection.
    fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }
}

fn member(m: &Member, weight: u32, backup: bool) -> Value {
    json!({"host": "127.0.0.1", "port": m.addr.port(), "weight": weight, "is_backup": backup})
}

/// A channel of `members` with `strategy` and, if given, a health check; its id.
async fn channel(
    s: &TestServer,
    strategy: i64,
    members: Vec<Value>,
    health: Option<Value>,
) -> String {
    let mut body = json!({"name": "chan_t", "port": 80, "balance_strategy": strategy,
        "member_type": "ip", "type": 2, "members": members});
    if let Some(h) = health {
        body["vpc_health_config"] = h;
    }
    let r = s.admin.post("/vpc-channels", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_str().unwrap().to_string()
}

/// A published API on `GET|POST /lb` (method `method`) through channel `id`; the gateway.
async fn api(s: &TestServer, id: &str, method: &str, retry_count: &str) -> GatewayClient {
    let group = s.admin.default_group().await;
    let api = json!({"name": "through_channel", "type": 1, "req_protocol": "HTTP",
        "req_method": method, "req_uri": "/lb", "match_mode": "SWA", "auth_type": "NONE",
        "backend_type": "HTTP", "group_id": group,
        "backend_api": {"req_protocol": "HTTP", "req_method": "ANY", "req_uri": "/lb",
            "timeout": 2000, "retry_count": retry_count, "vpc_channel_status": 1,
            "vpc_channel_info": {"vpc_channel_id": id}}});
    s.admin.create_published_api(api).await;
    GatewayClient::new(s.running.gateway_addr)
}

async fn get(gw: &GatewayClient, path: &str, from: &str) -> Resp {
    gw.call("GET", path, &[("x-forwarded-for", from)], b"")
        .await
}

#[tokio::test]
async fn weighted_round_robin_spreads_3000_calls_by_weight_within_5_percent() {
    let s = TestServer::start().await;
    let ms = [
        Member::start("a").await,
        Member::start("b").await,
        Member::start("c").await,
    ];
    let id = channel(
        &s,
        1,
        vec![
            member(&ms[0], 1, false),
            member(&ms[1], 2, false),
            member(&ms[2], 3, false),
        ],
        None,
    )
    .await;
    let gw = api(&s, &id, "GET", "-1").await;
    for _ in 0..3000 {
        let r = gw.get("/lb").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for (m, share) in ms.iter().zip([1.0, 2.0, 3.0]) {
        let expected = 3000.0 * share / 6.0;
        let got = m.calls() as f64;
        assert!(
            (got - expected).abs() <= expected * 0.05,
            "{}: {got} of {expected}",
            m.name
        );
    }
}

#[tokio::test]
async fn source_ip_hash_and_uri_hash_keep_each_client_and_path_on_one_member() {
    let s = TestServer::start_with(|a| a.trust_forwarded_for = true).await;
    let ms = [
        Member::start("a").await,
        Member::start("b").await,
        Member::start("c").await,
    ];
    let members = || ms.iter().map(|m| member(m, 1, false)).collect::<Vec<_>>();
    let id = channel(&s, 3, members(), None).await;
    let gw = api(&s, &id, "GET", "-1").await;
    let mut seen = std::collections::HashSet::new();
    for c in 1..=30 {
        let ip = format!("10.0.0.{c}");
        let first = get(&gw, "/lb/x", &ip).await.text;
        for p in ["/lb/y", "/lb/z", "/lb/x"] {
            assert_eq!(get(&gw, p, &ip).await.text, first, "client {ip}");
        }
        seen.insert(first);
    }
    assert_eq!(seen.len(), 3, "clients spread over every member");

    // URI hash: the same path from any client goes to one member.
    let r = s
        .admin
        .put(
            &format!("/vpc-channels/{id}"),
            &json!({"name": "chan_t", "port": 80,
        "balance_strategy": 4, "member_type": "ip", "type": 2, "members": members()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut seen = std::collections::HashSet::new();
    for p in 0..30 {
        let path = format!("/lb/item/{p}");
        let first = get(&gw, &path, "10.9.9.1").await.text;
        for c in 2..5 {
            assert_eq!(
                get(&gw, &path, &format!("10.9.9.{c}")).await.text,
                first,
                "{path}"
            );
        }
        seen.insert(first);
    }
    assert_eq!(seen.len(), 3, "paths spread over every member");
}

#[tokio::test]
async fn a_killed_member_leaves_rotation_without_failing_a_call_and_comes_back_after_its_checks() {
    let s = TestServer::start().await;
    let mut ms = [
        Member::start("a").await,
        Member::start("b").await,
        Member::start("c").await,
    ];
    // Out after 2 failed checks 1 s apart; back after 2 good ones.
    let health = json!({"protocol": "HTTP", "path": "/health", "method": "GET", "port": 0,
        "threshold_normal": 2, "threshold_abnormal": 2, "time_interval": 1, "timeout": 1,
        "http_code": "200"});
    // A timeout below the interval is required: 1 s against 1 s is refused.
    let id = {
        let mut body = json!({"name": "chan_t", "port": 80, "balance_strategy": 1,
            "member_type": "ip", "type": 2,
            "members": ms.iter().map(|m| member(m, 1, false)).collect::<Vec<_>>(),
            "vpc_health_config": health.clone()});
        let r = s.admin.post("/vpc-channels", &body).await;
        assert_eq!((r.status, r.code()), (400, "APIG.2012"), "{}", r.text);
        body["vpc_health_config"]["time_interval"] = json!(2);
        let r = s.admin.post("/vpc-channels", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    };
    let gw = api(&s, &id, "GET", "-1").await;
    for _ in 0..30 {
        assert_eq!(gw.get("/lb").await.status, 200);
    }
    let member_b = format!("127.0.0.1:{}", ms[1].addr.port());
    let healthy_line = |metrics: &str, up: u8| {
        metrics.lines().any(|l| {
            l.starts_with("apigw_channel_member_healthy")
                && l.contains(&format!("address=\"{member_b}\""))
                && l.ends_with(&format!(" {up}"))
        })
    };
    assert!(healthy_line(&s.admin.metrics().await, 1));

    ms[1].kill();
    let killed = Instant::now();
    let before = ms[1].calls();
    // Every call still succeeds: a try on the dead member is retried on another.
    let mut failed = 0;
    let mut out_after = None;
    while killed.elapsed() < Duration::from_secs(8) {
        for _ in 0..20 {
            if gw.get("/lb").await.status != 200 {
                failed += 1;
            }
        }
        if out_after.is_none() && healthy_line(&s.admin.metrics().await, 0) {
            out_after = Some(killed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed, 0, "idempotent calls failed while a member died");
    assert_eq!(ms[1].calls(), before);
    // Refused connections take it out at once; the checks keep it out
    // (threshold_abnormal × time_interval = 4 s at most).
    let out_after = out_after.expect("the killed member never left rotation");
    assert!(out_after <= Duration::from_secs(4), "{out_after:?}");
    let listed = s.admin.get(&format!("/vpc-channels/{id}/members")).await;
    assert!(listed.text.contains("abnormal"), "{}", listed.text);

    // Back after threshold_normal good checks (2 × 2 s, and a tick of slack).
    ms[1].restart().await;
    let started = Instant::now();
    let back = apigw_testkit::within(Duration::from_secs(8), || async {
        healthy_line(&s.admin.metrics().await, 1)
    })
    .await;
    assert!(back.is_some(), "the member never came back");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "back before two checks"
    );
    for _ in 0..30 {
        assert_eq!(gw.get("/lb").await.status, 200);
    }
    assert!(ms[1].calls() > before, "calls go to the member again");

    // A member that answers its check badly (503) leaves too, though it accepts connections.
    ms[2].sick.store(true, SeqCst);
    let out = apigw_testkit::within(Duration::from_secs(8), || async {
        let m = s.admin.metrics().await;
        m.lines().any(|l| {
            l.starts_with("apigw_channel_member_healthy")
                && l.contains(&format!("address=\"127.0.0.1:{}\"", ms[2].addr.port()))
                && l.ends_with(" 0")
        })
    })
    .await;
    assert!(
        out.is_some(),
        "a member failing its HTTP check stayed in rotation"
    );
    let c = ms[2].calls();
    for _ in 0..30 {
        assert_eq!(gw.get("/lb").await.status, 200);
    }
    assert_eq!(ms[2].calls(), c);
}

#[tokio::test]
async fn backups_serve_only_while_every_primary_is_down_and_nothing_left_answers_502_apig_0202() {
    let s = TestServer::start().await;
    let mut ms = [
        Member::start("a").await,
        Member::start("b").await,
        Member::start("backup").await,
    ];
    let id = channel(
        &s,
        1,
        vec![
            member(&ms[0], 1, false),
            member(&ms[1], 1, false),
            member(&ms[2], 1, true),
        ],
        None,
    )
    .await;
    let gw = api(&s, &id, "GET", "-1").await;
    for _ in 0..40 {
        assert_eq!(gw.get("/lb").await.status, 200);
    }
    assert_eq!(
        ms[2].calls(),
        0,
        "a backup got calls while primaries were up"
    );
    ms[0].kill();
    ms[1].kill();
    // The first call spends its two tries on the two dead primaries (each then out of
    // rotation at once); from then on the backup serves.
    let first = gw.get("/lb").await;
    assert_eq!(first.status, 502, "{}", first.text);
    for _ in 0..20 {
        let r = gw.get("/lb").await;
        assert_eq!((r.status, r.text.as_str()), (200, "backup"));
    }
    ms[2].kill();
    let r = gw.get("/lb").await;
    assert_eq!((r.status, r.code()), (502, "APIG.0202"), "{}", r.text);
}

#[tokio::test]
async fn weight_zero_drains_a_member() {
    let s = TestServer::start().await;
    let ms = [Member::start("a").await, Member::start("b").await];
    let id = channel(
        &s,
        1,
        vec![member(&ms[0], 1, false), member(&ms[1], 1, false)],
        None,
    )
    .await;
    let gw = api(&s, &id, "GET", "-1").await;
    for _ in 0..10 {
        gw.get("/lb").await;
    }
    assert!(ms[1].calls() > 0);
    let r = s
        .admin
        .post(
            &format!("/vpc-channels/{id}/members"),
            &json!({"members": [member(&ms[1], 0, false)]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let before = ms[1].calls();
    for _ in 0..20 {
        let r = gw.get("/lb").await;
        assert_eq!((r.status, r.text.as_str()), (200, "a"));
    }
    assert_eq!(ms[1].calls(), before);
}

#[tokio::test]
async fn post_is_retried_on_another_member_only_when_retry_count_allows() {
    let s = TestServer::start().await;
    let (mut dead, alive) = (Member::start("dead").await, Member::start("alive").await);
    dead.kill();
    // Weights make the dead member first in a round; source hash would hide the retry.
    let id = channel(
        &s,
        1,
        vec![member(&dead, 1, false), member(&alive, 1, false)],
        None,
    )
    .await;
    let gw = api(&s, &id, "POST", "-1").await;
    // -1: POST is never retried, so the call that met the dead member fails.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(gw.call("POST", "/lb", &[], b"payload").await.status);
    }
    assert!(statuses.contains(&502), "{statuses:?}");

    let s = TestServer::start().await;
    let id = channel(
        &s,
        1,
        vec![member(&dead, 1, false), member(&alive, 1, false)],
        None,
    )
    .await;
    let gw = api(&s, &id, "POST", "2").await;
    for _ in 0..6 {
        let r = gw.call("POST", "/lb", &[], b"payload").await;
        assert_eq!((r.status, r.text.as_str()), (200, "alive"));
    }
}
