//! The query layer both engines speak. Statements are written once, in SQLite's dialect with
//! numbered placeholders (`?1`); [`to_postgres`] rewrites the few words in which PostgreSQL
//! differs. Arguments are [`Value`]s, rows come back as [`Row`]s of values, so a resource's
//! row mapping is written once too.

use crate::{Secrets, StoreError, Unique};
use async_trait::async_trait;

/// A statement argument or a column value. The schema only has integers and text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v.into())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        v.as_deref().map_or(Value::Null, Value::from)
    }
}

/// The arguments of a statement: `args![a, b]` is `[Value::from(a), Value::from(b)]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { [$($crate::sql::Value::from($v)),*] };
}
pub(crate) use args;

/// One result row.
#[derive(Debug)]
pub struct Row(pub(crate) Vec<Value>);

/// Reads a row's columns in order (see [`table!`]). Each reader takes the column's
/// `table.column` name, which a secret column's seal is bound to.
#[derive(Debug)]
pub(crate) struct Columns<'r> {
    row: &'r Row,
    next: usize,
    secrets: &'r Secrets,
}

impl Columns<'_> {
    fn take(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }
    pub(crate) fn text(&mut self, _: &str) -> Result<String, StoreError> {
        let i = self.take();
        self.row.text(i)
    }
    pub(crate) fn opt_text(&mut self, _: &str) -> Result<Option<String>, StoreError> {
        let i = self.take();
        self.row.opt_text(i)
    }
    pub(crate) fn int(&mut self, _: &str) -> Result<i64, StoreError> {
        let i = self.take();
        self.row.int(i)
    }
    pub(crate) fn opt_int(&mut self, _: &str) -> Result<Option<i64>, StoreError> {
        let i = self.take();
        self.row.opt_int(i)
    }
    pub(crate) fn flag(&mut self, column: &str) -> Result<bool, StoreError> {
        Ok(self.int(column)? != 0)
    }
    pub(crate) fn parsed<T: std::str::FromStr>(&mut self, _: &str) -> Result<T, StoreError> {
        let i = self.take();
        self.row.parsed(i)
    }
    pub(crate) fn opt_parsed<T: std::str::FromStr>(
        &mut self,
        _: &str,
    ) -> Result<Option<T>, StoreError> {
        let i = self.take();
        match self.row.opt_text(i)? {
            None => Ok(None),
            Some(_) => self.row.parsed(i).map(Some),
        }
    }
    pub(crate) fn secret(&mut self, column: &str) -> Result<String, StoreError> {
        let i = self.take();
        self.secrets.open(column, &self.row.text(i)?)
    }
}

/// How each kind of column is given as a statement argument (see [`table!`]).
pub(crate) mod put {
    use super::{Secrets, StoreError, Value};
    pub(crate) fn text(_: &Secrets, _: &str, v: &str) -> Result<Value, StoreError> {
        Ok(Value::from(v))
    }
    pub(crate) fn opt_text(_: &Secrets, _: &str, v: &Option<String>) -> Result<Value, StoreError> {
        Ok(Value::from(v))
    }
    pub(crate) fn int(_: &Secrets, _: &str, v: &i64) -> Result<Value, StoreError> {
        Ok(Value::Int(*v))
    }
    pub(crate) fn opt_int(_: &Secrets, _: &str, v: &Option<i64>) -> Result<Value, StoreError> {
        Ok(v.map_or(Value::Null, Value::Int))
    }
    pub(crate) fn flag(_: &Secrets, _: &str, v: &bool) -> Result<Value, StoreError> {
        Ok(Value::from(*v))
    }
    pub(crate) fn parsed(
        _: &Secrets,
        _: &str,
        v: &impl std::fmt::Display,
    ) -> Result<Value, StoreError> {
        Ok(Value::Text(v.to_string()))
    }
    pub(crate) fn opt_parsed(
        _: &Secrets,
        _: &str,
        v: &Option<impl std::fmt::Display>,
    ) -> Result<Value, StoreError> {
        Ok(v.as_ref()
            .map_or(Value::Null, |v| Value::Text(v.to_string())))
    }
    pub(crate) fn secret(secrets: &Secrets, column: &str, v: &str) -> Result<Value, StoreError> {
        secrets.seal(column, v).map(Value::Text)
    }
}

/// `a, b, c` from the names `a`, `b`, `c`.
macro_rules! column_list {
    ($f:ident) => { stringify!($f) };
    ($f:ident, $($rest:ident),+) => { concat!(stringify!($f), ", ", $crate::sql::column_list!($($rest),+)) };
}
pub(crate) use column_list;

/// `Some("name")` for a secret column, `None` for the others.
macro_rules! secret_column {
    (secret, $f:ident) => {
        Some(stringify!($f))
    };
    ($kind:ident, $f:ident) => {
        None
    };
}
pub(crate) use secret_column;

/// Declares how a model type is stored: its table and its columns in order, each with its
/// kind (`text`, `opt_text`, `int`, `flag`, `parsed` for an enum stored as its name,
/// `opt_parsed` for an optional one, or
/// `secret` for text sealed at rest, `secrets.rs`). The column list, the row mapping and the
/// insert's values all come from this one list. A table with a secret column is also named in
/// `Store::reseal_secrets`.
macro_rules! table {
    ($t:ident in $table:literal { $($field:ident: $kind:ident),+ $(,)? }) => {
        impl $crate::sql::Table for $t {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static str = $crate::sql::column_list!($($field),+);
            const SECRETS: &'static [Option<&'static str>] =
                &[$($crate::sql::secret_column!($kind, $field)),+];
            fn from_row(
                r: &$crate::sql::Row,
                secrets: &$crate::Secrets,
            ) -> Result<Self, $crate::StoreError> {
                let mut c = r.columns(secrets);
                Ok(Self { $($field: c.$kind(concat!($table, ".", stringify!($field)))?),+ })
            }
            fn values(
                &self,
                secrets: &$crate::Secrets,
            ) -> Result<Vec<$crate::sql::Value>, $crate::StoreError> {
                Ok(vec![$($crate::sql::put::$kind(
                    secrets,
                    concat!($table, ".", stringify!($field)),
                    &self.$field,
                )?),+])
            }
        }
    };
}
pub(crate) use table;

impl Row {
    /// The columns in order, for [`table!`].
    pub(crate) fn columns<'r>(&'r self, secrets: &'r Secrets) -> Columns<'r> {
        Columns {
            row: self,
            next: 0,
            secrets,
        }
    }

    fn value(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Backend(format!("no column {i}")))
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Backend(format!("column {i} is NULL")))
    }

    /// Column `i` as text, `None` for NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.value(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            Value::Int(_) => Err(StoreError::Backend(format!("column {i} is not text"))),
        }
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.value(i)? {
            Value::Int(n) => Ok(*n),
            _ => Err(StoreError::Backend(format!("column {i} is not an integer"))),
        }
    }

    /// Column `i` as an integer, `None` for NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.value(i)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            Value::Text(_) => Err(StoreError::Backend(format!("column {i} is not an integer"))),
        }
    }

    /// Column `i` parsed from its text (a stored enum such as a plug-in type).
    pub fn parsed<T: std::str::FromStr>(&self, i: usize) -> Result<T, StoreError> {
        self.text(i)?
            .parse()
            .map_err(|_| StoreError::Backend(format!("bad stored value in column {i}")))
    }
}

/// A type stored as one row of a table.
pub(crate) trait Table: Sized {
    /// The table's name.
    const TABLE: &'static str;
    /// The columns [`Table::from_row`] reads and [`Table::values`] gives, in order.
    const COLUMNS: &'static str;
    /// For each column, its name when it is sealed at rest.
    const SECRETS: &'static [Option<&'static str>];
    fn from_row(row: &Row, secrets: &Secrets) -> Result<Self, StoreError>;
    /// The values of [`Table::COLUMNS`], for an insert (secret columns sealed).
    fn values(&self, secrets: &Secrets) -> Result<Vec<Value>, StoreError>;
}

/// How an engine reports a failed statement.
#[derive(Debug)]
pub enum DbError {
    /// A unique constraint failed; the text names it (SQLite: `table.column, …`; PostgreSQL:
    /// the constraint's name, which names the column too).
    Unique(String),
    /// Anything else.
    Other(String),
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError::Other(e.to_string())
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unique(what) => StoreError::Backend(format!("unexpected conflict on {what}")),
            DbError::Other(detail) => StoreError::Backend(detail),
        }
    }
}

/// Maps a unique violation to `Conflict`: `special` lists (column, rule) pairs for tables with
/// more than one rule, `rule` is the table's name rule (a violation naming no listed column
/// nor `name` — a primary key, say — is a store failure, as on either engine).
pub(crate) fn unique(
    rule: Unique,
    special: &'static [(&'static str, Unique)],
) -> impl Fn(DbError) -> StoreError {
    move |e| match e {
        DbError::Unique(what) => match special.iter().find(|(column, _)| what.contains(column)) {
            Some((_, r)) => StoreError::Conflict(*r),
            None if what.contains("name") => StoreError::Conflict(rule),
            None => StoreError::Backend(format!("unexpected conflict on {what}")),
        },
        other => other.into(),
    }
}

/// A connection of an engine, in a transaction or not.
#[async_trait]
pub trait Conn: Send {
    /// The keys of the secret columns.
    fn secrets(&self) -> &Secrets;
    /// Runs a statement; the number of rows it changed.
    async fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, DbError>;
    /// Runs a query; its rows.
    async fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError>;
}

/// An engine: hands out connections and transactions, and feeds changes.
#[async_trait]
pub trait Engine: Send + Sync + std::fmt::Debug + 'static {
    /// A connection in an open write transaction.
    type Tx: Conn;
    /// A connection for reads outside a transaction.
    type Reader: Conn;
    /// Begins a write transaction. One dropped without [`Engine::commit`] is rolled back.
    async fn begin(&self) -> Result<Self::Tx, StoreError>;
    /// Commits it (PostgreSQL also announces the change to the other nodes).
    async fn commit(&self, tx: Self::Tx) -> Result<(), StoreError>;
    /// Rolls it back now (a transaction dropped without either is rolled back before the
    /// connection's next use).
    async fn rollback(&self, tx: Self::Tx);
    /// A connection for reads.
    async fn reader(&self) -> Result<Self::Reader, StoreError>;
    /// Ticks after every write this engine commits, and writes of other nodes it hears of.
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// Reads and maps rows (an extension of every [`Conn`]).
#[async_trait]
pub(crate) trait ConnExt: Conn {
    /// Inserts `row` into its table.
    async fn insert<T: Table + Sync>(&mut self, row: &T) -> Result<u64, DbError> {
        let values = row.values(self.secrets()).map_err(DbError::from)?;
        self.execute(&insert_sql::<T>(""), &values).await
    }

    /// Inserts `row` unless it would break a unique constraint (then keeps what is there).
    async fn insert_unless_present<T: Table + Sync>(&mut self, row: &T) -> Result<u64, DbError> {
        let values = row.values(self.secrets()).map_err(DbError::from)?;
        self.execute(&insert_sql::<T>(" ON CONFLICT DO NOTHING"), &values)
            .await
    }

    /// Every row of a query, mapped.
    async fn all<T: Table + Send>(
        &mut self,
        sql: &str,
        args: &[Value],
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.query(sql, args).await?;
        rows.iter()
            .map(|r| T::from_row(r, self.secrets()))
            .collect()
    }

    /// The first row of a query, mapped, if any.
    async fn first<T: Table + Send>(
        &mut self,
        sql: &str,
        args: &[Value],
    ) -> Result<Option<T>, StoreError> {
        let rows = self.query(sql, args).await?;
        rows.first()
            .map(|r| T::from_row(r, self.secrets()))
            .transpose()
    }

    /// Whether a query has a row.
    async fn exists(&mut self, sql: &str, args: &[Value]) -> Result<bool, StoreError> {
        Ok(!self.query(sql, args).await?.is_empty())
    }

    /// The first column of the first row, an integer (`COUNT(*)`).
    async fn count(&mut self, sql: &str, args: &[Value]) -> Result<i64, StoreError> {
        self.query(sql, args)
            .await?
            .first()
            .ok_or_else(|| StoreError::Backend("no row".into()))?
            .int(0)
    }
}

impl<C: Conn> ConnExt for C {}

fn insert_sql<T: Table>(tail: &str) -> String {
    let placeholders: Vec<String> = (1..=T::COLUMNS.split(',').count())
        .map(|i| format!("?{i}"))
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({}){tail}",
        T::TABLE,
        T::COLUMNS,
        placeholders.join(",")
    )
}

/// Rewrites a statement from SQLite's dialect into PostgreSQL's: placeholders `?N` → `$N`,
/// `rowid` (insertion order) → the `seq` column each PostgreSQL table has for it, `instr(` →
/// `strpos(` (same arguments). The statements are our own, so a word-level rewrite is exact.
pub(crate) fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "rowid" => "seq",
            "instr" => "strpos",
            w => w,
        });
        word.clear();
    };
    for c in sql.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(if c == '?' { '$' } else { c });
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_dialect_rewrites_placeholders_rowid_and_instr_only() {
        assert_eq!(
            to_postgres(
                "SELECT rowid, growid FROM t WHERE a=?1 AND instr(name, ?12) > 0 ORDER BY rowid"
            ),
            "SELECT seq, growid FROM t WHERE a=$1 AND strpos(name, $12) > 0 ORDER BY seq"
        );
    }

    #[test]
    fn unique_violations_map_to_the_rule_of_their_column() {
        const SPECIAL: &[(&str, Unique)] = &[("route_key", Unique::Route)];
        let map = unique(Unique::ApiName, SPECIAL);
        assert!(matches!(
            map(DbError::Unique("apis.group_id, apis.route_key".into())),
            StoreError::Conflict(Unique::Route)
        ));
        assert!(matches!(
            map(DbError::Unique("apis_route_key".into())),
            StoreError::Conflict(Unique::Route)
        ));
        assert!(matches!(
            map(DbError::Unique("apis_name_key".into())),
            StoreError::Conflict(Unique::ApiName)
        ));
        assert!(matches!(
            map(DbError::Other("disk full".into())),
            StoreError::Backend(_)
        ));
    }
}
