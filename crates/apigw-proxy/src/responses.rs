//! Gateway responses (SPEC §10) compiled for the data plane: per error type of a response set,
//! the status, headers and body template that replace APIG's JSON error. Built once per set
//! when the snapshot is built; a route whose set customises nothing carries none, and its
//! refusals are answered exactly as before (`GatewayError::response`).
//!
//! Template variables rendered: `$context.error.message`, `$context.error.code`,
//! `$context.error.type`, `$context.requestId`, `$context.apiId`, `$context.apiName`,
//! `$context.appId`, `$context.appName`, `$context.stage`, `$context.sourceIp`,
//! `$context.reqPath`, `$context.reqMethod`. Any other `$context.…` text (`reqUri`, the
//! custom authorizer's `authorizer.*`, which apigw does not have) is left as written.

use crate::answer::Answer;
use crate::error::{GatewayError, ResponseBody};
use apigw_model::gateway_response::{self as gr, GatewayResponse, ResponseInfo};
use apigw_plugins::chain::RequestCtx;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use http_body_util::{Either, Full};
use std::fmt::Write;

/// A variable of a body template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    ErrorMessage,
    ErrorCode,
    ErrorType,
    RequestId,
    ApiId,
    ApiName,
    AppId,
    AppName,
    Stage,
    SourceIp,
    ReqPath,
    ReqMethod,
}

/// Names after `$context.`, longest first where one is the prefix of another.
const VARS: &[(&str, Var)] = &[
    ("error.message", Var::ErrorMessage),
    ("error.code", Var::ErrorCode),
    ("error.type", Var::ErrorType),
    ("requestId", Var::RequestId),
    ("apiId", Var::ApiId),
    ("apiName", Var::ApiName),
    ("appId", Var::AppId),
    ("appName", Var::AppName),
    ("stage", Var::Stage),
    ("sourceIp", Var::SourceIp),
    ("reqPath", Var::ReqPath),
    ("reqMethod", Var::ReqMethod),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

/// A body template split into text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

impl Template {
    pub fn compile(text: &str) -> Self {
        const MARK: &str = "$context.";
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(MARK) {
            lit.push_str(&rest[..at]);
            let after = &rest[at + MARK.len()..];
            let var = VARS.iter().find(|(name, _)| {
                after.starts_with(name)
                    && !after[name.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            match var {
                Some((name, v)) => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Var(*v));
                    rest = &after[name.len()..];
                }
                None => {
                    lit.push_str(MARK);
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Template(pieces)
    }

    fn render(&self, err: GatewayError, code: &str, msg: &str, ctx: &RequestCtx) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match v {
                    Var::ErrorMessage => out.push_str(msg),
                    Var::ErrorCode => out.push_str(code),
                    Var::ErrorType => out.push_str(err.response_type()),
                    Var::RequestId => out.push_str(&ctx.request_id),
                    Var::ApiId => out.push_str(&ctx.api_id),
                    Var::ApiName => out.push_str(&ctx.api_name),
                    Var::AppId => out.push_str(ctx.app_id.as_deref().unwrap_or("")),
                    Var::AppName => out.push_str(ctx.app_name.as_deref().unwrap_or("")),
                    Var::Stage => out.push_str(&ctx.stage),
                    Var::SourceIp => {
                        let _ = write!(out, "{}", ctx.client_ip);
                    }
                    Var::ReqPath => out.push_str(&ctx.path),
                    Var::ReqMethod => out.push_str(ctx.method.as_str()),
                },
            }
        }
        out
    }
}

/// One customised error type, ready to answer.
#[derive(Debug)]
struct Custom {
    status: Option<StatusCode>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Template,
}

/// A response set's customised error types, by type name.
#[derive(Debug, Default)]
pub struct Responses {
    types: Vec<(&'static str, Custom)>,
}

impl Responses {
    /// The set's customised types; `None` when it customises nothing.
    pub fn compile(set: &GatewayResponse) -> Option<Self> {
        let custom = gr::decode(&set.responses);
        let mut types = Vec::new();
        for (name, _) in gr::TYPES {
            if let Some(info) = custom.get(*name) {
                types.push((*name, compile_one(info)));
            }
        }
        (!types.is_empty()).then_some(Responses { types })
    }

    /// The answer to `err` under this set (APIG's JSON where its type is not customised).
    pub fn answer(&self, err: GatewayError, ctx: &RequestCtx) -> Answer<ResponseBody> {
        let t = err.response_type();
        let Some((_, c)) = self.types.iter().find(|(n, _)| *n == t) else {
            return err.response(&ctx.request_id);
        };
        let (status, code, msg) = err.parts();
        let body = c.body.render(err, code, msg, ctx);
        let mut resp = Answer::new(
            c.status.unwrap_or(status),
            Either::Right(Full::new(Bytes::from(body))),
        );
        resp.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &c.headers {
            resp.headers.insert(k.clone(), v.clone());
        }
        resp
    }
}

fn compile_one(info: &ResponseInfo) -> Custom {
    Custom {
        status: info.status.and_then(|s| StatusCode::from_u16(s).ok()),
        headers: info
            .headers
            .iter()
            .filter_map(|h| {
                Some((
                    HeaderName::from_bytes(h.key.as_bytes()).ok()?,
                    HeaderValue::from_str(&h.value).ok()?,
                ))
            })
            .collect(),
        body: Template::compile(info.body.as_deref().unwrap_or(gr::DEFAULT_BODY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_known_variables_and_keep_the_rest() {
        let t = Template::compile("[$context.error.code|$context.requestId|$context.reqUri|$context.stageX|$context.stage]");
        assert_eq!(
            t.0,
            [
                Piece::Text("[".into()),
                Piece::Var(Var::ErrorCode),
                Piece::Text("|".into()),
                Piece::Var(Var::RequestId),
                Piece::Text("|$context.reqUri|$context.stageX|".into()),
                Piece::Var(Var::Stage),
                Piece::Text("]".into()),
            ]
        );
    }

    #[test]
    fn the_default_template_renders_the_default_body() {
        let ctx = RequestCtx::new(
            "rid".into(),
            http::Method::GET,
            "/".into(),
            std::net::Ipv4Addr::LOCALHOST.into(),
        );
        let err = GatewayError::Throttled;
        let (_, code, msg) = err.parts();
        let body = Template::compile(gr::DEFAULT_BODY).render(err, code, msg, &ctx);
        let expected =
            serde_json::json!({"error_code": code, "error_msg": msg, "request_id": "rid"})
                .to_string();
        assert_eq!(body, expected);
    }
}
