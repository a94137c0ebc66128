//! kafka_log on live traffic against a real Kafka-protocol broker (tansu, in memory): the
//! messages and their fields, a dead broker that never slows calls (drops counted), the broker
//! coming back, producer replacement on update, and the seed configuration.

use apigw_testkit::{http_api, seed_requests, Backend, GatewayClient, TestServer, RELEASE};
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::ClientBuilder;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tansu broker on a free port, storing in memory.
struct Broker {
    port: u16,
    child: Option<Child>,
}

fn tansu() -> String {
    for dir in [
        std::env::var("HOME")
            .map(|h| format!("{h}/.cargo/bin"))
            .unwrap_or_default(),
        "/usr/local/bin".into(),
    ] {
        let p = format!("{dir}/tansu");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    "tansu".into()
}

impl Broker {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut b = Self { port, child: None };
        b.restart();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is installed (scripts/test.sh installs it with cargo install tansu)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tansu did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn create_topic(&self, name: &str) {
        let status = Command::new(tansu())
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                "1",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "tansu topic create {name}");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Reads the topic until `n` messages arrived (or 10 s passed).
    async fn consume(&self, topic: &str, n: usize) -> Vec<(Option<Vec<u8>>, Value)> {
        let client = ClientBuilder::new(vec![self.addr()]).build().await.unwrap();
        let pc = client
            .partition_client(topic, 0, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        let mut out = Vec::new();
        let start = Instant::now();
        let mut offset = 0;
        while out.len() < n && start.elapsed() < Duration::from_secs(10) {
            let (records, _) = pc.fetch_records(offset, 1..1_000_000, 500).await.unwrap();
            for r in records {
                offset = r.offset + 1;
                out.push((
                    r.record.key.clone(),
                    serde_json::from_slice(&r.record.value.unwrap_or_default()).unwrap(),
                ));
            }
        }
        out
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

struct World {
    s: TestServer,
    _backend: Backend,
    gw: GatewayClient,
    api: String,
}

impl World {
    async fn new() -> Self {
        let s = TestServer::start().await;
        let backend = Backend::start().await;
        let gw = GatewayClient::new(s.running.gateway_addr);
        let group = s.admin.default_group().await;
        let api = s
            .admin
            .create_api(http_api(
                "logged",
                &group,
                "ANY",
                "/logged",
                &backend.addr.to_string(),
                "/",
            ))
            .await;
        s.admin.publish(&api, RELEASE, true).await;
        Self {
            s,
            _backend: backend,
            gw,
            api,
        }
    }

    async fn bind(&self, content: Value) -> String {
        let p = self
            .s
            .admin
            .create_plugin("kafka plugin", "kafka_log", content)
            .await;
        self.s.admin.bind(&p, RELEASE, &[&self.api]).await;
        p
    }

    /// A metric of one plug-in (the process's tests share the metrics registry).
    async fn metric(&self, name: &str, plugin_id: &str) -> u64 {
        let m = reqwest::get(format!("{}/metrics", self.s.admin.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let prefix = format!("{name}{{plugin_id=\"{plugin_id}\"}}");
        m.lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_is_one_message_with_the_switched_on_fields() {
    let broker = Broker::start();
    broker.create_topic("calls");
    let w = World::new().await;
    let p = w.bind(json!({"broker_list": [broker.addr()], "topic": "calls", "key": "apigw",
        "meta_config": {"call_data": {"log_request_header": true, "request_header_filter": "x-trace",
                                      "log_request_query_string": true, "request_query_string_filter": "*"}}})).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r =
            w.gw.call(
                "GET",
                &format!("/logged?i={i}"),
                &[("x-trace", "t1"), ("user-agent", "kafka-test")],
                b"",
            )
            .await;
        assert_eq!(r.status, 200);
        ids.push(r.headers["x-request-id"].to_str().unwrap().to_string());
    }
    let got = broker.consume("calls", 3).await;
    assert_eq!(got.len(), 3);
    for (i, (key, m)) in got.iter().enumerate() {
        assert_eq!(key.as_deref(), Some(&b"apigw"[..]), "the configured key");
        assert_eq!(m["request_id"], ids[i].as_str());
        assert_eq!(m["http_status"], 200);
        assert_eq!(m["request_method"], "GET");
        assert_eq!(m["uri"], "/logged");
        assert_eq!(m["client_ip"], "127.0.0.1");
        assert_eq!(m["http_user_agent"], "kafka-test");
        assert!(m["upstream_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")));
        assert_eq!(m["call_data"]["request_header"], json!({"x-trace": "t1"}));
        assert_eq!(m["call_data"]["request_query_string"], format!("i={i}"));
        assert!(m.get("api_id").is_none(), "api_id is off by default");
    }
    assert_eq!(w.metric("apigw_kafka_log_sent_total", &p).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_never_slows_or_fails_calls_and_drops_are_counted() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let w = World::new().await;
    let p = w.bind(json!({"broker_list": [dead], "topic": "nowhere", "max_retry_count": 1, "retry_backoff": 1})).await;
    let start = Instant::now();
    for _ in 0..20 {
        assert_eq!(w.gw.get("/logged").await.status, 200);
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "calls did not wait for the broker"
    );
    let mut dropped = 0;
    for _ in 0..100 {
        dropped = w.metric("apigw_kafka_log_dropped_total", &p).await;
        if dropped == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dropped, 20,
        "undeliverable messages are dropped and counted"
    );
    assert!(w.metric("apigw_kafka_log_retried_total", &p).await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_going_down_and_back_only_loses_what_was_sent_meanwhile() {
    let mut broker = Broker::start();
    broker.create_topic("flaky");
    let w = World::new().await;
    w.bind(json!({"broker_list": [broker.addr()], "topic": "flaky", "max_retry_count": 0}))
        .await;
    assert_eq!(w.gw.get("/logged").await.status, 200);
    assert_eq!(broker.consume("flaky", 1).await.len(), 1);
    broker.stop();
    for _ in 0..3 {
        assert_eq!(
            w.gw.get("/logged").await.status,
            200,
            "calls flow while the broker is down"
        );
    }
    broker.restart();
    broker.create_topic("flaky");
    let mut delivered = Vec::new();
    for _ in 0..20 {
        assert_eq!(w.gw.get("/logged").await.status, 200);
        delivered = broker.consume("flaky", 1).await;
        if !delivered.is_empty() {
            break;
        }
    }
    assert!(
        !delivered.is_empty(),
        "messages flow again once the broker is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_replaces_the_producer() {
    let broker = Broker::start();
    broker.create_topic("first");
    broker.create_topic("second");
    let w = World::new().await;
    let p = w
        .bind(json!({"broker_list": [broker.addr()], "topic": "first"}))
        .await;
    w.gw.get("/logged").await;
    assert_eq!(broker.consume("first", 1).await.len(), 1);
    let body = json!({"plugin_name": "kafka plugin", "plugin_type": "kafka_log", "plugin_scope": "global",
        "plugin_content": json!({"broker_list": [broker.addr()], "topic": "second"}).to_string()});
    assert_eq!(
        w.s.admin.put(&format!("/plugins/{p}"), &body).await.status,
        200
    );
    w.gw.get("/logged").await;
    assert_eq!(
        broker.consume("second", 1).await.len(),
        1,
        "the new content's producer sends to the new topic"
    );
    assert_eq!(
        broker.consume("first", 2).await.len(),
        1,
        "the old producer sent nothing more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_configuration_is_accepted_and_never_in_the_way() {
    let w = World::new().await;
    let seed = seed_requests()[3]["body"].clone();
    let r = w.s.admin.post("/plugins", &seed).await;
    assert_eq!(r.status, 201, "{}", r.text);
    w.s.admin
        .bind(r.json["plugin_id"].as_str().unwrap(), RELEASE, &[&w.api])
        .await;
    for _ in 0..5 {
        assert_eq!(
            w.gw.get("/logged").await.status,
            200,
            "the seed's broker 0.0.0.0:11 is unreachable; calls still pass"
        );
    }
}
