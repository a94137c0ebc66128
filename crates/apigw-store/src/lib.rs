//! Persistence of apigw's control-plane state behind one [`Store`] trait.
//!
//! # Layout
//! - [`Store`]: what the control and data planes ask of the state; [`StoreError`], with the
//!   [`Resource`] and [`Unique`] constraint it concerns as types.
//! - `sql`: the query layer both engines speak — values, rows, a connection trait, and the
//!   rewriting of the one SQL dialect we write (SQLite's: `?N`, `rowid`, `instr`) into
//!   PostgreSQL's (`$N`, `seq`, `strpos`).
//! - `store`: [`SqlStore`], the one implementation of [`Store`]: every resource's statements,
//!   row mapping and existence checks, written once.
//! - [`Secrets`]: the keys that seal secret columns at rest (`secrets.rs`: format, rotation).
//! - `sqlite` and `postgres`: the two engines (connections, transactions, migrations, the
//!   change feed), chosen by URL in [`open`]. Migrations are numbered SQL files under
//!   `migrations/{engine}/`, applied in order at start-up.
//!
//! Every write runs in one transaction that also bumps a version counter, so a reader of
//! [`Store::version`] learns that something changed (the data plane's change feed), and records
//! what it changed as a [`Change`] under that version ([`Store::changes_since`]), so the data
//! plane can apply a change to its snapshot at the cost of what it changed.

use apigw_model::acl::{Acl, AclBinding};
use apigw_model::certificate::Certificate;
use apigw_model::domain::Domain;
use apigw_model::gateway_response::GatewayResponse;
use apigw_model::page::Page;
use apigw_model::resources::{Api, App, AppAuth, Binding, Env, Group, Publication};
use apigw_model::signature_key::{SignBinding, SignKey};
use apigw_model::throttle::{Throttle, ThrottleBinding, ThrottleSpecial};
use apigw_model::variables::EnvVariable;
use apigw_model::vpc_channel::VpcChannel;
use apigw_model::{Plugin, PluginScope, PluginType};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

mod postgres;
mod secrets;
mod sql;
mod sqlite;
mod store;
pub use postgres::Postgres;
pub use secrets::Secrets;
pub use sqlite::Sqlite;
pub use store::SqlStore;

/// The store on an embedded SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;
/// The store on a PostgreSQL database shared by a cluster.
pub type PgStore = SqlStore<Postgres>;

/// A kind of stored resource: what a [`StoreError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Plugin,
    Group,
    Env,
    Api,
    App,
    AppAuth,
    Publication,
    Binding,
    EnvVariable,
    Acl,
    GatewayResponse,
    AclBinding,
    Throttle,
    ThrottleBinding,
    ThrottleSpecial,
    Sign,
    SignBinding,
    Certificate,
    Domain,
    /// A certificate's binding to a domain (the domain's `ssl_id`).
    CertificateBinding,
    /// A load balance channel.
    VpcChannel,
}

impl Resource {
    /// The name the control plane's messages use (`plugin`, `api`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Plugin => "plugin",
            Resource::Group => "group",
            Resource::Env => "env",
            Resource::Api => "api",
            Resource::App => "app",
            Resource::AppAuth => "app_auth",
            Resource::Publication => "publication",
            Resource::GatewayResponse => "gateway_response",
            Resource::Binding => "binding",
            Resource::EnvVariable => "env_variable",
            Resource::Acl => "acl",
            Resource::AclBinding => "acl_binding",
            Resource::Throttle => "throttle",
            Resource::ThrottleBinding => "throttle_binding",
            Resource::ThrottleSpecial => "throttle_special",
            Resource::Sign => "sign",
            Resource::SignBinding => "sign_binding",
            Resource::Certificate => "certificate",
            Resource::Domain => "domain",
            Resource::CertificateBinding => "certificate_binding",
            Resource::VpcChannel => "vpc_channel",
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A uniqueness rule of the state, one per APIG "already exists" error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// Plug-in names, per instance (APIG.3326).
    PluginName,
    /// Group names, per instance.
    GroupName,
    /// Environment names, per instance.
    EnvName,
    /// API names, per group.
    ApiName,
    /// An API's method + match mode + path, per group.
    Route,
    /// App names, per instance.
    AppName,
    /// App keys, per instance.
    /// Gateway response set names, per group (APIG.3216).
    ResponseName,
    AppKey,
    /// Environment variable names, per group and environment.
    VariableName,
    /// Access control policy names, per instance.
    AclName,
    /// One access control policy of each kind (IP, account) per API and environment.
    AclKind,
    /// Request throttling policy names, per instance.
    ThrottleName,
    /// One request throttling policy per API and environment.
    ThrottleOne,
    /// One excluded configuration per app or user and policy.
    ThrottleSpecial,
    /// Signature key names, per instance (APIG.3207).
    SignName,
    /// One signature key per API and environment.
    SignOne,
    /// Domain names, per instance (APIG.3305).
    DomainName,
    /// One certificate per domain (APIG.2051).
    DomainCertificate,
    /// Load balance channel names, per instance (APIG.3208).
    VpcChannelName,
}

/// What can go wrong in a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row addressed does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was hit.
    #[error("conflict on {0:?}")]
    Conflict(Unique),
    /// A resource referred to does not exist.
    #[error("{0} {1} does not exist")]
    Missing(Resource, String),
    /// The row is still referred to by rows of this resource.
    #[error("still in use by {0}")]
    InUse(Resource),
    /// Binding needs the API to be published in the environment.
    #[error("API {0} is not published in the environment")]
    NotPublished(String),
    /// The instance already has the most plug-ins of the type that its caller allows.
    #[error("at most {0} plug-ins of the type")]
    Quota(u64),
    /// The engine failed (I/O, disk full, lost connection).
    #[error("store failure: {0}")]
    Backend(String),
}

/// What a committed write changed, as far as the data plane's snapshot is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Anything may have changed: the snapshot is rebuilt.
    All,
    /// Only apps (names, keys, secrets; a deleted app's authorisations go with it, and a route
    /// naming an app that no longer exists admits nobody by it).
    Apps,
    /// Only the routes of these APIs: their definitions, publications, plug-in and policy
    /// bindings and app authorisations.
    Apis(Vec<String>),
    /// Only these plug-ins (created, changed or deleted), and so the routes bound to them.
    Plugins(Vec<String>),
    /// Only these groups, created, renamed or deleted (a group's routes are its APIs').
    Groups(Vec<String>),
    /// Only the environment variables or gateway responses of these groups, and so the routes
    /// of their APIs.
    GroupSettings(Vec<String>),
    /// Only these access control policies, and so the routes bound to them.
    Acls(Vec<String>),
    /// Only these request throttling policies (or their excluded configurations), and so the
    /// routes bound to them.
    Throttles(Vec<String>),
    /// Only these signature keys, and so the routes bound to them.
    Signs(Vec<String>),
    /// Only these environments (created, renamed, or deleted once nothing is published in
    /// them), and so the routes published in them.
    Envs(Vec<String>),
    /// Only the names the gateway answers to: domains (bound, changed, unbound) and their
    /// certificates.
    Hosts,
    /// Only these load balance channels, and so the routes whose backend is one of them.
    Channels(Vec<String>),
}

impl Change {
    /// The stored form: `*`, `apps`, `hosts`, or the kind (`apis`, `plugins`, `groups`,
    /// `group-settings`, `acls`, `throttles`, `signs`, `envs`, `channels`) and the ids, space
    /// separated.
    pub fn encode(&self) -> String {
        let (word, ids) = match self {
            Change::All => return "*".into(),
            Change::Apps => return "apps".into(),
            Change::Hosts => return "hosts".into(),
            Change::Apis(ids) => ("apis", ids),
            Change::Plugins(ids) => ("plugins", ids),
            Change::Groups(ids) => ("groups", ids),
            Change::GroupSettings(ids) => ("group-settings", ids),
            Change::Acls(ids) => ("acls", ids),
            Change::Throttles(ids) => ("throttles", ids),
            Change::Signs(ids) => ("signs", ids),
            Change::Envs(ids) => ("envs", ids),
            Change::Channels(ids) => ("channels", ids),
        };
        std::iter::once(word)
            .chain(ids.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The change `encode` wrote; anything else reads as [`Change::All`].
    pub fn decode(stored: &str) -> Self {
        let mut words = stored.split(' ');
        let kind = words.next();
        let ids = words.map(str::to_string).collect();
        match kind {
            Some("apps") => Change::Apps,
            Some("apis") => Change::Apis(ids),
            Some("plugins") => Change::Plugins(ids),
            Some("groups") => Change::Groups(ids),
            Some("group-settings") => Change::GroupSettings(ids),
            Some("acls") => Change::Acls(ids),
            Some("throttles") => Change::Throttles(ids),
            Some("signs") => Change::Signs(ids),
            Some("envs") => Change::Envs(ids),
            Some("hosts") => Change::Hosts,
            Some("channels") => Change::Channels(ids),
            _ => Change::All,
        }
    }
}

/// What the routes of some APIs are built from: their rows and everything bound to them.
#[derive(Debug, Default)]
pub struct RouteInputs {
    pub apis: Vec<Api>,
    pub publications: Vec<Publication>,
    pub bindings: Vec<Binding>,
    pub auths: Vec<AppAuth>,
    pub acl_bindings: Vec<AclBinding>,
    pub throttle_bindings: Vec<ThrottleBinding>,
    pub sign_bindings: Vec<SignBinding>,
}

/// Filters of ListPlugins; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct PluginFilter {
    pub plugin_type: Option<PluginType>,
    pub scope: Option<PluginScope>,
    pub id: Option<String>,
    /// Matched as a substring, or exactly when `name_exact`.
    pub name: Option<String>,
    pub name_exact: bool,
    pub roma_app_id: Option<String>,
    pub roma_app_name: Option<String>,
}

/// The control-plane state of apigw.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Inserts a new plug-in. `Conflict(PluginName)` when the name is taken; `Quota(max)` when
    /// the instance already has `max_of_type` plug-ins of its type (the quota is the caller's
    /// rule; the store checks it in the same transaction as the insert).
    async fn create_plugin(
        &self,
        plugin: &Plugin,
        max_of_type: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Replaces the mutable fields of an existing plug-in (name, content, remark, ROMA app, update
    /// time). `NotFound`, or `Conflict(PluginName)`.
    async fn update_plugin(&self, plugin: &Plugin) -> Result<(), StoreError>;
    /// Deletes a plug-in. `NotFound` when absent, `InUse(Binding)` while bound.
    async fn delete_plugin(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One plug-in, if it exists in that instance.
    async fn get_plugin(&self, instance_id: &str, id: &str) -> Result<Option<Plugin>, StoreError>;
    /// The page of plug-ins matching `filter`, newest first (ties in insertion order, newest
    /// first), and the total count of matches.
    async fn list_plugins(
        &self,
        instance_id: &str,
        filter: &PluginFilter,
        page: Page,
    ) -> Result<(u64, Vec<Plugin>), StoreError>;
    /// Seals again, with the first key, every secret value sealed with an older key or stored
    /// before sealing (run at start-up: the end of a key rotation). The number rewritten.
    async fn reseal_secrets(&self) -> Result<u64, StoreError>;
    /// A counter that grows with every committed write.
    async fn version(&self) -> Result<i64, StoreError>;
    /// Ticks after every write this store commits (and, for shared stores, writes of other
    /// nodes it hears of): the data plane's prompt to compare [`Store::version`].
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
    /// The changes committed after `version`, in order of version. Only the last few thousand
    /// are kept: a caller that sees a gap (the first is not `version + 1`) rebuilds.
    async fn changes_since(&self, version: i64) -> Result<Vec<(i64, Change)>, StoreError>;
    /// The APIs of one group of the instance.
    async fn list_group_apis(
        &self,
        instance_id: &str,
        group_id: &str,
    ) -> Result<Vec<Api>, StoreError>;
    /// The APIs of the instance with these ids.
    async fn list_apis_of(&self, instance_id: &str, ids: &[String])
        -> Result<Vec<Api>, StoreError>;
    /// The publications of the APIs `api_ids` of the instance.
    async fn list_publications_of(
        &self,
        instance_id: &str,
        api_ids: &[String],
    ) -> Result<Vec<Publication>, StoreError>;
    /// The rows the routes of the APIs `api_ids` of the instance are built from.
    async fn route_inputs(
        &self,
        instance_id: &str,
        api_ids: &[String],
    ) -> Result<RouteInputs, StoreError>;

    /// Creates the instance's built-in `DEFAULT` group and `RELEASE` environment if missing.
    async fn ensure_defaults(&self, instance_id: &str, now: i64) -> Result<(), StoreError>;

    /// One group, if it exists in that instance.
    async fn get_group(&self, instance_id: &str, id: &str) -> Result<Option<Group>, StoreError>;
    /// Inserts a group. `Conflict(GroupName)`.
    async fn create_group(&self, group: &Group) -> Result<(), StoreError>;
    /// Updates name, remark and update time. `NotFound`, `Conflict(GroupName)`.
    async fn update_group(&self, group: &Group) -> Result<(), StoreError>;
    /// Deletes a group. `NotFound`, `InUse(Api)` while it has APIs.
    async fn delete_group(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every group of the instance, oldest first.
    async fn list_groups(&self, instance_id: &str) -> Result<Vec<Group>, StoreError>;

    /// One environment, if it exists in that instance.
    async fn get_env(&self, instance_id: &str, id: &str) -> Result<Option<Env>, StoreError>;
    /// Inserts an environment. `Conflict(EnvName)`.
    async fn create_env(&self, env: &Env) -> Result<(), StoreError>;
    /// Updates name and remark. `NotFound`, `Conflict(EnvName)`.
    async fn update_env(&self, env: &Env) -> Result<(), StoreError>;
    /// Deletes an environment with its bindings and authorisations. `NotFound`,
    /// `InUse(Publication)` while APIs are published in it.
    async fn delete_env(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every environment of the instance, oldest first.
    async fn list_envs(&self, instance_id: &str) -> Result<Vec<Env>, StoreError>;

    /// One API, if it exists in that instance.
    async fn get_api(&self, instance_id: &str, id: &str) -> Result<Option<Api>, StoreError>;
    /// Inserts an API. `Missing(Group | VpcChannel, id)` (the channel its backend goes
    /// through), `Conflict(ApiName)`, `Conflict(Route)`.
    async fn create_api(&self, api: &Api) -> Result<(), StoreError>;
    /// Replaces an API's definition. As create, plus `NotFound`.
    async fn update_api(&self, api: &Api) -> Result<(), StoreError>;
    /// Deletes an API with its publications, bindings and authorisations. `NotFound`.
    async fn delete_api(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every API of the instance, newest first.
    async fn list_apis(&self, instance_id: &str) -> Result<Vec<Api>, StoreError>;

    /// Publishes an API in an environment, replacing an earlier publication there.
    /// `Missing(Api | Env, id)`. (Routes are unique within a group already, so two
    /// publications of a group never clash.)
    async fn publish(&self, publication: &Publication) -> Result<(), StoreError>;
    /// Takes an API offline in an environment (its plug-in bindings stay; its access control
    /// bindings there go). `NotFound` when it was not
    /// published there.
    async fn unpublish(
        &self,
        instance_id: &str,
        api_id: &str,
        env_id: &str,
    ) -> Result<Publication, StoreError>;
    /// Every publication of the instance.
    async fn list_publications(&self, instance_id: &str) -> Result<Vec<Publication>, StoreError>;

    /// One app, if it exists in that instance.
    async fn get_app(&self, instance_id: &str, id: &str) -> Result<Option<App>, StoreError>;
    /// Inserts an app. `Conflict(AppName | AppKey)`.
    async fn create_app(&self, app: &App) -> Result<(), StoreError>;
    /// Updates an app. `NotFound`, `Conflict(..)`.
    async fn update_app(&self, app: &App) -> Result<(), StoreError>;
    /// Deletes an app and its authorisations. `NotFound`.
    async fn delete_app(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every app of the instance, newest first.
    async fn list_apps(&self, instance_id: &str) -> Result<Vec<App>, StoreError>;

    /// Authorises apps for APIs in an environment, all or nothing; existing authorisations are
    /// kept. Returns the authorisations asked for. `Missing(App | Api | Env, id)`.
    async fn authorize(
        &self,
        instance_id: &str,
        auths: &[AppAuth],
    ) -> Result<Vec<AppAuth>, StoreError>;
    /// Removes one authorisation. `NotFound`.
    async fn delete_app_auth(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every authorisation of the instance.
    async fn list_app_auths(&self, instance_id: &str) -> Result<Vec<AppAuth>, StoreError>;

    /// Binds plug-ins to APIs in one environment, all or nothing: each `(plugin_id, api_id)`
    /// replaces the API's binding of the same type there; an existing identical binding is
    /// kept. Returns the resulting bindings, in the order asked. `Missing(Plugin | Api | Env,
    /// id)`, `NotPublished(api_id)`.
    async fn attach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
        now: i64,
    ) -> Result<Vec<Binding>, StoreError>;
    /// Removes the bindings of `(plugin_id, api_id)` pairs in one environment, all or nothing;
    /// a pair that is not bound is ignored. `Missing(Plugin | Api | Env, id)`.
    async fn detach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError>;
    /// Every binding of the instance.
    async fn list_bindings(&self, instance_id: &str) -> Result<Vec<Binding>, StoreError>;

    /// Inserts an environment variable. `Missing(Group | Env, id)`, `Conflict(VariableName)`,
    /// `Quota(max)` when its group already has `max_per_group_and_env` in that environment.
    async fn create_variable(
        &self,
        variable: &EnvVariable,
        max_per_group_and_env: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Changes a variable's value (the only field that changes). `NotFound`.
    async fn update_variable(&self, variable: &EnvVariable) -> Result<(), StoreError>;
    /// Deletes a variable. `NotFound`.
    async fn delete_variable(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One variable, if it exists in that instance.
    async fn get_variable(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<EnvVariable>, StoreError>;
    /// Every variable of the instance, oldest first.
    async fn list_variables(&self, instance_id: &str) -> Result<Vec<EnvVariable>, StoreError>;

    /// Inserts a gateway response set. `Missing(Group, id)`, `Conflict(ResponseName)`,
    /// `Quota(max)` when its group already has `max_per_group` sets.
    async fn create_gateway_response(
        &self,
        response: &GatewayResponse,
        max_per_group: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Changes a set's name, responses and update time. `NotFound`, `Conflict(ResponseName)`.
    async fn update_gateway_response(&self, response: &GatewayResponse) -> Result<(), StoreError>;
    /// Deletes a set. `NotFound`.
    async fn delete_gateway_response(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One set, if it exists in that instance.
    async fn get_gateway_response(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<GatewayResponse>, StoreError>;
    /// Every set of the instance, oldest first.
    async fn list_gateway_responses(
        &self,
        instance_id: &str,
    ) -> Result<Vec<GatewayResponse>, StoreError>;

    /// Inserts an access control policy. `Conflict(AclName)`.
    async fn create_acl(&self, acl: &Acl) -> Result<(), StoreError>;
    /// Replaces a policy's fields (its bindings take its new kind). `NotFound`,
    /// `Conflict(AclName)`, `Conflict(AclKind)` when an API it is bound to already has a
    /// policy of the new kind in that environment.
    async fn update_acl(&self, acl: &Acl) -> Result<(), StoreError>;
    /// Deletes a policy. `NotFound`, `InUse(AclBinding)` while bound (APIG.3447).
    async fn delete_acl(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One policy, if it exists in that instance.
    async fn get_acl(&self, instance_id: &str, id: &str) -> Result<Option<Acl>, StoreError>;
    /// Every policy of the instance, newest first.
    async fn list_acls(&self, instance_id: &str) -> Result<Vec<Acl>, StoreError>;
    /// Binds a policy to the publications named, all or nothing; binding again what is bound
    /// keeps the binding. Returns the bindings in the order asked. `Missing(Acl |
    /// Publication, id)`, `Conflict(AclKind)` when the API already has another policy of that
    /// kind in that environment.
    async fn bind_acl(
        &self,
        instance_id: &str,
        acl_id: &str,
        publish_ids: &[String],
        now: i64,
    ) -> Result<Vec<AclBinding>, StoreError>;
    /// Removes one binding. `NotFound`.
    async fn unbind_acl(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every access control binding of the instance, newest first.
    async fn list_acl_bindings(&self, instance_id: &str) -> Result<Vec<AclBinding>, StoreError>;

    /// Inserts a request throttling policy. `Conflict(ThrottleName)`.
    async fn create_throttle(&self, t: &Throttle) -> Result<(), StoreError>;
    /// Replaces a policy's fields. `NotFound`, `Conflict(ThrottleName)`.
    async fn update_throttle(&self, t: &Throttle) -> Result<(), StoreError>;
    /// Deletes a policy with its bindings and excluded configurations. `NotFound`.
    async fn delete_throttle(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One policy, if it exists in that instance.
    async fn get_throttle(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<Throttle>, StoreError>;
    /// Every policy of the instance, newest first.
    async fn list_throttles(&self, instance_id: &str) -> Result<Vec<Throttle>, StoreError>;
    /// Binds a policy to the publications named, all or nothing; binding again what is bound
    /// keeps the binding. Returns the bindings in the order asked. `Missing(Throttle |
    /// Publication, id)`, `Conflict(ThrottleOne)` when the API already has another policy in
    /// that environment.
    async fn bind_throttle(
        &self,
        instance_id: &str,
        throttle_id: &str,
        publish_ids: &[String],
        now: i64,
    ) -> Result<Vec<ThrottleBinding>, StoreError>;
    /// Removes one binding. `NotFound`.
    async fn unbind_throttle(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every throttling binding of the instance, newest first.
    async fn list_throttle_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<ThrottleBinding>, StoreError>;
    /// Inserts an excluded configuration. `Missing(Throttle, id)`, `Conflict(ThrottleSpecial)`.
    async fn create_throttle_special(&self, s: &ThrottleSpecial) -> Result<(), StoreError>;
    /// Changes an excluded configuration's limit. `NotFound`.
    async fn update_throttle_special(
        &self,
        instance_id: &str,
        throttle_id: &str,
        id: &str,
        call_limits: i64,
    ) -> Result<(), StoreError>;
    /// Deletes an excluded configuration. `NotFound`.
    async fn delete_throttle_special(
        &self,
        instance_id: &str,
        throttle_id: &str,
        id: &str,
    ) -> Result<(), StoreError>;
    /// Every excluded configuration of the instance, oldest first.
    async fn list_throttle_specials(
        &self,
        instance_id: &str,
    ) -> Result<Vec<ThrottleSpecial>, StoreError>;

    /// Inserts a signature key. `Conflict(SignName)`.
    async fn create_sign(&self, k: &SignKey) -> Result<(), StoreError>;
    /// Replaces a key's fields. `NotFound`, `Conflict(SignName)`.
    async fn update_sign(&self, k: &SignKey) -> Result<(), StoreError>;
    /// Deletes a key with its bindings. `NotFound`.
    async fn delete_sign(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One key, if it exists in that instance.
    async fn get_sign(&self, instance_id: &str, id: &str) -> Result<Option<SignKey>, StoreError>;
    /// Every key of the instance, newest first.
    async fn list_signs(&self, instance_id: &str) -> Result<Vec<SignKey>, StoreError>;
    /// Binds a key to the publications named, all or nothing; binding again what is bound
    /// keeps the binding. Returns the bindings in the order asked. `Missing(Sign |
    /// Publication, id)`, `Conflict(SignOne)` when the API already has another key in that
    /// environment.
    async fn bind_sign(
        &self,
        instance_id: &str,
        sign_id: &str,
        publish_ids: &[String],
        now: i64,
    ) -> Result<Vec<SignBinding>, StoreError>;
    /// Removes one binding. `NotFound`.
    async fn unbind_sign(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every signature key binding of the instance, newest first.
    async fn list_sign_bindings(&self, instance_id: &str) -> Result<Vec<SignBinding>, StoreError>;

    /// Inserts a certificate. With `bind_to` `(instance_id, domain_id)`, also binds it to
    /// that domain in the same transaction, as [`Store::bind_certificate`] with `verified`
    /// unset (and its errors).
    async fn create_certificate(
        &self,
        c: &Certificate,
        bind_to: Option<(&str, &str)>,
    ) -> Result<(), StoreError>;
    /// Replaces a certificate's name, type, instance, PEM texts and update time; a
    /// certificate without `trusted_root_ca` no longer verifies clients on its domains.
    /// `NotFound`.
    async fn update_certificate(&self, c: &Certificate) -> Result<(), StoreError>;
    /// Deletes a certificate. `NotFound`, `InUse(Domain)` while a domain holds it.
    async fn delete_certificate(&self, id: &str) -> Result<(), StoreError>;
    /// One certificate by id, whatever its project or instance, with its private key opened
    /// (the TLS listener's look-up; the control plane checks the project itself).
    async fn get_certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError>;
    /// Every certificate of the project, newest first.
    async fn list_certificates(&self, project_id: &str) -> Result<Vec<Certificate>, StoreError>;

    /// Binds a domain name to a group. `Missing(Group, id)`, `Conflict(DomainName)`,
    /// `Quota(max)` when the group already has `max_per_group` domains.
    async fn create_domain(&self, d: &Domain, max_per_group: Option<u64>)
        -> Result<(), StoreError>;
    /// Changes a domain's `min_ssl_version`, `is_http_redirect_to_https` and
    /// `verified_client_certificate_enabled`. `NotFound`.
    async fn update_domain(&self, d: &Domain) -> Result<(), StoreError>;
    /// Unbinds a domain name from its group. `NotFound`.
    async fn delete_domain(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One domain, if it exists in that instance.
    async fn get_domain(&self, instance_id: &str, id: &str) -> Result<Option<Domain>, StoreError>;
    /// Every domain bound in the instance, oldest first (the data plane's list of names).
    async fn list_domains(&self, instance_id: &str) -> Result<Vec<Domain>, StoreError>;
    /// Binds certificate `ssl_id` to a domain; binding again the certificate bound keeps it.
    /// `verified` sets `verified_client_certificate_enabled`; unset, it is on when the
    /// certificate has a `trusted_root_ca`. The domain as it is then. `NotFound` (domain),
    /// `Missing(Certificate, id)`, `Conflict(DomainCertificate)` when another is bound.
    async fn bind_certificate(
        &self,
        instance_id: &str,
        domain_id: &str,
        ssl_id: &str,
        verified: Option<bool>,
    ) -> Result<Domain, StoreError>;
    /// Unbinds certificate `ssl_id` from a domain (client verification goes with it).
    /// `NotFound` (domain), `Missing(CertificateBinding, ssl_id)` when it is not bound there.
    async fn unbind_certificate(
        &self,
        instance_id: &str,
        domain_id: &str,
        ssl_id: &str,
    ) -> Result<(), StoreError>;

    /// Inserts a load balance channel with its members, member groups and health check.
    /// `Conflict(VpcChannelName)`, `Quota(max)` when the instance already has
    /// `max_per_instance` channels.
    async fn create_vpc_channel(
        &self,
        c: &VpcChannel,
        max_per_instance: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Replaces a channel whole (name, port, strategy, members, groups, health check; not its
    /// id, instance or creation time). `NotFound`, `Conflict(VpcChannelName)`.
    async fn update_vpc_channel(&self, c: &VpcChannel) -> Result<(), StoreError>;
    /// Deletes a channel. `NotFound`, `InUse(Api)` while an API's backend goes through it.
    async fn delete_vpc_channel(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// One channel, whole, if it exists in that instance.
    async fn get_vpc_channel(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<VpcChannel>, StoreError>;
    /// Every channel of the instance, whole (members, groups, health check), newest first:
    /// what the data plane builds its balancers from.
    async fn list_vpc_channels(&self, instance_id: &str) -> Result<Vec<VpcChannel>, StoreError>;

    /// Writes an [`ImportBatch`] in one transaction. `Conflict(GroupName | ApiName | Route |
    /// AclName | ThrottleName)`, `Missing` for a channel, environment or plug-in a row names.
    async fn import(&self, batch: &ImportBatch) -> Result<(), StoreError>;
}

/// What one import of API definitions writes (SPEC §11), in one transaction: all of it, or
/// nothing. Rows are complete (ids and times set by the caller); an updated row replaces the
/// stored one of the same id; a publication, binding or policy binding replaces the one of
/// the same API, environment and kind.
#[derive(Debug, Default, Clone)]
pub struct ImportBatch {
    /// A group created for the import.
    pub group: Option<Group>,
    pub created_apis: Vec<Api>,
    pub updated_apis: Vec<Api>,
    pub created_acls: Vec<Acl>,
    pub updated_acls: Vec<Acl>,
    pub created_throttles: Vec<Throttle>,
    pub updated_throttles: Vec<Throttle>,
    /// The excluded configurations of the created and updated throttles: each of those
    /// throttles' specials are replaced by the ones listed here for it.
    pub throttle_specials: Vec<ThrottleSpecial>,
    pub publications: Vec<Publication>,
    pub bindings: Vec<Binding>,
    pub acl_bindings: Vec<AclBinding>,
    pub throttle_bindings: Vec<ThrottleBinding>,
}

/// Opens the store named by `url`, or the SQLite database in `data_dir` when `url` is `None`;
/// `secrets` seal its secret columns.
pub async fn open(
    url: Option<&str>,
    data_dir: &Path,
    secrets: Secrets,
) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        None => Ok(Arc::new(
            SqliteStore::open(&data_dir.join("apigw.db"), secrets).await?,
        )),
        Some(u) if u.starts_with("sqlite://") => Ok(Arc::new(
            SqliteStore::open(Path::new(&u["sqlite://".len()..]), secrets).await?,
        )),
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::open(u, secrets).await?))
        }
        Some(u) => Err(StoreError::Backend(format!(
            "unsupported store URL scheme: {u}"
        ))),
    }
}
