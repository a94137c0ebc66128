//! SSL certificates (`CreateCertificateV2` and the seven calls beside it under
//! `/v2/{project_id}/apigw/certificates`, with no instance in the path). Rules (SPEC §8,
//! `otc-api/ssl_certificate_management`, `docs/control-plane.md`): a certificate that is not
//! PEM, whose key does not match, whose chain is out of order or that has expired is refused
//! with APIG.2012 naming the field; the private key, the certificate and the trusted root CA
//! are never answered; a certificate bound to a domain cannot be deleted.

use crate::auth::Call;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, ApiError};
use crate::openapi::{Errors, ProjectPath};
use crate::path::{CertificatePath, Path};
use crate::AppState;
use apigw_model::certificate::{self, CertInfo, CertType, Certificate, GLOBAL_INSTANCE};
use apigw_model::domain::Domain;
use apigw_model::resources::Group;
use apigw_model::{id, time};
use apigw_store::Resource;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The routes, nested under `/v2/{project_id}/apigw`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/certificates", get(list).post(create))
        .route(
            "/certificates/{certificate_id}",
            get(show).put(update).delete(delete_one),
        )
        .route(
            "/certificates/{certificate_id}/domains/attach",
            post(attach_domains),
        )
        .route(
            "/certificates/{certificate_id}/domains/detach",
            post(detach_domains),
        )
        .route(
            "/certificates/{certificate_id}/attached-domains",
            get(attached_domains),
        )
}

/// The X.509 fields of a stored certificate (parsed again from its PEM: see
/// `apigw_model::certificate`).
pub(crate) fn parsed(c: &Certificate) -> Result<CertInfo, ApiError> {
    certificate::info(&c.cert_content)
        .ok_or_else(|| ApiError::Internal(format!("certificate {} no longer parses", c.id)))
}

/// `CertBase` (the list's items).
fn base(c: &Certificate, i: &CertInfo) -> Value {
    json!({"id": c.id, "name": c.name, "type": c.cert_type.as_str(),
           "instance_id": c.instance_id, "project_id": c.project_id,
           "common_name": i.common_name, "san": i.san,
           "not_after": time::format_millis(i.not_after),
           "signature_algorithm": i.signature_algorithm,
           "algorithm_type": i.algorithm_type,
           "create_time": time::format_millis(c.create_time),
           "update_time": time::format_millis(c.update_time),
           "is_has_trusted_root_ca": c.trusted_root_ca.is_some()})
}

/// `CertFull` (create, show, update): the base and every X.509 field. Never the key, the
/// certificate or the trusted root CA.
pub(crate) fn full(c: &Certificate, i: &CertInfo) -> Value {
    let mut v = base(c, i);
    let extra = json!({"version": i.version, "organization": i.organization,
           "organizational_unit": i.organizational_unit, "locality": i.locality,
           "state": i.state, "country": i.country,
           "not_before": time::format_millis(i.not_before),
           "serial_number": i.serial_number, "issuer": i.issuer});
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    v
}

/// A `CertificateForm` (create and update, a full replace), checked: every field at once.
/// `instance_id` is that of an `instance` certificate, checked against the instance served
/// after the fields (404 APIG.3030).
pub(crate) struct Form {
    pub(crate) name: String,
    pub(crate) cert_type: CertType,
    pub(crate) instance_id: Option<String>,
    pub(crate) cert_content: String,
    pub(crate) private_key: String,
    pub(crate) trusted_root_ca: Option<String>,
    pub(crate) info: CertInfo,
}

/// Checks the name and PEM texts (APIG.2012 naming each field); `now_millis` decides what
/// has expired.
pub(crate) fn check_pem(
    mut f: Fields,
    name: String,
    cert_content: String,
    private_key: String,
    trusted_root_ca: Option<String>,
    now_millis: i64,
) -> Result<(String, String, String, Option<String>, CertInfo), ApiError> {
    if !f.errs.0.iter().any(|e| e.field == "name") {
        certificate::check_name(&mut f.errs, &name, "name");
    }
    let given = !f
        .errs
        .0
        .iter()
        .any(|e| e.field == "cert_content" || e.field == "private_key");
    let info = if given {
        certificate::check(
            &mut f.errs,
            &cert_content,
            &private_key,
            trusted_root_ca.as_deref(),
            now_millis,
        )
    } else {
        None
    };
    f.finish()?;
    let info = info.ok_or_else(|| ApiError::invalid("cert_content", "is not a certificate"))?;
    Ok((name, cert_content, private_key, trusted_root_ca, info))
}

fn parse(bytes: &[u8], now_millis: i64) -> Result<Form, ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let name = f.string("name");
    let cert_content = f.string("cert_content");
    let private_key = f.string("private_key");
    let cert_type = match f.opt_string("type").as_deref() {
        None | Some("") => Some(CertType::Global),
        Some(t) => {
            let parsed = t.parse().ok();
            f.errs
                .check(parsed.is_some(), "type", "must be global or instance");
            parsed
        }
    };
    let instance_id = f.opt_string("instance_id").filter(|s| !s.is_empty());
    if cert_type == Some(CertType::Instance) && instance_id.is_none() {
        f.errs
            .add("instance_id", "is mandatory for an instance certificate");
    }
    let trusted_root_ca = f.opt_string("trusted_root_ca").filter(|s| !s.is_empty());
    // SDK fields: the key's algorithm (read from the certificate instead) and the SM2
    // signature pair (SM2 is not served).
    if let Some(a) = f.opt_string("algorithm_type").filter(|s| !s.is_empty()) {
        f.errs.check(
            a == "RSA" || a == "ECC",
            "algorithm_type",
            "must be RSA or ECC (SM2 certificates are not supported)",
        );
    }
    for sm2 in ["cert_content_sign", "private_key_sign"] {
        if f.opt_string(sm2).is_some_and(|s| !s.is_empty()) {
            f.errs.add(sm2, "SM2 certificates are not supported");
        }
    }
    let (name, cert_content, private_key, trusted_root_ca, info) = check_pem(
        f,
        name,
        cert_content,
        private_key,
        trusted_root_ca,
        now_millis,
    )?;
    Ok(Form {
        name,
        cert_type: cert_type.unwrap_or(CertType::Global),
        instance_id,
        cert_content,
        private_key,
        trusted_root_ca,
        info,
    })
}

/// The instance an `instance` certificate names must be the one served (404 APIG.3030);
/// a `global` one's is `common`.
fn instance_of(state: &AppState, form: &Form) -> Result<String, ApiError> {
    match (form.cert_type, &form.instance_id) {
        (CertType::Global, _) => Ok(GLOBAL_INSTANCE.to_string()),
        (CertType::Instance, Some(i)) if *i == state.instance_id => Ok(i.clone()),
        (CertType::Instance, i) => Err(ApiError::InstanceNotFound(i.clone().unwrap_or_default())),
    }
}

/// The server time in milliseconds (the injected clock).
pub(crate) fn now(state: &AppState) -> i64 {
    (state.clock)().saturating_mul(1000)
}

/// The caller's certificate `id`, else 404 APIG.3021.
pub(crate) async fn find(
    state: &AppState,
    project_id: &str,
    id: &str,
) -> Result<Certificate, ApiError> {
    match state.store.get_certificate(id).await? {
        Some(c) if c.project_id == project_id => Ok(c),
        _ => Err(ApiError::missing(Resource::Certificate, id)),
    }
}

/// 400 APIG.2103 unless the certificate covers the domain name.
pub(crate) fn require_covers(info: &CertInfo, url_domain: &str) -> Result<(), ApiError> {
    if info.covers(url_domain) {
        Ok(())
    } else {
        Err(ApiError::Coded(
            StatusCode::BAD_REQUEST,
            "APIG.2103",
            format!("The certificate domain name and the custom domain name do not match.: {url_domain}"),
        ))
    }
}

/// 400 APIG.2012 naming `field` when client verification is asked of a certificate without a
/// trusted root CA.
pub(crate) fn require_ca(
    verified: Option<bool>,
    c: &Certificate,
    field: &str,
) -> Result<(), ApiError> {
    if verified == Some(true) && c.trusted_root_ca.is_none() {
        return Err(ApiError::invalid(
            field,
            "client certificates can be verified only with a certificate that has a trusted_root_ca",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v2/{project_id}/apigw/certificates", tag = "certificates",
    request_body(content = Object, content_type = "application/json"),
    params(ProjectPath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn create(
    Call { state, scope }: Call,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let now = now(&state);
    let form = parse(&bytes, now)?;
    let instance_id = instance_of(&state, &form)?;
    let c = Certificate {
        id: id::new_id(),
        project_id: scope.project_id.clone(),
        instance_id,
        name: form.name,
        cert_type: form.cert_type,
        cert_content: form.cert_content,
        private_key: form.private_key,
        trusted_root_ca: form.trusted_root_ca,
        create_time: now,
        update_time: now,
    };
    state.store.create_certificate(&c, None).await?;
    tracing::info!(certificate_id = %c.id, cert_type = %c.cert_type, "certificate created");
    Ok(Json(full(&c, &form.info)))
}

/// A full replace: `name`, `cert_content` and `private_key` again; a `trusted_root_ca` left
/// out is removed (and with it client verification on the certificate's domains).
#[utoipa::path(put, path = "/v2/{project_id}/apigw/certificates/{certificate_id}", tag = "certificates",
    request_body(content = Object, content_type = "application/json"),
    params(ProjectPath, CertificatePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn update(
    Call { state, scope }: Call,
    Path(CertificatePath { certificate_id }): Path<CertificatePath>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let now = now(&state);
    let form = parse(&bytes, now)?;
    let old = find(&state, &scope.project_id, &certificate_id).await?;
    let instance_id = instance_of(&state, &form)?;
    for d in state.store.list_domains(&state.instance_id).await? {
        if d.ssl_id.as_deref() == Some(certificate_id.as_str()) {
            require_covers(&form.info, &d.url_domain)?;
        }
    }
    let c = Certificate {
        instance_id,
        name: form.name,
        cert_type: form.cert_type,
        cert_content: form.cert_content,
        private_key: form.private_key,
        trusted_root_ca: form.trusted_root_ca,
        update_time: now.max(old.update_time),
        ..old
    };
    state
        .store
        .update_certificate(&c)
        .await
        .map_err(ApiError::store(Resource::Certificate, &certificate_id))?;
    Ok(Json(full(&c, &form.info)))
}

#[utoipa::path(get, path = "/v2/{project_id}/apigw/certificates/{certificate_id}", tag = "certificates",
    params(ProjectPath, CertificatePath),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn show(
    Call { state, scope }: Call,
    Path(CertificatePath { certificate_id }): Path<CertificatePath>,
) -> Result<Json<Value>, ApiError> {
    let c = find(&state, &scope.project_id, &certificate_id).await?;
    Ok(Json(full(&c, &parsed(&c)?)))
}

/// Refused (400 APIG.2012 `certificate_id`) while a domain holds the certificate.
#[utoipa::path(delete, path = "/v2/{project_id}/apigw/certificates/{certificate_id}", tag = "certificates",
    params(ProjectPath, CertificatePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn delete_one(
    Call { state, scope }: Call,
    Path(CertificatePath { certificate_id }): Path<CertificatePath>,
) -> Result<StatusCode, ApiError> {
    find(&state, &scope.project_id, &certificate_id).await?;
    let result = state.store.delete_certificate(&certificate_id).await;
    deleted(result, Resource::Certificate, &certificate_id)
}

/// Filters: `instance_id` (mandatory: that instance's certificates and the global ones;
/// `common`: the global ones only), `name` and `common_name` (substrings), `type`,
/// `signature_algorithm`, `algorithm_type`.
#[utoipa::path(get, path = "/v2/{project_id}/apigw/certificates", tag = "certificates",
    params(ProjectPath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("instance_id" = String, Query), ("name" = Option<String>, Query), ("common_name" = Option<String>, Query), ("signature_algorithm" = Option<String>, Query), ("type" = Option<String>, Query), ("algorithm_type" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn list(Call { state, scope }: Call, uri: Uri) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let instance_id = q.required("instance_id", 64)?;
    let name = q.text("name", 64)?;
    let common_name = q.text("common_name", 255)?;
    let signature_algorithm = q.text("signature_algorithm", 64)?;
    let algorithm_type = q.text("algorithm_type", 16)?;
    let cert_type = q.text("type", 16)?;
    if let Some(t) = &cert_type {
        if t.parse::<CertType>().is_err() {
            return Err(ApiError::invalid("type", "must be global or instance"));
        }
    }
    let mut found = Vec::new();
    for c in state.store.list_certificates(&scope.project_id).await? {
        let info = parsed(&c)?;
        let place = c.instance_id == GLOBAL_INSTANCE || c.instance_id == instance_id;
        if place
            && contains(&name, &c.name)
            && contains(&common_name, &info.common_name)
            && eq(&signature_algorithm, &info.signature_algorithm)
            && eq(&algorithm_type, &info.algorithm_type)
            && eq(&cert_type, c.cert_type.as_str())
        {
            found.push(base(&c, &info));
        }
    }
    let (total, page) = paginate(found, &q)?;
    Ok(Json(
        json!({"total": total, "size": page.len(), "certs": page}),
    ))
}

/// One item of `domains`: the domain named (in the instance served, which `instance_ids`
/// must name when given) and the `verified_client_certificate_enabled` asked.
struct DomainItem {
    field: String,
    domain: String,
    instance_ids: Option<Vec<String>>,
    verified: Option<bool>,
}

fn parse_domains(bytes: &[u8]) -> Result<Vec<DomainItem>, ApiError> {
    let mut map = body::object(bytes)?;
    let items = match map.remove("domains") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err(ApiError::invalid("domains", "must not be empty")),
        None | Some(Value::Null) => return Err(ApiError::invalid("domains", "is mandatory")),
        Some(_) => return Err(ApiError::invalid("domains", "must be an array")),
    };
    let mut errs = apigw_model::field::Errors::default();
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        let field = format!("domains[{i}]");
        let Value::Object(m) = v else {
            errs.add(&field, "must be an object");
            continue;
        };
        let mut f = Fields::new(m);
        let domain = f.string("domain");
        let instance_ids = f.opt_ids("instance_ids", 100);
        let verified = f.opt_bool("verified_client_certificate_enabled");
        if let Err(ApiError::Invalid(e)) = f.finish() {
            errs.extend_within(&field, e);
            continue;
        }
        out.push(DomainItem {
            field,
            domain,
            instance_ids: (!instance_ids.is_empty()).then_some(instance_ids),
            verified,
        });
    }
    let mut rest: Vec<String> = map.keys().cloned().collect();
    rest.sort();
    for k in rest {
        errs.add(k, "unknown field");
    }
    errs.into_result().map_err(ApiError::Invalid)?;
    Ok(out)
}

/// The domain named by `item` in the instance served, else 404 APIG.3020.
fn named<'a>(
    state: &AppState,
    domains: &'a [Domain],
    item: &DomainItem,
) -> Result<&'a Domain, ApiError> {
    let here = item
        .instance_ids
        .as_ref()
        .is_none_or(|ids| ids.contains(&state.instance_id));
    domains
        .iter()
        .find(|d| here && d.url_domain.eq_ignore_ascii_case(&item.domain))
        .ok_or_else(|| ApiError::missing(Resource::Domain, &item.domain))
}

/// `BatchAssociateDomainsV2`: binds the certificate to the domains named (by name). Every
/// domain is checked before any is bound.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/certificates/{certificate_id}/domains/attach", tag = "certificates",
    request_body(content = Object, content_type = "application/json"),
    params(ProjectPath, CertificatePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn attach_domains(
    Call { state, scope }: Call,
    Path(CertificatePath { certificate_id }): Path<CertificatePath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let items = parse_domains(&bytes)?;
    let c = find(&state, &scope.project_id, &certificate_id).await?;
    let info = parsed(&c)?;
    let domains = state.store.list_domains(&state.instance_id).await?;
    let mut chosen = Vec::with_capacity(items.len());
    for item in &items {
        let d = named(&state, &domains, item)?;
        require_covers(&info, &d.url_domain)?;
        require_ca(
            item.verified,
            &c,
            &format!("{}.verified_client_certificate_enabled", item.field),
        )?;
        if d.ssl_id.as_deref().is_some_and(|s| s != c.id) {
            return Err(
                apigw_store::StoreError::Conflict(apigw_store::Unique::DomainCertificate).into(),
            );
        }
        chosen.push((d.id.clone(), item.verified));
    }
    for (domain_id, verified) in chosen {
        state
            .store
            .bind_certificate(&state.instance_id, &domain_id, &c.id, verified)
            .await
            .map_err(ApiError::store(Resource::Domain, &domain_id))?;
    }
    tracing::info!(%certificate_id, domains = items.len(), "certificate bound to domains");
    Ok(StatusCode::NO_CONTENT)
}

/// `BatchDisassociateDomainsV2`: unbinds the certificate from the domains named.
#[utoipa::path(post, path = "/v2/{project_id}/apigw/certificates/{certificate_id}/domains/detach", tag = "certificates",
    request_body(content = Object, content_type = "application/json"),
    params(ProjectPath, CertificatePath),
    responses((status = 204, description = "success"), Errors))]
pub(crate) async fn detach_domains(
    Call { state, scope }: Call,
    Path(CertificatePath { certificate_id }): Path<CertificatePath>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let items = parse_domains(&bytes)?;
    let c = find(&state, &scope.project_id, &certificate_id).await?;
    let domains = state.store.list_domains(&state.instance_id).await?;
    let mut chosen = Vec::with_capacity(items.len());
    for item in &items {
        let d = named(&state, &domains, item)?;
        if d.ssl_id.as_deref() != Some(c.id.as_str()) {
            return Err(ApiError::missing(Resource::CertificateBinding, &c.id));
        }
        chosen.push(d.id.clone());
    }
    for domain_id in chosen {
        state
            .store
            .unbind_certificate(&state.instance_id, &domain_id, &c.id)
            .await
            .map_err(ApiError::store(Resource::Domain, &domain_id))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `UrlDomainRefInfo`: a domain with its certificate and group.
pub(crate) fn domain_ref(d: &Domain, c: Option<&Certificate>, g: Option<&Group>) -> Value {
    json!({"id": d.id, "url_domain": d.url_domain, "status": 3,
           "min_ssl_version": d.min_ssl_version.as_str(),
           "is_http_redirect_to_https": d.is_http_redirect_to_https,
           "verified_client_certificate_enabled": d.verified_client_certificate_enabled,
           "ssl_id": d.ssl_id.clone().unwrap_or_default(),
           "ssl_name": c.map(|c| c.name.as_str()).unwrap_or(""),
           "api_group_id": d.group_id,
           "api_group_name": g.map(|g| g.name.as_str()).unwrap_or(""),
           "instance_id": d.instance_id,
           "ingress_http_port": 80, "ingress_https_port": 443})
}

/// `ListAttachedDomainsV2`: the domains the certificate is bound to; filter `url_domain`
/// (substring).
#[utoipa::path(get, path = "/v2/{project_id}/apigw/certificates/{certificate_id}/attached-domains", tag = "certificates",
    params(ProjectPath, CertificatePath, ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("url_domain" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Object), Errors))]
pub(crate) async fn attached_domains(
    Call { state, scope }: Call,
    Path(CertificatePath { certificate_id }): Path<CertificatePath>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let url_domain = q.text("url_domain", 255)?;
    let c = find(&state, &scope.project_id, &certificate_id).await?;
    let groups = state.store.list_groups(&state.instance_id).await?;
    let bound: Vec<Domain> = state
        .store
        .list_domains(&state.instance_id)
        .await?
        .into_iter()
        .filter(|d| {
            d.ssl_id.as_deref() == Some(c.id.as_str()) && contains(&url_domain, &d.url_domain)
        })
        .collect();
    let (total, page) = paginate(bound, &q)?;
    let items: Vec<Value> = page
        .iter()
        .map(|d| domain_ref(d, Some(&c), groups.iter().find(|g| g.id == d.group_id)))
        .collect();
    Ok(Json(
        json!({"total": total, "size": items.len(), "bound_domains": items}),
    ))
}
