//! The backend side: pooled keep-alive connections (HTTP and HTTPS) to every backend, driven
//! in the task of the call that uses them, and the rewriting of requests and responses on the
//! way through.

use crate::error::{Body, GatewayError};
use crate::snapshot::{HttpBackend, PathPart};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::request::Parts;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Request, Response, Uri};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
type Stream = hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
type Conn = http1::Connection<Stream, Body>;

/// Idle connections kept per backend.
pub const MAX_IDLE_PER_BACKEND: usize = 256;
/// Idle connections older than this are closed, not reused.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A backend connection: the request sender and the connection future that does its I/O.
///
/// The connection future is polled by whoever uses the connection, in that task: while waiting
/// for the response, and then by the response body as the client reads it (see
/// [`DrivenBody`]). No task per connection, no channel hop between tasks per request.
struct Pooled {
    sender: http1::SendRequest<Body>,
    conn: Pin<Box<Conn>>,
    idle_since: Instant,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled")
            .field("idle_since", &self.idle_since)
            .finish_non_exhaustive()
    }
}

/// The idle connections of one backend (`scheme://authority`).
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<Pooled>>,
}

impl Pool {
    fn put(&self, p: Pooled) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_PER_BACKEND {
            idle.push(p);
        }
    }

    fn take(&self) -> Option<Pooled> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }
}

/// A backend: scheme and `host:port`.
type BackendKey = (Scheme, Authority);

/// The backend client: a connector and the pools, one per backend.
#[derive(Debug, Clone)]
pub struct Upstream {
    connector: Connector,
    pools: Arc<Mutex<HashMap<BackendKey, Arc<Pool>>>>,
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
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            connector,
            pools: Arc::default(),
        }
    }

    /// The pool of a backend (looked up when snapshots are built, not per request).
    pub fn pool(&self, scheme: &Scheme, authority: &Authority) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry((scheme.clone(), authority.clone()))
            .or_default()
            .clone()
    }

    /// An idle connection that is still usable, or a new one.
    async fn checkout(&self, pool: &Pool, uri: &Uri) -> Result<Pooled, GatewayError> {
        while let Some(mut p) = pool.take() {
            if p.idle_since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            // Let the connection notice a close or finish the previous exchange, then ask the
            // sender whether it can take a request right now.
            let usable = poll_fn(|cx| {
                if p.conn.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                Poll::Ready(matches!(p.sender.poll_ready(cx), Poll::Ready(Ok(()))))
            })
            .await;
            if usable {
                return Ok(p);
            }
        }
        let mut connector = self.connector.clone();
        poll_fn(|cx| tower_service::Service::<Uri>::poll_ready(&mut connector, cx))
            .await
            .map_err(|_| GatewayError::BackendUnavailable)?;
        let stream = tower_service::Service::call(&mut connector, uri.clone())
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "backend connect failed");
                GatewayError::BackendUnavailable
            })?;
        let (sender, conn) = http1::Builder::new()
            .writev(false)
            .handshake(stream)
            .await
            .map_err(|_| GatewayError::BackendUnavailable)?;
        Ok(Pooled {
            sender,
            conn: Box::pin(conn),
            idle_since: Instant::now(),
        })
    }

    /// Sends `req` over a pooled connection to its backend; the backend must answer with
    /// headers within `timeout`. The response body drives the connection and hands it back to
    /// the pool once read to the end.
    pub async fn send(
        &self,
        pool: &Arc<Pool>,
        req: Request<Body>,
        timeout: Duration,
    ) -> Result<Response<DrivenBody>, GatewayError> {
        let exchange = async {
            let mut p = self.checkout(pool, req.uri()).await?;
            let mut req = req;
            // The connection already knows the backend: send origin-form.
            *req.uri_mut() = req
                .uri()
                .path_and_query()
                .map(|pq| Uri::from(pq.clone()))
                .unwrap_or_default();
            let response = p.sender.send_request(req);
            tokio::pin!(response);
            let mut conn_done = false;
            let resp = poll_fn(|cx| {
                if let Poll::Ready(r) = response.as_mut().poll(cx) {
                    return Poll::Ready(r.map_err(|e| exchange_error(&e)));
                }
                if !conn_done {
                    if let Poll::Ready(ended) = p.conn.as_mut().poll(cx) {
                        conn_done = true;
                        // The connection ended; the response may still be in the channel.
                        if let Poll::Ready(r) = response.as_mut().poll(cx) {
                            return Poll::Ready(r.map_err(|e| exchange_error(&e)));
                        }
                        return Poll::Ready(Err(match ended {
                            Err(e) => exchange_error(&e),
                            Ok(()) => GatewayError::BackendUnavailable,
                        }));
                    }
                }
                Poll::Pending
            })
            .await?;
            let (parts, body) = resp.into_parts();
            let conn = if conn_done { None } else { Some(p) };
            Ok(Response::from_parts(
                parts,
                DrivenBody {
                    body,
                    conn,
                    pool: pool.clone(),
                },
            ))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(GatewayError::BackendTimeout),
            Ok(r) => r,
        }
    }
}

/// Why an exchange with a backend failed: the client's body went over the limit (413), or the
/// backend failed (502).
fn exchange_error(e: &hyper::Error) -> GatewayError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return GatewayError::BodyTooLarge;
        }
        source = s.source();
    }
    tracing::debug!(error = %e, "backend exchange failed");
    GatewayError::BackendUnavailable
}

/// A backend response body that drives its connection while it is read, and returns the
/// connection to the pool when the body has been read to the end.
pub struct DrivenBody {
    body: Incoming,
    conn: Option<Pooled>,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for DrivenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrivenBody").finish_non_exhaustive()
    }
}

impl DrivenBody {
    fn release(&mut self) {
        if let Some(mut p) = self.conn.take() {
            p.idle_since = Instant::now();
            self.pool.put(p);
        }
    }
}

impl hyper::body::Body for DrivenBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(p) = this.conn.as_mut() {
            if p.conn.as_mut().poll(cx).is_ready() {
                this.conn = None;
            }
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) {
            this.release();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for DrivenBody {
    fn drop(&mut self) {
        // Reusable only if the whole body was read.
        if hyper::body::Body::is_end_stream(&self.body) {
            self.release();
        }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
static HOP_BY_HOP: [HeaderName; 8] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
];
/// `X-Forwarded-For`: the client addresses a call came through.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Request-Id`, sent to backends and on every response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The place of a hop-by-hop header in [`HOP_BY_HOP`] (a `match` on the name: cheaper than
/// comparing it with each).
fn hop_index(name: &str) -> Option<usize> {
    Some(match name {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-authenticate" => 2,
        "proxy-authorization" => 3,
        "te" => 4,
        "trailer" => 5,
        "transfer-encoding" => 6,
        "upgrade" => 7,
        _ => return None,
    })
}

/// Removes hop-by-hop headers, including those named by `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names finds which are present (most messages carry none, or only
    // `Connection: keep-alive`): removing only those costs less than eight removes.
    let mut present = [false; 8];
    for k in headers.keys() {
        if let Some(i) = hop_index(k.as_str()) {
            present[i] = true;
        }
    }
    if present[0] {
        // `Connection` (HOP_BY_HOP[0]) names more headers unless it is `keep-alive` / `close`.
        let simple = headers.get_all(http::header::CONNECTION).iter().all(|v| {
            let v = v.as_bytes();
            v.eq_ignore_ascii_case(b"keep-alive") || v.eq_ignore_ascii_case(b"close")
        });
        if !simple {
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
        }
    }
    for (h, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, p)| *p) {
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
    let mut xff = Vec::with_capacity(48);
    if let Some(prev) = h.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        xff.extend_from_slice(prev.as_bytes());
        xff.extend_from_slice(b", ");
    }
    apigw_model::text::push_ip(&mut xff, client_ip);
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(xff)) {
        h.insert(X_FORWARDED_FOR, v);
    }
    if let Some(host) = original_host {
        h.insert(X_FORWARDED_HOST, host);
    }
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(X_REQUEST_ID, v);
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
            pool: Arc::default(),
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
    fn hop_index_follows_the_hop_by_hop_list() {
        for (i, h) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_index(h.as_str()), Some(i), "{h}");
        }
        assert_eq!(hop_index("x-kept"), None);
    }

    #[test]
    fn a_keep_alive_connection_header_goes_with_the_other_hop_by_hop_headers_only() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("Keep-Alive"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-kept"]);
        let mut none = HeaderMap::new();
        none.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut none);
        assert_eq!(none.len(), 1);
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
        // A second `Connection` line still names headers, after a plain `keep-alive` one.
        let mut two = HeaderMap::new();
        two.append("connection", HeaderValue::from_static("keep-alive"));
        two.append("connection", HeaderValue::from_static("x-secret"));
        two.insert("x-secret", HeaderValue::from_static("1"));
        two.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut two);
        assert_eq!(
            two.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-kept"]
        );
    }
}
