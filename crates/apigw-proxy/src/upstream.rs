//! The backend side: one pooled keep-alive client (HTTP and HTTPS) for every backend, and the
//! rewriting of requests and responses on the way through.

use crate::error::{Body, GatewayError};
use crate::snapshot::{HttpBackend, PathPart};
use http::header::{HeaderName, HeaderValue, HOST};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::net::IpAddr;
use std::time::Duration;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The backend client.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client<Connector, Body>,
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}

impl Upstream {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(tls);
        Self { client }
    }

    /// Sends `req`; the backend must answer with headers within `timeout`.
    pub async fn send(
        &self,
        req: Request<Body>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Err(_) => Err(GatewayError::BackendTimeout),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "backend call failed");
                Err(GatewayError::BackendUnavailable)
            }
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those named by `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

/// The backend path: the template with parameter values, then (SWA) the rest of the path.
fn backend_path(b: &HttpBackend, values: &[&str], rest: &str) -> String {
    let mut p = String::with_capacity(64);
    for part in &b.path {
        match part {
            PathPart::Literal(l) => p.push_str(l),
            PathPart::Param(i) => p.push_str(values.get(*i).copied().unwrap_or("")),
        }
    }
    if b.trailing_slash {
        p.push('/');
    }
    if !rest.is_empty() {
        if p.ends_with('/') {
            p.pop();
        }
        p.push_str(rest);
    }
    if p.is_empty() {
        p.push('/');
    }
    p
}

/// Rewrites the client's request for the backend.
pub fn backend_request(
    b: &HttpBackend,
    mut parts: Parts,
    body: Body,
    values: &[&str],
    rest: &str,
    client_ip: IpAddr,
    request_id: &str,
) -> Result<Request<Body>, GatewayError> {
    let mut path = backend_path(b, values, rest);
    if let Some(q) = parts.uri.query() {
        path.push('?');
        path.push_str(q);
    }
    let pq = PathAndQuery::try_from(path).map_err(|_| GatewayError::BadBody)?;
    let uri = Uri::builder()
        .scheme(b.scheme.clone())
        .authority(b.authority.clone())
        .path_and_query(pq)
        .build()
        .map_err(|_| GatewayError::BadBody)?;
    let original_host = parts.headers.get(HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    let h = &mut parts.headers;
    h.insert(HOST, b.host.clone());
    let ip = client_ip.to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    if let Some(host) = original_host {
        h.insert("x-forwarded-host", host);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    if let Some(m) = &b.method {
        parts.method = m.clone();
    }
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    Ok(Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::uri::{Authority, Scheme};

    fn backend(path: Vec<PathPart>, trailing: bool) -> HttpBackend {
        HttpBackend {
            scheme: Scheme::HTTP,
            authority: Authority::from_static("b:80"),
            host: HeaderValue::from_static("b:80"),
            method: None,
            path,
            trailing_slash: trailing,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn parameters_and_swa_rests_make_the_backend_path() {
        let b = backend(
            vec![
                PathPart::Literal("/u".into()),
                PathPart::Literal("/".into()),
                PathPart::Param(0),
            ],
            false,
        );
        assert_eq!(backend_path(&b, &["42"], ""), "/u/42");
        assert_eq!(backend_path(&b, &["42"], "/more"), "/u/42/more");
        let root = backend(vec![], false);
        assert_eq!(backend_path(&root, &[], ""), "/");
        assert_eq!(backend_path(&root, &[], "/x/y"), "/x/y");
        let slash = backend(vec![PathPart::Literal("/v1".into())], true);
        assert_eq!(backend_path(&slash, &[], ""), "/v1/");
        assert_eq!(backend_path(&slash, &[], "/z"), "/v1/z");
    }

    #[test]
    fn hop_by_hop_headers_are_removed_with_those_connection_names() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
