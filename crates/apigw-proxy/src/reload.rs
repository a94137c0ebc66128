//! Hot reload: every change committed to the store ticks a watch channel; the reloader then
//! makes a new snapshot and swaps it in atomically. In-flight calls keep the snapshot they
//! started with. A periodic check catches changes the channel did not announce (other nodes).
//!
//! The store records what each write changed (some APIs, plug-ins, policies, groups,
//! environments, apps, or anything). A run of changes none of which is "anything" is applied
//! to the current snapshot with [`Snapshot::patch`], at the cost of what changed; an
//! "anything", or a gap in the record, rebuilds the snapshot.

use crate::metrics::Registry;
use crate::snapshot::{Config, Shared, Snapshot};
use apigw_store::{Change, Store};
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
    /// Held by the reload running; what the last full build left for patches (`None`
    /// until the first).
    running: tokio::sync::Mutex<Option<Shared>>,
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
            running: tokio::sync::Mutex::new(None),
        }
    }

    /// Rebuilds the snapshot if the store moved on; returns whether it did.
    pub async fn reload(&self) -> Result<bool, apigw_store::StoreError> {
        let mut shared = self.running.lock().await;
        let old = self.current.load_full();
        let version = self.store.version().await?;
        if version == old.version && old.version != 0 && shared.is_some() {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let changes = self.patchable(old.version, version).await?;
        let next = match (shared.as_mut(), changes) {
            (Some(kept), Some((version, changes))) => {
                let (store, cfg) = (&*self.store, &self.cfg);
                let patched = old.patch(store, cfg, kept, &self.metrics, version, &changes);
                match patched.await {
                    Ok(patched) => {
                        self.metrics.patches.fetch_add(1, Relaxed);
                        Arc::new(patched)
                    }
                    Err(e) => {
                        // A patch that failed half-way may have updated the record: the next
                        // reload rebuilds.
                        *shared = None;
                        return Err(e);
                    }
                }
            }
            _ => {
                // Taken first: a build that fails leaves no half-updated record behind.
                let replaced = shared.take();
                let (store, cfg, m) = (&*self.store, &self.cfg, &*self.metrics);
                let (snap, kept) = Snapshot::build_shared(store, cfg, Some(&old), m).await?;
                *shared = Some(kept);
                // Freeing a large configuration takes a while: not on the way to the answer.
                tokio::task::spawn_blocking(move || drop(replaced));
                Arc::new(snap)
            }
        };
        let version = next.version;
        self.current.rcu(|cur| {
            if next.version >= cur.version {
                next.clone()
            } else {
                cur.clone()
            }
        });
        // The old snapshot is freed when the last call running on it ends; usually here.
        tokio::task::spawn_blocking(move || drop(old));
        self.metrics.reloads.fetch_add(1, Relaxed);
        self.metrics.snapshot_taken(version);
        tracing::debug!(
            version,
            took_ms = started.elapsed().as_millis() as u64,
            "snapshot reloaded"
        );
        Ok(true)
    }

    /// The changes after `version` when they can be applied to a snapshot of `version`: the
    /// last version they reach and the changes, else `None` (one is [`Change::All`], or the
    /// record has a gap: too old, or written before changes were recorded).
    /// `current` is the store's version read before: the changes must reach it.
    async fn patchable(
        &self,
        version: i64,
        current: i64,
    ) -> Result<Option<(i64, Vec<Change>)>, apigw_store::StoreError> {
        if version == 0 {
            return Ok(None);
        }
        let mut next = version + 1;
        let mut changes = Vec::new();
        for (v, c) in self.store.changes_since(version).await? {
            if v != next || c == Change::All {
                return Ok(None);
            }
            next += 1;
            changes.push(c);
        }
        Ok((next > current).then_some((next - 1, changes)))
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
