//! The HTTP/1 work of a bare proxy's call, apart from its I/O: the request head it sends to the
//! backend and the response head it sends back, each written into `out` from the head read
//! (httparse into slots it fills without zeroing them first, as apigw's parsers; no
//! `HeaderMap`), and the body length each announces. Shared by `bare_proxy` (tokio)
//! and `bench/uring_proxy` (io_uring), so that the two differ in their I/O only.

use std::io;
use std::mem::MaybeUninit;

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Writes the backend's request from the client's `head` into `out` (cleared first); returns
/// the length of the body that follows.
pub(crate) fn request(
    out: &mut Vec<u8>,
    head: &[u8],
    backend: &str,
    peer: &str,
) -> io::Result<usize> {
    let mut hs = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
    let mut req = httparse::Request::new(&mut []);
    req.parse_with_uninit_headers(head, &mut hs)
        .map_err(io::Error::other)?;
    out.clear();
    out.extend_from_slice(req.method.unwrap_or("GET").as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.path.unwrap_or("/").as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(backend.as_bytes());
    out.extend_from_slice(b"\r\nx-forwarded-for: ");
    out.extend_from_slice(peer.as_bytes());
    out.extend_from_slice(b"\r\n");
    push_headers(out, req.headers, true);
    out.extend_from_slice(b"\r\n");
    Ok(content_length(req.headers))
}

/// Writes the client's response from the backend's `head` into `out` (cleared first); returns
/// the length of the body that follows.
pub(crate) fn response(out: &mut Vec<u8>, head: &[u8]) -> io::Result<usize> {
    let mut hs = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
    let mut resp = httparse::Response::new(&mut []);
    httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, head, &mut hs)
        .map_err(io::Error::other)?;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(resp.code.unwrap_or(502).to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    push_headers(out, resp.headers, false);
    out.extend_from_slice(b"\r\n");
    Ok(content_length(resp.headers))
}

fn content_length(headers: &[httparse::Header<'_>]) -> usize {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .unwrap_or(0)
}

fn push_headers(out: &mut Vec<u8>, headers: &[httparse::Header<'_>], skip_host: bool) {
    for h in headers {
        let hop = HOP_BY_HOP.iter().any(|n| h.name.eq_ignore_ascii_case(n));
        if hop || (skip_host && h.name.eq_ignore_ascii_case("host")) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
}
