//! The data-plane listener and the request path (SPEC §2 order): route → cors preflight → API
//! authentication → backend (or mock) → response phase (set_resp_headers, cors) → sent.

use crate::answer::Answer;
use crate::auth::{self, Caller};
use crate::error::{
    GatewayError, ResponseBody, MAX_BODY_BYTES, MAX_HEADERS_BYTES, MAX_HEADER_BYTES, MAX_URI_BYTES,
};
use crate::logged::{CallBody, PendingLog};
use crate::metrics::{Decision, Registry};
use crate::snapshot::{AuthType, Backend, HttpBackend, PathPart, Route, Snapshot};
use crate::upstream::{self, GatewayHeaders, Outbound, Upstream};
use apigw_plugins::breaker::{Action, Ticket};
use apigw_plugins::chain::{Chain, Flow, RequestCtx};
use apigw_plugins::headers::{Headers, RequestHead};
use apigw_plugins::third_auth::{AuthCall, Plan, Verdict as AuthVerdict};
use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
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

pub(crate) mod h1;
mod stop;
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
}

/// Bounds on clients (`docs/reliability.md`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Client connections held at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Longest wait for a request's headers (also the idle keep-alive time) and for a body the
    /// gateway must read whole.
    pub client_timeout: Duration,
}

/// Largest request head buffered: every head within APIG's limits (128 KiB of headers and a
/// 32 KiB URI) fits, so the gateway itself answers 494/414; a larger one is cut off (431,
/// connection closed) before it costs more memory.
const MAX_HEAD_BUFFER: usize = 256 * 1024;

/// `X-Stage`: the environment a call is for.
const X_STAGE: http::header::HeaderName = http::header::HeaderName::from_static("x-stage");

/// How long shutdown waits for in-flight calls.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until `shutdown` completes, then drains in-flight calls: idle
/// connections close at once, busy ones after the response in flight.
pub async fn serve(listener: TcpListener, gw: Arc<Gateway>, shutdown: impl Future<Output = ()>) {
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
            tokio::spawn(refuse(stream));
            continue;
        };
        let (gw, stopped) = (gw.clone(), stop.listener());
        tokio::spawn(async move {
            h1::serve_connection(gw, stream, peer, stopped, MAX_HEAD_BUFFER).await;
            drop(slot);
        });
    }
    drop(listener);
    stop.stop();
    let all_back = slots.acquire_many(max as u32);
    if tokio::time::timeout(DRAIN_TIMEOUT, all_back).await.is_err() {
        tracing::warn!("in-flight calls still running after the drain timeout");
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

/// One call, start to finish.
pub async fn handle(
    gw: &Gateway,
    mut parts: RequestHead,
    body: RequestBody,
    peer: SocketAddr,
) -> Answer<CallBody> {
    let start = Instant::now();
    let request_id = apigw_model::id::request_id();
    let snap = gw.snapshot.load_full();
    if let Err(e) = check_head(&parts) {
        gw.metrics.rejected_requests.fetch_add(1, Relaxed);
        let mut ctx = context(request_id, None, &parts, None, peer, start);
        let resp = e.response(&ctx.request_id);
        ctx.status = resp.status.as_u16();
        let mut resp = finish(resp, None, &mut ctx, false);
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
    let group = snap.group(host);
    let router = group.and_then(|g| g.envs.get(stage));
    // The match borrows the path while `parts` moves on to the backend; a `Uri` clone is a
    // reference-count increment.
    let uri = parts.uri.clone();
    let path = uri.path();
    // A preflight is routed by the method it asks about, when that route has cors.
    let preflight = preflight_method.as_ref().and_then(|m| {
        router
            .and_then(|r| r.lookup(m, path))
            .filter(|m| m.route.chain.cors.is_some())
    });
    let matched = match preflight {
        Some(m) => Some(m),
        None => router.and_then(|r| r.lookup(&parts.method, path)),
    };
    let Some(m) = matched else {
        gw.metrics.unmatched.fetch_add(1, Relaxed);
        // A path with an API under another method still gets that API's CORS headers.
        let chain = router
            .and_then(|r| r.lookup_any(path))
            .map(|m| m.route.chain.clone());
        let mut ctx = context(request_id, None, &parts, origin, peer, start);
        ctx.status = 404;
        let set = group.and_then(|g| g.responses.as_deref());
        let resp = GatewayError::NoApi.answer(set, &ctx);
        return finish(resp, chain.as_ref(), &mut ctx, false);
    };
    let route = m.route.clone();
    let mut ctx = context(request_id, Some(&route), &parts, origin, peer, start);
    // kafka_log: what the call's message needs is kept, unless the message would be dropped.
    if let Some(k) = route
        .chain
        .kafka_log()
        .filter(|k| k.admit(ctx.request_time_ms))
    {
        // An IAM route's `X-Auth-Token` is the gateway's own admin credential (right or
        // wrong): it is never logged.
        let headers = k.wants_request_headers().then(|| {
            let mut h = parts.headers.clone();
            if route.auth == AuthType::Iam {
                h.remove("x-auth-token");
            }
            h
        });
        ctx.captured = Some(Box::new(apigw_plugins::chain::Captured {
            headers,
            user_agent: parts.headers.get(http::header::USER_AGENT).cloned(),
            forwarded_for: parts.headers.get(upstream::X_FORWARDED_FOR).cloned(),
            host: parts.headers.get(HOST).cloned(),
            uri: parts.uri.clone(),
            ..Default::default()
        }));
    }
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
    // Access control by IP: right after routing (and the trusted client IP), before anything
    // else; a route without policies pays this one branch.
    if let Some(access) = &route.access {
        if let Err(e) = access.check_ip(ctx.client_ip) {
            return fail(e, &route, &mut ctx, Decision::AccessDenied);
        }
    }

    if preflight_method.is_some() {
        if let Flow::Respond(status, headers, body) =
            route.chain.preflight(&parts.method, &parts.headers, &ctx)
        {
            let mut resp = full(status, body);
            resp.headers = headers;
            ctx.status = status.as_u16();
            route
                .metrics
                .record(ctx.status, Decision::Preflight, start.elapsed());
            return finish(resp, Some(&route.chain), &mut ctx, true);
        }
    }

    // Too large as declared: refused before anything of it is read.
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return fail(
            GatewayError::BodyTooLarge,
            &route,
            &mut ctx,
            Decision::BadRequest,
        );
    }
    let now = || apigw_model::time::millis_at(start) / 1000;
    // The body is read up front only when a signature covers it, and only once what can be
    // checked without it (the header, the date, the key) has passed.
    let needs_body = route.auth != AuthType::None && auth::needs_body(&parts);
    if needs_body {
        if let Err(e) = auth::precheck(&snap, &route, &parts, now()) {
            return fail(e, &route, &mut ctx, Decision::AuthRejected);
        }
    }
    let (mut body, mut bytes) = if needs_body {
        match read_body(body, gw.limits.client_timeout).await {
            Ok(b) => (Either::Right(Full::new(b.clone())), b),
            Err(e) => return fail(e, &route, &mut ctx, Decision::BadRequest),
        }
    } else {
        (Either::Left(body), Bytes::new())
    };
    if let Some(c) = ctx.captured.as_mut() {
        if needs_body {
            c.body = Some(bytes.clone());
        }
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
            // not handed on to the backend (the log's copy went without it above).
            if route.auth == AuthType::Iam {
                parts.headers.remove("x-auth-token");
            }
        }
        Err(e) => return fail(e, &route, &mut ctx, Decision::AuthRejected),
    }
    // Access control by account: the IAM caller, once authenticated.
    if let (Some(access), AuthType::Iam) = (&route.access, route.auth) {
        if let Err(e) = access.check_account(ctx.user_id.as_deref()) {
            return fail(e, &route, &mut ctx, Decision::AccessDenied);
        }
    }
    // third_auth: the external auth service decides.
    if let Some(ta) = route.chain.third_auth() {
        for h in ta.carried_headers() {
            parts.headers.remove(h);
        }
        match ta.plan(&parts, &ctx) {
            Plan::Skip => {}
            Plan::Forbidden => {
                return fail(
                    GatewayError::AuthForbidden,
                    &route,
                    &mut ctx,
                    Decision::AuthRejected,
                )
            }
            Plan::MissingIdentity => {
                return fail(
                    GatewayError::IdentityMissing,
                    &route,
                    &mut ctx,
                    Decision::AuthRejected,
                )
            }
            Plan::Call(call) => {
                let mut auth_body = Bytes::new();
                if let Some(limit) = call.body_limit {
                    if let Either::Left(incoming) = body {
                        match read_body(incoming, gw.limits.client_timeout).await {
                            Ok(b) => bytes = b,
                            Err(e) => return fail(e, &route, &mut ctx, Decision::BadRequest),
                        }
                    }
                    if bytes.len() > limit {
                        return fail(
                            GatewayError::BodyTooLarge,
                            &route,
                            &mut ctx,
                            Decision::BadRequest,
                        );
                    }
                    auth_body = bytes.clone();
                    if let Some(c) = ctx.captured.as_mut() {
                        c.body = Some(bytes.clone());
                    }
                    body = Either::Right(Full::new(bytes.clone()));
                }
                // Boxed: a rare path, kept out of the state every call's future carries.
                let answer = Box::pin(call_auth_service(gw, *call, auth_body)).await;
                let answer_ref = answer.as_ref().map(|(s, h, b)| (*s, h, b.clone()));
                match ta.judge(answer_ref, &ctx) {
                    AuthVerdict::Pass(carried) => {
                        for (k, v) in carried {
                            parts.headers.append(k, v);
                        }
                    }
                    AuthVerdict::Fail(Some(auth_body)) => {
                        let mut resp = full(StatusCode::UNAUTHORIZED, auth_body);
                        if let Some((_, h, _)) = &answer {
                            if let Some(ct) = h.get(CONTENT_TYPE) {
                                resp.headers.insert(CONTENT_TYPE, ct.clone());
                            }
                        }
                        ctx.status = 401;
                        route
                            .metrics
                            .record(401, Decision::AuthRejected, start.elapsed());
                        return finish(resp, Some(&route.chain), &mut ctx, false);
                    }
                    AuthVerdict::Fail(None) => {
                        return fail(
                            GatewayError::ThirdAuthFailed,
                            &route,
                            &mut ctx,
                            Decision::AuthRejected,
                        )
                    }
                    AuthVerdict::Error => {
                        return fail(
                            GatewayError::AuthServiceError,
                            &route,
                            &mut ctx,
                            Decision::AuthRejected,
                        )
                    }
                }
            }
        }
    }
    // Classic request throttling (none where a rate_limit plug-in is bound: the snapshot
    // leaves it out); a route without a policy pays this one branch.
    if let Some(classic) = &route.throttle {
        let verdict = classic.check(&ctx).await;
        if !verdict.allowed {
            let mut resp = fail(
                GatewayError::Throttled,
                &route,
                &mut ctx,
                Decision::Throttled,
            );
            resp.headers.insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(verdict.reset_secs.max(1)),
            );
            return resp;
        }
    }
    if let Some(verdict) = route.chain.throttle(&parts, &ctx).await {
        ctx.rate_limit = Some(verdict);
        if !verdict.allowed {
            let mut resp = fail(
                GatewayError::Throttled,
                &route,
                &mut ctx,
                Decision::Throttled,
            );
            resp.headers.insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(verdict.reset_secs.max(1)),
            );
            return resp;
        }
    }

    // The breaker: while open, the downgrade answers instead of the backend.
    let ticket = route.chain.breaker_admit(&parts, &ctx);
    let mut passthrough_headers: &[(String, String)] = &[];
    if let Some(open) = ticket.as_ref().and_then(|t| t.open.as_ref()) {
        match open {
            Action::Unavailable => {
                return fail(
                    GatewayError::BreakerOpen,
                    &route,
                    &mut ctx,
                    Decision::Downgraded,
                )
            }
            Action::Mock {
                status,
                body,
                headers,
            } => {
                let mut resp = full(
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
                    body.clone(),
                );
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        http::header::HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(v),
                    ) {
                        resp.headers.append(k, v);
                    }
                }
                ctx.status = resp.status.as_u16();
                route
                    .metrics
                    .record(ctx.status, Decision::Downgraded, start.elapsed());
                return finish(resp, Some(&route.chain), &mut ctx, false);
            }
            Action::Http {
                https,
                address,
                method,
                path,
                timeout_ms,
            } => {
                let Some(b) = downgrade_backend(
                    &gw.upstream,
                    *https,
                    address,
                    method.as_deref(),
                    path,
                    *timeout_ms,
                ) else {
                    return fail(
                        GatewayError::BreakerOpen,
                        &route,
                        &mut ctx,
                        Decision::Downgraded,
                    );
                };
                return proxy(
                    gw,
                    &b,
                    &parts,
                    body,
                    &[],
                    "",
                    peer,
                    &route,
                    &mut ctx,
                    None,
                    Decision::Downgraded,
                )
                .await;
            }
            Action::Passthrough { headers } => passthrough_headers = headers,
        }
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
            finish(resp, Some(&route.chain), &mut ctx, false)
        }
        Backend::Http(b) => {
            let mut parts = parts;
            for (k, v) in passthrough_headers {
                if let (Ok(k), Ok(v)) = (
                    http::header::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    parts.headers.insert(k, v);
                }
            }
            let ticket = ticket.as_ref().filter(|t| t.open.is_none());
            proxy(
                gw,
                b,
                &parts,
                body,
                &m.values,
                m.rest,
                peer,
                &route,
                &mut ctx,
                ticket,
                Decision::Proxied,
            )
            .await
        }
    }
}

/// Calls the auth service; `None` when it cannot be reached or does not answer in time.
async fn call_auth_service(
    gw: &Gateway,
    call: AuthCall,
    body: Bytes,
) -> Option<(u16, Headers, Bytes)> {
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
    };
    let host_value = HeaderValue::from_str(&call.url_domain).ok()?;
    let host = GatewayHeaders::Host(&host_value);
    let pool = gw.upstream.pool(&scheme, &authority);
    let body = Either::Right(Full::new(body));
    // One deadline for the whole answer, headers and body.
    let sent = Instant::now();
    let deadline = tokio::time::Instant::from_std(sent + call.timeout);
    let resp = match gw
        .upstream
        .send(&pool, &out, body, &host, sent, call.timeout)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(auth_service = %call.url_domain, error = ?e, "third-party auth service failed");
            return None;
        }
    };
    let Answer {
        status,
        headers,
        body,
        ..
    } = resp;
    let status = status.as_u16();
    // The auth service's body is only ever returned to the caller: 64 KiB is plenty. A body
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

/// The backend of an `http` downgrade.
fn downgrade_backend(
    upstream: &Upstream,
    https: bool,
    address: &str,
    method: Option<&str>,
    path: &str,
    timeout_ms: u64,
) -> Option<HttpBackend> {
    let scheme = if https {
        http::uri::Scheme::HTTPS
    } else {
        http::uri::Scheme::HTTP
    };
    let authority: http::uri::Authority = address.parse().ok()?;
    Some(HttpBackend {
        pool: upstream.pool(&scheme, &authority),
        scheme,
        host: HeaderValue::from_str(address).ok()?,
        authority,
        method: method.and_then(|m| m.parse().ok()),
        trailing_slash: path.len() > 1 && path.ends_with('/'),
        path: vec![PathPart::Literal(path.trim_end_matches('/').to_string())],
        timeout: Duration::from_millis(timeout_ms),
    })
}

/// Sends the call to an HTTP backend and shapes the answer; reports to the breaker.
#[allow(clippy::too_many_arguments)]
async fn proxy(
    gw: &Gateway,
    b: &HttpBackend,
    parts: &RequestHead,
    body: crate::error::Body,
    values: &[&str],
    rest: &str,
    peer: SocketAddr,
    route: &Route,
    ctx: &mut RequestCtx,
    ticket: Option<&Ticket>,
    decision: Decision,
) -> Answer<CallBody> {
    let forwarding = GatewayHeaders::forwarding(b, &parts.headers, peer.ip(), &ctx.request_id);
    let target = match upstream::backend_target(b, values, rest, parts.uri.query()) {
        Ok(t) => t,
        Err(e) => return fail(e, route, ctx, Decision::BadRequest),
    };
    if let Some(c) = ctx.captured.as_mut() {
        c.upstream_addr = Some(b.authority.clone());
        if route
            .chain
            .kafka_log()
            .is_some_and(|k| k.wants_upstream_uri())
        {
            c.upstream_uri = http::uri::PathAndQuery::try_from(target.as_str()).ok();
        }
    }
    let out = Outbound {
        scheme: &b.scheme,
        authority: &b.authority,
        method: b.method.as_ref().unwrap_or(&parts.method),
        target: &target,
        headers: &parts.headers,
    };
    let sent = Instant::now();
    let result = gw
        .upstream
        .send(&b.pool, &out, body, &forwarding, sent, b.timeout)
        .await;
    let answered = Instant::now();
    let latency = answered.duration_since(sent).as_millis() as u64;
    ctx.backend_latency_ms = Some(latency);
    match result {
        Ok(resp) => {
            // Hop-by-hop headers were left out when the response head was read.
            ctx.status = resp.status.as_u16();
            if let Some(t) = ticket {
                route.chain.breaker_record(t, false, ctx.status, latency);
            }
            let took = answered.duration_since(ctx.start);
            route.metrics.record(ctx.status, decision, took);
            finish(resp.map(Either::Left), Some(&route.chain), ctx, false)
        }
        Err(e) => {
            if let Some(t) = ticket {
                let (status, _, _) = e.parts();
                // Only the backend's failures count against it: a body too large, broken or
                // too slow from the client says nothing about the backend.
                let backend_failed = matches!(
                    e,
                    GatewayError::BackendTimeout | GatewayError::BackendUnavailable
                );
                route
                    .chain
                    .breaker_record(t, backend_failed, status.as_u16(), latency);
            }
            fail(e, route, ctx, Decision::BackendError)
        }
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
    let mut ctx = RequestCtx::at(
        request_id,
        parts.method.clone(),
        parts.uri.path().to_string(),
        peer.ip(),
        start,
    );
    if let Some(r) = route {
        ctx.api_id = r.api_id.clone();
        ctx.api_name = r.api_name.clone();
        ctx.stage = r.env_name.clone();
    }
    ctx.origin = origin;
    ctx.request_headers = parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    ctx
}

/// A gateway-made error on a matched route: it still gets the response phase.
fn fail(
    err: GatewayError,
    route: &Route,
    ctx: &mut RequestCtx,
    decision: Decision,
) -> Answer<CallBody> {
    let resp = err.answer(route.responses.as_deref(), ctx);
    ctx.status = resp.status.as_u16();
    route
        .metrics
        .record(ctx.status, decision, ctx.start.elapsed());
    finish(resp, Some(&route.chain), ctx, false)
}

/// The response phase, `X-Request-Id`, the access log; the kafka_log message goes with the
/// body and is queued once the response has been sent.
fn finish(
    mut resp: Answer<ResponseBody>,
    chain: Option<&Chain>,
    ctx: &mut RequestCtx,
    preflight: bool,
) -> Answer<CallBody> {
    if let Some(chain) = chain {
        chain.on_response(&mut resp.headers, ctx, preflight);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        resp.headers.insert(upstream::X_REQUEST_ID, v);
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
    let log = match (chain, ctx.captured.is_some()) {
        (Some(chain), true) => chain.kafka_log().and_then(|k| {
            let (headers, body) = k.wants_response();
            Some(Box::new(PendingLog {
                plugin: chain.kafka_log.clone()?,
                ctx: ctx.take_for_log(),
                response_headers: headers.then(|| resp.headers.clone()),
                body: body.then(BytesMut::new),
                sent: 0,
            }))
        }),
        _ => None,
    };
    resp.map(|b| CallBody::new(b, log))
}
