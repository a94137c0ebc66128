//! The embedded SQLite engine: one connection in WAL mode with `synchronous=FULL`, so that a
//! write acknowledged to a client is on disk before the answer leaves (it survives kill -9 and
//! power loss). Statements run on tokio's blocking pool; a session lock gives a transaction
//! (or a read) the connection to itself until it ends.

use crate::sql::{Conn, DbError, Engine, Row, Value};
use crate::{Secrets, StoreError};
use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, OwnedMutexGuard};

/// Migrations, applied in order; the index + 1 is the schema version (`PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/001_plugins.sql"),
    include_str!("../migrations/sqlite/002_resources.sql"),
    include_str!("../migrations/sqlite/003_env_variables.sql"),
    include_str!("../migrations/sqlite/004_acls.sql"),
    include_str!("../migrations/sqlite/005_throttles.sql"),
    include_str!("../migrations/sqlite/006_gateway_responses.sql"),
    include_str!("../migrations/sqlite/007_signs.sql"),
    include_str!("../migrations/sqlite/008_certificates.sql"),
    include_str!("../migrations/sqlite/009_vpc_channels.sql"),
    include_str!("../migrations/sqlite/010_config_changes.sql"),
    include_str!("../migrations/sqlite/011_apis_by_group.sql"),
];

/// A SQLite database file.
#[derive(Debug)]
pub struct Sqlite {
    /// The connection; statements lock it only while they run.
    conn: Arc<Mutex<Connection>>,
    /// Held by a transaction or a read for its whole length.
    session: Arc<tokio::sync::Mutex<Session>>,
    /// Ticks after each committed write.
    changed: Arc<watch::Sender<u64>>,
    /// The keys of the secret columns.
    secrets: Arc<Secrets>,
}

/// What a session leaves for the next one.
#[derive(Debug, Default)]
struct Session {
    /// A transaction was begun and neither committed nor rolled back (its task was cancelled):
    /// the next session rolls it back first.
    open_tx: bool,
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn db_error(e: rusqlite::Error) -> DbError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            DbError::Unique(msg.clone().unwrap_or_default())
        }
        _ => DbError::Other(e.to_string()),
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn value_of(v: ValueRef<'_>) -> Result<Value, DbError> {
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(n) => Ok(Value::Int(n)),
        ValueRef::Text(t) => Ok(Value::Text(match std::str::from_utf8(t) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        })),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            Err(DbError::Other("unexpected column type".into()))
        }
    }
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path` and applies pending migrations. The
    /// database and its WAL files are readable by the owner only.
    pub async fn open(path: &Path, secrets: Arc<Secrets>) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(other)?;
            }
            owner_only(&path)?;
            let mut conn = Connection::open(&path).map_err(other)?;
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
                 PRAGMA busy_timeout=5000;",
            )
            .map_err(other)?;
            migrate(&mut conn)?;
            Ok::<_, StoreError>(conn)
        })
        .await
        .map_err(other)??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            session: Default::default(),
            changed: Arc::new(watch::channel(0).0),
            secrets,
        })
    }

    /// A session: the connection to ourselves, an abandoned transaction rolled back.
    async fn session(&self) -> Result<SqliteConn, StoreError> {
        let mut conn = SqliteConn {
            conn: self.conn.clone(),
            session: Some(self.session.clone().lock_owned().await),
            secrets: self.secrets.clone(),
        };
        if conn.state().open_tx {
            // Fails harmlessly when the abandoned transaction's COMMIT had already run.
            let _ = conn.batch("ROLLBACK").await;
            conn.state().open_tx = false;
        }
        Ok(conn)
    }
}

/// Creates the database file readable by the owner only (SQLite gives its WAL and shared-memory
/// files the database's mode), or narrows an existing one's mode.
fn owner_only(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(other)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(other)?;
            }
        }
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(other)? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(other)?;
        tx.execute_batch(sql).map_err(other)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(other)?;
        tx.commit().map_err(other)?;
    }
    Ok(())
}

/// The connection during a session (a transaction or a read).
#[derive(Debug)]
pub struct SqliteConn {
    conn: Arc<Mutex<Connection>>,
    /// Keeps other sessions out until this one is dropped. A running statement holds it
    /// itself, so a statement whose caller went away still ends before the next session
    /// begins.
    session: Option<OwnedMutexGuard<Session>>,
    secrets: Arc<Secrets>,
}

impl SqliteConn {
    fn state(&mut self) -> &mut Session {
        self.session
            .as_mut()
            .expect("a session outside a statement holds its guard")
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, DbError> {
        let conn = self.conn.clone();
        let guard = self.session.take();
        if guard.is_none() {
            return Err(DbError::Other(
                "the session was lost with a failed statement".into(),
            ));
        }
        let (out, guard) = tokio::task::spawn_blocking(move || {
            let out = f(&conn.lock().unwrap_or_else(|p| p.into_inner()));
            (out, guard)
        })
        .await
        .map_err(|e| DbError::Other(e.to_string()))?;
        self.session = guard;
        out.map_err(db_error)
    }

    async fn batch(&mut self, sql: &'static str) -> Result<(), DbError> {
        self.run(move |c| c.execute_batch(sql)).await
    }
}

#[async_trait]
impl Conn for SqliteConn {
    fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    async fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        let (sql, args) = (sql.to_string(), args.to_vec());
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            stmt.execute(rusqlite::params_from_iter(args.iter()))
                .map(|n| n as u64)
        })
        .await
    }

    async fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        let (sql, args) = (sql.to_string(), args.to_vec());
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let width = stmt.column_count();
            let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    values.push(value_of(r.get_ref(i)?).map_err(|e| {
                        rusqlite::Error::ToSqlConversionFailure(format!("{e:?}").into())
                    })?);
                }
                out.push(Row(values));
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl Engine for Sqlite {
    type Tx = SqliteConn;
    type Reader = SqliteConn;

    async fn begin(&self) -> Result<SqliteConn, StoreError> {
        let mut conn = self.session().await?;
        // Marked first: a caller that goes away during BEGIN leaves it for the next session.
        conn.state().open_tx = true;
        conn.batch("BEGIN IMMEDIATE").await?;
        Ok(conn)
    }

    async fn commit(&self, mut tx: SqliteConn) -> Result<(), StoreError> {
        // The tick goes with the COMMIT, which runs to its end even when our caller goes away.
        let changed = self.changed.clone();
        let committed = tx
            .run(move |c| {
                c.execute_batch("COMMIT")?;
                changed.send_modify(|n| *n += 1);
                Ok(())
            })
            .await;
        if committed.is_err() {
            let _ = tx.batch("ROLLBACK").await;
        }
        tx.state().open_tx = false;
        Ok(committed?)
    }

    async fn rollback(&self, mut tx: SqliteConn) {
        if tx.batch("ROLLBACK").await.is_ok() {
            tx.state().open_tx = false;
        }
    }

    async fn reader(&self) -> Result<SqliteConn, StoreError> {
        self.session().await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
