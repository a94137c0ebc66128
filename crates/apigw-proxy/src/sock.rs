//! Writes to a plain TCP connection, each one system call made directly. glibc's `send` is a
//! cancellation point: in a process with more than one thread (the gateway's store, reload and
//! blocking threads) each one pays ~30 instructions of cancellation bookkeeping around the
//! system call, and about as many in the wrapper; rustix makes the call itself (a proxied
//! call's two writes: ~130 instructions fewer, `docs/benchmarks.md`).

use std::io;
use std::task::{ready, Context, Poll};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Writes some of `bytes`, trying before it waits (a socket with room costs no wait).
pub(crate) fn poll_send(
    io: &TcpStream,
    cx: &mut Context<'_>,
    bytes: &[u8],
) -> Poll<io::Result<usize>> {
    loop {
        let sent = io.try_io(Interest::WRITABLE, || {
            rustix::net::send(io, bytes, rustix::net::SendFlags::NOSIGNAL).map_err(io::Error::from)
        });
        match sent {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(io.poll_write_ready(cx))?,
            r => return Poll::Ready(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn a_send_to_a_full_socket_waits_until_the_peer_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut b, _) = listener.accept().await.unwrap();
        let chunk = vec![7u8; 64 * 1024];
        // Sends until the kernel takes no more.
        let mut sent = 0;
        while let Poll::Ready(n) =
            std::future::poll_fn(|cx| Poll::Ready(poll_send(&a, cx, &chunk))).await
        {
            sent += n.expect("a send with room");
        }
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            b.read_to_end(&mut all).await.unwrap();
            all.len()
        });
        // The pending send goes once the peer has read.
        let wait = std::future::poll_fn(|cx| poll_send(&a, cx, &chunk));
        let n = tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("woken when the peer reads")
            .unwrap();
        assert!(n > 0);
        drop(a);
        assert_eq!(reader.await.unwrap(), sent + n);
    }
}
