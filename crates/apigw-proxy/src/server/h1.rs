//! HTTP/1.1 from clients, the server side (RFC 9112): request heads parsed by httparse straight
//! from the connection's read buffer (header values are slices of it), bodies framed by
//! `Content-Length` or chunks and read as the call needs them, responses written head and body
//! together where they fit, keep-alive and pipelining, the client timeout, graceful shutdown.
//!
//! This is the other half of the hot path (the backend half is `upstream/h1.rs`), code of our
//! own rather than hyper's server for the same reasons: one task per client connection, no
//! dispatch channel, no `HeaderMap` (`docs/architecture.md`).

use super::conn::{ClientIo, READ_ROOM};
use super::stop::StopListener;
use crate::answer::Answer;
use crate::deadline::Deadline;
use crate::server::{handle, Gateway, Via};
use crate::upstream::Upgrade;
use crate::wire::{push_hex, BodyState, ConnectionOptions, HeadScratch, TransferCodings};
use apigw_plugins::headers::{Headers, RequestHead};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{
    HeaderValue, CONNECTION, CONTENT_LENGTH, DATE, EXPECT, HOST, TRANSFER_ENCODING, UPGRADE,
};
use http::{Method, StatusCode, Uri, Version};
use hyper::body::{Body, Frame, SizeHint};
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// Most headers a request may carry (as hyper's default); more is 431.
const MAX_HEADERS: usize = 100;
/// Response bytes gathered before they are written (larger body frames go out on their own).
const WRITE_GATHER: usize = 64 * 1024;
/// Unread request body the gateway reads and throws away to keep a connection (beyond it, the
/// connection is closed).
const DISCARD_LIMIT: u64 = 64 * 1024;
/// How long a closing connection keeps reading what the client still sends, so that the close
/// does not reset the connection before the client has read the answer.
const LINGER: Duration = Duration::from_secs(1);

/// Serves one client connection until it closes, fails, idles past the client timeout or the
/// gateway shuts down (after the call in flight, if any).
pub(crate) async fn serve_connection(
    gw: Arc<Gateway>,
    io: ClientIo,
    peer: SocketAddr,
    mut stop: StopListener,
    max_head: usize,
) {
    let secure = matches!(io, ClientIo::Tls(_));
    let io = Arc::new(io);
    let mut buf = BytesMut::with_capacity(READ_ROOM);
    let mut out = Vec::with_capacity(1024);
    let mut scratch = HeadScratch::default();
    let timeout = gw.limits.client_timeout;
    let mut deadline = Deadline::after(timeout);
    let mut first = true;
    loop {
        if stop.is_stopping() {
            return;
        }
        let idle = buf.is_empty();
        deadline.set_after(timeout);
        let head = tokio::select! {
            biased;
            r = read_head(&io, &mut buf, &mut scratch, max_head) => r,
            () = deadline.expired() => return, // slow or idle: closed without an answer
            () = stop.stopped(), if idle => return,
        };
        let head = match head {
            Err(HeadError::Closed) => return,
            Err(HeadError::TooLarge) => {
                return refuse(
                    io,
                    &mut out,
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    timeout,
                )
                .await
            }
            // h2c with prior knowledge: the HTTP/2 preface where the first request would be.
            Err(HeadError::Malformed)
                if first && gw.limits.http2 && buf.starts_with(super::h2::PREFACE) =>
            {
                if let Ok(ClientIo::Plain(tcp)) = Arc::try_unwrap(io) {
                    let io = super::h2::Rewind::new(buf.freeze(), tcp);
                    // Boxed, as the tunnel below: rare states kept out of every connection's.
                    Box::pin(super::h2::serve_connection(gw, io, peer, stop, false)).await;
                }
                return;
            }
            Err(HeadError::Malformed) => {
                return refuse(io, &mut out, StatusCode::BAD_REQUEST, timeout).await
            }
            Err(HeadError::UnknownCoding) => {
                return refuse(io, &mut out, StatusCode::NOT_IMPLEMENTED, timeout).await
            }
            Ok(head) => head,
        };
        first = false;
        let Head {
            request,
            framing,
            mut keep_alive,
            expect_continue,
            upgrade,
        } = head;
        let head_request = request.method == Method::HEAD;
        let version = request.version;
        let shared = match framing {
            BodyState::Done => None,
            state => Some(Arc::new(Mutex::new(Reading {
                io: io.clone(),
                buf: std::mem::take(&mut buf),
                state,
                continue_pending: expect_continue,
                continue_written: 0,
            }))),
        };
        let body = match &shared {
            None => RequestBody::empty(),
            Some(shared) => RequestBody {
                from: Source::H1(shared.clone()),
            },
        };
        let upgrade = upgrade.then(Upgrade::default);
        let via = Via {
            secure,
            upgrade: upgrade.as_ref(),
        };
        let resp = handle(&gw, request, body, peer, via).await;
        // Switched (the backend answered the handshake with 101): a tunnel from now on.
        let tunnel = match resp.status {
            StatusCode::SWITCHING_PROTOCOLS => upgrade.and_then(|u| u.take()),
            _ => None,
        };
        if resp.status == StatusCode::SWITCHING_PROTOCOLS && tunnel.is_none() {
            keep_alive = false;
        }
        if resp
            .headers
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
            || stop.is_stopping()
        {
            keep_alive = false;
        }
        // The request body, if any, must have been read to its end for the connection to
        // carry another request: a short rest is read and dropped after the answer.
        let mut unread = 0;
        if let Some(shared) = shared {
            let mut r = shared.lock().unwrap_or_else(|e| e.into_inner());
            buf = std::mem::take(&mut r.buf);
            // Answered before the body was asked for (`Expect: 100-continue`): the client may
            // send it or not, so what follows cannot be told from a next request — close.
            if r.continue_pending {
                keep_alive = false;
            }
            if !r.state.is_done() {
                match r.state.remaining() {
                    Some(left) if left <= DISCARD_LIMIT => unread = left,
                    _ => keep_alive = false,
                }
            }
        }
        let written = write_response(
            Answering {
                io: &io,
                stall: timeout,
            },
            &mut out,
            resp,
            head_request,
            version,
            keep_alive,
        );
        let written = written.await;
        if let (Some(backend), Ok(true)) = (tunnel, &written) {
            if let Ok(io) = Arc::try_unwrap(io) {
                Box::pin(super::tunnel::run(io, buf, backend, timeout)).await;
            }
            return;
        }
        match written {
            Ok(true) if unread == 0 => {}
            Ok(true) => {
                if !discard(&io, &mut buf, unread, timeout).await {
                    return;
                }
            }
            Ok(false) => return linger(io).await,
            Err(_) => return,
        }
    }
}

/// The state of a request body shared between the call (which reads it) and the connection
/// (which takes the read buffer back afterwards).
#[derive(Debug)]
struct Reading {
    io: Arc<ClientIo>,
    buf: BytesMut,
    state: BodyState,
    /// `Expect: 100-continue`: the interim answer goes out when the body is first read.
    continue_pending: bool,
    /// Bytes of the interim answer written so far.
    continue_written: usize,
}

/// A client's request body, read from the connection (or its HTTP/2 stream) as the call asks
/// for it.
#[derive(Debug)]
pub struct RequestBody {
    from: Source,
}

#[derive(Debug)]
enum Source {
    /// The request has no body.
    Empty,
    H1(Arc<Mutex<Reading>>),
    H2(Box<super::h2::StreamBody>),
}

impl RequestBody {
    pub(crate) fn empty() -> Self {
        Self {
            from: Source::Empty,
        }
    }

    pub(crate) fn h2(body: super::h2::StreamBody) -> Self {
        Self {
            from: Source::H2(Box::new(body)),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let shared = match &mut self.get_mut().from {
            Source::Empty => return Poll::Ready(None),
            Source::H2(body) => return body.poll_frame(cx),
            Source::H1(shared) => shared,
        };
        let mut r = shared.lock().unwrap_or_else(|e| e.into_inner());
        let r = &mut *r;
        let io = &*r.io;
        if r.continue_pending {
            const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
            // Written whole, however the socket takes it: a half-written interim line would
            // corrupt the answer that follows it.
            while r.continue_written < CONTINUE.len() {
                match ready!(io.poll_write(cx, &CONTINUE[r.continue_written..])) {
                    Ok(0) => return Poll::Ready(Some(Err(io::ErrorKind::WriteZero.into()))),
                    Ok(n) => r.continue_written += n,
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            if let Err(e) = ready!(io.poll_flush(cx)) {
                return Poll::Ready(Some(Err(e)));
            }
            r.continue_pending = false;
        }
        loop {
            match r.state.next(&mut r.buf) {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) if r.state.is_done() => return Poll::Ready(None),
                Ok(None) => {}
            }
            match ready!(io.poll_fill(cx, &mut r.buf)) {
                Ok(0) => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection inside the request body",
                    ))))
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.from {
            Source::Empty => true,
            Source::H2(body) => body.is_end_stream(),
            Source::H1(s) => s.lock().unwrap_or_else(|e| e.into_inner()).state.is_done(),
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        let s = match &self.from {
            Source::Empty => return SizeHint::with_exact(0),
            Source::H2(body) => return body.size_hint(),
            Source::H1(s) => s,
        };
        match s
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state
            .remaining()
        {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// The client's connection as answers are written to it: a client that stops reading may hold
/// a write up to the client timeout (as a slow sender may hold a read), then it is cut — its
/// connection slot and any backend connection streaming to it are not held forever.
#[derive(Clone, Copy)]
struct Answering<'a> {
    io: &'a ClientIo,
    stall: Duration,
}

impl Answering<'_> {
    async fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes, self.stall).await
    }
}

/// Why no request head could be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The client closed the connection (or it failed).
    Closed,
    /// More than the buffer may hold, or too many headers: 431.
    TooLarge,
    /// Not HTTP/1.x, or a framing that cannot be trusted: 400.
    Malformed,
    /// A transfer coding other than `chunked`: 501.
    UnknownCoding,
}

/// A request head, parsed.
#[derive(Debug)]
pub(crate) struct Head {
    request: RequestHead,
    pub(crate) framing: BodyState,
    keep_alive: bool,
    expect_continue: bool,
    /// A WebSocket handshake, without a body.
    upgrade: bool,
}

async fn read_head(
    io: &ClientIo,
    buf: &mut BytesMut,
    scratch: &mut HeadScratch,
    max: usize,
) -> Result<Head, HeadError> {
    loop {
        if !buf.is_empty() {
            if let Some(head) = parse_head(buf, scratch, max)? {
                return Ok(head);
            }
        }
        match io.fill(buf).await {
            Ok(0) | Err(_) => return Err(HeadError::Closed),
            Ok(_) => {}
        }
    }
}

/// Parses a request head at the start of `buf` and takes it off; `None` when more bytes are
/// needed.
pub(crate) fn parse_head(
    buf: &mut BytesMut,
    scratch: &mut HeadScratch,
    max: usize,
) -> Result<Option<Head>, HeadError> {
    // Empty lines before a request are ignored (RFC 9112 §2.2).
    while buf.starts_with(b"\r\n") {
        buf.advance(2);
    }
    // Slots httparse fills as it reads, not zeroed first (100 of them: 3 200 bytes a head).
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if len > max {
        return Err(HeadError::TooLarge);
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Malformed)?;
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let base = buf.as_ptr() as usize;
    let path = req.path.unwrap_or("");
    let path_at = path.as_ptr() as usize - base;
    let path_range = path_at..path_at + path.len();
    scratch.start();
    for h in req.headers.iter() {
        let name = scratch
            .name(h.name.as_bytes())
            .map_err(|_| HeadError::Malformed)?;
        let start = h.value.as_ptr() as usize - base;
        scratch.names.push((name, start, start + h.value.len()));
    }
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_range)).map_err(|_| HeadError::Malformed)?;
    let mut headers = Headers::with_capacity(scratch.names.len());
    // Which of the headers that frame the message are there at all: the lookups below are
    // made only for those (most requests carry none of them).
    let (mut connection, mut chunks, mut length, mut expect) = (false, false, false, false);
    let mut hosts = 0;
    for (name, start, end) in scratch.names.drain(..) {
        let value = HeaderValue::from_maybe_shared(head.slice(start..end))
            .map_err(|_| HeadError::Malformed)?;
        hosts += usize::from(name == HOST);
        connection |= name == CONNECTION;
        chunks |= name == TRANSFER_ENCODING;
        length |= name == CONTENT_LENGTH;
        expect |= name == EXPECT;
        headers.append(name, value);
    }
    // Exactly one `Host` in HTTP/1.1, at most one in 1.0 (RFC 9112 §3.2: 400 otherwise): a
    // request that names two hosts could be routed by one and read by the backend by the other.
    if hosts > 1 || (hosts == 0 && version == Version::HTTP_11) {
        return Err(HeadError::Malformed);
    }
    // A target in absolute form names the host, and `Host` becomes it (RFC 9112 §3.2.2): the
    // route, the signature (which covers `host`) and the backend's `X-Forwarded-Host` all see
    // the same one.
    if let Some(authority) = uri.authority() {
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| HeadError::Malformed)?;
        headers.insert(HOST, host);
    }
    let mut options = ConnectionOptions::default();
    let mut upgrade = false;
    if connection {
        for v in headers.get_all(CONNECTION) {
            options.add(v.as_bytes());
        }
        if options.too_many() {
            return Err(HeadError::Malformed);
        }
        // A WebSocket handshake (RFC 6455 §4.1): its `Upgrade` is kept for the backend.
        upgrade = version == Version::HTTP_11
            && method == Method::GET
            && options.named.contains(&UPGRADE)
            && headers
                .get(UPGRADE)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        // The headers `Connection` names are this connection's alone: they go now, with
        // `Connection` itself, so that nothing the gateway adds later under such a name (a
        // carried identity, say) can be dropped by a client naming it. One pass.
        headers.retain(|n, _| {
            *n != CONNECTION && (!options.named.contains(n) || (upgrade && *n == UPGRADE))
        });
    }
    let mut keep_alive = if version == Version::HTTP_11 {
        !options.close
    } else {
        options.keep_alive
    };
    let framing = if chunks {
        let mut codings = TransferCodings::default();
        for v in headers.get_all(TRANSFER_ENCODING) {
            codings.add(v.as_bytes());
        }
        if version == Version::HTTP_10 || codings.malformed() {
            return Err(HeadError::Malformed);
        }
        // A coding besides `chunked` (gzip, …): the gateway would have to decode it to
        // forward the body with its own framing, and does not (RFC 9112 §6.1: 501).
        if !codings.only_chunked() {
            return Err(HeadError::UnknownCoding);
        }
        // A length beside the chunks (the smuggling shape): the chunks decide, the length
        // goes, and the connection closes after the answer (RFC 9112 §6.1).
        if headers.remove(CONTENT_LENGTH).is_some() {
            keep_alive = false;
        }
        BodyState::ChunkSize
    } else if length {
        match crate::wire::content_length(
            headers.get_all(CONTENT_LENGTH).map(HeaderValue::as_bytes),
        ) {
            Ok(None) | Ok(Some(0)) => BodyState::Done,
            Ok(Some(n)) => BodyState::Length(n),
            Err(()) => return Err(HeadError::Malformed),
        }
    } else {
        BodyState::Done
    };
    let expect_continue = expect
        && version == Version::HTTP_11
        && !framing.is_done()
        && headers
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    Ok(Some(Head {
        request: RequestHead {
            method,
            uri,
            version,
            headers,
        },
        upgrade: upgrade && framing.is_done(),
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// Answers a request that cannot be read with `status` and an empty body, then closes.
async fn refuse(io: Arc<ClientIo>, out: &mut Vec<u8>, status: StatusCode, stall: Duration) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncontent-length: 0\r\nconnection: close\r\n");
    push_date(out);
    out.extend_from_slice(b"\r\n");
    let answering = Answering { io: &io, stall };
    if answering.write_all(out).await.is_ok() {
        linger(io).await;
    }
}

/// Closes the connection once the client has read the answer (`ClientIo::linger`).
async fn linger(io: Arc<ClientIo>) {
    if let Ok(io) = Arc::try_unwrap(io) {
        io.linger(LINGER).await;
    }
}

/// Reads and drops the `left` bytes of a body the call did not read; `false` if that failed.
async fn discard(io: &ClientIo, buf: &mut BytesMut, mut left: u64, timeout: Duration) -> bool {
    let run = async {
        loop {
            let take = (buf.len() as u64).min(left) as usize;
            buf.advance(take);
            left -= take as u64;
            if left == 0 {
                return true;
            }
            if !matches!(io.fill(buf).await, Ok(n) if n > 0) {
                return false;
            }
        }
    };
    tokio::time::timeout(timeout, run).await.unwrap_or(false)
}

/// Writes a response: head, then body frames as they come, gathered into few writes.
/// `Ok(true)`: the connection can carry another request.
async fn write_response<B>(
    io: Answering<'_>,
    out: &mut Vec<u8>,
    answer: Answer<B>,
    head_request: bool,
    version: Version,
    mut keep_alive: bool,
) -> io::Result<bool>
where
    B: Body<Data = Bytes>,
{
    let Answer {
        status,
        headers,
        passed,
        request_id,
        body,
    } = answer;
    let mut body = pin!(body);
    let no_body = head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let exact = body.size_hint().exact();
    let chunked = !no_body && exact.is_none() && version == Version::HTTP_11;
    if !no_body && exact.is_none() && !chunked {
        keep_alive = false; // HTTP/1.0: the end of the connection ends the body
    }
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(crate::answer::reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    // Where no body follows (HEAD, 304), the length the response carries is kept: it is the
    // length a GET would have had. Elsewhere the length is ours, from the body.
    let keep_length = head_request || status == StatusCode::NOT_MODIFIED;
    let mut has_date = false;
    if let Some(passed) = passed {
        passed.write(out);
        has_date = passed.date;
    }
    let mut has_length = false;
    for (name, value) in &headers {
        if name == CONTENT_LENGTH {
            if !keep_length {
                continue;
            }
            has_length = true;
        } else if name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        } else if name == DATE {
            has_date = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !request_id.is_empty() {
        out.extend_from_slice(b"x-request-id: ");
        out.extend_from_slice(request_id.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let length = match exact {
        _ if status.is_informational() || status == StatusCode::NO_CONTENT => None,
        Some(n) if !keep_length => Some(n),
        Some(n) if head_request && !has_length && n > 0 => Some(n),
        _ => None,
    };
    if let Some(n) = length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    } else if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if status == StatusCode::SWITCHING_PROTOCOLS && keep_alive {
        out.extend_from_slice(b"connection: upgrade\r\nupgrade: websocket\r\n");
    } else if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if !has_date {
        push_date(out);
    }
    out.extend_from_slice(b"\r\n");
    if no_body {
        io.write_all(out).await?;
        return Ok(keep_alive);
    }
    loop {
        if body.is_end_stream() {
            break;
        }
        // Take what is ready; write what was gathered only before waiting.
        let polled = std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await;
        let frame = match polled {
            Poll::Ready(f) => f,
            Poll::Pending => {
                if !out.is_empty() {
                    io.write_all(out).await?;
                    out.clear();
                }
                std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(_)) => {
                // The backend failed mid-body: the client must see a cut, not an end.
                if !out.is_empty() {
                    let _ = io.write_all(out).await;
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) if !d.is_empty() => d,
                _ => continue,
            },
        };
        if chunked {
            push_hex(out, data.len());
            out.extend_from_slice(b"\r\n");
        }
        if out.len() + data.len() > WRITE_GATHER {
            io.write_all(out).await?;
            out.clear();
            io.write_all(&data).await?;
        } else {
            out.extend_from_slice(&data);
        }
        if chunked {
            out.extend_from_slice(b"\r\n");
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !out.is_empty() {
        io.write_all(out).await?;
    }
    Ok(keep_alive)
}

/// `date: <IMF-fixdate>\r\n`, formatted once a second per thread.
fn push_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_empty() {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(c.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    #[tokio::test]
    async fn a_short_read_clears_the_readiness_so_the_next_wait_parks_without_a_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let server = ClientIo::Plain(server);
        client.write_all(b"hello").await.unwrap();
        let mut buf = BytesMut::new();
        assert_eq!(server.fill(&mut buf).await.unwrap(), 5);
        let ClientIo::Plain(tcp) = &server else {
            unreachable!()
        };
        // Readiness still set would make the next wait a recvfrom that finds nothing.
        let ready = std::future::poll_fn(|cx| Poll::Ready(tcp.poll_read_ready(cx))).await;
        assert!(
            ready.is_pending(),
            "readiness kept after the socket was emptied"
        );
        // Data arriving later still wakes the wait.
        client.write_all(b"more").await.unwrap();
        let woke = tokio::time::timeout(Duration::from_secs(5), server.fill(&mut buf)).await;
        assert_eq!(woke.expect("woken by new data").unwrap(), 4);
        assert_eq!(&buf[..], b"hellomore");
    }
}
