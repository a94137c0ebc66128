//! A real HTTP backend behind the gateway (a small axum app).

use serde_json::Value;

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
