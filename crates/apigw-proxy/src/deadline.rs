//! A deadline re-armed lazily, for the timeouts every call has (the client's head, the
//! backend's answer): moving it later costs a clock read, not a trip through the timer wheel.
//! The timer keeps its earlier expiry; when it fires before the deadline it is moved once, so a
//! busy keep-alive connection touches the wheel about once per timeout period, not per call.
//! Polling it again for the task it already wakes is skipped too (a flag read, not a trip
//! through the timer's waker registration).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

#[derive(Debug)]
pub(crate) struct Deadline {
    sleep: Pin<Box<Sleep>>,
    at: Instant,
    /// The waker the timer was last polled with, while it has not fired or moved since.
    armed: Option<Waker>,
}

impl Deadline {
    pub(crate) fn after(d: Duration) -> Self {
        Self::at(Instant::now() + d)
    }

    pub(crate) fn at(at: Instant) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            at,
            armed: None,
        }
    }

    /// Sets the deadline `d` from now.
    #[inline]
    pub(crate) fn set_after(&mut self, d: Duration) {
        self.set_at(Instant::now() + d);
    }

    #[inline]
    pub(crate) fn set_at(&mut self, at: Instant) {
        self.at = at;
        if at < self.sleep.deadline() {
            self.sleep.as_mut().reset(at);
            self.armed = None;
        }
    }

    /// Inline: the common case, the timer already armed for this task and not fired, is a
    /// flag read; the rest is a call of its own.
    #[inline]
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let armed = self.armed.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if armed && !self.sleep.is_elapsed() {
            return Poll::Pending;
        }
        self.poll_timer(cx)
    }

    #[inline(never)]
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let waker = cx.waker();
            if self.armed.as_ref().is_some_and(|w| w.will_wake(waker)) && !self.sleep.is_elapsed() {
                return Poll::Pending;
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                self.armed = Some(waker.clone());
                return Poll::Pending;
            }
            self.armed = None;
            if Instant::now() >= self.at {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(self.at);
        }
    }

    /// Completes when the deadline has passed.
    pub(crate) async fn expired(&mut self) {
        poll_fn(|cx| self.poll_expired(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_later_fires_at_the_new_time_not_the_old() {
        let start = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(5)).await;
        d.set_after(Duration::from_secs(10));
        d.expired().await;
        assert_eq!(start.elapsed(), Duration::from_secs(15));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_polled_again_by_the_same_task_still_fires() {
        let start = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(3));
        // Polled (and skipped) many times before it fires, as a select! does.
        for _ in 0..5 {
            let r = tokio::time::timeout(Duration::from_millis(100), d.expired()).await;
            assert!(r.is_err());
        }
        d.expired().await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_earlier_fires_at_the_new_time() {
        let start = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(10));
        d.set_after(Duration::from_secs(2));
        d.expired().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
