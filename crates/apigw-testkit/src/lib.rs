//! The test harness of apigw: a real server on `127.0.0.1:0` (in-process, or as the real binary
//! in a child process that can be killed with SIGKILL), and an admin client that authenticates
//! exactly as the SDKs do.
//!
//! ```ignore
//! let server = TestServer::start().await;
//! let resp = server.admin.post("/plugins", &body).await;
//! assert_eq!(resp.status, 201);
//! ```
//!
//! # Layout
//! Everything is re-exported here; the modules only sort it by concern.
//! - `server`: the gateway under test — [`TestServer`] (in-process), [`ServerProcess`] (the real
//!   binary, killable), [`serve_args`].
//! - `admin`: the control-plane client [`Admin`] ([`Auth`], [`Family`]) and its set-up calls
//!   (groups, APIs, publishing, plug-ins, bindings); [`http_api`] builds an API body.
//! - `gateway`: data-plane clients — [`GatewayClient`], [`oversize_chunked_upload`].
//! - `resp`: [`Resp`], an answer as both clients return it.
//! - `backend`: [`Backend`], a real echoing HTTP backend.
//! - `redis`: [`redis_url`] (the shared Redis), [`RedisServer`] (a private one to stop and restart).
//! - `postgres`: [`pg_base`] (the shared PostgreSQL), [`PgSchema`] (a schema per test).
//! - `tcp_proxy`: [`TcpProxy`], a forwarder to cut a node off a service and restore it.
//! - `tls`: [`TestCa`] (a CA and a server certificate) and [`tls_terminator`].
//! - `fixtures`: [`workspace_root`], [`seed_requests`].
//! - `wait`: [`within`], polling until a condition holds.
//! - `lib.rs` itself: the fixed credentials of test servers and [`RELEASE`].

mod admin;
mod backend;
mod fixtures;
mod gateway;
mod postgres;
mod redis;
mod resp;
mod server;
mod tcp_proxy;
mod tls;
mod wait;

pub use admin::{http_api, Admin, Auth, Family};
pub use backend::Backend;
pub use fixtures::{seed_requests, workspace_root};
pub use gateway::{oversize_chunked_upload, GatewayClient};
pub use postgres::{pg_base, PgSchema};
pub use redis::{redis_url, RedisServer};
pub use resp::Resp;
pub use server::{serve_args, ServerProcess, TestServer};
pub use tcp_proxy::TcpProxy;
pub use tls::{client_trusting, exchange, tls_connect, tls_terminator, Pki, TestCa};
pub use wait::within;

/// Fixed credentials of test servers.
pub const PROJECT: &str = "0123456789abcdef0123456789abcdef";
pub const INSTANCE: &str = "fedcba9876543210fedcba9876543210";
pub const AK: &str = "TESTACCESSKEY0000001";
pub const SK: &str = "test-secret-key-0000000000000000000000001";
pub const TOKEN: &str = "test-token-00000000000000000000000000000000000000000000000000001";

/// The id of the built-in RELEASE environment.
pub const RELEASE: &str = "DEFAULT_ENVIRONMENT_RELEASE_ID";
