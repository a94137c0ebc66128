//! The field names of `plugin_content` on each API family, in one table.
//!
//! Content is stored once, in APIG's names (the canonical form the content models serialize).
//! ROMA Connect's API (`/v2/{project_id}/apic/...`) names six third_auth fields its own way and
//! answers with them (the ROMA CreatePlugin page, response example 6; SPEC §13):
//!
//! | APIG (stored, answered under `/apigw/`) | ROMA (answered under `/apic/`) |
//! |---|---|
//! | `carry_path_enabled` | `carry_path` |
//! | `return_resp_body_enabled` | `return_resp_body` |
//! | `simple_auth_mode_enabled` | `simple_auth_mode` |
//! | `rule_enabled` | `rule_switch` |
//! | `carry_body.enabled` | `carry_body.switch` |
//! | `auth_request.vpc_channel_enabled` | `auth_request.vpc_channel_enable` |
//!
//! Both families answer `identities.queries`. On input every name in the table, and the input-only
//! aliases `identities.query`, `carry_resp_header` and `auth_downgrade_enable` (spellings the
//! pages' examples and older SDK models use), is accepted on either family and renamed to APIG's
//! name before validation, so a body copied from either page works on either path.

use apigw_model::{FieldError, PluginType};
use serde_json::{Map, Value};

/// Whose field names a content is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// APIG's names: the stored form, answered under `/apigw/`.
    Apig,
    /// ROMA Connect's names, answered under `/apic/`.
    Roma,
}

/// A field with another name than APIG's.
#[derive(Debug)]
struct Alias {
    /// The object holding the field, as keys from the content's root (empty: the root).
    within: &'static [&'static str],
    /// APIG's name, the stored one.
    apig: &'static str,
    /// The other name, accepted on input.
    other: &'static str,
    /// Whether ROMA answers with `other` (else it is an input-only spelling).
    roma: bool,
}

const fn alias(
    within: &'static [&'static str],
    apig: &'static str,
    other: &'static str,
    roma: bool,
) -> Alias {
    Alias {
        within,
        apig,
        other,
        roma,
    }
}

const THIRD_AUTH: &[Alias] = &[
    alias(&[], "carry_path_enabled", "carry_path", true),
    alias(&[], "return_resp_body_enabled", "return_resp_body", true),
    alias(&[], "simple_auth_mode_enabled", "simple_auth_mode", true),
    alias(&[], "rule_enabled", "rule_switch", true),
    alias(&["carry_body"], "enabled", "switch", true),
    alias(
        &["auth_request"],
        "vpc_channel_enabled",
        "vpc_channel_enable",
        true,
    ),
    alias(&["identities"], "queries", "query", false),
    alias(&[], "carry_resp_headers", "carry_resp_header", false),
    alias(
        &[],
        "auth_downgrade_enabled",
        "auth_downgrade_enable",
        false,
    ),
];

/// The fields of `plugin_type` that have other names.
fn aliases(plugin_type: PluginType) -> &'static [Alias] {
    match plugin_type {
        PluginType::ThirdAuth => THIRD_AUTH,
        // The other types have the same names on both families.
        _ => &[],
    }
}

/// The object at `within` below `root`, when there is one.
fn object_at<'a>(
    root: &'a mut Map<String, Value>,
    within: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    within
        .iter()
        .try_fold(root, |m, k| m.get_mut(*k).and_then(Value::as_object_mut))
}

/// Renames the key `from` of `m` to `to` where it stands (the answer keeps the field order).
fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if m.contains_key(from) {
        *m = std::mem::take(m)
            .into_iter()
            .map(|(k, v)| {
                if k == from {
                    (to.to_string(), v)
                } else {
                    (k, v)
                }
            })
            .collect();
    }
}

/// Renames every other name in decoded content to APIG's, before validation. A field sent under
/// two names is an error naming the other one (relative to the content).
pub fn to_apig(
    plugin_type: PluginType,
    content: &mut Map<String, Value>,
) -> Result<(), Vec<FieldError>> {
    let mut errs = Vec::new();
    for a in aliases(plugin_type) {
        let Some(m) = object_at(content, a.within) else {
            continue;
        };
        if !m.contains_key(a.other) {
            continue;
        }
        if m.contains_key(a.apig) {
            let at: Vec<&str> = a.within.iter().copied().chain([a.other]).collect();
            errs.push(FieldError::new(
                at.join("."),
                format!(
                    "duplicate field `{}` (`{}` is its other name)",
                    a.apig, a.other
                ),
            ));
        } else {
            rename(m, a.other, a.apig);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Renames stored (APIG) names to those of `naming`, for an answer.
pub fn show(plugin_type: PluginType, content: &mut Value, naming: Naming) {
    let (Naming::Roma, Some(root)) = (naming, content.as_object_mut()) else {
        return;
    };
    for a in aliases(plugin_type).iter().filter(|a| a.roma) {
        if let Some(m) = object_at(root, a.within) {
            rename(m, a.apig, a.other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn roma_names_come_in_as_apig_names_in_place() {
        let mut c = map(
            json!({"carry_path": true, "auth_request": {"vpc_channel_enable": false},
            "carry_body": {"switch": true}, "identities": {"query": []}, "rule_switch": false}),
        );
        to_apig(PluginType::ThirdAuth, &mut c).unwrap();
        assert_eq!(
            Value::Object(c),
            json!({"carry_path_enabled": true, "auth_request": {"vpc_channel_enabled": false},
                "carry_body": {"enabled": true}, "identities": {"queries": []}, "rule_enabled": false})
        );
    }

    #[test]
    fn a_field_under_both_names_is_named_in_the_error() {
        let mut c = map(json!({"carry_body": {"switch": true, "enabled": true}}));
        let e = to_apig(PluginType::ThirdAuth, &mut c).unwrap_err();
        assert_eq!(e[0].field, "carry_body.switch");
        assert!(e[0].reason.contains("duplicate field `enabled`"), "{e:?}");
    }

    #[test]
    fn roma_answers_roma_names_but_queries_and_apig_answers_as_stored() {
        let stored = json!({"carry_path_enabled": true, "carry_body": {"enabled": true},
            "identities": {"queries": null}, "carry_resp_headers": ["x"]});
        let mut apig = stored.clone();
        show(PluginType::ThirdAuth, &mut apig, Naming::Apig);
        assert_eq!(apig, stored);
        let mut roma = stored.clone();
        show(PluginType::ThirdAuth, &mut roma, Naming::Roma);
        assert_eq!(
            roma.to_string(),
            json!({"carry_path": true, "carry_body": {"switch": true},
                "identities": {"queries": null}, "carry_resp_headers": ["x"]})
            .to_string()
        );
    }

    #[test]
    fn other_types_have_no_other_names() {
        let mut c = map(json!({"switch": 1}));
        to_apig(PluginType::Cors, &mut c).unwrap();
        assert_eq!(Value::Object(c), json!({"switch": 1}));
    }
}
