//! Reading and writing OpenAPI documents: JSON or YAML, Swagger 2.0 or OpenAPI 3.0, and the
//! few places where the two versions put the same thing differently.

use crate::error::ApiError;
use serde_json::{Map, Value};

/// The version of an OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// Swagger 2.0.
    V2,
    /// OpenAPI 3.0.x.
    V3,
}

impl Version {
    /// `oas_version` of the export call: `2.0` or `3.0`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "2.0" => Some(Version::V2),
            "3.0" => Some(Version::V3),
            _ => None,
        }
    }

    /// The JSON pointer prefix of reusable parameters.
    fn parameters_ref(self) -> &'static str {
        match self {
            Version::V2 => "#/parameters/",
            Version::V3 => "#/components/parameters/",
        }
    }
}

/// The output formats of the export call (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Yaml,
}

impl Format {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Yaml => "application/x-yaml",
        }
    }

    pub(crate) fn write(self, doc: &Value) -> Result<String, ApiError> {
        match self {
            Format::Json => serde_json::to_string_pretty(doc),
            Format::Yaml => return serde_yaml::to_string(doc).map_err(internal),
        }
        .map_err(internal)
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// A parsed document: JSON when it starts like JSON, YAML otherwise (YAML 1.2 is a superset of
/// JSON, but serde_json's messages name the line and column better).
pub(crate) fn read(bytes: &[u8]) -> Result<(Version, Map<String, Value>), ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::invalid("file_name", "the file is not UTF-8 text"))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let value: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed)
            .map_err(|e| ApiError::invalid("file_name", format!("not valid JSON: {e}")))?
    } else {
        serde_yaml::from_str(trimmed)
            .map_err(|e| ApiError::invalid("file_name", format!("not valid YAML: {e}")))?
    };
    let Value::Object(map) = value else {
        return Err(ApiError::invalid(
            "file_name",
            "the document must be an object (a Swagger 2.0 or OpenAPI 3.0 document)",
        ));
    };
    let version = match (map.get("swagger"), map.get("openapi")) {
        (Some(Value::String(s)), None) if s == "2.0" => Version::V2,
        (None, Some(Value::String(s))) if s.starts_with("3.0") => Version::V3,
        _ => {
            return Err(ApiError::invalid(
                "swagger",
                "the document must say swagger: \"2.0\" or openapi: \"3.0.x\"",
            ))
        }
    };
    match map.get("paths") {
        Some(Value::Object(_)) => {}
        _ => return Err(ApiError::invalid("paths", "must be an object")),
    }
    Ok((version, map))
}

/// The parameter `p`, or the one it refers to (`$ref` to the document's reusable parameters).
pub(crate) fn resolve<'d>(
    doc: &'d Map<String, Value>,
    version: Version,
    p: &'d Value,
) -> Result<&'d Value, String> {
    let Some(Value::String(r)) = p.get("$ref") else {
        return Ok(p);
    };
    let name = r
        .strip_prefix(version.parameters_ref())
        .ok_or_else(|| format!("$ref {r} must point to {}", version.parameters_ref()))?;
    let table = match version {
        Version::V2 => doc.get("parameters"),
        Version::V3 => doc.get("components").and_then(|c| c.get("parameters")),
    };
    table
        .and_then(|t| t.get(name))
        .ok_or_else(|| format!("$ref {r} names no parameter of the document"))
}

/// The HTTP methods of a path item, in the order the document lists them when exported; ANY is
/// `x-apigateway-any-method`.
pub(crate) const METHOD_KEYS: &[(&str, &str)] = &[
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-apigateway-any-method", "ANY"),
];

/// The security schemes of a document (`securityDefinitions` / `components.securitySchemes`).
pub(crate) fn security_schemes(doc: &Map<String, Value>, version: Version) -> Option<&Value> {
    match version {
        Version::V2 => doc.get("securityDefinitions"),
        Version::V3 => doc.get("components").and_then(|c| c.get("securitySchemes")),
    }
}
