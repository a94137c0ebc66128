//! proxy_cache's content model (`ProxyCacheContent`) and its validation. The ranges APIG does
//! not publish are ours (`docs/proxy_cache.md`).

use crate::common::null_default;
use crate::registry::ContentModel;
use apigw_model::field::Errors;
use apigw_model::FieldError;
use serde::{Deserialize, Serialize};

/// The `$context` variables a key may use.
pub const SYSTEM_PARAMS: [&str; 10] = [
    "$context.sourceIp",
    "$context.stage",
    "$context.apiId",
    "$context.appId",
    "$context.requestId",
    "$context.serverAddr",
    "$context.serverName",
    "$context.handleTime",
    "$context.apiName",
    "$context.appName",
];
/// Most query parameters or headers in the key (ours).
pub const MAX_KEY_NAMES: usize = 20;
/// Longest query parameter or header name in the key, and longest cacheable header (ours).
pub const MAX_NAME_CHARS: usize = 64;
/// Longest ttl, seconds (ours: 200 hours).
pub const MAX_TTL_SECS: u64 = 720_000;
/// Most status/ttl rules (ours).
pub const MAX_RULES: usize = 20;
/// Most cacheable headers (APIG).
pub const MAX_CACHEABLE_HEADERS: usize = 20;
/// Most app ids for `client_cache_control.mode` `apps` (ours).
pub const MAX_APPS: usize = 100;

/// `ProxyCacheContent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What splits the cache besides the API, the environment and the path. Required, with
    /// at least one list non-empty.
    #[serde(default, deserialize_with = "null_default")]
    pub cache_key: CacheKey,
    /// Which backend statuses are kept, and for how long.
    #[serde(default, deserialize_with = "null_default")]
    pub cache_http_status_and_ttl: Vec<StatusTtl>,
    /// Which callers' own `Cache-Control` is obeyed.
    #[serde(default, deserialize_with = "null_default")]
    pub client_cache_control: ClientCacheControl,
    /// Response headers kept with the body besides `Content-Type`, `Content-Encoding` and
    /// `Content-Language`: ≤ 20 names of 1–64 characters, never `x-apig-*` or `x-request-id`
    /// (stored lower case).
    #[serde(default, deserialize_with = "null_default")]
    pub cacheable_headers: Vec<String>,
}

/// `cache_key`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheKey {
    /// `$context` variables, from [`SYSTEM_PARAMS`].
    #[serde(default, deserialize_with = "null_default")]
    pub system_params: Vec<String>,
    /// Query parameter names (compared as they are).
    #[serde(default, deserialize_with = "null_default")]
    pub parameters: Vec<String>,
    /// Request header names (stored lower case).
    #[serde(default, deserialize_with = "null_default")]
    pub headers: Vec<String>,
}

/// One entry of `cache_http_status_and_ttl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusTtl {
    /// Backend statuses, 200–599; a status appears in one entry only.
    pub http_status: Vec<u16>,
    /// Seconds an answer with one of them is kept, 1–720000 (ours), unless the backend's
    /// `Cache-Control` says otherwise.
    pub ttl: u64,
}

/// `client_cache_control`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCacheControl {
    /// `off` (default: no caller's `Cache-Control` is obeyed), `all`, or `apps` (the apps in
    /// `datas`).
    #[serde(default = "default_mode")]
    pub mode: String,
    /// The app ids for `apps` (1–100 of them); empty otherwise.
    #[serde(default, deserialize_with = "null_default")]
    pub datas: Vec<String>,
}

fn default_mode() -> String {
    "off".into()
}

impl Default for ClientCacheControl {
    fn default() -> Self {
        Self {
            mode: default_mode(),
            datas: Vec::new(),
        }
    }
}

/// A header name as HTTP allows it (a token).
fn header_name(name: &str) -> bool {
    http::HeaderName::from_bytes(name.as_bytes()).is_ok()
}

/// Checks a list of names: how many, each one's length and form, no repeats.
fn names(
    errs: &mut Errors,
    list: &[String],
    max: usize,
    field: &str,
    valid: impl Fn(&str) -> bool,
    what: &str,
) {
    errs.check(list.len() <= max, field, format!("at most {max} names"));
    for (i, n) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        errs.len(n, 1, MAX_NAME_CHARS, &f);
        errs.check(n.is_empty() || valid(n), &f, what);
        errs.check(
            !list[..i].iter().any(|m| m.eq_ignore_ascii_case(n)),
            &f,
            "is listed twice",
        );
    }
}

impl ContentModel for Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Errors::default();
        let k = &self.cache_key;
        errs.check(
            !(k.system_params.is_empty() && k.parameters.is_empty() && k.headers.is_empty()),
            "cache_key",
            "must name at least one of system_params, parameters, headers",
        );
        for (i, p) in k.system_params.iter().enumerate() {
            errs.check(
                SYSTEM_PARAMS.contains(&p.as_str()),
                format!("cache_key.system_params[{i}]"),
                format!("must be one of {}", SYSTEM_PARAMS.join(", ")),
            );
            errs.check(
                !k.system_params[..i].contains(p),
                format!("cache_key.system_params[{i}]"),
                "is listed twice",
            );
        }
        names(
            &mut errs,
            &k.parameters,
            MAX_KEY_NAMES,
            "cache_key.parameters",
            |n| !n.contains(['&', '=', '#']),
            "must not contain '&', '=' or '#'",
        );
        names(
            &mut errs,
            &k.headers,
            MAX_KEY_NAMES,
            "cache_key.headers",
            header_name,
            "must be a header name",
        );
        errs.check(
            self.cache_http_status_and_ttl.len() <= MAX_RULES,
            "cache_http_status_and_ttl",
            format!("at most {MAX_RULES} entries"),
        );
        let mut seen = Vec::new();
        for (i, r) in self.cache_http_status_and_ttl.iter().enumerate() {
            let f = format!("cache_http_status_and_ttl[{i}]");
            errs.check(
                !r.http_status.is_empty(),
                format!("{f}.http_status"),
                "must list at least one status",
            );
            for (j, s) in r.http_status.iter().enumerate() {
                let g = format!("{f}.http_status[{j}]");
                errs.range(*s, 200, 599, &g);
                errs.check(!seen.contains(s), g, "has a ttl already");
                seen.push(*s);
            }
            errs.range(r.ttl, 1, MAX_TTL_SECS, &format!("{f}.ttl"));
        }
        let c = &self.client_cache_control;
        let mode = c.mode.to_ascii_lowercase();
        errs.check(
            ["off", "all", "apps"].contains(&mode.as_str()),
            "client_cache_control.mode",
            "must be off, all or apps",
        );
        if mode == "apps" {
            errs.check(
                (1..=MAX_APPS).contains(&c.datas.len()),
                "client_cache_control.datas",
                format!("must list 1 to {MAX_APPS} app ids for mode apps"),
            );
        } else {
            errs.check(
                c.datas.is_empty(),
                "client_cache_control.datas",
                "is only for mode apps",
            );
        }
        for (i, d) in c.datas.iter().enumerate() {
            errs.len(
                d,
                1,
                MAX_NAME_CHARS,
                &format!("client_cache_control.datas[{i}]"),
            );
        }
        names(
            &mut errs,
            &self.cacheable_headers,
            MAX_CACHEABLE_HEADERS,
            "cacheable_headers",
            |n| {
                let l = n.to_ascii_lowercase();
                header_name(n) && !l.starts_with("x-apig-") && l != "x-request-id"
            },
            "must be a header name, not x-apig-* or x-request-id",
        );
        errs.0
    }

    fn canonicalize(&mut self) {
        self.client_cache_control.mode = self.client_cache_control.mode.to_ascii_lowercase();
        for h in self
            .cache_key
            .headers
            .iter_mut()
            .chain(self.cacheable_headers.iter_mut())
        {
            *h = h.to_ascii_lowercase();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::registry::validate;
    use apigw_model::PluginType;
    use serde_json::json;

    fn errors(content: serde_json::Value) -> Vec<String> {
        match validate(PluginType::ProxyCache, content) {
            Ok(_) => vec![],
            Err(e) => e.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn content_defaults_and_canonical_form() {
        let c = validate(
            PluginType::ProxyCache,
            json!({"cache_key": {"headers": ["X-Tenant"]},
                   "client_cache_control": {"mode": "ALL"}, "cacheable_headers": ["ETag"]}),
        )
        .unwrap();
        assert_eq!(
            c,
            json!({"cache_key": {"system_params": [], "parameters": [], "headers": ["x-tenant"]},
                   "cache_http_status_and_ttl": [],
                   "client_cache_control": {"mode": "all", "datas": []},
                   "cacheable_headers": ["etag"]})
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = json!({
            "cache_key": {"system_params": ["$context.sourceIp", "$context.nope", "$context.sourceIp"],
                          "parameters": ["a=b", ""], "headers": ["bad header", "X", "x"]},
            "cache_http_status_and_ttl": [{"http_status": [200, 199], "ttl": 0},
                                          {"http_status": [200], "ttl": 720001},
                                          {"http_status": [], "ttl": 5}],
            "client_cache_control": {"mode": "some", "datas": ["app"]},
            "cacheable_headers": ["X-Apig-Latency", "x-request-id", "ok"]
        });
        let mut got = errors(bad);
        got.sort();
        let mut want = vec![
            "plugin_content.cache_key.system_params[1]",
            "plugin_content.cache_key.system_params[2]",
            "plugin_content.cache_key.parameters[0]",
            "plugin_content.cache_key.parameters[1]",
            "plugin_content.cache_key.headers[0]",
            "plugin_content.cache_key.headers[2]",
            "plugin_content.cache_http_status_and_ttl[0].http_status[1]",
            "plugin_content.cache_http_status_and_ttl[0].ttl",
            "plugin_content.cache_http_status_and_ttl[1].http_status[0]",
            "plugin_content.cache_http_status_and_ttl[1].ttl",
            "plugin_content.cache_http_status_and_ttl[2].http_status",
            "plugin_content.client_cache_control.mode",
            "plugin_content.client_cache_control.datas",
            "plugin_content.cacheable_headers[0]",
            "plugin_content.cacheable_headers[1]",
        ];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(errors(json!({})), ["plugin_content.cache_key"]);
        assert_eq!(
            errors(json!({"cache_key": {}})),
            ["plugin_content.cache_key"]
        );
        assert_eq!(
            errors(
                json!({"cache_key": {"parameters": ["p"]}, "client_cache_control": {"mode": "apps"}})
            ),
            ["plugin_content.client_cache_control.datas"]
        );
        assert_eq!(
            errors(json!({"cache_key": {"parameters": ["p"]},
                          "cache_http_status_and_ttl": [{"http_status": ["200"], "ttl": 5}]})),
            ["plugin_content.cache_http_status_and_ttl[0].http_status[0]"]
        );
        assert_eq!(
            errors(json!({"cache_key": {"parameters": ["p"]}, "extra": 1})),
            ["plugin_content.extra"]
        );
        let many: Vec<String> = (0..21).map(|i| format!("h{i}")).collect();
        assert_eq!(
            errors(json!({"cache_key": {"parameters": ["p"]}, "cacheable_headers": many})),
            ["plugin_content.cacheable_headers"]
        );
        assert!(errors(json!({
            "cache_key": {"system_params": ["$context.appId", "$context.stage"], "parameters": ["q"]},
            "cache_http_status_and_ttl": [{"http_status": [200, 201], "ttl": 1},
                                          {"http_status": [404, 599], "ttl": 720000}],
            "client_cache_control": {"mode": "apps", "datas": ["app1", "app2"]},
            "cacheable_headers": ["ETag", "Last-Modified"]
        }))
        .is_empty());
    }
}
