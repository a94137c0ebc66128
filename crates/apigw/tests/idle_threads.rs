//! With one worker thread, the real binary runs on that one thread once the store is idle: the
//! blocking pool's threads (SQLite calls, DNS) leave soon after their work, so every socket call
//! of the data plane takes the kernel's single-threaded path (`docs/benchmarks.md`).

use apigw_testkit::{http_api, Backend, ServerProcess};
use std::path::Path;
use std::time::{Duration, Instant};

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn with_one_worker_the_process_is_back_to_one_thread_once_the_store_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start().await;
    let server = ServerProcess::spawn_with_env(
        Path::new(env!("CARGO_BIN_EXE_apigw")),
        dir.path(),
        &[("APIGW_WORKER_THREADS", "1")],
    );
    // Store calls: each runs on the blocking pool, which starts a thread for it.
    let group = server.admin.default_group().await;
    for i in 0..3 {
        server
            .admin
            .create_published_api(http_api(
                &format!("idle_{i}"),
                &group,
                "GET",
                &format!("/t{i}"),
                &backend.addr.to_string(),
                "/echo",
            ))
            .await;
    }
    let pid = server.child.id();
    assert!(threads(pid) >= 1, "the process is readable in /proc");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut least = usize::MAX;
    while Instant::now() < deadline {
        least = least.min(threads(pid));
        if least == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        least, 1,
        "idle blocking threads leave within moments (the pool's default keeps them 10 s)"
    );
}
