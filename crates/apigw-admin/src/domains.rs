//! Domain names of API groups (`AssociateDomainV2` and the five calls beside it) and the two
//! instance calls of certificates on a domain (`BatchAssociateCertsV2`,
//! `BatchDisassociateCertsV2`). Rules (SPEC §8, `otc-api/domain_name_management`,
//! `docs/control-plane.md`): at most five domains per group (403 APIG.3108), a name once per
//! instance (400 APIG.3305), one certificate per domain (400 APIG.2051), which must cover the
//! name (400 APIG.2103); a domain goes with its group.

use crate::auth::Call;
use crate::body::{self, Fields};
use crate::certificates::{self as certs, require_ca, require_covers};
use crate::error::ApiError;
use crate::openapi::{Errors, InstancePath};
use crate::path::{DomainCertificatePath, DomainPath, GroupPath, Path};
use crate::AppState;
use apigw_model::certificate::{CertType, Certificate};
use apigw_model::domain::{self, Domain, TlsVersion, MAX_PER_GROUP};
use apigw_model::{id, time};
use apigw_store::{Resource, StoreError};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-groups/{group_id}/domains", post(create))
        .route(
            "/api-groups/{group_id}/domains/{domain_id}",
            put(update).delete(delete_one),
        )
        .route(
            "/api-groups/{group_id}/domains/{domain_id}/certificate",
            post(add_certificate),
        )
        .route(
            "/api-groups/{group_id}/domains/{domain_id}/certificate/{certificate_id}",
            axum::routing::get(show_certificate).delete(remove_certificate),
        )
        .route(
            "/api-groups/{group_id}/domains/{domain_id}/certificates/attach",
            post(attach_certificates),
        )
        .route(
            "/api-groups/{group_id}/domains/{domain_id}/certificates/detach",
            post(detach_certificates),
        )
}

/// `UrlDomain` (the answers of bind and update).
fn url_domain(d: &Domain) -> Value {
    json!({"id": d.id, "url_domain": d.url_domain, "status": 3,
           "min_ssl_version": d.min_ssl_version.as_str(),
           "is_http_redirect_to_https": d.is_http_redirect_to_https,
           "verified_client_certificate_enabled": d.verified_client_certificate_enabled,
           "ingress_http_port": 80, "ingress_https_port": 443})
}

/// The `url_domains` item of a group (`UrlDomain` of `ApiGroupInfo`).
pub(crate) fn group_item(d: &Domain, c: Option<&Certificate>) -> Value {
    json!({"id": d.id, "domain": d.url_domain, "cname_status": 3,
           "ssl_id": d.ssl_id.clone().unwrap_or_default(),
           "ssl_name": c.map(|c| c.name.as_str()).unwrap_or(""),
           "min_ssl_version": d.min_ssl_version.as_str(),
           "verified_client_certificate_enabled": d.verified_client_certificate_enabled,
           "is_has_trusted_root_ca": c.is_some_and(|c| c.trusted_root_ca.is_some()),
           "is_http_redirect_to_https": d.is_http_redirect_to_https,
           "ingress_http_port": 80, "ingress_https_port": 443})
}

/// The optional `min_ssl_version`.
fn tls_version(f: &mut Fields) -> Option<TlsVersion> {
    let v = f.opt_string("min_ssl_version")?;
    let parsed = v.parse().ok();
    f.errs.check(
        parsed.is_some(),
        "min_ssl_version",
        "must be TLSv1.1 or TLSv1.2",
    );
    parsed
}

/// The SDK's `ingress_http_port` / `ingress_https_port`: custom inbound ports are not served,
/// so only the listeners' own (80 / 443) are taken.
fn ports(f: &mut Fields) {
    for (field, port) in [("ingress_http_port", 80), ("ingress_https_port", 443)] {
        if let Some(p) = f.opt_int(field) {
            f.errs.check(
                p == port,
                field,
                format!("custom inbound ports are not supported: only {port}"),
            );
        }
    }
}

/// The domain `domain_id` of group `group_id`: 404 APIG.3020 when there is none in the
/// instance, 400 APIG.3474 when it belongs to another group.
async fn find(
    state: &AppState,
    instance_id: &str,
    group_id: &str,
    domain_id: &str,
) -> Result<Domain, ApiError> {
    let d = state
        .store
        .get_domain(instance_id, domain_id)
        .await?
        .ok_or_else(|| ApiError::missing(Resource::Domain, domain_id))?;
    if d.group_id != group_id {
        return Err(ApiError::Coded(
            StatusCode::BAD_REQUEST,
            "APIG.3474",
            "The API group ID in the URL does not match the API group to which the URL domain has been bound.".into(),
        ));
    }
    Ok(d)
}

/// `AssociateDomainV2`: binds a domain name to the group.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains", tag = "domains",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, GroupPath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    Path(GroupPath { group_id }): Path<GroupPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(bytes.as_ref())?);
    let name = f.string("url_domain");
    let min_ssl_version = tls_version(&mut f).unwrap_or(TlsVersion::Tls11);
    let redirect = f.opt_bool("is_http_redirect_to_https");
    ports(&mut f);
    f.finish()?;
    if !domain::valid_name(&name) {
        return Err(ApiError::Coded(
            StatusCode::BAD_REQUEST,
            "APIG.2024",
            format!("Invalid URL domain.: {name}"),
        ));
    }
    let d = Domain {
        id: id::new_id(),
        instance_id: scope.instance_id.clone(),
        group_id,
        url_domain: name,
        min_ssl_version,
        is_http_redirect_to_https: redirect.unwrap_or(false),
        verified_client_certificate_enabled: false,
        ssl_id: None,
        create_time: time::now_millis(),
    };
    match state.store.create_domain(&d, Some(MAX_PER_GROUP)).await {
        Err(StoreError::Quota(max)) => Err(ApiError::Coded(
            StatusCode::FORBIDDEN,
            "APIG.3108",
            format!("The number of domain names exceeds the maximum allowed limit.: at most {max} per API group"),
        )),
        other => other.map_err(ApiError::from),
    }?;
    tracing::info!(domain_id = %d.id, url_domain = %d.url_domain, "domain bound");
    Ok((StatusCode::CREATED, Json(url_domain(&d))))
}

/// `UpdateDomainV2`: `min_ssl_version` (mandatory), `is_http_redirect_to_https` and
/// `verified_client_certificate_enabled` (each kept when left out). Answers 201, as APIG.
#[utoipa::path(put, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains/{domain_id}", tag = "domains",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, DomainPath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(DomainPath {
        group_id,
        domain_id,
    }): Path<DomainPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body::object(bytes.as_ref())?);
    let min_ssl_version: Option<TlsVersion> =
        f.enumerated("min_ssl_version", "must be TLSv1.1 or TLSv1.2");
    let redirect = f.opt_bool("is_http_redirect_to_https");
    let verified = f.opt_bool("verified_client_certificate_enabled");
    ports(&mut f);
    f.finish()?;
    let old = find(&state, &scope.instance_id, &group_id, &domain_id).await?;
    if verified == Some(true) {
        let bound = match &old.ssl_id {
            Some(id) => state.store.get_certificate(id).await?,
            None => None,
        };
        match bound {
            Some(c) => require_ca(verified, &c, "verified_client_certificate_enabled")?,
            None => {
                return Err(ApiError::invalid(
                    "verified_client_certificate_enabled",
                    "the domain has no certificate to verify clients with",
                ))
            }
        }
    }
    let d = Domain {
        min_ssl_version: min_ssl_version.unwrap_or(old.min_ssl_version),
        is_http_redirect_to_https: redirect.unwrap_or(old.is_http_redirect_to_https),
        verified_client_certificate_enabled: verified
            .unwrap_or(old.verified_client_certificate_enabled),
        ..old
    };
    state
        .store
        .update_domain(&d)
        .await
        .map_err(ApiError::store(Resource::Domain, &domain_id))?;
    Ok((StatusCode::CREATED, Json(url_domain(&d))))
}

/// `DisassociateDomainV2`: the certificate bound stays (unbound).
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains/{domain_id}", tag = "domains",
    params(InstancePath, DomainPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_one(
    Call { state, scope }: Call,
    Path(DomainPath {
        group_id,
        domain_id,
    }): Path<DomainPath>,
) -> Result<StatusCode, ApiError> {
    find(&state, &scope.instance_id, &group_id, &domain_id).await?;
    let result = state
        .store
        .delete_domain(&scope.instance_id, &domain_id)
        .await;
    crate::error::deleted(result, Resource::Domain, &domain_id)
}

/// `AssociateCertificateV2`: adds a certificate (`name`, `cert_content`, `private_key`) and
/// binds it to the domain in one write. It is an `instance` certificate of the instance
/// served.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains/{domain_id}/certificate", tag = "domains",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, DomainPath),
    responses((status = 201, description = "success", body = Object), Errors))]
pub(crate) async fn add_certificate(
    Call { state, scope }: Call,
    Path(DomainPath {
        group_id,
        domain_id,
    }): Path<DomainPath>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = certs::now(&state);
    let mut f = Fields::new(body::object(bytes.as_ref())?);
    let name = f.string("name");
    let cert_content = f.string("cert_content");
    let private_key = f.string("private_key");
    let (name, cert_content, private_key, _, info) =
        certs::check_pem(f, name, cert_content, private_key, None, now)?;
    let d = find(&state, &scope.instance_id, &group_id, &domain_id).await?;
    require_covers(&info, &d.url_domain)?;
    let c = Certificate {
        id: id::new_id(),
        project_id: scope.project_id.clone(),
        instance_id: scope.instance_id.clone(),
        name,
        cert_type: CertType::Instance,
        cert_content,
        private_key,
        trusted_root_ca: None,
        create_time: now,
        update_time: now,
    };
    state
        .store
        .create_certificate(&c, Some((&scope.instance_id, &domain_id)))
        .await
        .map_err(ApiError::store(Resource::Domain, &domain_id))?;
    let d = Domain {
        ssl_id: Some(c.id.clone()),
        verified_client_certificate_enabled: false,
        ..d
    };
    let group = crate::groups::find(&state, &scope.instance_id, &group_id).await?;
    let v = certs::domain_ref(&d, Some(&c), Some(&group));
    tracing::info!(certificate_id = %c.id, %domain_id, "certificate added to a domain");
    Ok((StatusCode::CREATED, Json(v)))
}

/// The certificate `certificate_id` bound to the domain: 404 APIG.3021 when the caller has
/// none of that id, 404 APIG.3097 when it is not the domain's.
async fn bound(
    state: &AppState,
    scope: &crate::auth::CallScope,
    p: &DomainCertificatePath,
) -> Result<Certificate, ApiError> {
    let d = find(state, &scope.instance_id, &p.group_id, &p.domain_id).await?;
    let c = certs::find(state, &scope.project_id, &p.certificate_id).await?;
    if d.ssl_id.as_deref() != Some(c.id.as_str()) {
        return Err(ApiError::missing(
            Resource::CertificateBinding,
            &p.certificate_id,
        ));
    }
    Ok(c)
}

/// `ShowDetailsOfDomainNameCertificateV2`: the certificate's fields (no
/// `is_has_trusted_root_ca` here, as the page).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains/{domain_id}/certificate/{certificate_id}", tag = "domains",
    params(InstancePath, DomainCertificatePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show_certificate(
    Call { state, scope }: Call,
    Path(p): Path<DomainCertificatePath>,
) -> Result<Json<Value>, ApiError> {
    let c = bound(&state, &scope, &p).await?;
    let mut v = certs::full(&c, &certs::parsed(&c)?);
    if let Some(m) = v.as_object_mut() {
        m.remove("is_has_trusted_root_ca");
        m.remove("algorithm_type");
    }
    Ok(Json(v))
}

/// `DisassociateCertificateV2`: unbinds the certificate from the domain; the certificate
/// itself stays.
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains/{domain_id}/certificate/{certificate_id}", tag = "domains",
    params(InstancePath, DomainCertificatePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn remove_certificate(
    Call { state, scope }: Call,
    Path(p): Path<DomainCertificatePath>,
) -> Result<StatusCode, ApiError> {
    let c = bound(&state, &scope, &p).await?;
    state
        .store
        .unbind_certificate(&scope.instance_id, &p.domain_id, &c.id)
        .await
        .map_err(ApiError::store(Resource::Domain, &p.domain_id))?;
    tracing::info!(certificate_id = %c.id, domain_id = %p.domain_id, "certificate unbound");
    Ok(StatusCode::NO_CONTENT)
}

/// `AttachOrDetachCertsReqBody`: exactly one id in `certificate_ids` (APIG: "currently only
/// one certificate ID can be specified") and `verified_client_certificate_enabled`.
fn parse_certs(bytes: &[u8]) -> Result<(String, Option<bool>), ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let ids = f.ids("certificate_ids", 1);
    let verified = f.opt_bool("verified_client_certificate_enabled");
    f.finish()?;
    let id = ids
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::invalid("certificate_ids", "must hold one id"))?;
    Ok((id, verified))
}

/// `BatchAssociateCertsV2`: binds the certificate to the domain; client verification as
/// asked, else on when the certificate has a trusted root CA.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains/{domain_id}/certificates/attach", tag = "domains",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, DomainPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn attach_certificates(
    Call { state, scope }: Call,
    Path(DomainPath {
        group_id,
        domain_id,
    }): Path<DomainPath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let (certificate_id, verified) = parse_certs(&bytes)?;
    let d = find(&state, &scope.instance_id, &group_id, &domain_id).await?;
    let c = certs::find(&state, &scope.project_id, &certificate_id).await?;
    require_covers(&certs::parsed(&c)?, &d.url_domain)?;
    require_ca(verified, &c, "verified_client_certificate_enabled")?;
    state
        .store
        .bind_certificate(&scope.instance_id, &domain_id, &c.id, verified)
        .await
        .map_err(ApiError::store(Resource::Domain, &domain_id))?;
    tracing::info!(%certificate_id, %domain_id, "certificate bound");
    Ok(StatusCode::NO_CONTENT)
}

/// `BatchDisassociateCertsV2`: unbinds the certificate from the domain (404 APIG.3097 when
/// it is not bound there).
#[utoipa::path(post, path = "/v2/{project_id}/apigw/instances/{instance_id}/api-groups/{group_id}/domains/{domain_id}/certificates/detach", tag = "domains",
    request_body(content = Object, content_type = "application/json"),
    params(InstancePath, DomainPath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn detach_certificates(
    Call { state, scope }: Call,
    Path(DomainPath {
        group_id,
        domain_id,
    }): Path<DomainPath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let (certificate_id, _) = parse_certs(&bytes)?;
    find(&state, &scope.instance_id, &group_id, &domain_id).await?;
    let c = certs::find(&state, &scope.project_id, &certificate_id).await?;
    state
        .store
        .unbind_certificate(&scope.instance_id, &domain_id, &c.id)
        .await
        .map_err(ApiError::store(Resource::Domain, &domain_id))?;
    Ok(StatusCode::NO_CONTENT)
}
