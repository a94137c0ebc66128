//! A measuring stick, not a product: the least an HTTP/1 reverse proxy on tokio can do per call
//! (httparse on both sides, heads written into one buffer, no `HeaderMap`, no routing, no
//! plug-ins, one keep-alive backend connection per client connection, Content-Length bodies
//! only). `docs/benchmarks.md` compares its CPU per request with nginx's and apigw's: it is
//! the floor under what apigw's own HTTP/1 code spends per call.
//!
//! `cargo run --release -p apigw-proxy --example bare_proxy -- LISTEN_ADDR BACKEND_ADDR`
//!
//! Its heads are written by `heads.rs`, which `bench/uring_proxy` shares.

mod heads;

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
        let body_len = heads::request(&mut out, &cbuf[..head], backend, &peer)?;
        read_body(&mut client, &mut cbuf, &mut chunk, head, body_len).await?;
        out.extend_from_slice(&cbuf[head..head + body_len]);
        cbuf.drain(..head + body_len);
        up.write_all(&out).await?;

        let head = read_head(&mut up, &mut ubuf, &mut chunk).await?;
        if head == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let body_len = heads::response(&mut out, &ubuf[..head])?;
        read_body(&mut up, &mut ubuf, &mut chunk, head, body_len).await?;
        out.extend_from_slice(&ubuf[head..head + body_len]);
        ubuf.drain(..head + body_len);
        client.write_all(&out).await?;
    }
}
