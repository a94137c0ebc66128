//! kafka_log on live traffic against a real Kafka-protocol broker (tansu, in memory): the
//! messages and their fields, a dead broker that never slows calls (drops counted), the broker
//! coming back, producer replacement on update, and the seed configuration.

use apigw_testkit::{http_api, seed_requests, Backend, GatewayClient, TestServer, RELEASE};
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::ClientBuilder;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tansu broker on a free port, storing in memory (or, when it must authenticate clients, in
/// SQLite: its SCRAM users are created before authentication is switched on, and must outlive
/// the restart); optionally behind TLS.
struct Broker {
    port: u16,
    /// Where clients are sent (the TLS terminator, when there is one).
    advertised: u16,
    storage: String,
    /// `--authentication`: the broker refuses clients that do not authenticate with SCRAM.
    auth: bool,
    /// The client TLS configuration when TLS is terminated in front of the broker.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// The SCRAM accounts of the tests: (user, password, mechanism as tansu names it).
const SCRAM_256: (&str, &str, &str) = ("apigw256", "scram-256-password", "scram256");
const SCRAM_512: (&str, &str, &str) = ("apigw512", "scram-512-password", "scram512");

impl Broker {
    /// A broker on a free port, not started yet.
    fn new(storage: &str, dir: Option<tempfile::TempDir>) -> Self {
        let port = free_port();
        Self {
            port,
            advertised: port,
            storage: storage.into(),
            auth: false,
            tls: None,
            child: None,
            _dir: dir,
        }
    }

    fn start() -> Self {
        let mut b = Self::new("memory://tansu/", None);
        b.restart();
        b
    }

    /// A broker that requires SCRAM, with the two test users and `topics`; with `ca`, reached
    /// through TLS terminated in front of it (tansu 0.6's CLI cannot enable its own TLS:
    /// `--cert` and `--key` exclude each other).
    async fn start_scram(topics: &[&str], ca: Option<&apigw_testkit::TestCa>) -> Self {
        // tansu takes the path relative to its working directory (the temporary one).
        let mut b = Self::new("sqlite://tansu.db", Some(tempfile::tempdir().unwrap()));
        let port = b.port;
        b.restart();
        for (user, password, mechanism) in [SCRAM_256, SCRAM_512] {
            let url = format!("tcp://127.0.0.1:{port}");
            let status = Command::new(tansu())
                .args([
                    "user",
                    "create",
                    user,
                    password,
                    "--broker",
                    &url,
                    "--mechanism",
                    mechanism,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "tansu user create {user}");
        }
        for t in topics {
            b.create_topic(t);
        }
        b.stop();
        b.auth = true;
        if let Some(ca) = ca {
            b.advertised = free_port();
            b.tls = Some(ca.client_config());
            apigw_testkit::tls_terminator(
                b.advertised,
                format!("127.0.0.1:{port}"),
                ca.server_config(),
            )
            .await;
        }
        b.restart();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.advertised)
    }

    async fn client(&self) -> rskafka::client::Client {
        let mut b = ClientBuilder::new(vec![self.addr()]);
        if self.auth {
            b = b.sasl_config(rskafka::client::SaslConfig::ScramSha256(
                rskafka::client::Credentials::new(SCRAM_256.0.into(), SCRAM_256.1.into()),
            ));
        }
        if let Some(tls) = &self.tls {
            b = b.tls_config(tls.clone());
        }
        b.build().await.unwrap()
    }

    fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised);
        let mut cmd = Command::new(tansu());
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &advertised,
            "--storage-engine",
            &self.storage,
        ]);
        if self.auth {
            cmd.arg("--authentication");
        }
        if let Some(dir) = &self._dir {
            cmd.current_dir(dir.path());
        }
        let child = cmd
            .stdout(match std::env::var("APIGW_TANSU_LOG") {
                // For debugging: where tansu's log goes.
                Ok(path) => std::fs::File::create(path).unwrap().into(),
                Err(_) => Stdio::null(),
            })
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
        let client = self.client().await;
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
            .create_published_api(http_api(
                "logged",
                &group,
                "ANY",
                "/logged",
                &backend.addr.to_string(),
                "/",
            ))
            .await;
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
        let m = self.s.admin.metrics().await;
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
        "meta_config": {"system": {"upstream_uri": true},
                        "call_data": {"log_request_header": true, "request_header_filter": "x-trace",
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
        assert_eq!(
            m["upstream_uri"],
            format!("/?i={i}"),
            "the backend path, when on"
        );
        assert_eq!(m["call_data"]["request_header"], json!({"x-trace": "t1"}));
        assert_eq!(m["call_data"]["request_query_string"], format!("i={i}"));
        assert!(m.get("api_id").is_none(), "api_id is off by default");
    }
    assert_eq!(w.metric("apigw_kafka_log_sent_total", &p).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_refused_after_its_body_was_read_is_logged_with_the_body() {
    let broker = Broker::start();
    broker.create_topic("refused");
    let w = World::new().await;
    w.bind(json!({"broker_list": [broker.addr()], "topic": "refused",
        "meta_config": {"call_data": {"log_request_body": true}}}))
        .await;
    // third_auth reads the body to carry it to its auth service, which is not there: 500.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let auth = w
        .s
        .admin
        .create_plugin(
            "auth plugin",
            "third_auth",
            json!({"auth_request": {"method": "POST", "protocol": "HTTP", "url_domain": dead_addr,
                                    "path": "/check", "timeout": 1000},
                   "simple_auth_mode_enabled": true,
                   "carry_body": {"enabled": true, "max_body_size": 1024}}),
        )
        .await;
    w.s.admin.bind(&auth, RELEASE, &[&w.api]).await;
    let r = w.gw.call("POST", "/logged", &[], b"the-body").await;
    assert_eq!(r.status, 500, "{}", r.text);
    let got = broker.consume("refused", 1).await;
    assert_eq!(got[0].1["http_status"], 500);
    assert_eq!(got[0].1["call_data"]["request_body"], "the-body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_of_an_iam_call_is_never_logged() {
    let broker = Broker::start();
    broker.create_topic("iam-calls");
    let w = World::new().await;
    let group = w.s.admin.default_group().await;
    let mut iam = http_api(
        "iam_logged",
        &group,
        "GET",
        "/iam-logged",
        "127.0.0.1:9",
        "/",
    );
    iam["auth_type"] = json!("IAM");
    iam["backend_type"] = json!("MOCK");
    iam["mock_info"] = json!({"status_code": 200, "result_content": "ok"});
    iam.as_object_mut().unwrap().remove("backend_api");
    let api = w.s.admin.create_published_api(iam).await;
    let p = w
        .s
        .admin
        .create_plugin(
            "iam kafka",
            "kafka_log",
            json!({"broker_list": [broker.addr()], "topic": "iam-calls",
                "meta_config": {"call_data": {"log_request_header": true, "request_header_filter": "*"}}}),
        )
        .await;
    w.s.admin.bind(&p, RELEASE, &[&api]).await;
    let ok =
        w.gw.call(
            "GET",
            "/iam-logged",
            &[("x-auth-token", apigw_testkit::TOKEN), ("x-trace", "t")],
            b"",
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let wrong =
        w.gw.call(
            "GET",
            "/iam-logged",
            &[("x-auth-token", "a-guess"), ("x-trace", "t")],
            b"",
        )
        .await;
    assert_eq!(wrong.status, 401);
    let got = broker.consume("iam-calls", 2).await;
    assert_eq!(got.len(), 2);
    for (_, m) in &got {
        let logged = &m["call_data"]["request_header"];
        assert_eq!(logged["x-trace"], "t", "other headers are logged: {m}");
        assert!(logged.get("x-auth-token").is_none(), "{m}");
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_headers_and_body_are_logged_once_the_response_is_sent() {
    let broker = Broker::start();
    broker.create_topic("bodies");
    let w = World::new().await;
    w.bind(json!({"broker_list": [broker.addr()], "topic": "bodies",
        "meta_config": {"system": {"start_time": true, "request_id": true, "response_size": true},
            "call_data": {"log_response_header": true, "response_header_filter": "x-backend,content-type",
                          "log_response_body": true}}}))
        .await;
    let small = w.gw.get("/logged?size=small").await;
    assert_eq!(small.status, 200);
    let big = w.gw.get(&format!("/logged?pad={}", "p".repeat(3000))).await;
    assert_eq!(big.status, 200);
    let got = broker.consume("bodies", 2).await;
    assert_eq!(got.len(), 2);
    let (_, first) = &got[0];
    assert_eq!(first["call_data"]["response_body"], small.text.as_str());
    assert_eq!(first["response_size"], small.text.len() as u64);
    assert_eq!(
        first["call_data"]["response_header"],
        json!({"x-backend": "echo", "content-type": "application/json"})
    );
    assert!(first.get("body_truncated").is_none());
    let (_, second) = &got[1];
    let logged = second["call_data"]["response_body"].as_str().unwrap();
    assert_eq!(logged.len(), 1024, "cut at 1 KB");
    assert!(big.text.starts_with(logged));
    assert_eq!(
        second["response_size"],
        big.text.len() as u64,
        "the bytes sent"
    );
    assert_eq!(second["body_truncated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_headers_are_logged_from_the_head_when_the_message_needs_no_body() {
    let broker = Broker::start();
    broker.create_topic("heads");
    let w = World::new().await;
    w.bind(json!({"broker_list": [broker.addr()], "topic": "heads",
        "meta_config": {"system": {"request_id": true, "response_size": false},
            "call_data": {"log_response_header": true, "response_header_filter": "x-backend"}}}))
        .await;
    let r = w.gw.get("/logged").await;
    assert_eq!(r.status, 200);
    let got = broker.consume("heads", 1).await;
    let (_, m) = &got[0];
    assert_eq!(m["request_id"], r.headers["x-request-id"].to_str().unwrap());
    assert_eq!(
        m["call_data"]["response_header"],
        json!({"x-backend": "echo"})
    );
    assert!(m.get("response_size").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_cache_hit_is_logged_like_any_answer() {
    let broker = Broker::start();
    broker.create_topic("hits");
    let w = World::new().await;
    w.bind(json!({"broker_list": [broker.addr()], "topic": "hits",
        "meta_config": {"call_data": {"log_response_header": true, "response_header_filter": "x-apig-cache,age",
                                      "log_response_body": true}}}))
        .await;
    let cache =
        w.s.admin
            .create_plugin(
                "cache",
                "proxy_cache",
                json!({"cache_key": {"parameters": ["k"]},
                   "cache_http_status_and_ttl": [{"http_status": [200], "ttl": 600}]}),
            )
            .await;
    w.s.admin.bind(&cache, RELEASE, &[&w.api]).await;
    let miss = w.gw.get("/logged?k=1").await;
    let hit = w.gw.get("/logged?k=1").await;
    assert_eq!(hit.headers["x-apig-cache"], "HIT");
    assert_eq!(hit.text, miss.text, "the kept body");
    let got = broker.consume("hits", 2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].1["call_data"]["response_header"]["x-apig-cache"],
        "MISS"
    );
    let (_, logged) = &got[1];
    assert_eq!(
        logged["call_data"]["response_header"]["x-apig-cache"],
        "HIT"
    );
    assert!(logged["call_data"]["response_header"]["age"].is_string());
    assert_eq!(logged["call_data"]["response_body"], hit.text.as_str());
}

/// Content for a broker that requires SCRAM, over TLS when `ca` is given.
fn scram_content(
    broker: &Broker,
    topic: &str,
    (user, password, mechanism): (&str, &str, &str),
    ca: Option<&apigw_testkit::TestCa>,
) -> Value {
    let mechanism = if mechanism == "scram512" {
        "SCRAM-SHA-512"
    } else {
        "SCRAM-SHA-256"
    };
    let mut sasl = json!({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanisms": mechanism,
        "sasl_username": user, "sasl_password": password});
    if let Some(ca) = ca {
        sasl["security_protocol"] = json!("SASL_SSL");
        sasl["ssl_ca_content"] = json!(ca.ca_pem);
    }
    json!({"broker_list": [broker.addr()], "topic": topic, "sasl_config": sasl,
           "max_retry_count": 0})
}

impl World {
    /// Waits until the plug-in counted `n` drops.
    async fn dropped(&self, plugin_id: &str, n: u64) -> bool {
        apigw_testkit::within(Duration::from_secs(15), || async {
            self.metric("apigw_kafka_log_dropped_total", plugin_id)
                .await
                == n
        })
        .await
        .is_some()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_sha_256_and_512_deliver_to_a_broker_that_requires_authentication() {
    let broker = Broker::start_scram(&["scram"], None).await;
    for account in [SCRAM_256, SCRAM_512] {
        let w = World::new().await;
        let p = w.bind(scram_content(&broker, "scram", account, None)).await;
        assert_eq!(w.gw.get("/logged").await.status, 200);
        let sent = apigw_testkit::within(Duration::from_secs(15), || async {
            w.metric("apigw_kafka_log_sent_total", &p).await == 1
        })
        .await;
        assert!(sent.is_some(), "{} did not deliver", account.2);
    }
    let got = broker.consume("scram", 2).await;
    assert_eq!(got.len(), 2, "both messages consumed back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_no_sasl_is_refused_by_the_broker_and_calls_still_pass() {
    let broker = Broker::start_scram(&["refused"], None).await;
    let w = World::new().await;
    let wrong = (SCRAM_256.0, "not-the-password", SCRAM_256.2);
    let p = w.bind(scram_content(&broker, "refused", wrong, None)).await;
    assert_eq!(w.gw.get("/logged").await.status, 200);
    assert!(w.dropped(&p, 1).await, "a wrong password delivered");

    let w = World::new().await;
    let p = w
        .bind(json!({"broker_list": [broker.addr()], "topic": "refused", "max_retry_count": 0}))
        .await;
    assert_eq!(w.gw.get("/logged").await.status, 200);
    assert!(w.dropped(&p, 1).await, "no SASL delivered");
    assert_eq!(w.metric("apigw_kafka_log_sent_total", &p).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_delivers_over_tls_trusting_only_ssl_ca_content() {
    let ca = apigw_testkit::TestCa::new();
    let broker = Broker::start_scram(&["tls"], Some(&ca)).await;
    let w = World::new().await;
    let p = w
        .bind(scram_content(&broker, "tls", SCRAM_512, Some(&ca)))
        .await;
    assert_eq!(w.gw.get("/logged").await.status, 200);
    let got = broker.consume("tls", 1).await;
    assert_eq!(got.len(), 1, "the SASL_SSL message consumed back");
    assert_eq!(w.metric("apigw_kafka_log_sent_total", &p).await, 1);

    // Another CA: the broker's certificate is not trusted, nothing is sent.
    let other = apigw_testkit::TestCa::new();
    let w = World::new().await;
    let p = w
        .bind(scram_content(&broker, "tls", SCRAM_512, Some(&other)))
        .await;
    assert_eq!(w.gw.get("/logged").await.status, 200);
    assert!(
        w.dropped(&p, 1).await,
        "an untrusted broker got the message"
    );
    assert_eq!(w.metric("apigw_kafka_log_sent_total", &p).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_the_messages_of_every_call_answered_before_the_stop() {
    let broker = Broker::start();
    broker.create_topic("stopping");
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = apigw_testkit::ServerProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_apigw")),
        dir.path(),
    );
    let group = server.admin.default_group().await;
    let api = server
        .admin
        .create_published_api(http_api(
            "logged",
            &group,
            "GET",
            "/logged",
            &backend.addr.to_string(),
            "/",
        ))
        .await;
    let p = server
        .admin
        .create_plugin(
            "kafka plugin",
            "kafka_log",
            json!({"broker_list": [broker.addr()], "topic": "stopping"}),
        )
        .await;
    server.admin.bind(&p, RELEASE, &[&api]).await;
    // Calls keep coming until the gateway stops answering; the stop comes in the middle, so
    // the last calls' messages are still queued (lingering) when it does.
    let url = format!("http://{}/logged", server.gateway_addr);
    let load = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut answered = Vec::new();
        while let Ok(r) = http.get(&url).send().await {
            if r.status() != 200 {
                break;
            }
            answered.push(r.headers()["x-request-id"].to_str().unwrap().to_string());
        }
        answered
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let answered = load.await.unwrap();
    let status = tokio::task::spawn_blocking(move || server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        answered.len() >= 10,
        "calls were answered: {}",
        answered.len()
    );
    let got = broker.consume("stopping", answered.len()).await;
    let logged: std::collections::HashSet<&str> = got
        .iter()
        .filter_map(|(_, m)| m["request_id"].as_str())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !logged.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered calls were not logged: {lost:?}",
        lost.len(),
        answered.len()
    );
}
