//! `apigw serve`: see the crate `apigw` for the wiring and README.md for the settings.

use apigw::config::{Cli, Command};
use clap::Parser;

/// mimalloc: a call allocates a few small, short-lived blocks (header maps, the call's
/// context, the backend head); mimalloc keeps them in per-thread pages that stay in cache.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long an idle blocking-pool thread (SQLite, DNS) is kept. Short: between store calls the
/// process is back to its runtime's threads alone, and a process with one thread takes the
/// kernel's cheaper path on every socket call (`fdget` without a reference count;
/// `docs/benchmarks.md`). Starting a thread for the next store call costs tens of µs.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_millis(20);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match cli.command {
        Command::Serve(args) => {
            // One worker thread: a current-thread runtime (no work-stealing, no cross-thread
            // wake-ups); more: the multi-thread runtime with that many workers.
            let mut rt = match args.worker_threads {
                Some(1) => tokio::runtime::Builder::new_current_thread(),
                Some(n) => {
                    let mut b = tokio::runtime::Builder::new_multi_thread();
                    b.worker_threads(n.max(1));
                    b
                }
                None => tokio::runtime::Builder::new_multi_thread(),
            };
            rt.enable_all()
                .thread_keep_alive(BLOCKING_KEEP_ALIVE)
                .build()?
                .block_on(apigw::serve(args, apigw::shutdown_signal(), |_| {}))
        }
        Command::Export(args) => client_runtime()?.block_on(apigw::cli::export(args)),
        Command::Import(args) => client_runtime()?.block_on(apigw::cli::import(args)),
        Command::Apply(args) => client_runtime()?.block_on(apigw::cli::apply::apply(args)),
    }
}

/// The runtime of the commands that call a running instance.
fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
