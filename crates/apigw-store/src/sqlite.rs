//! The embedded SQLite engine: one connection in WAL mode with `synchronous=FULL`, so that a
//! write acknowledged to a client is on disk before the answer leaves (it survives kill -9 and
//! power loss). Calls run on tokio's blocking pool.

use crate::{PluginFilter, Store, StoreError};
use apigw_model::page::Page;
use apigw_model::Plugin;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Migrations, applied in order; the index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/sqlite/001_plugins.sql")];

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(backend)?;
            }
            let mut conn = Connection::open(&path).map_err(backend)?;
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
                 PRAGMA busy_timeout=5000;",
            )
            .map_err(backend)?;
            migrate(&mut conn)?;
            Ok(Self {
                conn: Arc::new(Mutex::new(conn)),
            })
        })
        .await
        .map_err(backend)?
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(backend)?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(backend)? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

fn bump(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE config_version SET version = version + 1 WHERE id = 1",
        [],
    )
    .map_err(backend)?;
    Ok(())
}

const PLUGIN_COLUMNS: &str = "id, instance_id, name, plugin_type, scope, content, remark, \
     roma_app_id, roma_app_name, create_time, update_time";

fn plugin_from_row(r: &Row<'_>) -> rusqlite::Result<Plugin> {
    let parse_err = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad stored {what}").into(),
        )
    };
    let t: String = r.get(3)?;
    let s: String = r.get(4)?;
    Ok(Plugin {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        name: r.get(2)?,
        plugin_type: t.parse().map_err(|_| parse_err(3, "plugin_type"))?,
        scope: s.parse().map_err(|_| parse_err(4, "scope"))?,
        content: r.get(5)?,
        remark: r.get(6)?,
        roma_app_id: r.get(7)?,
        roma_app_name: r.get(8)?,
        create_time: r.get(9)?,
        update_time: r.get(10)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_plugin(&self, p: &Plugin) -> Result<(), StoreError> {
        let p = p.clone();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                &format!("INSERT INTO plugins ({PLUGIN_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"),
                params![
                    p.id, p.instance_id, p.name, p.plugin_type.as_str(), p.scope.as_str(),
                    p.content, p.remark, p.roma_app_id, p.roma_app_name, p.create_time,
                    p.update_time
                ],
            )
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("plugin_name") } else { backend(e) })?;
            bump(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn update_plugin(&self, p: &Plugin) -> Result<(), StoreError> {
        let p = p.clone();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let n = tx
                .execute(
                    "UPDATE plugins SET name=?3, content=?4, remark=?5, roma_app_id=?6,
                     roma_app_name=?7, update_time=?8 WHERE instance_id=?1 AND id=?2",
                    params![
                        p.instance_id,
                        p.id,
                        p.name,
                        p.content,
                        p.remark,
                        p.roma_app_id,
                        p.roma_app_name,
                        p.update_time
                    ],
                )
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict("plugin_name")
                    } else {
                        backend(e)
                    }
                })?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            bump(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn delete_plugin(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let n = tx
                .execute(
                    "DELETE FROM plugins WHERE instance_id=?1 AND id=?2",
                    params![instance_id, id],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            bump(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get_plugin(&self, instance_id: &str, id: &str) -> Result<Option<Plugin>, StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.with(move |conn| {
            conn.query_row(
                &format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE instance_id=?1 AND id=?2"),
                params![instance_id, id],
                plugin_from_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn list_plugins(
        &self,
        instance_id: &str,
        f: &PluginFilter,
        page: Page,
    ) -> Result<(u64, Vec<Plugin>), StoreError> {
        let instance_id = instance_id.to_string();
        let f = f.clone();
        self.with(move |conn| {
            // Each filter is "?N IS NULL OR column matches ?N", so one statement serves all.
            let name_clause = if f.name_exact { "name = ?5" } else { "instr(name, ?5) > 0" };
            let where_sql = format!(
                "WHERE instance_id = ?1 AND (?2 IS NULL OR plugin_type = ?2) AND (?3 IS NULL OR scope = ?3)
                 AND (?4 IS NULL OR id = ?4) AND (?5 IS NULL OR {name_clause})
                 AND (?6 IS NULL OR roma_app_id = ?6) AND (?7 IS NULL OR instr(roma_app_name, ?7) > 0)"
            );
            let args = params![
                instance_id,
                f.plugin_type.map(|t| t.as_str()),
                f.scope.map(|s| s.as_str()),
                f.id,
                f.name,
                f.roma_app_id,
                f.roma_app_name,
                page.limit as i64,
                page.offset as i64
            ];
            let total: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM plugins {where_sql}"), &args[..7], |r| r.get(0))
                .map_err(backend)?;
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {PLUGIN_COLUMNS} FROM plugins {where_sql}
                     ORDER BY create_time DESC, rowid DESC LIMIT ?8 OFFSET ?9"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map(args, plugin_from_row)
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            Ok((total as u64, rows))
        })
        .await
    }

    async fn version(&self) -> Result<i64, StoreError> {
        self.with(|conn| {
            conn.query_row("SELECT version FROM config_version WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(backend)
        })
        .await
    }
}
