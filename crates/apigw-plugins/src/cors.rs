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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
        errs.check(
            self.allow_origin.is_empty() || !self.allow_origin.trim().is_empty(),
            "allow_origin",
            "must name at least one origin (or *)",
        );
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

// ---------------------------------------------------------------------------------------------
// Runtime

use crate::chain::{BuildCtx, RequestCtx};
use crate::engine::{Call, Decision, Flow, Io, Plugin, Reply, Step};
use crate::headers::{Headers, Touched};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, VARY,
};
use http::{HeaderValue, Method, StatusCode};

/// Which origins are allowed.
#[derive(Debug)]
enum Origins {
    /// `*`.
    Any,
    /// An exact list (compared byte for byte, as browsers send them).
    List(Vec<HeaderValue>),
}

/// A running cors plug-in: the header values prepared once, at build time.
#[derive(Debug)]
pub struct Cors {
    origins: Origins,
    methods: Option<HeaderValue>,
    /// `None`: no custom headers; `Some(None)`: `*` (echo what the browser asks for);
    /// `Some(Some(v))`: the configured list.
    headers: Option<Option<HeaderValue>>,
    expose: Option<HeaderValue>,
    max_age: HeaderValue,
    credentials: bool,
    /// `expose_headers` / `allow_methods` are `*`: with credentials a browser reads `*` as a
    /// name, so the answer lists the response's headers / echoes the method asked about.
    expose_all: bool,
    methods_all: bool,
}

fn csv_value(s: &str) -> Option<HeaderValue> {
    let joined = s
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    if joined.is_empty() {
        None
    } else {
        HeaderValue::from_str(&joined).ok()
    }
}

/// The names of a response's headers, for `Access-Control-Expose-Headers: *` with credentials
/// (`None` when there are none).
fn exposed_names(headers: &Headers) -> Option<HeaderValue> {
    let names: Vec<&str> = headers.names().map(|k| k.as_str()).collect();
    (!names.is_empty())
        .then(|| HeaderValue::from_str(&names.join(",")).ok())
        .flatten()
}

impl Cors {
    /// Builds the plug-in from validated content.
    pub fn new(c: &Config) -> Self {
        let origins = if c.allow_origin.split(',').any(|o| o.trim() == "*") {
            Origins::Any
        } else {
            Origins::List(
                c.allow_origin
                    .split(',')
                    .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
                    .collect(),
            )
        };
        let headers = match c.allow_headers.trim() {
            "" => None,
            "*" => Some(None),
            h => Some(csv_value(h)),
        };
        Self {
            origins,
            methods: csv_value(&c.allow_methods.to_ascii_uppercase()),
            headers,
            expose: csv_value(&c.expose_headers),
            max_age: HeaderValue::from(c.max_age),
            credentials: c.allow_credentials,
            expose_all: c.expose_headers.split(',').any(|h| h.trim() == "*"),
            methods_all: c.allow_methods.split(',').any(|m| m.trim() == "*"),
        }
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if allowed, and whether the answer
    /// depends on the origin (then `Vary: Origin` is due).
    fn allow(&self, origin: &HeaderValue) -> Option<(HeaderValue, bool)> {
        match &self.origins {
            // `*` with credentials is refused by browsers: echo the origin instead.
            Origins::Any if self.credentials => Some((origin.clone(), true)),
            Origins::Any => Some((HeaderValue::from_static("*"), false)),
            Origins::List(list) => list
                .iter()
                .any(|o| o == origin)
                .then(|| (origin.clone(), true)),
        }
    }

    fn vary(&self, headers: &mut Headers) {
        if !matches!(self.origins, Origins::Any) || self.credentials {
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
    }

    /// Answers a preflight (`OPTIONS` + `Origin` + `Access-Control-Request-Method`) without
    /// calling the backend; anything else continues.
    pub fn preflight(&self, method: &Method, req: &Headers, ctx: &RequestCtx) -> Flow {
        // A preflight is an OPTIONS with an Origin asking about a method; anything else is
        // not one (the method and origin are tested first: no header scan for other calls).
        let (Some(origin), true) = (
            &ctx.origin,
            method == Method::OPTIONS
                && req
                    .get(ACCESS_CONTROL_REQUEST_METHOD)
                    .is_some_and(|m| Method::from_bytes(m.as_bytes()).is_ok()),
        ) else {
            return Flow::Continue;
        };
        let mut h = Headers::with_capacity(7);
        self.vary(&mut h);
        if let Some((allow, _)) = self.allow(origin) {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
            // `*` with credentials: the method asked about (a literal `*` means nothing then).
            let methods = if self.methods_all && self.credentials {
                req.get(ACCESS_CONTROL_REQUEST_METHOD).cloned()
            } else {
                self.methods.clone()
            };
            if let Some(m) = methods {
                h.insert(ACCESS_CONTROL_ALLOW_METHODS, m);
            }
            match &self.headers {
                Some(Some(list)) => {
                    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, list.clone());
                }
                Some(None) => {
                    // `*`: echo what was asked (a literal `*` means nothing with credentials).
                    if let Some(asked) = &ctx.request_headers {
                        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
                        h.append(
                            VARY,
                            HeaderValue::from_static("Access-Control-Request-Headers"),
                        );
                    }
                }
                None => {}
            }
            h.insert(ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
            if self.credentials {
                h.insert(
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
        Flow::Respond(Reply {
            status: StatusCode::OK,
            headers: h,
            body: bytes::Bytes::new(),
            decision: Decision::Preflight,
        })
    }

    /// The response phase: the plug-in's CORS headers replace whatever the backend sent.
    pub fn apply(&self, headers: &mut Headers, ctx: &RequestCtx) {
        headers.retain(|k, _| !k.as_str().starts_with("access-control-"));
        // The answer depends on the origin even when none was sent: a cache must not hand
        // this one to a request that has one.
        self.vary(headers);
        let Some(origin) = &ctx.origin else { return };
        // No access-control-* header is left: appending adds each without looking for one.
        if let Some((allow, _)) = self.allow(origin) {
            // Read before ours are added: `*` with credentials names the response's own.
            let expose = if self.expose_all && self.credentials {
                exposed_names(headers)
            } else {
                self.expose.clone()
            };
            headers.append(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
            if self.credentials {
                headers.append(
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            if let Some(e) = expose {
                headers.append(ACCESS_CONTROL_EXPOSE_HEADERS, e);
            }
        }
    }
}

impl Plugin for Cors {
    const TYPE: apigw_model::PluginType = apigw_model::PluginType::Cors;
    type Config = Config;
    /// Whether the call was a preflight it answered (that answer carries its headers).
    type State = bool;
    const STEP: Option<Step> = Some(Step::Screened);
    const ANSWERS_PREFLIGHTS: bool = true;

    fn build(c: &Config, _: &str, _: &str, _: &BuildCtx) -> Result<Self, String> {
        Ok(Self::new(c))
    }

    async fn request<I: Io>(&self, answered: &mut bool, call: &mut Call<'_, I>) -> Flow {
        let flow = self.preflight(&call.head.method, &call.head.headers, call.ctx);
        *answered = matches!(flow, Flow::Respond(_));
        flow
    }

    /// The CORS headers it replaces; with `*` exposed and credentials, every name (it lists
    /// them). `Vary` is appended.
    fn touches_response_headers(&self) -> Touched {
        if self.expose_all && self.credentials {
            return Touched::All;
        }
        Touched::Named {
            names: Vec::new(),
            prefixes: vec!["access-control-"],
        }
    }

    /// `Vary` and the three `Access-Control-*` of an allowed origin.
    fn response_headers_added(&self) -> usize {
        4
    }

    fn response_head(&self, answered: &mut bool, headers: &mut Headers, ctx: &RequestCtx) {
        if !*answered {
            self.apply(headers, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderName;
    use std::net::Ipv4Addr;

    fn cors(v: serde_json::Value) -> Cors {
        Cors::new(&serde_json::from_value(v).unwrap())
    }

    fn ctx(method: Method, origin: Option<&str>) -> RequestCtx {
        let mut c = RequestCtx::new("r".into(), method, "/".into(), Ipv4Addr::LOCALHOST.into());
        c.origin = origin.map(|o| HeaderValue::from_str(o).unwrap());
        c.request_headers = Some(HeaderValue::from_static("x-a, x-b"));
        c
    }

    #[test]
    fn vary_origin_goes_out_even_without_an_origin_when_the_answer_depends_on_it() {
        let c = cors(serde_json::json!({"allow_origin": "https://a.com"}));
        let mut h = Headers::new();
        c.apply(&mut h, &ctx(Method::GET, None));
        assert_eq!(h[VARY], "Origin");
        assert!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }

    #[test]
    fn star_with_credentials_lists_the_exposed_headers_and_allows_the_asked_method() {
        // A browser reads `*` as a name when credentials are sent.
        let c = cors(
            serde_json::json!({"allow_origin": "*", "allow_methods": "*",
            "expose_headers": "*", "allow_credentials": true}),
        );
        let mut h = Headers::new();
        h.insert(
            HeaderName::from_static("x-total"),
            HeaderValue::from_static("3"),
        );
        h.insert(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("text/plain"),
        );
        c.apply(&mut h, &ctx(Method::GET, Some("https://b.com")));
        let exposed = h[ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap();
        assert!(
            exposed.contains("x-total") && exposed.contains("content-type"),
            "{exposed}"
        );
        assert!(!exposed.contains('*'));
        let Flow::Respond(Reply { headers: p, .. }) = c.preflight(
            &Method::OPTIONS,
            &preflight_headers(),
            &ctx(Method::OPTIONS, Some("https://b.com")),
        ) else {
            panic!("a preflight is answered");
        };
        assert_eq!(p[ACCESS_CONTROL_ALLOW_METHODS], "PUT");
        // Without credentials `*` means every method and header, as configured.
        let open = cors(
            serde_json::json!({"allow_origin": "*", "allow_methods": "*", "expose_headers": "*"}),
        );
        let mut h = Headers::new();
        open.apply(&mut h, &ctx(Method::GET, Some("https://b.com")));
        assert_eq!(h[ACCESS_CONTROL_EXPOSE_HEADERS], "*");
    }

    fn preflight_headers() -> Headers {
        let mut h = Headers::new();
        h.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("PUT"),
        );
        h
    }

    #[test]
    fn a_preflight_is_answered_with_every_configured_header() {
        let c = cors(
            serde_json::json!({"allow_origin": "https://a.com,https://b.com", "allow_methods": "get, PUT",
            "allow_headers": "X-A", "max_age": 600, "allow_credentials": true}),
        );
        let Flow::Respond(Reply {
            status,
            headers: h,
            body,
            ..
        }) = c.preflight(
            &Method::OPTIONS,
            &preflight_headers(),
            &ctx(Method::OPTIONS, Some("https://b.com")),
        )
        else {
            panic!("a preflight is answered");
        };
        assert_eq!(status, 200);
        assert!(body.is_empty());
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://b.com");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "GET,PUT");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "X-A");
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[VARY], "Origin");
    }

    #[test]
    fn an_unlisted_origin_gets_no_cors_headers() {
        let c = cors(serde_json::json!({"allow_origin": "https://a.com"}));
        let Flow::Respond(Reply { headers: h, .. }) = c.preflight(
            &Method::OPTIONS,
            &preflight_headers(),
            &ctx(Method::OPTIONS, Some("https://evil.com")),
        ) else {
            panic!();
        };
        assert!(!h.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        let mut resp = Headers::new();
        resp.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        c.apply(&mut resp, &ctx(Method::GET, Some("https://evil.com")));
        assert!(
            !resp.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN),
            "the backend's header is removed too"
        );
        assert_eq!(resp[VARY], "Origin");
    }

    #[test]
    fn star_with_credentials_echoes_the_origin() {
        let c = cors(
            serde_json::json!({"allow_origin": "*", "allow_credentials": true, "allow_headers": "*"}),
        );
        let Flow::Respond(Reply { headers: h, .. }) = c.preflight(
            &Method::OPTIONS,
            &preflight_headers(),
            &ctx(Method::OPTIONS, Some("https://x.com")),
        ) else {
            panic!();
        };
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://x.com");
        assert_eq!(
            h[ACCESS_CONTROL_ALLOW_HEADERS], "x-a, x-b",
            "* echoes the requested headers"
        );
        let plain = cors(serde_json::json!({"allow_origin": "*"}));
        let mut resp = Headers::new();
        plain.apply(&mut resp, &ctx(Method::GET, Some("https://x.com")));
        assert_eq!(resp[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            !resp.contains_key(VARY),
            "a * answer does not depend on the origin"
        );
    }

    #[test]
    fn non_preflights_continue() {
        let c = cors(serde_json::json!({"allow_origin": "*"}));
        assert!(matches!(
            c.preflight(
                &Method::OPTIONS,
                &Headers::new(),
                &ctx(Method::OPTIONS, Some("https://x.com"))
            ),
            Flow::Continue
        ));
        assert!(matches!(
            c.preflight(
                &Method::OPTIONS,
                &preflight_headers(),
                &ctx(Method::OPTIONS, None)
            ),
            Flow::Continue
        ));
        assert!(matches!(
            c.preflight(
                &Method::GET,
                &preflight_headers(),
                &ctx(Method::GET, Some("https://x.com"))
            ),
            Flow::Continue
        ));
    }

    #[test]
    fn responses_get_the_plugin_values_instead_of_the_backends() {
        let c = cors(
            serde_json::json!({"allow_origin": "https://a.com", "expose_headers": "X-Request-Id", "allow_credentials": true}),
        );
        let mut resp = Headers::new();
        resp.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        resp.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-Other"),
        );
        c.apply(&mut resp, &ctx(Method::GET, Some("https://a.com")));
        assert_eq!(resp[ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.com");
        assert_eq!(resp[ACCESS_CONTROL_EXPOSE_HEADERS], "X-Request-Id");
        assert_eq!(resp[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }
}
