//! The PostgreSQL engine, for several apigw nodes on one database (cluster mode). Every write
//! is one transaction that also bumps the version and sends `NOTIFY` on the schema's channel;
//! each node `LISTEN`s on its own connection and ticks its change feed, so others learn of a
//! change at once (the reloader's periodic version check is the safety net). Unique
//! constraints make concurrent creates of one name end in one success and a conflict for the
//! rest.

use crate::sql::{to_postgres, Conn, DbError, Engine, Row, Value};
use crate::{Secrets, StoreError};
use async_trait::async_trait;
use bytes::BytesMut;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex, OwnedMutexGuard};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/001_plugins.sql"),
    include_str!("../migrations/postgres/002_resources.sql"),
    include_str!("../migrations/postgres/003_env_variables.sql"),
    include_str!("../migrations/postgres/004_acls.sql"),
    include_str!("../migrations/postgres/005_throttles.sql"),
    include_str!("../migrations/postgres/006_gateway_responses.sql"),
    include_str!("../migrations/postgres/007_signs.sql"),
    include_str!("../migrations/postgres/008_certificates.sql"),
    include_str!("../migrations/postgres/009_vpc_channels.sql"),
    include_str!("../migrations/postgres/010_config_changes.sql"),
    include_str!("../migrations/postgres/011_apis_by_group.sql"),
];

/// A PostgreSQL database (the schema is the connection's `search_path`).
pub struct Postgres {
    url: String,
    /// The one connection of this node; a transaction or a read holds it to itself.
    state: Arc<Mutex<PgState>>,
    /// The NOTIFY channel of the schema.
    channel: String,
    changed: Arc<watch::Sender<u64>>,
    /// The keys of the secret columns.
    secrets: Arc<Secrets>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// The connection, and what a session leaves for the next one.
#[derive(Default)]
struct PgState {
    /// `None` until connected, and after the connection was lost.
    client: Option<Client>,
    /// A transaction was begun and neither committed nor rolled back (its task was cancelled):
    /// the next session rolls it back first.
    open_tx: bool,
}

fn db_error(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(d) if *d.code() == SqlState::UNIQUE_VIOLATION => {
            DbError::Unique(d.constraint().unwrap_or_default().to_string())
        }
        _ => DbError::Other(detail(&e)),
    }
}

/// The server's own message where there is one (`Display` says only "db error").
fn detail(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.to_string())
}

fn other(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(detail(&e))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) if *ty == Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
            Value::Int(n) if *ty == Type::INT8 => n.to_sql(ty, out),
            Value::Text(s) if <&str as ToSql>::accepts(ty) => s.as_str().to_sql(ty, out),
            v => Err(format!("{v:?} cannot be a {ty} parameter").into()),
        }
    }

    /// Every type: each value checks the parameter's type itself in `to_sql`.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn value_of(row: &tokio_postgres::Row, i: usize) -> Result<Value, tokio_postgres::Error> {
    let ty = row.columns()[i].type_();
    Ok(if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, |n| Value::Int(n.into()))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, Value::from)
    } else {
        row.try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text)
    })
}

/// The connection settings of `url`, with a dead peer noticed within about half a minute (TCP
/// keepalives, and a bound on unacknowledged data) unless the URL sets its own: a statement on
/// a half-open connection would otherwise hold the node's one connection for many minutes.
fn config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Backend(e.to_string()))?;
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(30));
    }
    if !url.contains("keepalives_idle") {
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
    }
    Ok(config)
}

async fn connect(url: &str) -> Result<Client, StoreError> {
    let config = config(url)?;
    let (client, connection) = tokio::time::timeout(Duration::from_secs(5), config.connect(NoTls))
        .await
        .map_err(|_| StoreError::Backend("connecting to PostgreSQL timed out".into()))?
        .map_err(other)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl Postgres {
    /// Connects, applies pending migrations (one node at a time) and starts listening for
    /// changes made through other nodes.
    pub async fn open(url: &str, secrets: Arc<Secrets>) -> Result<Self, StoreError> {
        let mut client = connect(url).await?;
        let schema: String = client
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(other)?
            .get(0);
        migrate(&mut client).await?;
        let engine = Self {
            url: url.to_string(),
            state: Arc::new(Mutex::new(PgState {
                client: Some(client),
                open_tx: false,
            })),
            channel: format!(
                "apigw_changes_{}",
                schema.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
            changed: Arc::new(watch::channel(0).0),
            secrets,
        };
        tokio::spawn(listen(
            engine.url.clone(),
            engine.channel.clone(),
            engine.changed.clone(),
        ));
        Ok(engine)
    }

    /// A session: the connection to ourselves (reconnected when it was lost), an abandoned
    /// transaction rolled back.
    async fn session(&self) -> Result<PgConn, StoreError> {
        let mut state = self.state.clone().lock_owned().await;
        if state.client.as_ref().is_none_or(|c| c.is_closed()) {
            state.client = None;
            state.client = Some(connect(&self.url).await?);
            state.open_tx = false;
        }
        let mut conn = PgConn {
            state,
            secrets: self.secrets.clone(),
        };
        if conn.state.open_tx {
            // Only warns when the abandoned transaction's COMMIT had already run.
            conn.client()
                .batch_execute("ROLLBACK")
                .await
                .map_err(other)?;
            conn.state.open_tx = false;
        }
        Ok(conn)
    }
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(other)?;
    // One node migrates at a time (creating the bookkeeping table too); the lock ends with
    // the transaction.
    tx.execute("SELECT pg_advisory_xact_lock(73910017)", &[])
        .await
        .map_err(other)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS apigw_migrations (version INTEGER PRIMARY KEY)")
        .await
        .map_err(other)?;
    let done: i64 = tx
        .query_one("SELECT COUNT(*) FROM apigw_migrations", &[])
        .await
        .map_err(other)?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        tx.batch_execute(sql).await.map_err(other)?;
        tx.execute(
            "INSERT INTO apigw_migrations (version) VALUES ($1)",
            &[&((i + 1) as i32)],
        )
        .await
        .map_err(other)?;
    }
    tx.commit().await.map_err(other)
}

/// The connection during a session (a transaction or a read).
pub struct PgConn {
    state: OwnedMutexGuard<PgState>,
    secrets: Arc<Secrets>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn").finish_non_exhaustive()
    }
}

impl PgConn {
    fn client(&self) -> &Client {
        self.state
            .client
            .as_ref()
            .expect("a session has a connection")
    }
}

#[async_trait]
impl Conn for PgConn {
    fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    async fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        self.client()
            .execute(&to_postgres(sql), &params)
            .await
            .map_err(db_error)
    }

    async fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        let rows = self
            .client()
            .query(&to_postgres(sql), &params)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| value_of(r, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
                    .map_err(db_error)
            })
            .collect()
    }
}

#[async_trait]
impl Engine for Postgres {
    type Tx = PgConn;
    type Reader = PgConn;

    async fn begin(&self) -> Result<PgConn, StoreError> {
        let mut conn = self.session().await?;
        // Marked first: a caller that goes away during BEGIN leaves it for the next session
        // (the connection keeps statements in order, so that ROLLBACK follows this BEGIN).
        conn.state.open_tx = true;
        conn.client().batch_execute("BEGIN").await.map_err(other)?;
        Ok(conn)
    }

    async fn commit(&self, mut tx: PgConn) -> Result<(), StoreError> {
        let committed = tx
            .client()
            .batch_execute(&format!("NOTIFY {}; COMMIT", self.channel))
            .await;
        if committed.is_err() {
            let _ = tx.client().batch_execute("ROLLBACK").await;
        }
        tx.state.open_tx = false;
        drop(tx);
        committed.map_err(other)?;
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn rollback(&self, mut tx: PgConn) {
        if tx.client().batch_execute("ROLLBACK").await.is_ok() {
            tx.state.open_tx = false;
        }
    }

    async fn reader(&self) -> Result<PgConn, StoreError> {
        self.session().await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Listens for changes made through any node; reconnects after a failure.
async fn listen(url: String, channel: String, changed: Arc<watch::Sender<u64>>) {
    loop {
        let connected = match config(&url) {
            Ok(c) => c.connect(NoTls).await,
            Err(e) => {
                tracing::warn!(error = %e, "bad PostgreSQL URL");
                return;
            }
        };
        match connected {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_peer_is_noticed_unless_the_url_says_otherwise() {
        let c = config("postgres://u@127.0.0.1:5432/db").unwrap();
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(30)));
        assert!(c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(10));
        let c = config("postgres://u@127.0.0.1/db?tcp_user_timeout=5&keepalives_idle=60").unwrap();
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(5)));
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(60));
        assert!(config("postgres://u@host:notaport/db").is_err());
    }
}
