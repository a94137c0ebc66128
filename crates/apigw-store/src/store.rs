//! [`SqlStore`]: the one implementation of [`Store`], over either engine. Each resource's
//! statements (in the dialect of `sql.rs`), its row mapping ([`FromRow`]) and its existence
//! check ([`require`]) are written here once.

use crate::sql::{args, unique, Conn, ConnExt, Engine, FromRow, Row};
use crate::{PluginFilter, Resource, Store, StoreError, Unique};
use apigw_model::page::Page;
use apigw_model::resources::{
    Api, App, AppAuth, Binding, Env, Group, Publication, DEFAULT_GROUP_NAME, RELEASE_ENV_ID,
    RELEASE_ENV_NAME,
};
use apigw_model::{id, Plugin};
use async_trait::async_trait;

/// The state, kept by engine `E`.
#[derive(Debug)]
pub struct SqlStore<E> {
    engine: E,
}

impl SqlStore<crate::Sqlite> {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            engine: crate::Sqlite::open(path).await?,
        })
    }
}

impl SqlStore<crate::Postgres> {
    /// Connects to the PostgreSQL database at `url` (its schema: the `search_path`).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            engine: crate::Postgres::open(url).await?,
        })
    }
}

impl<E: Engine> SqlStore<E> {
    /// Ends a write transaction: on success bumps the version and commits, else rolls back.
    async fn end<T>(&self, mut tx: E::Tx, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let result = match result {
            Ok(out) => tx
                .execute(
                    "UPDATE config_version SET version = version + 1 WHERE id = 1",
                    &[],
                )
                .await
                .map(|_| out)
                .map_err(StoreError::from),
            err => err,
        };
        match result {
            Ok(out) => self.engine.commit(tx).await.map(|()| out),
            Err(e) => {
                self.engine.rollback(tx).await;
                Err(e)
            }
        }
    }

    /// Every row of `T` in the instance, in `order`.
    async fn list<T: FromRow + Send>(
        &self,
        table: &str,
        instance_id: &str,
        order: &str,
    ) -> Result<Vec<T>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {table} WHERE instance_id=?1 {order}",
            T::COLUMNS
        );
        self.engine
            .reader()
            .await?
            .all(&sql, &args![instance_id])
            .await
    }

    /// The row of `T` with that id in the instance.
    async fn get<T: FromRow + Send>(
        &self,
        table: &str,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {table} WHERE instance_id=?1 AND id=?2",
            T::COLUMNS
        );
        self.engine
            .reader()
            .await?
            .first(&sql, &args![instance_id, id])
            .await
    }
}

/// `Missing(kind, id)` unless a `kind` row with that id exists in the instance.
async fn require<C: Conn>(
    c: &mut C,
    kind: Resource,
    instance_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    let sql = match kind {
        Resource::Plugin => "SELECT 1 FROM plugins WHERE instance_id=?1 AND id=?2",
        Resource::Group => "SELECT 1 FROM groups WHERE instance_id=?1 AND id=?2",
        Resource::Env => "SELECT 1 FROM envs WHERE instance_id=?1 AND id=?2",
        Resource::Api => "SELECT 1 FROM apis WHERE instance_id=?1 AND id=?2",
        Resource::App => "SELECT 1 FROM apps WHERE instance_id=?1 AND id=?2",
        Resource::AppAuth => "SELECT 1 FROM app_auths WHERE instance_id=?1 AND id=?2",
        Resource::Binding => "SELECT 1 FROM bindings WHERE instance_id=?1 AND id=?2",
        Resource::Publication => {
            "SELECT 1 FROM publications WHERE instance_id=?1 AND publish_id=?2"
        }
    };
    if c.exists(sql, &args![instance_id, id]).await? {
        Ok(())
    } else {
        Err(StoreError::Missing(kind, id.to_string()))
    }
}

/// `NotFound` when a statement changed no row.
fn changed(n: u64) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl FromRow for Plugin {
    const COLUMNS: &'static str = "id, instance_id, name, plugin_type, scope, content, remark, \
        roma_app_id, roma_app_name, create_time, update_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(Plugin {
            id: r.text(0)?,
            instance_id: r.text(1)?,
            name: r.text(2)?,
            plugin_type: r.parsed(3)?,
            scope: r.parsed(4)?,
            content: r.text(5)?,
            remark: r.text(6)?,
            roma_app_id: r.opt_text(7)?,
            roma_app_name: r.opt_text(8)?,
            create_time: r.int(9)?,
            update_time: r.int(10)?,
        })
    }
}

impl FromRow for Group {
    const COLUMNS: &'static str =
        "id, instance_id, name, remark, is_default, roma_app_id, register_time, update_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(Group {
            id: r.text(0)?,
            instance_id: r.text(1)?,
            name: r.text(2)?,
            remark: r.text(3)?,
            is_default: r.int(4)? != 0,
            roma_app_id: r.opt_text(5)?,
            register_time: r.int(6)?,
            update_time: r.int(7)?,
        })
    }
}

impl FromRow for Env {
    const COLUMNS: &'static str = "id, instance_id, name, remark, create_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(Env {
            id: r.text(0)?,
            instance_id: r.text(1)?,
            name: r.text(2)?,
            remark: r.text(3)?,
            create_time: r.int(4)?,
        })
    }
}

impl FromRow for Api {
    const COLUMNS: &'static str =
        "id, instance_id, group_id, name, route_key, def, register_time, update_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(Api {
            id: r.text(0)?,
            instance_id: r.text(1)?,
            group_id: r.text(2)?,
            name: r.text(3)?,
            route_key: r.text(4)?,
            def: r.text(5)?,
            register_time: r.int(6)?,
            update_time: r.int(7)?,
        })
    }
}

impl FromRow for Publication {
    const COLUMNS: &'static str = "publish_id, instance_id, api_id, env_id, remark, publish_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(Publication {
            publish_id: r.text(0)?,
            instance_id: r.text(1)?,
            api_id: r.text(2)?,
            env_id: r.text(3)?,
            remark: r.text(4)?,
            publish_time: r.int(5)?,
        })
    }
}

impl FromRow for App {
    const COLUMNS: &'static str =
        "id, instance_id, name, remark, app_key, app_secret, register_time, update_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(App {
            id: r.text(0)?,
            instance_id: r.text(1)?,
            name: r.text(2)?,
            remark: r.text(3)?,
            app_key: r.text(4)?,
            app_secret: r.text(5)?,
            register_time: r.int(6)?,
            update_time: r.int(7)?,
        })
    }
}

impl FromRow for AppAuth {
    const COLUMNS: &'static str = "id, instance_id, app_id, api_id, env_id, auth_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(AppAuth {
            id: r.text(0)?,
            instance_id: r.text(1)?,
            app_id: r.text(2)?,
            api_id: r.text(3)?,
            env_id: r.text(4)?,
            auth_time: r.int(5)?,
        })
    }
}

impl FromRow for Binding {
    const COLUMNS: &'static str =
        "id, instance_id, plugin_id, plugin_type, api_id, env_id, attached_time";
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(Binding {
            id: r.text(0)?,
            instance_id: r.text(1)?,
            plugin_id: r.text(2)?,
            plugin_type: r.parsed(3)?,
            api_id: r.text(4)?,
            env_id: r.text(5)?,
            attached_time: r.int(6)?,
        })
    }
}

/// The uniqueness rules of the tables with two.
const API_UNIQUE: &[(&str, Unique)] = &[("route_key", Unique::Route)];
const APP_UNIQUE: &[(&str, Unique)] = &[("app_key", Unique::AppKey)];

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    async fn create_plugin(&self, p: &Plugin, max_of_type: Option<u64>) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            if let Some(max) = max_of_type {
                let n = tx
                    .count(
                        "SELECT COUNT(*) FROM plugins WHERE instance_id=?1 AND plugin_type=?2",
                        &args![&p.instance_id, p.plugin_type.as_str()],
                    )
                    .await?;
                if n >= max as i64 {
                    return Err(StoreError::Quota(max));
                }
            }
            tx.execute(
                &format!(
                    "INSERT INTO plugins ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                    Plugin::COLUMNS
                ),
                &args![
                    &p.id,
                    &p.instance_id,
                    &p.name,
                    p.plugin_type.as_str(),
                    p.scope.as_str(),
                    &p.content,
                    &p.remark,
                    &p.roma_app_id,
                    &p.roma_app_name,
                    p.create_time,
                    p.update_time
                ],
            )
            .await
            .map_err(unique(Unique::PluginName, &[]))?;
            Ok(())
        }
        .await;
        self.end(tx, result).await
    }

    async fn update_plugin(&self, p: &Plugin) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            changed(
                tx.execute(
                    "UPDATE plugins SET name=?3, content=?4, remark=?5, roma_app_id=?6,
                     roma_app_name=?7, update_time=?8 WHERE instance_id=?1 AND id=?2",
                    &args![
                        &p.instance_id,
                        &p.id,
                        &p.name,
                        &p.content,
                        &p.remark,
                        &p.roma_app_id,
                        &p.roma_app_name,
                        p.update_time
                    ],
                )
                .await
                .map_err(unique(Unique::PluginName, &[]))?,
            )
        }
        .await;
        self.end(tx, result).await
    }

    async fn delete_plugin(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            if tx
                .exists(
                    "SELECT 1 FROM bindings WHERE instance_id=?1 AND plugin_id=?2",
                    &args![instance_id, id],
                )
                .await?
            {
                return Err(StoreError::InUse(Resource::Binding));
            }
            changed(
                tx.execute(
                    "DELETE FROM plugins WHERE instance_id=?1 AND id=?2",
                    &args![instance_id, id],
                )
                .await?,
            )
        }
        .await;
        self.end(tx, result).await
    }

    async fn get_plugin(&self, instance_id: &str, id: &str) -> Result<Option<Plugin>, StoreError> {
        self.get("plugins", instance_id, id).await
    }

    async fn list_plugins(
        &self,
        instance_id: &str,
        f: &PluginFilter,
        page: Page,
    ) -> Result<(u64, Vec<Plugin>), StoreError> {
        // Each filter is "?N IS NULL OR column matches ?N" (the cast tells PostgreSQL its type), so one statement serves all.
        let name_clause = if f.name_exact {
            "name = ?5"
        } else {
            "instr(name, ?5) > 0"
        };
        let where_sql = format!(
            "WHERE instance_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR plugin_type = ?2)
             AND (CAST(?3 AS TEXT) IS NULL OR scope = ?3) AND (CAST(?4 AS TEXT) IS NULL OR id = ?4)
             AND (CAST(?5 AS TEXT) IS NULL OR {name_clause})
             AND (CAST(?6 AS TEXT) IS NULL OR roma_app_id = ?6)
             AND (CAST(?7 AS TEXT) IS NULL OR instr(roma_app_name, ?7) > 0)"
        );
        let filter = args![
            instance_id,
            f.plugin_type.map(|t| t.as_str()),
            f.scope.map(|s| s.as_str()),
            &f.id,
            &f.name,
            &f.roma_app_id,
            &f.roma_app_name
        ];
        let mut paged = filter.to_vec();
        paged.extend(args![page.limit as i64, page.offset as i64]);
        let mut c = self.engine.reader().await?;
        let total = c
            .count(
                &format!("SELECT COUNT(*) FROM plugins {where_sql}"),
                &filter,
            )
            .await?;
        let rows = c
            .all(
                &format!(
                    "SELECT {} FROM plugins {where_sql}
                     ORDER BY create_time DESC, rowid DESC LIMIT ?8 OFFSET ?9",
                    Plugin::COLUMNS
                ),
                &paged,
            )
            .await?;
        Ok((total as u64, rows))
    }

    async fn version(&self) -> Result<i64, StoreError> {
        self.engine
            .reader()
            .await?
            .count("SELECT version FROM config_version WHERE id = 1", &[])
            .await
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.engine.changes()
    }

    async fn ensure_defaults(&self, instance_id: &str, now: i64) -> Result<(), StoreError> {
        let present = {
            let mut c = self.engine.reader().await?;
            c.exists(
                "SELECT 1 FROM groups WHERE instance_id=?1 AND is_default=1",
                &args![instance_id],
            )
            .await?
                && c.exists(
                    "SELECT 1 FROM envs WHERE instance_id=?1 AND id=?2",
                    &args![instance_id, RELEASE_ENV_ID],
                )
                .await?
        };
        if present {
            return Ok(());
        }
        let mut tx = self.engine.begin().await?;
        let result = async {
            // Several nodes may start at once: PostgreSQL's unique index on the default group
            // turns a second insert into nothing.
            tx.execute(
                "INSERT INTO groups (id, instance_id, name, remark, is_default, register_time, update_time)
                 SELECT ?1, ?2, ?3, 'the default API group', 1, CAST(?4 AS BIGINT), CAST(?4 AS BIGINT)
                 WHERE NOT EXISTS (SELECT 1 FROM groups WHERE instance_id=?2 AND is_default=1)
                 ON CONFLICT DO NOTHING",
                &args![id::new_id(), instance_id, DEFAULT_GROUP_NAME, now],
            )
            .await?;
            tx.execute(
                "INSERT INTO envs (id, instance_id, name, remark, create_time)
                 VALUES (?1, ?2, ?3, 'the default environment', ?4) ON CONFLICT DO NOTHING",
                &args![RELEASE_ENV_ID, instance_id, RELEASE_ENV_NAME, now],
            )
            .await?;
            Ok(())
        }
        .await;
        self.end(tx, result).await
    }

    async fn get_group(&self, instance_id: &str, id: &str) -> Result<Option<Group>, StoreError> {
        self.get("groups", instance_id, id).await
    }

    async fn create_group(&self, g: &Group) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                &format!(
                    "INSERT INTO groups ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                    Group::COLUMNS
                ),
                &args![
                    &g.id,
                    &g.instance_id,
                    &g.name,
                    &g.remark,
                    g.is_default,
                    &g.roma_app_id,
                    g.register_time,
                    g.update_time
                ],
            )
            .await
            .map(drop)
            .map_err(unique(Unique::GroupName, &[]));
        self.end(tx, result).await
    }

    async fn update_group(&self, g: &Group) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                "UPDATE groups SET name=?3, remark=?4, update_time=?5 WHERE instance_id=?1 AND id=?2",
                &args![&g.instance_id, &g.id, &g.name, &g.remark, g.update_time],
            )
            .await
            .map_err(unique(Unique::GroupName, &[]))
            .and_then(changed);
        self.end(tx, result).await
    }

    async fn delete_group(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            require(&mut tx, Resource::Group, instance_id, id)
                .await
                .map_err(|_| StoreError::NotFound)?;
            if tx
                .exists(
                    "SELECT 1 FROM apis WHERE instance_id=?1 AND group_id=?2",
                    &args![instance_id, id],
                )
                .await?
            {
                return Err(StoreError::InUse(Resource::Api));
            }
            changed(
                tx.execute(
                    "DELETE FROM groups WHERE instance_id=?1 AND id=?2",
                    &args![instance_id, id],
                )
                .await?,
            )
        }
        .await;
        self.end(tx, result).await
    }

    async fn list_groups(&self, instance_id: &str) -> Result<Vec<Group>, StoreError> {
        self.list("groups", instance_id, "ORDER BY register_time, rowid")
            .await
    }

    async fn get_env(&self, instance_id: &str, id: &str) -> Result<Option<Env>, StoreError> {
        self.get("envs", instance_id, id).await
    }

    async fn create_env(&self, e: &Env) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                &format!(
                    "INSERT INTO envs ({}) VALUES (?1,?2,?3,?4,?5)",
                    Env::COLUMNS
                ),
                &args![&e.id, &e.instance_id, &e.name, &e.remark, e.create_time],
            )
            .await
            .map(drop)
            .map_err(unique(Unique::EnvName, &[]));
        self.end(tx, result).await
    }

    async fn update_env(&self, e: &Env) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                "UPDATE envs SET name=?3, remark=?4 WHERE instance_id=?1 AND id=?2",
                &args![&e.instance_id, &e.id, &e.name, &e.remark],
            )
            .await
            .map_err(unique(Unique::EnvName, &[]))
            .and_then(changed);
        self.end(tx, result).await
    }

    async fn delete_env(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            require(&mut tx, Resource::Env, instance_id, id)
                .await
                .map_err(|_| StoreError::NotFound)?;
            if tx
                .exists(
                    "SELECT 1 FROM publications WHERE instance_id=?1 AND env_id=?2",
                    &args![instance_id, id],
                )
                .await?
            {
                return Err(StoreError::InUse(Resource::Publication));
            }
            for sql in [
                "DELETE FROM bindings WHERE instance_id=?1 AND env_id=?2",
                "DELETE FROM app_auths WHERE instance_id=?1 AND env_id=?2",
                "DELETE FROM envs WHERE instance_id=?1 AND id=?2",
            ] {
                tx.execute(sql, &args![instance_id, id]).await?;
            }
            Ok(())
        }
        .await;
        self.end(tx, result).await
    }

    async fn list_envs(&self, instance_id: &str) -> Result<Vec<Env>, StoreError> {
        self.list("envs", instance_id, "ORDER BY create_time, rowid")
            .await
    }

    async fn get_api(&self, instance_id: &str, id: &str) -> Result<Option<Api>, StoreError> {
        self.get("apis", instance_id, id).await
    }

    async fn create_api(&self, a: &Api) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            require(&mut tx, Resource::Group, &a.instance_id, &a.group_id).await?;
            tx.execute(
                &format!(
                    "INSERT INTO apis ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                    Api::COLUMNS
                ),
                &args![
                    &a.id,
                    &a.instance_id,
                    &a.group_id,
                    &a.name,
                    &a.route_key,
                    &a.def,
                    a.register_time,
                    a.update_time
                ],
            )
            .await
            .map_err(unique(Unique::ApiName, API_UNIQUE))?;
            Ok(())
        }
        .await;
        self.end(tx, result).await
    }

    async fn update_api(&self, a: &Api) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            require(&mut tx, Resource::Api, &a.instance_id, &a.id)
                .await
                .map_err(|_| StoreError::NotFound)?;
            require(&mut tx, Resource::Group, &a.instance_id, &a.group_id).await?;
            changed(
                tx.execute(
                    "UPDATE apis SET group_id=?3, name=?4, route_key=?5, def=?6, update_time=?7
                     WHERE instance_id=?1 AND id=?2",
                    &args![
                        &a.instance_id,
                        &a.id,
                        &a.group_id,
                        &a.name,
                        &a.route_key,
                        &a.def,
                        a.update_time
                    ],
                )
                .await
                .map_err(unique(Unique::ApiName, API_UNIQUE))?,
            )
        }
        .await;
        self.end(tx, result).await
    }

    async fn delete_api(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                "DELETE FROM apis WHERE instance_id=?1 AND id=?2",
                &args![instance_id, id],
            )
            .await
            .map_err(StoreError::from)
            .and_then(changed);
        self.end(tx, result).await
    }

    async fn list_apis(&self, instance_id: &str) -> Result<Vec<Api>, StoreError> {
        self.list(
            "apis",
            instance_id,
            "ORDER BY register_time DESC, rowid DESC",
        )
        .await
    }

    async fn publish(&self, p: &Publication) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            require(&mut tx, Resource::Api, &p.instance_id, &p.api_id).await?;
            require(&mut tx, Resource::Env, &p.instance_id, &p.env_id).await?;
            tx.execute(
                "DELETE FROM publications WHERE api_id=?1 AND env_id=?2",
                &args![&p.api_id, &p.env_id],
            )
            .await?;
            tx.execute(
                &format!(
                    "INSERT INTO publications ({}) VALUES (?1,?2,?3,?4,?5,?6)",
                    Publication::COLUMNS
                ),
                &args![
                    &p.publish_id,
                    &p.instance_id,
                    &p.api_id,
                    &p.env_id,
                    &p.remark,
                    p.publish_time
                ],
            )
            .await?;
            Ok(())
        }
        .await;
        self.end(tx, result).await
    }

    async fn unpublish(
        &self,
        instance_id: &str,
        api_id: &str,
        env_id: &str,
    ) -> Result<Publication, StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            let p: Publication = tx
                .first(
                    &format!(
                        "SELECT {} FROM publications WHERE instance_id=?1 AND api_id=?2 AND env_id=?3",
                        Publication::COLUMNS
                    ),
                    &args![instance_id, api_id, env_id],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
            tx.execute(
                "DELETE FROM publications WHERE publish_id=?1",
                &args![&p.publish_id],
            )
            .await?;
            Ok(p)
        }
        .await;
        self.end(tx, result).await
    }

    async fn list_publications(&self, instance_id: &str) -> Result<Vec<Publication>, StoreError> {
        self.list("publications", instance_id, "").await
    }

    async fn get_app(&self, instance_id: &str, id: &str) -> Result<Option<App>, StoreError> {
        self.get("apps", instance_id, id).await
    }

    async fn create_app(&self, a: &App) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                &format!(
                    "INSERT INTO apps ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                    App::COLUMNS
                ),
                &args![
                    &a.id,
                    &a.instance_id,
                    &a.name,
                    &a.remark,
                    &a.app_key,
                    &a.app_secret,
                    a.register_time,
                    a.update_time
                ],
            )
            .await
            .map(drop)
            .map_err(unique(Unique::AppName, APP_UNIQUE));
        self.end(tx, result).await
    }

    async fn update_app(&self, a: &App) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                "UPDATE apps SET name=?3, remark=?4, app_key=?5, app_secret=?6, update_time=?7
                 WHERE instance_id=?1 AND id=?2",
                &args![
                    &a.instance_id,
                    &a.id,
                    &a.name,
                    &a.remark,
                    &a.app_key,
                    &a.app_secret,
                    a.update_time
                ],
            )
            .await
            .map_err(unique(Unique::AppName, APP_UNIQUE))
            .and_then(changed);
        self.end(tx, result).await
    }

    async fn delete_app(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                "DELETE FROM apps WHERE instance_id=?1 AND id=?2",
                &args![instance_id, id],
            )
            .await
            .map_err(StoreError::from)
            .and_then(changed);
        self.end(tx, result).await
    }

    async fn list_apps(&self, instance_id: &str) -> Result<Vec<App>, StoreError> {
        self.list(
            "apps",
            instance_id,
            "ORDER BY register_time DESC, rowid DESC",
        )
        .await
    }

    async fn authorize(
        &self,
        instance_id: &str,
        auths: &[AppAuth],
    ) -> Result<Vec<AppAuth>, StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            let mut out = Vec::with_capacity(auths.len());
            for a in auths {
                require(&mut tx, Resource::App, instance_id, &a.app_id).await?;
                require(&mut tx, Resource::Api, instance_id, &a.api_id).await?;
                require(&mut tx, Resource::Env, instance_id, &a.env_id).await?;
                tx.execute(
                    &format!(
                        "INSERT INTO app_auths ({}) VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT DO NOTHING",
                        AppAuth::COLUMNS
                    ),
                    &args![
                        &a.id,
                        instance_id,
                        &a.app_id,
                        &a.api_id,
                        &a.env_id,
                        a.auth_time
                    ],
                )
                .await?;
                let stored = tx
                    .first(
                        &format!(
                            "SELECT {} FROM app_auths WHERE app_id=?1 AND api_id=?2 AND env_id=?3",
                            AppAuth::COLUMNS
                        ),
                        &args![&a.app_id, &a.api_id, &a.env_id],
                    )
                    .await?
                    .ok_or_else(|| StoreError::Backend("authorisation not stored".into()))?;
                out.push(stored);
            }
            Ok(out)
        }
        .await;
        self.end(tx, result).await
    }

    async fn delete_app_auth(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = tx
            .execute(
                "DELETE FROM app_auths WHERE instance_id=?1 AND id=?2",
                &args![instance_id, id],
            )
            .await
            .map_err(StoreError::from)
            .and_then(changed);
        self.end(tx, result).await
    }

    async fn list_app_auths(&self, instance_id: &str) -> Result<Vec<AppAuth>, StoreError> {
        self.list("app_auths", instance_id, "").await
    }

    async fn attach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
        now: i64,
    ) -> Result<Vec<Binding>, StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            require(&mut tx, Resource::Env, instance_id, env_id).await?;
            let mut out = Vec::with_capacity(pairs.len());
            for (plugin_id, api_id) in pairs {
                let plugin_type = tx
                    .query(
                        "SELECT plugin_type FROM plugins WHERE instance_id=?1 AND id=?2",
                        &args![instance_id, plugin_id],
                    )
                    .await?
                    .first()
                    .map(|r| r.text(0))
                    .transpose()?
                    .ok_or_else(|| StoreError::Missing(Resource::Plugin, plugin_id.clone()))?;
                require(&mut tx, Resource::Api, instance_id, api_id).await?;
                if !tx
                    .exists(
                        "SELECT 1 FROM publications WHERE api_id=?1 AND env_id=?2",
                        &args![api_id, env_id],
                    )
                    .await?
                {
                    return Err(StoreError::NotPublished(api_id.clone()));
                }
                // One plug-in per type per API per environment: replace another of the same type.
                tx.execute(
                    "DELETE FROM bindings WHERE api_id=?1 AND env_id=?2 AND plugin_type=?3 AND plugin_id<>?4",
                    &args![api_id, env_id, &plugin_type, plugin_id],
                )
                .await?;
                tx.execute(
                    &format!(
                        "INSERT INTO bindings ({}) VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT DO NOTHING",
                        Binding::COLUMNS
                    ),
                    &args![
                        id::new_id(),
                        instance_id,
                        plugin_id,
                        &plugin_type,
                        api_id,
                        env_id,
                        now
                    ],
                )
                .await?;
                let bound = tx
                    .first(
                        &format!(
                            "SELECT {} FROM bindings WHERE api_id=?1 AND env_id=?2 AND plugin_type=?3",
                            Binding::COLUMNS
                        ),
                        &args![api_id, env_id, &plugin_type],
                    )
                    .await?
                    .ok_or_else(|| StoreError::Backend("binding not stored".into()))?;
                out.push(bound);
            }
            Ok(out)
        }
        .await;
        self.end(tx, result).await
    }

    async fn detach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        let result = async {
            require(&mut tx, Resource::Env, instance_id, env_id).await?;
            for (plugin_id, api_id) in pairs {
                require(&mut tx, Resource::Plugin, instance_id, plugin_id).await?;
                require(&mut tx, Resource::Api, instance_id, api_id).await?;
                tx.execute(
                    "DELETE FROM bindings WHERE plugin_id=?1 AND api_id=?2 AND env_id=?3",
                    &args![plugin_id, api_id, env_id],
                )
                .await?;
            }
            Ok(())
        }
        .await;
        self.end(tx, result).await
    }

    async fn list_bindings(&self, instance_id: &str) -> Result<Vec<Binding>, StoreError> {
        self.list(
            "bindings",
            instance_id,
            "ORDER BY attached_time DESC, rowid DESC",
        )
        .await
    }
}
