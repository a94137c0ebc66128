//! Hot reload: every change committed to the store ticks a watch channel; the reloader then
//! builds a new snapshot and swaps it in atomically. In-flight calls keep the snapshot they
//! started with. A periodic check catches changes the channel did not announce (other nodes).

use crate::metrics::Registry;
use crate::snapshot::{Config, Snapshot};
use apigw_store::Store;
use arc_swap::ArcSwap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// How often the store version is checked when nothing was announced.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps the gateway's snapshot in step with the store. One reload runs at a time; a snapshot
/// never replaces a newer one.
#[derive(Debug)]
pub struct Reloader {
    store: Arc<dyn Store>,
    cfg: Config,
    current: Arc<ArcSwap<Snapshot>>,
    metrics: Arc<Registry>,
    running: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(
        store: Arc<dyn Store>,
        cfg: Config,
        current: Arc<ArcSwap<Snapshot>>,
        metrics: Arc<Registry>,
    ) -> Self {
        Self {
            store,
            cfg,
            current,
            metrics,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Rebuilds the snapshot if the store moved on; returns whether it did.
    pub async fn reload(&self) -> Result<bool, apigw_store::StoreError> {
        let _one_at_a_time = self.running.lock().await;
        let old = self.current.load_full();
        let version = self.store.version().await?;
        if version == old.version && old.version != 0 {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let next =
            Arc::new(Snapshot::build(&*self.store, &self.cfg, Some(&old), &self.metrics).await?);
        let version = next.version;
        self.current.rcu(|cur| {
            if next.version >= cur.version {
                next.clone()
            } else {
                cur.clone()
            }
        });
        self.metrics.reloads.fetch_add(1, Relaxed);
        self.metrics.snapshot_taken(version);
        tracing::debug!(
            version,
            took_ms = started.elapsed().as_millis() as u64,
            "snapshot reloaded"
        );
        Ok(true)
    }

    /// Runs until the process ends: reloads on every announced change and every
    /// [`POLL_INTERVAL`].
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.store.changes();
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(POLL_INTERVAL).await;
                    }
                }
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
            match self.reload().await {
                Ok(_) => {
                    if self.metrics.store_down.swap(false, Relaxed) {
                        tracing::warn!("the store is back; the data plane follows it again");
                    }
                }
                Err(e) => {
                    self.metrics.reload_failures.fetch_add(1, Relaxed);
                    if !self.metrics.store_down.swap(true, Relaxed) {
                        tracing::error!(error = %e, "the store is unavailable; serving the last snapshot");
                    }
                }
            }
        }
    }
}
