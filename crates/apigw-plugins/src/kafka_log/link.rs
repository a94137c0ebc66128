//! One connection to a broker: TCP, TLS for `SASL_SSL`, the versions both sides speak
//! (ApiVersions), SASL authentication, then requests answered one at a time.

use super::config::SaslConfig;
use super::sasl::{mechanism, Exchange};
use super::wire::{self, Result};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A broker's answer larger than this is refused (the producer's answers are small; a
/// metadata answer of a large cluster stays far below it).
const MAX_RESPONSE: usize = 16 << 20;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An authenticated connection to one broker.
pub(super) struct Link {
    io: Box<dyn Io>,
    next_id: i32,
    /// The Produce and Metadata versions used on this connection.
    pub produce_version: i16,
    pub metadata_version: i16,
}

impl Link {
    /// Connects to `addr` (`host:port`), with TLS when `tls` is given, and authenticates as
    /// `sasl` says.
    pub(super) async fn connect(
        addr: &str,
        sasl: &SaslConfig,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Link> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(config) => {
                let host = addr
                    .rsplit_once(':')
                    .map_or(addr, |(h, _)| h)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| format!("{addr}: {e}"))?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("{addr}: TLS: {e}"))?;
                Box::new(stream)
            }
        };
        let mut link = Link {
            io,
            next_id: 0,
            produce_version: 0,
            metadata_version: 0,
        };
        let body = link
            .call(|id| wire::Frame::new(wire::API_VERSIONS, 0, id, 0).finish())
            .await?;
        let versions = wire::api_versions_response(&body)?;
        if sasl.security_protocol.starts_with("SASL_") {
            wire::negotiate(&versions, wire::SASL_HANDSHAKE, 1..=1)?;
            let authenticate = wire::negotiate(&versions, wire::SASL_AUTHENTICATE, 0..=1)?;
            link.authenticate(sasl, authenticate).await?;
        }
        link.produce_version = wire::negotiate(&versions, wire::PRODUCE, 3..=7)?;
        link.metadata_version = wire::negotiate(&versions, wire::METADATA, 1..=7)?;
        Ok(link)
    }

    async fn authenticate(&mut self, c: &SaslConfig, version: i16) -> Result<()> {
        let name = mechanism(&c.sasl_mechanisms);
        let body = self.call(|id| wire::sasl_handshake(id, name)).await?;
        wire::sasl_handshake_response(&body, name)?;
        let (mut exchange, mut message) = Exchange::start(name, &c.sasl_username, &c.sasl_password);
        // PLAIN takes one round, SCRAM two (a third would be a broken server).
        for _ in 0..3 {
            let body = self
                .call(|id| wire::sasl_authenticate(version, id, &message))
                .await?;
            match exchange.step(&wire::sasl_authenticate_response(&body)?)? {
                Some(next) => message = next,
                None => return Ok(()),
            }
        }
        Err("SASL: the exchange did not end".into())
    }

    /// Sends the request `frame` writes for a correlation id and returns the answer's body.
    pub(super) async fn call<F: AsRef<[u8]>>(
        &mut self,
        frame: impl FnOnce(i32) -> F,
    ) -> Result<Vec<u8>> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let io_error = |e: std::io::Error| format!("broker connection: {e}");
        self.io
            .write_all(frame(id).as_ref())
            .await
            .map_err(io_error)?;
        let mut size = [0u8; 4];
        self.io.read_exact(&mut size).await.map_err(io_error)?;
        let size = i32::from_be_bytes(size);
        if !(4..=MAX_RESPONSE as i32).contains(&size) {
            return Err(format!("the broker answered with a frame of {size} bytes"));
        }
        let mut body = vec![0u8; size as usize];
        self.io.read_exact(&mut body).await.map_err(io_error)?;
        if body[..4] != id.to_be_bytes() {
            return Err("the broker answered another request".into());
        }
        body.drain(..4);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "broker" that answers the first request with `answer` and closes its side.
    async fn hostile(answer: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 64];
            let _ = s.read(&mut request).await;
            let _ = s.write_all(&answer).await;
            let _ = s.shutdown().await;
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        addr
    }

    #[tokio::test]
    async fn hostile_broker_answers_fail_the_connection_without_a_panic() {
        let mut correct_id_huge_array = 10i32.to_be_bytes().to_vec();
        correct_id_huge_array.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
        for (answer, why) in [
            (vec![0x7f, 0xff, 0xff, 0xff], "a 2 GiB frame"),
            (vec![0xff, 0xff, 0xff, 0xff], "a negative frame size"),
            (vec![0, 0, 0, 6, 0, 0, 0, 9, 0, 0], "another request's id"),
            (vec![0, 0, 0, 9, 0, 0], "a frame cut short"),
            (correct_id_huge_array, "an array longer than the answer"),
            (
                b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
                "not Kafka at all",
            ),
        ] {
            let addr = hostile(answer).await;
            let result = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                Link::connect(&addr, &SaslConfig::default(), None),
            )
            .await
            .expect(why);
            assert!(result.is_err(), "{why}");
        }
    }
}
