//! The test harness of apigw: a real server on `127.0.0.1:0` (in-process, or as the real binary
//! in a child process that can be killed with SIGKILL), and an admin client that authenticates
//! exactly as the SDKs do.
//!
//! ```ignore
//! let server = TestServer::start().await;
//! let resp = server.admin.post("/plugins", &body).await;
//! assert_eq!(resp.status, 201);
//! ```

use apigw::config::ServeArgs;
use apigw_model::sign::{self, RequestParts};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Fixed credentials of test servers.
pub const PROJECT: &str = "0123456789abcdef0123456789abcdef";
pub const INSTANCE: &str = "fedcba9876543210fedcba9876543210";
pub const AK: &str = "TESTACCESSKEY0000001";
pub const SK: &str = "test-secret-key-0000000000000000000000001";
pub const TOKEN: &str = "test-token-00000000000000000000000000000000000000000000000000001";

/// The API family of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Apigw,
    Apic,
}

/// An HTTP answer, body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// The APIG error code of an error answer.
    pub fn code(&self) -> &str {
        self.json["error_code"].as_str().unwrap_or("")
    }
    /// The APIG error message of an error answer.
    pub fn msg(&self) -> &str {
        self.json["error_msg"].as_str().unwrap_or("")
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Token(String),
    /// SDK-HMAC-SHA256 with this AK/SK, signed `seconds_off` away from now.
    Sign {
        ak: String,
        sk: String,
        seconds_off: i64,
    },
}

/// A control-plane client for one server.
#[derive(Debug, Clone)]
pub struct Admin {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub project: String,
    pub instance: String,
    pub auth: Auth,
    pub family: Family,
    http: reqwest::Client,
}

fn sdk_date(seconds_off: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds_off);
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(f).unwrap()
}

impl Admin {
    pub fn new(base: String, project: &str, instance: &str) -> Self {
        Self {
            base,
            project: project.into(),
            instance: instance.into(),
            auth: Auth::Sign {
                ak: AK.into(),
                sk: SK.into(),
                seconds_off: 0,
            },
            family: Family::Apigw,
            http: reqwest::Client::new(),
        }
    }

    /// The same client with other authentication.
    pub fn with_auth(&self, auth: Auth) -> Self {
        Self {
            auth,
            ..self.clone()
        }
    }

    /// The same client on the other path family.
    pub fn with_family(&self, family: Family) -> Self {
        Self {
            family,
            ..self.clone()
        }
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The instance base path.
    pub fn base_path(&self) -> String {
        let fam = match self.family {
            Family::Apigw => "apigw",
            Family::Apic => "apic",
        };
        format!("/v2/{}/{fam}/instances/{}", self.project, self.instance)
    }

    pub async fn get(&self, suffix: &str) -> Resp {
        self.call("GET", &format!("{}{suffix}", self.base_path()), b"")
            .await
    }
    pub async fn delete(&self, suffix: &str) -> Resp {
        self.call("DELETE", &format!("{}{suffix}", self.base_path()), b"")
            .await
    }
    pub async fn post(&self, suffix: &str, body: &Value) -> Resp {
        self.call(
            "POST",
            &format!("{}{suffix}", self.base_path()),
            body.to_string().as_bytes(),
        )
        .await
    }
    pub async fn put(&self, suffix: &str, body: &Value) -> Resp {
        self.call(
            "PUT",
            &format!("{}{suffix}", self.base_path()),
            body.to_string().as_bytes(),
        )
        .await
    }

    /// Any request: `path_and_query` is absolute (`/v2/...?...`), `body` raw bytes.
    pub async fn call(&self, method: &str, path_and_query: &str, body: &[u8]) -> Resp {
        self.try_call(method, path_and_query, body)
            .await
            .expect("the server answers")
    }

    /// [`Admin::call`] that reports a failed connection instead of panicking.
    pub async fn try_call(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<Resp, reqwest::Error> {
        let url = format!("{}{path_and_query}", self.base);
        let host = self.base.trim_start_matches("http://").to_string();
        let mut req = self
            .http
            .request(method.parse().unwrap(), &url)
            .header("content-type", "application/json;charset=utf-8")
            .header("x-project-id", &self.project)
            .body(body.to_vec());
        match &self.auth {
            Auth::None => {}
            Auth::Token(t) => req = req.header("x-auth-token", t),
            Auth::Sign {
                ak,
                sk,
                seconds_off,
            } => {
                let date = sdk_date(*seconds_off);
                let (path, query) = match path_and_query.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (path_and_query, None),
                };
                let parts = RequestParts {
                    method,
                    path,
                    query,
                    body,
                };
                let headers = [
                    ("content-type", "application/json;charset=utf-8"),
                    ("host", host.as_str()),
                    ("x-project-id", self.project.as_str()),
                    ("x-sdk-date", date.as_str()),
                ];
                let authz = sign::sign_request(ak, sk, &parts, &headers);
                req = req
                    .header("x-sdk-date", date)
                    .header("authorization", authz);
            }
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            json,
        })
    }
}

/// `ServeArgs` for a test server in `dir` on free loopback ports with the fixed credentials.
pub fn serve_args(dir: &Path) -> ServeArgs {
    ServeArgs {
        data_dir: dir.to_path_buf(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        gateway_addr: "127.0.0.1:0".parse().unwrap(),
        project_id: Some(PROJECT.into()),
        instance_id: Some(INSTANCE.into()),
        access_key: Some(AK.into()),
        secret_key: Some(SK.into()),
        auth_token: Some(TOKEN.into()),
        store_url: None,
        redis_url: None,
        trust_forwarded_for: false,
        domain_suffix: "apigw.localhost".into(),
        worker_threads: None,
        max_connections: 10_000,
        client_timeout_ms: 30_000,
        metrics_auth: false,
        backend_ca_file: None,
    }
}

/// An in-process server with its own data directory; stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    pub admin: Admin,
    pub running: apigw::Running,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose settings `adjust` changes first (`redis_url`, say).
    pub async fn start_with(adjust: impl FnOnce(&mut ServeArgs)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut args = serve_args(dir.path());
        adjust(&mut args);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            apigw::serve(args, shutdown, move |r| {
                let _ = ready_tx.send(r.clone());
            })
            .await
            .expect("the test server runs");
        });
        let running = ready_rx.await.expect("the test server starts");
        let admin = Admin::new(format!("http://{}", running.admin_addr), PROJECT, INSTANCE);
        Self {
            admin,
            running,
            dir,
            stop: Some(stop_tx),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The real `apigw serve` binary in a child process.
#[derive(Debug)]
pub struct ServerProcess {
    pub child: std::process::Child,
    pub admin: Admin,
    pub admin_addr: String,
    pub gateway_addr: String,
    /// Every line the process printed (its log goes to stdout).
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `bin serve` with data in `dir` on free ports and waits until it listens.
    pub fn spawn(bin: &Path, dir: &Path) -> Self {
        Self::spawn_with_env(bin, dir, &[])
    }

    /// [`ServerProcess::spawn`] with extra environment variables.
    pub fn spawn_with_env(bin: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("serve")
            .env("APIGW_DATA_DIR", dir)
            .env("APIGW_ADMIN_ADDR", "127.0.0.1:0")
            .env("APIGW_GATEWAY_ADDR", "127.0.0.1:0")
            .env("APIGW_PROJECT_ID", PROJECT)
            .env("APIGW_INSTANCE_ID", INSTANCE)
            .env("APIGW_ACCESS_KEY", AK)
            .env("APIGW_SECRET_KEY", SK)
            .env("APIGW_AUTH_TOKEN", TOKEN)
            .env("RUST_LOG", "warn");
        // The caller's settings win over the defaults above.
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the apigw binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let (admin_addr, gateway_addr) = loop {
            let line = lines.next().expect("apigw prints its addresses").unwrap();
            if let Some(rest) = line.strip_prefix("apigw: control plane on http://") {
                let (admin, rest) = rest.split_once(", data plane on http://").unwrap();
                let gateway = rest.split(',').next().unwrap();
                break (admin.to_string(), gateway.to_string());
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe, and keep what it says.
        let output: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let admin = Admin::new(format!("http://{admin_addr}"), PROJECT, INSTANCE);
        Self {
            child,
            admin,
            admin_addr,
            gateway_addr,
            output,
        }
    }

    /// Everything the process has printed so far.
    pub fn log(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seed example requests of the APIG and ROMA "Creating a Plug-in" pages.
pub fn seed_requests() -> Vec<Value> {
    let path = workspace_root().join("tests/fixtures/seed-example-requests.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The id of the built-in RELEASE environment.
pub const RELEASE: &str = "DEFAULT_ENVIRONMENT_RELEASE_ID";

/// Conveniences to set up what the data plane serves.
impl Admin {
    fn expect(resp: Resp, status: u16) -> Value {
        assert_eq!(resp.status, status, "{}", resp.text);
        resp.json
    }

    /// Creates a group; returns `(id, sl_domain)`.
    pub async fn create_group(&self, name: &str) -> (String, String) {
        let v = Self::expect(
            self.post("/api-groups", &serde_json::json!({"name": name}))
                .await,
            201,
        );
        (
            v["id"].as_str().unwrap().into(),
            v["sl_domain"].as_str().unwrap().into(),
        )
    }

    /// The id of the built-in DEFAULT group.
    pub async fn default_group(&self) -> String {
        let v = Self::expect(
            self.get("/api-groups?name=DEFAULT&precise_search=name")
                .await,
            200,
        );
        v["groups"][0]["id"].as_str().unwrap().into()
    }

    /// Creates an API from an `ApiCreate` body; returns its id.
    pub async fn create_api(&self, body: Value) -> String {
        Self::expect(self.post("/apis", &body).await, 201)["id"]
            .as_str()
            .unwrap()
            .into()
    }

    /// Publishes (`online`) or takes offline an API in an environment.
    pub async fn publish(&self, api_id: &str, env_id: &str, online: bool) {
        let action = if online { "online" } else { "offline" };
        let body = serde_json::json!({"action": action, "env_id": env_id, "api_id": api_id});
        Self::expect(self.post("/apis/action", &body).await, 201);
    }

    /// Creates a plug-in; returns its id.
    pub async fn create_plugin(&self, name: &str, plugin_type: &str, content: Value) -> String {
        let body = serde_json::json!({"plugin_name": name, "plugin_type": plugin_type, "plugin_scope": "global",
                                      "plugin_content": content.to_string()});
        Self::expect(self.post("/plugins", &body).await, 201)["plugin_id"]
            .as_str()
            .unwrap()
            .into()
    }

    /// Binds a plug-in to APIs in an environment.
    pub async fn bind(&self, plugin_id: &str, env_id: &str, api_ids: &[&str]) {
        let body = serde_json::json!({"env_id": env_id, "api_ids": api_ids});
        Self::expect(
            self.post(&format!("/plugins/{plugin_id}/attach"), &body)
                .await,
            201,
        );
    }

    /// Unbinds a plug-in from APIs in an environment.
    pub async fn unbind(&self, plugin_id: &str, env_id: &str, api_ids: &[&str]) {
        let body = serde_json::json!({"env_id": env_id, "api_ids": api_ids});
        Self::expect(
            self.put(&format!("/plugins/{plugin_id}/detach"), &body)
                .await,
            204,
        );
    }
}

/// An `ApiCreate` body for an HTTP API in `group` on `method uri`, proxied to `backend` (`host:port`)
/// at `backend_uri`.
pub fn http_api(
    name: &str,
    group: &str,
    method: &str,
    uri: &str,
    backend: &str,
    backend_uri: &str,
) -> Value {
    serde_json::json!({"name": name, "type": 1, "req_protocol": "HTTP", "req_method": method, "req_uri": uri,
        "auth_type": "NONE", "backend_type": "HTTP", "group_id": group,
        "backend_api": {"url_domain": backend, "req_protocol": "HTTP", "req_method": "ANY", "req_uri": backend_uri, "timeout": 2000}})
}

/// A client of the data plane.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    pub base: String,
    http: reqwest::Client,
}

impl GatewayClient {
    pub fn new(addr: impl std::fmt::Display) -> Self {
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    /// A request with extra headers (`host` among them to pick a group).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[], b"").await
    }
}

/// A real HTTP backend for tests: echoes each request as JSON and counts calls.
///
/// - any path: `200` `{"method", "path", "query", "headers": {name: [values]}, "body", "peer"}` with
///   headers `x-backend: echo` and `access-control-allow-origin: https://backend.example`;
/// - `/slow/{ms}/...`: the same after sleeping `ms` milliseconds;
/// - `/status/{code}/...`: the same with that status.
#[derive(Debug)]
pub struct Backend {
    pub addr: std::net::SocketAddr,
    pub calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Backend {
    pub async fn start() -> Self {
        use axum::extract::Request;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let (parts, body) = req.into_parts();
                let peer = parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.to_string())
                    .unwrap_or_default();
                let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
                let path = parts.uri.path().to_string();
                let mut segs = path.trim_start_matches('/').split('/');
                let mut status = 200;
                match (segs.next(), segs.next()) {
                    (Some("slow"), Some(ms)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0))).await
                    }
                    (Some("status"), Some(code)) => status = code.parse().unwrap_or(200),
                    _ => {}
                }
                let mut headers = serde_json::Map::new();
                for (k, v) in &parts.headers {
                    let list = headers.entry(k.as_str()).or_insert_with(|| Value::Array(vec![]));
                    list.as_array_mut().unwrap().push(Value::String(String::from_utf8_lossy(v.as_bytes()).into()));
                }
                let echo = serde_json::json!({
                    "method": parts.method.as_str(), "path": path, "query": parts.uri.query().unwrap_or(""),
                    "headers": headers, "body": String::from_utf8_lossy(&body), "peer": peer,
                });
                let mut resp = axum::response::Response::new(axum::body::Body::from(echo.to_string()));
                *resp.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                let h = resp.headers_mut();
                h.insert("content-type", "application/json".parse().unwrap());
                h.insert("x-backend", "echo".parse().unwrap());
                h.insert("server", "test-backend".parse().unwrap());
                h.insert("access-control-allow-origin", "https://backend.example".parse().unwrap());
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, calls }
    }

    /// Calls received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Sends `method path` with a chunked body of 13 one-MiB chunks (past APIG's 12 MiB) on a new
/// connection to `addr` and returns everything the gateway answers until it closes.
pub async fn oversize_chunked_upload(
    addr: impl tokio::net::ToSocketAddrs,
    method: &str,
    path: &str,
    host: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\
         connection: close\r\n\r\n"
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'e'; 1024 * 1024];
    for _ in 0..13 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        // The gateway may answer and close before it has read everything.
        if c.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = c.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Polls `f` every 5 ms until it holds or `within` passes; returns how long it took.
pub async fn within<F, Fut>(within: std::time::Duration, mut f: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if f().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The Redis every test may use (`APIGW_TEST_REDIS_URL`, default the local one). Tests keep to
/// their own keys (plug-in ids are random).
pub fn redis_url() -> String {
    std::env::var("APIGW_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A private `redis-server` on a free port, for tests that stop and restart Redis.
#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = Self { port, child: None };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it (again) on its port and waits until it answers.
    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        self.child = Some(child);
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Kills it (SIGKILL): Redis is gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The PostgreSQL server tests use (`APIGW_TEST_PG_URL`, default the local one).
pub fn pg_base() -> String {
    std::env::var("APIGW_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own for one test; [`PgSchema::url`] points a store at it.
#[derive(Debug)]
pub struct PgSchema {
    pub name: String,
}

impl PgSchema {
    pub async fn create() -> Self {
        let name = format!("t_{}", apigw_model::id::new_id());
        let (c, conn) = tokio_postgres::connect(&pg_base(), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL answers at APIGW_TEST_PG_URL (scripts/test.sh starts one)");
        tokio::spawn(conn);
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Self { name }
    }

    /// The store URL of this schema, through `host_port` (the server's, or a proxy's).
    pub fn url_via(&self, host_port: &str) -> String {
        let base = pg_base().replace("127.0.0.1:5432", host_port);
        format!("{base}?options=-c%20search_path%3D{}", self.name)
    }

    pub fn url(&self) -> String {
        self.url_via("127.0.0.1:5432")
    }

    /// Drops the schema (at the end of a passing test).
    pub async fn drop_schema(self) {
        let (c, conn) = tokio_postgres::connect(&pg_base(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap();
    }
}

/// A TCP forwarder that can be cut and restored, to take a service away from a node.
#[derive(Debug)]
pub struct TcpProxy {
    pub port: u16,
    target: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Forwards a free local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = Self {
            port,
            target: target.into(),
            tasks: Default::default(),
        };
        p.restore().await;
        p
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Accepts and forwards again.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Stops accepting and cuts every forwarded connection.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A test CA and a server certificate for 127.0.0.1 signed by it, made with the `openssl` CLI.
#[derive(Debug)]
pub struct TestCa {
    pub dir: tempfile::TempDir,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("the openssl CLI is installed");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=apigw test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        Self { dir, ca_pem }
    }

    /// A rustls server configuration with the server certificate.
    pub fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(self.dir.path().join("server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(self.dir.path().join("server.key")).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        std::sync::Arc::new(config)
    }

    /// A rustls client configuration trusting only this CA.
    pub fn client_config(&self) -> std::sync::Arc<rustls::ClientConfig> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        std::sync::Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// Terminates TLS on `port` (127.0.0.1) and forwards the plain bytes to `target`: puts TLS in
/// front of a service that cannot do it itself.
pub async fn tls_terminator(
    port: u16,
    target: String,
    config: std::sync::Arc<rustls::ServerConfig>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (acceptor, target) = (acceptor.clone(), target.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(inbound).await else {
                    return;
                };
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                }
            });
        }
    });
}
