//! The apigw binary's wiring: settings, the admin identity, the store, and the two listeners,
//! with graceful shutdown. `main.rs` only parses the command line and calls [`serve`].
//!
//! # Layout
//! - [`config`]: `apigw serve` settings (flags with `APIGW_*` env fallbacks).
//! - [`credentials`]: the admin identity, generated on first start and kept in the data dir.

pub mod config;
pub mod credentials;

use anyhow::Context;
use apigw_admin::auth::Credential;
use apigw_admin::AppState;
use config::ServeArgs;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A running server: where it listens and who it is.
#[derive(Debug, Clone)]
pub struct Running {
    pub admin_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    pub identity: credentials::Identity,
}

/// Starts both planes and runs until `shutdown` completes, then drains in-flight calls.
/// `on_ready` is called once both listeners are bound.
pub async fn serve(
    args: ServeArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Running),
) -> anyhow::Result<()> {
    let (identity, written) = credentials::resolve(&args)?;
    let cred_path = credentials::path(&args.data_dir);
    if written {
        println!(
            "apigw: admin credentials written to {}",
            cred_path.display()
        );
    } else {
        println!("apigw: admin credentials in {}", cred_path.display());
    }
    let store = apigw_store::open(args.store_url.as_deref(), &args.data_dir)
        .await
        .context("opening the store")?;
    let state = AppState {
        store,
        credentials: Arc::new(vec![Credential {
            project_id: identity.project_id.clone(),
            access_key: identity.access_key.clone(),
            secret_key: identity.secret_key.clone(),
            token: identity.token.clone(),
        }]),
        instance_id: identity.instance_id.clone(),
        clock: apigw_admin::system_clock(),
        domain_suffix: args.domain_suffix.clone(),
    };
    state
        .store
        .ensure_defaults(&state.instance_id, apigw_model::time::now_millis())
        .await
        .context("creating the built-in DEFAULT group and RELEASE environment")?;
    let admin = TcpListener::bind(args.admin_addr)
        .await
        .with_context(|| format!("binding the control plane to {}", args.admin_addr))?;
    let gateway = TcpListener::bind(args.gateway_addr)
        .await
        .with_context(|| format!("binding the data plane to {}", args.gateway_addr))?;
    let running = Running {
        admin_addr: admin.local_addr()?,
        gateway_addr: gateway.local_addr()?,
        identity,
    };
    tracing::info!(admin = %running.admin_addr, gateway = %running.gateway_addr,
        project_id = %running.identity.project_id, instance_id = %running.identity.instance_id,
        "apigw listening");
    println!(
        "apigw: control plane on http://{}, data plane on http://{}, project {} instance {}",
        running.admin_addr,
        running.gateway_addr,
        running.identity.project_id,
        running.identity.instance_id
    );
    on_ready(&running);
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let admin_srv =
        axum::serve(admin, apigw_admin::router(state)).with_graceful_shutdown(stop(rx.clone()));
    let gateway_srv = axum::serve(gateway, apigw_proxy::router()).with_graceful_shutdown(stop(rx));
    tokio::try_join!(admin_srv, gateway_srv).context("serving")?;
    tracing::info!("apigw stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
