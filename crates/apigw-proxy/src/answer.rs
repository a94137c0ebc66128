//! A response as the gateway handles it, the backend's or its own: status, headers and body.
//! The headers are the plug-ins' list (`apigw_plugins::headers`), not an `http::HeaderMap`:
//! built, changed by the response phase and written once per call, a short list is cheaper.

use apigw_plugins::headers::Headers;
use http::StatusCode;

/// A response on its way to the client.
#[derive(Debug)]
pub struct Answer<B> {
    pub status: StatusCode,
    /// A reason phrase other than the status's canonical one (494 has none).
    pub reason: Option<&'static str>,
    pub headers: Headers,
    pub body: B,
}

impl<B> Answer<B> {
    /// `status` with `body` and no headers yet.
    pub fn new(status: StatusCode, body: B) -> Self {
        Self {
            status,
            reason: None,
            headers: Headers::new(),
            body,
        }
    }

    /// The same answer with its body changed by `f`.
    pub fn map<C>(self, f: impl FnOnce(B) -> C) -> Answer<C> {
        Answer {
            status: self.status,
            reason: self.reason,
            headers: self.headers,
            body: f(self.body),
        }
    }
}
