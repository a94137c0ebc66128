//! A measuring stick, not a product: `crates/apigw-proxy/examples/bare_proxy`'s calls, line
//! for line, on monoio's io_uring driver instead of tokio's epoll one (or on monoio's epoll
//! driver, with `URING_PROXY_DRIVER=legacy`). It answers one
//! question of issue 26: how much of a call's CPU do the readiness model's system calls cost,
//! that completions submitted in one `io_uring_enter` per turn of the loop would save?
//! `docs/benchmarks.md` gives the answer and the command.
//!
//! `cargo run --release --manifest-path bench/uring_proxy/Cargo.toml -- LISTEN_ADDR BACKEND_ADDR`

/// The heads, written as the bare proxy writes them (the same file).
#[path = "../../../crates/apigw-proxy/examples/bare_proxy/heads.rs"]
mod heads;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use std::io;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (listen, backend) = match args.as_slice() {
        [_, l, b] => (l.clone(), b.clone()),
        _ => {
            eprintln!("usage: uring_proxy LISTEN_ADDR BACKEND_ADDR");
            std::process::exit(2);
        }
    };
    let serve_all = async move {
        // Without SO_REUSEPORT (monoio's default sets it): like tokio's bind, a port in use is
        // an error, not shared with a leftover process.
        let opts = ListenerOpts::new().reuse_port(false);
        let listener = TcpListener::bind_with_config(&listen, &opts)?;
        loop {
            let (client, peer) = listener.accept().await?;
            let _ = client.set_nodelay(true);
            let backend = backend.clone();
            monoio::spawn(async move {
                let _ = serve(client, peer.ip().to_string(), &backend).await;
            });
        }
    };
    // Task work (a completion's last step, queued by the core that completed it) runs when the
    // thread next enters the kernel (`coop`, the default: COOP_TASKRUN) or only when it waits
    // for completions (`defer`: DEFER_TASKRUN). `plain` keeps monoio's own ring, where a
    // completion interrupts the thread when it is running (an IPI) and contends for the ring's
    // task-work lock. A ring that cannot be set up so is an error, not a quiet fallback: the
    // figures are measured under this proxy's name.
    let setup = std::env::var("URING_PROXY_SETUP").unwrap_or_else(|_| "coop".into());
    if std::env::var("URING_PROXY_DRIVER").as_deref() == Ok("legacy") {
        return monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()?
            .block_on(serve_all);
    }
    let mut ring = io_uring::IoUring::builder();
    match setup.as_str() {
        "plain" => {}
        "coop" => {
            ring.setup_coop_taskrun().setup_single_issuer();
        }
        "defer" => {
            ring.setup_single_issuer().setup_defer_taskrun();
        }
        other => {
            eprintln!("uring_proxy: URING_PROXY_SETUP={other}: not coop, defer or plain");
            std::process::exit(2);
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .uring_builder(ring)
        .build()
        .map_err(|e| io::Error::other(format!("an io_uring ring set up as {setup}: {e}")))?;
    rt.block_on(serve_all)
}

/// A connection and the bytes read from it that are not used yet.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The buffer each read fills (monoio's reads own their buffer until they complete).
    chunk: Option<Vec<u8>>,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            chunk: Some(Vec::with_capacity(8192)),
        }
    }

    /// Reads once more into the chunk (up to 8 KiB, nothing zeroed) and appends what came to
    /// `buf`; false when the peer closed.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = self.chunk.take().unwrap_or_default();
        chunk.clear();
        chunk.reserve(8192);
        let (res, chunk) = self.stream.read(chunk).await;
        let n = *res.as_ref().unwrap_or(&0);
        self.buf.extend_from_slice(&chunk[..n]);
        self.chunk = Some(chunk);
        Ok(res? > 0)
    }

    /// Reads until `buf` holds a whole head; returns its length (0: the peer closed).
    async fn read_head(&mut self) -> io::Result<usize> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(end + 4);
            }
            if self.buf.len() > 64 * 1024 {
                return Err(io::Error::other("head too large"));
            }
            if !self.fill().await? {
                return Ok(0);
            }
        }
    }

    /// Makes sure `buf` holds `n` bytes after `start`.
    async fn read_body(&mut self, start: usize, n: usize) -> io::Result<()> {
        while self.buf.len() < start + n {
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    async fn write_all(&mut self, out: Vec<u8>) -> io::Result<Vec<u8>> {
        let (res, out) = self.stream.write_all(out).await;
        res?;
        Ok(out)
    }
}

async fn serve(client: TcpStream, peer: String, backend: &str) -> io::Result<()> {
    let up = TcpStream::connect(backend).await?;
    up.set_nodelay(true)?;
    let (mut client, mut up) = (Conn::new(client), Conn::new(up));
    let mut out = Vec::with_capacity(4096);
    loop {
        let head = client.read_head().await?;
        if head == 0 {
            return Ok(());
        }
        let body_len = heads::request(&mut out, &client.buf[..head], backend, &peer)?;
        client.read_body(head, body_len).await?;
        out.extend_from_slice(&client.buf[head..head + body_len]);
        client.buf.drain(..head + body_len);
        out = up.write_all(out).await?;

        let head = up.read_head().await?;
        if head == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let body_len = heads::response(&mut out, &up.buf[..head])?;
        up.read_body(head, body_len).await?;
        out.extend_from_slice(&up.buf[head..head + body_len]);
        up.buf.drain(..head + body_len);
        out = client.write_all(out).await?;
    }
}
