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

/// Builds a snapshot and swaps it in when the store's version differs from the current one.
pub async fn reload_once(
    store: &dyn Store,
    cfg: &Config,
    current: &ArcSwap<Snapshot>,
    metrics: &Registry,
) -> Result<bool, apigw_store::StoreError> {
    let old = current.load_full();
    if store.version().await? == old.version && old.version != 0 {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let next = Snapshot::build(store, cfg, Some(&old), metrics).await?;
    let version = next.version;
    current.store(Arc::new(next));
    metrics.reloads.fetch_add(1, Relaxed);
    metrics.version.store(version as u64, Relaxed);
    metrics
        .last_reload_ms
        .store(apigw_model::time::now_millis() as u64, Relaxed);
    tracing::debug!(
        version,
        took_ms = started.elapsed().as_millis() as u64,
        "snapshot reloaded"
    );
    Ok(true)
}

/// Runs until the process ends: reloads on every announced change and every
/// [`POLL_INTERVAL`].
pub async fn run(
    store: Arc<dyn Store>,
    cfg: Config,
    current: Arc<ArcSwap<Snapshot>>,
    metrics: Arc<Registry>,
) {
    let mut changes = store.changes();
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        if let Err(e) = reload_once(&*store, &cfg, &current, &metrics).await {
            metrics.reload_failures.fetch_add(1, Relaxed);
            tracing::warn!(error = %e, "snapshot reload failed; serving the previous one");
        }
    }
}
