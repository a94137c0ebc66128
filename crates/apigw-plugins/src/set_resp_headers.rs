//! set_resp_headers: HTTP response header management
//! (`guide-policy_http_response_header_management.rst`, SPEC §2).
//!
//! ```json
//! {"response_headers": [{"name": "x-demo", "value": "sss", "action": "append"}]}
//! ```

use crate::common::{null_default, CONTEXT_VARS};
use crate::registry::{max_items, ContentModel};
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};

/// Most headers in one plug-in.
pub const MAX_HEADERS: usize = 10;
/// Longest header value.
pub const MAX_VALUE_CHARS: usize = 255;

/// `SetRespHeadersContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The headers to manage, at most 10, names unique (case-insensitively).
    #[serde(default, deserialize_with = "null_default")]
    pub response_headers: Vec<HeaderPolicy>,
}

/// What to do with one response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace every header of that name with ours (add it when absent).
    Override,
    /// Join existing values and ours with `,` (add it when absent).
    Append,
    /// Remove every header of that name.
    Delete,
    /// Leave an existing header alone; add ours when absent.
    Skip,
    /// Add ours as another header line, whatever exists.
    Add,
}

impl Action {
    /// Parses an action name, case-insensitively.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "override" => Action::Override,
            "append" => Action::Append,
            "delete" => Action::Delete,
            "skip" => Action::Skip,
            "add" => Action::Add,
            _ => return None,
        })
    }
}

/// Where the value of a header comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// `value` is the literal header value.
    #[default]
    CustomValue,
    /// `value` names a `$context` variable, resolved per request (only `add`/`append`).
    SystemParameter,
}

/// One managed header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderPolicy {
    /// Header name, 1..32 characters: letters, digits and `-`, starting with a letter;
    /// case-insensitive. `X-Apig-*`, `X-Request-Id` and CORS headers are protected.
    pub name: String,
    /// The value, ≤ 255 characters (ignored by `delete`).
    #[serde(default)]
    pub value: String,
    /// `custom_value` (default) or `system_parameter`.
    #[serde(default)]
    pub value_type: ValueType,
    /// `override`, `append`, `delete`, `skip` or `add`, case-insensitive; stored lowercase.
    pub action: String,
}

/// Whether a response header may not be changed by this plug-in.
pub fn is_protected(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("x-apig-") || n == "x-request-id" || n.starts_with("access-control-")
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        max_items(
            &self.response_headers,
            MAX_HEADERS,
            "response_headers",
            &mut errs,
        );
        for (i, h) in self.response_headers.iter().enumerate() {
            let f = format!("response_headers[{i}]");
            let name_ok = h.name.chars().count() <= 32
                && h.name.starts_with(|c: char| c.is_ascii_alphabetic())
                && h.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            errs.check(
                name_ok,
                format!("{f}.name"),
                "1..32 letters, digits or '-', starting with a letter",
            );
            errs.check(
                !is_protected(&h.name),
                format!("{f}.name"),
                "X-Apig-*, X-Request-Id and CORS headers cannot be changed",
            );
            if self.response_headers[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&h.name))
            {
                errs.add(format!("{f}.name"), "duplicate header name");
            }
            errs.len(&h.value, 0, MAX_VALUE_CHARS, &format!("{f}.value"));
            errs.check(
                !h.value.contains(['\r', '\n', '\0']),
                format!("{f}.value"),
                "must not contain CR, LF or NUL",
            );
            let action = Action::parse(&h.action);
            errs.check(
                action.is_some(),
                format!("{f}.action"),
                "must be override, append, delete, skip or add",
            );
            if h.value_type == ValueType::SystemParameter {
                errs.check(
                    matches!(action, Some(Action::Add | Action::Append) | None),
                    format!("{f}.action"),
                    "a system_parameter value only works with add or append",
                );
                errs.check(
                    CONTEXT_VARS.contains(&h.value.as_str()),
                    format!("{f}.value"),
                    format!("must be one of {}", CONTEXT_VARS.join(", ")),
                );
            }
        }
        errs.0
    }

    fn canonicalize(&mut self) {
        for h in &mut self.response_headers {
            h.action = h.action.to_ascii_lowercase();
        }
    }
}
