//! The data-plane listener and the request path: route → the plug-ins' request hooks after
//! routing → access control by IP → their hooks once screened → API authentication and
//! access control by account → their hooks once authenticated →
//! classic throttling → their hooks just before the backend → the backend (or a mock, or what
//! a plug-in chose) → their response hooks → sent, then the complete hooks of those that await it
//! (`apigw_plugins::engine` has the phases; this file names no plug-in type).

use crate::answer::Answer;
use crate::auth::{self, Caller};
use crate::error::{
    GatewayError, ResponseBody, MAX_BODY_BYTES, MAX_HEADERS_BYTES, MAX_HEADER_BYTES, MAX_URI_BYTES,
};
use crate::logged::{CallBody, Completion};
use crate::metrics::{Decision, Registry};
use crate::signature_key::Payload;
use crate::snapshot::{AuthType, Backend, HttpBackend, PathPart, Protocol, Route, Snapshot};
use crate::upstream::{self, GatewayHeaders, Outbound, Upstream};
use apigw_plugins::chain::{MatchedApi, RequestCtx};
use apigw_plugins::engine::{
    AltBackend, BackendResult, Call, Chain, Flow, Io, Refusal, ServiceAnswer, ServiceCall, States,
    Step,
};
use apigw_plugins::headers::RequestHead;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{
    HeaderValue, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, HOST,
    ORIGIN,
};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

mod conn;
pub(crate) mod h1;
mod h2;
mod stop;
mod tunnel;
use conn::ClientIo;
pub use h1::RequestBody;

/// The data plane: the current snapshot, the backend client and the metrics.
#[derive(Debug)]
pub struct Gateway {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub upstream: Upstream,
    pub metrics: Arc<Registry>,
    /// Take the client's IP from the first `X-Forwarded-For` entry (behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// What a client may hold and how long it may take.
    pub limits: Limits,
    /// Calls sent in the background (a plug-in's mirror copies).
    pub detached: crate::detached::Detached,
}

/// Bounds on clients (`docs/reliability.md`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Client connections held at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Longest wait for a request's headers (also the idle keep-alive time) and for a body the
    /// gateway must read whole.
    pub client_timeout: Duration,
    /// Whether HTTP/2 is served (ALPN `h2` on TLS, h2c with prior knowledge on plain HTTP).
    pub http2: bool,
}

/// Largest request head buffered: every head within APIG's limits (128 KiB of headers and a
/// 32 KiB URI) fits, so the gateway itself answers 494/414; a larger one is cut off (431,
/// connection closed) before it costs more memory.
const MAX_HEAD_BUFFER: usize = 256 * 1024;

/// `X-Stage`: the environment a call is for.
const X_STAGE: http::header::HeaderName = http::header::HeaderName::from_static("x-stage");

/// How long shutdown waits for in-flight calls.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts plain connections until `shutdown` completes, then drains in-flight calls: idle
/// connections close at once, busy ones after the response in flight.
pub async fn serve(listener: TcpListener, gw: Arc<Gateway>, shutdown: impl Future<Output = ()>) {
    accept(listener, gw, shutdown, Transport::Plain).await
}

/// [`serve`] for the TLS listener: each connection's handshake gets the certificate of the
/// name it asks for (`crate::tls`), within the client timeout, before its first request.
pub async fn serve_tls(
    listener: TcpListener,
    gw: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) {
    accept(listener, gw, shutdown, Transport::Tls).await
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Plain,
    Tls,
}

async fn accept(
    listener: TcpListener,
    gw: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    transport: Transport,
) {
    let stop = Arc::new(stop::Stop::default());
    let max = gw.limits.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            gw.metrics.rejected_connections.fetch_add(1, Relaxed);
            if let Transport::Plain = transport {
                tokio::spawn(refuse(stream));
            }
            continue;
        };
        let (gw, stopped) = (gw.clone(), stop.listener());
        // Two tasks of their own: a plain connection's state holds nothing of TLS's.
        match transport {
            Transport::Plain => tokio::spawn(async move {
                let io = ClientIo::Plain(stream);
                h1::serve_connection(gw, io, peer, stopped, MAX_HEAD_BUFFER).await;
                drop(slot);
            }),
            Transport::Tls => tokio::spawn(async move {
                match tls_handshake(&gw, stream).await {
                    Some(tls) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => {
                        h2::serve_connection(gw, tls, peer, stopped, true).await;
                    }
                    Some(tls) => {
                        let io = ClientIo::tls(tls);
                        h1::serve_connection(gw, io, peer, stopped, MAX_HEAD_BUFFER).await;
                    }
                    None => {}
                }
                drop(slot);
            }),
        };
    }
    drop(listener);
    stop.stop();
    let all_back = slots.acquire_many(max as u32);
    if tokio::time::timeout(DRAIN_TIMEOUT, all_back).await.is_err() {
        tracing::warn!("in-flight calls still running after the drain timeout");
    }
}

/// The TLS handshake of a new connection, bounded by the client timeout (a handshake that
/// stalls holds its slot no longer than a slow request head would); `None` when it failed.
async fn tls_handshake(
    gw: &Gateway,
    stream: tokio::net::TcpStream,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let handshake = async {
        let start =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = start.await.ok()?;
        let sites = gw.snapshot.load().tls.clone()?;
        let config = sites.config_for(start.client_hello().server_name());
        start.into_stream(config).await.ok()
    };
    match tokio::time::timeout(gw.limits.client_timeout, handshake).await {
        Ok(Some(tls)) => Some(tls),
        Ok(None) => {
            gw.metrics.tls_handshake_failures.fetch_add(1, Relaxed);
            None
        }
        Err(_) => {
            gw.metrics.tls_handshake_failures.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Answers a connection over the cap with 503 and closes it, without reading its request.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let (status, code, msg) = GatewayError::TooManyConnections.parts();
    let body = format!(r#"{{"error_code":"{code}","error_msg":"{msg}","request_id":""}}"#);
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
    // Read what the client sent meanwhile (briefly): closing with unread bytes would reset
    // the connection, and a reset can destroy the answer before the client reads it.
    let drain = async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), drain).await;
}

/// APIG's limits on the request head; the connection (`server/h1.rs`) has already refused
/// what it cannot frame (400) or buffer (431).
fn check_head(parts: &RequestHead) -> Result<(), GatewayError> {
    let uri_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(GatewayError::UriTooLong);
    }
    let mut total = 0;
    for (name, value) in &parts.headers {
        let len = name.as_str().len() + value.len() + 4;
        if len > MAX_HEADER_BYTES {
            return Err(GatewayError::HeadersTooLarge);
        }
        total += len;
    }
    if total > MAX_HEADERS_BYTES {
        return Err(GatewayError::HeadersTooLarge);
    }
    // Content-Length with Transfer-Encoding (the smuggling shape) never gets here: the
    // connection frames such a request by Transfer-Encoding alone, drops the length and closes
    // after answering (RFC 9112 §6.1), so nothing hidden in the body is read as a request.
    Ok(())
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Answer<ResponseBody> {
    Answer::new(status, Either::Right(Full::new(body.into())))
}

/// 301 to the same URL over HTTPS (the domain's default port).
fn redirect_to_https(host: &str, parts: &RequestHead, request_id: &str) -> Answer<CallBody> {
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut resp = full(StatusCode::MOVED_PERMANENTLY, Bytes::new());
    if let Ok(location) = HeaderValue::from_str(&format!("https://{name}{target}")) {
        resp.headers.insert(http::header::LOCATION, location);
    }
    resp.request_id = request_id.to_owned();
    resp.map(|b| CallBody::new(b, None))
}

/// How a call came in.
#[derive(Debug, Clone, Copy)]
pub struct Via<'a> {
    /// Over TLS.
    pub secure: bool,
    /// A WebSocket handshake: where the backend's connection goes when it switches.
    pub upgrade: Option<&'a upstream::Upgrade>,
}

/// One call, start to finish.
pub async fn handle(
    gw: &Gateway,
    mut parts: RequestHead,
    body: RequestBody,
    peer: SocketAddr,
    via: Via<'_>,
) -> Answer<CallBody> {
    let start = Instant::now();
    let request_id = apigw_model::id::request_id();
    let snap = gw.snapshot.load_full();
    let mut states = States::default();
    if let Err(e) = check_head(&parts) {
        gw.metrics.rejected_requests.fetch_add(1, Relaxed);
        let mut ctx = context(request_id, None, &parts, None, peer, start);
        let resp = e.response(&ctx.request_id);
        ctx.status = resp.status.as_u16();
        let mut resp = finish(resp, None, &mut ctx, &mut states);
        resp.headers
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    // The body's length as the connection framed it (a `Content-Length` list of equal values
    // is one length): read from the framing, not the header's text.
    let declared = hyper::body::Body::size_hint(&body).exact();
    let bodyless = declared == Some(0);
    let body = Limited::new(body, MAX_BODY_BYTES);
    // (A target in absolute form has already replaced `Host`: `server/h1.rs`.)
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(parts.uri.host());
    let stage = parts
        .headers
        .get(X_STAGE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("RELEASE");
    let origin = parts.headers.get(ORIGIN).cloned();
    let preflight_method = match (&parts.method, &origin) {
        (&Method::OPTIONS, Some(_)) => parts
            .headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok()),
        _ => None,
    };
    // A bound domain that wants HTTPS: a plain call is sent there.
    if !via.secure {
        if let Some(h) = host.filter(|h| snap.redirects_to_https(h)) {
            return redirect_to_https(h, &parts, &request_id);
        }
    }
    let group = snap.group(host);
    let router = group.and_then(|g| g.envs.get(stage));
    // The match borrows the path while `parts` moves on to the backend; a `Uri` clone is a
    // reference-count increment.
    let uri = parts.uri.clone();
    let path = uri.path();
    // A preflight is routed by the method it asks about, when that route answers preflights.
    let preflight = preflight_method.as_ref().and_then(|m| {
        router
            .and_then(|r| r.lookup(m, path))
            .filter(|m| m.route.chain.answers_preflights())
    });
    let matched = match preflight {
        Some(m) => Some(m),
        None => router.and_then(|r| r.lookup(&parts.method, path)),
    };
    let Some(m) = matched else {
        gw.metrics.unmatched.fetch_add(1, Relaxed);
        // A path with an API under another method still gets that API's response phase
        // (its CORS headers).
        let chain = router
            .and_then(|r| r.lookup_any(path))
            .map(|m| m.route.chain.clone());
        let mut ctx = context(request_id, None, &parts, origin, peer, start);
        ctx.status = 404;
        let set = group.and_then(|g| g.responses.as_deref());
        let resp = GatewayError::NoApi.answer(set, &ctx);
        return finish(resp, chain.as_ref(), &mut ctx, &mut states);
    };
    let route = m.route.clone();
    let mut ctx = context(request_id, Some(&route), &parts, origin, peer, start);
    let protocol = match (route.protocol, via.secure) {
        (Protocol::Http, true) => Err(GatewayError::HttpOnly),
        (Protocol::Https, false) => Err(GatewayError::HttpsOnly),
        (Protocol::Grpcs, secure) if !secure || parts.version != http::Version::HTTP_2 => {
            Err(GatewayError::GrpcsOnly)
        }
        _ => Ok(()),
    };
    if let Err(e) = protocol {
        return fail(e, &route, &mut ctx, &mut states, Decision::BadRequest);
    }
    let mut io = CallIo {
        gw,
        body: Some(Either::Left(body)),
        read: None,
    };
    // Another backend a request hook chose (a breaker's downgrade): the later steps' hooks
    // do not run.
    let mut alt = None;
    // The request hooks at one step: they go on, choose another backend, or answer. A step
    // no bound type hooks costs one test.
    macro_rules! hooks {
        ($step:expr) => {
            if alt.is_none() && route.chain.hooks_at($step) {
                match run($step, &route, &mut states, &mut parts, &ctx, &mut io).await {
                    Ok(b) => alt = b,
                    Err(flow) => {
                        ctx.body = io.read.take();
                        return settle(flow, &route, &mut ctx, &mut states);
                    }
                }
            }
        };
    }
    hooks!(Step::Routed);
    if gw.trust_forwarded_for {
        if let Some(ip) = parts
            .headers
            .get(upstream::X_FORWARDED_FOR)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            ctx.client_ip = ip;
        }
    }
    // Access control by IP: before anything of the caller is checked; a route without
    // policies pays this one branch.
    if let Some(access) = &route.access {
        if let Err(e) = access.check_ip(ctx.client_ip) {
            return fail(e, &route, &mut ctx, &mut states, Decision::AccessDenied);
        }
    }
    hooks!(Step::Screened);
    // Too large as declared: refused before anything of it is read.
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return fail(
            GatewayError::BodyTooLarge,
            &route,
            &mut ctx,
            &mut states,
            Decision::BadRequest,
        );
    }
    let now = || apigw_model::time::millis_at(start) / 1000;
    // The body is read up front only when a signature covers it, and only once what can be
    // checked without it (the header, the date, the key) has passed.
    let needs_body = route.auth != AuthType::None && auth::needs_body(&parts);
    let mut bytes = Bytes::new();
    if needs_body {
        if let Err(e) = auth::precheck(&snap, &route, &parts, now()) {
            return fail(e, &route, &mut ctx, &mut states, Decision::AuthRejected);
        }
        match io.body().await {
            Ok(b) => bytes = b,
            Err(r) => return fail(refused(r), &route, &mut ctx, &mut states, r.decision()),
        }
        // A call refused from here on is logged with its body.
        ctx.body = Some(bytes.clone());
    }
    let caller = match route.auth {
        AuthType::None => Ok(Caller::default()),
        AuthType::App => auth::app(&snap, &route, &parts, &bytes, bodyless, now()),
        AuthType::Iam => auth::iam(&snap.credentials, &parts, &bytes, bodyless, now()),
    };
    match caller {
        Ok(c) => {
            ctx.app_id = c.app_id;
            ctx.app_name = c.app_name;
            ctx.user_id = c.user_id;
            // The token IAM authentication took is the gateway's own admin credential: it is
            // not handed on to the backend.
            if route.auth == AuthType::Iam {
                parts.headers.remove("x-auth-token");
            }
        }
        Err(e) => return fail(e, &route, &mut ctx, &mut states, Decision::AuthRejected),
    }
    // Access control by account: the IAM caller, once authenticated.
    if let (Some(access), AuthType::Iam) = (&route.access, route.auth) {
        if let Err(e) = access.check_account(ctx.user_id.as_deref()) {
            return fail(e, &route, &mut ctx, &mut states, Decision::AccessDenied);
        }
    }
    hooks!(Step::Authenticated);
    // Classic request throttling (none where a plug-in decides throttling: the snapshot
    // leaves it out); a route without a policy pays this one branch.
    if let Some(classic) = &route.throttle {
        let verdict = classic.check(&ctx).await;
        if !verdict.allowed {
            let retry_after = verdict.reset_secs.max(1);
            return settle(
                Flow::Refuse(Refusal::Throttled { retry_after }),
                &route,
                &mut ctx,
                &mut states,
            );
        }
    }
    hooks!(Step::Admitted);
    ctx.body = io.read.take();
    let body = io
        .body
        .take()
        .unwrap_or_else(|| Either::Right(Full::new(Bytes::new())));
    if let Some(a) = alt {
        let Some(b) = alt_backend(&gw.upstream, &a) else {
            return fail(
                GatewayError::BreakerOpen,
                &route,
                &mut ctx,
                &mut states,
                Decision::Downgraded,
            );
        };
        let call = Proxied {
            backend: &b,
            values: &[],
            rest: "",
            decision: Decision::Downgraded,
            upgrade: via.upgrade,
        };
        return proxy(gw, call, &parts, body, peer, &route, &mut ctx, &mut states).await;
    }
    match &route.backend {
        Backend::Mock {
            status,
            body,
            content_type,
        } => {
            let mut resp = full(*status, body.clone());
            resp.headers.insert(CONTENT_TYPE, content_type.clone());
            ctx.status = status.as_u16();
            route
                .metrics
                .record(ctx.status, Decision::Mocked, start.elapsed());
            finish(resp, Some(&route.chain), &mut ctx, &mut states)
        }
        // Not boxed: its state is a single call's with a few words for the retries, so it
        // hardly widens every call's, where a box cost each channel call an allocation and a
        // copy of that state.
        Backend::Channel(c) => {
            let (values, r, cx, st) = ((&m.values[..], m.rest), &route, &mut ctx, &mut states);
            proxy_channel(gw, c, values, via.upgrade, &parts, body, peer, r, cx, st).await
        }
        Backend::Http(b) => {
            let call = Proxied {
                backend: b,
                values: &m.values,
                rest: m.rest,
                decision: Decision::Proxied,
                upgrade: via.upgrade,
            };
            proxy(gw, call, &parts, body, peer, &route, &mut ctx, &mut states).await
        }
        // Boxed: its state (an HTTP/2 connection being made) would otherwise widen every
        // call's.
        Backend::Grpc { backend, timeout } => {
            let (r, c, s) = (&route, &mut ctx, &mut states);
            Box::pin(proxy_grpc(
                gw, backend, *timeout, &parts, body, peer, r, c, s,
            ))
            .await
        }
    }
}

/// What the proxy does for the plug-ins of one call: the client's body (read whole once,
/// when one needs it) and calls to the services they use.
struct CallIo<'a> {
    gw: &'a Gateway,
    /// The body as it will go to the backend: still streaming, or read.
    body: Option<crate::error::Body>,
    /// The body, once read whole.
    read: Option<Bytes>,
}

impl Io for CallIo<'_> {
    async fn body(&mut self) -> Result<Bytes, Refusal> {
        if let Some(b) = &self.read {
            return Ok(b.clone());
        }
        let Some(Either::Left(incoming)) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let b = read_body(incoming, self.gw.limits.client_timeout)
            .await
            .map_err(|e| match e {
                GatewayError::BodyTooLarge => Refusal::BodyTooLarge,
                GatewayError::ClientTimeout => Refusal::ClientTimeout,
                _ => Refusal::BadBody,
            })?;
        self.body = Some(Either::Right(Full::new(b.clone())));
        self.read = Some(b.clone());
        Ok(b)
    }

    async fn call(&mut self, call: ServiceCall, body: Bytes) -> Option<ServiceAnswer> {
        let service = call.url_domain.clone();
        let answer = call_service(&self.gw.upstream, call, body).await;
        if answer.is_none() {
            tracing::warn!(%service, "a plug-in's service failed");
        }
        answer
    }

    fn detach(&mut self, call: ServiceCall, body: Bytes) -> bool {
        self.gw.detached.send(call, body)
    }
}

/// Runs the plug-ins' request hooks at `step`: `Ok(Some)` when one chose another backend,
/// `Err` with what one decided instead of going on.
async fn run(
    step: Step,
    route: &Route,
    states: &mut States,
    parts: &mut RequestHead,
    ctx: &RequestCtx,
    io: &mut CallIo<'_>,
) -> Result<Option<AltBackend>, Flow> {
    let mut call = Call {
        head: parts,
        ctx,
        io,
    };
    match route.chain.request(step, states, &mut call).await {
        Flow::Continue => Ok(None),
        Flow::Backend(b) => Ok(Some(b)),
        other => Err(other),
    }
}

/// The answer to a plug-in's decision to answer or refuse.
fn settle(
    flow: Flow,
    route: &Route,
    ctx: &mut RequestCtx,
    states: &mut States,
) -> Answer<CallBody> {
    match flow {
        Flow::Respond(reply) => {
            let mut resp = full(reply.status, reply.body);
            resp.headers = reply.headers;
            ctx.status = reply.status.as_u16();
            route
                .metrics
                .record(ctx.status, reply.decision, ctx.start.elapsed());
            finish(resp, Some(&route.chain), ctx, states)
        }
        Flow::Refuse(r) => {
            let mut resp = fail(refused(r), route, ctx, states, r.decision());
            if let Refusal::Throttled { retry_after } = r {
                resp.headers.insert(
                    http::header::RETRY_AFTER,
                    apigw_plugins::headers::number_value(retry_after),
                );
            }
            resp
        }
        Flow::Continue | Flow::Backend(_) => {
            unreachable!("`run` settles continuing and another backend itself")
        }
    }
}

/// The gateway error a refusal is answered with.
fn refused(r: Refusal) -> GatewayError {
    match r {
        Refusal::Throttled { .. } => GatewayError::Throttled,
        Refusal::AuthForbidden => GatewayError::AuthForbidden,
        Refusal::IdentityMissing => GatewayError::IdentityMissing,
        Refusal::ThirdAuthFailed => GatewayError::ThirdAuthFailed,
        Refusal::AuthServiceError => GatewayError::AuthServiceError,
        Refusal::BreakerOpen => GatewayError::BreakerOpen,
        Refusal::BodyTooLarge => GatewayError::BodyTooLarge,
        Refusal::ClientTimeout => GatewayError::ClientTimeout,
        Refusal::BadBody => GatewayError::BadBody,
    }
}

/// Calls a service a plug-in uses (an auth service); `None` when it cannot be reached or does
/// not answer in time.
async fn call_service(
    upstream: &Upstream,
    call: ServiceCall,
    body: Bytes,
) -> Option<ServiceAnswer> {
    let scheme = if call.https {
        http::uri::Scheme::HTTPS
    } else {
        http::uri::Scheme::HTTP
    };
    let authority: http::uri::Authority = call.url_domain.parse().ok()?;
    let out = Outbound {
        scheme: &scheme,
        authority: &authority,
        method: &call.method,
        target: call.path_and_query.as_str(),
        headers: &call.headers,
        upgrade: None,
        pass_headers: false,
    };
    let host_value = HeaderValue::from_str(&call.url_domain).ok()?;
    let host = GatewayHeaders::Host(&host_value);
    let pool = upstream.pool(&scheme, &authority);
    let body = Either::Right(Full::new(body));
    // One deadline for the whole answer, headers and body.
    let sent = Instant::now();
    let deadline = tokio::time::Instant::from_std(sent + call.timeout);
    let mut resp = match upstream
        .send(&pool, &out, body, &host, sent, call.timeout)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(service = %call.url_domain, error = ?e, "a service call failed");
            return None;
        }
    };
    resp.unpack();
    let Answer {
        status,
        headers,
        body,
        ..
    } = resp;
    let status = status.as_u16();
    // A service's body is only ever returned to the caller: 64 KiB is plenty. A body
    // that cannot be kept (too large, too slow) leaves the answer as it is: a refusal stays a
    // refusal (only an outage or a 5xx may be relaxed by downgrade), without its body.
    let body =
        match tokio::time::timeout_at(deadline, Limited::new(body, 64 * 1024).collect()).await {
            Ok(Ok(c)) => c.to_bytes(),
            _ if status < 500 => Bytes::new(),
            _ => return None,
        };
    Some((status, headers, body))
}

/// Reads a whole client body (cut at [`MAX_BODY_BYTES`]) within the client timeout.
async fn read_body(body: Limited<RequestBody>, timeout: Duration) -> Result<Bytes, GatewayError> {
    match tokio::time::timeout(timeout, body.collect()).await {
        Err(_) => Err(GatewayError::ClientTimeout),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(GatewayError::BodyTooLarge),
        Ok(Err(_)) => Err(GatewayError::BadBody),
    }
}

/// The backend a plug-in chose instead of the API's.
fn alt_backend(upstream: &Upstream, alt: &AltBackend) -> Option<HttpBackend> {
    let scheme = if alt.https {
        http::uri::Scheme::HTTPS
    } else {
        http::uri::Scheme::HTTP
    };
    let authority: http::uri::Authority = alt.address.parse().ok()?;
    Some(HttpBackend {
        pool: upstream.pool(&scheme, &authority),
        scheme,
        host: HeaderValue::from_str(&alt.address).ok()?,
        authority,
        method: alt.method.as_deref().and_then(|m| m.parse().ok()),
        trailing_slash: alt.path.len() > 1 && alt.path.ends_with('/'),
        path: vec![PathPart::Literal(
            alt.path.trim_end_matches('/').to_string(),
        )],
        timeout: Duration::from_millis(alt.timeout_ms),
    })
}

/// A backend call: where it goes, the path parameters the route matched, and how the
/// metrics count it.
struct Proxied<'a> {
    backend: &'a HttpBackend,
    values: &'a [&'a str],
    rest: &'a str,
    decision: Decision,
    upgrade: Option<&'a upstream::Upgrade>,
}

/// Sends the call to an HTTP backend and shapes the answer; the plug-ins learn the result.
#[allow(clippy::too_many_arguments)]
async fn proxy(
    gw: &Gateway,
    call: Proxied<'_>,
    parts: &RequestHead,
    body: crate::error::Body,
    peer: SocketAddr,
    route: &Route,
    ctx: &mut RequestCtx,
    states: &mut States,
) -> Answer<CallBody> {
    let b = call.backend;
    let target = match upstream::backend_target(b, call.values, call.rest, parts.uri.query()) {
        Ok(t) => t,
        Err(e) => return fail(e, route, ctx, states, Decision::BadRequest),
    };
    let method = b.method.as_ref().unwrap_or(&parts.method);
    let signature = signature(route, b, method, &target, &body, ctx);
    let forwarding = GatewayHeaders::forwarding(b, &parts.headers, peer.ip(), &ctx.request_id)
        .signed(&signature);
    let out = Outbound {
        scheme: &b.scheme,
        authority: &b.authority,
        method,
        target: &target,
        headers: &parts.headers,
        upgrade: call.upgrade,
        pass_headers: !route.chain.touches_every_response_header(),
    };
    let sent = Instant::now();
    let result = gw
        .upstream
        .send(&b.pool, &out, body, &forwarding, sent, b.timeout)
        .await;
    let backend = (&b.authority, target.as_str());
    answered(result, backend, sent, call.decision, route, ctx, states)
}

/// The signature key's header lines for a call to `b` (empty without a key).
#[inline(always)]
fn signature(
    route: &Route,
    b: &HttpBackend,
    method: &Method,
    target: &str,
    body: &crate::error::Body,
    ctx: &RequestCtx,
) -> Vec<u8> {
    let mut signature = Vec::with_capacity(if route.sign.is_some() { 256 } else { 0 });
    if let Some(signer) = &route.sign {
        let payload = match (body, &ctx.body) {
            (Either::Right(_), read) => Payload::Whole(read.as_deref().unwrap_or_default()),
            (Either::Left(s), _) if hyper::body::Body::is_end_stream(s) => Payload::Whole(b""),
            (Either::Left(_), _) => Payload::Streamed,
        };
        let now = ctx.request_time_ms();
        signer.write(&mut signature, method, target, &b.host, payload, now);
    }
    signature
}

/// Sends the call to a member of the route's load balance channel; a try that fails to
/// reach its member (refused, dropped, timed out) is retried on another member as
/// `retry_count` allows, with the body read whole beforehand when retries are possible. The
/// plug-ins learn the final result only.
#[allow(clippy::too_many_arguments)]
async fn proxy_channel(
    gw: &Gateway,
    c: &crate::snapshot::ChannelBackend,
    (values, rest): (&[&str], &str),
    upgrade: Option<&upstream::Upgrade>,
    parts: &RequestHead,
    body: crate::error::Body,
    peer: SocketAddr,
    route: &Route,
    ctx: &mut RequestCtx,
    states: &mut States,
) -> Answer<CallBody> {
    let tries = c.tries(&parts.method);
    let mut body = Some(body);
    let mut whole = None;
    if tries > 1 {
        if let Some(Either::Left(s)) = body.take_if(|b| !hyper::body::Body::is_end_stream(b)) {
            match read_body(s, gw.limits.client_timeout).await {
                Ok(b) => {
                    ctx.body = Some(b.clone());
                    whole = Some(b);
                }
                Err(e) => return fail(e, route, ctx, states, Decision::BadRequest),
            }
        }
    }
    // The members tried before this try (allocated only when a try is retried).
    let mut tried: Vec<usize> = Vec::new();
    loop {
        let Some(i) = c.channel.pick(ctx.client_ip, parts.uri.path(), &tried) else {
            return fail(
                GatewayError::NoHealthyMember,
                route,
                ctx,
                states,
                Decision::Proxied,
            );
        };
        let b = &c.members[i];
        let target = match upstream::backend_target(b, values, rest, parts.uri.query()) {
            Ok(t) => t,
            Err(e) => return fail(e, route, ctx, states, Decision::BadRequest),
        };
        let body = match (body.take(), &whole) {
            (Some(b), _) => b,
            (None, Some(w)) => Either::Right(Full::new(w.clone())),
            (None, None) => Either::Right(Full::new(Bytes::new())),
        };
        let method = b.method.as_ref().unwrap_or(&parts.method);
        let signature = signature(route, b, method, &target, &body, ctx);
        let forwarding = GatewayHeaders::forwarding(b, &parts.headers, peer.ip(), &ctx.request_id)
            .signed(&signature);
        let out = Outbound {
            scheme: &b.scheme,
            authority: &b.authority,
            method,
            target: &target,
            headers: &parts.headers,
            upgrade,
            pass_headers: !route.chain.touches_every_response_header(),
        };
        let sent = Instant::now();
        let waiting = c.channel.waiting(i);
        let result = gw
            .upstream
            .send(&b.pool, &out, body, &forwarding, sent, b.timeout)
            .await;
        drop(waiting);
        if matches!(result, Err(GatewayError::BackendUnavailable)) {
            c.channel.failed(i);
        }
        let retry = matches!(
            result,
            Err(GatewayError::BackendUnavailable | GatewayError::BackendTimeout)
        ) && tried.len() + 1 < tries;
        if !retry {
            let backend = (&b.authority, target.as_str());
            return answered(result, backend, sent, Decision::Proxied, route, ctx, states);
        }
        tried.push(i);
        tracing::debug!(api_id = %route.api_id, member = %b.authority, "backend try failed; retrying on another member");
    }
}

/// Sends a gRPC call to its HTTP/2 backend: the call's path as it is, with the gateway's
/// `X-Request-Id` and `X-Forwarded-For`.
#[allow(clippy::too_many_arguments)]
async fn proxy_grpc(
    gw: &Gateway,
    backend: &upstream::h2::H2Backend,
    timeout: Duration,
    parts: &RequestHead,
    body: crate::error::Body,
    peer: SocketAddr,
    route: &Route,
    ctx: &mut RequestCtx,
    states: &mut States,
) -> Answer<CallBody> {
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut gateway = Vec::with_capacity(2);
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        gateway.push((upstream::X_REQUEST_ID, id));
    }
    let forwarded = match parts
        .headers
        .get(upstream::X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
    {
        Some(list) => format!("{list}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        gateway.push((upstream::X_FORWARDED_FOR, v));
    }
    let call = upstream::h2::H2Call {
        target,
        headers: &parts.headers,
        gateway: &gateway,
    };
    let sent = Instant::now();
    let result = gw.upstream.send_h2(backend, call, body, timeout).await;
    let authority = backend.authority();
    answered(
        result,
        (authority, target),
        sent,
        Decision::Proxied,
        route,
        ctx,
        states,
    )
}

/// A backend's answer (or failure) to a call sent at `sent`: the plug-ins learn the result,
/// the metrics count it, and it is shaped for the client. Inline: a call of its own costs the
/// plain path the answer's move into it (the channel and gRPC paths take their own copy).
#[inline(always)]
fn answered(
    result: Result<Answer<upstream::DrivenBody>, GatewayError>,
    (authority, target): (&http::uri::Authority, &str),
    sent: Instant,
    decision: Decision,
    route: &Route,
    ctx: &mut RequestCtx,
    states: &mut States,
) -> Answer<CallBody> {
    let answered = Instant::now();
    let latency = answered.duration_since(sent).as_millis() as u64;
    ctx.backend_latency_ms = Some(latency);
    let (status, backend_failed) = match &result {
        Ok(resp) => (resp.status.as_u16(), false),
        // Only the backend's failures count against it: a body too large, broken or too
        // slow from the client says nothing about the backend.
        Err(e) => (
            e.parts().0.as_u16(),
            matches!(
                e,
                GatewayError::BackendTimeout | GatewayError::BackendUnavailable
            ),
        ),
    };
    if !route.chain.is_empty() {
        let outcome = BackendResult {
            authority,
            target,
            status,
            backend_failed,
            answered: result.is_ok(),
            alternate: decision == Decision::Downgraded,
            latency_ms: latency,
        };
        route.chain.backend_result(states, &outcome);
    }
    match result {
        Ok(resp) => {
            // Hop-by-hop headers were left out when the response head was read.
            ctx.status = status;
            let took = answered.duration_since(ctx.start);
            route.metrics.record(ctx.status, decision, took);
            finish(resp.map(Either::Left), Some(&route.chain), ctx, states)
        }
        Err(e) => fail(e, route, ctx, states, Decision::BackendError),
    }
}

fn context(
    request_id: String,
    route: Option<&Route>,
    parts: &RequestHead,
    origin: Option<HeaderValue>,
    peer: SocketAddr,
    start: Instant,
) -> RequestCtx {
    let api = route.map(|r| MatchedApi {
        id: &r.api_id,
        name: &r.api_name,
        stage: &r.env_name,
    });
    let mut ctx = RequestCtx::at(
        request_id,
        parts.method.clone(),
        (&parts.uri).into(),
        peer.ip(),
        start,
        api,
    );
    ctx.iam = route.is_some_and(|r| r.auth == AuthType::Iam);
    ctx.origin = origin;
    // Only a preflight's is read (an OPTIONS call).
    if parts.method == Method::OPTIONS {
        ctx.request_headers = parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    }
    ctx
}

/// A gateway-made error on a matched route: it still gets the response phase.
fn fail(
    err: GatewayError,
    route: &Route,
    ctx: &mut RequestCtx,
    states: &mut States,
    decision: Decision,
) -> Answer<CallBody> {
    let resp = err.answer(route.responses.as_deref(), ctx);
    ctx.status = resp.status.as_u16();
    route
        .metrics
        .record(ctx.status, decision, ctx.start.elapsed());
    finish(resp, Some(&route.chain), ctx, states)
}

/// `X-Request-Id`, the response phase, the access log; the plug-ins that complete keep the
/// call until its response is sent.
fn finish(
    mut resp: Answer<ResponseBody>,
    chain: Option<&Arc<Chain>>,
    ctx: &mut RequestCtx,
    states: &mut States,
) -> Answer<CallBody> {
    if let Some(chain) = chain.filter(|c| !c.is_empty()) {
        resp.unpack_touched(chain.touches_response_headers());
        resp.headers.reserve(chain.response_headers_added());
        chain.response_head(states, &mut resp.headers, ctx);
    }
    tracing::info!(
        target: "apigw::access",
        request_id = %ctx.request_id,
        api_id = %ctx.api_id,
        stage = %ctx.stage,
        method = %ctx.method,
        path = %ctx.path,
        status = resp.status.as_u16(),
        client_ip = %ctx.client_ip,
        app_id = ctx.app_id.as_deref().unwrap_or(""),
        backend_ms = ctx.backend_latency_ms.unwrap_or(0),
        latency_us = ctx.start.elapsed().as_micros() as u64,
        "call"
    );
    let completion = chain.filter(|c| c.awaits_completion(states)).map(|chain| {
        Box::new(Completion {
            chain: chain.clone(),
            ctx: ctx.take_for_completion(),
            states: std::mem::take(states),
            sent: 0,
            failed: false,
        })
    });
    // The gateway's X-Request-Id replaces any other (a backend's is left out as its head is
    // read; a configured response might name one).
    if !resp.headers.is_empty() {
        resp.headers.remove(&upstream::X_REQUEST_ID);
    }
    resp.request_id = match &completion {
        Some(c) => c.ctx.request_id.clone(),
        None => std::mem::take(&mut ctx.request_id),
    };
    resp.map(|b| CallBody::new(b, completion))
}
