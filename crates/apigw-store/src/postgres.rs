//! The PostgreSQL engine, for several apigw nodes on one database (cluster mode). Every write
//! is one transaction that also bumps the version and sends `NOTIFY` on the schema's channel;
//! each node `LISTEN`s on its own connection and ticks its change feed, so others learn of a
//! change at once (the reloader's periodic version check is the safety net). Unique
//! constraints make concurrent creates of one name end in one success and a conflict for the
//! rest.

use crate::{PluginFilter, Store, StoreError, MAX_KAFKA_LOG_PLUGINS};
use apigw_model::page::Page;
use apigw_model::resources::{
    Api, App, AppAuth, Binding, Env, Group, Publication, DEFAULT_GROUP_NAME, RELEASE_ENV_ID,
    RELEASE_ENV_NAME,
};
use apigw_model::{id, Plugin};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};
use tokio_postgres::{error::SqlState, Client, NoTls, Row, Transaction};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/001_plugins.sql"),
    include_str!("../migrations/postgres/002_resources.sql"),
];

/// A PostgreSQL database (the schema is the connection's `search_path`).
#[derive(Clone)]
pub struct PgStore {
    url: String,
    client: Arc<Mutex<Option<Client>>>,
    channel: String,
    changed: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let what = match e.as_db_error().and_then(|d| d.constraint()) {
            Some("plugins_name_key") => "plugin_name",
            Some("groups_name_key") => "group_name",
            Some("apis_name_key") => "api_name",
            Some("apis_route_key") => "route",
            Some("apps_name_key") => "app_name",
            Some("apps_app_key_key") => "app_key",
            Some("envs_name_key") => "env_name",
            _ => return StoreError::Backend(e.to_string()),
        };
        return StoreError::Conflict(what);
    }
    StoreError::Backend(e.to_string())
}

async fn connect(url: &str) -> Result<Client, StoreError> {
    let (client, connection) =
        tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(url, NoTls))
            .await
            .map_err(|_| StoreError::Backend("connecting to PostgreSQL timed out".into()))?
            .map_err(pg)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl PgStore {
    /// Connects, applies pending migrations (one node at a time) and starts listening for
    /// changes made through other nodes.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let mut client = connect(url).await?;
        let schema: String = client
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(pg)?
            .get(0);
        migrate(&mut client).await?;
        let (changed, _) = watch::channel(0);
        let store = Self {
            url: url.to_string(),
            client: Arc::new(Mutex::new(Some(client))),
            channel: format!(
                "apigw_changes_{}",
                schema.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
            changed: Arc::new(changed),
        };
        tokio::spawn(listen(
            store.url.clone(),
            store.channel.clone(),
            store.changed.clone(),
        ));
        Ok(store)
    }

    fn tick(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// The shared connection, reconnected when it was lost.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = None;
            *guard = Some(connect(&self.url).await?);
        }
        Ok(guard)
    }

    async fn rows(&self, sql: &str, instance_id: &str) -> Result<Vec<Row>, StoreError> {
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        client.query(sql, &[&instance_id]).await.map_err(pg)
    }
}

/// Bumps the version, announces the change and commits.
async fn commit(tx: Transaction<'_>, channel: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE config_version SET version = version + 1 WHERE id = 1",
        &[],
    )
    .await
    .map_err(pg)?;
    tx.execute(&format!("NOTIFY {channel}"), &[])
        .await
        .map_err(pg)?;
    tx.commit().await.map_err(pg)
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS apigw_migrations (version INTEGER PRIMARY KEY)")
        .await
        .map_err(pg)?;
    let tx = client.transaction().await.map_err(pg)?;
    // One node migrates at a time; the lock ends with the transaction.
    tx.execute("SELECT pg_advisory_xact_lock(73910017)", &[])
        .await
        .map_err(pg)?;
    let done: i64 = tx
        .query_one("SELECT COUNT(*) FROM apigw_migrations", &[])
        .await
        .map_err(pg)?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute(
            "INSERT INTO apigw_migrations (version) VALUES ($1)",
            &[&((i + 1) as i32)],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

/// Listens for changes made through any node; reconnects after a failure.
async fn listen(url: String, channel: String, changed: Arc<watch::Sender<u64>>) {
    loop {
        match tokio_postgres::connect(&url, NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                                if tx.send(()).is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {channel}"))
                    .await
                    .is_ok()
                {
                    // Something may have changed while we were not listening.
                    changed.send_modify(|n| *n += 1);
                    while rx.recv().await.is_some() {
                        changed.send_modify(|n| *n += 1);
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::debug!(error = %e, "LISTEN connection failed"),
        }
        if changed.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

const PLUGIN_COLUMNS: &str =
    "id, instance_id, name, plugin_type, scope, content, remark, roma_app_id, roma_app_name, create_time, update_time";

fn plugin_from_row(r: &Row) -> Result<Plugin, StoreError> {
    let bad = |what: &str| StoreError::Backend(format!("bad stored {what}"));
    Ok(Plugin {
        id: r.get(0),
        instance_id: r.get(1),
        name: r.get(2),
        plugin_type: r
            .get::<_, String>(3)
            .parse()
            .map_err(|_| bad("plugin_type"))?,
        scope: r.get::<_, String>(4).parse().map_err(|_| bad("scope"))?,
        content: r.get(5),
        remark: r.get(6),
        roma_app_id: r.get(7),
        roma_app_name: r.get(8),
        create_time: r.get(9),
        update_time: r.get(10),
    })
}

fn group_from_row(r: &Row) -> Group {
    Group {
        id: r.get(0),
        instance_id: r.get(1),
        name: r.get(2),
        remark: r.get(3),
        is_default: r.get::<_, i64>(4) != 0,
        roma_app_id: r.get(5),
        register_time: r.get(6),
        update_time: r.get(7),
    }
}

fn api_from_row(r: &Row) -> Api {
    Api {
        id: r.get(0),
        instance_id: r.get(1),
        group_id: r.get(2),
        name: r.get(3),
        route_key: r.get(4),
        def: r.get(5),
        register_time: r.get(6),
        update_time: r.get(7),
    }
}

fn publication_from_row(r: &Row) -> Publication {
    Publication {
        publish_id: r.get(0),
        instance_id: r.get(1),
        api_id: r.get(2),
        env_id: r.get(3),
        remark: r.get(4),
        publish_time: r.get(5),
    }
}

fn app_from_row(r: &Row) -> App {
    App {
        id: r.get(0),
        instance_id: r.get(1),
        name: r.get(2),
        remark: r.get(3),
        app_key: r.get(4),
        app_secret: r.get(5),
        register_time: r.get(6),
        update_time: r.get(7),
    }
}

fn auth_from_row(r: &Row) -> AppAuth {
    AppAuth {
        id: r.get(0),
        instance_id: r.get(1),
        app_id: r.get(2),
        api_id: r.get(3),
        env_id: r.get(4),
        auth_time: r.get(5),
    }
}

fn binding_from_row(r: &Row) -> Result<Binding, StoreError> {
    Ok(Binding {
        id: r.get(0),
        instance_id: r.get(1),
        plugin_id: r.get(2),
        plugin_type: r
            .get::<_, String>(3)
            .parse()
            .map_err(|_| StoreError::Backend("bad stored plugin_type".into()))?,
        api_id: r.get(4),
        env_id: r.get(5),
        attached_time: r.get(6),
    })
}

const BINDING_COLUMNS: &str =
    "id, instance_id, plugin_id, plugin_type, api_id, env_id, attached_time";

async fn exists(tx: &Transaction<'_>, sql: &str, a: &str, b: &str) -> Result<bool, StoreError> {
    Ok(tx.query_opt(sql, &[&a, &b]).await.map_err(pg)?.is_some())
}

async fn require(
    tx: &Transaction<'_>,
    kind: &'static str,
    instance_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    let sql = match kind {
        "plugin" => "SELECT 1 FROM plugins WHERE instance_id=$1 AND id=$2",
        "api" => "SELECT 1 FROM apis WHERE instance_id=$1 AND id=$2",
        "env" => "SELECT 1 FROM envs WHERE instance_id=$1 AND id=$2",
        "group" => "SELECT 1 FROM groups WHERE instance_id=$1 AND id=$2",
        _ => "SELECT 1 FROM apps WHERE instance_id=$1 AND id=$2",
    };
    if exists(tx, sql, instance_id, id).await? {
        Ok(())
    } else {
        Err(StoreError::Missing(kind, id.to_string()))
    }
}

fn changed(n: u64) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Runs a write: `$body` (which may `return Err(..)` or use `?`) gets `tx`; on success the
/// version, NOTIFY and commit follow, and the local tick; on error the transaction is rolled
/// back before the connection is used again.
macro_rules! write {
    ($self:ident, |$tx:ident| $body:block) => {{
        let mut guard = $self.client().await?;
        let client = guard.as_mut().expect("connected");
        let $tx = client.transaction().await.map_err(pg)?;
        let result: Result<_, StoreError> = async { Ok($body) }.await;
        match result {
            Ok(out) => {
                commit($tx, &$self.channel).await?;
                drop(guard);
                $self.tick();
                Ok(out)
            }
            Err(e) => {
                let _ = $tx.rollback().await;
                Err(e)
            }
        }
    }};
}

#[async_trait]
impl Store for PgStore {
    async fn create_plugin(&self, p: &Plugin) -> Result<(), StoreError> {
        write!(self, |tx| {
            if p.plugin_type == apigw_model::PluginType::KafkaLog {
                // Serialise kafka_log creates of an instance, so the quota holds across nodes.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))",
                    &[&p.instance_id],
                )
                .await
                .map_err(pg)?;
                let n: i64 = tx
                    .query_one("SELECT COUNT(*) FROM plugins WHERE instance_id=$1 AND plugin_type='kafka_log'", &[&p.instance_id])
                    .await
                    .map_err(pg)?
                    .get(0);
                if n >= MAX_KAFKA_LOG_PLUGINS {
                    return Err(StoreError::Quota("kafka_log"));
                }
            }
            tx.execute(
                &format!("INSERT INTO plugins ({PLUGIN_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"),
                &[&p.id, &p.instance_id, &p.name, &p.plugin_type.as_str(), &p.scope.as_str(), &p.content, &p.remark,
                  &p.roma_app_id, &p.roma_app_name, &p.create_time, &p.update_time],
            )
            .await
            .map_err(pg)?;
        })
    }

    async fn update_plugin(&self, p: &Plugin) -> Result<(), StoreError> {
        write!(self, |tx| {
            let n = tx
                .execute(
                    "UPDATE plugins SET name=$3, content=$4, remark=$5, roma_app_id=$6, roma_app_name=$7, update_time=$8
                     WHERE instance_id=$1 AND id=$2",
                    &[&p.instance_id, &p.id, &p.name, &p.content, &p.remark, &p.roma_app_id, &p.roma_app_name, &p.update_time],
                )
                .await
                .map_err(pg)?;
            changed(n)?;
        })
    }

    async fn delete_plugin(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        write!(self, |tx| {
            if exists(
                &tx,
                "SELECT 1 FROM bindings WHERE instance_id=$1 AND plugin_id=$2",
                instance_id,
                id,
            )
            .await?
            {
                return Err(StoreError::InUse("bindings"));
            }
            changed(
                tx.execute(
                    "DELETE FROM plugins WHERE instance_id=$1 AND id=$2",
                    &[&instance_id, &id],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn get_plugin(&self, instance_id: &str, id: &str) -> Result<Option<Plugin>, StoreError> {
        let guard = self.client().await?;
        let row = guard
            .as_ref()
            .expect("connected")
            .query_opt(
                &format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE instance_id=$1 AND id=$2"),
                &[&instance_id, &id],
            )
            .await
            .map_err(pg)?;
        row.as_ref().map(plugin_from_row).transpose()
    }

    async fn list_plugins(
        &self,
        instance_id: &str,
        f: &PluginFilter,
        page: Page,
    ) -> Result<(u64, Vec<Plugin>), StoreError> {
        let name_clause = if f.name_exact {
            "name = $5"
        } else {
            "strpos(name, $5) > 0"
        };
        let where_sql = format!(
            "WHERE instance_id = $1 AND ($2::text IS NULL OR plugin_type = $2) AND ($3::text IS NULL OR scope = $3)
             AND ($4::text IS NULL OR id = $4) AND ($5::text IS NULL OR {name_clause})
             AND ($6::text IS NULL OR roma_app_id = $6) AND ($7::text IS NULL OR strpos(roma_app_name, $7) > 0)"
        );
        let t = f.plugin_type.map(|t| t.as_str().to_string());
        let s = f.scope.map(|s| s.as_str().to_string());
        let (limit, offset) = (
            page.limit.min(i64::MAX as u64) as i64,
            page.offset.min(i64::MAX as u64) as i64,
        );
        let guard = self.client().await?;
        let client = guard.as_ref().expect("connected");
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &instance_id,
            &t,
            &s,
            &f.id,
            &f.name,
            &f.roma_app_id,
            &f.roma_app_name,
        ];
        let total: i64 = client
            .query_one(&format!("SELECT COUNT(*) FROM plugins {where_sql}"), &args)
            .await
            .map_err(pg)?
            .get(0);
        let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args.to_vec();
        all.push(&limit);
        all.push(&offset);
        let rows = client
            .query(&format!("SELECT {PLUGIN_COLUMNS} FROM plugins {where_sql} ORDER BY create_time DESC, seq DESC LIMIT $8 OFFSET $9"), &all)
            .await
            .map_err(pg)?;
        Ok((
            total as u64,
            rows.iter().map(plugin_from_row).collect::<Result<_, _>>()?,
        ))
    }

    async fn version(&self) -> Result<i64, StoreError> {
        let guard = self.client().await?;
        Ok(guard
            .as_ref()
            .expect("connected")
            .query_one("SELECT version FROM config_version WHERE id = 1", &[])
            .await
            .map_err(pg)?
            .get(0))
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    async fn ensure_defaults(&self, instance_id: &str, now: i64) -> Result<(), StoreError> {
        write!(self, |tx| {
            tx.execute(
                "INSERT INTO groups (id, instance_id, name, remark, is_default, register_time, update_time)
                 VALUES ($1, $2, $3, 'the default API group', 1, $4, $4) ON CONFLICT DO NOTHING",
                &[&id::new_id(), &instance_id, &DEFAULT_GROUP_NAME, &now],
            )
            .await
            .map_err(pg)?;
            tx.execute(
                "INSERT INTO envs (id, instance_id, name, remark, create_time) VALUES ($1, $2, $3, 'the default environment', $4)
                 ON CONFLICT DO NOTHING",
                &[&RELEASE_ENV_ID, &instance_id, &RELEASE_ENV_NAME, &now],
            )
            .await
            .map_err(pg)?;
        })
    }

    async fn create_group(&self, g: &Group) -> Result<(), StoreError> {
        write!(self, |tx| {
            tx.execute(
                "INSERT INTO groups (id, instance_id, name, remark, is_default, roma_app_id, register_time, update_time)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                &[&g.id, &g.instance_id, &g.name, &g.remark, &i64::from(g.is_default), &g.roma_app_id, &g.register_time, &g.update_time],
            )
            .await
            .map_err(pg)?;
        })
    }

    async fn update_group(&self, g: &Group) -> Result<(), StoreError> {
        write!(self, |tx| {
            changed(
                tx.execute(
                    "UPDATE groups SET name=$3, remark=$4, update_time=$5 WHERE instance_id=$1 AND id=$2",
                    &[&g.instance_id, &g.id, &g.name, &g.remark, &g.update_time],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn delete_group(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        write!(self, |tx| {
            require(&tx, "group", instance_id, id)
                .await
                .map_err(|_| StoreError::NotFound)?;
            if exists(
                &tx,
                "SELECT 1 FROM apis WHERE instance_id=$1 AND group_id=$2",
                instance_id,
                id,
            )
            .await?
            {
                return Err(StoreError::InUse("apis"));
            }
            changed(
                tx.execute(
                    "DELETE FROM groups WHERE instance_id=$1 AND id=$2",
                    &[&instance_id, &id],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn list_groups(&self, instance_id: &str) -> Result<Vec<Group>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, instance_id, name, remark, is_default, roma_app_id, register_time, update_time
                 FROM groups WHERE instance_id=$1 ORDER BY register_time, seq",
                instance_id,
            )
            .await?;
        Ok(rows.iter().map(group_from_row).collect())
    }

    async fn create_env(&self, e: &Env) -> Result<(), StoreError> {
        write!(self, |tx| {
            tx.execute(
                "INSERT INTO envs (id, instance_id, name, remark, create_time) VALUES ($1,$2,$3,$4,$5)",
                &[&e.id, &e.instance_id, &e.name, &e.remark, &e.create_time],
            )
            .await
            .map_err(pg)?;
        })
    }

    async fn update_env(&self, e: &Env) -> Result<(), StoreError> {
        write!(self, |tx| {
            changed(
                tx.execute(
                    "UPDATE envs SET name=$3, remark=$4 WHERE instance_id=$1 AND id=$2",
                    &[&e.instance_id, &e.id, &e.name, &e.remark],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn delete_env(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        write!(self, |tx| {
            require(&tx, "env", instance_id, id)
                .await
                .map_err(|_| StoreError::NotFound)?;
            if exists(
                &tx,
                "SELECT 1 FROM publications WHERE instance_id=$1 AND env_id=$2",
                instance_id,
                id,
            )
            .await?
            {
                return Err(StoreError::InUse("publications"));
            }
            for sql in [
                "DELETE FROM bindings WHERE instance_id=$1 AND env_id=$2",
                "DELETE FROM app_auths WHERE instance_id=$1 AND env_id=$2",
                "DELETE FROM envs WHERE instance_id=$1 AND id=$2",
            ] {
                tx.execute(sql, &[&instance_id, &id]).await.map_err(pg)?;
            }
        })
    }

    async fn list_envs(&self, instance_id: &str) -> Result<Vec<Env>, StoreError> {
        let rows = self
            .rows("SELECT id, instance_id, name, remark, create_time FROM envs WHERE instance_id=$1 ORDER BY create_time, seq", instance_id)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Env {
                id: r.get(0),
                instance_id: r.get(1),
                name: r.get(2),
                remark: r.get(3),
                create_time: r.get(4),
            })
            .collect())
    }

    async fn create_api(&self, a: &Api) -> Result<(), StoreError> {
        write!(self, |tx| {
            require(&tx, "group", &a.instance_id, &a.group_id).await?;
            tx.execute(
                "INSERT INTO apis (id, instance_id, group_id, name, route_key, def, register_time, update_time)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                &[&a.id, &a.instance_id, &a.group_id, &a.name, &a.route_key, &a.def, &a.register_time, &a.update_time],
            )
            .await
            .map_err(pg)?;
        })
    }

    async fn update_api(&self, a: &Api) -> Result<(), StoreError> {
        write!(self, |tx| {
            require(&tx, "api", &a.instance_id, &a.id)
                .await
                .map_err(|_| StoreError::NotFound)?;
            require(&tx, "group", &a.instance_id, &a.group_id).await?;
            changed(
                tx.execute(
                    "UPDATE apis SET group_id=$3, name=$4, route_key=$5, def=$6, update_time=$7 WHERE instance_id=$1 AND id=$2",
                    &[&a.instance_id, &a.id, &a.group_id, &a.name, &a.route_key, &a.def, &a.update_time],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn delete_api(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        write!(self, |tx| {
            changed(
                tx.execute(
                    "DELETE FROM apis WHERE instance_id=$1 AND id=$2",
                    &[&instance_id, &id],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn list_apis(&self, instance_id: &str) -> Result<Vec<Api>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, instance_id, group_id, name, route_key, def, register_time, update_time
                 FROM apis WHERE instance_id=$1 ORDER BY register_time DESC, seq DESC",
                instance_id,
            )
            .await?;
        Ok(rows.iter().map(api_from_row).collect())
    }

    async fn publish(&self, p: &Publication) -> Result<(), StoreError> {
        write!(self, |tx| {
            require(&tx, "api", &p.instance_id, &p.api_id).await?;
            require(&tx, "env", &p.instance_id, &p.env_id).await?;
            tx.execute(
                "DELETE FROM publications WHERE api_id=$1 AND env_id=$2",
                &[&p.api_id, &p.env_id],
            )
            .await
            .map_err(pg)?;
            tx.execute(
                "INSERT INTO publications (publish_id, instance_id, api_id, env_id, remark, publish_time) VALUES ($1,$2,$3,$4,$5,$6)",
                &[&p.publish_id, &p.instance_id, &p.api_id, &p.env_id, &p.remark, &p.publish_time],
            )
            .await
            .map_err(pg)?;
        })
    }

    async fn unpublish(
        &self,
        instance_id: &str,
        api_id: &str,
        env_id: &str,
    ) -> Result<Publication, StoreError> {
        write!(self, |tx| {
            let row = tx
                .query_opt(
                    "DELETE FROM publications WHERE instance_id=$1 AND api_id=$2 AND env_id=$3
                     RETURNING publish_id, instance_id, api_id, env_id, remark, publish_time",
                    &[&instance_id, &api_id, &env_id],
                )
                .await
                .map_err(pg)?
                .ok_or(StoreError::NotFound)?;
            publication_from_row(&row)
        })
    }

    async fn list_publications(&self, instance_id: &str) -> Result<Vec<Publication>, StoreError> {
        let rows = self
            .rows("SELECT publish_id, instance_id, api_id, env_id, remark, publish_time FROM publications WHERE instance_id=$1", instance_id)
            .await?;
        Ok(rows.iter().map(publication_from_row).collect())
    }

    async fn create_app(&self, a: &App) -> Result<(), StoreError> {
        write!(self, |tx| {
            tx.execute(
                "INSERT INTO apps (id, instance_id, name, remark, app_key, app_secret, register_time, update_time)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                &[&a.id, &a.instance_id, &a.name, &a.remark, &a.app_key, &a.app_secret, &a.register_time, &a.update_time],
            )
            .await
            .map_err(pg)?;
        })
    }

    async fn update_app(&self, a: &App) -> Result<(), StoreError> {
        write!(self, |tx| {
            changed(
                tx.execute(
                    "UPDATE apps SET name=$3, remark=$4, app_key=$5, app_secret=$6, update_time=$7 WHERE instance_id=$1 AND id=$2",
                    &[&a.instance_id, &a.id, &a.name, &a.remark, &a.app_key, &a.app_secret, &a.update_time],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn delete_app(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        write!(self, |tx| {
            changed(
                tx.execute(
                    "DELETE FROM apps WHERE instance_id=$1 AND id=$2",
                    &[&instance_id, &id],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn list_apps(&self, instance_id: &str) -> Result<Vec<App>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, instance_id, name, remark, app_key, app_secret, register_time, update_time
                 FROM apps WHERE instance_id=$1 ORDER BY register_time DESC, seq DESC",
                instance_id,
            )
            .await?;
        Ok(rows.iter().map(app_from_row).collect())
    }

    async fn authorize(
        &self,
        instance_id: &str,
        auths: &[AppAuth],
    ) -> Result<Vec<AppAuth>, StoreError> {
        write!(self, |tx| {
            let mut out = Vec::with_capacity(auths.len());
            for a in auths {
                require(&tx, "app", instance_id, &a.app_id).await?;
                require(&tx, "api", instance_id, &a.api_id).await?;
                require(&tx, "env", instance_id, &a.env_id).await?;
                tx.execute(
                    "INSERT INTO app_auths (id, instance_id, app_id, api_id, env_id, auth_time) VALUES ($1,$2,$3,$4,$5,$6)
                     ON CONFLICT (app_id, api_id, env_id) DO NOTHING",
                    &[&a.id, &instance_id, &a.app_id, &a.api_id, &a.env_id, &a.auth_time],
                )
                .await
                .map_err(pg)?;
                let row = tx
                    .query_one(
                        "SELECT id, instance_id, app_id, api_id, env_id, auth_time FROM app_auths WHERE app_id=$1 AND api_id=$2 AND env_id=$3",
                        &[&a.app_id, &a.api_id, &a.env_id],
                    )
                    .await
                    .map_err(pg)?;
                out.push(auth_from_row(&row));
            }
            out
        })
    }

    async fn delete_app_auth(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        write!(self, |tx| {
            changed(
                tx.execute(
                    "DELETE FROM app_auths WHERE instance_id=$1 AND id=$2",
                    &[&instance_id, &id],
                )
                .await
                .map_err(pg)?,
            )?;
        })
    }

    async fn list_app_auths(&self, instance_id: &str) -> Result<Vec<AppAuth>, StoreError> {
        let rows =
            self.rows("SELECT id, instance_id, app_id, api_id, env_id, auth_time FROM app_auths WHERE instance_id=$1", instance_id).await?;
        Ok(rows.iter().map(auth_from_row).collect())
    }

    async fn attach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
        now: i64,
    ) -> Result<Vec<Binding>, StoreError> {
        write!(self, |tx| {
            require(&tx, "env", instance_id, env_id).await?;
            let mut out = Vec::with_capacity(pairs.len());
            for (plugin_id, api_id) in pairs {
                let plugin_type: String = tx
                    .query_opt(
                        "SELECT plugin_type FROM plugins WHERE instance_id=$1 AND id=$2",
                        &[&instance_id, plugin_id],
                    )
                    .await
                    .map_err(pg)?
                    .ok_or_else(|| StoreError::Missing("plugin", plugin_id.clone()))?
                    .get(0);
                require(&tx, "api", instance_id, api_id).await?;
                if !exists(
                    &tx,
                    "SELECT 1 FROM publications WHERE api_id=$1 AND env_id=$2",
                    api_id,
                    env_id,
                )
                .await?
                {
                    return Err(StoreError::NotPublished(api_id.clone()));
                }
                tx.execute(
                    "DELETE FROM bindings WHERE api_id=$1 AND env_id=$2 AND plugin_type=$3 AND plugin_id<>$4",
                    &[api_id, &env_id, &plugin_type, plugin_id],
                )
                .await
                .map_err(pg)?;
                tx.execute(
                    &format!("INSERT INTO bindings ({BINDING_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING"),
                    &[&id::new_id(), &instance_id, plugin_id, &plugin_type, api_id, &env_id, &now],
                )
                .await
                .map_err(pg)?;
                let row = tx
                    .query_one(
                        &format!("SELECT {BINDING_COLUMNS} FROM bindings WHERE api_id=$1 AND env_id=$2 AND plugin_type=$3"),
                        &[api_id, &env_id, &plugin_type],
                    )
                    .await
                    .map_err(pg)?;
                out.push(binding_from_row(&row)?);
            }
            out
        })
    }

    async fn detach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError> {
        write!(self, |tx| {
            require(&tx, "env", instance_id, env_id).await?;
            for (plugin_id, api_id) in pairs {
                require(&tx, "plugin", instance_id, plugin_id).await?;
                require(&tx, "api", instance_id, api_id).await?;
                tx.execute(
                    "DELETE FROM bindings WHERE plugin_id=$1 AND api_id=$2 AND env_id=$3",
                    &[plugin_id, api_id, &env_id],
                )
                .await
                .map_err(pg)?;
            }
        })
    }

    async fn list_bindings(&self, instance_id: &str) -> Result<Vec<Binding>, StoreError> {
        let rows = self
            .rows(
                &format!("SELECT {BINDING_COLUMNS} FROM bindings WHERE instance_id=$1 ORDER BY attached_time DESC, seq DESC"),
                instance_id,
            )
            .await?;
        rows.iter().map(binding_from_row).collect()
    }
}
