//! HTTP/2 to backends, with the `h2` crate: gRPC backends (`GRPC`: h2c with prior knowledge,
//! `GRPCS`: TLS with ALPN `h2`). One connection per backend carries every call as a stream; a
//! connection that has failed is replaced by the next call. The request body is sent as it
//! comes (client streaming) while the answer is read (server streaming), and the answer's
//! trailers (`grpc-status`) go back to the client as trailers.

use crate::answer::Answer;
use crate::error::{Body, GatewayError};
use crate::http2::{connection_specific, send_body};
use apigw_plugins::headers::Headers;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::uri::{Authority, Scheme};
use hyper::body::Frame;
use std::io;
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// How long a new connection (TCP, TLS and HTTP/2 handshakes) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP/2 backend and its connection.
#[derive(Debug)]
pub struct H2Backend {
    scheme: Scheme,
    authority: Authority,
    conn: tokio::sync::Mutex<Option<h2::client::SendRequest<Bytes>>>,
}

/// What a call sends: the path and query, the client's headers, the gateway's.
#[derive(Debug)]
pub struct H2Call<'a> {
    pub target: &'a str,
    pub headers: &'a Headers,
    /// Set by the gateway (`x-request-id`, `x-forwarded-for`), replacing the client's.
    pub gateway: &'a [(HeaderName, HeaderValue)],
}

impl H2Backend {
    pub(crate) fn new(scheme: Scheme, authority: Authority) -> Self {
        Self {
            scheme,
            authority,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    /// Where it is.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// A sender ready for one more stream: the current connection's, else a new one's.
    async fn ready(
        &self,
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<h2::client::SendRequest<Bytes>, GatewayError> {
        let current = self.conn.lock().await.clone();
        if let Some(sender) = current {
            if let Ok(ready) = sender.ready().await {
                return Ok(ready);
            }
        }
        let mut slot = self.conn.lock().await;
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, self.connect(tls));
        let sender = match connect.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(backend = %self.authority, error = %e, "HTTP/2 backend connect failed");
                return Err(GatewayError::BackendUnavailable);
            }
            Err(_) => return Err(GatewayError::BackendUnavailable),
        };
        *slot = Some(sender.clone());
        drop(slot);
        sender
            .ready()
            .await
            .map_err(|_| GatewayError::BackendUnavailable)
    }

    async fn connect(
        &self,
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<h2::client::SendRequest<Bytes>, Box<dyn std::error::Error + Send + Sync>> {
        let host = self.authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let https = self.scheme == Scheme::HTTPS;
        let port = self
            .authority
            .port_u16()
            .unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        let _ = tcp.set_nodelay(true);
        if https {
            let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
            let io = tls.connect(name, tcp).await?;
            let (sender, conn) = h2::client::handshake(io).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(sender)
        } else {
            let (sender, conn) = h2::client::handshake(tcp).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(sender)
        }
    }

    /// Sends a call; the backend must answer with headers within `timeout` (the body and
    /// trailers then come as the backend sends them).
    pub(crate) async fn send(
        &self,
        tls: &tokio_rustls::TlsConnector,
        call: H2Call<'_>,
        body: Body,
        timeout: Duration,
    ) -> Result<Answer<super::DrivenBody>, GatewayError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = http::Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(call.target)
            .build()
            .map_err(|_| GatewayError::BadBody)?;
        let out = request.headers_mut();
        for (name, value) in call.headers {
            // `:authority` stands for `Host`.
            let dropped = connection_specific(name, value) || name == HOST;
            if !dropped && !call.gateway.iter().any(|(n, _)| n == name) {
                out.append(name.clone(), value.clone());
            }
        }
        for (name, value) in call.gateway {
            out.insert(name.clone(), value.clone());
        }
        let empty = match &body {
            http_body_util::Either::Left(b) => hyper::body::Body::is_end_stream(b),
            http_body_util::Either::Right(b) => hyper::body::Body::is_end_stream(b),
        };
        let mut sender = match tokio::time::timeout_at(deadline, self.ready(tls)).await {
            Ok(s) => s?,
            Err(_) => return Err(GatewayError::BackendTimeout),
        };
        let (response, stream) = sender.send_request(request, empty).map_err(|e| {
            tracing::debug!(backend = %self.authority, error = %e, "HTTP/2 backend refused the stream");
            GatewayError::BackendUnavailable
        })?;
        if !empty {
            tokio::spawn(pump(body, stream));
        }
        let response = match tokio::time::timeout_at(deadline, response).await {
            Err(_) => return Err(GatewayError::BackendTimeout),
            Ok(Err(e)) => {
                tracing::debug!(backend = %self.authority, error = %e, "HTTP/2 backend failed");
                return Err(GatewayError::BackendUnavailable);
            }
            Ok(Ok(r)) => r,
        };
        let (parts, recv) = response.into_parts();
        let mut headers = Headers::with_capacity(parts.headers.len() + 4);
        let mut last = None;
        for (name, value) in parts.headers {
            // `HeaderMap`'s iteration names a header once, before its further values.
            if let Some(name) = name {
                last = Some(name);
            }
            if let Some(name) = &last {
                headers.append(name.clone(), value);
            }
        }
        let mut answer = Answer::new(parts.status, super::DrivenBody::h2(recv));
        answer.headers = headers;
        Ok(answer)
    }
}

/// Sends the client's body on the backend stream as it comes; a client body that fails
/// cancels the stream.
async fn pump(body: Body, mut stream: h2::SendStream<Bytes>) {
    let body = std::pin::pin!(body);
    send_body(body, &mut stream, h2::Reason::CANCEL).await;
}

/// A backend's HTTP/2 answer body: its DATA frames, then its trailers.
#[derive(Debug)]
pub(crate) struct H2Answer {
    recv: h2::RecvStream,
    data_done: bool,
    done: bool,
}

impl H2Answer {
    pub(crate) fn new(recv: h2::RecvStream) -> Self {
        // Ended with its headers (a gRPC trailers-only answer: its status is in them).
        let done = recv.is_end_stream();
        Self {
            recv,
            data_done: done,
            done,
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if !self.data_done {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(io::Error::other(e))));
                }
                None => self.data_done = true,
            }
        }
        self.done = true;
        match ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(io::Error::other(e)))),
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.done
    }
}
