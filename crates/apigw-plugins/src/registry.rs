//! The entry point for `plugin_content`: decoding the JSON string, validating it against its
//! type's model, producing the canonical stored form, and showing it in responses (secrets
//! masked, fields in the family's names).

use apigw_model::field::Errors;
use apigw_model::plugin::MAX_CONTENT_CHARS;
use apigw_model::{FieldError, PluginType};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::engine::{self, ContentHook};
use crate::naming::{self, Naming};

/// The field name content errors are reported under.
pub const FIELD: &str = "plugin_content";
/// What a secret looks like in a response; sending it back on update keeps the stored secret.
pub const MASK: &str = "******";

/// The most plug-ins of a type one instance may have, where APIG limits it (APIG.3100; five
/// kafka_log plug-ins).
pub fn max_per_instance(plugin_type: PluginType) -> Option<u64> {
    engine::max_per_instance(plugin_type)
}

/// Whether a plug-in of `plugin_type` may be bound to an API whose backend is MOCK.
pub fn binds_to_mock(plugin_type: PluginType) -> bool {
    engine::binds_to_mock(plugin_type)
}

/// A plug-in content model: deserialized strictly, then checked as a whole.
pub trait ContentModel: DeserializeOwned + Serialize + schemars::JsonSchema {
    /// Every problem of the decoded content, each naming its field (relative to the content).
    fn validate(&self) -> Vec<FieldError>;
    /// Rewrites valid content into its stored form (lowercase enums and the like).
    fn canonicalize(&mut self) {}
    /// Replaces the secrets of canonical content by [`MASK`].
    fn mask_secrets(_content: &mut Value) {}
    /// Puts the `previous` content's secrets where the new content sends [`MASK`] back.
    fn keep_masked_secrets(
        _new: &mut serde_json::Map<String, Value>,
        _previous: &serde_json::Map<String, Value>,
    ) {
    }
}

/// Decodes the `plugin_content` string into a JSON object.
///
/// The APIG pages' own examples escape the content one level too deep
/// (`{\"response_headers\":...}`): when the string is not a JSON object but decoding it once
/// more as a JSON string literal yields one, that object is used (SPEC §1.3).
pub fn decode(content: &str) -> Result<serde_json::Map<String, Value>, FieldError> {
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(FieldError::new(
            FIELD,
            format!("longer than {MAX_CONTENT_CHARS} characters"),
        ));
    }
    let not_object = || FieldError::new(FIELD, "must be a JSON object encoded as a string");
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(m)) => return Ok(m),
        Ok(Value::String(inner)) => {
            return match serde_json::from_str::<Value>(&inner) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(not_object()),
            }
        }
        Ok(_) => return Err(not_object()),
        Err(_) => {}
    }
    let unescaped: String =
        serde_json::from_str(&format!("\"{content}\"")).map_err(|_| not_object())?;
    match serde_json::from_str::<Value>(&unescaped) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(not_object()),
    }
}

pub(crate) fn check<M: ContentModel>(content: Value) -> Result<Value, Vec<FieldError>> {
    let mut model: M = serde_path_to_error::deserialize(content).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            FIELD.to_string()
        } else {
            format!("{FIELD}.{path}")
        };
        vec![FieldError::new(field, e.into_inner().to_string())]
    })?;
    let errs = model.validate();
    if !errs.is_empty() {
        return Err(errs.into_iter().map(|e| e.within(FIELD)).collect());
    }
    model.canonicalize();
    Ok(serde_json::to_value(&model).expect("content models serialize"))
}

/// Validates decoded content for `plugin_type`; returns the canonical object (APIG field names,
/// defaults filled in). Fields may come in either family's names ([`naming`]).
pub fn validate(plugin_type: PluginType, mut content: Value) -> Result<Value, Vec<FieldError>> {
    if let Value::Object(map) = &mut content {
        naming::to_apig(plugin_type, map).map_err(|errs| {
            errs.into_iter()
                .map(|e| e.within(FIELD))
                .collect::<Vec<_>>()
        })?;
    }
    engine::check_content(plugin_type, content)
}

/// Decodes and validates a `plugin_content` string; returns the canonical JSON text to store.
/// `previous` is the stored canonical content on update: masked secrets in the new content
/// are replaced by the stored ones.
pub fn canonical_content(
    plugin_type: PluginType,
    content: &str,
    previous: Option<&str>,
) -> Result<String, Vec<FieldError>> {
    let mut map = decode(content).map_err(|e| vec![e])?;
    if let Some(Ok(Value::Object(prev))) = previous.map(serde_json::from_str::<Value>) {
        struct Keep<'a>(
            &'a mut serde_json::Map<String, Value>,
            &'a serde_json::Map<String, Value>,
        );
        impl ContentHook<()> for Keep<'_> {
            fn run<M: ContentModel>(self) {
                M::keep_masked_secrets(self.0, self.1)
            }
        }
        engine::with_model(plugin_type, Keep(&mut map, &prev));
    }
    let canonical = validate(plugin_type, Value::Object(map))?;
    Ok(canonical.to_string())
}

/// The content as shown in the responses of the API family that uses `naming`: secrets
/// replaced by [`MASK`], fields in that family's names.
pub fn shown_content(plugin_type: PluginType, canonical: &str, naming: Naming) -> String {
    let masked = masked_content(plugin_type, canonical);
    if naming == Naming::Apig {
        return masked;
    }
    match serde_json::from_str::<Value>(&masked) {
        Ok(mut v) => {
            naming::show(plugin_type, &mut v, naming);
            v.to_string()
        }
        Err(_) => masked,
    }
}

/// The content with secrets replaced by [`MASK`], in APIG's names.
pub fn masked_content(plugin_type: PluginType, canonical: &str) -> String {
    struct Mask<'a>(&'a mut Value);
    impl ContentHook<()> for Mask<'_> {
        fn run<M: ContentModel>(self) {
            M::mask_secrets(self.0)
        }
    }
    match serde_json::from_str::<Value>(canonical) {
        Ok(mut v) => {
            engine::with_model(plugin_type, Mask(&mut v));
            v.to_string()
        }
        Err(_) => canonical.to_string(),
    }
}

/// `plugin_type`'s content model as a JSON Schema (draft 2020-12): the fields in APIG's names,
/// their types, defaults and the model's doc comments as descriptions. The console builds its
/// forms from it.
pub fn content_schema(plugin_type: PluginType) -> Value {
    struct Schema;
    impl ContentHook<Value> for Schema {
        fn run<M: ContentModel>(self) -> Value {
            schemars::schema_for!(M).to_value()
        }
    }
    engine::with_model(plugin_type, Schema)
}

/// Builds the running instance of validated canonical content. Content that no longer
/// validates (stored by an older version, say) is an error, and the caller keeps it unbound.
pub fn build(
    plugin_type: PluginType,
    plugin_id: &str,
    canonical: &str,
    ctx: &crate::chain::BuildCtx,
) -> Result<crate::chain::Instance, String> {
    engine::build_instance(plugin_type, plugin_id, canonical, ctx)
}

/// Adds `FieldError`s for a list longer than `max`.
pub(crate) fn max_items<T>(items: &[T], max: usize, field: &str, errs: &mut Errors) {
    errs.check(items.len() <= max, field, format!("at most {max} items"));
}
