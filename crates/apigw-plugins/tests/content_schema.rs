//! The content models as JSON Schemas (what the console builds its forms from).

use apigw_model::PluginType;
use apigw_plugins::registry::content_schema;
use serde_json::Value;

/// Every property of `schema` and of its `$defs`, as (path, property schema).
fn properties(schema: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut objects = vec![("".to_string(), schema.clone())];
    if let Some(defs) = schema["$defs"].as_object() {
        objects.extend(defs.iter().map(|(k, v)| (format!("$defs.{k}"), v.clone())));
    }
    for (at, object) in objects {
        if let Some(props) = object["properties"].as_object() {
            out.extend(props.iter().map(|(k, v)| (format!("{at}.{k}"), v.clone())));
        }
    }
    out
}

#[test]
fn every_plugin_type_has_an_object_schema_with_its_fields() {
    for t in PluginType::ALL {
        let s = content_schema(t);
        assert_eq!(s["type"], "object", "{t}");
        assert!(!properties(&s).is_empty(), "{t} has no fields");
    }
    let rate_limit = content_schema(PluginType::RateLimit);
    assert_eq!(rate_limit["properties"]["api_limit"]["type"], "integer");
    let headers = content_schema(PluginType::SetRespHeaders);
    assert_eq!(headers["properties"]["response_headers"]["type"], "array");
}

#[test]
fn every_field_has_help_from_the_model() {
    let mut missing = Vec::new();
    for t in PluginType::ALL {
        if std::env::var_os("APIGW_PRINT_SCHEMAS").is_some() {
            println!("{t}: {:#}", content_schema(t));
        }
        for (path, prop) in properties(&content_schema(t)) {
            if prop["description"].as_str().is_none_or(str::is_empty) {
                missing.push(format!("{t}{path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without a doc comment: {missing:?}"
    );
}
