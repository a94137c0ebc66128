//! The producer task of one plug-in instance: connects to the topic's partition leaders (SASL,
//! TLS) lazily, sends the requests its outbox fills with the configured retries, and counts the
//! outcome.

use super::config::{Config, SaslConfig};
use super::link::Link;
use super::outbox::Outbox;
use super::wire;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Messages sent to the broker in one request at most.
pub const BATCH: usize = 500;

/// Bytes of messages in one request at most: below the brokers' default `message.max.bytes`
/// (1 MiB), which 500 messages of up to 4 KiB could pass.
pub const BATCH_BYTES: usize = 900 * 1024;

/// How long the producer waits, once a message is queued, for more to join its request (Kafka's
/// `linger.ms`, whose default is 5 ms since Kafka 4.0): under load a request carries the
/// messages of 5 ms instead of those queued during one round trip to the broker, so the broker
/// is woken a few hundred times a second, not once every few calls.
pub const LINGER: Duration = Duration::from_millis(5);

/// One connect or produce attempt may take this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// The node's producers, for its stop: their counters, and the signal that the node is
/// stopping (a producer then sends what is queued without lingering). One per node
/// (`BuildCtx::shared`).
#[derive(Debug, Default)]
pub struct Producers {
    pub(super) stopping: AtomicBool,
    pub(super) wake: tokio::sync::Notify,
    running: Mutex<Vec<Weak<Outbox>>>,
}

impl Producers {
    pub(super) fn add(&self, outbox: &Arc<Outbox>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|o| o.strong_count() > 0);
        running.push(Arc::downgrade(outbox));
    }

    /// Has every producer send what it holds at once, and waits at most `bound` for them: true
    /// when all of it was delivered (a producer whose brokers are known to be down is not
    /// waited for). Called once the node serves no more calls; the producers send without
    /// lingering from then on.
    pub async fn flush(&self, bound: Duration) -> bool {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_waiters();
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let busy = {
                let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                running
                    .iter()
                    .filter_map(Weak::upgrade)
                    .any(|o| !o.stats.down.load(Ordering::Relaxed) && o.busy())
            };
            if !busy {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The producer: sends the requests of its outbox, with `max_retry_count` retries
/// `retry_backoff` seconds apart; ends (after sending what is left) when the plug-in instance is
/// dropped (update or unbinding).
pub(super) async fn produce(c: Config, outbox: Arc<Outbox>, node: Arc<Producers>) {
    let mut cluster: Option<Cluster> = None;
    let mut next = 0usize;
    let key = (!c.key.is_empty()).then_some(c.key.as_bytes());
    while let Some(mut request) = outbox.next(&node).await {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        request.finish(now);
        let partition = |count: usize| match key {
            Some(k) => k.iter().map(|b| *b as usize).sum::<usize>() % count,
            None => {
                next = next.wrapping_add(1);
                next % count
            }
        };
        deliver(&c, &mut cluster, &mut request, partition, &outbox).await;
        outbox.sent(request);
    }
}

/// Sends one request, retrying as configured; counts the outcome.
async fn deliver(
    c: &Config,
    cluster: &mut Option<Cluster>,
    request: &mut wire::ProduceRequest,
    mut partition: impl FnMut(usize) -> usize,
    outbox: &Outbox,
) {
    let stats = &outbox.stats;
    let count = request.len() as u64;
    let mut attempt = 0;
    loop {
        // A connection kept from an earlier batch may have been closed by the broker while
        // idle: failing on one, the batch is sent once more on a new one before it counts as
        // an attempt.
        let kept = cluster.is_some();
        let mut result = send(c, cluster, request, &mut partition).await;
        if result.is_err() && kept {
            *cluster = None;
            result = send(c, cluster, request, &mut partition).await;
        }
        match result {
            Ok(()) => {
                stats.sent.fetch_add(count, Ordering::Relaxed);
                stats.down.store(false, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                *cluster = None;
                if !stats.failed_once.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, topic = %c.topic, "kafka_log: cannot deliver to the brokers (first failure of this plug-in)");
                }
                if attempt >= c.max_retry_count {
                    stats.dropped.fetch_add(count, Ordering::Relaxed);
                    stats.down.store(true, Ordering::Relaxed);
                    // What queued up meanwhile would meet the same brokers: dropped too.
                    let stale = outbox.drop_queued();
                    stats.dropped.fetch_add(stale, Ordering::Relaxed);
                    return;
                }
                attempt += 1;
                stats.retried.fetch_add(count, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(c.retry_backoff.max(1) as u64)).await;
            }
        }
    }
}

/// One attempt: connects when not connected, sends the batch to the partition `partition`
/// picks among the topic's, and reads whether it was written.
async fn send(
    c: &Config,
    cluster: &mut Option<Cluster>,
    request: &mut wire::ProduceRequest,
    partition: &mut impl FnMut(usize) -> usize,
) -> Result<(), String> {
    let attempt = async {
        if cluster.is_none() {
            *cluster = Some(Cluster::connect(c).await?);
        }
        let Some(cl) = cluster.as_mut() else {
            return Err("no broker answered".to_string());
        };
        let (index, leader) = cl.partitions[partition(cl.partitions.len())];
        let link = leader
            .and_then(|l| cl.links.get_mut(l))
            .ok_or_else(|| format!("partition {index} of {} has no leader", c.topic))?;
        let v = link.produce_version;
        let timeout_ms = ATTEMPT_TIMEOUT.as_millis() as i32;
        let body = link
            .call(|id| request.frame(v, id, &c.topic, index, timeout_ms))
            .await?;
        match wire::produce_response(&body)? {
            0 => Ok(()),
            code => Err(format!(
                "partition {index} of {}: {}",
                c.topic,
                wire::error_name(code)
            )),
        }
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err("the broker did not answer in time".into()))
}

/// The connections to the leaders of the topic's partitions.
struct Cluster {
    links: Vec<Link>,
    /// Each partition's index and its leader's connection (`None`: no leader known).
    partitions: Vec<(i32, Option<usize>)>,
}

impl Cluster {
    /// Asks the first broker of `broker_list` that answers where the topic's partitions are,
    /// and connects to their leaders.
    async fn connect(c: &Config) -> Result<Cluster, String> {
        let tls = tls(&c.sasl_config)?;
        let mut error = String::from("broker_list is empty");
        let mut layout = None;
        for addr in &c.broker_list {
            let asked = async {
                let mut link = Link::connect(addr, &c.sasl_config, tls.clone()).await?;
                let v = link.metadata_version;
                let body = link.call(|id| wire::metadata(v, id, &c.topic)).await?;
                wire::metadata_response(v, &body, &c.topic)
            };
            match asked.await {
                Ok(l) => {
                    layout = Some(l);
                    break;
                }
                Err(e) => error = e,
            }
        }
        let layout = layout.ok_or(error)?;
        if layout.partitions.is_empty() {
            return Err(format!("topic {} has no partitions", c.topic));
        }
        let mut links = Vec::new();
        let mut leaders: Vec<i32> = Vec::new();
        let mut partitions = Vec::with_capacity(layout.partitions.len());
        for (index, leader) in layout.partitions {
            let known = match leaders.iter().position(|l| *l == leader) {
                Some(i) => Some(i),
                None => match layout.brokers.iter().find(|(id, _)| *id == leader) {
                    Some((_, addr)) => {
                        links.push(Link::connect(addr, &c.sasl_config, tls.clone()).await?);
                        leaders.push(leader);
                        Some(links.len() - 1)
                    }
                    None => None,
                },
            };
            partitions.push((index, known));
        }
        Ok(Cluster { links, partitions })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flush_waits_for_queued_and_held_messages_within_its_bound() {
        let node = Arc::new(Producers::default());
        let outbox = Arc::new(Outbox::new("t", None));
        node.add(&outbox);
        assert!(node.flush(Duration::from_secs(1)).await, "nothing held");
        outbox.push(b"m");
        let held = outbox.next(&node).await.unwrap();
        let start = tokio::time::Instant::now();
        assert!(
            !node.flush(Duration::from_secs(1)).await,
            "a batch held past the bound"
        );
        assert!(start.elapsed() >= Duration::from_secs(1));
        outbox.stats.down.store(true, Ordering::Relaxed);
        assert!(
            node.flush(Duration::from_secs(1)).await,
            "brokers down: not waited for"
        );
        outbox.stats.down.store(false, Ordering::Relaxed);
        outbox.sent(held);
        outbox.push(b"queued");
        let (producer, sending) = (node.clone(), outbox.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let r = sending.next(&producer).await.unwrap();
            sending.sent(r);
        });
        let start = tokio::time::Instant::now();
        assert!(node.flush(Duration::from_secs(1)).await);
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "returns once delivered"
        );
    }
}
