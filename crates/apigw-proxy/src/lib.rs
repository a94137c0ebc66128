//! The data plane of apigw: serves the published APIs of the instance, proxies each call to
//! its backend and runs the plug-ins bound to that API in that environment.
//!
//! # Layout
//! - [`router`]: the path trie of one group in one environment.
//! - `snapshot`: everything a request needs (hosts, environments, routes, compiled plug-in
//!   chains, apps), immutable, built from the store and swapped atomically on every change.
//! - `reload`: watches the store and rebuilds the snapshot, keeping plug-in instances whose
//!   content did not change.
//! - `auth`: APP and IAM authentication of calls.
//! - `channel`: load balance channels: picking a member, the members in rotation, their
//!   health (`channel/health.rs`: the active checks).
//! - `access`: the access control policies of a route, compiled, and their IP and account
//!   checks.
//! - `throttle`: classic request throttling policies of a route, compiled, and their check.
//! - `signature_key`: the signature key of a route, ready to sign its calls to the backend.
//! - `upstream`: the pooled backend client and request/response rewriting; `upstream/h1.rs`
//!   speaks HTTP/1.1 to backends.
//! - `answer`: a response on its way to the client (status, header list, body).
//! - `error`: the data-plane errors and their APIG codes, in one place.
//! - `logged`: the response body, and the call kept with it until it is sent when a plug-in
//!   awaits that (kafka_log logging the response size or body).
//! - `metrics`: per-API counters and latency histograms, rendered for Prometheus.
//! - `server`: the listeners (plain and TLS), the request path, graceful shutdown;
//!   `server/h1.rs` speaks HTTP/1.1 to clients (keep-alive, pipelining, bodies, the client
//!   timeout) over `server/conn.rs`, a plain or TLS connection.
//! - `tls`: the certificate a TLS handshake gets, by the name it asks for.
//! - `http2`: what the HTTP/2 sides to clients and to backends share.
//! - `names`: values by host name with APIG's one-label wildcards (hosts, certificates).
//! - `wire`: HTTP/1.1 framing both sides share (bodies by length or chunks).
//! - `sock`: writes to a plain TCP connection, both sides'.
//! - `deadline`: the lazily moved timers of the per-call timeouts.

pub mod access;
pub mod answer;
pub mod auth;
pub mod channel;
mod deadline;
pub mod detached;
pub mod error;
pub mod fnv;
mod http2;
pub mod logged;
pub mod metrics;
pub mod names;
pub mod reload;
pub mod responses;
pub mod router;
pub mod server;
pub mod signature_key;
pub mod snapshot;
mod sock;
pub mod throttle;
pub mod tls;
pub mod upstream;
mod wire;

#[doc(hidden)]
pub mod fuzzing;

pub use server::Gateway;
