//! `apigw serve`: see the crate `apigw` for the wiring and README.md for the settings.

use apigw::config::{Cli, Command};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match cli.command {
        Command::Serve(args) => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = args.worker_threads {
                rt.worker_threads(n.max(1));
            }
            rt.enable_all()
                .build()?
                .block_on(apigw::serve(args, apigw::shutdown_signal(), |_| {}))
        }
    }
}
