//! The messages of one plug-in instance waiting for its producer: written by the calls straight
//! into the record batch of the Produce request that will carry them, under a lock held for
//! that copy only. A call never waits for the producer, and its message is neither allocated
//! nor handed over on its own: the producer takes a whole request at a time.

use super::producer::{Producers, BATCH, BATCH_BYTES, LINGER};
use super::runtime::Stats;
use super::wire::ProduceRequest;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

/// Messages waiting per plug-in; more are dropped.
pub const QUEUE_CAPACITY: usize = 10_000;

/// Bytes a record adds besides its key and value, at most (its length, attributes, deltas and
/// the lengths of the key and the value as varints, the header count).
const RECORD_OVERHEAD: usize = 16;

/// One plug-in instance's waiting messages and delivery counters, shared by its calls and its
/// producer.
pub(super) struct Outbox {
    pub(super) stats: Stats,
    topic: String,
    key: Option<Box<[u8]>>,
    queue: Mutex<Queue>,
    /// Notified when the queue goes from empty to holding a message, and when the instance is
    /// gone (the producer sends what is left and ends).
    ready: tokio::sync::Notify,
    /// Notified when a request fills up: it is sent without lingering.
    filled: tokio::sync::Notify,
}

struct Queue {
    /// The request messages are written into.
    open: ProduceRequest,
    /// Full requests, oldest first, sent before `open`.
    full: VecDeque<ProduceRequest>,
    /// Messages in `open` and `full`.
    queued: usize,
    /// The producer holds a request taken from here, not yet delivered or dropped.
    sending: bool,
    /// The plug-in instance is gone: no more messages come.
    closed: bool,
    /// The buffer of the last request sent, for the next one.
    spare: Vec<u8>,
}

impl Queue {
    /// `open` swapped for a new request (in the spare buffer when there is one).
    fn take_open(&mut self, topic: &str) -> ProduceRequest {
        let fresh = ProduceRequest::new(topic, std::mem::take(&mut self.spare));
        std::mem::replace(&mut self.open, fresh)
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("topic", &self.topic)
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An empty outbox of messages to `topic`, each with `key` (`None`: a null key).
    pub(super) fn new(topic: &str, key: Option<&[u8]>) -> Self {
        Self {
            stats: Stats::default(),
            topic: topic.to_owned(),
            key: key.map(Box::from),
            queue: Mutex::new(Queue {
                open: ProduceRequest::new(topic, Vec::new()),
                full: VecDeque::new(),
                queued: 0,
                sending: false,
                closed: false,
                spare: Vec::new(),
            }),
            ready: tokio::sync::Notify::new(),
            filled: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `message`; never waits. With [`QUEUE_CAPACITY`] messages waiting it is dropped
    /// (counted).
    pub(super) fn push(&self, message: &[u8]) {
        let key = self.key.as_deref();
        let size = message.len() + key.map_or(0, <[u8]>::len) + RECORD_OVERHEAD;
        let mut q = self.lock();
        if q.queued >= QUEUE_CAPACITY {
            drop(q);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let open = &q.open;
        let fills =
            open.len() >= BATCH || (open.len() > 0 && open.records_bytes() + size > BATCH_BYTES);
        if fills {
            let full = q.take_open(&self.topic);
            q.full.push_back(full);
        }
        q.open.push(key, message);
        q.queued += 1;
        let first = q.queued == 1;
        drop(q);
        if fills {
            self.filled.notify_one();
        }
        if first {
            self.ready.notify_one();
        }
    }

    /// Messages waiting.
    pub(super) fn queued(&self) -> u64 {
        self.lock().queued as u64
    }

    /// Whether messages wait or a request is being sent.
    pub(super) fn busy(&self) -> bool {
        let q = self.lock();
        q.queued > 0 || q.sending
    }

    /// The plug-in instance is gone: the producer sends what is left and ends.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// The next request to send: a full one at once, else the open one once its first message
    /// has waited [`LINGER`] (at once while the node stops). `None` once the instance is gone
    /// and everything is taken. The request counts as being sent until it is
    /// [`Outbox::sent`].
    pub(super) async fn next(&self, node: &Producers) -> Option<ProduceRequest> {
        loop {
            let ready = self.ready.notified();
            {
                let q = self.lock();
                if q.queued > 0 {
                    break;
                }
                if q.closed {
                    return None;
                }
            }
            ready.await;
        }
        let stop = node.wake.notified();
        let filled = self.filled.notified();
        tokio::pin!(stop, filled);
        // Registered before the flag is read: a stop signalled in between still wakes it.
        stop.as_mut().enable();
        let lingers = self.lock().full.is_empty();
        if lingers && !node.stopping.load(Ordering::Relaxed) {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = stop => {}
                () = filled => {}
            }
        }
        let mut q = self.lock();
        let request = match q.full.pop_front() {
            Some(r) => r,
            None => q.take_open(&self.topic),
        };
        q.queued -= request.len();
        q.sending = true;
        Some(request)
    }

    /// The request taken last is delivered or dropped; its buffer is kept for a next one.
    pub(super) fn sent(&self, request: ProduceRequest) {
        let mut q = self.lock();
        q.sending = false;
        q.spare = request.into_buffer();
    }

    /// Drops every message waiting (the brokers are down); returns how many.
    pub(super) fn drop_queued(&self) -> u64 {
        let mut q = self.lock();
        let n = q.queued;
        q.full.clear();
        q.take_open(&self.topic);
        q.queued = 0;
        n as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_request_carries_what_is_queued_while_its_first_message_lingers() {
        let outbox = Arc::new(Outbox::new("t", None));
        let node = Producers::default();
        outbox.push(b"first");
        let pushing = outbox.clone();
        let sender = tokio::spawn(async move {
            tokio::time::sleep(LINGER / 2).await;
            pushing.push(b"within");
            tokio::time::sleep(LINGER).await;
            pushing.push(b"after");
            // A backlog of more than one request's worth: the first goes full, at once.
            for _ in 0..BATCH + 1 {
                pushing.push(b"x");
            }
        });
        let start = tokio::time::Instant::now();
        let r = outbox.next(&node).await.unwrap();
        assert_eq!(r.len(), 2, "first and within");
        assert_eq!(
            start.elapsed(),
            LINGER,
            "sent once the first message lingered"
        );
        assert!(outbox.busy(), "held until sent");
        outbox.sent(r);
        sender.await.unwrap();
        assert_eq!(outbox.queued(), BATCH as u64 + 2);
        let start = tokio::time::Instant::now();
        let r = outbox.next(&node).await.unwrap();
        assert_eq!((r.len(), start.elapsed()), (BATCH, Duration::ZERO));
        outbox.sent(r);
        let r = outbox.next(&node).await.unwrap();
        assert_eq!(r.len(), 2, "the rest, after lingering");
        outbox.sent(r);
        assert!(!outbox.busy());
        outbox.close();
        assert!(outbox.next(&node).await.is_none(), "closed and empty");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_fills_while_lingering_goes_at_once() {
        let outbox = Arc::new(Outbox::new("t", None));
        let node = Producers::default();
        outbox.push(b"first");
        let pushing = outbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LINGER / 5).await;
            for _ in 0..BATCH {
                pushing.push(b"x");
            }
        });
        let start = tokio::time::Instant::now();
        let r = outbox.next(&node).await.unwrap();
        assert_eq!((r.len(), start.elapsed()), (BATCH, LINGER / 5));
        assert_eq!(outbox.queued(), 1, "the message that did not fit waits");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_holds_at_most_batch_bytes_of_messages() {
        let outbox = Outbox::new("t", Some(b"k"));
        let node = Producers::default();
        let message = vec![b'm'; 4000];
        let fit = BATCH_BYTES / (message.len() + 1 + RECORD_OVERHEAD);
        for _ in 0..fit + 1 {
            outbox.push(&message);
        }
        let mut r = outbox.next(&node).await.unwrap();
        assert_eq!(r.len(), fit);
        assert!(r.records_bytes() <= BATCH_BYTES);
        r.finish(0);
        outbox.sent(r);
        assert_eq!(outbox.queued(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_and_counts_what_does_not_fit() {
        let outbox = Outbox::new("t", None);
        for _ in 0..QUEUE_CAPACITY + 3 {
            outbox.push(b"x");
        }
        assert_eq!(outbox.queued(), QUEUE_CAPACITY as u64);
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(outbox.drop_queued(), QUEUE_CAPACITY as u64);
        assert_eq!(outbox.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopping_node_sends_what_is_queued_without_lingering() {
        let outbox = Outbox::new("t", None);
        let node = Arc::new(Producers::default());
        outbox.push(b"lingering");
        // The stop comes while the message lingers: it goes at once.
        let stopping = node.clone();
        let stop = tokio::spawn(async move {
            tokio::time::sleep(LINGER / 5).await;
            stopping.stopping.store(true, Ordering::Relaxed);
            stopping.wake.notify_waiters();
        });
        let start = tokio::time::Instant::now();
        let r = outbox.next(&node).await.unwrap();
        assert_eq!(start.elapsed(), LINGER / 5);
        outbox.sent(r);
        stop.await.unwrap();
        outbox.push(b"after the stop");
        let start = tokio::time::Instant::now();
        let r = outbox.next(&node).await.unwrap();
        assert_eq!((r.len(), start.elapsed()), (1, Duration::ZERO));
    }

    #[test]
    fn concurrent_calls_lose_no_message_and_write_well_formed_records() {
        const THREADS: usize = 4;
        // Before the producer runs, the callers fill the outbox past its capacity (the rest
        // is dropped); then they go on while it sends.
        const BEFORE: usize = QUEUE_CAPACITY / THREADS + 500;
        const EACH: usize = BEFORE + 5_000;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let outbox = Arc::new(Outbox::new("t", Some(b"k")));
        let node = Arc::new(Producers::default());
        // Passed twice: once the outbox is filled, once the producer runs.
        let phase = Arc::new(std::sync::Barrier::new(THREADS + 1));
        let callers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (outbox, phase) = (outbox.clone(), phase.clone());
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        if i == BEFORE {
                            phase.wait();
                            phase.wait();
                        }
                        outbox.push(format!("{t}-{i}").as_bytes());
                    }
                })
            })
            .collect();
        phase.wait();
        let dropped = || outbox.stats.dropped.load(Ordering::Relaxed) as usize;
        assert_eq!(
            dropped(),
            THREADS * BEFORE - QUEUE_CAPACITY,
            "a full outbox drops"
        );
        let producer = {
            let (outbox, node) = (outbox.clone(), node.clone());
            rt.spawn(async move {
                let mut seen = Vec::new();
                while let Some(mut r) = outbox.next(&node).await {
                    assert!(r.len() <= BATCH && r.records_bytes() <= BATCH_BYTES);
                    r.finish(0);
                    for (i, (offset, value)) in r.records().into_iter().enumerate() {
                        assert_eq!(offset, i as i64, "offset deltas count from 0");
                        seen.push(String::from_utf8(value).unwrap());
                    }
                    outbox.sent(r);
                }
                seen
            })
        };
        phase.wait();
        for c in callers {
            c.join().unwrap();
        }
        outbox.close();
        let seen = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), producer).await })
            .expect("the producer ends once everything is taken")
            .unwrap();
        assert_eq!(
            seen.len() + dropped(),
            THREADS * EACH,
            "each message sent or counted dropped"
        );
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "none sent twice");
        for t in 0..THREADS {
            // A caller's messages keep their order.
            let mine: Vec<usize> = seen
                .iter()
                .filter_map(|s| s.strip_prefix(&format!("{t}-")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "caller {t} in order");
        }
        assert!(!outbox.busy());
    }
}
