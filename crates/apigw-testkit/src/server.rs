//! The gateway under test: in-process ([`TestServer`]) or the real binary in a child process
//! that can be killed with SIGKILL ([`ServerProcess`]), both on free loopback ports with the
//! fixed credentials.

use crate::{Admin, AK, INSTANCE, PROJECT, SK, TOKEN};
use apigw::config::ServeArgs;
use std::path::Path;

/// `ServeArgs` for a test server in `dir` on free loopback ports with the fixed credentials.
pub fn serve_args(dir: &Path) -> ServeArgs {
    ServeArgs {
        data_dir: dir.to_path_buf(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        gateway_addr: "127.0.0.1:0".parse().unwrap(),
        gateway_tls_addr: "127.0.0.1:0".parse().unwrap(),
        project_id: Some(PROJECT.into()),
        instance_id: Some(INSTANCE.into()),
        access_key: Some(AK.into()),
        secret_key: Some(SK.into()),
        auth_token: Some(TOKEN.into()),
        store_url: None,
        secrets_key_file: None,
        redis_url: None,
        trust_forwarded_for: false,
        domain_suffix: "apigw.localhost".into(),
        worker_threads: None,
        max_connections: 10_000,
        client_timeout_ms: 30_000,
        metrics_auth: false,
        disable_http2: false,
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
    pub gateway_tls_addr: String,
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
            .env("APIGW_GATEWAY_TLS_ADDR", "127.0.0.1:0")
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
        let (admin_addr, gateway_addr, gateway_tls_addr) = loop {
            let line = lines.next().expect("apigw prints its addresses").unwrap();
            if let Some(rest) = line.strip_prefix("apigw: control plane on http://") {
                let (admin, rest) = rest.split_once(", data plane on http://").unwrap();
                let gateway = rest.split(',').next().unwrap();
                let tls = rest.rsplit("https://").next().unwrap();
                break (admin.to_string(), gateway.to_string(), tls.to_string());
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
            gateway_tls_addr,
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
