//! The embedded SQLite engine: one connection in WAL mode with `synchronous=FULL`, so that a
//! write acknowledged to a client is on disk before the answer leaves (it survives kill -9 and
//! power loss). Calls run on tokio's blocking pool.

use crate::{PluginFilter, Store, StoreError, MAX_KAFKA_LOG_PLUGINS};
use apigw_model::page::Page;
use apigw_model::resources::{
    Api, App, AppAuth, Binding, Env, Group, Publication, DEFAULT_GROUP_NAME, RELEASE_ENV_ID,
    RELEASE_ENV_NAME,
};
use apigw_model::{id, Plugin};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Migrations, applied in order; the index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/001_plugins.sql"),
    include_str!("../migrations/sqlite/002_resources.sql"),
];

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Ticks after each committed write.
    changed: Arc<tokio::sync::watch::Sender<u64>>,
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
            let (changed, _) = tokio::sync::watch::channel(0);
            Ok(Self {
                conn: Arc::new(Mutex::new(conn)),
                changed: Arc::new(changed),
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

impl SqliteStore {
    /// Runs `f` in one write transaction that also bumps the config version.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let out = self
            .with(move |conn| {
                let tx = conn.transaction().map_err(backend)?;
                let out = f(&tx)?;
                bump(&tx)?;
                tx.commit().map_err(backend)?;
                Ok(out)
            })
            .await?;
        self.tick();
        Ok(out)
    }

    fn tick(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Runs a query with the instance id as its one parameter, rows mapped by `map`.
    async fn rows<T: Send + 'static>(
        &self,
        sql: &'static str,
        instance_id: &str,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let instance_id = instance_id.to_string();
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
            let rows = stmt.query_map(params![instance_id], map).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }
}

/// Maps a unique violation to `Conflict(what)`, anything else to `Backend`.
fn unique_as(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(what)
        } else {
            backend(e)
        }
    }
}

fn exists(tx: &Transaction<'_>, sql: &str, a: &str, b: &str) -> Result<bool, StoreError> {
    tx.query_row(sql, params![a, b], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(backend)
}

/// `Missing(kind, id)` unless a `kind` row with that id exists in the instance.
fn require(
    tx: &Transaction<'_>,
    kind: &'static str,
    instance_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    let sql = match kind {
        "plugin" => "SELECT 1 FROM plugins WHERE instance_id=?1 AND id=?2",
        "api" => "SELECT 1 FROM apis WHERE instance_id=?1 AND id=?2",
        "env" => "SELECT 1 FROM envs WHERE instance_id=?1 AND id=?2",
        "group" => "SELECT 1 FROM groups WHERE instance_id=?1 AND id=?2",
        _ => "SELECT 1 FROM apps WHERE instance_id=?1 AND id=?2",
    };
    if exists(tx, sql, instance_id, id)? {
        Ok(())
    } else {
        Err(StoreError::Missing(kind, id.to_string()))
    }
}

fn changed(n: usize) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn group_from_row(r: &Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        name: r.get(2)?,
        remark: r.get(3)?,
        is_default: r.get::<_, i64>(4)? != 0,
        roma_app_id: r.get(5)?,
        register_time: r.get(6)?,
        update_time: r.get(7)?,
    })
}

fn env_from_row(r: &Row<'_>) -> rusqlite::Result<Env> {
    Ok(Env {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        name: r.get(2)?,
        remark: r.get(3)?,
        create_time: r.get(4)?,
    })
}

fn api_from_row(r: &Row<'_>) -> rusqlite::Result<Api> {
    Ok(Api {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        group_id: r.get(2)?,
        name: r.get(3)?,
        route_key: r.get(4)?,
        def: r.get(5)?,
        register_time: r.get(6)?,
        update_time: r.get(7)?,
    })
}

fn publication_from_row(r: &Row<'_>) -> rusqlite::Result<Publication> {
    Ok(Publication {
        publish_id: r.get(0)?,
        instance_id: r.get(1)?,
        api_id: r.get(2)?,
        env_id: r.get(3)?,
        remark: r.get(4)?,
        publish_time: r.get(5)?,
    })
}

fn app_from_row(r: &Row<'_>) -> rusqlite::Result<App> {
    Ok(App {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        name: r.get(2)?,
        remark: r.get(3)?,
        app_key: r.get(4)?,
        app_secret: r.get(5)?,
        register_time: r.get(6)?,
        update_time: r.get(7)?,
    })
}

fn auth_from_row(r: &Row<'_>) -> rusqlite::Result<AppAuth> {
    Ok(AppAuth {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        app_id: r.get(2)?,
        api_id: r.get(3)?,
        env_id: r.get(4)?,
        auth_time: r.get(5)?,
    })
}

fn binding_from_row(r: &Row<'_>) -> rusqlite::Result<Binding> {
    let t: String = r.get(3)?;
    Ok(Binding {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        plugin_id: r.get(2)?,
        plugin_type: t.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                "bad plugin_type".into(),
            )
        })?,
        api_id: r.get(4)?,
        env_id: r.get(5)?,
        attached_time: r.get(6)?,
    })
}

const BINDING_COLUMNS: &str =
    "id, instance_id, plugin_id, plugin_type, api_id, env_id, attached_time";

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
            if p.plugin_type == apigw_model::PluginType::KafkaLog {
                let n: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM plugins WHERE instance_id=?1 AND plugin_type='kafka_log'",
                        params![p.instance_id],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                if n >= MAX_KAFKA_LOG_PLUGINS {
                    return Err(StoreError::Quota("kafka_log"));
                }
            }
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
        .inspect(|_| self.tick())
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
        .inspect(|_| self.tick())
    }

    async fn delete_plugin(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            if exists(
                &tx,
                "SELECT 1 FROM bindings WHERE instance_id=?1 AND plugin_id=?2",
                &instance_id,
                &id,
            )? {
                return Err(StoreError::InUse("bindings"));
            }
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
        .inspect(|_| self.tick())
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

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
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

    async fn ensure_defaults(&self, instance_id: &str, now: i64) -> Result<(), StoreError> {
        let instance_id = instance_id.to_string();
        let missing = {
            let instance_id = instance_id.clone();
            self.with(move |conn| {
                let g: i64 = conn
                    .query_row(
                        "SELECT COUNT(*) FROM groups WHERE instance_id=?1 AND is_default=1",
                        params![instance_id],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                let e: i64 = conn
                    .query_row(
                        "SELECT COUNT(*) FROM envs WHERE instance_id=?1 AND id=?2",
                        params![instance_id, RELEASE_ENV_ID],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                Ok(g == 0 || e == 0)
            })
            .await?
        };
        if !missing {
            return Ok(());
        }
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO groups (id, instance_id, name, remark, is_default, register_time, update_time)
                 SELECT ?1, ?2, ?3, 'the default API group', 1, ?4, ?4
                 WHERE NOT EXISTS (SELECT 1 FROM groups WHERE instance_id=?2 AND is_default=1)",
                params![id::new_id(), instance_id, DEFAULT_GROUP_NAME, now],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT OR IGNORE INTO envs (id, instance_id, name, remark, create_time) VALUES (?1, ?2, ?3, 'the default environment', ?4)",
                params![RELEASE_ENV_ID, instance_id, RELEASE_ENV_NAME, now],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn create_group(&self, g: &Group) -> Result<(), StoreError> {
        let g = g.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO groups (id, instance_id, name, remark, is_default, roma_app_id, register_time, update_time)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![g.id, g.instance_id, g.name, g.remark, g.is_default as i64, g.roma_app_id, g.register_time, g.update_time],
            )
            .map_err(unique_as("group_name"))?;
            Ok(())
        })
        .await
    }

    async fn update_group(&self, g: &Group) -> Result<(), StoreError> {
        let g = g.clone();
        self.write(move |tx| {
            changed(
                tx.execute(
                    "UPDATE groups SET name=?3, remark=?4, update_time=?5 WHERE instance_id=?1 AND id=?2",
                    params![g.instance_id, g.id, g.name, g.remark, g.update_time],
                )
                .map_err(unique_as("group_name"))?,
            )
        })
        .await
    }

    async fn delete_group(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.write(move |tx| {
            require(tx, "group", &instance_id, &id).map_err(|_| StoreError::NotFound)?;
            if exists(
                tx,
                "SELECT 1 FROM apis WHERE instance_id=?1 AND group_id=?2",
                &instance_id,
                &id,
            )? {
                return Err(StoreError::InUse("apis"));
            }
            changed(
                tx.execute(
                    "DELETE FROM groups WHERE instance_id=?1 AND id=?2",
                    params![instance_id, id],
                )
                .map_err(backend)?,
            )
        })
        .await
    }

    async fn list_groups(&self, instance_id: &str) -> Result<Vec<Group>, StoreError> {
        self.rows(
            "SELECT id, instance_id, name, remark, is_default, roma_app_id, register_time, update_time
             FROM groups WHERE instance_id=?1 ORDER BY register_time, rowid",
            instance_id,
            group_from_row,
        )
        .await
    }

    async fn create_env(&self, e: &Env) -> Result<(), StoreError> {
        let e = e.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO envs (id, instance_id, name, remark, create_time) VALUES (?1,?2,?3,?4,?5)",
                params![e.id, e.instance_id, e.name, e.remark, e.create_time],
            )
            .map_err(unique_as("env_name"))?;
            Ok(())
        })
        .await
    }

    async fn update_env(&self, e: &Env) -> Result<(), StoreError> {
        let e = e.clone();
        self.write(move |tx| {
            changed(
                tx.execute(
                    "UPDATE envs SET name=?3, remark=?4 WHERE instance_id=?1 AND id=?2",
                    params![e.instance_id, e.id, e.name, e.remark],
                )
                .map_err(unique_as("env_name"))?,
            )
        })
        .await
    }

    async fn delete_env(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.write(move |tx| {
            require(tx, "env", &instance_id, &id).map_err(|_| StoreError::NotFound)?;
            if exists(
                tx,
                "SELECT 1 FROM publications WHERE instance_id=?1 AND env_id=?2",
                &instance_id,
                &id,
            )? {
                return Err(StoreError::InUse("publications"));
            }
            for sql in [
                "DELETE FROM bindings WHERE instance_id=?1 AND env_id=?2",
                "DELETE FROM app_auths WHERE instance_id=?1 AND env_id=?2",
                "DELETE FROM envs WHERE instance_id=?1 AND id=?2",
            ] {
                tx.execute(sql, params![instance_id, id]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_envs(&self, instance_id: &str) -> Result<Vec<Env>, StoreError> {
        self.rows(
            "SELECT id, instance_id, name, remark, create_time FROM envs WHERE instance_id=?1 ORDER BY create_time, rowid",
            instance_id,
            env_from_row,
        )
        .await
    }

    async fn create_api(&self, a: &Api) -> Result<(), StoreError> {
        let a = a.clone();
        self.write(move |tx| {
            require(tx, "group", &a.instance_id, &a.group_id)?;
            tx.execute(
                "INSERT INTO apis (id, instance_id, group_id, name, route_key, def, register_time, update_time)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![a.id, a.instance_id, a.group_id, a.name, a.route_key, a.def, a.register_time, a.update_time],
            )
            .map_err(api_conflict)?;
            Ok(())
        })
        .await
    }

    async fn update_api(&self, a: &Api) -> Result<(), StoreError> {
        let a = a.clone();
        self.write(move |tx| {
            require(tx, "api", &a.instance_id, &a.id).map_err(|_| StoreError::NotFound)?;
            require(tx, "group", &a.instance_id, &a.group_id)?;
            changed(
                tx.execute(
                    "UPDATE apis SET group_id=?3, name=?4, route_key=?5, def=?6, update_time=?7 WHERE instance_id=?1 AND id=?2",
                    params![a.instance_id, a.id, a.group_id, a.name, a.route_key, a.def, a.update_time],
                )
                .map_err(api_conflict)?,
            )
        })
        .await
    }

    async fn delete_api(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.write(move |tx| {
            changed(
                tx.execute(
                    "DELETE FROM apis WHERE instance_id=?1 AND id=?2",
                    params![instance_id, id],
                )
                .map_err(backend)?,
            )
        })
        .await
    }

    async fn list_apis(&self, instance_id: &str) -> Result<Vec<Api>, StoreError> {
        self.rows(
            "SELECT id, instance_id, group_id, name, route_key, def, register_time, update_time
             FROM apis WHERE instance_id=?1 ORDER BY register_time DESC, rowid DESC",
            instance_id,
            api_from_row,
        )
        .await
    }

    async fn publish(&self, p: &Publication) -> Result<(), StoreError> {
        let p = p.clone();
        self.write(move |tx| {
            require(tx, "api", &p.instance_id, &p.api_id)?;
            require(tx, "env", &p.instance_id, &p.env_id)?;
            tx.execute("DELETE FROM publications WHERE api_id=?1 AND env_id=?2", params![p.api_id, p.env_id]).map_err(backend)?;
            tx.execute(
                "INSERT INTO publications (publish_id, instance_id, api_id, env_id, remark, publish_time) VALUES (?1,?2,?3,?4,?5,?6)",
                params![p.publish_id, p.instance_id, p.api_id, p.env_id, p.remark, p.publish_time],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn unpublish(
        &self,
        instance_id: &str,
        api_id: &str,
        env_id: &str,
    ) -> Result<Publication, StoreError> {
        let (instance_id, api_id, env_id) = (
            instance_id.to_string(),
            api_id.to_string(),
            env_id.to_string(),
        );
        self.write(move |tx| {
            let p = tx
                .query_row(
                    "SELECT publish_id, instance_id, api_id, env_id, remark, publish_time FROM publications
                     WHERE instance_id=?1 AND api_id=?2 AND env_id=?3",
                    params![instance_id, api_id, env_id],
                    publication_from_row,
                )
                .optional()
                .map_err(backend)?
                .ok_or(StoreError::NotFound)?;
            tx.execute("DELETE FROM publications WHERE publish_id=?1", params![p.publish_id]).map_err(backend)?;
            Ok(p)
        })
        .await
    }

    async fn list_publications(&self, instance_id: &str) -> Result<Vec<Publication>, StoreError> {
        self.rows(
            "SELECT publish_id, instance_id, api_id, env_id, remark, publish_time FROM publications WHERE instance_id=?1",
            instance_id,
            publication_from_row,
        )
        .await
    }

    async fn create_app(&self, a: &App) -> Result<(), StoreError> {
        let a = a.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO apps (id, instance_id, name, remark, app_key, app_secret, register_time, update_time)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![a.id, a.instance_id, a.name, a.remark, a.app_key, a.app_secret, a.register_time, a.update_time],
            )
            .map_err(app_conflict)?;
            Ok(())
        })
        .await
    }

    async fn update_app(&self, a: &App) -> Result<(), StoreError> {
        let a = a.clone();
        self.write(move |tx| {
            changed(
                tx.execute(
                    "UPDATE apps SET name=?3, remark=?4, app_key=?5, app_secret=?6, update_time=?7 WHERE instance_id=?1 AND id=?2",
                    params![a.instance_id, a.id, a.name, a.remark, a.app_key, a.app_secret, a.update_time],
                )
                .map_err(app_conflict)?,
            )
        })
        .await
    }

    async fn delete_app(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.write(move |tx| {
            changed(
                tx.execute(
                    "DELETE FROM apps WHERE instance_id=?1 AND id=?2",
                    params![instance_id, id],
                )
                .map_err(backend)?,
            )
        })
        .await
    }

    async fn list_apps(&self, instance_id: &str) -> Result<Vec<App>, StoreError> {
        self.rows(
            "SELECT id, instance_id, name, remark, app_key, app_secret, register_time, update_time
             FROM apps WHERE instance_id=?1 ORDER BY register_time DESC, rowid DESC",
            instance_id,
            app_from_row,
        )
        .await
    }

    async fn authorize(
        &self,
        instance_id: &str,
        auths: &[AppAuth],
    ) -> Result<Vec<AppAuth>, StoreError> {
        let (instance_id, auths) = (instance_id.to_string(), auths.to_vec());
        self.write(move |tx| {
            let mut out = Vec::with_capacity(auths.len());
            for a in auths {
                require(tx, "app", &instance_id, &a.app_id)?;
                require(tx, "api", &instance_id, &a.api_id)?;
                require(tx, "env", &instance_id, &a.env_id)?;
                tx.execute(
                    "INSERT OR IGNORE INTO app_auths (id, instance_id, app_id, api_id, env_id, auth_time) VALUES (?1,?2,?3,?4,?5,?6)",
                    params![a.id, instance_id, a.app_id, a.api_id, a.env_id, a.auth_time],
                )
                .map_err(backend)?;
                let stored = tx
                    .query_row(
                        "SELECT id, instance_id, app_id, api_id, env_id, auth_time FROM app_auths WHERE app_id=?1 AND api_id=?2 AND env_id=?3",
                        params![a.app_id, a.api_id, a.env_id],
                        auth_from_row,
                    )
                    .map_err(backend)?;
                out.push(stored);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_app_auth(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.write(move |tx| {
            changed(
                tx.execute(
                    "DELETE FROM app_auths WHERE instance_id=?1 AND id=?2",
                    params![instance_id, id],
                )
                .map_err(backend)?,
            )
        })
        .await
    }

    async fn list_app_auths(&self, instance_id: &str) -> Result<Vec<AppAuth>, StoreError> {
        self.rows(
            "SELECT id, instance_id, app_id, api_id, env_id, auth_time FROM app_auths WHERE instance_id=?1",
            instance_id,
            auth_from_row,
        )
        .await
    }

    async fn attach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
        now: i64,
    ) -> Result<Vec<Binding>, StoreError> {
        let (instance_id, env_id, pairs) =
            (instance_id.to_string(), env_id.to_string(), pairs.to_vec());
        self.write(move |tx| {
            require(tx, "env", &instance_id, &env_id)?;
            let mut out = Vec::with_capacity(pairs.len());
            for (plugin_id, api_id) in pairs {
                let plugin_type: String = tx
                    .query_row("SELECT plugin_type FROM plugins WHERE instance_id=?1 AND id=?2", params![instance_id, plugin_id], |r| r.get(0))
                    .optional()
                    .map_err(backend)?
                    .ok_or_else(|| StoreError::Missing("plugin", plugin_id.clone()))?;
                require(tx, "api", &instance_id, &api_id)?;
                if !exists(tx, "SELECT 1 FROM publications WHERE api_id=?1 AND env_id=?2", &api_id, &env_id)? {
                    return Err(StoreError::NotPublished(api_id));
                }
                // One plug-in per type per API per environment: replace another of the same type.
                tx.execute(
                    "DELETE FROM bindings WHERE api_id=?1 AND env_id=?2 AND plugin_type=?3 AND plugin_id<>?4",
                    params![api_id, env_id, plugin_type, plugin_id],
                )
                .map_err(backend)?;
                tx.execute(
                    &format!("INSERT OR IGNORE INTO bindings ({BINDING_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7)"),
                    params![id::new_id(), instance_id, plugin_id, plugin_type, api_id, env_id, now],
                )
                .map_err(backend)?;
                out.push(
                    tx.query_row(
                        &format!("SELECT {BINDING_COLUMNS} FROM bindings WHERE api_id=?1 AND env_id=?2 AND plugin_type=?3"),
                        params![api_id, env_id, plugin_type],
                        binding_from_row,
                    )
                    .map_err(backend)?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn detach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError> {
        let (instance_id, env_id, pairs) =
            (instance_id.to_string(), env_id.to_string(), pairs.to_vec());
        self.write(move |tx| {
            require(tx, "env", &instance_id, &env_id)?;
            for (plugin_id, api_id) in pairs {
                require(tx, "plugin", &instance_id, &plugin_id)?;
                require(tx, "api", &instance_id, &api_id)?;
                tx.execute(
                    "DELETE FROM bindings WHERE plugin_id=?1 AND api_id=?2 AND env_id=?3",
                    params![plugin_id, api_id, env_id],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_bindings(&self, instance_id: &str) -> Result<Vec<Binding>, StoreError> {
        self.rows(
            "SELECT id, instance_id, plugin_id, plugin_type, api_id, env_id, attached_time
             FROM bindings WHERE instance_id=?1 ORDER BY attached_time DESC, rowid DESC",
            instance_id,
            binding_from_row,
        )
        .await
    }
}

fn api_conflict(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        if e.to_string().contains("route_key") {
            StoreError::Conflict("route")
        } else {
            StoreError::Conflict("api_name")
        }
    } else {
        backend(e)
    }
}

fn app_conflict(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        if e.to_string().contains("app_key") {
            StoreError::Conflict("app_key")
        } else {
            StoreError::Conflict("app_name")
        }
    } else {
        backend(e)
    }
}
