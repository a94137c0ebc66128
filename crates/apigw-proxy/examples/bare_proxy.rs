//! A measuring stick, not a product: the least an HTTP/1 reverse proxy on tokio can do per call
//! (httparse on both sides, heads written into one buffer, no `HeaderMap`, no routing, no
//! plug-ins, one keep-alive backend connection per client connection, Content-Length bodies
//! only). `docs/benchmarks.md` compares its CPU per request with nginx's and apigw's: it is
//! the floor under what apigw's own HTTP/1 code spends per call.
//!
//! `cargo run --release -p apigw-proxy --example bare_proxy -- LISTEN_ADDR BACKEND_ADDR`

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (listen, backend) = match args.as_slice() {
        [_, l, b] => (l.clone(), b.clone()),
        _ => {
            eprintln!("usage: bare_proxy LISTEN_ADDR BACKEND_ADDR");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(&listen).await?;
            loop {
                let (client, peer) = listener.accept().await?;
                let _ = client.set_nodelay(true);
                let backend = backend.clone();
                tokio::spawn(async move {
                    let _ = serve(client, peer.ip().to_string(), &backend).await;
                });
            }
        })
}

/// Reads once more into `chunk` (up to 8 KiB, into its spare capacity: nothing is zeroed) and
/// appends what came to `buf`; false when the peer closed. `bench/uring_proxy` reads the same
/// way.
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, chunk: &mut Vec<u8>) -> io::Result<bool> {
    chunk.clear();
    chunk.reserve(8192);
    let n = s.read_buf(chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// Reads until `buf` holds a whole head; returns its length (0: the peer closed).
async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>, chunk: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(end + 4);
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("head too large"));
        }
        if !fill(s, buf, chunk).await? {
            return Ok(0);
        }
    }
}

/// Makes sure `buf` holds `n` bytes after `start`.
async fn read_body(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: &mut Vec<u8>,
    start: usize,
    n: usize,
) -> io::Result<()> {
    while buf.len() < start + n {
        if !fill(s, buf, chunk).await? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
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

async fn serve(mut client: TcpStream, peer: String, backend: &str) -> io::Result<()> {
    let mut up = TcpStream::connect(backend).await?;
    up.set_nodelay(true)?;
    let (mut cbuf, mut ubuf, mut out) = (Vec::new(), Vec::new(), Vec::with_capacity(4096));
    let mut chunk = Vec::with_capacity(8192);
    loop {
        let head = read_head(&mut client, &mut cbuf, &mut chunk).await?;
        if head == 0 {
            return Ok(());
        }
        out.clear();
        let body_len = {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut hs);
            req.parse(&cbuf[..head]).map_err(io::Error::other)?;
            out.extend_from_slice(req.method.unwrap_or("GET").as_bytes());
            out.push(b' ');
            out.extend_from_slice(req.path.unwrap_or("/").as_bytes());
            out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
            out.extend_from_slice(backend.as_bytes());
            out.extend_from_slice(b"\r\nx-forwarded-for: ");
            out.extend_from_slice(peer.as_bytes());
            out.extend_from_slice(b"\r\n");
            push_headers(&mut out, req.headers, true);
            out.extend_from_slice(b"\r\n");
            content_length(req.headers)
        };
        read_body(&mut client, &mut cbuf, &mut chunk, head, body_len).await?;
        out.extend_from_slice(&cbuf[head..head + body_len]);
        cbuf.drain(..head + body_len);
        up.write_all(&out).await?;

        let head = read_head(&mut up, &mut ubuf, &mut chunk).await?;
        if head == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.clear();
        let body_len = {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut hs);
            resp.parse(&ubuf[..head]).map_err(io::Error::other)?;
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(resp.code.unwrap_or(502).to_string().as_bytes());
            out.push(b' ');
            out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
            push_headers(&mut out, resp.headers, false);
            out.extend_from_slice(b"\r\n");
            content_length(resp.headers)
        };
        read_body(&mut up, &mut ubuf, &mut chunk, head, body_len).await?;
        out.extend_from_slice(&ubuf[head..head + body_len]);
        ubuf.drain(..head + body_len);
        client.write_all(&out).await?;
    }
}
