//! What both HTTP/2 sides share (clients: `server/h2.rs`; backends: `upstream/h2.rs`): the
//! headers HTTP/2 does not carry, and a body sent on a stream as the peer's window allows.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
use hyper::body::Body;
use std::pin::Pin;

/// Headers that belong to one HTTP/1.1 connection and are not carried over HTTP/2
/// (RFC 9113 §8.2.2): all of `TE` but `te: trailers`, which gRPC servers require.
pub(crate) fn connection_specific(name: &HeaderName, value: &HeaderValue) -> bool {
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || (name == TE && value != "trailers")
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Sends `body` on `stream`: its data as the window allows, then its trailers or the end of
/// the stream. A body that fails resets the stream with `failed`, so the peer sees a cut, not
/// an end; a peer that resets the stream ends the sending.
pub(crate) async fn send_body<B>(
    mut body: Pin<&mut B>,
    stream: &mut h2::SendStream<Bytes>,
    failed: h2::Reason,
) where
    B: Body<Data = Bytes> + ?Sized,
{
    loop {
        let frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        let mut data = match frame {
            None => break,
            Some(Err(_)) => {
                stream.send_reset(failed);
                return;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        let _ = stream.send_trailers(trailers);
                        return;
                    }
                    continue;
                }
            },
        };
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            let n = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(Ok(n)) if n > 0 => n.min(data.len()),
                Some(Ok(_)) => continue,
                _ => return,
            };
            if stream.send_data(data.split_to(n), false).is_err() {
                return;
            }
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}
