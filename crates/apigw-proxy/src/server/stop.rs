//! Graceful shutdown's signal to client connections. Every keep-alive request checks it while
//! the connection waits for the next one, so it must cost next to nothing there: a flag read,
//! and the connection task's waker registered once per connection, not once per request (a
//! `watch` channel took a lock to register and another to unregister on every request).

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The shutdown signal: raised once, seen by every connection.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    stopping: AtomicBool,
    next_id: AtomicU64,
    /// The tasks of connections waiting for a request, to wake when the signal is raised.
    waiting: Mutex<HashMap<u64, Waker>>,
}

impl Stop {
    /// Raises the signal and wakes every connection that waits for it.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, SeqCst);
        let waiting = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in waiting.into_values() {
            waker.wake();
        }
    }

    /// A connection's view of the signal.
    pub(crate) fn listener(self: &Arc<Self>) -> StopListener {
        StopListener {
            stop: self.clone(),
            id: self.next_id.fetch_add(1, SeqCst),
            registered: None,
        }
    }
}

/// One connection's view of [`Stop`].
#[derive(Debug)]
pub(crate) struct StopListener {
    stop: Arc<Stop>,
    id: u64,
    /// The waker [`Stop`] holds for this connection, if any.
    registered: Option<Waker>,
}

impl StopListener {
    pub(crate) fn is_stopping(&self) -> bool {
        self.stop.stopping.load(SeqCst)
    }

    /// Inline: every keep-alive request polls it; the registration, once per connection, is
    /// a call of its own.
    #[inline]
    fn poll_stopped(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_stopping() {
            return Poll::Ready(());
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        self.register(cx)
    }

    #[inline(never)]
    fn register(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut waiting = self.stop.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.insert(self.id, cx.waker().clone());
        drop(waiting);
        self.registered = Some(cx.waker().clone());
        // A stop between the check in `poll_stopped` and the insert emptied the map before
        // this waker was in it; the flag it set first is seen here.
        if self.is_stopping() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Completes once the signal is raised.
    pub(crate) async fn stopped(&mut self) {
        poll_fn(|cx| self.poll_stopped(cx)).await
    }
}

impl Drop for StopListener {
    fn drop(&mut self) {
        if self.registered.is_some() {
            let mut waiting = self.stop.waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_waiting_listener_wakes_when_stopped_and_a_late_one_sees_it_at_once() {
        let stop = Arc::new(Stop::default());
        let mut waiting = stop.listener();
        let task = tokio::spawn(async move {
            waiting.stopped().await;
            waiting.is_stopping()
        });
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        stop.stop();
        let seen = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(seen.expect("woken").expect("no panic"));
        let mut late = stop.listener();
        tokio::time::timeout(Duration::from_secs(5), late.stopped())
            .await
            .expect("a listener made after the stop is stopped at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_listener_leaves_no_waker_behind() {
        let stop = Arc::new(Stop::default());
        let mut l = stop.listener();
        let polled = tokio::time::timeout(Duration::from_millis(10), l.stopped()).await;
        assert!(polled.is_err(), "not stopped yet");
        assert_eq!(stop.waiting.lock().unwrap().len(), 1);
        drop(l);
        assert!(stop.waiting.lock().unwrap().is_empty());
    }
}
