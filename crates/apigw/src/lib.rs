//! The apigw binary's wiring: settings, the admin identity, the store, and the two listeners,
//! with graceful shutdown. `main.rs` only parses the command line and calls [`serve`].
//!
//! # Layout
//! - [`config`]: `apigw serve` settings (flags with `APIGW_*` env fallbacks).
//! - [`credentials`]: the admin identity, generated on first start and kept in the data dir.
//! - [`instance_cert`]: the TLS listener's own certificate, generated on first start too.

pub mod cli;
pub mod config;
pub mod credentials;
pub mod instance_cert;

use anyhow::Context;
use apigw_admin::auth::Credential;
use apigw_admin::AppState;
use apigw_plugins::chain::BuildCtx;
use apigw_plugins::counters::RedisCounters;
use apigw_proxy::metrics::Registry;
use apigw_proxy::reload::Reloader;
use apigw_proxy::snapshot::{Config as SnapshotConfig, Snapshot};
use apigw_proxy::upstream::Upstream;
use apigw_proxy::Gateway;
use arc_swap::ArcSwap;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
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
    pub gateway_tls_addr: SocketAddr,
    pub identity: credentials::Identity,
}

/// How long a stop waits, after the last call, for kafka_log's messages to be delivered (one
/// produce attempt's bound).
const STOP_FLUSH: std::time::Duration = apigw_plugins::kafka_log::ATTEMPT_TIMEOUT;

/// Creates the data directory readable by the owner only (it holds the database, the
/// credentials and the secrets key), or narrows an existing one's mode.
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", dir.display()))?;
    }
    Ok(())
}

/// The keys that seal secrets at rest (see `apigw_store::Secrets`).
fn secrets(args: &ServeArgs) -> anyhow::Result<apigw_store::Secrets> {
    let shared = args
        .store_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    let path = match (&args.secrets_key_file, shared) {
        (Some(p), _) => p.clone(),
        (None, false) => args.data_dir.join("secrets.key"),
        (None, true) => anyhow::bail!(
            "APIGW_SECRETS_KEY_FILE is required with a PostgreSQL store: every node must seal \
             and open secrets with the same keys (see docs/cluster.md)"
        ),
    };
    apigw_store::Secrets::load_or_create(&path)
        .with_context(|| format!("the secrets key file {}", path.display()))
}

/// Starts both planes and runs until `shutdown` completes, then drains in-flight calls and
/// delivers the kafka_log messages they left. `on_ready` is called once both listeners are
/// bound.
pub async fn serve(
    args: ServeArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Running),
) -> anyhow::Result<()> {
    private_dir(&args.data_dir)?;
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
    let secrets = secrets(&args)?;
    let store = apigw_store::open(args.store_url.as_deref(), &args.data_dir, secrets)
        .await
        .context("opening the store")?;
    let resealed = store
        .reseal_secrets()
        .await
        .context("sealing secrets with the first key of the key file")?;
    if resealed > 0 {
        tracing::info!(resealed, "secrets sealed again with the first key");
    }
    let credentials = Arc::new(vec![Credential {
        project_id: identity.project_id.clone(),
        access_key: identity.access_key.clone(),
        secret_key: identity.secret_key.clone(),
        token: identity.token.clone(),
    }]);
    let mut state = AppState {
        store: store.clone(),
        credentials: credentials.clone(),
        instance_id: identity.instance_id.clone(),
        clock: apigw_admin::system_clock(),
        domain_suffix: args.domain_suffix.clone(),
        after_write: None,
        member_health: None,
    };
    store
        .ensure_defaults(&state.instance_id, apigw_model::time::now_millis())
        .await
        .context("creating the built-in DEFAULT group and RELEASE environment")?;

    // The data plane: a first snapshot, then the reloader keeps it current.
    let redis = match &args.redis_url {
        None => None,
        Some(url) => {
            let prefix = format!("apigw:{}:rl:", identity.instance_id);
            let r = RedisCounters::connect(url, &prefix)
                .await
                .map_err(|e| anyhow::anyhow!("connecting to Redis at APIGW_REDIS_URL: {e}"))?;
            tracing::info!("rate-limit counters are cluster-wide (Redis)");
            Some(r)
        }
    };
    let metrics = Arc::new(Registry::default());
    *metrics.redis.lock().unwrap_or_else(|p| p.into_inner()) = redis.clone();
    let upstream = match &args.backend_ca_file {
        None => Upstream::new(),
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading APIGW_BACKEND_CA_FILE {}", path.display()))?;
            Upstream::with_roots(&pem)
                .map_err(|e| anyhow::anyhow!("APIGW_BACKEND_CA_FILE {}: {e}", path.display()))?
        }
    };
    // What the plug-in types keep for the node (kept here too: the stop flushes kafka_log).
    let plugin_shared: Arc<apigw_plugins::chain::Shared> = Default::default();
    let snap_cfg = SnapshotConfig {
        instance_id: identity.instance_id.clone(),
        domain_suffix: args.domain_suffix.clone(),
        credentials,
        upstream: upstream.clone(),
        plugins: BuildCtx {
            redis: redis.clone(),
            clock: apigw_plugins::counters::system_clock(),
            classic: Default::default(),
            shared: plugin_shared.clone(),
        },
        tls_instance: Some(instance_cert::load_or_create(
            &args.data_dir,
            &args.domain_suffix,
        )?),
        http2: !args.disable_http2,
        channels: Default::default(),
    };
    let current = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    // A member's health as this node's checks see it (channels no route uses are not checked).
    let watched = current.clone();
    state.member_health = Some(Arc::new(move |channel_id: &str, member_id: &str| {
        let snap = watched.load();
        let channel = snap.channels.iter().find(|c| c.id == channel_id)?;
        channel.member_health(member_id)
    }));
    let reloader = Arc::new(Reloader::new(
        store.clone(),
        snap_cfg,
        current.clone(),
        metrics.clone(),
    ));
    reloader
        .reload()
        .await
        .context("building the first snapshot")?;
    let settle = reloader.clone();
    state.after_write = Some(Arc::new(move || {
        let r = settle.clone();
        Box::pin(async move {
            if let Err(e) = r.reload().await {
                tracing::warn!(error = %e, "reload after a write failed");
            }
        })
    }));
    let reloader = tokio::spawn(reloader.run());
    let detached = apigw_proxy::detached::Detached::new(upstream.clone());
    let gateway = Arc::new(Gateway {
        snapshot: current,
        upstream,
        metrics: metrics.clone(),
        trust_forwarded_for: args.trust_forwarded_for,
        limits: apigw_proxy::server::Limits {
            max_connections: args.max_connections.max(1),
            client_timeout: std::time::Duration::from_millis(args.client_timeout_ms.max(1)),
            http2: !args.disable_http2,
        },
        detached,
    });

    let admin = TcpListener::bind(args.admin_addr)
        .await
        .with_context(|| format!("binding the control plane to {}", args.admin_addr))?;
    let gateway_listener = TcpListener::bind(args.gateway_addr)
        .await
        .with_context(|| format!("binding the data plane to {}", args.gateway_addr))?;
    let tls_listener = TcpListener::bind(args.gateway_tls_addr)
        .await
        .with_context(|| format!("binding the TLS data plane to {}", args.gateway_tls_addr))?;
    let running = Running {
        admin_addr: admin.local_addr()?,
        gateway_addr: gateway_listener.local_addr()?,
        gateway_tls_addr: tls_listener.local_addr()?,
        identity,
    };
    tracing::info!(admin = %running.admin_addr, gateway = %running.gateway_addr,
        gateway_tls = %running.gateway_tls_addr,
        project_id = %running.identity.project_id, instance_id = %running.identity.instance_id,
        "apigw listening");
    println!(
        "apigw: control plane on http://{}, data plane on http://{}, project {} instance {}, \
         TLS data plane on https://{}",
        running.admin_addr,
        running.gateway_addr,
        running.identity.project_id,
        running.identity.instance_id,
        running.gateway_tls_addr,
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
    let ready_store = store.clone();
    let ready_metrics = metrics.clone();
    let snapshot = gateway.snapshot.clone();
    let metrics_route = Router::new().route(
        "/metrics",
        get(move || {
            let (m, snapshot) = (metrics.clone(), snapshot.clone());
            async move {
                let body = m.render(&snapshot.load());
                ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
            }
        }),
    );
    let readyz = Router::new().route(
        "/readyz",
        get(move || {
            let (store, metrics) = (ready_store.clone(), ready_metrics.clone());
            async move { readiness(&*store, &metrics).await }
        }),
    );
    let metrics_route = if args.metrics_auth {
        apigw_admin::protect(metrics_route, &state)
    } else {
        metrics_route
    };
    let admin_router = apigw_admin::router(state)
        .merge(metrics_route)
        .merge(readyz);
    let admin_srv = axum::serve(admin, admin_router).with_graceful_shutdown(stop(rx.clone()));
    let gateway_srv =
        apigw_proxy::server::serve(gateway_listener, gateway.clone(), stop(rx.clone()));
    let tls_srv = apigw_proxy::server::serve_tls(tls_listener, gateway, stop(rx));
    let (admin_result, (), ()) = tokio::join!(admin_srv, gateway_srv, tls_srv);
    admin_result.context("serving the control plane")?;
    reloader.abort();
    // No call is served any more: what kafka_log holds is sent now, not lost with the process.
    let producers = plugin_shared.get::<apigw_plugins::kafka_log::Producers>();
    if !producers.flush(STOP_FLUSH).await {
        tracing::warn!(
            "kafka_log: messages still undelivered {} s into the stop are lost",
            STOP_FLUSH.as_secs()
        );
    }
    tracing::info!("apigw stopped");
    Ok(())
}

/// `GET /readyz`: 200 when the store answers (within a second) and the data plane's snapshot
/// has caught up with it; else 503 with the reason. The node keeps serving its last snapshot
/// either way.
async fn readiness(
    store: &dyn apigw_store::Store,
    metrics: &Registry,
) -> (axum::http::StatusCode, String) {
    use std::sync::atomic::Ordering::Relaxed;
    let unavailable = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    match tokio::time::timeout(std::time::Duration::from_secs(1), store.version()).await {
        Ok(Ok(v)) => {
            let snapshot = metrics.version.load(Relaxed) as i64;
            let age_ms = (apigw_model::time::now_millis() as u64)
                .saturating_sub(metrics.last_reload_ms.load(Relaxed));
            if snapshot >= v || age_ms < 2000 {
                (axum::http::StatusCode::OK, "ready".into())
            } else {
                (
                    unavailable,
                    format!("snapshot at version {snapshot}, store at {v}"),
                )
            }
        }
        Ok(Err(e)) => (unavailable, format!("store unavailable: {e}")),
        Err(_) => (
            unavailable,
            "store unavailable: no answer within 1 s".into(),
        ),
    }
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
