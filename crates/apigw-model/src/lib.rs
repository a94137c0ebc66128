//! Domain types of apigw, shared by the store, the plug-ins, the control plane and the data
//! plane. Nothing here does I/O.
//!
//! # Layout
//! - [`id`]: the 32-hex-character ids APIG uses for every resource.
//! - [`time`]: timestamps as APIG prints them (RFC 3339, UTC, milliseconds).
//! - [`plugin`]: a stored plug-in, its type and scope, and the checks on its envelope fields.
//! - [`field`]: a field-level validation error, the unit every validator reports in.
//! - [`page`]: `offset`/`limit` paging with APIG's clamping rules.
//! - [`resources`]: groups, environments, APIs, publications, apps, bindings (stored rows), and
//!   what every policy's binding to a publication has ([`resources::PolicyBinding`]).
//! - [`api`]: the API definition (`ApiCreate`), its checks and path templates.
//! - [`expr`]: the rule-expression language used by rate_limit, breaker and third_auth.
//! - [`sign`]: the SDK-HMAC-SHA256 request signature (control plane and APP auth).
//! - [`text`]: IP addresses and JSON strings written fast (the data plane's hot path).
//! - [`acl`]: access control policies and the compiled IP / account sets they check.
//! - [`throttle`]: classic request throttling policies, their bindings and excluded limits.
//! - [`signature_key`]: the keys with which the gateway signs its calls to backends.
//! - [`variables`]: environment variables and the `#Name#` references to them.
//! - [`gateway_response`]: the response sets of a group for the errors the gateway answers.
//! - [`certificate`]: SSL certificates, their checks and the X.509 fields the calls answer.
//! - [`domain`]: the domain names bound to groups, with their TLS settings.
//! - [`vpc_channel`]: load balance channels: members, member groups, the health check.

pub mod acl;
pub mod api;
pub mod certificate;
pub mod credential;
pub mod domain;
pub mod expr;
pub mod field;
pub mod gateway_response;
pub mod id;
pub mod page;
pub mod plugin;
pub mod resources;
pub mod sign;
pub mod signature_key;
pub mod text;
pub mod throttle;
pub mod time;
pub mod variables;
pub mod vpc_channel;

pub use field::FieldError;
pub use plugin::{Plugin, PluginScope, PluginType};
