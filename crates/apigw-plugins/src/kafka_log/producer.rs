//! The producer task of one plug-in instance: connects to the topic's partition leaders (SASL,
//! TLS) lazily, sends what is queued in record batches with the configured retries, and counts
//! the outcome.

use super::config::{Config, SaslConfig};
use super::link::Link;
use super::runtime::Stats;
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
    stopping: AtomicBool,
    wake: tokio::sync::Notify,
    running: Mutex<Vec<Weak<Stats>>>,
}

impl Producers {
    pub(super) fn add(&self, stats: &Arc<Stats>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|s| s.strong_count() > 0);
        running.push(Arc::downgrade(stats));
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
                running.iter().filter_map(Weak::upgrade).any(|s| {
                    !s.down.load(Ordering::Relaxed)
                        && (s.queued.load(Ordering::Relaxed) > 0
                            || s.sending.load(Ordering::Relaxed))
                })
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

/// The producer: batches what is queued, sends it with `max_retry_count` retries
/// `retry_backoff` seconds apart; ends (after sending what is left) when the plug-in instance is
/// dropped (update or unbinding).
pub(super) async fn produce(
    c: Config,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    stats: Arc<Stats>,
    node: Arc<Producers>,
) {
    let mut cluster: Option<Cluster> = None;
    let mut next = 0usize;
    let key = (!c.key.is_empty()).then_some(c.key.as_bytes());
    let mut queued = Vec::with_capacity(BATCH);
    loop {
        if !next_batch(&mut rx, &mut queued, &node).await {
            return; // the plug-in instance is gone and everything queued is sent
        }
        // Held, not queued, until delivered or dropped (a stop waits for it).
        stats.sending.store(true, Ordering::Relaxed);
        stats
            .queued
            .fetch_sub(queued.len() as u64, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut rest = &queued[..];
        while !rest.is_empty() {
            let mut n = 0;
            let mut bytes = 0;
            while n < rest.len() && (n == 0 || bytes + rest[n].len() <= BATCH_BYTES) {
                bytes += rest[n].len();
                n += 1;
            }
            let (messages, after) = rest.split_at(n);
            rest = after;
            // Encoded once; a retry sends the same bytes.
            let mut request = wire::ProduceRequest::new(&c.topic, messages, key, now);
            let partition = |count: usize| match key {
                Some(k) => k.iter().map(|b| *b as usize).sum::<usize>() % count,
                None => {
                    next = next.wrapping_add(1);
                    next % count
                }
            };
            deliver(
                &c,
                &mut cluster,
                &mut request,
                n as u64,
                partition,
                &stats,
                &mut rx,
            )
            .await;
        }
        stats.sending.store(false, Ordering::Relaxed);
    }
}

/// Takes the next request's messages into `queued`: what is queued once the first message has
/// waited `LINGER`, at most `BATCH` (a full batch goes at once, and everything at once while
/// the node stops). False when the queue is closed and empty.
async fn next_batch(
    rx: &mut tokio::sync::mpsc::Receiver<Vec<u8>>,
    queued: &mut Vec<Vec<u8>>,
    node: &Producers,
) -> bool {
    queued.clear();
    if rx.recv_many(queued, BATCH).await == 0 {
        return false;
    }
    if queued.len() < BATCH {
        let stop = node.wake.notified();
        tokio::pin!(stop);
        // Registered before the flag is read: a stop signalled in between still wakes it.
        stop.as_mut().enable();
        if !node.stopping.load(Ordering::Relaxed) {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = stop => {}
            }
        }
        // Only this task takes from the queue: what it holds now is taken without waiting.
        if !rx.is_empty() {
            rx.recv_many(queued, BATCH - queued.len()).await;
        }
    }
    true
}

/// Sends one encoded batch of `count` messages, retrying as configured; counts the outcome.
async fn deliver(
    c: &Config,
    cluster: &mut Option<Cluster>,
    request: &mut wire::ProduceRequest,
    count: u64,
    mut partition: impl FnMut(usize) -> usize,
    stats: &Stats,
    rx: &mut tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
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
                    let mut stale = 0;
                    while rx.try_recv().is_ok() {
                        stale += 1;
                    }
                    stats.queued.fetch_sub(stale, Ordering::Relaxed);
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
    async fn a_request_carries_what_is_queued_while_its_first_message_lingers() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(2 * BATCH);
        let mut queued = Vec::new();
        let node = Producers::default();
        tx.send(b"first".to_vec()).await.unwrap();
        let sender = tokio::spawn(async move {
            tokio::time::sleep(LINGER / 2).await;
            tx.send(b"within".to_vec()).await.unwrap();
            tokio::time::sleep(LINGER).await;
            tx.send(b"after".to_vec()).await.unwrap();
            // A backlog of more than one request's worth: the first goes full, at once.
            for _ in 0..BATCH + 1 {
                tx.send(b"x".to_vec()).await.unwrap();
            }
        });
        let start = tokio::time::Instant::now();
        assert!(next_batch(&mut rx, &mut queued, &node).await);
        assert_eq!(queued, [b"first".to_vec(), b"within".to_vec()]);
        assert_eq!(
            start.elapsed(),
            LINGER,
            "sent once the first message lingered"
        );
        sender.await.unwrap();
        let start = tokio::time::Instant::now();
        assert!(next_batch(&mut rx, &mut queued, &node).await);
        assert_eq!((queued.len(), start.elapsed()), (BATCH, Duration::ZERO));
        assert_eq!(queued[0], b"after");
        assert!(next_batch(&mut rx, &mut queued, &node).await);
        assert_eq!(queued.len(), 2, "the rest, after lingering");
        assert!(
            !next_batch(&mut rx, &mut queued, &node).await,
            "closed and empty"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopping_node_sends_what_is_queued_without_lingering() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let mut queued = Vec::new();
        let node = Arc::new(Producers::default());
        tx.send(b"lingering".to_vec()).await.unwrap();
        // The stop comes while the message lingers: it goes at once.
        let stopping = node.clone();
        let stop = tokio::spawn(async move {
            tokio::time::sleep(LINGER / 5).await;
            stopping.stopping.store(true, Ordering::Relaxed);
            stopping.wake.notify_waiters();
        });
        let start = tokio::time::Instant::now();
        assert!(next_batch(&mut rx, &mut queued, &node).await);
        assert_eq!(start.elapsed(), LINGER / 5);
        stop.await.unwrap();
        tx.send(b"after the stop".to_vec()).await.unwrap();
        let start = tokio::time::Instant::now();
        assert!(next_batch(&mut rx, &mut queued, &node).await);
        assert_eq!(
            (&queued[..], start.elapsed()),
            (&[b"after the stop".to_vec()][..], Duration::ZERO)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_waits_for_queued_and_held_messages_within_its_bound() {
        let node = Producers::default();
        let stats = Arc::new(Stats::default());
        node.add(&stats);
        assert!(node.flush(Duration::from_secs(1)).await, "nothing held");
        stats.sending.store(true, Ordering::Relaxed);
        let start = tokio::time::Instant::now();
        assert!(
            !node.flush(Duration::from_secs(1)).await,
            "a batch held past the bound"
        );
        assert!(start.elapsed() >= Duration::from_secs(1));
        stats.down.store(true, Ordering::Relaxed);
        assert!(
            node.flush(Duration::from_secs(1)).await,
            "brokers down: not waited for"
        );
        stats.down.store(false, Ordering::Relaxed);
        stats.sending.store(false, Ordering::Relaxed);
        stats.queued.store(3, Ordering::Relaxed);
        let delivered = stats.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            delivered.queued.store(0, Ordering::Relaxed);
        });
        let start = tokio::time::Instant::now();
        assert!(node.flush(Duration::from_secs(1)).await);
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "returns once delivered"
        );
    }
}
