//! HTTP/1.1 message framing shared by both sides of the gateway (RFC 9112 §6, §7): bodies by
//! length or by chunks, `Content-Length` and token lists.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderName, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use std::io;

/// Largest trailer section of a chunked body (trailers are read and dropped).
const MAX_TRAILER_BYTES: usize = 64 * 1024;
/// Longest chunk-size line (digits and extensions).
const MAX_CHUNK_LINE: usize = 4096;

/// Header names a connection's cache keeps (a peer repeats the same few on every message).
const NAMES_SEEN: usize = 16;

/// What a connection keeps for parsing heads: the names and value positions of the head being
/// parsed, and the header names it has already seen, by their bytes as sent. A peer sends the
/// same headers on every message; a name found here costs a comparison, where
/// `HeaderName::from_bytes` lowercases and looks it up again (and allocates a custom one).
#[derive(Debug, Default)]
pub(crate) struct HeadScratch {
    pub(crate) names: Vec<(HeaderName, usize, usize)>,
    seen: Vec<(Box<[u8]>, HeaderName)>,
    /// Where in `seen` the next name of this head is looked for first: the entry after the
    /// last one found. Names are kept in the order first sent, and a peer sends its headers in
    /// the same order on every message, so the guess is one comparison and it is mostly right.
    next: usize,
}

impl HeadScratch {
    /// Clears what the last head left, before the names of a new head are asked for in order.
    pub(crate) fn start(&mut self) {
        self.names.clear();
        self.next = 0;
    }

    /// The header name spelled `raw`.
    pub(crate) fn name(
        &mut self,
        raw: &[u8],
    ) -> Result<HeaderName, http::header::InvalidHeaderName> {
        if let Some((r, name)) = self.seen.get(self.next) {
            if **r == *raw {
                self.next += 1;
                return Ok(name.clone());
            }
        }
        if let Some(i) = self.seen.iter().position(|(r, _)| **r == *raw) {
            self.next = i + 1;
            return Ok(self.seen[i].1.clone());
        }
        let name = HeaderName::from_bytes(raw)?;
        if self.seen.len() < NAMES_SEEN {
            self.seen.push((raw.into(), name.clone()));
            self.next = self.seen.len();
        }
        Ok(name)
    }
}

/// Most tokens a message's `Connection` lines may hold: each named header is looked for in the
/// message, and real peers send one to three (`close`, `keep-alive, Upgrade`). More is refused
/// rather than read: a 256 KiB list would cost a scan of the headers per name.
pub(crate) const MAX_CONNECTION_OPTIONS: usize = 32;

/// What a message's `Connection` lines say (RFC 9110 §7.6.1): `close`, `keep-alive`, and the
/// other headers they name, which belong to this connection alone. A message's framing
/// (`Content-Length`, `Transfer-Encoding`) and `Host` are never such an option: naming them
/// does not take them away (that would unframe the body).
#[derive(Debug, Default)]
pub(crate) struct ConnectionOptions {
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
    /// The headers named, each once.
    pub(crate) named: Vec<HeaderName>,
    tokens: usize,
}

impl ConnectionOptions {
    /// One `Connection` line's tokens.
    pub(crate) fn add(&mut self, value: &[u8]) {
        // Most lines are the one token `keep-alive` or `close`: decided without the split.
        let alone = if value.eq_ignore_ascii_case(b"keep-alive") {
            Some(&mut self.keep_alive)
        } else if value.eq_ignore_ascii_case(b"close") {
            Some(&mut self.close)
        } else {
            None
        };
        if let Some(flag) = alone {
            *flag = true;
            self.tokens += 1;
            return;
        }
        for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
            self.tokens += usize::from(!token.is_empty());
            if self.too_many() {
                return;
            }
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if let Ok(name) = HeaderName::from_bytes(token) {
                if name != CONTENT_LENGTH
                    && name != TRANSFER_ENCODING
                    && name != HOST
                    && !self.named.contains(&name)
                {
                    self.named.push(name);
                }
            }
        }
    }

    /// More tokens than [`MAX_CONNECTION_OPTIONS`]: the message is refused.
    pub(crate) fn too_many(&self) -> bool {
        self.tokens > MAX_CONNECTION_OPTIONS
    }
}

/// The message's `Content-Length`: `Ok(None)` when absent; an error when a value is not a
/// number or values differ (a list of equal values is one length, RFC 9110 §8.6).
pub(crate) fn content_length<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<u64>, ()> {
    let mut length = None;
    let mut agree = |n: u64| match length {
        Some(l) if l != n => Err(()),
        _ => {
            length = Some(n);
            Ok(())
        }
    };
    for v in values {
        // Most values are digits alone: read without the split and the trim.
        if let Some(n) = digits(v) {
            agree(n)?;
            continue;
        }
        for part in v.split(|b| *b == b',') {
            agree(digits(part.trim_ascii()).ok_or(())?)?;
        }
    }
    Ok(length)
}

/// `bytes` as a number when they are 1 to 19 ASCII digits (no `u64` overflows at 19).
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// The transfer codings of a message, over all its `Transfer-Encoding` lines (RFC 9112 §6.1).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TransferCodings {
    count: u32,
    chunked: u32,
    last_chunked: bool,
}

impl TransferCodings {
    /// One `Transfer-Encoding` line's codings, in order.
    pub(crate) fn add(&mut self, value: &[u8]) {
        let tokens = value.split(|b| *b == b',').map(<[u8]>::trim_ascii);
        for t in tokens.filter(|t| !t.is_empty()) {
            self.count += 1;
            self.last_chunked = t.eq_ignore_ascii_case(b"chunked");
            self.chunked += u32::from(self.last_chunked);
        }
    }

    /// Framed by chunks and nothing else: `chunked`, once, alone.
    pub(crate) fn only_chunked(&self) -> bool {
        self.count == 1 && self.last_chunked
    }

    /// The body's end cannot be told: `chunked` is not the last coding (or there is none), or
    /// it is applied twice.
    pub(crate) fn malformed(&self) -> bool {
        !self.last_chunked || self.chunked > 1
    }
}

/// `n` in hexadecimal (a chunk-size line's number).
pub(crate) fn push_hex(out: &mut Vec<u8>, n: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    let mut n = n;
    loop {
        i -= 1;
        tmp[i] = DIGITS[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Where a message body is: its framing and what is left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyState {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// Before a chunk-size line.
    ChunkSize,
    /// Bytes left of the current chunk.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk; the bytes read of them so far.
    Trailers(usize),
    /// Until the connection ends.
    Close,
    Done,
}

impl BodyState {
    pub(crate) fn new(kind: crate::upstream::h1::BodyKind) -> Self {
        use crate::upstream::h1::BodyKind;
        match kind {
            BodyKind::Empty | BodyKind::Length(0) => BodyState::Done,
            BodyKind::Length(n) => BodyState::Length(n),
            BodyKind::Chunked => BodyState::ChunkSize,
            BodyKind::Close => BodyState::Close,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        *self == BodyState::Done
    }

    /// Bytes left, when known.
    pub(crate) fn remaining(&self) -> Option<u64> {
        match self {
            BodyState::Length(n) => Some(*n),
            BodyState::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the next data from `buf`, stepping over framing; after data, steps over the
    /// framing that follows it when it is already there, so that the end of a body is seen
    /// with its last data. `Ok(None)`: done, or more bytes are needed.
    pub(crate) fn next(&mut self, buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
        let mut data = None;
        loop {
            match *self {
                BodyState::Done => return Ok(data),
                BodyState::Length(n) => {
                    if data.is_some() || buf.is_empty() {
                        return Ok(data);
                    }
                    let take = (buf.len() as u64).min(n) as usize;
                    data = Some(buf.split_to(take).freeze());
                    *self = if n == take as u64 {
                        BodyState::Done
                    } else {
                        BodyState::Length(n - take as u64)
                    };
                }
                BodyState::Close => {
                    if buf.is_empty() {
                        return Ok(data);
                    }
                    return Ok(Some(buf.split().freeze()));
                }
                BodyState::ChunkSize => match chunk_size_line(buf) {
                    Ok(Some((used, size))) => {
                        buf.advance(used);
                        *self = if size == 0 {
                            BodyState::Trailers(0)
                        } else {
                            BodyState::ChunkData(size)
                        };
                    }
                    Ok(None) if buf.len() > MAX_CHUNK_LINE => {
                        return fail(data, "chunk-size line too long")
                    }
                    Ok(None) => return Ok(data),
                    Err(what) => return fail(data, what),
                },
                BodyState::ChunkData(n) => {
                    if data.is_some() || buf.is_empty() {
                        return Ok(data);
                    }
                    let take = (buf.len() as u64).min(n) as usize;
                    data = Some(buf.split_to(take).freeze());
                    *self = if n == take as u64 {
                        BodyState::ChunkEnd
                    } else {
                        BodyState::ChunkData(n - take as u64)
                    };
                }
                BodyState::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(data);
                    }
                    if &buf[..2] != b"\r\n" {
                        return fail(data, "chunk data not followed by CRLF");
                    }
                    buf.advance(2);
                    *self = BodyState::ChunkSize;
                }
                BodyState::Trailers(seen) => {
                    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                        if seen + buf.len() > MAX_TRAILER_BYTES {
                            return fail(data, "trailers too large");
                        }
                        return Ok(data);
                    };
                    if seen + eol + 2 > MAX_TRAILER_BYTES {
                        return fail(data, "trailers too large");
                    }
                    buf.advance(eol + 2);
                    *self = if eol == 0 {
                        BodyState::Done
                    } else {
                        BodyState::Trailers(seen + eol + 2)
                    };
                }
            }
        }
    }
}

/// A chunk-size line (RFC 9112 §7.1): `Ok(Some((line length with its CRLF, size)))`, `Ok(None)`
/// while it is incomplete. Strict where peers differ, since a proxy that reads a line one way
/// and its neighbour another is how chunked bodies get smuggled: one to sixteen hex digits
/// (an empty size is not a last chunk), then only `;` extensions, and no control character
/// anywhere — a bare LF or a lone CR never ends (or hides inside) the line.
fn chunk_size_line(buf: &[u8]) -> Result<Option<(usize, u64)>, &'static str> {
    let mut eol = None;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'\r' if i + 1 == buf.len() => return Ok(None),
            b'\r' if buf[i + 1] == b'\n' => {
                eol = Some(i);
                break;
            }
            b'\t' => {}
            0..=0x1f | 0x7f => return Err("control character in a chunk-size line"),
            _ => {}
        }
    }
    let Some(eol) = eol else { return Ok(None) };
    let line = &buf[..eol];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err("bad chunk size");
    }
    let rest = line[digits..].trim_ascii_start();
    if !rest.is_empty() && rest[0] != b';' {
        return Err("bad chunk extension");
    }
    let size = line[..digits].iter().fold(0u64, |n, d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d - b'A' + 10,
        };
        (n << 4) | u64::from(v)
    });
    Ok(Some((eol + 2, size)))
}

/// Data taken before broken framing is handed out first; the framing is still there, so the
/// next call meets it and fails.
fn fail(data: Option<Bytes>, what: &str) -> io::Result<Option<Bytes>> {
    match data {
        Some(d) => Ok(Some(d)),
        None => Err(bad_chunk(what)),
    }
}

fn bad_chunk(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_options_are_named_once_and_capped() {
        let mut o = ConnectionOptions::default();
        o.add(b"close, X-A, x-a, content-length, host");
        o.add(b"keep-alive,,x-b");
        assert!(o.close && o.keep_alive && !o.too_many());
        assert_eq!(o.named, ["x-a", "x-b"]);
        let long = vec!["x-c"; MAX_CONNECTION_OPTIONS].join(",");
        o.add(long.as_bytes());
        assert!(o.too_many(), "a list longer than any peer sends is refused");
    }

    #[test]
    fn a_line_of_one_keep_alive_or_close_is_read_in_any_case_and_counted() {
        let mut o = ConnectionOptions::default();
        o.add(b"Keep-Alive");
        assert!(o.keep_alive && !o.close && o.named.is_empty());
        o.add(b"CLOSE");
        assert!(o.close);
        for _ in 2..MAX_CONNECTION_OPTIONS {
            o.add(b"keep-alive");
        }
        assert!(!o.too_many());
        o.add(b"close");
        assert!(o.too_many(), "lines of one token count toward the cap too");
    }

    #[test]
    fn chunk_size_lines_are_read_strictly() {
        assert_eq!(chunk_size_line(b"5\r\n"), Ok(Some((3, 5))));
        assert_eq!(chunk_size_line(b"0005\r\nab"), Ok(Some((6, 5))));
        assert_eq!(chunk_size_line(b"1F;a=b\r\n"), Ok(Some((8, 31))));
        assert_eq!(chunk_size_line(b"a ;x\t\r\n"), Ok(Some((7, 10))));
        assert_eq!(
            chunk_size_line(b"ffffffffffffffff\r\n").unwrap().unwrap().1,
            u64::MAX
        );
        assert_eq!(chunk_size_line(b"5"), Ok(None));
        assert_eq!(chunk_size_line(b"5;ext\r"), Ok(None));
        for bad in [
            &b"\r\n"[..], // no size is not the last chunk
            b";x\r\n",
            b"\t\r\n",
            b"5;a\nXX\r\n", // a bare LF inside an extension
            b"5\n",
            b"5;a\rb\r\n", // a lone CR
            b"5;\0\r\n",
            b"1ffffffffffffffff\r\n", // 17 digits
            b"5x\r\n",
            b"-5\r\n",
        ] {
            assert!(
                chunk_size_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn header_names_seen_before_come_from_the_cache_which_stays_bounded() {
        let mut s = HeadScratch::default();
        assert_eq!(s.name(b"Content-Type").unwrap(), http::header::CONTENT_TYPE);
        assert_eq!(s.name(b"Content-Type").unwrap(), http::header::CONTENT_TYPE);
        assert_eq!(s.name(b"content-TYPE").unwrap(), http::header::CONTENT_TYPE);
        assert_eq!(s.name(b"X-Own").unwrap().as_str(), "x-own");
        assert_eq!(s.seen.len(), 3, "one entry per spelling");
        assert!(s.name(b"bad name").is_err());
        for i in 0..100 {
            assert_eq!(
                s.name(format!("X-{i}").as_bytes()).unwrap().as_str(),
                format!("x-{i}")
            );
        }
        assert_eq!(s.seen.len(), NAMES_SEEN);
    }

    #[test]
    fn names_sent_in_another_order_or_new_ones_between_are_still_named_right() {
        let mut s = HeadScratch::default();
        // The fourth head has `Origin` where `Accept`, as long, was before.
        let heads: [&[&[u8]]; 5] = [
            &[b"Host", b"Accept", b"User-Agent"],
            &[b"Host", b"Accept", b"User-Agent"],
            &[b"User-Agent", b"X-New", b"Host", b"Accept"],
            &[b"Host", b"Origin", b"User-Agent"],
            &[b"Accept", b"Accept", b"Host", b"X-New", b"User-Agent"],
        ];
        for head in heads {
            s.start();
            for raw in head {
                let want = HeaderName::from_bytes(raw).unwrap();
                assert_eq!(
                    s.name(raw).unwrap(),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(raw)
                );
            }
        }
        assert_eq!(s.seen.len(), 5, "one entry per spelling");
    }
    use crate::upstream::h1::BodyKind;

    /// Feeds `wire` to a fresh state `step` bytes at a time; returns the body and the state.
    fn decode(kind: BodyKind, wire: &[u8], step: usize) -> (Vec<u8>, BodyState, usize) {
        let mut state = BodyState::new(kind);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(d) = state.next(&mut buf).expect("valid framing") {
                body.extend_from_slice(&d);
            }
        }
        (body, state, buf.len())
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_boundaries() {
        let wire =
            b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (body, state, left) = decode(BodyKind::Chunked, wire, step);
            assert_eq!(body, b"hello 0123456789", "step {step}");
            assert_eq!(state, BodyState::Done, "step {step}");
            assert_eq!(left, 4, "the next response's bytes stay in the buffer");
        }
    }

    #[test]
    fn the_end_of_a_body_is_seen_with_its_last_data() {
        let mut state = BodyState::new(BodyKind::Chunked);
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\n"[..]);
        assert_eq!(state.next(&mut buf).unwrap().as_deref(), Some(&b"abc"[..]));
        assert!(state.is_done());
        let mut state = BodyState::new(BodyKind::Length(3));
        let mut buf = BytesMut::from(&b"abcHTTP"[..]);
        assert_eq!(state.next(&mut buf).unwrap().as_deref(), Some(&b"abc"[..]));
        assert!(state.is_done());
        assert_eq!(&buf[..], b"HTTP");
    }

    #[test]
    fn data_before_broken_framing_is_handed_out_then_the_error() {
        let mut state = BodyState::new(BodyKind::Chunked);
        let mut buf = BytesMut::from(&b"3\r\nabcXY"[..]);
        assert_eq!(state.next(&mut buf).unwrap().as_deref(), Some(&b"abc"[..]));
        assert!(state.next(&mut buf).is_err());
        assert!(state.next(&mut buf).is_err(), "the error stays");
    }

    #[test]
    fn broken_chunk_framing_is_an_error() {
        for wire in [&b"zz\r\n"[..], b"3\r\nabcXY", b"3\r\nabc\r\n0\r\n"] {
            let mut state = BodyState::new(BodyKind::Chunked);
            let mut buf = BytesMut::from(wire);
            let mut failed = false;
            for _ in 0..8 {
                match state.next(&mut buf) {
                    Err(_) => {
                        failed = true;
                        break;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                }
            }
            // The last case is only incomplete (trailers not ended): it waits, it is not done.
            if wire.ends_with(b"0\r\n") {
                assert!(!failed && !state.is_done(), "{wire:?}");
            } else {
                assert!(failed, "{wire:?}");
            }
        }
        let mut state = BodyState::new(BodyKind::Chunked);
        let mut long = BytesMut::from(&[b'1'; MAX_CHUNK_LINE + 1][..]);
        assert!(state.next(&mut long).is_err(), "an endless chunk-size line");
    }

    #[test]
    fn content_lengths_must_be_digits_and_agree() {
        let h = |vals: &[&str]| content_length(vals.iter().map(|v| v.as_bytes()));
        assert_eq!(h(&[]), Ok(None));
        assert_eq!(h(&["5"]), Ok(Some(5)));
        assert_eq!(h(&["5, 5", "5"]), Ok(Some(5)));
        assert_eq!(h(&["7", " 7 "]), Ok(Some(7)));
        assert_eq!(
            h(&["1234567890123456789"]),
            Ok(Some(1_234_567_890_123_456_789))
        );
        for bad in [
            &["5", "6"][..],
            &["5", "5, 6"],
            &["5, 6"],
            &["-1"],
            &["+5"],
            &[""],
            &["5,"],
            &["99999999999999999999"],
        ] {
            assert_eq!(h(bad), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn hex_is_lowercase_without_leading_zeros() {
        for n in [0usize, 1, 15, 16, 255, 4096, 0xdead_beef] {
            let mut out = Vec::new();
            push_hex(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{n:x}"));
        }
    }
}
