//! A plug-in as the control plane stores it: the envelope fields of APIG's `PluginInfo`. The
//! type-specific `plugin_content` is validated by `apigw-plugins`, which also builds the running
//! plug-in from it, so that whatever the API accepts is what the data plane runs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::field::Errors;
use crate::FieldError;

/// The eight plug-in types of APIG. A closed list: each has one file in `apigw-plugins`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginType {
    Cors,
    SetRespHeaders,
    RateLimit,
    KafkaLog,
    Breaker,
    ThirdAuth,
    ProxyMirror,
    ProxyCache,
}

impl PluginType {
    pub const ALL: [PluginType; 8] = [
        PluginType::Cors,
        PluginType::SetRespHeaders,
        PluginType::RateLimit,
        PluginType::KafkaLog,
        PluginType::Breaker,
        PluginType::ThirdAuth,
        PluginType::ProxyMirror,
        PluginType::ProxyCache,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PluginType::Cors => "cors",
            PluginType::SetRespHeaders => "set_resp_headers",
            PluginType::RateLimit => "rate_limit",
            PluginType::KafkaLog => "kafka_log",
            PluginType::Breaker => "breaker",
            PluginType::ThirdAuth => "third_auth",
            PluginType::ProxyMirror => "proxy_mirror",
            PluginType::ProxyCache => "proxy_cache",
        }
    }
}

impl fmt::Display for PluginType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PluginType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

/// Who a plug-in is visible to: `global` (the whole instance) or `app` (ROMA integration apps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginScope {
    Global,
    App,
}

impl PluginScope {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginScope::Global => "global",
            PluginScope::App => "app",
        }
    }
}

impl fmt::Display for PluginScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PluginScope {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "global" => Ok(PluginScope::Global),
            "app" => Ok(PluginScope::App),
            _ => Err(()),
        }
    }
}

/// A stored plug-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// 32-hex id, assigned on create.
    pub id: String,
    /// The instance the plug-in belongs to (one store may serve several instances).
    pub instance_id: String,
    /// Unique per instance.
    pub name: String,
    pub plugin_type: PluginType,
    pub scope: PluginScope,
    /// Canonical JSON of the validated content, secrets included (masked only in responses).
    pub content: String,
    /// Free text, at most 255 characters.
    pub remark: String,
    /// ROMA Connect integration app the plug-in belongs to (`/apic/` paths only).
    pub roma_app_id: Option<String>,
    /// Name of that ROMA app, kept as given.
    pub roma_app_name: Option<String>,
    /// Milliseconds since the epoch.
    pub create_time: i64,
    /// Milliseconds since the epoch; changes on every update.
    pub update_time: i64,
}

/// Largest `plugin_content`, in characters.
pub const MAX_CONTENT_CHARS: usize = 65535;
/// Largest `remark`, in characters.
pub const MAX_REMARK_CHARS: usize = 255;

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Checks a `plugin_name`: 3..255 characters, starting with a letter or a CJK character, then
/// letters, digits, CJK characters, `_`, `-`, `.` or spaces, with no space at either end.
/// (APIG's page says 3..255 and letters/digits/`_`/`-`; its own examples contain spaces and
/// dots, which SPEC §1.3 allows.)
pub fn validate_plugin_name(name: &str, field: &str) -> Result<(), FieldError> {
    let mut errs = Errors::default();
    errs.len(name, 3, 255, field);
    if errs.0.is_empty() {
        let first = name.chars().next().unwrap_or(' ');
        let first_ok = first.is_ascii_alphabetic() || is_cjk(first);
        let rest_ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || is_cjk(c) || matches!(c, '_' | '-' | '.' | ' '));
        let trimmed = !name.ends_with(' ');
        errs.check(
            first_ok && rest_ok && trimmed,
            field,
            "must start with a letter and contain only letters, digits, '_', '-', '.' and inner spaces",
        );
    }
    errs.into_result().map_err(|mut v| v.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_types_round_trip_their_apig_names() {
        for t in PluginType::ALL {
            assert_eq!(t.as_str().parse::<PluginType>(), Ok(t));
        }
        assert!("CORS".parse::<PluginType>().is_err());
    }

    #[test]
    fn plugin_names_follow_the_seed_rules() {
        for ok in [
            "CORS",
            "HTTP Response Header Plug-in",
            "a.b_c-d",
            "插件名称",
            "abc",
        ] {
            assert!(validate_plugin_name(ok, "plugin_name").is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "1abc",
            "_abc",
            "abc ",
            " abc",
            "abc$",
            "ab\ncd",
            &"a".repeat(256),
        ] {
            let err = validate_plugin_name(bad, "plugin_name").unwrap_err();
            assert_eq!(err.field, "plugin_name", "{bad}");
        }
        assert!(validate_plugin_name(&"a".repeat(255), "plugin_name").is_ok());
    }
}
