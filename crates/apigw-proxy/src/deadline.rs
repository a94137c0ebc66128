//! A deadline re-armed lazily, for the timeouts every call has (the client's head, the
//! backend's answer): moving it later costs a clock read, not a trip through the timer wheel.
//! The timer keeps its earlier expiry; when it fires before the deadline it is moved once, so a
//! busy keep-alive connection touches the wheel about once per timeout period, not per call.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

#[derive(Debug)]
pub(crate) struct Deadline {
    sleep: Pin<Box<Sleep>>,
    at: Instant,
}

impl Deadline {
    pub(crate) fn after(d: Duration) -> Self {
        Self::at(Instant::now() + d)
    }

    pub(crate) fn at(at: Instant) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            at,
        }
    }

    /// Sets the deadline `d` from now.
    pub(crate) fn set_after(&mut self, d: Duration) {
        self.set_at(Instant::now() + d);
    }

    pub(crate) fn set_at(&mut self, at: Instant) {
        self.at = at;
        if at < self.sleep.deadline() {
            self.sleep.as_mut().reset(at);
        }
    }

    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.sleep.as_mut().poll(cx));
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
    async fn a_deadline_moved_earlier_fires_at_the_new_time() {
        let start = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(10));
        d.set_after(Duration::from_secs(2));
        d.expired().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
