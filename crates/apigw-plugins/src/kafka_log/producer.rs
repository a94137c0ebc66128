//! The producer task of one plug-in instance: connects to the brokers (SASL, TLS) lazily,
//! sends what is queued in batches with the configured retries, and counts the outcome.

use super::config::{Config, SaslConfig};
use super::runtime::Stats;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Messages sent to the broker in one request at most.
pub const BATCH: usize = 500;

/// One connect or produce attempt may take this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

fn sasl(c: &SaslConfig) -> Option<rskafka::client::SaslConfig> {
    if !c.security_protocol.starts_with("SASL_") {
        return None;
    }
    let creds = rskafka::client::Credentials::new(c.sasl_username.clone(), c.sasl_password.clone());
    Some(match c.sasl_mechanisms.as_str() {
        "SCRAM-SHA-256" => rskafka::client::SaslConfig::ScramSha256(creds),
        "SCRAM-SHA-512" => rskafka::client::SaslConfig::ScramSha512(creds),
        _ => rskafka::client::SaslConfig::Plain(creds),
    })
}

/// The producer: batches what is queued, sends it with `max_retry_count` retries
/// `retry_backoff` seconds apart; ends (after sending what is left) when the plug-in instance is
/// dropped (update or unbinding).
pub(super) async fn produce(
    c: Config,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    stats: Arc<Stats>,
) {
    let mut partitions: Vec<rskafka::client::partition::PartitionClient> = Vec::new();
    let mut next = 0usize;
    let key = (!c.key.is_empty()).then(|| c.key.clone().into_bytes());
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return; // the plug-in instance is gone and everything queued is sent
        }
        stats
            .queued
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let mut attempt = 0;
        loop {
            if partitions.is_empty() {
                partitions = connect(&c).await.unwrap_or_default();
            }
            let result = match partitions.len() {
                0 => Err("no broker answered".to_string()),
                n => {
                    let p = match &key {
                        Some(k) => &partitions[(k.iter().map(|b| *b as usize).sum::<usize>()) % n],
                        None => {
                            next = next.wrapping_add(1);
                            &partitions[next % n]
                        }
                    };
                    // The last attempt takes the messages; earlier ones send copies.
                    let last = attempt >= c.max_retry_count;
                    let timestamp = chrono::Utc::now();
                    let records = batch
                        .iter_mut()
                        .map(|m| rskafka::record::Record {
                            key: key.clone(),
                            value: Some(if last { std::mem::take(m) } else { m.clone() }),
                            headers: Default::default(),
                            timestamp,
                        })
                        .collect();
                    match tokio::time::timeout(
                        ATTEMPT_TIMEOUT,
                        p.produce(
                            records,
                            rskafka::client::partition::Compression::NoCompression,
                        ),
                    )
                    .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("produce timed out".to_string()),
                    }
                }
            };
            match result {
                Ok(()) => {
                    stats.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    stats.down.store(false, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    partitions.clear();
                    if !stats.failed_once.swap(true, Ordering::Relaxed) {
                        tracing::error!(error = %e, topic = %c.topic, "kafka_log: cannot deliver to the brokers (first failure of this plug-in)");
                    }
                    if attempt >= c.max_retry_count {
                        stats
                            .dropped
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        stats.down.store(true, Ordering::Relaxed);
                        // What queued up meanwhile would meet the same brokers: dropped too.
                        let mut stale = 0;
                        while rx.try_recv().is_ok() {
                            stale += 1;
                        }
                        stats.queued.fetch_sub(stale, Ordering::Relaxed);
                        stats.dropped.fetch_add(stale, Ordering::Relaxed);
                        break;
                    }
                    attempt += 1;
                    stats
                        .retried
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(c.retry_backoff.max(1) as u64)).await;
                }
            }
        }
    }
}

/// The TLS client configuration of `SASL_SSL`: only `ssl_ca_content` is trusted.
pub(super) fn tls(c: &SaslConfig) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    if c.security_protocol != "SASL_SSL" {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(c.ssl_ca_content.as_bytes()) {
        let cert = cert.map_err(|e| format!("ssl_ca_content: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("ssl_ca_content: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

async fn connect(c: &Config) -> Option<Vec<rskafka::client::partition::PartitionClient>> {
    let mut builder = rskafka::client::ClientBuilder::new(c.broker_list.clone());
    if let Some(s) = sasl(&c.sasl_config) {
        builder = builder.sasl_config(s);
    }
    match tls(&c.sasl_config) {
        Ok(Some(config)) => builder = builder.tls_config(config),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "kafka_log: the CA certificate cannot be used");
            return None;
        }
    }
    let client = tokio::time::timeout(ATTEMPT_TIMEOUT, builder.build())
        .await
        .ok()?
        .ok()?;
    let topics = tokio::time::timeout(ATTEMPT_TIMEOUT, client.list_topics())
        .await
        .ok()?
        .ok()?;
    let count = topics
        .iter()
        .find(|t| t.name == c.topic)
        .map(|t| t.partitions.len())
        .unwrap_or(1)
        .max(1);
    let mut out = Vec::with_capacity(count);
    for p in 0..count as i32 {
        let pc = client
            .partition_client(
                c.topic.clone(),
                p,
                rskafka::client::partition::UnknownTopicHandling::Error,
            )
            .await
            .ok()?;
        out.push(pc);
    }
    Some(out)
}
