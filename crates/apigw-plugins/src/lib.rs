//! The plug-ins of apigw: one module per plug-in type, each with its `Config` (the APIG
//! `plugin_content` model, a doc per field) and its `validate`. The [`registry`] is the one
//! entry point: the control plane validates content with it, and the data plane builds
//! running plug-ins with it, so whatever the API accepts is what runs.
//!
//! # Layout
//! - [`registry`]: `plugin_content` decoding, validation, canonical form and secret masking,
//!   dispatched on the closed list of plug-in types.
//! - [`naming`]: the content's field names on each API family (APIG's stored, ROMA's shown
//!   under `/apic/`), in one table.
//! - [`engine`]: the phases a plug-in type implements, the one list of types in their order,
//!   and the chain of a route's bound plug-ins.
//! - [`chain`]: the request context the phases read, and what building an instance needs.
//! - [`headers`]: the header lists of a call (request and response) and the request's head.
//! - [`common`]: what several plug-ins share: request parameters, rule lists, time units, the
//!   `$context` variables.
//! - one module per type (a folder where it has several concerns): [`cors`], [`set_resp_headers`], [`rate_limit`], [`breaker`],
//!   [`third_auth`], [`kafka_log`], [`proxy_cache`], [`proxy_mirror`].

pub mod breaker;
pub mod chain;
pub mod common;
pub mod cors;
pub mod counters;
pub mod engine;
pub mod headers;
pub mod kafka_log;
pub mod naming;
pub mod proxy_cache;
pub mod proxy_mirror;
pub mod rate_limit;
mod redis_link;
pub mod registry;
pub mod set_resp_headers;
pub mod third_auth;
