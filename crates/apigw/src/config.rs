//! Settings of `apigw serve` (SPEC §5): flags with `APIGW_*` environment fallbacks.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// apigw: an API gateway compatible with the APIG plug-in management API.
#[derive(Debug, Parser)]
#[command(name = "apigw", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the control plane and the data plane.
    Serve(ServeArgs),
    /// Export a group's APIs as an OpenAPI document (with APIG's x-apigateway extensions).
    Export(crate::cli::ExportArgs),
    /// Import an OpenAPI document (Swagger 2.0 / OpenAPI 3.0, JSON or YAML).
    Import(crate::cli::ImportArgs),
    /// Make the instance match configuration files: groups, APIs, environments,
    /// publications, plug-ins and bindings.
    Apply(crate::cli::apply::ApplyArgs),
}

/// The settings of `apigw serve`.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// SQLite database and generated credentials.
    #[arg(long, env = "APIGW_DATA_DIR", default_value = "./apigw-data")]
    pub data_dir: PathBuf,
    /// Control-plane listener.
    #[arg(long, env = "APIGW_ADMIN_ADDR", default_value = "127.0.0.1:9180")]
    pub admin_addr: SocketAddr,
    /// Data-plane listener.
    #[arg(long, env = "APIGW_GATEWAY_ADDR", default_value = "127.0.0.1:9080")]
    pub gateway_addr: SocketAddr,
    /// Data-plane TLS listener (HTTPS on bound domains and the instance's own certificate).
    #[arg(long, env = "APIGW_GATEWAY_TLS_ADDR", default_value = "127.0.0.1:9443")]
    pub gateway_tls_addr: SocketAddr,
    /// The project served (generated on first start when unset).
    #[arg(long, env = "APIGW_PROJECT_ID")]
    pub project_id: Option<String>,
    /// The gateway instance served (generated on first start when unset).
    #[arg(long, env = "APIGW_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Admin access key (generated when unset).
    #[arg(long, env = "APIGW_ACCESS_KEY")]
    pub access_key: Option<String>,
    /// Admin secret key (generated when unset).
    #[arg(long, env = "APIGW_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Admin token for `X-Auth-Token` (generated when unset).
    #[arg(long, env = "APIGW_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Store URL; SQLite in the data directory when unset.
    #[arg(long, env = "APIGW_STORE_URL")]
    pub store_url: Option<String>,
    /// The key file that seals secrets at rest (app secrets, plug-in content): `secrets.key` in
    /// the data directory, created on first start, when unset. Required with a PostgreSQL store,
    /// where every node must hold the same keys.
    #[arg(long, env = "APIGW_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,
    /// Redis URL for cluster-wide rate-limit counters (`redis://127.0.0.1:6379/0`).
    #[arg(long, env = "APIGW_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Take a caller's IP from the first `X-Forwarded-For` entry (only behind a trusted proxy).
    #[arg(long, env = "APIGW_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Suffix of API group `sl_domain`s.
    #[arg(long, env = "APIGW_DOMAIN_SUFFIX", default_value = "apigw.localhost")]
    pub domain_suffix: String,
    /// Threads serving traffic; the number of cores when unset.
    #[arg(long, env = "APIGW_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// Data-plane client connections held at once; one more is answered 503 and closed.
    #[arg(long, env = "APIGW_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Milliseconds a data-plane client may take to send its headers (also the keep-alive idle
    /// time) and a body the gateway reads whole.
    #[arg(long, env = "APIGW_CLIENT_TIMEOUT_MS", default_value_t = 30_000)]
    pub client_timeout_ms: u64,
    /// Serve no HTTP/2: ALPN offers only `http/1.1` and the h2c preface is refused (400), as
    /// APIG lets a gateway switch HTTP/2 off.
    #[arg(long, env = "APIGW_DISABLE_HTTP2", default_value_t = false)]
    pub disable_http2: bool,
    /// Require control-plane authentication for `/metrics` too (health checks stay open).
    #[arg(long, env = "APIGW_METRICS_AUTH", default_value_t = false)]
    pub metrics_auth: bool,
    /// PEM file of CA certificates that HTTPS backends may also be signed by (besides the
    /// public web PKI roots), for backends with a private CA.
    #[arg(long, env = "APIGW_BACKEND_CA_FILE")]
    pub backend_ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("data_dir", &self.data_dir)
            .field("admin_addr", &self.admin_addr)
            .field("gateway_addr", &self.gateway_addr)
            .field("gateway_tls_addr", &self.gateway_tls_addr)
            .field("project_id", &self.project_id)
            .field("instance_id", &self.instance_id)
            .field("access_key", &self.access_key)
            .field("store_url", &self.store_url.as_ref().map(|_| "(set)"))
            .field("secrets_key_file", &self.secrets_key_file)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "(set)"))
            .field("domain_suffix", &self.domain_suffix)
            .field("worker_threads", &self.worker_threads)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("max_connections", &self.max_connections)
            .field("client_timeout_ms", &self.client_timeout_ms)
            .field("metrics_auth", &self.metrics_auth)
            .field("disable_http2", &self.disable_http2)
            .field("backend_ca_file", &self.backend_ca_file)
            .finish_non_exhaustive()
    }
}
