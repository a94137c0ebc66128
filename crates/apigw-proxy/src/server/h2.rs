//! HTTP/2 from clients (RFC 9113), with the `h2` crate: ALPN `h2` on the TLS listener, and h2c
//! with prior knowledge on the plain one (`server/h1.rs` hands over a connection that opens
//! with the HTTP/2 preface). Each stream is one call through the same request path as an
//! HTTP/1.1 request (`server::handle`); the connection's task drives the protocol and runs the
//! streams' calls beside it.
//!
//! Hostile peers: at most [`MAX_STREAMS`] streams at once; a flood of streams the client opens
//! and resets at once (rapid reset, CVE-2023-44487) or that the gateway had to reset ends the
//! connection (`h2`'s limits below); header blocks (CONTINUATION included) beyond APIG's
//! 128 KiB are refused; a connection with no stream open past the client timeout is closed.

use super::h1::RequestBody;
use super::stop::StopListener;
use crate::answer::Answer;
use crate::error::MAX_HEADERS_BYTES;
use crate::http2::{connection_specific, send_body};
use crate::server::{handle, Gateway};
use apigw_plugins::headers::RequestHead;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Streams a client may have open at once.
pub(crate) const MAX_STREAMS: u32 = 128;
/// Streams the client opened and reset before they were answered, pending at once.
const MAX_PENDING_RESETS: usize = 32;
/// Streams the gateway may reset for a client's protocol errors before it closes the
/// connection.
const MAX_ERROR_RESETS: usize = 256;

/// The first bytes of an HTTP/2 connection (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves one HTTP/2 connection until the client closes it, it fails, it idles past the
/// client timeout, or the gateway shuts down (after the streams in flight).
pub(crate) async fn serve_connection<T>(
    gw: Arc<Gateway>,
    io: T,
    peer: SocketAddr,
    mut stop: StopListener,
    secure: bool,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = gw.limits.client_timeout;
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEADERS_BYTES as u32 + 1024)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(Some(MAX_ERROR_RESETS));
    let mut conn = match tokio::time::timeout(timeout, builder.handshake::<_, Bytes>(io)).await {
        Ok(Ok(conn)) => conn,
        _ => return,
    };
    // The streams' calls run here, in the connection's task, beside the protocol: no task
    // per stream, and no wake-up crossing tasks between a stream and its connection.
    let mut streams = FuturesUnordered::new();
    let mut idle = crate::deadline::Deadline::after(timeout);
    let mut stopping = false;
    loop {
        let is_idle = streams.is_empty();
        if is_idle && !stopping {
            idle.set_after(timeout);
        }
        let next = tokio::select! {
            biased;
            Some(()) = streams.next(), if !streams.is_empty() => continue,
            next = conn.accept() => next,
            () = stop.stopped(), if !stopping => {
                stopping = true;
                conn.graceful_shutdown();
                idle.set_after(timeout);
                continue;
            }
            // Idle: a goodbye (GOAWAY), then, if the client has not closed within the client
            // timeout (one that does not read, a SETTINGS or PING flood that fills our sends),
            // the connection goes. Calls in flight are waited for.
            () = idle.expired(), if is_idle || stopping => {
                if stopping && is_idle {
                    return;
                }
                stopping = true;
                conn.graceful_shutdown();
                idle.set_after(timeout);
                continue;
            }
        };
        match next {
            Some(Ok((request, respond))) => {
                // Calls still running past the streams allowed: streams reset faster than
                // their calls stop. The connection goes.
                if streams.len() >= 2 * MAX_STREAMS as usize {
                    conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                    return;
                }
                streams.push(serve_stream(&gw, request, respond, peer, secure));
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "HTTP/2 connection failed");
                return;
            }
            None => return,
        }
    }
}

/// One stream: the call, then its answer.
async fn serve_stream(
    gw: &Gateway,
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    peer: SocketAddr,
    secure: bool,
) {
    let (parts, recv) = request.into_parts();
    let length = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = if recv.is_end_stream() {
        RequestBody::empty()
    } else {
        RequestBody::h2(StreamBody { recv, left: length })
    };
    let mut head = RequestHead::from(parts);
    // The authority comes as `:authority`; routing, signatures and backends read `Host`.
    if !head.headers.contains_key(HOST) {
        if let Some(value) = head
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            head.headers.insert(HOST, value);
        }
    }
    let head_request = head.method == Method::HEAD;
    let grpc = head
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    // A stream the client resets is a call it no longer wants: its work stops there (the
    // backend call too), so resetting streams cannot pile up work (CVE-2023-44487).
    let answer = {
        let via = crate::server::Via {
            secure,
            upgrade: None,
        };
        let call = handle(gw, head, body, peer, via);
        let reset = std::future::poll_fn(|cx| respond.poll_reset(cx));
        tokio::select! {
            answer = call => Some(answer),
            _ = reset => None,
        }
    };
    match answer {
        Some(answer) if grpc && answer.status != StatusCode::OK => {
            let (code, message) = grpc_refusal(answer).await;
            let mut response = http::Response::new(());
            let h = response.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            h.insert(GRPC_STATUS, HeaderValue::from(code));
            if let Ok(m) = HeaderValue::from_str(&message) {
                h.insert(GRPC_MESSAGE, m);
            }
            // Trailers-only: the status in the one HEADERS frame that ends the stream.
            let _ = respond.send_response(response, true);
        }
        Some(answer) => send(answer, respond, head_request).await,
        None => {}
    }
}

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// A gateway refusal (or a backend's non-gRPC failure) as a gRPC status (SPEC §8): the code
/// for its HTTP status, and APIG's error code and message, percent-encoded as gRPC wants.
async fn grpc_refusal<B>(answer: Answer<B>) -> (u16, String)
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let code = match answer.status.as_u16() {
        400 | 413 | 414 | 431 | 494 => 3, // INVALID_ARGUMENT
        401 => 16,                        // UNAUTHENTICATED
        403 => 7,                         // PERMISSION_DENIED
        404 => 12,                        // UNIMPLEMENTED
        408 | 504 => 4,                   // DEADLINE_EXCEEDED
        429 => 8,                         // RESOURCE_EXHAUSTED
        500 => 13,                        // INTERNAL
        502 | 503 => 14,                  // UNAVAILABLE
        _ => 2,                           // UNKNOWN
    };
    let body = http_body_util::Limited::new(answer.body, 4096);
    let read = tokio::time::timeout(std::time::Duration::from_secs(1), body.collect()).await;
    let text = match read {
        Ok(Ok(c)) => c.to_bytes(),
        _ => Bytes::new(),
    };
    let message = match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(v) => format!(
            "{}: {}",
            v["error_code"].as_str().unwrap_or_default(),
            v["error_msg"].as_str().unwrap_or_default()
        ),
        Err(_) => answer.status.to_string(),
    };
    let encoded = percent_encoding::utf8_percent_encode(&message, GRPC_MESSAGE_SET).to_string();
    (code, encoded)
}

/// What gRPC's `grpc-message` percent-encodes: controls, `%` and what is not ASCII.
const GRPC_MESSAGE_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// Sends an answer on its stream, its body as the client's window allows.
async fn send<B>(mut answer: Answer<B>, mut respond: h2::server::SendResponse<Bytes>, head: bool)
where
    B: Body<Data = Bytes>,
{
    answer.unpack();
    let Answer {
        status,
        headers,
        request_id,
        body,
        ..
    } = answer;
    let body = pin!(body);
    let no_body = head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    let out = response.headers_mut();
    for (name, value) in headers {
        if connection_specific(&name, &value) || (name == CONTENT_LENGTH && !no_body) {
            continue;
        }
        out.append(name, value);
    }
    if !request_id.is_empty() {
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            out.insert(crate::upstream::X_REQUEST_ID, id);
        }
    }
    if !no_body {
        if let Some(n) = body.size_hint().exact() {
            out.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    let end = no_body || body.is_end_stream();
    let Ok(mut stream) = respond.send_response(response, end) else {
        return;
    };
    if end {
        return;
    }
    // A backend that fails mid-body: the client sees the stream cut.
    send_body(body, &mut stream, h2::Reason::INTERNAL_ERROR).await;
}

/// A request body as its stream's DATA frames arrive; each frame read gives its room back to
/// the client's window, so a call that reads slowly slows the client down.
#[derive(Debug)]
pub(crate) struct StreamBody {
    recv: h2::RecvStream,
    /// Bytes still to come by the `content-length` (h2 refuses a stream whose DATA frames
    /// disagree with it).
    left: Option<u64>,
}

impl StreamBody {
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match ready!(self.recv.poll_data(cx)) {
            Some(Ok(data)) => {
                let _ = self.recv.flow_control().release_capacity(data.len());
                if let Some(left) = &mut self.left {
                    *left = left.saturating_sub(data.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(io::Error::other(e)))),
            None => Poll::Ready(None),
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// A plain connection whose first bytes were already read (the preface, while looking for an
/// HTTP/1.1 request head): they are read again first.
#[derive(Debug)]
pub(crate) struct Rewind {
    pre: Bytes,
    io: tokio::net::TcpStream,
}

impl Rewind {
    pub(crate) fn new(pre: Bytes, io: tokio::net::TcpStream) -> Self {
        Self { pre, io }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            let pre = self.pre.split_to(n);
            buf.put_slice(&pre);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
