//! A response as the gateway handles it, the backend's or its own: status, headers and body.
//! The headers are the plug-ins' list (`apigw_plugins::headers`), not an `http::HeaderMap`:
//! built, changed by the response phase and written once per call, a short list is cheaper.
//! A backend's header lines that nothing reads stay the bytes they came in ([`Passed`]).

use apigw_plugins::headers::{Headers, Touched};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use http::StatusCode;

/// A response on its way to the client. Small (at most 128 bytes with its body): it moves
/// from future to future, and a larger one is copied with a call to `memcpy` each time.
#[derive(Debug)]
pub struct Answer<B> {
    pub status: StatusCode,
    /// The headers the gateway reads and sets. A backend's own lines may still be in
    /// `passed`: [`Answer::unpack`] before reading them.
    pub headers: Headers,
    /// A backend's header lines as received, written before `headers`.
    pub passed: Option<Box<Passed>>,
    /// The call's `X-Request-Id` (empty: none), written after `headers`: every answer to a
    /// call carries it, and it is written from the call's own string, not made a header value.
    pub request_id: String,
    pub body: B,
}

impl<B> Answer<B> {
    /// `status` with `body` and no headers yet.
    pub fn new(status: StatusCode, body: B) -> Self {
        Self {
            status,
            headers: Headers::new(),
            passed: None,
            request_id: String::new(),
            body,
        }
    }

    /// The same answer with its body changed by `f`.
    pub fn map<C>(self, f: impl FnOnce(B) -> C) -> Answer<C> {
        Answer {
            status: self.status,
            headers: self.headers,
            passed: self.passed,
            request_id: self.request_id,
            body: f(self.body),
        }
    }

    /// Moves the passed lines into `headers`, ahead of what is there: every header of the
    /// answer can then be read and changed.
    pub fn unpack(&mut self) {
        let Some(passed) = self.passed.take() else {
            return;
        };
        // Room for a backend's dozen lines and what the response phase adds.
        let mut all = Headers::with_capacity(16 + self.headers.len());
        passed.unpack_into(&mut all);
        for (name, value) in std::mem::take(&mut self.headers) {
            all.append(name, value);
        }
        self.headers = all;
    }

    /// Before a response phase that reads or changes the headers `touched`: unpacks the passed
    /// lines when one of them is such a header, so that the phase sees every header it
    /// touches. Otherwise the lines stay passed, and what the phase sets or appends is written
    /// after them.
    pub fn unpack_touched(&mut self, touched: &Touched) {
        let Some(passed) = &self.passed else {
            return;
        };
        let touches = match touched {
            Touched::All => true,
            Touched::Named { names, prefixes } => passed.has_any(names, prefixes),
        };
        if touches {
            self.unpack();
        }
    }
}

/// The reason phrase `status` is written with: its canonical one, and for 494 (which has none)
/// nginx's and APIG's.
pub(crate) fn reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        494 => "Request Header Too Large",
        _ => status.canonical_reason().unwrap_or(""),
    }
}

/// Runs of passed lines a head keeps before it is read into the list instead.
const PASSED_RUNS: usize = 4;

/// The longest head whose lines are passed: offsets in it are `u16`s.
pub(crate) const PASSED_HEAD_BYTES: usize = u16::MAX as usize;

/// A backend's header lines that go to the client as they were received: runs of whole lines
/// (`Name: value\r\n`) of its head, each written with one copy. Hop-by-hop lines, the
/// backend's `X-Request-Id` (the gateway sets its own) and `Content-Length` (the gateway frames
/// the body itself) are not in them; the length's value is kept aside for [`Answer::unpack`].
/// Built only from a head httparse accepted, every line ending in CRLF (`upstream::h1`).
#[derive(Debug)]
pub struct Passed {
    head: Bytes,
    runs: Runs,
    /// The backend's `Content-Length` value, as a range of `head`.
    length: Option<(u16, u16)>,
    /// One of the lines is `Date`.
    pub(crate) date: bool,
    /// What the lines' names are like.
    names: NameBits,
}

/// What a head's passed lines' names are like, in bits: most names looked for are told absent
/// without reading a line. 32 bits each, so that a `Passed` stays within 72 bytes.
#[derive(Debug, Default)]
pub(crate) struct NameBits {
    /// Bit `n`: a name of `n` bytes (bit 31: of 31 or more).
    lengths: u32,
    /// Bit `key(name)` of each name.
    keys: u32,
}

impl NameBits {
    /// Adds `name`.
    pub(crate) fn push(&mut self, name: &[u8]) {
        self.lengths |= 1 << name.len().min(31);
        self.keys |= 1 << Self::key(name);
    }

    /// A name's bit in `keys`: a multiplicative hash of its length and its first and last
    /// bytes, lowercase.
    fn key(name: &[u8]) -> u32 {
        let byte = |b: Option<&u8>| u32::from(b.copied().unwrap_or(0) | 0x20);
        let x = name.len() as u32 | byte(name.first()) << 8 | byte(name.last()) << 16;
        x.wrapping_mul(0x9E37_79B1) >> 27
    }

    /// Whether a name may be `name`: its length and its key are both among the names'.
    fn may_be(&self, name: &[u8]) -> bool {
        self.lengths & 1 << name.len().min(31) != 0 && self.keys & 1 << Self::key(name) != 0
    }

    /// Whether a name may be longer than `len` bytes.
    fn may_be_longer(&self, len: usize) -> bool {
        self.lengths >> (len + 1).min(31) != 0
    }
}

/// Up to [`PASSED_RUNS`] ranges of a head of at most [`PASSED_HEAD_BYTES`], in order.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    at: [(u16, u16); PASSED_RUNS],
    len: u8,
}

impl Runs {
    /// Adds the line `start..end`, to the last run when it follows it; `false` when a new run
    /// would be one too many.
    pub(crate) fn push(&mut self, start: usize, end: usize) -> bool {
        let (start, end) = (start as u16, end as u16);
        let n = usize::from(self.len);
        if n > 0 && self.at[n - 1].1 == start {
            self.at[n - 1].1 = end;
            return true;
        }
        if n == PASSED_RUNS {
            return false;
        }
        self.at[n] = (start, end);
        self.len += 1;
        true
    }

    fn iter(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.at[..usize::from(self.len)]
            .iter()
            .map(|&(s, e)| usize::from(s)..usize::from(e))
    }
}

impl Passed {
    /// `runs` of `head` (at most [`PASSED_HEAD_BYTES`]), the length's value at `length` in it,
    /// whether a line is `Date`, and what the lines' names are like.
    pub(crate) fn new(
        head: Bytes,
        runs: Runs,
        length: Option<(usize, usize)>,
        date: bool,
        names: NameBits,
    ) -> Self {
        Self {
            head,
            runs,
            length: length.map(|(s, e)| (s as u16, e as u16)),
            date,
            names,
        }
    }

    /// Whether the head has a header of one of `names` (in any case), or one whose name
    /// starts with one of `prefixes` (lowercase) and goes on after it: a passed line, or the
    /// length kept aside. httparse accepted the lines with no space before a colon.
    pub(crate) fn has_any(&self, names: &[HeaderName], prefixes: &[&str]) -> bool {
        if self.length.is_some() && names.contains(&CONTENT_LENGTH) {
            return true;
        }
        let bits = &self.names;
        let may = names.iter().any(|n| bits.may_be(n.as_str().as_bytes()))
            || prefixes.iter().any(|p| bits.may_be_longer(p.len()));
        may && self.lines().any(|(_, line)| {
            let colon = line.iter().position(|&b| b == b':');
            let name = &line[..colon.unwrap_or(line.len())];
            names
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_str().as_bytes()))
                || prefixes.iter().any(|p| {
                    name.len() > p.len() && name[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                })
        })
    }

    /// The lines without their CRLF, each with where it starts in `head`.
    fn lines(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        self.runs.iter().flat_map(|run| {
            let mut at = run.start;
            self.head[run]
                .split_inclusive(|&b| b == b'\n')
                .map(move |line| {
                    let start = at;
                    at += line.len();
                    (start, line.strip_suffix(b"\r\n").unwrap_or(line))
                })
        })
    }

    /// The backend's `Content-Length` value.
    pub(crate) fn length(&self) -> Option<&[u8]> {
        self.length
            .map(|(s, e)| &self.head[usize::from(s)..usize::from(e)])
    }

    /// Forgets the backend's `Content-Length` (a body framed by chunks has none).
    pub(crate) fn drop_length(&mut self) {
        self.length = None;
    }

    /// Writes the lines.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        for run in self.runs.iter() {
            out.extend_from_slice(&self.head[run]);
        }
    }

    /// Appends the lines to `headers`, then the length.
    fn unpack_into(&self, headers: &mut Headers) {
        for (at, line) in self.lines() {
            // httparse accepted these bytes (`upstream::h1`): a name of token characters, a
            // colon, a value of visible characters, spaces and tabs. The checks below cannot
            // fail.
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let raw = &line[colon + 1..];
            let value = raw.trim_ascii();
            let from = at + colon + 1 + (raw.len() - raw.trim_ascii_start().len());
            let value = HeaderValue::from_maybe_shared(self.head.slice(from..from + value.len()));
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&line[..colon]), value) {
                headers.append(name, value);
            }
        }
        if let Some((s, e)) = self.length {
            if let Ok(v) =
                HeaderValue::from_maybe_shared(self.head.slice(usize::from(s)..usize::from(e)))
            {
                headers.append(CONTENT_LENGTH, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Answer;

    #[test]
    fn an_answer_with_either_body_fits_in_128_bytes() {
        // Past 128 bytes a move between futures is a call to `memcpy` (+173 instructions a
        // call on /plugins when the passed lines sat in the answer unboxed).
        assert!(std::mem::size_of::<Answer<crate::upstream::DrivenBody>>() <= 128);
        assert!(std::mem::size_of::<Answer<crate::logged::CallBody>>() <= 128);
    }

    #[test]
    fn passed_lines_take_at_most_72_bytes() {
        // 80 bytes cost each passed head a slower allocation (+120 instructions a call on
        // /plain).
        assert!(
            std::mem::size_of::<super::Passed>() <= 72,
            "{}",
            std::mem::size_of::<super::Passed>()
        );
    }
}
