//! The body of every data-plane response, and the call's completion: when a bound plug-in
//! still awaits it after the response head (kafka_log logging the response size or body), the
//! call's state is kept with the body, each piece of the body is shown to the plug-ins as it
//! is sent, and their complete hooks run once the response has been sent (its last frame
//! handed to the connection, or the client gone).

use crate::error::ResponseBody;
use apigw_plugins::chain::RequestCtx;
use apigw_plugins::engine::{Chain, Done, States};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A response body, with the call's completion.
#[derive(Debug)]
pub struct CallBody {
    inner: ResponseBody,
    completion: Option<Box<Completion>>,
}

/// What the complete hooks need once the response is gone.
#[derive(Debug)]
pub struct Completion {
    pub chain: Arc<Chain>,
    pub ctx: RequestCtx,
    pub states: States,
    /// Body bytes sent so far.
    pub sent: u64,
    /// The body failed on the way (the backend cut it).
    pub failed: bool,
}

impl CallBody {
    pub fn new(inner: ResponseBody, completion: Option<Box<Completion>>) -> Self {
        Self { inner, completion }
    }

    fn complete(&mut self) {
        if let Some(mut c) = self.completion.take() {
            let done = Done {
                sent: c.sent,
                whole: !c.failed && self.inner.is_end_stream(),
            };
            c.chain.complete(&mut c.states, &c.ctx, &done);
        }
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
        if let Some(c) = this.completion.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        c.sent += data.len() as u64;
                        c.chain.response_body(&mut c.states, data);
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    c.failed = true;
                    this.complete();
                }
                Poll::Ready(None) => this.complete(),
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
        self.complete();
    }
}
