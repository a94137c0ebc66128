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
use apigw_store::{Change, RouteInputs, Store, StoreError};
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
#[derive(Debug, Default, Clone)]
pub struct GroupRoutes {
    pub envs: FnvMap<String, Router<Route>>,
    /// The group's default gateway response set, for calls no API matched; `None` when it
    /// customises nothing.
    pub responses: Option<Arc<crate::responses::Responses>>,
}

/// Everything a request needs, immutable. A clone shares its routers, apps and plug-in
/// instances with the original (see [`Snapshot::patch`]).
#[derive(Debug, Default, Clone)]
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
    pub apps: Arc<HashMap<String, AppEntry>>,
    /// Admin credentials, for IAM authentication.
    pub credentials: Arc<Vec<Credential>>,
    /// Running plug-in instances by plug-in id, with the content they were built from: reused by
    /// the next snapshot when the content is unchanged, so their state survives reloads.
    pub instances: Arc<HashMap<String, (String, Arc<Instance>)>>,
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
    stored: &'a FastMap<String, apigw_model::vpc_channel::VpcChannel>,
    running: &'a crate::channel::Channels,
    /// The running channels routes use, each once.
    used: std::sync::Mutex<Vec<Arc<crate::channel::Channel>>>,
}

/// Maps of the build keyed by ids (a few hundred thousand lookups in a large rebuild): a fast
/// hash, seeded per process.
type FastMap<K, V> = foldhash::HashMap<K, V>;
type FastSet<T> = foldhash::HashSet<T>;

/// What a full build compiled that many routes share (policies, variables, gateway responses,
/// channels, group and environment names), and where it put each API's routes: kept by the
/// reloader, so that a change to some APIs' routes is applied by rebuilding only those.
#[derive(Debug, Default)]
pub struct Shared {
    /// The group index of each group id.
    group_index: FastMap<String, usize>,
    /// Environment names by id.
    env_names: FastMap<String, Arc<str>>,
    /// Environment variables' values by (group id, environment id, name).
    values: FastMap<(String, String, String), String>,
    /// Each gateway response set compiled: by set id, with its group and whether it is the
    /// group's default.
    response_sets: FastMap<String, (String, bool, Option<Arc<crate::responses::Responses>>)>,
    /// The access control policies, compiled, by id.
    policies: FastMap<String, Arc<crate::access::Compiled>>,
    /// The request throttling policies, ready, by id.
    throttles: FastMap<String, Arc<crate::throttle::Classic>>,
    /// The signature keys, ready, by id.
    signers: FastMap<String, Arc<crate::signature_key::Signer>>,
    /// The load balance channels as stored, by id.
    channels: FastMap<String, apigw_model::vpc_channel::VpcChannel>,
    /// The cors instance of APIs whose CORS switch is on.
    api_cors: Option<Arc<Instance>>,
    /// Where each API's routes are, by API id.
    placed: FastMap<String, Vec<Placed>>,
    /// The APIs whose routes use each plug-in, policy or group's settings.
    users: FastMap<Uses, FastSet<String>>,
}

/// What a route is built with that can change without the route's own rows changing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Uses {
    Plugin(String),
    Acl(String),
    Throttle(String),
    Sign(String),
    /// Its group's environment variables and gateway responses.
    GroupSettings(String),
    /// Its environment (the name its router is found by).
    Env(String),
    /// The load balance channel its backend is.
    Channel(String),
}

/// Where a route was put: enough to take it out again.
#[derive(Debug)]
struct Placed {
    /// Whether the route is in the routers (else its backend could not be built).
    routed: bool,
    group: usize,
    env: Arc<str>,
    template: Vec<Segment>,
    method: Option<Method>,
    prefix: bool,
    /// What the route uses (see [`Uses`]).
    uses: Vec<Uses>,
}

impl Shared {
    /// The APIs whose routes use `what`.
    fn users_of(&self, what: Uses) -> impl Iterator<Item = String> + '_ {
        self.users.get(&what).into_iter().flatten().cloned()
    }

    /// The environment variables by (group, environment, name).
    fn set_values(&mut self, variables: Vec<apigw_model::variables::EnvVariable>) {
        self.values = variables
            .into_iter()
            .map(|v| ((v.group_id, v.env_id, v.name), v.value))
            .collect();
    }

    /// Each gateway response set compiled, by id.
    fn set_responses(&mut self, sets: Vec<apigw_model::gateway_response::GatewayResponse>) {
        self.response_sets = sets
            .into_iter()
            .map(|r| {
                let compiled = crate::responses::Responses::compile(&r).map(Arc::new);
                (r.id, (r.group_id, r.is_default, compiled))
            })
            .collect();
    }

    /// Compiles access control policy `a` in, or takes it out when it does not compile.
    fn set_acl(&mut self, a: apigw_model::acl::Acl) {
        match crate::access::Compiled::new(&a) {
            Ok(c) => drop(self.policies.insert(a.id, Arc::new(c))),
            Err(e) => {
                tracing::error!(acl_id = %a.id, error = %e, "stored access control policy does not parse; not enforced");
                self.policies.remove(&a.id);
            }
        }
    }

    /// Makes request throttling policy `t` ready, with its excluded configurations among
    /// `specials`.
    fn set_throttle(
        &mut self,
        t: &apigw_model::throttle::Throttle,
        specials: &[apigw_model::throttle::ThrottleSpecial],
        cfg: &Config,
    ) {
        let c = crate::throttle::Classic::new(
            t,
            specials,
            cfg.plugins.classic.clone(),
            cfg.plugins.redis.clone(),
            cfg.plugins.clock.clone(),
        );
        self.throttles.insert(t.id.clone(), Arc::new(c));
    }

    /// Makes signature key `k` ready, or takes it out when it cannot sign.
    fn set_sign(&mut self, k: apigw_model::signature_key::SignKey) {
        match crate::signature_key::Signer::new(&k) {
            Ok(s) => drop(self.signers.insert(k.id, Arc::new(s))),
            Err(e) => {
                tracing::error!(sign_id = %k.id, error = %e, "signature key cannot sign; its APIs' calls go unsigned");
                self.signers.remove(&k.id);
            }
        }
    }

    /// The default gateway response set of the group.
    fn group_default(&self, group_id: &str) -> Option<Arc<crate::responses::Responses>> {
        self.response_sets
            .values()
            .find(|(g, d, _)| g == group_id && *d)
            .and_then(|(_, _, c)| c.clone())
    }
}

/// The rows bound to each (API id, environment id), indexed once.
struct Bound<'a> {
    plugins: FastMap<(&'a str, &'a str), Vec<&'a apigw_model::resources::Binding>>,
    apps: FastMap<(&'a str, &'a str), HashSet<String>>,
    acls: FastMap<(&'a str, &'a str), Vec<&'a str>>,
    /// The first throttling policy and signature key bound (the store keeps one of each).
    throttle: FastMap<(&'a str, &'a str), &'a str>,
    sign: FastMap<(&'a str, &'a str), &'a str>,
}

impl<'a> Bound<'a> {
    fn index(i: &'a RouteInputs) -> Self {
        let mut b = Bound {
            plugins: FastMap::default(),
            apps: FastMap::default(),
            acls: FastMap::default(),
            throttle: FastMap::default(),
            sign: FastMap::default(),
        };
        for x in &i.bindings {
            let key = (x.api_id.as_str(), x.env_id.as_str());
            b.plugins.entry(key).or_default().push(x);
        }
        for x in &i.auths {
            let key = (x.api_id.as_str(), x.env_id.as_str());
            b.apps.entry(key).or_default().insert(x.app_id.clone());
        }
        for x in &i.acl_bindings {
            let key = (x.api_id.as_str(), x.env_id.as_str());
            b.acls.entry(key).or_default().push(x.acl_id.as_str());
        }
        for x in &i.throttle_bindings {
            let key = (x.api_id.as_str(), x.env_id.as_str());
            b.throttle.entry(key).or_insert(x.throttle_id.as_str());
        }
        for x in &i.sign_bindings {
            let key = (x.api_id.as_str(), x.env_id.as_str());
            b.sign.entry(key).or_insert(x.sign_id.as_str());
        }
        b
    }
}

/// A full build's shared parts read from the store, with the plug-in instances (those of
/// `previous` reused when their content is unchanged).
async fn load_shared(
    store: &dyn Store,
    cfg: &Config,
    previous: Option<&Snapshot>,
) -> Result<(Shared, HashMap<String, (String, Arc<Instance>)>), StoreError> {
    let inst = cfg.instance_id.as_str();
    let mut shared = Shared {
        env_names: (store.list_envs(inst).await?)
            .into_iter()
            .map(|e| (e.id, e.name.into()))
            .collect(),
        channels: (store.list_vpc_channels(inst).await?)
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect(),
        ..Default::default()
    };
    shared.set_values(store.list_variables(inst).await?);
    shared.set_responses(store.list_gateway_responses(inst).await?);
    for a in store.list_acls(inst).await? {
        shared.set_acl(a);
    }
    let specials = store.list_throttle_specials(inst).await?;
    for t in store.list_throttles(inst).await? {
        shared.set_throttle(&t, &specials, cfg);
    }
    for k in store.list_signs(inst).await? {
        shared.set_sign(k);
    }
    let all = apigw_model::page::Page {
        offset: 0,
        limit: i64::MAX as u64,
    };
    let (_, plugins) = store
        .list_plugins(inst, &apigw_store::PluginFilter::default(), all)
        .await?;
    let mut instances = HashMap::new();
    let previous = previous.map(|s| &*s.instances);
    for p in &plugins {
        if let Some(i) = instance_of(p, previous, cfg) {
            instances.insert(p.id.clone(), (p.content.clone(), i));
        }
    }
    // APIG's CORS switch of an API (`cors: true`, `x-apigateway-cors`): the fixed headers of
    // `otc-guide/.../x-apigateway-cors.rst`, as a cors plug-in shared by every such API.
    shared.api_cors = registry::build(
        apigw_model::PluginType::Cors,
        "api-cors",
        API_CORS,
        &cfg.plugins,
    )
    .ok()
    .map(Arc::new);
    Ok((shared, instances))
}

/// The running instance of plug-in `p`: the one in `previous` when its content is unchanged,
/// else a new one (`None`, logged, when the stored content does not build).
fn instance_of(
    p: &apigw_model::Plugin,
    previous: Option<&HashMap<String, (String, Arc<Instance>)>>,
    cfg: &Config,
) -> Option<Arc<Instance>> {
    let reused = previous
        .and_then(|m| m.get(&p.id))
        .filter(|(content, _)| *content == p.content);
    if let Some((_, i)) = reused {
        return Some(i.clone());
    }
    match registry::build(p.plugin_type, &p.id, &p.content, &cfg.plugins) {
        Ok(i) => Some(Arc::new(i)),
        Err(e) => {
            tracing::error!(plugin_id = %p.id, error = %e, "stored plug-in content does not build; not enforced");
            None
        }
    }
}

/// The apps by `app_key`.
async fn load_apps(store: &dyn Store, inst: &str) -> Result<HashMap<String, AppEntry>, StoreError> {
    Ok((store.list_apps(inst).await?)
        .into_iter()
        .map(|a| {
            let entry = AppEntry {
                id: a.id.as_str().into(),
                name: a.name.as_str().into(),
                secret: a.app_secret,
            };
            (a.app_key, entry)
        })
        .collect())
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
        Ok(Self::build_shared(store, cfg, previous, metrics).await?.0)
    }

    /// [`Self::build`], with what the reloader keeps to apply later changes with
    /// [`Self::patch`].
    pub async fn build_shared(
        store: &dyn Store,
        cfg: &Config,
        previous: Option<&Snapshot>,
        metrics: &Registry,
    ) -> Result<(Snapshot, Shared), StoreError> {
        let inst = cfg.instance_id.as_str();
        // The version first: a change committed while we read is seen by the next reload.
        let version = store.version().await?;
        let (mut shared, instances) = load_shared(store, cfg, previous).await?;
        let mut snap = Snapshot {
            version,
            credentials: cfg.credentials.clone(),
            instances: Arc::new(instances),
            apps: Arc::new(load_apps(store, inst).await?),
            ..Default::default()
        };
        for g in store.list_groups(inst).await? {
            snap.add_group(&g, &mut shared);
        }
        snap.set_hosts(store, cfg, &shared).await?;
        let inputs = RouteInputs {
            apis: store.list_apis(inst).await?,
            publications: store.list_publications(inst).await?,
            bindings: store.list_bindings(inst).await?,
            auths: store.list_app_auths(inst).await?,
            acl_bindings: store.list_acl_bindings(inst).await?,
            throttle_bindings: store.list_throttle_bindings(inst).await?,
            sign_bindings: store.list_sign_bindings(inst).await?,
        };
        let used = snap.place_routes(&mut shared, &inputs, cfg, metrics);
        // Channels no route uses stop (their health checks end with the last snapshot
        // holding them).
        snap.channels = used;
        cfg.channels.retain(&snap.channels);
        Ok((snap, shared))
    }

    /// This snapshot with `changes` applied (the store's changes after this snapshot's
    /// version, up to `version`, none of them [`Change::All`]). What they name is read again:
    /// plug-ins (an instance kept when its content is unchanged), policies, a group's
    /// variables and gateway responses, environment names, load balance channels, new and
    /// deleted groups, the apps, the domains and certificates (all of them: their number does
    /// not grow with the APIs'). Then the routes of the APIs they name, or that use what
    /// changed (`shared.users`), are taken out and built again from the store. Everything
    /// else is shared with this snapshot, so the cost is that of what changed.
    pub async fn patch(
        &self,
        store: &dyn Store,
        cfg: &Config,
        shared: &mut Shared,
        metrics: &Registry,
        version: i64,
        changes: &[Change],
    ) -> Result<Snapshot, StoreError> {
        let inst = cfg.instance_id.as_str();
        let mut snap = self.clone();
        snap.version = version;
        let mut apis: Vec<String> = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        let mut specials = None;
        // Whether the names the gateway answers to, or the channels routes use, changed.
        let (mut hosts, mut channels) = (false, false);
        for c in changes {
            match c {
                Change::All => {}
                Change::Apps => snap.apps = Arc::new(load_apps(store, inst).await?),
                Change::Apis(ids) => apis.extend(ids.iter().cloned()),
                Change::Groups(ids) => {
                    for id in ids {
                        let Some(&gi) = shared.group_index.get(id) else {
                            groups.push(id.clone());
                            continue;
                        };
                        // A group deleted (it had no APIs): its slot stays, empty, so that
                        // the other groups' indexes hold.
                        if store.get_group(inst, id).await?.is_none() {
                            shared.group_index.remove(id);
                            snap.groups[gi] = GroupRoutes::default();
                            if snap.default_group == Some(gi) {
                                snap.default_group = None;
                            }
                            hosts = true;
                        }
                    }
                }
                Change::Hosts => hosts = true,
                Change::Channels(ids) => {
                    for id in ids {
                        match store.get_vpc_channel(inst, id).await? {
                            Some(c) => drop(shared.channels.insert(id.clone(), c)),
                            None => drop(shared.channels.remove(id)),
                        }
                        apis.extend(shared.users_of(Uses::Channel(id.clone())));
                    }
                    // Their routes are built again below, with the channels as they are now.
                    snap.channels.retain(|c| !ids.contains(&c.id));
                    channels = true;
                }
                Change::Plugins(ids) => {
                    let mut instances = (*snap.instances).clone();
                    for id in ids {
                        let running = match store.get_plugin(inst, id).await? {
                            Some(p) => instance_of(&p, Some(&self.instances), cfg)
                                .map(|i| (p.id, (p.content, i))),
                            None => None,
                        };
                        match running {
                            Some((id, i)) => drop(instances.insert(id, i)),
                            None => drop(instances.remove(id)),
                        }
                        apis.extend(shared.users_of(Uses::Plugin(id.clone())));
                    }
                    snap.instances = Arc::new(instances);
                }
                Change::GroupSettings(ids) => {
                    shared.set_values(store.list_variables(inst).await?);
                    shared.set_responses(store.list_gateway_responses(inst).await?);
                    for id in ids {
                        if let Some(&gi) = shared.group_index.get(id) {
                            snap.groups[gi].responses = shared.group_default(id);
                        }
                        apis.extend(shared.users_of(Uses::GroupSettings(id.clone())));
                    }
                }
                Change::Acls(ids) => {
                    for id in ids {
                        match store.get_acl(inst, id).await? {
                            Some(a) => shared.set_acl(a),
                            None => drop(shared.policies.remove(id)),
                        }
                        apis.extend(shared.users_of(Uses::Acl(id.clone())));
                    }
                }
                Change::Throttles(ids) => {
                    if specials.is_none() {
                        specials = Some(store.list_throttle_specials(inst).await?);
                    }
                    for id in ids {
                        match store.get_throttle(inst, id).await? {
                            Some(t) => {
                                shared.set_throttle(&t, specials.as_deref().unwrap_or(&[]), cfg)
                            }
                            None => drop(shared.throttles.remove(id)),
                        }
                        apis.extend(shared.users_of(Uses::Throttle(id.clone())));
                    }
                }
                Change::Envs(ids) => {
                    let before = std::mem::take(&mut shared.env_names);
                    shared.env_names = (store.list_envs(inst).await?)
                        .into_iter()
                        .map(|e| (e.id, e.name.into()))
                        .collect();
                    for id in ids {
                        if before.get(id) != shared.env_names.get(id) {
                            apis.extend(shared.users_of(Uses::Env(id.clone())));
                        }
                    }
                }
                Change::Signs(ids) => {
                    for id in ids {
                        match store.get_sign(inst, id).await? {
                            Some(k) => shared.set_sign(k),
                            None => drop(shared.signers.remove(id)),
                        }
                        apis.extend(shared.users_of(Uses::Sign(id.clone())));
                    }
                }
            }
        }
        apis.sort_unstable();
        apis.dedup();
        let inputs = match apis.is_empty() {
            true => RouteInputs::default(),
            false => store.route_inputs(inst, &apis).await?,
        };
        groups.extend(inputs.apis.iter().map(|a| a.group_id.clone()));
        if snap.add_groups(store, cfg, shared, groups).await? || hosts {
            snap.set_hosts(store, cfg, shared).await?;
        }
        for id in &apis {
            for p in shared.placed.remove(id).unwrap_or_default() {
                for what in &p.uses {
                    if let Some(apis) = shared.users.get_mut(what) {
                        apis.remove(id);
                    }
                }
                let group = &mut snap.groups[p.group];
                if let Some(router) = group.envs.get_mut(&*p.env).filter(|_| p.routed) {
                    let owned = |r: &Route| *r.api_id == **id;
                    router.remove(&p.template, p.method.as_ref(), p.prefix, &owned);
                }
            }
        }
        // A router left without routes goes, as a full build would not make it.
        for g in &mut snap.groups {
            g.envs.retain(|_, router| !router.is_empty());
        }
        for c in snap.place_routes(shared, &inputs, cfg, metrics) {
            if !snap.channels.iter().any(|x| Arc::ptr_eq(x, &c)) {
                snap.channels.push(c);
            }
        }
        if channels {
            cfg.channels.retain(&snap.channels);
        }
        Ok(snap)
    }

    /// Adds the groups `ids` that this snapshot does not have yet (created since it was built),
    /// with empty routers; returns whether it added any (their sub-domains are then to be put
    /// in place). A group's name or remark changes nothing here.
    async fn add_groups(
        &mut self,
        store: &dyn Store,
        cfg: &Config,
        shared: &mut Shared,
        mut ids: Vec<String>,
    ) -> Result<bool, StoreError> {
        ids.retain(|id| !shared.group_index.contains_key(id));
        ids.sort_unstable();
        ids.dedup();
        let mut added = false;
        for id in ids {
            let Some(g) = store.get_group(&cfg.instance_id, &id).await? else {
                continue;
            };
            self.add_group(&g, shared);
            added = true;
        }
        Ok(added)
    }

    /// Puts in place the names the gateway answers to: each group's sub-domain, and the bound
    /// domains with their certificates. Its cost is that of the groups and domains, whatever
    /// the number of APIs.
    async fn set_hosts(
        &mut self,
        store: &dyn Store,
        cfg: &Config,
        shared: &Shared,
    ) -> Result<(), StoreError> {
        self.hosts = Default::default();
        self.any_https_only = false;
        for (id, &group) in &shared.group_index {
            let host = Host {
                group,
                https_only: false,
            };
            self.hosts
                .insert(&format!("{id}.{}", cfg.domain_suffix), host);
        }
        let mut sites = Vec::new();
        let mut certificates = HashMap::new();
        for d in store.list_domains(&cfg.instance_id).await? {
            let Some(&gi) = shared.group_index.get(d.group_id.as_str()) else {
                continue;
            };
            let host = Host {
                group: gi,
                https_only: d.is_http_redirect_to_https,
            };
            self.any_https_only |= d.is_http_redirect_to_https;
            self.hosts.insert(&d.url_domain, host);
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
        self.tls = cfg
            .tls_instance
            .clone()
            .map(|key| Arc::new(crate::tls::Sites::build(key, &sites, cfg.http2)));
        Ok(())
    }

    /// Adds group `g`, without routes yet (its sub-domain is put in place by
    /// [`Self::set_hosts`]).
    fn add_group(&mut self, g: &apigw_model::resources::Group, shared: &mut Shared) {
        let i = self.groups.len();
        self.groups.push(GroupRoutes {
            responses: shared.group_default(&g.id),
            ..Default::default()
        });
        if g.is_default || (self.default_group.is_none() && g.name == DEFAULT_GROUP_NAME) {
            self.default_group = Some(i);
        }
        shared.group_index.insert(g.id.clone(), i);
    }

    /// Builds and puts in place the routes of the publications in `inputs`, noting where in
    /// `shared`. Returns the load balance channels they use.
    fn place_routes(
        &mut self,
        shared: &mut Shared,
        inputs: &RouteInputs,
        cfg: &Config,
        metrics: &Registry,
    ) -> Vec<Arc<crate::channel::Channel>> {
        let channels = Channels {
            stored: &shared.channels,
            running: &cfg.channels,
            used: Default::default(),
        };
        let bound = Bound::index(inputs);
        let apis_by_id: FastMap<&str, &apigw_model::resources::Api> =
            inputs.apis.iter().map(|a| (a.id.as_str(), a)).collect();
        let mut placed: Vec<(String, Placed)> = Vec::new();
        // By API, so that each definition is parsed once and only one is held at a time.
        let mut publications: Vec<&apigw_model::resources::Publication> =
            inputs.publications.iter().collect();
        publications.sort_unstable_by(|a, b| a.api_id.cmp(&b.api_id));
        let mut parsed: Option<(&str, Option<ApiDef>)> = None;
        for p in publications {
            let (Some(api), Some(env_name)) = (
                apis_by_id.get(p.api_id.as_str()),
                shared.env_names.get(p.env_id.as_str()),
            ) else {
                continue;
            };
            let Some(&gi) = shared.group_index.get(api.group_id.as_str()) else {
                continue;
            };
            if parsed.as_ref().map(|(id, _)| *id) != Some(api.id.as_str()) {
                let def = serde_json::from_str::<ApiDef>(&api.def)
                    .inspect_err(|e| tracing::error!(api_id = %api.id, error = %e, "stored API definition does not parse; not served"))
                    .ok();
                parsed = Some((api.id.as_str(), def));
            }
            let Some(def) = parsed.as_ref().and_then(|(_, d)| d.as_ref()) else {
                continue;
            };
            let variable = |name: &str| {
                let key = (api.group_id.clone(), p.env_id.clone(), name.to_string());
                shared.values.get(&key).map(String::as_str)
            };
            let key = (api.id.as_str(), p.env_id.as_str());
            let plugins = bound.plugins.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let mut uses = vec![
                Uses::GroupSettings(api.group_id.clone()),
                Uses::Env(p.env_id.clone()),
            ];
            uses.extend(plugins.iter().map(|b| Uses::Plugin(b.plugin_id.clone())));
            let acls = bound.acls.get(&key).into_iter().flatten();
            uses.extend(acls.map(|id| Uses::Acl(id.to_string())));
            uses.extend(
                bound
                    .throttle
                    .get(&key)
                    .map(|id| Uses::Throttle(id.to_string())),
            );
            uses.extend(bound.sign.get(&key).map(|id| Uses::Sign(id.to_string())));
            let channel = (def.backend_api.as_ref())
                .filter(|b| b.vpc_channel_status == 1)
                .and_then(|b| b.vpc_channel_info.as_ref());
            uses.extend(channel.map(|c| Uses::Channel(c.vpc_channel_id.clone())));
            let backend = match backend_of(def, &cfg.upstream, &channels, variable) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(api_id = %api.id, env_id = %p.env_id, error = %e, "API backend is unusable; not served");
                    // Kept, unrouted: a change to what it uses (a variable defined) retries it.
                    let unrouted = Placed {
                        routed: false,
                        group: gi,
                        env: env_name.clone(),
                        template: Vec::new(),
                        method: None,
                        prefix: false,
                        uses,
                    };
                    placed.push((api.id.clone(), unrouted));
                    continue;
                }
            };
            let mut members: Vec<_> = plugins
                .iter()
                .filter_map(|b| self.instances.get(&b.plugin_id))
                .map(|(_, i)| i.clone())
                .collect();
            // A bound cors plug-in decides; the API's switch applies without one.
            let cors_switch = def.extra.get("cors") == Some(&serde_json::Value::Bool(true));
            if cors_switch
                && !plugins
                    .iter()
                    .any(|b| b.plugin_type == apigw_model::PluginType::Cors)
            {
                members.extend(shared.api_cors.clone());
            }
            let chain = Arc::new(Chain::new(members));
            let mut access: Option<Box<crate::access::Access>> = None;
            for acl_id in bound.acls.get(&key).into_iter().flatten() {
                if let Some(c) = shared.policies.get(*acl_id) {
                    access.get_or_insert_default().add(c.clone());
                }
            }
            // The set named by `response_id` when it is one of the group's, else the default.
            let responses = match def.extra.get("response_id").and_then(|v| v.as_str()) {
                Some(id) => match shared.response_sets.get(id) {
                    Some((g, _, c)) if *g == api.group_id => c.clone(),
                    _ => shared.group_default(&api.group_id),
                },
                None => shared.group_default(&api.group_id),
            };
            let throttle = match chain.throttles() {
                true => None,
                false => {
                    (bound.throttle.get(&key)).and_then(|id| shared.throttles.get(*id).cloned())
                }
            };
            let route = Route {
                api_id: api.id.as_str().into(),
                api_name: api.name.as_str().into(),
                env_id: p.env_id.as_str().into(),
                env_name: env_name.clone(),
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
                apps: bound.apps.get(&key).cloned().unwrap_or_default(),
                access,
                throttle,
                sign: (bound.sign.get(&key)).and_then(|id| shared.signers.get(*id).cloned()),
                metrics: metrics.api(&api.id, &api.name),
            };
            let method = (def.req_method != "ANY")
                .then(|| def.req_method.parse::<Method>().ok())
                .flatten();
            let template = def.template();
            let router = self.groups[gi]
                .envs
                .entry(env_name.to_string())
                .or_default();
            router.insert(&template, method.clone(), route.prefix, Arc::new(route));
            let at = Placed {
                routed: true,
                group: gi,
                env: env_name.clone(),
                template,
                method,
                prefix: def.match_mode == "SWA",
                uses,
            };
            placed.push((api.id.clone(), at));
        }
        for (api_id, at) in placed {
            for what in &at.uses {
                let apis = shared.users.entry(what.clone()).or_default();
                apis.insert(api_id.clone());
            }
            shared.placed.entry(api_id).or_default().push(at);
        }
        channels
            .used
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
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
