//! A WebSocket connection once its handshake has passed (the backend answered 101): the
//! client's connection and the backend's carry each other's bytes both ways until either
//! closes, or until nothing has moved either way for the client timeout.
//!
//! Frames from the client are read as they pass (RFC 6455 §5.2): one whose payload is over
//! [`MAX_FRAME`] (APIG's request body limit) cuts the tunnel before it reaches the backend.

use super::conn::ClientIo;
use crate::error::MAX_BODY_BYTES;
use crate::upstream::h1::Stream;
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame payload a client may send.
pub(crate) const MAX_FRAME: u64 = MAX_BODY_BYTES as u64;

/// Carries bytes both ways: `client_buf` holds what the client sent after its handshake,
/// `backend.1` what the backend sent after its 101.
pub(crate) async fn run(
    client: ClientIo,
    client_buf: BytesMut,
    backend: (Stream, BytesMut),
    idle: Duration,
) {
    let (backend, backend_buf) = backend;
    match client {
        ClientIo::Plain(tcp) => relay(tcp, client_buf, backend, backend_buf, idle).await,
        ClientIo::Tls(tls) => {
            let tls = tls.into_inner().unwrap_or_else(|e| e.into_inner());
            relay(tls, client_buf, backend, backend_buf, idle).await
        }
    }
}

async fn relay<C>(
    client: C,
    client_buf: BytesMut,
    backend: Stream,
    backend_buf: BytesMut,
    idle: Duration,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let (mut backend_rx, mut backend_tx) = tokio::io::split(backend);
    let mut frames = Frames::default();
    if !client_buf.is_empty() {
        if frames.read(&client_buf).is_err() {
            return;
        }
        if write(&mut backend_tx, &client_buf, idle).await.is_err() {
            return;
        }
    }
    if !backend_buf.is_empty() && write(&mut client_tx, &backend_buf, idle).await.is_err() {
        return;
    }
    // On the heap: the buffers would otherwise be part of every connection's future.
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let (mut client_open, mut backend_open) = (true, true);
    while client_open || backend_open {
        let moved = tokio::time::timeout(idle, async {
            tokio::select! {
                r = client_rx.read(&mut up), if client_open => match r {
                    Ok(n) if n > 0 => {
                        frames.read(&up[..n]).map_err(|_| ())?;
                        write(&mut backend_tx, &up[..n], idle).await
                    }
                    _ => {
                        client_open = false;
                        let _ = backend_tx.shutdown().await;
                        Ok(())
                    }
                },
                r = backend_rx.read(&mut down), if backend_open => match r {
                    Ok(n) if n > 0 => write(&mut client_tx, &down[..n], idle).await,
                    _ => {
                        backend_open = false;
                        let _ = client_tx.shutdown().await;
                        Ok(())
                    }
                },
            }
        })
        .await;
        if !matches!(moved, Ok(Ok(()))) {
            return; // idle, over the frame limit, or a side failed: both go
        }
    }
}

/// Writes all of `bytes`; a peer that takes nothing for `idle` fails it.
async fn write<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8], idle: Duration) -> Result<(), ()> {
    match tokio::time::timeout(idle, w.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Where the client's stream of frames is: in a frame header (its bytes so far) or in a
/// payload (bytes left).
#[derive(Debug, Default)]
struct Frames {
    header: Vec<u8>,
    payload_left: u64,
}

impl Frames {
    /// Follows `bytes`; `Err` when a frame's payload is over [`MAX_FRAME`].
    fn read(&mut self, mut bytes: &[u8]) -> Result<(), ()> {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = (self.payload_left.min(bytes.len() as u64)) as usize;
                self.payload_left -= skip as u64;
                bytes = &bytes[skip..];
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some(len) = self.payload_length() {
                if len > MAX_FRAME {
                    return Err(());
                }
                self.payload_left = len;
                self.header.clear();
            }
        }
        Ok(())
    }

    /// The payload length once the header is whole (with its mask, if any).
    fn payload_length(&self) -> Option<u64> {
        let h = &self.header;
        if h.len() < 2 {
            return None;
        }
        let masked = h[1] & 0x80 != 0;
        let (len, at) = match h[1] & 0x7f {
            126 if h.len() >= 4 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 if h.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            126 | 127 => return None,
            n => (u64::from(n), 2),
        };
        let whole = at + if masked { 4 } else { 0 };
        (h.len() >= whole).then_some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u64) -> Vec<u8> {
        let mut f = vec![0x82];
        match len {
            0..=125 => f.push(0x80 | len as u8),
            126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(0x80 | 127);
                f.extend_from_slice(&len.to_be_bytes());
            }
        }
        f.extend_from_slice(&[1, 2, 3, 4]); // mask
        f
    }

    #[test]
    fn frames_are_followed_across_reads_and_one_over_the_limit_is_refused() {
        let mut frames = Frames::default();
        let mut stream = frame(5);
        stream.extend_from_slice(b"hello");
        stream.extend(frame(70_000));
        stream.extend(vec![0u8; 70_000]);
        // Fed a byte at a time, headers split anywhere.
        for b in stream.chunks(1) {
            assert!(frames.read(b).is_ok());
        }
        assert_eq!(frames.payload_left, 0);
        assert!(frames.read(&frame(MAX_FRAME)).is_ok());
        let mut fresh = Frames::default();
        assert!(fresh.read(&frame(MAX_FRAME + 1)).is_err());
    }
}
