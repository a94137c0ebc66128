//! The `plugin_content` of kafka_log (`KafkaLogContent`): what APIG stores, its validation,
//! canonical form, and the secrets that responses mask.

use super::producer::tls;
use crate::common::{is_host_port, null_default};
use crate::registry::{max_items, ContentModel, MASK};
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `meta_config.system` fields, in APIG's order, with their defaults (on when the APIG
/// guide lists them as default fields).
pub const SYSTEM_FIELDS: &[(&str, bool)] = &[
    ("start_time", true),
    ("request_id", true),
    ("client_ip", true),
    ("api_id", false),
    ("user_name", false),
    ("app_id", false),
    ("access_model1", false),
    ("request_time", true),
    ("http_status", true),
    ("server_protocol", false),
    ("scheme", true),
    ("request_method", true),
    ("host", true),
    ("api_uri_mode", false),
    ("uri", true),
    ("request_size", false),
    ("response_size", false),
    ("upstream_uri", false),
    ("upstream_addr", true),
    ("upstream_status", true),
    ("upstream_connect_time", false),
    ("upstream_header_time", false),
    ("upstream_response_time", true),
    ("all_upstream_response_time", false),
    ("region_id", false),
    ("auth_type", false),
    ("http_x_forwarded_for", true),
    ("http_user_agent", true),
    ("error_type", true),
    ("access_model2", false),
    ("inner_time", false),
    ("proxy_protocol_vni", false),
    ("proxy_protocol_vpce_id", false),
    ("proxy_protocol_addr", false),
    ("body_bytes_sent", false),
    ("api_name", false),
    ("app_name", false),
    ("provider_app_id", false),
    ("provider_app_name", false),
    ("custom_data_log01", false),
    ("custom_data_log02", false),
    ("custom_data_log03", false),
    ("custom_data_log04", false),
    ("custom_data_log05", false),
    ("custom_data_log06", false),
    ("custom_data_log07", false),
    ("custom_data_log08", false),
    ("custom_data_log09", false),
    ("custom_data_log10", false),
    ("response_source", false),
];

/// `KafkaLogContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Bootstrap brokers, `host:port`, 1..32 of them.
    pub broker_list: Vec<String>,
    /// The topic, 1..249 characters of `[A-Za-z0-9._-]`.
    pub topic: String,
    /// The message key; empty = spread across partitions. ≤ 255 characters.
    #[serde(default)]
    pub key: String,
    /// Retries of a failed send, 0..5.
    #[serde(default)]
    pub max_retry_count: i64,
    /// Seconds between retries, 1..10.
    #[serde(default = "one")]
    pub retry_backoff: i64,
    /// How to connect and authenticate to the brokers.
    #[serde(default, deserialize_with = "null_default")]
    pub sasl_config: SaslConfig,
    /// What each message holds.
    #[serde(default, deserialize_with = "null_default")]
    pub meta_config: MetaConfig,
}

fn one() -> i64 {
    1
}

/// `sasl_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// `PLAINTEXT`, `SASL_PLAINTEXT` or `SASL_SSL`.
    #[serde(default = "plaintext")]
    pub security_protocol: String,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default = "plain")]
    pub sasl_mechanisms: String,
    /// SASL user; mandatory with a SASL protocol.
    #[serde(default)]
    pub sasl_username: String,
    /// SASL password (secret); mandatory with a SASL protocol.
    #[serde(default)]
    pub sasl_password: String,
    /// PEM CA certificate for `SASL_SSL`.
    #[serde(default)]
    pub ssl_ca_content: String,
}

fn plaintext() -> String {
    "PLAINTEXT".into()
}
fn plain() -> String {
    "PLAIN".into()
}

impl Default for SaslConfig {
    fn default() -> Self {
        Self {
            security_protocol: plaintext(),
            sasl_mechanisms: plain(),
            sasl_username: String::new(),
            sasl_password: String::new(),
            ssl_ca_content: String::new(),
        }
    }
}

/// `meta_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// The system fields switched on or off (names of [`SYSTEM_FIELDS`]); stored complete.
    #[serde(default, deserialize_with = "null_default")]
    pub system: Map<String, Value>,
    /// Request and response data to log.
    #[serde(default, deserialize_with = "null_default")]
    pub call_data: CallData,
}

/// `meta_config.call_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallData {
    /// Log request headers.
    #[serde(default)]
    pub log_request_header: bool,
    /// Comma-separated request header names to log (`*` = all).
    #[serde(default)]
    pub request_header_filter: String,
    /// Log the query string.
    #[serde(default)]
    pub log_request_query_string: bool,
    /// Comma-separated query names to log (`*` = all).
    #[serde(default)]
    pub request_query_string_filter: String,
    /// Log the request body (first 1 KB).
    #[serde(default)]
    pub log_request_body: bool,
    /// Log response headers.
    #[serde(default)]
    pub log_response_header: bool,
    /// Comma-separated response header names to log (`*` = all).
    #[serde(default)]
    pub response_header_filter: String,
    /// Log the response body (first 1 KB).
    #[serde(default)]
    pub log_response_body: bool,
    /// Custom-authorizer fields to log (APIG); accepted for compatibility.
    #[serde(default, deserialize_with = "null_default")]
    pub custom_authorizer: CustomAuthorizer,
}

impl CallData {
    /// Whether anything of the call itself is logged.
    pub(super) fn any(&self) -> bool {
        self.log_request_header
            || self.log_request_query_string
            || self.log_request_body
            || self.log_response_header
            || self.log_response_body
    }
}

/// `call_data.custom_authorizer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomAuthorizer {
    /// Frontend authorizer fields.
    #[serde(default, deserialize_with = "null_default")]
    pub frontend: Vec<String>,
    /// Backend authorizer fields.
    #[serde(default, deserialize_with = "null_default")]
    pub backend: Vec<String>,
}

fn is_topic(t: &str) -> bool {
    (1..=249).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        errs.check(
            !self.broker_list.is_empty(),
            "broker_list",
            "at least one broker",
        );
        max_items(&self.broker_list, 32, "broker_list", &mut errs);
        for (i, b) in self.broker_list.iter().enumerate() {
            errs.check(
                is_host_port(b),
                format!("broker_list[{i}]"),
                "must be host:port",
            );
        }
        errs.check(
            is_topic(&self.topic),
            "topic",
            "1..249 characters of letters, digits, '.', '_' and '-'",
        );
        errs.len(&self.key, 0, 255, "key");
        errs.range(self.max_retry_count, 0, 5, "max_retry_count");
        errs.range(self.retry_backoff, 1, 10, "retry_backoff");
        let s = &self.sasl_config;
        let proto = s.security_protocol.as_str();
        errs.check(
            matches!(proto, "PLAINTEXT" | "SASL_PLAINTEXT" | "SASL_SSL"),
            "sasl_config.security_protocol",
            "must be PLAINTEXT, SASL_PLAINTEXT or SASL_SSL",
        );
        errs.check(
            matches!(
                s.sasl_mechanisms.as_str(),
                "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
            ),
            "sasl_config.sasl_mechanisms",
            "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        );
        if proto.starts_with("SASL_") {
            errs.len(&s.sasl_username, 1, 255, "sasl_config.sasl_username");
            errs.len(&s.sasl_password, 1, 255, "sasl_config.sasl_password");
        }
        if proto == "SASL_SSL" {
            errs.check(
                s.ssl_ca_content.contains("-----BEGIN CERTIFICATE-----") && tls(s).is_ok(),
                "sasl_config.ssl_ca_content",
                "a valid PEM CA certificate is mandatory for SASL_SSL",
            );
        }
        errs.len(&s.ssl_ca_content, 0, 32768, "sasl_config.ssl_ca_content");
        for (k, v) in &self.meta_config.system {
            let f = format!("meta_config.system.{k}");
            errs.check(
                SYSTEM_FIELDS.iter().any(|(n, _)| n == k),
                &f,
                "unknown field",
            );
            errs.check(v.is_boolean(), &f, "must be a boolean");
        }
        let c = &self.meta_config.call_data;
        for (field, v) in [
            ("request_header_filter", &c.request_header_filter),
            (
                "request_query_string_filter",
                &c.request_query_string_filter,
            ),
            ("response_header_filter", &c.response_header_filter),
        ] {
            errs.len(v, 0, 1024, &format!("meta_config.call_data.{field}"));
        }
        for (field, v) in [
            ("frontend", &c.custom_authorizer.frontend),
            ("backend", &c.custom_authorizer.backend),
        ] {
            max_items(
                v,
                10,
                &format!("meta_config.call_data.custom_authorizer.{field}"),
                &mut errs,
            );
        }
        errs.0
    }

    fn mask_secrets(content: &mut Value) {
        mask_secrets(content)
    }

    fn keep_masked_secrets(new: &mut Map<String, Value>, previous: &Map<String, Value>) {
        keep_masked_secrets(new, previous)
    }

    fn canonicalize(&mut self) {
        let given = std::mem::take(&mut self.meta_config.system);
        self.meta_config.system = SYSTEM_FIELDS
            .iter()
            .map(|(name, default)| {
                let v = given
                    .get(*name)
                    .and_then(Value::as_bool)
                    .unwrap_or(*default);
                (name.to_string(), Value::Bool(v))
            })
            .collect();
    }
}

fn ca_is_secret(ca: &str) -> bool {
    ca.contains("PRIVATE KEY")
}

/// Replaces secrets in canonical content by [`MASK`].
fn mask_secrets(content: &mut Value) {
    if let Some(sasl) = content
        .get_mut("sasl_config")
        .and_then(Value::as_object_mut)
    {
        for key in ["sasl_password", "ssl_ca_content"] {
            if let Some(Value::String(s)) = sasl.get_mut(key) {
                let secret = if key == "sasl_password" {
                    !s.is_empty()
                } else {
                    ca_is_secret(s)
                };
                if secret {
                    *s = MASK.to_string();
                }
            }
        }
    }
}

/// On update: a secret sent back as [`MASK`] means "keep the stored one".
fn keep_masked_secrets(new: &mut Map<String, Value>, previous: &Map<String, Value>) {
    let Some(sasl) = new.get_mut("sasl_config").and_then(Value::as_object_mut) else {
        return;
    };
    for key in ["sasl_password", "ssl_ca_content"] {
        if sasl.get(key).and_then(Value::as_str) == Some(MASK) {
            if let Some(old) = previous.get("sasl_config").and_then(|s| s.get(key)) {
                sasl.insert(key.to_string(), old.clone());
            }
        }
    }
}
