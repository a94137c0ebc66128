//! Entry points for the `http1` fuzz target (`fuzz/`): the two HTTP/1.1 parsers that read bytes
//! from outside, a client's request head and body and a backend's response head and body. Not
//! part of the API.

use crate::wire::BodyState;
use bytes::BytesMut;

/// Parses `data` as a request (`first` byte even) or a response (odd), whole and then fed in
/// two pieces: never panics, and the split changes nothing — the same head, the same body. A
/// response is read both ways: into the list, and with the lines nothing reads passed as
/// received.
pub fn http1(data: &[u8]) {
    let Some((&first, wire)) = data.split_first() else {
        return;
    };
    let request = first % 2 == 0;
    let cut = usize::from(first / 2) % (wire.len() + 1);
    for pass in [false, !request] {
        let whole = run(request, pass, &[wire]);
        let split = run(request, pass, &[&wire[..cut], &wire[cut..]]);
        assert_eq!(whole, split, "the read boundary changed the outcome");
    }
}

/// Reads a head, then the body, from `pieces` arriving one after another: what was read.
fn run(request: bool, pass: bool, pieces: &[&[u8]]) -> Option<(String, Vec<u8>, bool)> {
    let mut buf = BytesMut::new();
    let mut names = crate::wire::HeadScratch::default();
    let mut rest = pieces.iter();
    let (head, mut state) = loop {
        if !buf.is_empty() {
            let parsed = if request {
                crate::server::h1::parse_head(&mut buf, &mut names, 64 * 1024)
                    .map_err(|e| format!("{e:?}"))
                    .map(|h| h.map(|h| (format!("{h:?}"), h.framing)))
            } else {
                crate::upstream::h1::parse_response(&mut buf, &mut names, false, false, pass)
                    .map_err(|e| format!("{e:?}"))
                    .map(|h| h.map(|h| (format!("{h:?}"), BodyState::new(h.body))))
            };
            match parsed {
                Err(e) => return Some((e, Vec::new(), false)),
                Ok(Some(h)) => break h,
                Ok(None) => {}
            }
        }
        buf.extend_from_slice(rest.next()?);
    };
    let mut body = Vec::new();
    loop {
        match state.next(&mut buf) {
            Err(_) => return Some((head, body, false)),
            Ok(Some(data)) => body.extend_from_slice(&data),
            Ok(None) if state.is_done() => return Some((head, body, true)),
            Ok(None) => match rest.next() {
                Some(p) => buf.extend_from_slice(p),
                None if state == BodyState::Close => return Some((head, body, true)),
                None => return Some((head, body, false)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fuzz_entry_reads_requests_and_responses() {
        super::http1(b"\x08POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        super::http1(b"\x09HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc");
        super::http1(b"\x03garbage");
        super::http1(b"");
    }
}
