//! Active health checks of a channel's members (SPEC §9, `vpc_health_config`): every
//! `time_interval` seconds each enabled member is checked — a TCP connection, or an HTTP(S)
//! request whose status must be one of `http_code` — within `timeout` seconds. A member leaves
//! rotation after `threshold_abnormal` failures in a row and comes back after
//! `threshold_normal` successes in a row. Every node checks on its own.
//!
//! One task per running channel; it ends when the channel is no longer used by any snapshot.

use super::Channel;
use crate::upstream::Upstream;
use apigw_model::vpc_channel::{code_matches, HealthConfig, HealthProtocol};
use futures_util::future::join_all;
use http::uri::Authority;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts checking `ch`'s members with `cfg`.
pub(super) fn start(ch: &Arc<Channel>, cfg: HealthConfig, upstream: Upstream) {
    let me = Arc::downgrade(ch);
    tokio::spawn(async move {
        let every = Duration::from_secs(u64::from(cfg.time_interval.max(1)));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(ch) = me.upgrade() else { return };
            let checks = ch
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.enabled)
                .map(|(i, m)| {
                    let port = if cfg.port == 0 {
                        m.authority.port_u16().unwrap_or(80)
                    } else {
                        cfg.port
                    };
                    let (cfg, upstream) = (&cfg, &upstream);
                    async move { (i, check(cfg, upstream, &m.authority, port).await) }
                });
            let results = join_all(checks).await;
            ch.observe(&results);
        }
    });
}

/// One check of the member at `authority` (its host) on `port`.
async fn check(cfg: &HealthConfig, upstream: &Upstream, authority: &Authority, port: u16) -> bool {
    let timeout = Duration::from_secs(u64::from(cfg.timeout.max(1)));
    let probe = async {
        let host = authority.host();
        let ip = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => TcpStream::connect((ip, port)).await,
            Err(_) => TcpStream::connect((host, port)).await,
        }
        .ok()?;
        match cfg.protocol {
            HealthProtocol::Tcp => Some(true),
            HealthProtocol::Http => Some(http_check(cfg, host, tcp).await),
            HealthProtocol::Https => {
                let name = rustls::pki_types::ServerName::try_from(ip.to_string()).ok()?;
                let tls = upstream.tls().connect(name, tcp).await.ok()?;
                Some(http_check(cfg, host, tls).await)
            }
        }
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Some(true)))
}

/// Sends the check's request and reads the status line of the answer.
async fn http_check(
    cfg: &HealthConfig,
    host: &str,
    mut io: impl AsyncRead + AsyncWrite + Unpin,
) -> bool {
    let method = if cfg.method.is_empty() {
        "GET"
    } else {
        &cfg.method
    };
    let path = if cfg.path.is_empty() { "/" } else { &cfg.path };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: apigw-health-check\r\nconnection: close\r\n\r\n"
    );
    if io.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut n = 0;
    // "HTTP/1.1 200" is 12 bytes.
    while n < 12 {
        match io.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => n += k,
        }
    }
    let line = &buf[..n];
    if !line.starts_with(b"HTTP/1.") {
        return false;
    }
    let status = std::str::from_utf8(&line[9..12])
        .ok()
        .and_then(|s| s.parse::<u16>().ok());
    let code = if cfg.http_code.is_empty() {
        "200"
    } else {
        &cfg.http_code
    };
    status.is_some_and(|s| code_matches(code, s) == Some(true))
}
