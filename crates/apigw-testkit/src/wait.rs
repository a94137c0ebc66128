//! Waiting for something that happens asynchronously.

/// Polls `f` every 5 ms until it holds or `within` passes; returns how long it took.
pub async fn within<F, Fut>(within: std::time::Duration, mut f: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if f().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
