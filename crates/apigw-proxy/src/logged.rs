//! The body of every data-plane response, and the call's kafka_log message: when the plug-in is
//! bound, the message is queued once the response has been sent (its last frame handed to the
//! connection, or the client gone), with the bytes actually sent and, when the plug-in logs it,
//! the first [`BODY_LIMIT`] bytes of the body (one more is kept to tell that it was cut).

use crate::error::ResponseBody;
use apigw_plugins::chain::{Instance, RequestCtx};
use apigw_plugins::headers::Headers;
use apigw_plugins::kafka_log::{CallRecord, BODY_LIMIT};
use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A response body, logged when sent.
#[derive(Debug)]
pub struct CallBody {
    inner: ResponseBody,
    log: Option<Box<PendingLog>>,
}

/// What the message of a call needs once the response is gone.
#[derive(Debug)]
pub struct PendingLog {
    /// The kafka_log instance of the route.
    pub plugin: Arc<Instance>,
    pub ctx: RequestCtx,
    /// The response headers, when logged.
    pub response_headers: Option<Headers>,
    /// The start of the response body, when logged.
    pub body: Option<BytesMut>,
    /// Body bytes sent so far.
    pub sent: u64,
}

impl CallBody {
    pub fn new(inner: ResponseBody, log: Option<Box<PendingLog>>) -> Self {
        Self { inner, log }
    }

    fn send_log(&mut self) {
        if let Some(p) = self.log.take() {
            p.send();
        }
    }
}

impl PendingLog {
    fn send(self) {
        let Instance::KafkaLog(k) = &*self.plugin else {
            return;
        };
        let c = self.ctx.captured.as_deref();
        let upstream = c.and_then(|c| c.upstream_addr.as_ref()).map(|a| a.as_str());
        let record = CallRecord {
            request_headers: c.and_then(|c| c.headers.as_ref()),
            user_agent: c.and_then(|c| c.user_agent.as_ref()),
            forwarded_for: c.and_then(|c| c.forwarded_for.as_ref()),
            query: c.and_then(|c| c.uri.query()),
            request_body: c.and_then(|c| c.body.as_deref()),
            response_headers: self.response_headers.as_ref(),
            response_body: self.body.as_deref(),
            host: c
                .and_then(|c| c.host.as_ref())
                .and_then(|h| h.to_str().ok()),
            request_size: c.and_then(|c| c.body.as_ref()).map(|b| b.len() as u64),
            response_size: Some(self.sent),
            upstream_addr: upstream,
            upstream_uri: c.and_then(|c| c.upstream_uri.as_ref()).map(|p| p.as_str()),
            error_type: (self.ctx.status >= 400).then(|| {
                if upstream.is_some() {
                    "backend"
                } else {
                    "gateway"
                }
            }),
            response_source: if upstream.is_some() {
                "backend"
            } else {
                "apig"
            },
        };
        k.log(&self.ctx, &record);
    }
}

impl Body for CallBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(log) = this.log.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        log.sent += data.len() as u64;
                        if let Some(b) = log.body.as_mut() {
                            let room = (BODY_LIMIT + 1).saturating_sub(b.len());
                            b.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                }
                Poll::Ready(_) => this.send_log(),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CallBody {
    /// The connection is done with the body: sent whole, or the client went away.
    fn drop(&mut self) {
        self.send_log();
    }
}
