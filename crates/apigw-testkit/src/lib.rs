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
        domain_suffix: "apigw.localhost".into(),
        worker_threads: None,
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
        let dir = tempfile::tempdir().unwrap();
        let args = serve_args(dir.path());
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
}

impl ServerProcess {
    /// Starts `bin serve` with data in `dir` on free ports and waits until it listens.
    pub fn spawn(bin: &Path, dir: &Path) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(bin)
            .arg("serve")
            .env("APIGW_DATA_DIR", dir)
            .env("APIGW_ADMIN_ADDR", "127.0.0.1:0")
            .env("APIGW_GATEWAY_ADDR", "127.0.0.1:0")
            .env("APIGW_PROJECT_ID", PROJECT)
            .env("APIGW_INSTANCE_ID", INSTANCE)
            .env("APIGW_ACCESS_KEY", AK)
            .env("APIGW_SECRET_KEY", SK)
            .env("APIGW_AUTH_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
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
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let admin = Admin::new(format!("http://{admin_addr}"), PROJECT, INSTANCE);
        Self {
            child,
            admin,
            admin_addr,
            gateway_addr,
        }
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
