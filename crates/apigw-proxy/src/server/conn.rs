//! A client connection as the HTTP/1.1 server reads and writes it: plain TCP, or TLS over TCP
//! once the handshake is done (`tls.rs`). It is shared by reference between the connection's
//! loop and the request body the call reads, so TLS's state sits behind a mutex that only the
//! connection's own task ever takes (the call runs inside that task): it is never contended.

use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Free room the read buffer is given before each read.
pub(crate) const READ_ROOM: usize = 8 * 1024;

/// A client connection.
#[derive(Debug)]
pub(crate) enum ClientIo {
    Plain(TcpStream),
    Tls(Box<Mutex<TlsStream<TcpStream>>>),
}

impl ClientIo {
    pub(crate) fn tls(stream: TlsStream<TcpStream>) -> Self {
        Self::Tls(Box::new(Mutex::new(stream)))
    }

    /// Reads what is there into `buf`: `Ok(0)` at the end of the connection.
    ///
    /// A plain read shorter than the room offered emptied the socket: its readiness is cleared
    /// then (as tokio's own `poll_read` does), so the next wait parks on the event loop instead
    /// of costing a `recvfrom` that finds nothing — one system call per keep-alive request.
    pub(crate) fn poll_fill(
        &self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        if buf.capacity() - buf.len() < READ_ROOM / 4 {
            buf.reserve(READ_ROOM);
        }
        let io = match self {
            Self::Plain(io) => io,
            Self::Tls(tls) => {
                let mut tls = tls.lock().unwrap_or_else(|e| e.into_inner());
                return tokio_util::io::poll_read_buf(Pin::new(&mut *tls), cx, buf);
            }
        };
        let room = buf.capacity() - buf.len();
        loop {
            ready!(io.poll_read_ready(cx))?;
            // The outer `try_io` takes the readiness it may clear before the read, so an event
            // that arrives after the read is never cleared by it (no lost wake-up).
            let mut got = None;
            let r = io.try_io(tokio::io::Interest::READABLE, || {
                let n = io.try_read_buf(buf)?;
                got = Some(n);
                if n > 0 && n < room {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            match (got, r) {
                (Some(n), _) => return Poll::Ready(Ok(n)),
                (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                (None, r) => return Poll::Ready(r),
            }
        }
    }

    pub(crate) async fn fill(&self, buf: &mut BytesMut) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx, buf)).await
    }

    /// Writes some of `bytes`, trying before it waits (a socket with room costs no wait).
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Self::Plain(io) => crate::sock::poll_send(io, cx, bytes),
            Self::Tls(tls) => {
                let mut tls = tls.lock().unwrap_or_else(|e| e.into_inner());
                Pin::new(&mut *tls).poll_write(cx, bytes)
            }
        }
    }

    /// Sends what TLS still holds of what was written (nothing to do on a plain connection).
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Plain(_) => Poll::Ready(Ok(())),
            Self::Tls(tls) => {
                let mut tls = tls.lock().unwrap_or_else(|e| e.into_inner());
                Pin::new(&mut *tls).poll_flush(cx)
            }
        }
    }

    /// Writes all of `bytes` and flushes; a client that takes nothing for `stall` is cut
    /// (timed out). The timer is armed only when the socket is full.
    pub(crate) async fn write_all(&self, mut bytes: &[u8], stall: Duration) -> io::Result<()> {
        while !bytes.is_empty() {
            let now = std::future::poll_fn(|cx| Poll::Ready(self.poll_write(cx, bytes))).await;
            let n = match now {
                Poll::Ready(r) => r?,
                Poll::Pending => stalled(stall, |cx| self.poll_write(cx, bytes)).await?,
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            bytes = &bytes[n..];
        }
        if let Self::Tls(_) = self {
            stalled(stall, |cx| self.poll_flush(cx)).await?;
        }
        Ok(())
    }

    /// Closes our side and reads (and drops) what the client still sends for `linger`, so the
    /// client reads the answer before the connection goes (closing with unread bytes would
    /// reset it, and a reset can destroy the answer on its way).
    pub(crate) async fn linger(self, linger: Duration) {
        match self {
            Self::Plain(io) => drain(io, linger).await,
            Self::Tls(tls) => {
                drain(tls.into_inner().unwrap_or_else(|e| e.into_inner()), linger).await
            }
        }
    }
}

/// Shuts the write side (for TLS, `close_notify` first) and reads what comes, for `linger`.
async fn drain<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, linger: Duration) {
    // On the heap: a buffer here would be part of every connection's state (this future is
    // inside the connection's), 4 KiB of memory each call would carry around.
    let mut sink = vec![0u8; 4096];
    let drain = async {
        let _ = io.shutdown().await;
        while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(linger, drain).await;
}

/// Polls `f` to completion, failing with `TimedOut` after `stall`.
async fn stalled<T>(
    stall: Duration,
    mut f: impl FnMut(&mut Context<'_>) -> Poll<io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(stall, std::future::poll_fn(|cx| f(cx))).await {
        Ok(r) => r,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}
