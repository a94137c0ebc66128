//! cors: cross-origin resource sharing (`guide-policy_cors.rst`, SPEC §2).
//!
//! ```json
//! {"allow_origin": "*", "allow_methods": "GET,POST,PUT", "allow_headers": "Content-Type",
//!  "expose_headers": "X-Request-Id", "max_age": 172800, "allow_credentials": true}
//! ```

use crate::common::{check_csv, is_header_name};
use crate::registry::ContentModel;
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};

/// Methods `allow_methods` may list.
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];
/// Longest of the comma-separated string fields.
const MAX_LIST_CHARS: usize = 4096;

/// `CorsPluginContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Allowed origins, comma-separated, or `*`. With `*` and `allow_credentials` the request's
    /// origin is echoed (the seed's own example uses this combination).
    pub allow_origin: String,
    /// `Access-Control-Allow-Methods`: comma-separated methods, or `*`.
    #[serde(default)]
    pub allow_methods: String,
    /// `Access-Control-Allow-Headers`: comma-separated header names, or `*`.
    #[serde(default)]
    pub allow_headers: String,
    /// `Access-Control-Expose-Headers`: comma-separated header names, or `*`.
    #[serde(default)]
    pub expose_headers: String,
    /// `Access-Control-Max-Age` in seconds, ≥ 0 (APIG's page says ≤ 86400; its own example
    /// uses 172800, which SPEC §2 accepts).
    #[serde(default = "default_max_age")]
    pub max_age: i64,
    /// `Access-Control-Allow-Credentials`.
    #[serde(default)]
    pub allow_credentials: bool,
}

fn default_max_age() -> i64 {
    86400
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        errs.len(&self.allow_origin, 1, MAX_LIST_CHARS, "allow_origin");
        check_csv(
            &self.allow_origin,
            "allow_origin",
            |o| o == "*" || (!o.contains(char::is_whitespace) && o.len() <= 255),
            "an origin",
            &mut errs,
        );
        for (field, v) in [
            ("allow_methods", &self.allow_methods),
            ("allow_headers", &self.allow_headers),
            ("expose_headers", &self.expose_headers),
        ] {
            errs.len(v, 0, MAX_LIST_CHARS, field);
        }
        check_csv(
            &self.allow_methods,
            "allow_methods",
            |m| m == "*" || METHODS.contains(&m.to_ascii_uppercase().as_str()),
            "an HTTP method",
            &mut errs,
        );
        for (field, v) in [
            ("allow_headers", &self.allow_headers),
            ("expose_headers", &self.expose_headers),
        ] {
            check_csv(
                v,
                field,
                |h| h == "*" || is_header_name(h),
                "a header name",
                &mut errs,
            );
        }
        errs.range(self.max_age, 0, i64::from(i32::MAX), "max_age");
        errs.0
    }
}
