//! The immutable view of the configuration that requests run against: hosts → groups,
//! environments → routers, routes with their backend, authentication, compiled plug-in chain
//! and metrics, and the apps. Built from the store; swapped atomically by the reloader.

use crate::fnv::FnvMap;
use crate::metrics::{ApiMetrics, Registry};
use crate::router::Router;
use apigw_model::api::{ApiDef, Segment};
use apigw_model::credential::Credential;
use apigw_model::resources::DEFAULT_GROUP_NAME;
use apigw_model::variables;
use apigw_plugins::chain::{Chain, Instance};
use apigw_plugins::registry;
use apigw_store::{Store, StoreError};
use bytes::Bytes;
use http::header::HeaderValue;
use http::uri::{Authority, Scheme};
use http::{Method, StatusCode};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The cors content of an API's CORS switch (APIG's fixed headers).
const API_CORS: &str = r#"{"allow_origin":"*","allow_methods":"GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH","allow_headers":"X-Sdk-Date,X-Sdk-Nonce,X-Proxy-Signed-Headers,X-Sdk-Content-Sha256,X-Forwarded-For,Authorization,Content-Type,Accept,Accept-Ranges,Cache-Control,Range","expose_headers":"","max_age":172800,"allow_credentials":false}"#;

/// How a route authenticates callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    None,
    App,
    Iam,
}

/// A piece of a backend path.
#[derive(Debug, Clone)]
pub enum PathPart {
    Literal(String),
    /// The value of the route's n-th path parameter.
    Param(usize),
}

/// An HTTP backend.
#[derive(Debug)]
pub struct HttpBackend {
    pub scheme: Scheme,
    pub authority: Authority,
    /// The `Host` sent to the backend.
    pub host: HeaderValue,
    /// `None`: the caller's method.
    pub method: Option<Method>,
    pub path: Vec<PathPart>,
    /// Whether the backend template ends with `/`.
    pub trailing_slash: bool,
    pub timeout: Duration,
    /// The idle connections to this backend.
    pub pool: Arc<crate::upstream::Pool>,
}

/// An HTTP backend behind a load balance channel.
#[derive(Debug)]
pub struct ChannelBackend {
    pub channel: Arc<crate::channel::Channel>,
    /// `members[i]`: the backend of the channel's member `i` (its address, pool and `Host`).
    pub members: Vec<HttpBackend>,
    /// `backend_api.retry_count`: -1 retries idempotent methods once and others never.
    pub retry_count: i64,
}

impl ChannelBackend {
    /// How many tries a call with `method` gets: one, and the retries after a failed one.
    pub fn tries(&self, method: &Method) -> usize {
        match self.retry_count {
            n if n >= 0 => n as usize + 1,
            _ if method.is_idempotent() => 2,
            _ => 1,
        }
    }
}

/// Where a route's calls go.
#[derive(Debug)]
pub enum Backend {
    Http(HttpBackend),
    /// Spread over the members of a load balance channel.
    Channel(ChannelBackend),
    /// A gRPC backend (HTTP/2): the call's path goes to it as it is.
    Grpc {
        backend: Arc<crate::upstream::h2::H2Backend>,
        timeout: Duration,
    },
    Mock {
        status: StatusCode,
        body: Bytes,
        content_type: HeaderValue,
    },
}

/// A published API in one environment.
#[derive(Debug)]
pub struct Route {
    pub api_id: Arc<str>,
    pub api_name: Arc<str>,
    pub env_id: Arc<str>,
    pub env_name: Arc<str>,
    pub auth: AuthType,
    /// SWA (prefix) route: the rest of the path is appended to the backend path.
    pub prefix: bool,
    /// Whether the API is served over plain HTTP, TLS or both (its `req_protocol`).
    pub protocol: Protocol,
    pub backend: Backend,
    /// The plug-ins bound to the API in this environment.
    pub chain: Arc<Chain>,
    /// Ids of the apps authorised for the API in this environment.
    pub apps: HashSet<String>,
    /// The access control policies bound to the API in this environment; `None` without any.
    pub access: Option<Box<crate::access::Access>>,
    /// The gateway response set the API picks by `response_id` (else its group's default);
    /// `None` when that set customises nothing.
    pub responses: Option<Arc<crate::responses::Responses>>,
    /// The classic request throttling policy bound to the API in this environment; `None`
    /// without one, and when a rate_limit plug-in is bound too (the plug-in decides).
    pub throttle: Option<Arc<crate::throttle::Classic>>,
    /// The signature key bound to the API in this environment; `None` without one.
    pub sign: Option<Arc<crate::signature_key::Signer>>,
    pub metrics: Arc<ApiMetrics>,
}

/// The listeners an API answers on (`req_protocol` `HTTP`, `HTTPS` or `BOTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https,
    Both,
    /// gRPC over TLS: HTTP/2 on the TLS listener.
    Grpcs,
}

impl Protocol {
    fn of(req_protocol: &str) -> Self {
        match req_protocol {
            "HTTP" => Protocol::Http,
            "HTTPS" => Protocol::Https,
            "GRPCS" => Protocol::Grpcs,
            _ => Protocol::Both,
        }
    }
}

/// An app, for APP authentication.
#[derive(Debug)]
pub struct AppEntry {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub secret: String,
}

/// One group's routers by environment name.
#[derive(Debug, Default)]
pub struct GroupRoutes {
    pub envs: FnvMap<String, Router<Route>>,
    /// The group's default gateway response set, for calls no API matched; `None` when it
    /// customises nothing.
    pub responses: Option<Arc<crate::responses::Responses>>,
}

/// Everything a request needs, immutable.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The store version this snapshot reflects.
    pub version: i64,
    /// `sl_domain`s and bound domains (wildcards among them) → their group.
    pub hosts: crate::names::Names<Host>,
    /// Whether any bound domain redirects plain HTTP calls to HTTPS.
    pub any_https_only: bool,
    /// The DEFAULT group's index.
    pub default_group: Option<usize>,
    pub groups: Vec<GroupRoutes>,
    /// Apps by `app_key`.
    pub apps: HashMap<String, AppEntry>,
    /// Admin credentials, for IAM authentication.
    pub credentials: Arc<Vec<Credential>>,
    /// Running plug-in instances by plug-in id, with the content they were built from: reused by
    /// the next snapshot when the content is unchanged, so their state survives reloads.
    pub instances: HashMap<String, (String, Arc<Instance>)>,
    /// The certificates of the TLS listener; `None` when it has none (no instance certificate).
    pub tls: Option<Arc<crate::tls::Sites>>,
    /// The load balance channels the routes use.
    pub channels: Vec<Arc<crate::channel::Channel>>,
}

/// What a host name selects.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Index into `groups`.
    pub group: usize,
    /// A bound domain that answers plain HTTP calls with a redirect to HTTPS.
    pub https_only: bool,
}

/// What a snapshot is built for.
#[derive(Debug, Clone)]
pub struct Config {
    pub instance_id: String,
    pub domain_suffix: String,
    pub credentials: Arc<Vec<Credential>>,
    /// The backend client whose pools routes use.
    pub upstream: crate::upstream::Upstream,
    /// What plug-in instances are built with (Redis counters, clock).
    pub plugins: apigw_plugins::chain::BuildCtx,
    /// The instance's own certificate, for TLS handshakes that name no bound domain.
    pub tls_instance: Option<Arc<rustls::sign::CertifiedKey>>,
    /// Whether the TLS listener offers HTTP/2 (ALPN `h2`).
    pub http2: bool,
    /// The running load balance channels, kept across snapshots.
    pub channels: Arc<crate::channel::Channels>,
}

/// The backend of `def` in one environment: `variable` gives that environment's value of a
/// `#Name#` in the backend's address or path.
fn backend_of<'v>(
    def: &ApiDef,
    upstream: &crate::upstream::Upstream,
    channels: &Channels<'_>,
    variable: impl Fn(&str) -> Option<&'v str>,
) -> Result<Backend, String> {
    if def.backend_type == "MOCK" {
        let m = def.mock_info.as_ref();
        let body = m.map(|m| m.result_content.clone()).unwrap_or_default();
        let json = serde_json::from_str::<serde_json::Value>(&body).is_ok();
        let content_type = HeaderValue::from_static(if json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        });
        let status = StatusCode::from_u16(m.map(|m| m.status_code as u16).unwrap_or(200))
            .map_err(|e| e.to_string())?;
        return Ok(Backend::Mock {
            status,
            body: Bytes::from(body),
            content_type,
        });
    }
    let b = def
        .backend_api
        .as_ref()
        .ok_or("an HTTP API without backend_api")?;
    let names: Vec<String> = def
        .template()
        .into_iter()
        .filter_map(|s| match s {
            Segment::Param(n) | Segment::Rest(n) => Some(n),
            Segment::Literal(_) => None,
        })
        .collect();
    let missing = |name: String| format!("environment variable {name} is not defined");
    let url_domain = variables::substitute(&b.url_domain, &variable).map_err(missing)?;
    if def.backend_type == "GRPC" {
        let scheme = match b.req_protocol.as_str() {
            "GRPCS" => Scheme::HTTPS,
            _ => Scheme::HTTP,
        };
        let authority = url_domain.parse::<Authority>().map_err(|e| e.to_string())?;
        return Ok(Backend::Grpc {
            backend: upstream.h2_backend(&scheme, &authority),
            timeout: Duration::from_millis(b.timeout.max(1) as u64),
        });
    }
    let req_uri = variables::substitute(&b.req_uri, &variable).map_err(missing)?;
    let mut path = Vec::new();
    let back = apigw_model::api::parse_template(&req_uri)?;
    for seg in &back {
        match seg {
            Segment::Literal(l) => path.push(PathPart::Literal(format!("/{l}"))),
            Segment::Param(n) | Segment::Rest(n) => {
                let i = names
                    .iter()
                    .position(|m| m == n)
                    .ok_or("unknown backend parameter")?;
                path.push(PathPart::Literal("/".into()));
                path.push(PathPart::Param(i));
            }
        }
    }
    let scheme = if b.req_protocol == "HTTPS" {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    let method = (b.req_method != "ANY")
        .then(|| b.req_method.parse::<Method>())
        .transpose()
        .map_err(|e| e.to_string())?;
    let trailing_slash = req_uri.len() > 1 && req_uri.ends_with('/');
    let timeout = Duration::from_millis(b.timeout.max(1) as u64);
    if let (1, Some(info)) = (b.vpc_channel_status, &b.vpc_channel_info) {
        let stored = channels
            .stored
            .get(info.vpc_channel_id.as_str())
            .ok_or_else(|| {
                format!(
                    "load balance channel {} does not exist",
                    info.vpc_channel_id
                )
            })?;
        let channel = channels.running.get(stored, &scheme, upstream);
        let mut used = channels.used.lock().unwrap_or_else(|e| e.into_inner());
        if !used.iter().any(|c| Arc::ptr_eq(c, &channel)) {
            used.push(channel.clone());
        }
        drop(used);
        let proxy_host = match &info.vpc_channel_proxy_host {
            Some(h) if !h.is_empty() => Some(HeaderValue::from_str(h).map_err(|e| e.to_string())?),
            _ => None,
        };
        let members = (0..channel.members.len())
            .map(|i| {
                let m = &channel.members[i];
                HttpBackend {
                    pool: m.pool.clone(),
                    scheme: scheme.clone(),
                    authority: m.authority.clone(),
                    host: proxy_host.clone().unwrap_or_else(|| channel.host_of(i)),
                    method: method.clone(),
                    path: path.clone(),
                    trailing_slash,
                    timeout,
                }
            })
            .collect();
        return Ok(Backend::Channel(ChannelBackend {
            channel,
            members,
            retry_count: b.retry_count,
        }));
    }
    let authority = url_domain.parse::<Authority>().map_err(|e| e.to_string())?;
    Ok(Backend::Http(HttpBackend {
        pool: upstream.pool(&scheme, &authority),
        scheme,
        authority,
        host: HeaderValue::from_str(&url_domain).map_err(|e| e.to_string())?,
        method,
        path,
        trailing_slash,
        timeout,
    }))
}

/// The load balance channels a snapshot's routes may use: as stored, by id, and running.
struct Channels<'a> {
    stored: HashMap<&'a str, &'a apigw_model::vpc_channel::VpcChannel>,
    running: &'a crate::channel::Channels,
    /// The running channels routes use, each once.
    used: std::sync::Mutex<Vec<Arc<crate::channel::Channel>>>,
}

impl Snapshot {
    /// Builds the snapshot of `cfg.instance_id` from the store, reusing `previous`'s plug-in
    /// instances whose content did not change.
    pub async fn build(
        store: &dyn Store,
        cfg: &Config,
        previous: Option<&Snapshot>,
        metrics: &Registry,
    ) -> Result<Snapshot, StoreError> {
        let inst = cfg.instance_id.as_str();
        // The version first: a change committed while we read is seen by the next reload.
        let version = store.version().await?;
        let groups = store.list_groups(inst).await?;
        let envs = store.list_envs(inst).await?;
        let apis = store.list_apis(inst).await?;
        let publications = store.list_publications(inst).await?;
        let bindings = store.list_bindings(inst).await?;
        let apps = store.list_apps(inst).await?;
        let auths = store.list_app_auths(inst).await?;
        let variables = store.list_variables(inst).await?;
        let stored_channels = store.list_vpc_channels(inst).await?;
        let channels = Channels {
            stored: stored_channels.iter().map(|c| (c.id.as_str(), c)).collect(),
            running: &cfg.channels,
            used: Default::default(),
        };
        let acl_bindings = store.list_acl_bindings(inst).await?;
        // Each gateway response set compiled once: by set id, with its group and whether it
        // is the group's default.
        let mut response_sets: HashMap<
            String,
            (String, bool, Option<Arc<crate::responses::Responses>>),
        > = HashMap::new();
        for r in store.list_gateway_responses(inst).await? {
            let compiled = crate::responses::Responses::compile(&r).map(Arc::new);
            response_sets.insert(r.id, (r.group_id, r.is_default, compiled));
        }
        let group_default = |group_id: &str| {
            response_sets
                .values()
                .find(|(g, d, _)| g == group_id && *d)
                .and_then(|(_, _, c)| c.clone())
        };
        // Each policy compiled once, shared by the routes it is bound to.
        let mut policies: HashMap<String, Arc<crate::access::Compiled>> = HashMap::new();
        for a in store.list_acls(inst).await? {
            match crate::access::Compiled::new(&a) {
                Ok(c) => {
                    policies.insert(a.id, Arc::new(c));
                }
                Err(e) => {
                    tracing::error!(acl_id = %a.id, error = %e, "stored access control policy does not parse; not enforced");
                }
            }
        }
        let throttle_bindings = store.list_throttle_bindings(inst).await?;
        // Each throttling policy compiled once, shared by the routes it is bound to.
        let specials = store.list_throttle_specials(inst).await?;
        let throttles: HashMap<String, Arc<crate::throttle::Classic>> = store
            .list_throttles(inst)
            .await?
            .iter()
            .map(|t| {
                let c = crate::throttle::Classic::new(
                    t,
                    &specials,
                    cfg.plugins.classic.clone(),
                    cfg.plugins.redis.clone(),
                    cfg.plugins.clock.clone(),
                );
                (t.id.clone(), Arc::new(c))
            })
            .collect();
        let sign_bindings = store.list_sign_bindings(inst).await?;
        // Each signature key ready once, shared by the routes it is bound to.
        let mut signers: HashMap<String, Arc<crate::signature_key::Signer>> = HashMap::new();
        for k in store.list_signs(inst).await? {
            match crate::signature_key::Signer::new(&k) {
                Ok(s) => {
                    signers.insert(k.id, Arc::new(s));
                }
                Err(e) => {
                    tracing::error!(sign_id = %k.id, error = %e, "signature key cannot sign; its APIs' calls go unsigned");
                }
            }
        }
        let values: HashMap<(&str, &str, &str), &str> = variables
            .iter()
            .map(|v| {
                let key = (v.group_id.as_str(), v.env_id.as_str(), v.name.as_str());
                (key, v.value.as_str())
            })
            .collect();
        let all = apigw_model::page::Page {
            offset: 0,
            limit: i64::MAX as u64,
        };
        let (_, plugins) = store
            .list_plugins(inst, &apigw_store::PluginFilter::default(), all)
            .await?;

        let mut instances = HashMap::new();
        for p in &plugins {
            let reused = previous
                .and_then(|s| s.instances.get(&p.id))
                .filter(|(content, _)| *content == p.content)
                .map(|(_, i)| i.clone());
            let instance = match reused {
                Some(i) => i,
                None => match registry::build(p.plugin_type, &p.id, &p.content, &cfg.plugins) {
                    Ok(i) => Arc::new(i),
                    Err(e) => {
                        tracing::error!(plugin_id = %p.id, error = %e, "stored plug-in content does not build; not enforced");
                        continue;
                    }
                },
            };
            instances.insert(p.id.clone(), (p.content.clone(), instance));
        }

        // APIG's CORS switch of an API (`cors: true`, `x-apigateway-cors`): the fixed headers of
        // `otc-guide/.../x-apigateway-cors.rst`, as a cors plug-in shared by every such API.
        let api_cors = registry::build(
            apigw_model::PluginType::Cors,
            "api-cors",
            API_CORS,
            &cfg.plugins,
        )
        .ok()
        .map(Arc::new);

        let mut snap = Snapshot {
            version,
            credentials: cfg.credentials.clone(),
            ..Default::default()
        };
        let mut group_index = HashMap::new();
        for g in &groups {
            let i = snap.groups.len();
            snap.groups.push(GroupRoutes {
                responses: group_default(&g.id),
                ..Default::default()
            });
            group_index.insert(g.id.as_str(), i);
            let host = Host {
                group: i,
                https_only: false,
            };
            snap.hosts
                .insert(&format!("{}.{}", g.id, cfg.domain_suffix), host);
            if g.is_default || (snap.default_group.is_none() && g.name == DEFAULT_GROUP_NAME) {
                snap.default_group = Some(i);
            }
        }
        let domains = store.list_domains(inst).await?;
        let mut sites = Vec::new();
        let mut certificates = HashMap::new();
        for d in &domains {
            let Some(&gi) = group_index.get(d.group_id.as_str()) else {
                continue;
            };
            let host = Host {
                group: gi,
                https_only: d.is_http_redirect_to_https,
            };
            snap.any_https_only |= d.is_http_redirect_to_https;
            snap.hosts.insert(&d.url_domain, host);
            let Some(ssl_id) = &d.ssl_id else { continue };
            if !certificates.contains_key(ssl_id) {
                let c = store.get_certificate(ssl_id).await?;
                certificates.insert(ssl_id.clone(), c);
            }
            let Some(Some(c)) = certificates.get(ssl_id) else {
                continue;
            };
            sites.push(crate::tls::Site {
                names: vec![d.url_domain.clone()],
                pair: crate::tls::PemPair {
                    cert: c.cert_content.clone(),
                    key: c.private_key.clone(),
                },
                client_roots: c
                    .trusted_root_ca
                    .clone()
                    .filter(|_| d.verified_client_certificate_enabled),
            });
        }
        snap.tls = cfg
            .tls_instance
            .clone()
            .map(|key| Arc::new(crate::tls::Sites::build(key, &sites, cfg.http2)));
        let env_names: HashMap<&str, &str> = envs
            .iter()
            .map(|e| (e.id.as_str(), e.name.as_str()))
            .collect();
        let apis_by_id: HashMap<&str, &apigw_model::resources::Api> =
            apis.iter().map(|a| (a.id.as_str(), a)).collect();
        let mut defs: HashMap<&str, ApiDef> = HashMap::new();
        for p in &publications {
            let (Some(api), Some(env_name)) = (
                apis_by_id.get(p.api_id.as_str()),
                env_names.get(p.env_id.as_str()),
            ) else {
                continue;
            };
            let Some(&gi) = group_index.get(api.group_id.as_str()) else {
                continue;
            };
            if !defs.contains_key(api.id.as_str()) {
                match serde_json::from_str::<ApiDef>(&api.def) {
                    Ok(d) => {
                        defs.insert(api.id.as_str(), d);
                    }
                    Err(e) => {
                        tracing::error!(api_id = %api.id, error = %e, "stored API definition does not parse; not served");
                        continue;
                    }
                }
            }
            let def = &defs[api.id.as_str()];
            let variable = |name: &str| {
                values
                    .get(&(api.group_id.as_str(), p.env_id.as_str(), name))
                    .copied()
            };
            let backend = match backend_of(def, &cfg.upstream, &channels, variable) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(api_id = %api.id, env_id = %p.env_id, error = %e, "API backend is unusable; not served");
                    continue;
                }
            };
            let bound = || {
                bindings
                    .iter()
                    .filter(|b| b.api_id == api.id && b.env_id == p.env_id)
            };
            let mut members: Vec<_> = bound()
                .filter_map(|b| instances.get(&b.plugin_id))
                .map(|(_, i)| i.clone())
                .collect();
            // A bound cors plug-in decides; the API's switch applies without one.
            let cors_switch = def.extra.get("cors") == Some(&serde_json::Value::Bool(true));
            if cors_switch && !bound().any(|b| b.plugin_type == apigw_model::PluginType::Cors) {
                members.extend(api_cors.clone());
            }
            let chain = Arc::new(Chain::new(members));
            let mut access: Option<Box<crate::access::Access>> = None;
            for b in acl_bindings
                .iter()
                .filter(|b| b.api_id == api.id && b.env_id == p.env_id)
            {
                if let Some(c) = policies.get(&b.acl_id) {
                    access.get_or_insert_default().add(c.clone());
                }
            }
            // The set named by `response_id` when it is one of the group's, else the default.
            let responses = match def.extra.get("response_id").and_then(|v| v.as_str()) {
                Some(id) => match response_sets.get(id) {
                    Some((g, _, c)) if *g == api.group_id => c.clone(),
                    _ => group_default(&api.group_id),
                },
                None => group_default(&api.group_id),
            };
            let throttle = match chain.throttles() {
                true => None,
                false => throttle_bindings
                    .iter()
                    .find(|b| b.api_id == api.id && b.env_id == p.env_id)
                    .and_then(|b| throttles.get(&b.throttle_id).cloned()),
            };
            let route = Route {
                api_id: api.id.as_str().into(),
                api_name: api.name.as_str().into(),
                env_id: p.env_id.as_str().into(),
                env_name: (*env_name).into(),
                auth: match def.auth_type.as_str() {
                    "APP" => AuthType::App,
                    "IAM" => AuthType::Iam,
                    _ => AuthType::None,
                },
                prefix: def.match_mode == "SWA",
                protocol: Protocol::of(&def.req_protocol),
                backend,
                responses,
                chain,
                apps: auths
                    .iter()
                    .filter(|a| a.api_id == api.id && a.env_id == p.env_id)
                    .map(|a| a.app_id.clone())
                    .collect(),
                access,
                throttle,
                sign: sign_bindings
                    .iter()
                    .find(|b| b.api_id == api.id && b.env_id == p.env_id)
                    .and_then(|b| signers.get(&b.sign_id).cloned()),
                metrics: metrics.api(&api.id, &api.name),
            };
            let method = (def.req_method != "ANY")
                .then(|| def.req_method.parse::<Method>().ok())
                .flatten();
            let router = snap.groups[gi]
                .envs
                .entry((*env_name).to_string())
                .or_default();
            router.insert(&def.template(), method, route.prefix, Arc::new(route));
        }
        for a in &apps {
            snap.apps.insert(
                a.app_key.clone(),
                AppEntry {
                    id: a.id.as_str().into(),
                    name: a.name.as_str().into(),
                    secret: a.app_secret.clone(),
                },
            );
        }
        snap.instances = instances;
        // Channels no route uses stop (their health checks end with the last snapshot
        // holding them).
        snap.channels = channels
            .used
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        cfg.channels.retain(&snap.channels);
        Ok(snap)
    }

    /// The router of the group selected by `host` in the environment `stage`.
    pub fn router(&self, host: Option<&str>, stage: &str) -> Option<&Router<Route>> {
        self.group(host)?.envs.get(stage)
    }

    /// The group selected by `host`: the one whose domain it is, else the DEFAULT group.
    pub fn group(&self, host: Option<&str>) -> Option<&GroupRoutes> {
        let gi = host
            .and_then(|h| self.host(h))
            .map(|h| h.group)
            .or(self.default_group)?;
        self.groups.get(gi)
    }

    /// Whether a plain HTTP call to `host` is redirected to HTTPS (its bound domain says so).
    pub fn redirects_to_https(&self, host: &str) -> bool {
        self.any_https_only && self.host(host).is_some_and(|h| h.https_only)
    }

    /// What `host` (a `Host` value, perhaps with a port) selects: its name, else the wildcard
    /// domain one label up.
    fn host(&self, host: &str) -> Option<Host> {
        self.hosts.get(without_port(host)).copied()
    }
}

/// `host` without its `:port` (digits after the last colon, perhaps none), read from the end
/// in one pass.
fn without_port(host: &str) -> &str {
    let b = host.as_bytes();
    let mut i = b.len();
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    match i.checked_sub(1) {
        Some(colon) if b[colon] == b':' => &host[..colon],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::without_port;

    #[test]
    fn a_host_loses_only_a_numeric_port_after_its_last_colon() {
        for (host, name) in [
            ("api.example.com", "api.example.com"),
            ("api.example.com:8080", "api.example.com"),
            ("api.example.com:", "api.example.com"),
            ("127.0.0.1:18090", "127.0.0.1"),
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("a:b:80", "a:b"),
            ("host:8x", "host:8x"),
            ("8080", "8080"),
            (":80", ""),
            ("", ""),
        ] {
            assert_eq!(without_port(host), name, "{host}");
        }
    }
}
