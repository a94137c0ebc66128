//! Clients of the data plane: [`GatewayClient`] for ordinary calls, and a raw connection for
//! what an HTTP client library will not send.

use crate::Resp;

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
        Resp::read(resp)
            .await
            .expect("the gateway's answer is read")
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[], b"").await
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
