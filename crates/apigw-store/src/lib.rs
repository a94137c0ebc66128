//! Persistence of apigw's control-plane state behind one [`Store`] trait, one file per engine
//! (`sqlite.rs` embedded, `postgres.rs` for clusters; the engine is chosen by URL in [`open`]). Migrations are numbered SQL
//! files under `migrations/{engine}/`, applied in order at start-up.
//!
//! Every write runs in one transaction that also bumps a version counter, so a reader of
//! [`Store::version`] learns that something changed (the data plane's change feed).

use apigw_model::page::Page;
use apigw_model::resources::{Api, App, AppAuth, Binding, Env, Group, Publication};
use apigw_model::{Plugin, PluginScope, PluginType};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

mod postgres;
mod sqlite;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Most kafka_log plug-ins per instance (APIG.3100).
pub const MAX_KAFKA_LOG_PLUGINS: i64 = 5;

/// What can go wrong in a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row addressed does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint was hit; the payload names it (`plugin_name`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// A resource referred to does not exist: (kind, id), kind being `plugin`, `api`, `env`,
    /// `group` or `app`.
    #[error("{0} {1} does not exist")]
    Missing(&'static str, String),
    /// The row is still referred to (`bindings`, `apis`, `publications`).
    #[error("still in use by {0}")]
    InUse(&'static str),
    /// Binding needs the API to be published in the environment.
    #[error("API {0} is not published in the environment")]
    NotPublished(String),
    /// A per-instance quota is full (`kafka_log` plug-ins).
    #[error("quota of {0} reached")]
    Quota(&'static str),
    /// The engine failed (I/O, disk full, lost connection).
    #[error("store failure: {0}")]
    Backend(String),
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
    /// Inserts a new plug-in. `Conflict("plugin_name")` when the name is taken;
    /// `Quota("kafka_log")` for a sixth kafka_log plug-in of the instance.
    async fn create_plugin(&self, plugin: &Plugin) -> Result<(), StoreError>;
    /// Replaces the mutable fields of an existing plug-in (name, content, remark, ROMA app, update
    /// time). `NotFound`, or `Conflict("plugin_name")`.
    async fn update_plugin(&self, plugin: &Plugin) -> Result<(), StoreError>;
    /// Deletes a plug-in. `NotFound` when absent, `InUse("bindings")` while bound.
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
    /// A counter that grows with every committed write.
    async fn version(&self) -> Result<i64, StoreError>;
    /// Ticks after every write this store commits (and, for shared stores, writes of other
    /// nodes it hears of): the data plane's prompt to compare [`Store::version`].
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Creates the instance's built-in `DEFAULT` group and `RELEASE` environment if missing.
    async fn ensure_defaults(&self, instance_id: &str, now: i64) -> Result<(), StoreError>;

    /// Inserts a group. `Conflict("group_name")`.
    async fn create_group(&self, group: &Group) -> Result<(), StoreError>;
    /// Updates name, remark and update time. `NotFound`, `Conflict("group_name")`.
    async fn update_group(&self, group: &Group) -> Result<(), StoreError>;
    /// Deletes a group. `NotFound`, `InUse("apis")` while it has APIs.
    async fn delete_group(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every group of the instance, oldest first.
    async fn list_groups(&self, instance_id: &str) -> Result<Vec<Group>, StoreError>;

    /// Inserts an environment. `Conflict("env_name")`.
    async fn create_env(&self, env: &Env) -> Result<(), StoreError>;
    /// Updates name and remark. `NotFound`, `Conflict("env_name")`.
    async fn update_env(&self, env: &Env) -> Result<(), StoreError>;
    /// Deletes an environment with its bindings and authorisations. `NotFound`,
    /// `InUse("publications")` while APIs are published in it.
    async fn delete_env(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every environment of the instance, oldest first.
    async fn list_envs(&self, instance_id: &str) -> Result<Vec<Env>, StoreError>;

    /// Inserts an API. `Missing("group", id)`, `Conflict("api_name")`, `Conflict("route")`.
    async fn create_api(&self, api: &Api) -> Result<(), StoreError>;
    /// Replaces an API's definition. As create, plus `NotFound`.
    async fn update_api(&self, api: &Api) -> Result<(), StoreError>;
    /// Deletes an API with its publications, bindings and authorisations. `NotFound`.
    async fn delete_api(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every API of the instance, newest first.
    async fn list_apis(&self, instance_id: &str) -> Result<Vec<Api>, StoreError>;

    /// Publishes an API in an environment, replacing an earlier publication there.
    /// `Missing("api" | "env", id)`. (Routes are unique within a group already, so two
    /// publications of a group never clash.)
    async fn publish(&self, publication: &Publication) -> Result<(), StoreError>;
    /// Takes an API offline in an environment (its bindings stay). `NotFound` when it was not
    /// published there.
    async fn unpublish(
        &self,
        instance_id: &str,
        api_id: &str,
        env_id: &str,
    ) -> Result<Publication, StoreError>;
    /// Every publication of the instance.
    async fn list_publications(&self, instance_id: &str) -> Result<Vec<Publication>, StoreError>;

    /// Inserts an app. `Conflict("app_name" | "app_key")`.
    async fn create_app(&self, app: &App) -> Result<(), StoreError>;
    /// Updates an app. `NotFound`, `Conflict(..)`.
    async fn update_app(&self, app: &App) -> Result<(), StoreError>;
    /// Deletes an app and its authorisations. `NotFound`.
    async fn delete_app(&self, instance_id: &str, id: &str) -> Result<(), StoreError>;
    /// Every app of the instance, newest first.
    async fn list_apps(&self, instance_id: &str) -> Result<Vec<App>, StoreError>;

    /// Authorises apps for APIs in an environment, all or nothing; existing authorisations are
    /// kept. Returns the authorisations asked for. `Missing("app" | "api" | "env", id)`.
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
    /// kept. Returns the resulting bindings, in the order asked. `Missing("plugin" | "api" |
    /// "env", id)`, `NotPublished(api_id)`.
    async fn attach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
        now: i64,
    ) -> Result<Vec<Binding>, StoreError>;
    /// Removes the bindings of `(plugin_id, api_id)` pairs in one environment, all or nothing;
    /// a pair that is not bound is ignored. `Missing("plugin" | "api" | "env", id)`.
    async fn detach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError>;
    /// Every binding of the instance.
    async fn list_bindings(&self, instance_id: &str) -> Result<Vec<Binding>, StoreError>;
}

/// Opens the store named by `url`, or the SQLite database in `data_dir` when `url` is `None`.
pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        None => Ok(Arc::new(
            SqliteStore::open(&data_dir.join("apigw.db")).await?,
        )),
        Some(u) if u.starts_with("sqlite://") => Ok(Arc::new(
            SqliteStore::open(Path::new(&u["sqlite://".len()..])).await?,
        )),
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::open(u).await?))
        }
        Some(u) => Err(StoreError::Backend(format!(
            "unsupported store URL scheme: {u}"
        ))),
    }
}
