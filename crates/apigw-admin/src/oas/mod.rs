//! Importing and exporting APIs as OpenAPI documents with APIG's `x-apigateway-*` extensions
//! (SPEC §11, `otc-api/api_import_and_export`): `POST /openapi/import` (a multipart form) and
//! `POST /openapi/export?oas_version=2.0|3.0`. The mapping is in docs/import-export.md.

mod document;
mod export;
mod import;

use crate::auth::Call;
use crate::body::{self, Fields};
use crate::error::ApiError;
use crate::openapi::{Errors, InstancePath};
use crate::{multipart, AppState};
use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi/import", post(import_apis))
        .route("/openapi/export", post(export_apis))
}

/// The largest import file accepted (the control plane's other bodies stop at 1 MiB).
pub(crate) const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

fn bool_field(name: &str, data: &[u8]) -> Result<bool, ApiError> {
    match data {
        b"true" | b"True" | b"TRUE" => Ok(true),
        b"false" | b"False" | b"FALSE" => Ok(false),
        _ => Err(ApiError::invalid(name, "must be true or false")),
    }
}

fn mode_field(name: &str, data: &[u8]) -> Result<bool, ApiError> {
    match data {
        b"merge" => Ok(false),
        b"override" => Ok(true),
        _ => Err(ApiError::invalid(name, "must be merge or override")),
    }
}

fn text_field(name: &str, data: &[u8]) -> Result<String, ApiError> {
    std::str::from_utf8(data)
        .map(str::to_string)
        .map_err(|_| ApiError::invalid(name, "must be UTF-8 text"))
}

/// `POST /openapi/import`: form fields `file_name` (the document), `is_create_group`,
/// `group_id`, `extend_mode`, `simple_mode`, `mock_mode`, `api_mode`, and ours, `env_id`.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/openapi/import", tag = "openapi",
    request_body(content = Object, content_type = "multipart/form-data"),
    params(InstancePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn import_apis(
    Call { state, scope }: Call,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multipart::boundary(content_type).ok_or_else(|| {
        ApiError::BadBody("the body must be multipart/form-data with a boundary".into())
    })?;
    let parts = multipart::parse(&bytes, &boundary).map_err(ApiError::BadBody)?;
    let mut opts = import::Options {
        create_group: true,
        group_id: None,
        extend_override: false,
        api_override: false,
        mock_mode: false,
        env_id: None,
    };
    let mut file = None;
    for p in &parts {
        let data = p.data;
        match p.name.as_str() {
            "file_name" => file = Some(data),
            "is_create_group" => opts.create_group = bool_field(&p.name, data)?,
            "group_id" => opts.group_id = Some(text_field(&p.name, data)?),
            "extend_mode" => opts.extend_override = mode_field(&p.name, data)?,
            "api_mode" => opts.api_override = mode_field(&p.name, data)?,
            "mock_mode" => opts.mock_mode = bool_field(&p.name, data)?,
            // Fast import skips checks on APIG; apigw's import is one transaction either way.
            "simple_mode" => {
                bool_field(&p.name, data)?;
            }
            "env_id" => opts.env_id = Some(text_field(&p.name, data)?).filter(|e| !e.is_empty()),
            other => {
                return Err(ApiError::invalid(
                    other,
                    "is not a field of the import form",
                ))
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::invalid("file_name", "is mandatory"))?;
    let answer = import::run(&state, &scope.instance_id, &opts, file).await?;
    Ok(Json(answer))
}

/// `POST /openapi/export?oas_version=`: {`env_id`, `group_id`, `define`, `type`, `version`,
/// `apis`}; the answer is the document, as a file.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/openapi/export", tag = "openapi",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, ("oas_version" = Option<String>, Query)),
    responses((status = 200, description = "the document", body = Object), Errors))]
pub(crate) async fn export_apis(
    Call { state, scope }: Call,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let q = body::Query::parse(uri.query());
    let oas = match q.get("oas_version") {
        None => document::Version::V2,
        Some(v) => document::Version::parse(v)
            .ok_or_else(|| ApiError::invalid("oas_version", "must be 2.0 or 3.0"))?,
    };
    let mut f = Fields::new(body::object(&bytes)?);
    let mandatory = |f: &mut Fields, name: &str| -> Result<String, ApiError> {
        match f.opt_string(name) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::Coded(
                StatusCode::BAD_REQUEST,
                "APIG.2001",
                format!("The request parameters must be specified,parameterName:{name}. Please refer to the support documentation"),
            )),
        }
    };
    let env_id = mandatory(&mut f, "env_id")?;
    let group_id = mandatory(&mut f, "group_id")?;
    let define = f.opt_string("define");
    let define = match define.as_deref() {
        None => Some(export::Define::Spec),
        Some(d) => export::Define::parse(d),
    };
    if define.is_none() {
        f.errs.add("define", "must be spec, proxy, all or dev");
    }
    let kind = f.opt_string("type");
    let format = match kind.as_deref() {
        None => Some(document::Format::Json),
        Some(t) => document::Format::parse(t),
    };
    if format.is_none() {
        f.errs.add("type", "must be json, yaml or yml");
    }
    let version = f
        .opt_string("version")
        .unwrap_or_else(|| apigw_model::time::format_millis(apigw_model::time::now_millis()));
    f.errs.len(&version, 1, 64, "version");
    let apis = f.opt_ids("apis", 1000);
    let apis = (!apis.is_empty()).then_some(apis);
    let (Some(define), Some(format)) = (define, format) else {
        f.finish()?;
        return Err(ApiError::Internal("checked fields missing".into()));
    };
    f.finish()?;
    let req = export::Request {
        env_id,
        group_id,
        define,
        version,
        apis,
        oas,
    };
    let doc = export::run(&state, &scope.instance_id, &req).await?;
    let text = format.write(&doc)?;
    let ext = match format {
        document::Format::Json => "json",
        document::Format::Yaml => "yaml",
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.{ext}\"", req.group_id),
            ),
        ],
        text,
    )
        .into_response())
}
