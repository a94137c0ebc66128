//! The backend side: pooled keep-alive connections (HTTP and HTTPS) to every backend, used by
//! the task of the call that holds them, and the rewriting of requests and responses on the way
//! through. The HTTP/1.1 exchange itself is in [`h1`].

pub(crate) mod h1;
pub mod h2;

use crate::answer::Answer;
use crate::deadline::Deadline;
use crate::error::{Body, GatewayError};
use crate::snapshot::{HttpBackend, PathPart};
use crate::wire::BodyState;
use apigw_plugins::headers::Headers;
use bytes::Bytes;
use h1::{Conn, ExchangeError, Outgoing, ReqFraming, Stream};
use http::header::{HeaderName, HeaderValue, HOST};
use http::uri::{Authority, Scheme};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Either};
use hyper::body::{Body as _, Frame, SizeHint};
use std::collections::HashMap;
use std::future::poll_fn;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Idle connections kept per backend.
pub const MAX_IDLE_PER_BACKEND: usize = 256;
/// Idle connections whose last request went out longer ago than this are closed, not reused.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a TCP connection to a backend (within the API's timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head buffer a connection keeps for its next request (a head of a
/// client's many or long headers is written in a new one).
const KEPT_REQUEST_BYTES: usize = 4096;

/// The idle connections of one backend (`scheme://authority`).
#[derive(Debug, Default)]
pub struct Pool {
    /// Boxed: a connection moves with every response it carries (pool, exchange, body), and
    /// a box is one word to move.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<Conn>>>,
}

impl Pool {
    fn put(&self, c: Box<Conn>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_PER_BACKEND {
            idle.push(c);
        }
    }

    fn take(&self) -> Option<Box<Conn>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }
}

/// A backend: scheme and `host:port`.
type BackendKey = (Scheme, Authority);

/// The backend client: TLS settings and the pools, one per backend.
#[derive(Clone)]
pub struct Upstream {
    tls: tokio_rustls::TlsConnector,
    pools: Arc<Mutex<HashMap<BackendKey, Arc<Pool>>>>,
    /// TLS offering ALPN `h2`, for HTTP/2 backends.
    tls_h2: tokio_rustls::TlsConnector,
    h2: Arc<Mutex<HashMap<BackendKey, Arc<h2::H2Backend>>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}

impl Upstream {
    /// HTTPS backends must present a certificate from a public CA (webpki roots).
    pub fn new() -> Self {
        Self::with_trust(web_roots())
    }

    /// HTTPS backends may also present certificates of the CAs in `pem` (at least one).
    pub fn with_roots(pem: &[u8]) -> Result<Self, String> {
        let mut roots = web_roots();
        let mut added = 0;
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("reading a CA certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("adding a CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("no PEM certificate in it".into());
        }
        Ok(Self::with_trust(roots))
    }

    fn with_trust(roots: rustls::RootCertStore) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut h2_config = config.clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        h2_config.alpn_protocols = vec![b"h2".to_vec()];
        Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            pools: Arc::default(),
            tls_h2: tokio_rustls::TlsConnector::from(Arc::new(h2_config)),
            h2: Arc::default(),
        }
    }

    /// The TLS settings of HTTPS backends (health checks use them too).
    pub(crate) fn tls(&self) -> &tokio_rustls::TlsConnector {
        &self.tls
    }

    /// The HTTP/2 backend at `authority` (looked up when snapshots are built).
    pub fn h2_backend(&self, scheme: &Scheme, authority: &Authority) -> Arc<h2::H2Backend> {
        let mut all = self.h2.lock().unwrap_or_else(|e| e.into_inner());
        all.entry((scheme.clone(), authority.clone()))
            .or_insert_with(|| Arc::new(h2::H2Backend::new(scheme.clone(), authority.clone())))
            .clone()
    }

    /// Sends a call to an HTTP/2 backend (`h2::H2Backend::send`).
    pub async fn send_h2(
        &self,
        backend: &h2::H2Backend,
        call: h2::H2Call<'_>,
        body: Body,
        timeout: Duration,
    ) -> Result<Answer<DrivenBody>, GatewayError> {
        backend.send(&self.tls_h2, call, body, timeout).await
    }

    /// The pool of a backend (looked up when snapshots are built, not per request).
    pub fn pool(&self, scheme: &Scheme, authority: &Authority) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry((scheme.clone(), authority.clone()))
            .or_default()
            .clone()
    }

    /// An idle connection that is still usable at `now`.
    async fn idle(pool: &Pool, now: Instant) -> Option<Box<Conn>> {
        while let Some(mut c) = pool.take() {
            if now.saturating_duration_since(c.idle_since) > IDLE_TIMEOUT {
                continue;
            }
            if poll_fn(|cx| Poll::Ready(c.poll_usable(cx))).await {
                return Some(c);
            }
        }
        None
    }

    /// A new connection to the backend at `authority`.
    pub(crate) async fn connect(
        &self,
        scheme: &Scheme,
        authority: &Authority,
    ) -> Result<Box<Conn>, GatewayError> {
        let https = *scheme == Scheme::HTTPS;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let connect = async {
            match host.parse::<IpAddr>() {
                Ok(ip) => tokio::net::TcpStream::connect((ip, port)).await,
                Err(_) => tokio::net::TcpStream::connect((host, port)).await,
            }
        };
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(backend = %authority, error = %e, "backend connect failed");
                return Err(GatewayError::BackendUnavailable);
            }
            Err(_) => return Err(GatewayError::BackendUnavailable),
        };
        let _ = tcp.set_nodelay(true);
        let io = if https {
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|_| GatewayError::BackendUnavailable)?;
            let tls = self.tls.connect(name, tcp).await.map_err(|e| {
                tracing::debug!(backend = %authority, error = %e, "backend TLS handshake failed");
                GatewayError::BackendUnavailable
            })?;
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        Ok(Box::new(Conn::new(io)))
    }

    /// Sends `out` with `body` over a pooled connection to its backend; the backend must answer with
    /// headers within `timeout`. The response body reads from the connection and hands it
    /// back to the pool once read to the end.
    ///
    /// A pooled connection the backend closed while it was idle is retried once on a new
    /// connection when the request's body is at hand (not a stream already partly sent).
    ///
    /// `gateway` holds the headers the gateway sets (`Host` among them), which replace the
    /// request's own. `sent` is when the call leaves (read once by the caller, who also times
    /// the exchange with it).
    pub async fn send(
        &self,
        pool: &Arc<Pool>,
        out: &Outbound<'_>,
        body: Body,
        gateway: &GatewayHeaders<'_>,
        sent: Instant,
        timeout: Duration,
    ) -> Result<Answer<DrivenBody>, GatewayError> {
        let head_request = *out.method == Method::HEAD;
        let deadline_at = tokio::time::Instant::from_std(sent) + timeout;
        let (mut body, framing) = outgoing(out, body).await;
        let upgrade = out
            .upgrade
            .and_then(|_| out.headers.get(http::header::UPGRADE));
        let mut pooled = Self::idle(pool, sent).await;
        // Written in the buffer of the connection's last request (none allocated a call); it
        // goes with the connection that carries this one.
        let mut request = pooled
            .as_mut()
            .map(|c| std::mem::take(&mut c.request))
            .unwrap_or_else(|| Vec::with_capacity(512));
        request.clear();
        h1::encode_head(
            &mut request,
            out.method,
            out.target,
            out.headers,
            gateway,
            framing,
            upgrade,
        );
        let (mut conn, head) = loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                None => {
                    // Boxed: new connections are rare, and the connect future (TLS included)
                    // is larger than the rest of an exchange's state.
                    let connect = Box::pin(self.connect(out.scheme, out.authority));
                    match tokio::time::timeout_at(deadline_at, connect).await {
                        Err(_) => return Err(GatewayError::BackendTimeout),
                        Ok(c) => c?,
                    }
                }
            };
            // The connection's own timer, moved lazily (`deadline.rs`).
            let mut deadline = conn
                .deadline
                .take()
                .unwrap_or_else(|| Deadline::at(deadline_at));
            deadline.set_at(deadline_at);
            conn.upgrading = upgrade.is_some();
            conn.passing = out.pass_headers;
            let result = tokio::select! {
                biased;
                r = conn.exchange(&request, &mut body, head_request) => Some(r),
                () = deadline.expired() => None,
            };
            conn.deadline = Some(deadline);
            // Its idle time, once pooled, counts from its last request (no clock read).
            conn.idle_since = sent;
            match result {
                None => return Err(GatewayError::BackendTimeout),
                Some(Ok(h)) => break (conn, h),
                // Sent again only when that cannot do twice what was done once: the backend
                // may have read the request before it closed (RFC 9110 §9.2.2: a proxy must
                // not retry a non-idempotent request by itself — POST, PATCH get 502).
                Some(Err(ExchangeError::Closed))
                    if reused
                        && out.method.is_idempotent()
                        && matches!(body, Outgoing::Bytes(_)) =>
                {
                    tracing::debug!("pooled backend connection was closed; retrying");
                }
                Some(Err(e)) => return Err(exchange_error(e)),
            }
        };
        // Kept for the next request, unless a large head made it large.
        if request.capacity() <= KEPT_REQUEST_BYTES {
            conn.request = request;
        }
        let switched = head.status == StatusCode::SWITCHING_PROTOCOLS;
        let conn = match out.upgrade {
            Some(slot) if switched => {
                *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
                None
            }
            _ => Some(conn),
        };
        let mut body = DrivenBody {
            state: BodyState::new(head.body),
            conn,
            reusable: head.reusable,
            pool: Some(pool.clone()),
            h2: None,
        };
        if body.state.is_done() {
            body.release();
        }
        let mut answer = Answer::new(head.status, body);
        (answer.headers, answer.passed) = (head.headers, head.passed);
        Ok(answer)
    }
}

/// The public web PKI's roots.
fn web_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A request body on its way to a backend.
type Sending = Outgoing<http_body_util::Limited<crate::server::RequestBody>>;

/// The body to send and its framing: a `Content-Length` when the size is known, chunks when
/// not; no framing at all for an empty body on a method that carries none.
async fn outgoing(out: &Outbound<'_>, body: Body) -> (Sending, ReqFraming) {
    let sending = match body {
        Either::Right(full) => Outgoing::Bytes(
            full.collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_else(|never| match never {}),
        ),
        Either::Left(s) if s.is_end_stream() => Outgoing::Bytes(Bytes::new()),
        Either::Left(s) => match s.size_hint().exact() {
            Some(_) => Outgoing::Stream(s, false),
            None => Outgoing::Stream(s, true),
        },
    };
    let framing = match &sending {
        Outgoing::Stream(_, true) => ReqFraming::Chunked,
        Outgoing::Stream(s, false) => ReqFraming::Length(s.size_hint().lower()),
        Outgoing::Bytes(b) if !b.is_empty() => ReqFraming::Length(b.len() as u64),
        Outgoing::Bytes(_) => {
            let carries_body = matches!(*out.method, Method::POST | Method::PUT | Method::PATCH);
            if carries_body || out.headers.contains_key(http::header::CONTENT_LENGTH) {
                ReqFraming::Length(0)
            } else {
                ReqFraming::None
            }
        }
    };
    (sending, framing)
}

/// The gateway's answer to a failed exchange: the client's body went over the limit (413) or
/// could not be read (400), or the backend failed (502).
fn exchange_error(e: ExchangeError) -> GatewayError {
    match e {
        ExchangeError::BodyTooLarge => GatewayError::BodyTooLarge,
        ExchangeError::BadBody => GatewayError::BadBody,
        ExchangeError::Closed => {
            tracing::debug!("backend closed the connection without answering");
            GatewayError::BackendUnavailable
        }
        ExchangeError::Backend(why) => {
            tracing::debug!(error = %why, "backend exchange failed");
            GatewayError::BackendUnavailable
        }
    }
}

/// A backend response body: reads from its connection as the client takes it, and returns
/// the connection to the pool once the body has been read to the end. An HTTP/2 backend's
/// (gRPC) is its stream's DATA frames and trailers.
pub struct DrivenBody {
    state: BodyState,
    conn: Option<Box<Conn>>,
    reusable: bool,
    /// Where `conn` goes back (none for an HTTP/2 answer: its connection is shared).
    pool: Option<Arc<Pool>>,
    h2: Option<Box<h2::H2Answer>>,
}

impl std::fmt::Debug for DrivenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrivenBody")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl DrivenBody {
    fn h2(recv: ::h2::RecvStream) -> Self {
        Self {
            state: BodyState::Done,
            conn: None,
            reusable: false,
            pool: None,
            h2: Some(Box::new(h2::H2Answer::new(recv))),
        }
    }

    /// The body is read whole: the connection goes back to the pool if it can carry more.
    fn release(&mut self) {
        if let (Some(c), Some(pool)) = (self.conn.take(), &self.pool) {
            if self.reusable && c.is_clean() {
                pool.put(c);
            }
        }
    }
}

impl hyper::body::Body for DrivenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let Some(conn) = this.conn.as_mut() else {
            return match &mut this.h2 {
                None => Poll::Ready(None),
                Some(h2) => h2.poll_frame(cx),
            };
        };
        let polled = conn.poll_body(cx, &mut this.state);
        match &polled {
            Poll::Ready(Some(Err(_))) => this.conn = None,
            Poll::Ready(_) if this.state.is_done() => this.release(),
            _ => {}
        }
        polled.map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.state.is_done() && self.h2.as_ref().is_none_or(|h2| h2.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.h2.is_some() {
            return SizeHint::default();
        }
        match self.state.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// `X-Forwarded-For`: the client addresses a call came through.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Request-Id`, sent to backends and on every response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a header is to the gateway's HTTP/1.1, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Passed on.
    EndToEnd,
    Date,
    ContentLength,
    /// `X-Request-Id`: the gateway sets its own.
    RequestId,
    /// `Connection`: read, never forwarded.
    Connection,
    /// `Transfer-Encoding`: read, never forwarded.
    TransferEncoding,
    /// The other hop-by-hop headers (RFC 9110 §7.6.1): never forwarded, in either direction.
    Hop,
}

/// The role of the header `name` (token characters, in any case): its length, then one
/// comparison or two, 8 bytes at a time.
pub(crate) fn role(name: &[u8]) -> Role {
    let is = |lower: &[u8]| eq_lowercase(name, lower);
    match name.len() {
        2 if is(b"te") => Role::Hop,
        4 if is(b"date") => Role::Date,
        7 if is(b"trailer") || is(b"upgrade") => Role::Hop,
        10 if is(b"connection") => Role::Connection,
        10 if is(b"keep-alive") => Role::Hop,
        12 if is(b"x-request-id") => Role::RequestId,
        14 if is(b"content-length") => Role::ContentLength,
        17 if is(b"transfer-encoding") => Role::TransferEncoding,
        18 if is(b"proxy-authenticate") => Role::Hop,
        19 if is(b"proxy-authorization") => Role::Hop,
        _ => Role::EndToEnd,
    }
}

/// `name` (token characters) is `lower` (lowercase letters and `-`, as long) in any case. A
/// token character ORed with 0x20 is a given lowercase letter only when it is that letter in
/// either case, and `-` only when it is `-` (the other byte that would be, 0x0D, is no token
/// character).
fn eq_lowercase(name: &[u8], lower: &[u8]) -> bool {
    if name.len() < 8 {
        return name.iter().zip(lower).all(|(c, l)| c | 0x20 == *l);
    }
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    // Whole words, the last one overlapping the one before.
    let last = name.len() - 8;
    (0..last)
        .step_by(8)
        .chain([last])
        .all(|at| word(name, at) | 0x2020_2020_2020_2020 == word(lower, at))
}

/// The backend path: the template with parameter values, then (SWA) the rest of the path.
#[inline]
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

/// A request to a backend, borrowed from the call it serves (only its body moves): the
/// backend, the method and request target, and the client's headers (the headers the gateway
/// sets go in [`GatewayHeaders`]; hop-by-hop ones are left out when the head is written).
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    pub scheme: &'a Scheme,
    pub authority: &'a Authority,
    pub method: &'a Method,
    /// Path and query.
    pub target: &'a str,
    pub headers: &'a Headers,
    /// A protocol switch the client asked for (`Upgrade: websocket`): where the backend's
    /// connection is left when it answers 101.
    pub upgrade: Option<&'a Upgrade>,
    /// The response phase does not read every header (the bound plug-ins name those they
    /// touch; no service reads them): the backend's lines may stay as received
    /// (`Answer::passed`).
    pub pass_headers: bool,
}

/// Where a backend connection switched to another protocol (a 101 answer to a WebSocket
/// handshake) is left for the client's connection, which tunnels through it.
#[derive(Debug, Default)]
pub struct Upgrade(std::sync::Mutex<Option<Box<Conn>>>);

impl Upgrade {
    /// The upgraded connection, once: its transport and the bytes already read from it.
    pub(crate) fn take(&self) -> Option<(h1::Stream, bytes::BytesMut)> {
        let conn = self.0.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some(conn.into_parts())
    }
}

/// The backend's request target for a call: its path (the template with the call's parameter
/// values, then the SWA rest) and the client's query. Whatever would break the request line
/// (controls, spaces) is refused. Inline: every proxied call's.
#[inline(always)]
pub fn backend_target(
    b: &HttpBackend,
    values: &[&str],
    rest: &str,
    query: Option<&str>,
) -> Result<String, GatewayError> {
    let mut target = backend_path(b, values, rest);
    if let Some(q) = query {
        target.push('?');
        target.push_str(q);
    }
    if target.bytes().any(|c| c <= b' ' || c == 0x7f) {
        return Err(GatewayError::BadBody);
    }
    Ok(target)
}

/// The headers the gateway sets on a request to a backend — written straight into its head —
/// and which of the request's own headers they replace.
#[derive(Debug, Clone, Copy)]
pub enum GatewayHeaders<'a> {
    /// A proxied call's: `Host` (the backend's), `X-Forwarded-Host` (the client's `Host`),
    /// `X-Forwarded-Proto`, `X-Request-Id` and `X-Forwarded-For` (the client's list with the
    /// client's address appended).
    Forwarding {
        host: &'a HeaderValue,
        client: &'a Headers,
        client_ip: IpAddr,
        request_id: &'a str,
        /// A signature key's header lines (`name: value\r\n`), empty without a key; with
        /// them, the request's own headers of [`crate::signature_key::REPLACED`] stay out.
        signature: &'a [u8],
    },
    /// `Host` alone (a call the gateway makes itself, to an auth service): every other header
    /// goes as the request has it.
    Host(&'a HeaderValue),
}

impl<'a> GatewayHeaders<'a> {
    /// A proxied call's headers to backend `b`.
    pub fn forwarding(
        b: &'a HttpBackend,
        client: &'a Headers,
        client_ip: IpAddr,
        request_id: &'a str,
    ) -> Self {
        Self::Forwarding {
            host: &b.host,
            client,
            client_ip,
            request_id,
            signature: &[],
        }
    }

    /// These headers with a signature key's lines.
    pub fn signed(self, lines: &'a [u8]) -> Self {
        match self {
            Self::Forwarding {
                host,
                client,
                client_ip,
                request_id,
                ..
            } => Self::Forwarding {
                host,
                client,
                client_ip,
                request_id,
                signature: lines,
            },
            other => other,
        }
    }

    /// Writes the header lines (`name: value\r\n`).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Host(host) => push_value_line(out, b"host: ", host.as_bytes()),
            Self::Forwarding {
                host,
                client,
                client_ip,
                request_id,
                signature,
            } => {
                push_value_line(out, b"host: ", host.as_bytes());
                if let Some(host) = client.get(HOST) {
                    push_value_line(out, b"x-forwarded-host: ", host.as_bytes());
                }
                out.extend_from_slice(b"x-forwarded-proto: http\r\n");
                // Every byte checked, without stopping at the first bad one: the compiler
                // then checks the whole id in a few vector instructions.
                if request_id
                    .bytes()
                    .fold(true, |ok, c| ok & c.is_ascii_graphic())
                {
                    push_value_line(out, b"x-request-id: ", request_id.as_bytes());
                }
                out.extend_from_slice(b"x-forwarded-for: ");
                for prev in client.get_all(X_FORWARDED_FOR) {
                    out.extend_from_slice(prev.as_bytes());
                    out.extend_from_slice(b", ");
                }
                apigw_model::text::push_ip(out, client_ip);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(signature);
            }
        }
    }

    /// Whether the request's own header `name` (lowercase, as a `HeaderName` holds it) stays
    /// out of the backend's head: a hop-by-hop header (RFC 9110 §7.6.1), its
    /// `Content-Length` (the head gets the body's own framing) or one these headers set. By
    /// its length first: a name of another length is passed after one comparison. The
    /// hop-by-hop names are [`role`]'s, compared without folding case (the test holds the two
    /// to one list).
    pub(crate) fn leaves_out(&self, name: &str) -> bool {
        let forwarding = matches!(self, Self::Forwarding { .. });
        let left_out = match name.len() {
            2 => name == "te",
            4 => name == "host",
            7 => name == "trailer" || name == "upgrade",
            10 => name == "connection" || name == "keep-alive",
            12 => forwarding && name == "x-request-id",
            14 => name == "content-length",
            15 => forwarding && name == "x-forwarded-for",
            16 => forwarding && name == "x-forwarded-host",
            17 => name == "transfer-encoding" || (forwarding && name == "x-forwarded-proto"),
            18 => name == "proxy-authenticate",
            19 => name == "proxy-authorization",
            _ => false,
        };
        left_out
            || matches!(self, Self::Forwarding { signature, .. }
                if !signature.is_empty() && crate::signature_key::REPLACED.contains(&name))
    }
}

/// Appends `name_colon` (`name: `), `value` and the line's end.
fn push_value_line(out: &mut Vec<u8>, name_colon: &[u8], value: &[u8]) {
    out.extend_from_slice(name_colon);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: value` and the line's end.
fn push_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    push_value_line(out, b": ", value);
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
    fn the_backend_target_is_the_path_and_the_query_and_never_breaks_the_request_line() {
        let b = backend(
            vec![PathPart::Literal("/u/".into()), PathPart::Param(0)],
            false,
        );
        assert_eq!(
            backend_target(&b, &["7"], "", Some("a=1&b")).unwrap(),
            "/u/7?a=1&b"
        );
        assert_eq!(backend_target(&b, &["7"], "", None).unwrap(), "/u/7");
        for bad in ["x y", "x\r\nHost: evil", "x\x7f", "x\t"] {
            assert!(backend_target(&b, &[bad], "", None).is_err(), "{bad:?}");
        }
    }

    /// Every name `role` tells from an end-to-end header, with its role.
    const ROLES: [(&str, Role); 11] = [
        ("connection", Role::Connection),
        ("keep-alive", Role::Hop),
        ("proxy-authenticate", Role::Hop),
        ("proxy-authorization", Role::Hop),
        ("te", Role::Hop),
        ("trailer", Role::Hop),
        ("transfer-encoding", Role::TransferEncoding),
        ("upgrade", Role::Hop),
        ("date", Role::Date),
        ("content-length", Role::ContentLength),
        ("x-request-id", Role::RequestId),
    ];

    #[test]
    fn a_client_header_stays_out_of_the_backend_head_when_hop_by_hop_framing_or_the_gateways() {
        let client = Headers::new();
        let host = HeaderValue::from_static("b:80");
        let forwarding = GatewayHeaders::Forwarding {
            host: &host,
            client: &client,
            client_ip: [192, 0, 2, 7].into(),
            request_id: "r",
            signature: &[],
        };
        let signed = forwarding.signed(b"authorization: Basic eA==\r\n");
        let own = GatewayHeaders::Host(&host);
        // The names `role` drops or frames (what the response side leaves out too), and `Host`.
        let hop = ROLES
            .iter()
            .filter(|(_, r)| !matches!(r, Role::Date | Role::RequestId))
            .map(|(name, _)| *name)
            .chain(["host"]);
        for name in hop {
            for g in [&forwarding, &signed, &own] {
                assert!(g.leaves_out(name), "{name} {g:?}");
            }
        }
        for name in [
            "x-request-id",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
        ] {
            assert!(forwarding.leaves_out(name), "{name}");
            assert!(
                !own.leaves_out(name),
                "{name}: a call of the gateway's own passes it"
            );
        }
        for name in crate::signature_key::REPLACED {
            assert!(
                signed.leaves_out(name) && !forwarding.leaves_out(name),
                "{name}"
            );
        }
        // Names as long as those, and others: passed.
        for name in [
            "tx",
            "date",
            "referer",
            "user-agent",
            "x-request-ix",
            "accept-charset",
            "accept-encoding",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-correlation-id-2",
            "access-control-max1",
            "origin",
        ] {
            for g in [&forwarding, &signed, &own] {
                assert!(!g.leaves_out(name), "{name} {g:?}");
            }
        }
    }

    #[test]
    fn role_knows_the_headers_the_gateway_frames_and_drops_in_any_case() {
        use Role::*;
        for (name, r) in ROLES {
            assert_eq!(role(name.as_bytes()), r, "{name}");
            assert_eq!(role(name.to_uppercase().as_bytes()), r, "{name}");
        }
        // Same lengths, other names; names a byte off in each word.
        for other in [
            "tf",
            "dato",
            "trailex",
            "connectiom",
            "keep_alive",
            "content-type",
            "x-request-iD2",
            "content-lengtx",
            "xontent-length",
            "transfer-encodinf",
            "proxy-authorizatiom",
        ] {
            assert_eq!(role(other.as_bytes()), EndToEnd, "{other}");
        }
    }
}
