//! Persistence of apigw's control-plane state behind one [`Store`] trait, one file per engine
//! (`sqlite.rs` today; the engine is chosen by URL in [`open`]). Migrations are numbered SQL
//! files under `migrations/{engine}/`, applied in order at start-up.
//!
//! Every write runs in one transaction that also bumps a version counter, so a reader of
//! [`Store::version`] learns that something changed (the data plane's change feed).

use apigw_model::page::Page;
use apigw_model::{Plugin, PluginScope, PluginType};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

mod sqlite;
pub use sqlite::SqliteStore;

/// What can go wrong in a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row addressed does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint was hit; the payload names it (`plugin_name`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
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
    /// Inserts a new plug-in. `Conflict("plugin_name")` when the name is taken.
    async fn create_plugin(&self, plugin: &Plugin) -> Result<(), StoreError>;
    /// Replaces the mutable fields of an existing plug-in (name, content, remark, ROMA app, update
    /// time). `NotFound`, or `Conflict("plugin_name")`.
    async fn update_plugin(&self, plugin: &Plugin) -> Result<(), StoreError>;
    /// Deletes a plug-in. `NotFound` when absent.
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
        Some(u) => Err(StoreError::Backend(format!(
            "unsupported store URL scheme: {u}"
        ))),
    }
}
