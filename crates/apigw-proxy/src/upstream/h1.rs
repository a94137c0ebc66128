//! HTTP/1.1 to backends, the client side (RFC 9112): the request head written with its body in
//! one write where it fits, the response head parsed by httparse straight from the connection's
//! read buffer (header values are slices of that buffer, not copies), and the response body
//! framed by `Content-Length`, chunks or the end of the connection.
//!
//! This is half of the hot path of every proxied call (the client half is `server/h1.rs`), hence
//! code of our own rather than hyper's client: it runs in the calling task, with no dispatch
//! channel and no `HeaderMap` (`docs/architecture.md`).

use crate::answer::{NameBits, Passed, Runs, PASSED_HEAD_BYTES};
use crate::upstream::{role, GatewayHeaders, Role};
use crate::wire::{
    content_length, push_hex, BodyState, ConnectionOptions, HeadScratch, TransferCodings,
};
use apigw_plugins::headers::Headers;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{Method, StatusCode, Version};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Most headers a backend response may carry (as hyper's default).
const MAX_HEADERS: usize = 100;
/// Largest response head (status line and headers) read from a backend.
pub(crate) const MAX_HEAD_BYTES: usize = 256 * 1024;
/// Free room the read buffer is given before each read.
const READ_ROOM: usize = 16 * 1024;
/// Bodies up to this size are copied behind the head and sent in the same write.
const COALESCE_BYTES: usize = 16 * 1024;

/// A backend connection's transport.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => crate::sock::poll_send(s, cx, b),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, b),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// The connection ended (or failed) before a byte of the response came back: on a
    /// connection taken from the pool, the backend may have closed it while it was idle.
    Closed,
    /// The backend broke the protocol or the connection failed mid-response.
    Backend(String),
    /// The client's body went over the limit.
    BodyTooLarge,
    /// The client's body could not be read.
    BadBody,
}

/// How a request body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReqFraming {
    /// No body and no `Content-Length`.
    None,
    Length(u64),
    Chunked,
}

/// Writes a request head: `target` is the origin-form path and query; `gateway` writes the
/// headers the gateway sets and tells which of the request's own headers they replace.
/// Hop-by-hop headers are left out (RFC 9110 §7.6.1), and the request's `Content-Length` is
/// replaced by `framing`'s. (The headers a client's `Connection` names are gone already: the
/// server removes them as it reads the request, before anything is added under those names.)
pub(crate) fn encode_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &Headers,
    gateway: &GatewayHeaders<'_>,
    framing: ReqFraming,
    upgrade: Option<&HeaderValue>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        let n = name.as_str();
        if !gateway.leaves_out(n) {
            crate::upstream::push_line(out, n.as_bytes(), value.as_bytes());
        }
    }
    gateway.write(out);
    if let Some(protocol) = upgrade {
        out.extend_from_slice(b"connection: upgrade\r\nupgrade: ");
        out.extend_from_slice(protocol.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        ReqFraming::None => {}
        ReqFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        ReqFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Headers the response phase may add to a backend's response read into the list (see
/// [`read_lines`]): the X-RateLimit-* three, the CORS headers and a few set_resp_headers rules
/// fit without the list reallocating (more rules may grow it once). 72 bytes an entry: a head
/// of eight lines with this room takes 1 152 bytes.
const RESPONSE_PHASE_ROOM: usize = 8;

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body: a response to HEAD, 1xx, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Until the backend closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: Headers,
    /// The lines passed as received (with `pass`: see [`parse_response`]).
    pub passed: Option<Box<Passed>>,
    pub body: BodyKind,
    /// The connection can carry another exchange after this body.
    pub reusable: bool,
}

/// A connection to a backend, with its read buffer.
pub(crate) struct Conn {
    io: Stream,
    buf: BytesMut,
    /// Scratch for header names and value positions while a head is parsed.
    scratch: HeadScratch,
    /// When its last request was sent: its idle time in the pool counts from then.
    pub idle_since: Instant,
    /// The timer of the exchange in progress, kept from one exchange to the next.
    pub deadline: Option<crate::deadline::Deadline>,
    /// The request in flight asks to switch protocols (WebSocket): a 101 is its answer.
    pub upgrading: bool,
    /// No bound plug-in touches every response header: the response's lines may be passed as
    /// received (and read into the list before the response phase if it touches one of them).
    pub passing: bool,
    /// The buffer its last request head was written in, kept for the next.
    pub request: Vec<u8>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("tls", &matches!(self.io, Stream::Tls(_)))
            .field("buffered", &self.buf.len())
            .field("idle_since", &self.idle_since)
            .finish()
    }
}

impl Conn {
    pub(crate) fn new(io: Stream) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_ROOM),
            scratch: HeadScratch::default(),
            idle_since: Instant::now(),
            deadline: None,
            upgrading: false,
            passing: false,
            request: Vec::new(),
        }
    }

    /// The transport and what was read from it beyond the last response head: after a 101,
    /// the other protocol's first bytes.
    pub(crate) fn into_parts(self) -> (Stream, BytesMut) {
        (self.io, self.buf)
    }

    /// Whether an idle connection can take a request: nothing unread, not closed by the
    /// backend. Reads at most once, without waiting. A plain connection is asked without
    /// registering for a wake-up (the exchange that follows registers anyway): nothing to read
    /// is what tokio's readiness already says for a usable one, with no system call.
    pub(crate) fn poll_usable(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        match &self.io {
            Stream::Plain(tcp) => matches!(
                tcp.try_read(&mut [0u8; 1]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            ),
            Stream::Tls(_) => self.poll_fill(cx).is_pending(),
        }
    }

    /// Reads what is there into the buffer: `Ok(0)` at the end of the connection.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_ROOM / 4 {
            self.buf.reserve(READ_ROOM);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Sends a request (`head` from [`encode_head`], then the body) and reads the response
    /// head; the response body is left to [`Conn::poll_body`].
    pub(crate) async fn exchange<B>(
        &mut self,
        head: &[u8],
        body: &mut Outgoing<B>,
        head_request: bool,
    ) -> Result<Head, ExchangeError>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let written = self.write_request(head, body).await;
        match written {
            Ok(()) => {}
            Err(Write::Client(e)) => return Err(e),
            // A backend may answer before it has read the whole body and close: read what it
            // said before calling it a failure.
            Err(Write::Io) => {
                return match self.read_head(head_request).await {
                    Ok(mut h) => {
                        h.reusable = false;
                        Ok(h)
                    }
                    Err(_) => Err(ExchangeError::Closed),
                }
            }
        }
        self.read_head(head_request).await
    }

    async fn write_request<B>(&mut self, head: &[u8], body: &mut Outgoing<B>) -> Result<(), Write>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let io = &mut self.io;
        match body {
            Outgoing::Bytes(b) if b.is_empty() => {
                io.write_all(head).await.map_err(|_| Write::Io)?;
            }
            Outgoing::Bytes(b) if b.len() <= COALESCE_BYTES => {
                let mut all = Vec::with_capacity(head.len() + b.len());
                all.extend_from_slice(head);
                all.extend_from_slice(b);
                io.write_all(&all).await.map_err(|_| Write::Io)?;
            }
            Outgoing::Bytes(b) => {
                io.write_all(head).await.map_err(|_| Write::Io)?;
                io.write_all(b).await.map_err(|_| Write::Io)?;
            }
            Outgoing::Stream(body, chunked) => {
                io.write_all(head).await.map_err(|_| Write::Io)?;
                let mut framed = Vec::new();
                while let Some(frame) =
                    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
                {
                    let frame = frame.map_err(|e| Write::Client(client_body_error(e.into())))?;
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers are not forwarded
                    };
                    if data.is_empty() {
                        continue;
                    }
                    if *chunked {
                        framed.clear();
                        push_hex(&mut framed, data.len());
                        framed.extend_from_slice(b"\r\n");
                        framed.extend_from_slice(&data);
                        framed.extend_from_slice(b"\r\n");
                        io.write_all(&framed).await.map_err(|_| Write::Io)?;
                    } else {
                        io.write_all(&data).await.map_err(|_| Write::Io)?;
                    }
                }
                if *chunked {
                    io.write_all(b"0\r\n\r\n").await.map_err(|_| Write::Io)?;
                }
            }
        }
        io.flush().await.map_err(|_| Write::Io)
    }

    /// Writes `bytes` (whole requests, one after the other: pipelined) and flushes.
    pub(crate) async fn send_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Reads up to a complete final response head (1xx heads are skipped).
    pub(crate) async fn read_head(&mut self, head_request: bool) -> Result<Head, ExchangeError> {
        let mut got_bytes = !self.buf.is_empty();
        loop {
            if !self.buf.is_empty() {
                let (buf, scratch) = (&mut self.buf, &mut self.scratch);
                if let Some(h) =
                    parse_response(buf, scratch, head_request, self.upgrading, self.passing)?
                {
                    return Ok(h);
                }
            }
            let n = std::future::poll_fn(|cx| self.poll_fill(cx))
                .await
                .map_err(|e| {
                    if got_bytes {
                        ExchangeError::Backend(e.to_string())
                    } else {
                        ExchangeError::Closed
                    }
                })?;
            if n == 0 {
                return Err(if got_bytes {
                    ExchangeError::Backend("connection closed inside the response head".into())
                } else {
                    ExchangeError::Closed
                });
            }
            got_bytes = true;
        }
    }

    /// The next piece of a response body: `Ready(None)` at its end. `state` is the body's
    /// framing and position, kept by the caller.
    pub(crate) fn poll_body(
        &mut self,
        cx: &mut Context<'_>,
        state: &mut BodyState,
    ) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            match state.next(&mut self.buf) {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(Some(data)) => return Poll::Ready(Some(Ok(data))),
                Ok(None) if state.is_done() => return Poll::Ready(None),
                Ok(None) => {}
            }
            let n = match ready!(self.poll_fill(cx)) {
                Ok(n) => n,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            if n == 0 {
                if matches!(state, BodyState::Close) {
                    *state = BodyState::Done;
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the backend closed the connection inside the response body",
                ))));
            }
        }
    }

    /// Nothing is left unread: the connection can go back to the pool.
    pub(crate) fn is_clean(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Parses a final response head at the start of `buf` and takes it off (1xx heads are skipped);
/// `None` when more bytes are needed. `scratch` is scratch space. A 101 answers the request
/// when it asked to switch protocols (`upgrading`). With `pass`, the header lines nothing reads
/// stay as received ([`Passed`]; the head is read into the list where they cannot: see
/// [`passing`]). One function for all cases, not an instance each: httparse's parser then has
/// a single caller and is inlined into it.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    scratch: &mut HeadScratch,
    head_request: bool,
    upgrading: bool,
    pass: bool,
) -> Result<Option<Head>, ExchangeError> {
    loop {
        // Slots httparse fills as it reads, not zeroed first (100 of them: 3 200 bytes a head).
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let config = httparse::ParserConfig::default();
        let len = match config.parse_response_with_uninit_headers(&mut resp, buf, &mut slots) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                return Err(ExchangeError::Backend("response head too large".into()))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(ExchangeError::Backend(format!("bad response head: {e}"))),
        };
        let code = resp.code.unwrap_or(0);
        let version = if resp.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        // Only the interim heads test for a switch: a final answer pays one comparison.
        let mut switched = false;
        if (100..200).contains(&code) {
            match (code, upgrading) {
                (101, true) => switched = true,
                (101, false) => {
                    return Err(ExchangeError::Backend("unrequested protocol switch".into()))
                }
                _ => {
                    buf.advance(len);
                    continue;
                }
            }
        }
        let status = StatusCode::from_u16(code)
            .map_err(|_| ExchangeError::Backend(format!("bad status {code}")))?;
        // A head without a body whose length it keeps (HEAD, 304) and a switch are rare: read
        // into the list.
        let passing = (pass && !switched && !head_request && status != StatusCode::NOT_MODIFIED)
            .then(|| passing(resp.headers, buf, len))
            .flatten();
        let (mut headers, hop, mut passed) = match passing {
            Some(Passing {
                runs,
                hop,
                length,
                date,
                names,
            }) => {
                let head = buf.split_to(len).freeze();
                let passed = Passed::new(head, runs, length, date, names);
                (Headers::new(), hop, Some(Box::new(passed)))
            }
            None => {
                let base = buf.as_ptr() as usize;
                scratch.start();
                for h in resp.headers.iter() {
                    let name = scratch.name(h.name.as_bytes()).map_err(|_| {
                        ExchangeError::Backend(format!("bad header name {:?}", h.name))
                    })?;
                    let start = h.value.as_ptr() as usize - base;
                    scratch.names.push((name, start, start + h.value.len()));
                }
                let head = buf.split_to(len).freeze();
                let (headers, hop) = read_lines(&head, scratch)?;
                (headers, hop, None)
            }
        };
        if hop.connection.too_many() {
            return Err(ExchangeError::Backend("too many Connection options".into()));
        }
        if !hop.connection.named.is_empty() {
            headers.retain(|n, _| !hop.connection.named.contains(n));
        }
        let (body, reusable) = if switched {
            // The connection now speaks the other protocol: it is the caller's, never pooled.
            (BodyKind::Empty, false)
        } else {
            body_kind(
                status,
                version,
                head_request,
                &hop,
                &mut headers,
                passed.as_ref().and_then(|p| p.length()),
            )?
        };
        if let Some(p) = passed.as_mut().filter(|_| hop.transfer_encoding) {
            p.drop_length(); // the chunks frame the body; the length goes with it
        }
        return Ok(Some(Head {
            status,
            headers,
            passed,
            body,
            reusable,
        }));
    }
}

/// A response head's lines as [`passing`] finds them.
struct Passing {
    /// The lines kept, in a few runs.
    runs: Runs,
    /// What the hop-by-hop lines say.
    hop: Hop,
    /// The one `Content-Length`'s value, set aside.
    length: Option<(usize, usize)>,
    /// A `Date` is among the lines kept.
    date: bool,
    /// What the kept lines' names are like.
    names: NameBits,
}

/// A response head's header lines, passed as received where they can be. `None` where the
/// head is read into the list instead: it is longer than [`PASSED_HEAD_BYTES`], its
/// `Connection` names other headers (they go), it has more than one `Content-Length`, a line
/// kept does not end in CRLF, or the kept lines are in too many runs.
fn passing(lines: &[httparse::Header<'_>], buf: &[u8], len: usize) -> Option<Passing> {
    if len > PASSED_HEAD_BYTES {
        return None;
    }
    let base = buf.as_ptr() as usize;
    let mut runs = Runs::default();
    let mut hop = Hop::default();
    let (mut length, mut date, mut names) = (None, false, NameBits::default());
    for (i, h) in lines.iter().enumerate() {
        match role(h.name.as_bytes()) {
            Role::Connection => hop.connection.add(h.value),
            Role::TransferEncoding => hop.transfer_encoding(h.value),
            Role::Hop | Role::RequestId => {}
            Role::ContentLength if length.is_some() => return None,
            Role::ContentLength => {
                let at = h.value.as_ptr() as usize - base;
                length = Some((at, at + h.value.len()));
                hop.length = true;
            }
            role => {
                date |= role == Role::Date;
                names.push(h.name.as_bytes());
                // A line runs to the next one's name, or to the blank line that ends the head.
                let start = h.name.as_ptr() as usize - base;
                let end = lines
                    .get(i + 1)
                    .map_or(len - 2, |n| n.name.as_ptr() as usize - base);
                if !buf[..end].ends_with(b"\r\n") || !runs.push(start, end) {
                    return None;
                }
            }
        }
    }
    hop.connection.named.is_empty().then_some(Passing {
        runs,
        hop,
        length,
        date,
        names,
    })
}

/// The header lines of `head` (their names and value positions in `scratch`) read into the
/// list, but for the hop-by-hop ones and the backend's `X-Request-Id`; with what the hop-by-hop
/// lines say.
fn read_lines(head: &Bytes, scratch: &mut HeadScratch) -> Result<(Headers, Hop), ExchangeError> {
    // Room for what the response phase adds (X-RateLimit-*, CORS, set_resp_headers): a list
    // sized to the backend's headers alone would reallocate.
    let mut headers = Headers::with_capacity(scratch.names.len() + RESPONSE_PHASE_ROOM);
    let mut hop = Hop::default();
    for (name, start, end) in scratch.names.drain(..) {
        match role(name.as_str().as_bytes()) {
            // Hop-by-hop headers are read here and not passed on (RFC 9110 §7.6.1).
            Role::Connection => hop.connection.add(&head[start..end]),
            Role::TransferEncoding => hop.transfer_encoding(&head[start..end]),
            Role::Hop | Role::RequestId => {}
            role => {
                let value = HeaderValue::from_maybe_shared(head.slice(start..end))
                    .map_err(|_| ExchangeError::Backend(format!("bad value of {name}")))?;
                hop.length |= role == Role::ContentLength;
                headers.append(name, value);
            }
        }
    }
    Ok((headers, hop))
}

/// What a request sends after its head.
#[derive(Debug)]
pub(crate) enum Outgoing<B> {
    /// Bytes at hand (empty: no body): can be sent again.
    Bytes(Bytes),
    /// A stream (the client's), framed by its length (`false`) or by chunks (`true`).
    Stream(B, bool),
}

/// Why writing a request stopped.
enum Write {
    /// The connection failed.
    Io,
    /// The client's body failed.
    Client(ExchangeError),
}

fn client_body_error(e: Box<dyn std::error::Error + Send + Sync>) -> ExchangeError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&*e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return ExchangeError::BodyTooLarge;
        }
        source = s.source();
    }
    ExchangeError::BadBody
}

/// What a response's hop-by-hop headers say.
#[derive(Debug, Default)]
struct Hop {
    /// What `Connection` says; the other headers it names are hop-by-hop too.
    connection: ConnectionOptions,
    /// A `Transfer-Encoding` was sent.
    transfer_encoding: bool,
    /// The transfer codings, over every `Transfer-Encoding` line.
    codings: TransferCodings,
    /// A `Content-Length` was sent (not hop-by-hop; noted so that it is looked up only then).
    length: bool,
}

impl Hop {
    fn transfer_encoding(&mut self, value: &[u8]) {
        self.transfer_encoding = true;
        self.codings.add(value);
    }
}

/// The response body's framing and whether the connection outlives it (RFC 9112 §6.3, §9.3).
fn body_kind(
    status: StatusCode,
    version: Version,
    head_request: bool,
    hop: &Hop,
    headers: &mut Headers,
    length_aside: Option<&[u8]>,
) -> Result<(BodyKind, bool), ExchangeError> {
    let mut reusable = if version == Version::HTTP_11 {
        !hop.connection.close
    } else {
        hop.connection.keep_alive
    };
    if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok((BodyKind::Empty, reusable));
    }
    if hop.transfer_encoding {
        // A length beside the chunks is the smuggling shape: the chunks decide and the
        // connection is not trusted with another exchange.
        if headers.remove(CONTENT_LENGTH).is_some() || length_aside.is_some() {
            reusable = false;
        }
        // Only `chunked` is undone here; a body in another coding (gzip, …) would reach the
        // client decoded of its chunks but still gzip, with nothing saying so (RFC 9112 §6.1).
        if !hop.codings.only_chunked() {
            return Err(ExchangeError::Backend(
                "a transfer coding other than chunked".into(),
            ));
        }
        return Ok((BodyKind::Chunked, reusable));
    }
    let length = match hop.length {
        true => content_length(
            headers
                .get_all(CONTENT_LENGTH)
                .map(HeaderValue::as_bytes)
                .chain(length_aside),
        )
        .map_err(|()| ExchangeError::Backend("bad or conflicting content-length".into()))?,
        false => None,
    };
    Ok(match length {
        Some(0) => (BodyKind::Empty, reusable),
        Some(n) => (BodyKind::Length(n), reusable),
        None => (BodyKind::Close, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderName;

    /// Parses a response head with these headers; its framing and reuse, and the headers kept.
    /// Read both ways, into the list and passed as received (then unpacked): the two agree.
    fn parsed(
        status: u16,
        head: bool,
        pairs: &[(&str, &str)],
    ) -> Result<(BodyKind, bool, Headers), ExchangeError> {
        let mut raw = format!("HTTP/1.1 {status} X\r\n");
        for (k, v) in pairs {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let listed = read(raw.as_bytes(), head, false);
        let passed = read(raw.as_bytes(), head, true);
        assert_eq!(
            format!("{:?}", listed.as_ref().map(sorted)),
            format!("{:?}", passed.as_ref().map(sorted)),
            "passed then unpacked, a head reads as it does into the list: {raw:?}"
        );
        listed
    }

    /// `raw` parsed with `pass`, the passed lines unpacked into the list.
    fn read(
        raw: &[u8],
        head: bool,
        pass: bool,
    ) -> Result<(BodyKind, bool, Headers), ExchangeError> {
        let mut buf = BytesMut::from(raw);
        let h = parse_response(&mut buf, &mut HeadScratch::default(), head, false, pass)?
            .expect("a whole head");
        let mut answer = crate::answer::Answer::new(h.status, ());
        (answer.headers, answer.passed) = (h.headers, h.passed);
        answer.unpack();
        Ok((h.body, h.reusable, answer.headers))
    }

    /// The framing, and the headers by name (a name's values in order).
    fn sorted(
        (kind, reusable, h): &(BodyKind, bool, Headers),
    ) -> (BodyKind, bool, Vec<(String, String)>) {
        let mut list: Vec<_> = h
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        (*kind, *reusable, list)
    }

    /// `raw` read with `pass`: the lines passed as written, and the list.
    fn passed(raw: &str, head: bool) -> (String, Headers) {
        let mut buf = BytesMut::from(raw.as_bytes());
        let h = parse_response(&mut buf, &mut HeadScratch::default(), head, false, true)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        if let Some(p) = h.passed {
            p.write(&mut out);
        }
        (String::from_utf8(out).unwrap(), h.headers)
    }

    #[test]
    fn a_head_nothing_reads_is_passed_as_received_without_hop_by_hop_lines_or_the_framing() {
        let raw =
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 16:00:00 GMT\r\n\
                   Content-Type: text/plain\r\nContent-Length: 23\r\nConnection: keep-alive\r\n\
                   X-Request-Id: theirs\r\nSet-Cookie: a=1\r\nSet-Cookie:  b=2 \r\n\r\n";
        let (lines, list) = passed(raw, false);
        assert_eq!(
            lines,
            "Server: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 16:00:00 GMT\r\n\
             Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie:  b=2 \r\n"
        );
        assert!(list.is_empty(), "nothing read into the list: {list:?}");
        let (_, _, unpacked) = read(raw.as_bytes(), false, true).unwrap();
        let cookies: Vec<_> = unpacked.get_all("set-cookie").collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(unpacked["content-length"], "23");
        assert!(unpacked.get("x-request-id").is_none() && unpacked.get("connection").is_none());
    }

    #[test]
    fn a_passed_head_is_unpacked_only_when_it_has_a_header_the_response_phase_touches() {
        use apigw_plugins::headers::Touched;
        let raw = "HTTP/1.1 200 OK\r\nServer: s\r\nX-RateLimit-Limit: 9\r\nVary: A\r\n\
                   Access-Control-Allow-Origin: *\r\nContent-Length: 2\r\n\r\n";
        let answer_of = |touched: &Touched| {
            let mut buf = BytesMut::from(raw.as_bytes());
            let h = parse_response(&mut buf, &mut HeadScratch::default(), false, false, true)
                .unwrap()
                .unwrap();
            let mut answer = crate::answer::Answer::new(h.status, ());
            answer.passed = h.passed;
            answer.unpack_touched(touched);
            answer
        };
        let names =
            |n: &[&'static str]| Touched::names(n.iter().map(|n| HeaderName::from_static(n)));
        let prefixed = |p: &'static str| Touched::Named {
            names: Vec::new(),
            prefixes: vec![p],
        };
        // Names no line has (one only starts like one, one is as long as one, one is longer
        // than any), prefixes no name goes on after: still passed.
        for touched in [
            Touched::none(),
            names(&[
                "x-ratelimit",
                "x-ratelimit-reset",
                "x-a-name-longer-than-any-line-has",
            ]),
            prefixed("access-control-allow-origin"),
            prefixed("x-ratelimit-limits"),
        ] {
            let kept = answer_of(&touched);
            assert!(
                kept.passed.is_some() && kept.headers.is_empty(),
                "{touched:?}"
            );
        }
        // A name a line has (in another case), the length kept aside, a prefix of a name, all:
        // every header in the list, in order, where the phase sees and changes them.
        for touched in [
            names(&["x-ratelimit-limit"]),
            names(&["content-length"]),
            prefixed("access-control-"),
            Touched::All,
        ] {
            let mut unpacked = answer_of(&touched);
            assert!(unpacked.passed.is_none(), "{touched:?}");
            unpacked.headers.insert(
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderValue::from_static("10"),
            );
            let list: Vec<_> = unpacked
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
                .collect();
            assert_eq!(
                list,
                [
                    "server: s",
                    "x-ratelimit-limit: 10",
                    "vary: A",
                    "access-control-allow-origin: *",
                    "content-length: 2"
                ]
            );
        }
    }

    #[test]
    fn heads_that_cannot_be_passed_as_received_are_read_into_the_list() {
        let cases = [
            // `Connection` names a header that must go.
            (
                "HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            // Two lengths (a list of one value is read as one).
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            // A line kept that ends in a bare LF: written as CRLF, not as received.
            (
                "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0\r\n\r\n",
                false,
            ),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: 1\n\n", false),
            // More runs of kept lines than a head keeps.
            (
                "HTTP/1.1 200 OK\r\nA: 1\r\nTE: x\r\nB: 1\r\nTE: x\r\nC: 1\r\nTE: x\r\nD: 1\r\n\
              TE: x\r\nE: 1\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            // Framing the client gets as the backend sent it: HEAD, 304.
            (
                "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 5\r\n\r\n",
                true,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nX-A: 1\r\nContent-Length: 5\r\n\r\n",
                false,
            ),
        ];
        let long = format!(
            "HTTP/1.1 200 OK\r\nX-A: {}\r\nContent-Length: 0\r\n\r\n",
            "a".repeat(PASSED_HEAD_BYTES)
        );
        for (raw, head) in cases.into_iter().chain([(long.as_str(), false)]) {
            let (lines, list) = passed(raw, head);
            assert_eq!((lines.as_str(), list.is_empty()), ("", false), "{raw:?}");
            let listed = read(raw.as_bytes(), head, false).map(|r| sorted(&r));
            let passed = read(raw.as_bytes(), head, true).map(|r| sorted(&r));
            assert_eq!(format!("{listed:?}"), format!("{passed:?}"), "{raw:?}");
        }
        // Four runs are kept.
        let raw = "HTTP/1.1 200 OK\r\nA: 1\r\nTE: x\r\nB: 1\r\nTE: x\r\nC: 1\r\nTE: x\r\nD: 1\r\n\
                   Content-Length: 0\r\n\r\n";
        assert_eq!(passed(raw, false).0, "A: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n");
    }

    #[test]
    fn a_chunked_body_drops_the_length_passed_or_listed() {
        let raw =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nX-A: 1\r\n\r\n";
        let (kind, reusable, h) = read(raw.as_bytes(), false, true).unwrap();
        assert_eq!((kind, reusable), (BodyKind::Chunked, false));
        assert!(h.get("content-length").is_none(), "{h:?}");
        assert_eq!(passed(raw, false).0, "X-A: 1\r\n");
    }

    fn kind(
        status: u16,
        head: bool,
        pairs: &[(&str, &str)],
    ) -> Result<(BodyKind, bool), ExchangeError> {
        parsed(status, head, pairs).map(|(k, r, _)| (k, r))
    }

    #[test]
    fn a_backend_connection_list_longer_than_any_peer_sends_is_a_backend_error() {
        let long = vec!["x-a"; crate::wire::MAX_CONNECTION_OPTIONS + 1].join(",");
        assert!(matches!(
            kind(
                200,
                false,
                &[("content-length", "0"), ("connection", &long)]
            ),
            Err(ExchangeError::Backend(_))
        ));
    }

    #[test]
    fn hop_by_hop_response_headers_and_those_connection_names_are_dropped() {
        let (_, reusable, h) = parsed(
            200,
            false,
            &[
                ("Connection", "keep-alive, X-Secret"),
                ("Keep-Alive", "timeout=5"),
                ("X-Secret", "1"),
                ("Upgrade", "h2c"),
                ("Proxy-Authenticate", "Basic"),
                ("Trailer", "x-t"),
                ("Content-Length", "0"),
                ("X-Kept", "1"),
            ],
        )
        .unwrap();
        assert!(reusable);
        let mut left: Vec<&str> = h.names().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-kept"]);
    }

    #[test]
    fn interim_heads_are_skipped_and_the_final_one_parsed() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"[..],
        );
        let h = parse_response(&mut buf, &mut HeadScratch::default(), false, false, false)
            .unwrap()
            .unwrap();
        assert_eq!((h.status.as_u16(), h.body), (201, BodyKind::Length(2)));
        assert_eq!(&buf[..], b"ok");
        let mut partial = BytesMut::from(&b"HTTP/1.1 200 OK\r\ncontent-le"[..]);
        assert!(parse_response(
            &mut partial,
            &mut HeadScratch::default(),
            false,
            false,
            false
        )
        .unwrap()
        .is_none());
        let mut switch = BytesMut::from(&b"HTTP/1.1 101 Switching Protocols\r\n\r\n"[..]);
        assert!(parse_response(
            &mut switch,
            &mut HeadScratch::default(),
            false,
            false,
            false
        )
        .is_err());
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        use BodyKind::*;
        assert_eq!(
            kind(200, false, &[("content-length", "5")]).unwrap(),
            (Length(5), true)
        );
        assert_eq!(
            kind(200, false, &[("content-length", "5, 5")]).unwrap(),
            (Length(5), true)
        );
        assert!(kind(200, false, &[("content-length", "5, 6")]).is_err());
        assert!(kind(200, false, &[("content-length", "-1")]).is_err());
        assert!(kind(200, false, &[("content-length", "+5")]).is_err());
        assert_eq!(
            kind(200, false, &[("transfer-encoding", "chunked")]).unwrap(),
            (Chunked, true)
        );
        assert_eq!(
            kind(
                200,
                false,
                &[("transfer-encoding", "chunked"), ("content-length", "3")]
            )
            .unwrap(),
            (Chunked, false),
            "chunks win over a length, and the connection is not reused"
        );
        // Only chunks are undone: a body in another transfer coding cannot be forwarded as it
        // is (the client would get gzip bytes with nothing saying so).
        for codings in [
            &["gzip"][..],
            &["gzip, chunked"],
            &["gzip", "chunked"],
            &["chunked, chunked"],
        ] {
            let headers: Vec<_> = codings.iter().map(|c| ("transfer-encoding", *c)).collect();
            assert!(kind(200, false, &headers).is_err(), "{codings:?}");
        }
        assert_eq!(kind(200, false, &[]).unwrap(), (Close, false));
        assert_eq!(
            kind(200, true, &[("content-length", "5")]).unwrap(),
            (Empty, true)
        );
        assert_eq!(kind(204, false, &[]).unwrap(), (Empty, true));
        assert_eq!(
            kind(
                200,
                false,
                &[("content-length", "5"), ("connection", "content-length")]
            )
            .unwrap(),
            (Length(5), true),
            "a Connection option does not take the body's length away"
        );
        assert_eq!(
            kind(304, false, &[("content-length", "5")]).unwrap(),
            (Empty, true)
        );
        assert_eq!(
            kind(
                200,
                false,
                &[("content-length", "5"), ("connection", "Close")]
            )
            .unwrap(),
            (Length(5), false)
        );
        let mut h = Headers::new();
        let hop = Hop::default();
        assert_eq!(
            body_kind(StatusCode::OK, Version::HTTP_10, false, &hop, &mut h, None).unwrap(),
            (Close, false)
        );
    }

    #[test]
    fn the_request_head_carries_our_framing_and_forwarding_not_the_clients() {
        let mut h = Headers::new();
        for (k, v) in [
            ("host", "client.example"),
            ("content-length", "999"),
            ("x-request-id", "from-the-client"),
            ("x-two", "1"),
            ("x-two", "2"),
            ("x-forwarded-for", "10.0.0.1"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let mut out = Vec::new();
        let backend_host = HeaderValue::from_static("b:80");
        let gateway = GatewayHeaders::Forwarding {
            host: &backend_host,
            client: &h,
            client_ip: [192, 0, 2, 7].into(),
            request_id: "ours",
            signature: &[],
        };
        encode_head(
            &mut out,
            &Method::POST,
            "/p?q=1",
            &h,
            &gateway,
            ReqFraming::Length(3),
            None,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nx-two: 1\r\nx-two: 2\r\nhost: b:80\r\n\
             x-forwarded-host: client.example\r\nx-forwarded-proto: http\r\n\
             x-request-id: ours\r\nx-forwarded-for: 10.0.0.1, 192.0.2.7\r\n\
             content-length: 3\r\n\r\n"
        );
        let mut out = Vec::new();
        encode_head(
            &mut out,
            &Method::PUT,
            "/",
            &Headers::new(),
            &GatewayHeaders::Host(&HeaderValue::from_static("auth:9")),
            ReqFraming::Chunked,
            None,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PUT / HTTP/1.1\r\nhost: auth:9\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }
}
