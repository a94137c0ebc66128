//! [`SqlStore`]: the one implementation of [`Store`], over either engine. Each resource's
//! statements (in the dialect of `sql.rs`), its row mapping ([`Table`]) and its existence
//! check ([`require`]) are written here once.

use crate::sql::{args, table, unique, Conn, ConnExt, DbError, Engine, Table, Value};
use crate::{
    Change, ImportBatch, PluginFilter, Resource, RouteInputs, Secrets, Store, StoreError, Unique,
};
use apigw_model::acl::{Acl, AclBinding};
use apigw_model::certificate::Certificate;
use apigw_model::domain::Domain;
use apigw_model::gateway_response::GatewayResponse;
use apigw_model::page::Page;
use apigw_model::resources::{
    Api, App, AppAuth, Binding, Env, Group, PolicyBinding, Publication, DEFAULT_GROUP_NAME,
    RELEASE_ENV_ID, RELEASE_ENV_NAME,
};
use apigw_model::signature_key::{SignBinding, SignKey};
use apigw_model::throttle::{Throttle, ThrottleBinding, ThrottleSpecial};
use apigw_model::variables::EnvVariable;
use apigw_model::vpc_channel::VpcChannel;
use apigw_model::{id, Plugin};
use async_trait::async_trait;
use std::sync::Arc;

/// The state, kept by engine `E`.
#[derive(Debug)]
pub struct SqlStore<E> {
    engine: E,
    /// The keys of the secret columns (the engine's connections share them).
    secrets: Arc<Secrets>,
}

impl SqlStore<crate::Sqlite> {
    /// Opens (creating if needed) the SQLite database at `path`; `secrets` seal its secret
    /// columns.
    pub async fn open(path: &std::path::Path, secrets: Secrets) -> Result<Self, StoreError> {
        let secrets = Arc::new(secrets);
        Ok(Self {
            engine: crate::Sqlite::open(path, secrets.clone()).await?,
            secrets,
        })
    }
}

impl SqlStore<crate::Postgres> {
    /// Connects to the PostgreSQL database at `url` (its schema: the `search_path`); `secrets`
    /// seal its secret columns.
    pub async fn open(url: &str, secrets: Secrets) -> Result<Self, StoreError> {
        let secrets = Arc::new(secrets);
        Ok(Self {
            engine: crate::Postgres::open(url, secrets.clone()).await?,
            secrets,
        })
    }
}

impl<E: Engine> SqlStore<E> {
    /// Begins a write transaction by bumping the version. Its row lock makes writes run one at
    /// a time (on PostgreSQL across nodes too), so a write's checks — a quota, a reference, a
    /// row it is about to replace — see every write committed before it; the bump is undone
    /// with a write that fails.
    async fn begin(&self) -> Result<E::Tx, StoreError> {
        let mut tx = self.engine.begin().await?;
        let bumped = tx
            .execute(
                "UPDATE config_version SET version = version + 1 WHERE id = 1",
                &[],
            )
            .await;
        match bumped {
            Ok(_) => Ok(tx),
            Err(e) => {
                self.engine.rollback(tx).await;
                Err(e.into())
            }
        }
    }

    /// Ends a write transaction that may have changed anything ([`Change::All`]).
    async fn end<T>(&self, tx: E::Tx, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.end_as(tx, Change::All, result).await
    }

    /// Ends a write transaction: on success records `change` under the version it took and
    /// commits, else rolls it back.
    async fn end_as<T>(
        &self,
        mut tx: E::Tx,
        change: Change,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = match result {
            Ok(out) => record(&mut tx, &change).await.map(|()| out),
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => self.engine.commit(tx).await.map(|()| out),
            Err(e) => {
                self.engine.rollback(tx).await;
                Err(e)
            }
        }
    }

    /// Deletes the row of `T` (a table with an `api_id`) with that id in a write of its own,
    /// recorded as a change of that API's routes; `NotFound` when there is none.
    async fn remove_from_api<T: Table>(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE instance_id=?1 AND id=?2 RETURNING api_id",
            T::TABLE
        );
        self.remove_returning(instance_id, id, &sql, Change::Apis)
            .await
    }

    /// Runs `sql`, a `DELETE … RETURNING` one column of the row with that id, in a write of its
    /// own recorded as `change` of the value returned; `NotFound` when it deleted nothing.
    async fn remove_returning(
        &self,
        instance_id: &str,
        id: &str,
        sql: &str,
        change: fn(Vec<String>) -> Change,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            let rows = tx.query(sql, &args![instance_id, id]).await?;
            rows.first().ok_or(StoreError::NotFound)?.text(0)
        }
        .await;
        match result {
            Ok(of) => self.end_as(tx, change(vec![of]), Ok(())).await,
            Err(e) => self.end(tx, Err(e)).await,
        }
    }

    /// The rows of `T` in the instance whose `column` is one of `values`, in `order`.
    async fn list_where_in<T: Table + Send>(
        &self,
        instance_id: &str,
        column: &str,
        values: &[String],
        order: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut reader = self.engine.reader().await?;
        // Few enough parameters per statement for either engine.
        for chunk in values.chunks(500) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "SELECT {} FROM {} WHERE instance_id=?1 AND {column} IN ({}) {order}",
                T::COLUMNS,
                T::TABLE,
                marks.join(", ")
            );
            let mut args = vec![Value::from(instance_id)];
            args.extend(chunk.iter().map(Value::from));
            out.extend(reader.all::<T>(&sql, &args).await?);
        }
        Ok(out)
    }

    /// The rows of `T` (a table with an `api_id`) of the APIs `api_ids`, in `order`.
    async fn list_for_apis<T: Table + Send>(
        &self,
        instance_id: &str,
        api_ids: &[String],
        order: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.list_where_in(instance_id, "api_id", api_ids, order)
            .await
    }

    /// Every row of `T` in the instance, in `order`.
    async fn list<T: Table + Send>(
        &self,
        instance_id: &str,
        order: &str,
    ) -> Result<Vec<T>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE instance_id=?1 {order}",
            T::COLUMNS,
            T::TABLE
        );
        self.engine
            .reader()
            .await?
            .all(&sql, &args![instance_id])
            .await
    }

    /// The row of `T` with that id in the instance.
    async fn get<T: Table + Send>(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE instance_id=?1 AND id=?2",
            T::COLUMNS,
            T::TABLE
        );
        self.engine
            .reader()
            .await?
            .first(&sql, &args![instance_id, id])
            .await
    }

    /// Rewrites the secret columns of `T` that are not sealed with the first key (sealed
    /// with an older one, or stored before sealing). The number of values rewritten.
    /// With `rewrite` false, only counts them.
    async fn reseal<T: Table, C: Conn>(&self, c: &mut C, rewrite: bool) -> Result<u64, StoreError> {
        let key = T::COLUMNS.split(", ").next().unwrap_or("id");
        let mut n = 0;
        for column in T::SECRETS.iter().flatten() {
            let name = format!("{}.{column}", T::TABLE);
            let rows = c
                .query(&format!("SELECT {key}, {column} FROM {}", T::TABLE), &[])
                .await?;
            for row in rows {
                let stored = row.text(1)?;
                if self.secrets.is_current(&stored) {
                    continue;
                }
                n += 1;
                if !rewrite {
                    continue;
                }
                let sealed = self
                    .secrets
                    .seal(&name, &self.secrets.open(&name, &stored)?)?;
                c.execute(
                    &format!("UPDATE {} SET {column}=?2 WHERE {key}=?1", T::TABLE),
                    &args![row.text(0)?, sealed],
                )
                .await?;
            }
        }
        Ok(n)
    }

    /// Inserts `row` in a write of its own recorded as `change`; a unique violation is mapped
    /// by `conflict`.
    async fn insert_as<T: Table + Sync>(
        &self,
        change: Change,
        row: &T,
        conflict: impl Fn(DbError) -> StoreError + Send,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = tx.insert(row).await.map(drop).map_err(conflict);
        self.end_as(tx, change, result).await
    }

    /// One statement in a write of its own, recorded as `change`; `NotFound` when it changed
    /// no row, a unique violation mapped by `conflict`.
    async fn change_as(
        &self,
        change: Change,
        sql: &str,
        args: &[Value],
        conflict: impl Fn(DbError) -> StoreError + Send,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = tx
            .execute(sql, args)
            .await
            .map_err(conflict)
            .and_then(changed);
        self.end_as(tx, change, result).await
    }

    /// Deletes the row of `T` with that id in a write of its own, recorded as `change`;
    /// `NotFound` when there is none. What refers to it goes with it by the schema's
    /// `ON DELETE CASCADE`.
    async fn remove<T: Table>(
        &self,
        change: Change,
        instance_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {} WHERE instance_id=?1 AND id=?2", T::TABLE);
        self.change_as(change, &sql, &args![instance_id, id], StoreError::from)
            .await
    }

    /// Binds the policy `policy_id` to the publications named, all or nothing: the one
    /// binding routine of every [`PolicyBindingTable`]. Binding again what is bound keeps the
    /// binding; a publication whose place (see [`PolicyBindingTable::place`]) another policy
    /// holds is `Conflict(B::TAKEN)`. Returns the bindings in the order asked.
    /// `Missing(B::POLICY | Publication, id)`.
    async fn bind_policy<B: PolicyBindingTable>(
        &self,
        instance_id: &str,
        policy_id: &str,
        publish_ids: &[String],
        now: i64,
    ) -> Result<Vec<B>, StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            let policy: B::Policy = tx
                .first(
                    &format!(
                        "SELECT {} FROM {} WHERE instance_id=?1 AND id=?2",
                        B::Policy::COLUMNS,
                        B::Policy::TABLE
                    ),
                    &args![instance_id, policy_id],
                )
                .await?
                .ok_or_else(|| StoreError::Missing(B::POLICY, policy_id.to_string()))?;
            let mut out = Vec::with_capacity(publish_ids.len());
            for publish_id in publish_ids {
                let p: Publication = tx
                    .first(
                        &format!(
                            "SELECT {} FROM publications WHERE instance_id=?1 AND publish_id=?2",
                            Publication::COLUMNS
                        ),
                        &args![instance_id, publish_id],
                    )
                    .await?
                    .ok_or_else(|| {
                        StoreError::Missing(Resource::Publication, publish_id.clone())
                    })?;
                let new = B::new(&policy, p, now);
                let mut sql = format!(
                    "SELECT {} FROM {} WHERE api_id=?1 AND env_id=?2",
                    B::COLUMNS,
                    B::TABLE
                );
                let mut place = args![new.api_id(), new.env_id()].to_vec();
                if let Some((column, value)) = new.place() {
                    sql.push_str(&format!(" AND {column}=?3"));
                    place.push(value);
                }
                let binding = match tx.first::<B>(&sql, &place).await? {
                    Some(there) if there.policy_id() == policy_id => there,
                    Some(_) => return Err(StoreError::Conflict(B::TAKEN)),
                    None => {
                        tx.insert(&new).await.map_err(unique(B::TAKEN, B::UNIQUE))?;
                        new
                    }
                };
                out.push(binding);
            }
            Ok(out)
        }
        .await;
        let apis = match &result {
            Ok(bound) => bound.iter().map(|b| b.api_id().to_string()).collect(),
            Err(_) => Vec::new(),
        };
        self.end_as(tx, Change::Apis(apis), result).await
    }
}

/// How a kind of policy binding is stored, for [`SqlStore::bind_policy`]: access control and
/// request throttling policies bind to publications the same way (and signature keys will),
/// each in its own table with its own "one per API and environment" rule.
trait PolicyBindingTable: PolicyBinding + Table + Send + Sync {
    /// The policy bound: the table the binding's policy id points into.
    type Policy: Table + Send;
    /// The policy's resource, for `Missing` when it does not exist.
    const POLICY: Resource;
    /// The rule a publication breaks when another policy already holds the place this
    /// binding takes there.
    const TAKEN: Unique;
    /// How the engines name the unique index behind [`Self::TAKEN`] (see [`unique`]).
    const UNIQUE: &'static [(&'static str, Unique)];
    /// A new binding of `policy` to the API and environment of `publication`, made at `now`.
    fn new(policy: &Self::Policy, publication: Publication, now: i64) -> Self;
    /// What, beside the API and environment, makes the place at a publication that one
    /// binding at most may hold (the table's unique key): a column and its value, or `None`
    /// when a publication takes one policy of the kind in all.
    fn place(&self) -> Option<(&'static str, Value)>;
}

/// An API takes one access control policy of each kind (IP, account) per environment.
impl PolicyBindingTable for AclBinding {
    type Policy = Acl;
    const POLICY: Resource = Resource::Acl;
    const TAKEN: Unique = Unique::AclKind;
    const UNIQUE: &'static [(&'static str, Unique)] = ACL_BINDING_UNIQUE;
    fn new(acl: &Acl, p: Publication, now: i64) -> Self {
        AclBinding {
            id: id::new_id(),
            instance_id: p.instance_id,
            acl_id: acl.id.clone(),
            api_id: p.api_id,
            env_id: p.env_id,
            kind: acl.entity_type.kind(),
            create_time: now,
        }
    }
    fn place(&self) -> Option<(&'static str, Value)> {
        Some(("kind", Value::from(self.kind.as_str())))
    }
}

/// An API takes one request throttling policy per environment.
impl PolicyBindingTable for ThrottleBinding {
    type Policy = Throttle;
    const POLICY: Resource = Resource::Throttle;
    const TAKEN: Unique = Unique::ThrottleOne;
    const UNIQUE: &'static [(&'static str, Unique)] = THROTTLE_BINDING_UNIQUE;
    fn new(throttle: &Throttle, p: Publication, now: i64) -> Self {
        ThrottleBinding {
            id: id::new_id(),
            instance_id: p.instance_id,
            throttle_id: throttle.id.clone(),
            api_id: p.api_id,
            env_id: p.env_id,
            create_time: now,
        }
    }
    fn place(&self) -> Option<(&'static str, Value)> {
        None
    }
}

/// An API takes one signature key per environment.
impl PolicyBindingTable for SignBinding {
    type Policy = SignKey;
    const POLICY: Resource = Resource::Sign;
    const TAKEN: Unique = Unique::SignOne;
    const UNIQUE: &'static [(&'static str, Unique)] = SIGN_BINDING_UNIQUE;
    fn new(key: &SignKey, p: Publication, now: i64) -> Self {
        SignBinding {
            id: id::new_id(),
            instance_id: p.instance_id,
            sign_id: key.id.clone(),
            api_id: p.api_id,
            env_id: p.env_id,
            create_time: now,
        }
    }
    fn place(&self) -> Option<(&'static str, Value)> {
        None
    }
}

/// The tables of the policy bindings: a binding goes with its publication (`unpublish`) and
/// with its environment.
const POLICY_BINDING_TABLES: [&str; 3] = [
    AclBinding::TABLE,
    ThrottleBinding::TABLE,
    SignBinding::TABLE,
];

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
        Resource::EnvVariable => "SELECT 1 FROM env_variables WHERE instance_id=?1 AND id=?2",
        Resource::Acl => "SELECT 1 FROM acls WHERE instance_id=?1 AND id=?2",
        Resource::GatewayResponse => {
            "SELECT 1 FROM gateway_responses WHERE instance_id=?1 AND id=?2"
        }
        Resource::AclBinding => "SELECT 1 FROM acl_bindings WHERE instance_id=?1 AND id=?2",
        Resource::Throttle => "SELECT 1 FROM throttles WHERE instance_id=?1 AND id=?2",
        Resource::ThrottleBinding => {
            "SELECT 1 FROM throttle_bindings WHERE instance_id=?1 AND id=?2"
        }
        Resource::ThrottleSpecial => {
            "SELECT 1 FROM throttle_specials WHERE instance_id=?1 AND id=?2"
        }
        Resource::Sign => "SELECT 1 FROM signs WHERE instance_id=?1 AND id=?2",
        Resource::SignBinding => "SELECT 1 FROM sign_bindings WHERE instance_id=?1 AND id=?2",
        Resource::Publication => {
            "SELECT 1 FROM publications WHERE instance_id=?1 AND publish_id=?2"
        }
        Resource::Domain => "SELECT 1 FROM domains WHERE instance_id=?1 AND id=?2",
        // Certificates belong to projects, not instances.
        Resource::Certificate => {
            "SELECT 1 FROM certificates WHERE CAST(?1 AS TEXT) IS NOT NULL AND id=?2"
        }
        Resource::CertificateBinding => "SELECT 1 FROM domains WHERE instance_id=?1 AND ssl_id=?2",
        Resource::VpcChannel => "SELECT 1 FROM vpc_channels WHERE instance_id=?1 AND id=?2",
    };
    if c.exists(sql, &args![instance_id, id]).await? {
        Ok(())
    } else {
        Err(StoreError::Missing(kind, id.to_string()))
    }
}

/// The row a call addresses is missing: `NotFound` (other failures pass through).
fn missing_is_not_found(e: StoreError) -> StoreError {
    match e {
        StoreError::Missing(..) => StoreError::NotFound,
        other => other,
    }
}

/// `InUse(by)` when `sql` (a `SELECT 1` over rows of `by`, with the instance and the id as
/// its arguments) finds a row still referring to the one about to go.
async fn unused<C: Conn>(
    c: &mut C,
    by: Resource,
    sql: &str,
    instance_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    if c.exists(sql, &args![instance_id, id]).await? {
        Err(StoreError::InUse(by))
    } else {
        Ok(())
    }
}

/// `NotFound` when a statement changed no row.
/// How many versions' changes are kept: a node further behind than that rebuilds.
const CHANGES_KEPT: i64 = 5000;

/// Records `change` under the version the transaction took, and forgets the oldest.
async fn record<C: Conn>(tx: &mut C, change: &Change) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO config_changes (version, scope)
         SELECT version, ?1 FROM config_version WHERE id = 1",
        &args![change.encode()],
    )
    .await?;
    tx.execute(
        "DELETE FROM config_changes
         WHERE version <= (SELECT version FROM config_version WHERE id = 1) - ?1",
        &args![CHANGES_KEPT],
    )
    .await?;
    Ok(())
}

fn changed(n: u64) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Binds certificate `ssl_id` to the domain `domain_id` inside a write (see
/// [`Store::bind_certificate`]).
async fn bind_in<C: Conn>(
    c: &mut C,
    instance_id: &str,
    domain_id: &str,
    ssl_id: &str,
    verified: Option<bool>,
) -> Result<Domain, StoreError> {
    let mut d: Domain = c
        .first(
            &format!(
                "SELECT {} FROM domains WHERE instance_id=?1 AND id=?2",
                Domain::COLUMNS
            ),
            &args![instance_id, domain_id],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    let cert: Certificate = c
        .first(
            &format!(
                "SELECT {} FROM certificates WHERE id=?1",
                Certificate::COLUMNS
            ),
            &args![ssl_id],
        )
        .await?
        .ok_or_else(|| StoreError::Missing(Resource::Certificate, ssl_id.to_string()))?;
    if d.ssl_id.as_deref().is_some_and(|bound| bound != ssl_id) {
        return Err(StoreError::Conflict(Unique::DomainCertificate));
    }
    d.ssl_id = Some(cert.id);
    d.verified_client_certificate_enabled = verified.unwrap_or(cert.trusted_root_ca.is_some());
    c.execute(
        "UPDATE domains SET ssl_id=?3, verified_client_certificate_enabled=?4
         WHERE instance_id=?1 AND id=?2",
        &args![
            instance_id,
            domain_id,
            &d.ssl_id,
            d.verified_client_certificate_enabled
        ],
    )
    .await?;
    Ok(d)
}

table!(Plugin in "plugins" {
    id: text, instance_id: text, name: text, plugin_type: parsed, scope: parsed, content: secret,
    remark: text, roma_app_id: opt_text, roma_app_name: opt_text, create_time: int,
    update_time: int,
});
table!(Group in "groups" {
    id: text, instance_id: text, name: text, remark: text, is_default: flag,
    roma_app_id: opt_text, register_time: int, update_time: int,
});
table!(Env in "envs" {
    id: text, instance_id: text, name: text, remark: text, create_time: int,
});
table!(Api in "apis" {
    id: text, instance_id: text, group_id: text, name: text, route_key: text, def: text,
    register_time: int, update_time: int,
});
table!(Publication in "publications" {
    publish_id: text, instance_id: text, api_id: text, env_id: text, remark: text,
    publish_time: int,
});
table!(App in "apps" {
    id: text, instance_id: text, name: text, remark: text, app_key: text, app_secret: secret,
    register_time: int, update_time: int,
});
table!(AppAuth in "app_auths" {
    id: text, instance_id: text, app_id: text, api_id: text, env_id: text, auth_time: int,
});
table!(EnvVariable in "env_variables" {
    id: text, instance_id: text, group_id: text, env_id: text, name: text, value: text,
    create_time: int,
});
table!(Acl in "acls" {
    id: text, instance_id: text, name: text, acl_type: parsed, entity_type: parsed, value: text,
    update_time: int,
});
table!(AclBinding in "acl_bindings" {
    id: text, instance_id: text, acl_id: text, api_id: text, env_id: text, kind: parsed,
    create_time: int,
});
table!(Throttle in "throttles" {
    id: text, instance_id: text, name: text, api_call_limits: int, user_call_limits: opt_int,
    app_call_limits: opt_int, ip_call_limits: opt_int, time_interval: int, time_unit: parsed,
    kind: int, enable_adaptive_control: text, remark: text, create_time: int,
});
table!(ThrottleBinding in "throttle_bindings" {
    id: text, instance_id: text, throttle_id: text, api_id: text, env_id: text,
    create_time: int,
});
table!(ThrottleSpecial in "throttle_specials" {
    id: text, instance_id: text, throttle_id: text, object_type: parsed, object_id: text,
    call_limits: int, create_time: int,
});
table!(SignKey in "signs" {
    id: text, instance_id: text, name: text, sign_type: parsed, sign_key: text,
    sign_secret: secret, sign_algorithm: opt_parsed, create_time: int, update_time: int,
});
table!(SignBinding in "sign_bindings" {
    id: text, instance_id: text, sign_id: text, api_id: text, env_id: text, create_time: int,
});
table!(GatewayResponse in "gateway_responses" {
    id: text, instance_id: text, group_id: text, name: text, is_default: flag, responses: text,
    create_time: int, update_time: int,
});
table!(Certificate in "certificates" {
    id: text, project_id: text, instance_id: text, name: text, cert_type: parsed,
    cert_content: text, private_key: secret, trusted_root_ca: opt_text, create_time: int,
    update_time: int,
});
table!(Domain in "domains" {
    id: text, instance_id: text, group_id: text, url_domain: text, min_ssl_version: parsed,
    is_http_redirect_to_https: flag, verified_client_certificate_enabled: flag,
    ssl_id: opt_text, create_time: int,
});
table!(Binding in "bindings" {
    id: text, instance_id: text, plugin_id: text, plugin_type: parsed, api_id: text,
    env_id: text, attached_time: int,
});

/// A channel is one row: its indexed fields, and the whole channel as JSON in `def` (members,
/// groups and health check change together, in one statement).
impl Table for VpcChannel {
    const TABLE: &'static str = "vpc_channels";
    const COLUMNS: &'static str = "id, instance_id, name, def, create_time";
    const SECRETS: &'static [Option<&'static str>] = &[None, None, None, None, None];
    fn from_row(r: &crate::sql::Row, _: &Secrets) -> Result<Self, StoreError> {
        let def = r.text(3)?;
        let mut c: VpcChannel = serde_json::from_str(&def)
            .map_err(|e| StoreError::Backend(format!("bad stored channel: {e}")))?;
        c.id = r.text(0)?;
        c.instance_id = r.text(1)?;
        c.name = r.text(2)?;
        c.create_time = r.int(4)?;
        Ok(c)
    }
    fn values(&self, _: &Secrets) -> Result<Vec<Value>, StoreError> {
        Ok(vec![
            Value::from(&self.id),
            Value::from(&self.instance_id),
            Value::from(&self.name),
            Value::Text(channel_json(self)?),
            Value::Int(self.create_time),
        ])
    }
}

fn channel_json(c: &VpcChannel) -> Result<String, StoreError> {
    serde_json::to_string(c).map_err(|e| StoreError::Backend(e.to_string()))
}

/// The channel an API's stored definition sends its calls through, if any
/// (`backend_api.vpc_channel_info.vpc_channel_id` with `vpc_channel_status` 1).
fn channel_of(def: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(def).ok()?;
    let b = v.get("backend_api")?;
    if b.get("vpc_channel_status")?.as_i64()? != 1 {
        return None;
    }
    Some(
        b.get("vpc_channel_info")?
            .get("vpc_channel_id")?
            .as_str()?
            .to_string(),
    )
}

/// `Missing(VpcChannel, id)` unless the channel an API's backend goes through exists.
async fn require_channel<C: Conn>(c: &mut C, a: &Api) -> Result<(), StoreError> {
    match channel_of(&a.def) {
        Some(id) => require(c, Resource::VpcChannel, &a.instance_id, &id).await,
        None => Ok(()),
    }
}

/// Replaces an API's stored row (its group and channel must exist). `NotFound` when the row
/// is gone.
async fn update_api_row<C: Conn>(tx: &mut C, a: &Api) -> Result<(), StoreError> {
    require(tx, Resource::Group, &a.instance_id, &a.group_id).await?;
    require_channel(tx, a).await?;
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

/// Replaces an access control policy's row; its bindings follow its entity type's kind.
async fn update_acl_row<C: Conn>(tx: &mut C, a: &Acl) -> Result<(), StoreError> {
    let n = tx
        .execute(
            "UPDATE acls SET name=?3, acl_type=?4, entity_type=?5, value=?6, update_time=?7
             WHERE instance_id=?1 AND id=?2",
            &args![
                &a.instance_id,
                &a.id,
                &a.name,
                a.acl_type.as_str(),
                a.entity_type.as_str(),
                &a.value,
                a.update_time
            ],
        )
        .await
        .map_err(unique(Unique::AclName, &[]))?;
    changed(n)?;
    tx.execute(
        "UPDATE acl_bindings SET kind=?2 WHERE acl_id=?1",
        &args![&a.id, a.entity_type.kind().as_str()],
    )
    .await
    .map_err(unique(Unique::AclKind, ACL_BINDING_UNIQUE))?;
    Ok(())
}

/// Replaces a request throttling policy's row (not its excluded configurations).
async fn update_throttle_row<C: Conn>(tx: &mut C, t: &Throttle) -> Result<(), StoreError> {
    let n = tx
        .execute(
            "UPDATE throttles SET name=?3, api_call_limits=?4, user_call_limits=?5,
             app_call_limits=?6, ip_call_limits=?7, time_interval=?8, time_unit=?9, kind=?10,
             enable_adaptive_control=?11, remark=?12
             WHERE instance_id=?1 AND id=?2",
            &[
                Value::from(&t.instance_id),
                Value::from(&t.id),
                Value::from(&t.name),
                Value::Int(t.api_call_limits),
                t.user_call_limits.map_or(Value::Null, Value::Int),
                t.app_call_limits.map_or(Value::Null, Value::Int),
                t.ip_call_limits.map_or(Value::Null, Value::Int),
                Value::Int(t.time_interval),
                Value::from(t.time_unit.as_str()),
                Value::Int(t.kind),
                Value::from(&t.enable_adaptive_control),
                Value::from(&t.remark),
            ],
        )
        .await
        .map_err(unique(Unique::ThrottleName, &[]))?;
    changed(n)
}

/// Writes an [`ImportBatch`] into an open transaction (see [`Store::import`]).
async fn import_rows<C: Conn>(tx: &mut C, b: &ImportBatch) -> Result<(), StoreError> {
    if let Some(g) = &b.group {
        tx.insert(g).await.map_err(unique(Unique::GroupName, &[]))?;
    }
    for a in &b.created_apis {
        require(tx, Resource::Group, &a.instance_id, &a.group_id).await?;
        require_channel(tx, a).await?;
        tx.insert(a)
            .await
            .map_err(unique(Unique::ApiName, API_UNIQUE))?;
    }
    for a in &b.updated_apis {
        update_api_row(tx, a).await?;
    }
    for a in &b.created_acls {
        tx.insert(a).await.map_err(unique(Unique::AclName, &[]))?;
    }
    for a in &b.updated_acls {
        update_acl_row(tx, a).await?;
    }
    for t in &b.created_throttles {
        tx.insert(t)
            .await
            .map_err(unique(Unique::ThrottleName, &[]))?;
    }
    for t in &b.updated_throttles {
        update_throttle_row(tx, t).await?;
        tx.execute(
            "DELETE FROM throttle_specials WHERE instance_id=?1 AND throttle_id=?2",
            &args![&t.instance_id, &t.id],
        )
        .await?;
    }
    for sp in &b.throttle_specials {
        tx.insert(sp)
            .await
            .map_err(unique(Unique::ThrottleSpecial, THROTTLE_SPECIAL_UNIQUE))?;
    }
    for p in &b.publications {
        require(tx, Resource::Env, &p.instance_id, &p.env_id).await?;
        tx.execute(
            "DELETE FROM publications WHERE api_id=?1 AND env_id=?2",
            &args![&p.api_id, &p.env_id],
        )
        .await?;
        tx.insert(p).await?;
    }
    for bd in &b.bindings {
        require(tx, Resource::Plugin, &bd.instance_id, &bd.plugin_id).await?;
        tx.execute(
            "DELETE FROM bindings WHERE api_id=?1 AND env_id=?2 AND plugin_type=?3",
            &args![&bd.api_id, &bd.env_id, bd.plugin_type.as_str()],
        )
        .await?;
        tx.insert(bd).await?;
    }
    for ab in &b.acl_bindings {
        tx.execute(
            "DELETE FROM acl_bindings WHERE api_id=?1 AND env_id=?2 AND kind=?3",
            &args![&ab.api_id, &ab.env_id, ab.kind.as_str()],
        )
        .await?;
        tx.insert(ab)
            .await
            .map_err(unique(Unique::AclKind, ACL_BINDING_UNIQUE))?;
    }
    for tb in &b.throttle_bindings {
        tx.execute(
            "DELETE FROM throttle_bindings WHERE api_id=?1 AND env_id=?2",
            &args![&tb.api_id, &tb.env_id],
        )
        .await?;
        tx.insert(tb)
            .await
            .map_err(unique(Unique::ThrottleOne, THROTTLE_BINDING_UNIQUE))?;
    }
    Ok(())
}

/// The uniqueness rules of the tables with two.
const API_UNIQUE: &[(&str, Unique)] = &[("route_key", Unique::Route)];
const APP_UNIQUE: &[(&str, Unique)] = &[("app_key", Unique::AppKey)];
const ACL_BINDING_UNIQUE: &[(&str, Unique)] = &[("kind", Unique::AclKind)];
const THROTTLE_BINDING_UNIQUE: &[(&str, Unique)] = &[("env_id", Unique::ThrottleOne)];
const SIGN_BINDING_UNIQUE: &[(&str, Unique)] = &[("env_id", Unique::SignOne)];
const THROTTLE_SPECIAL_UNIQUE: &[(&str, Unique)] = &[("object_id", Unique::ThrottleSpecial)];
const DOMAIN_UNIQUE: &[(&str, Unique)] = &[("url_domain", Unique::DomainName)];

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    async fn create_plugin(&self, p: &Plugin, max_of_type: Option<u64>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
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
            tx.insert(p)
                .await
                .map_err(unique(Unique::PluginName, &[]))?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Plugins(vec![p.id.clone()]), result)
            .await
    }

    async fn update_plugin(&self, p: &Plugin) -> Result<(), StoreError> {
        self.change_as(
            Change::Plugins(vec![p.id.clone()]),
            "UPDATE plugins SET name=?3, content=?4, remark=?5, roma_app_id=?6,
             roma_app_name=?7, update_time=?8 WHERE instance_id=?1 AND id=?2",
            &args![
                &p.instance_id,
                &p.id,
                &p.name,
                self.secrets.seal("plugins.content", &p.content)?,
                &p.remark,
                &p.roma_app_id,
                &p.roma_app_name,
                p.update_time
            ],
            unique(Unique::PluginName, &[]),
        )
        .await
    }

    async fn delete_plugin(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            unused(
                &mut tx,
                Resource::Binding,
                "SELECT 1 FROM bindings WHERE instance_id=?1 AND plugin_id=?2",
                instance_id,
                id,
            )
            .await?;
            changed(
                tx.execute(
                    "DELETE FROM plugins WHERE instance_id=?1 AND id=?2",
                    &args![instance_id, id],
                )
                .await?,
            )
        }
        .await;
        self.end_as(tx, Change::Plugins(vec![id.to_string()]), result)
            .await
    }

    async fn get_plugin(&self, instance_id: &str, id: &str) -> Result<Option<Plugin>, StoreError> {
        self.get(instance_id, id).await
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

    async fn changes_since(&self, version: i64) -> Result<Vec<(i64, Change)>, StoreError> {
        let rows = self
            .engine
            .reader()
            .await?
            .query(
                "SELECT version, scope FROM config_changes WHERE version > ?1 ORDER BY version",
                &args![version],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.int(0)?, Change::decode(&r.text(1)?))))
            .collect()
    }

    async fn list_group_apis(
        &self,
        instance_id: &str,
        group_id: &str,
    ) -> Result<Vec<Api>, StoreError> {
        let group = [group_id.to_string()];
        let order = "ORDER BY register_time DESC, rowid DESC";
        self.list_where_in(instance_id, "group_id", &group, order)
            .await
    }

    async fn list_apis_of(
        &self,
        instance_id: &str,
        ids: &[String],
    ) -> Result<Vec<Api>, StoreError> {
        self.list_where_in(instance_id, "id", ids, "").await
    }

    async fn list_publications_of(
        &self,
        instance_id: &str,
        api_ids: &[String],
    ) -> Result<Vec<Publication>, StoreError> {
        self.list_for_apis(instance_id, api_ids, "").await
    }

    async fn route_inputs(
        &self,
        instance_id: &str,
        api_ids: &[String],
    ) -> Result<RouteInputs, StoreError> {
        let by_time = "ORDER BY create_time DESC, rowid DESC";
        Ok(RouteInputs {
            apis: self.list_apis_of(instance_id, api_ids).await?,
            publications: self.list_for_apis(instance_id, api_ids, "").await?,
            bindings: self
                .list_for_apis(
                    instance_id,
                    api_ids,
                    "ORDER BY attached_time DESC, rowid DESC",
                )
                .await?,
            auths: self.list_for_apis(instance_id, api_ids, "").await?,
            acl_bindings: self.list_for_apis(instance_id, api_ids, by_time).await?,
            throttle_bindings: self.list_for_apis(instance_id, api_ids, by_time).await?,
            sign_bindings: self.list_for_apis(instance_id, api_ids, by_time).await?,
        })
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.engine.changes()
    }

    async fn reseal_secrets(&self) -> Result<u64, StoreError> {
        // Counted first, so that a start with nothing to reseal writes nothing.
        let stale = {
            let mut c = self.engine.reader().await?;
            self.reseal::<Plugin, _>(&mut c, false).await?
                + self.reseal::<App, _>(&mut c, false).await?
                + self.reseal::<SignKey, _>(&mut c, false).await?
                + self.reseal::<Certificate, _>(&mut c, false).await?
        };
        if stale == 0 {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let result = async {
            Ok(self.reseal::<Plugin, _>(&mut tx, true).await?
                + self.reseal::<App, _>(&mut tx, true).await?
                + self.reseal::<SignKey, _>(&mut tx, true).await?
                + self.reseal::<Certificate, _>(&mut tx, true).await?)
        }
        .await;
        self.end(tx, result).await
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
        let mut tx = self.begin().await?;
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
        self.get(instance_id, id).await
    }

    async fn create_group(&self, g: &Group) -> Result<(), StoreError> {
        let change = Change::Groups(vec![g.id.clone()]);
        self.insert_as(change, g, unique(Unique::GroupName, &[]))
            .await
    }

    async fn update_group(&self, g: &Group) -> Result<(), StoreError> {
        self.change_as(
            Change::Groups(vec![g.id.clone()]),
            "UPDATE groups SET name=?3, remark=?4, update_time=?5 WHERE instance_id=?1 AND id=?2",
            &args![&g.instance_id, &g.id, &g.name, &g.remark, g.update_time],
            unique(Unique::GroupName, &[]),
        )
        .await
    }

    async fn delete_group(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Group, instance_id, id)
                .await
                .map_err(missing_is_not_found)?;
            unused(
                &mut tx,
                Resource::Api,
                "SELECT 1 FROM apis WHERE instance_id=?1 AND group_id=?2",
                instance_id,
                id,
            )
            .await?;
            changed(
                tx.execute(
                    "DELETE FROM groups WHERE instance_id=?1 AND id=?2",
                    &args![instance_id, id],
                )
                .await?,
            )
        }
        .await;
        self.end_as(tx, Change::Groups(vec![id.to_string()]), result)
            .await
    }

    async fn list_groups(&self, instance_id: &str) -> Result<Vec<Group>, StoreError> {
        self.list(instance_id, "ORDER BY register_time, rowid")
            .await
    }

    async fn get_env(&self, instance_id: &str, id: &str) -> Result<Option<Env>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn create_env(&self, e: &Env) -> Result<(), StoreError> {
        let change = Change::Envs(vec![e.id.clone()]);
        self.insert_as(change, e, unique(Unique::EnvName, &[]))
            .await
    }

    async fn update_env(&self, e: &Env) -> Result<(), StoreError> {
        self.change_as(
            Change::Envs(vec![e.id.clone()]),
            "UPDATE envs SET name=?3, remark=?4 WHERE instance_id=?1 AND id=?2",
            &args![&e.instance_id, &e.id, &e.name, &e.remark],
            unique(Unique::EnvName, &[]),
        )
        .await
    }

    async fn delete_env(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Env, instance_id, id)
                .await
                .map_err(missing_is_not_found)?;
            unused(
                &mut tx,
                Resource::Publication,
                "SELECT 1 FROM publications WHERE instance_id=?1 AND env_id=?2",
                instance_id,
                id,
            )
            .await?;
            let tables = ["bindings", "app_auths", "env_variables"]
                .into_iter()
                .chain(POLICY_BINDING_TABLES);
            for table in tables {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE instance_id=?1 AND env_id=?2"),
                    &args![instance_id, id],
                )
                .await?;
            }
            tx.execute(
                "DELETE FROM envs WHERE instance_id=?1 AND id=?2",
                &args![instance_id, id],
            )
            .await?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Envs(vec![id.to_string()]), result)
            .await
    }

    async fn list_envs(&self, instance_id: &str) -> Result<Vec<Env>, StoreError> {
        self.list(instance_id, "ORDER BY create_time, rowid").await
    }

    async fn get_api(&self, instance_id: &str, id: &str) -> Result<Option<Api>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn create_api(&self, a: &Api) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Group, &a.instance_id, &a.group_id).await?;
            require_channel(&mut tx, a).await?;
            tx.insert(a)
                .await
                .map_err(unique(Unique::ApiName, API_UNIQUE))?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Apis(vec![a.id.clone()]), result)
            .await
    }

    async fn update_api(&self, a: &Api) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Api, &a.instance_id, &a.id)
                .await
                .map_err(missing_is_not_found)?;
            update_api_row(&mut tx, a).await
        }
        .await;
        self.end_as(tx, Change::Apis(vec![a.id.clone()]), result)
            .await
    }

    async fn delete_api(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM apis WHERE instance_id=?1 AND id=?2";
        let change = Change::Apis(vec![id.to_string()]);
        self.change_as(change, sql, &args![instance_id, id], StoreError::from)
            .await
    }

    async fn list_apis(&self, instance_id: &str) -> Result<Vec<Api>, StoreError> {
        self.list(instance_id, "ORDER BY register_time DESC, rowid DESC")
            .await
    }

    async fn publish(&self, p: &Publication) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Api, &p.instance_id, &p.api_id).await?;
            require(&mut tx, Resource::Env, &p.instance_id, &p.env_id).await?;
            tx.execute(
                "DELETE FROM publications WHERE api_id=?1 AND env_id=?2",
                &args![&p.api_id, &p.env_id],
            )
            .await?;
            tx.insert(p).await?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Apis(vec![p.api_id.clone()]), result)
            .await
    }

    async fn unpublish(
        &self,
        instance_id: &str,
        api_id: &str,
        env_id: &str,
    ) -> Result<Publication, StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            let gone = tx
                .first(
                    &format!(
                        "DELETE FROM publications WHERE instance_id=?1 AND api_id=?2 AND env_id=?3
                         RETURNING {}",
                        Publication::COLUMNS
                    ),
                    &args![instance_id, api_id, env_id],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
            for table in POLICY_BINDING_TABLES {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE instance_id=?1 AND api_id=?2 AND env_id=?3"
                    ),
                    &args![instance_id, api_id, env_id],
                )
                .await?;
            }
            Ok(gone)
        }
        .await;
        self.end_as(tx, Change::Apis(vec![api_id.to_string()]), result)
            .await
    }

    async fn list_publications(&self, instance_id: &str) -> Result<Vec<Publication>, StoreError> {
        self.list(instance_id, "").await
    }

    async fn get_app(&self, instance_id: &str, id: &str) -> Result<Option<App>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn create_app(&self, a: &App) -> Result<(), StoreError> {
        self.insert_as(Change::Apps, a, unique(Unique::AppName, APP_UNIQUE))
            .await
    }

    async fn update_app(&self, a: &App) -> Result<(), StoreError> {
        self.change_as(
            Change::Apps,
            "UPDATE apps SET name=?3, remark=?4, app_key=?5, app_secret=?6, update_time=?7
             WHERE instance_id=?1 AND id=?2",
            &args![
                &a.instance_id,
                &a.id,
                &a.name,
                &a.remark,
                &a.app_key,
                self.secrets.seal("apps.app_secret", &a.app_secret)?,
                a.update_time
            ],
            unique(Unique::AppName, APP_UNIQUE),
        )
        .await
    }

    async fn delete_app(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM apps WHERE instance_id=?1 AND id=?2";
        self.change_as(Change::Apps, sql, &args![instance_id, id], StoreError::from)
            .await
    }

    async fn list_apps(&self, instance_id: &str) -> Result<Vec<App>, StoreError> {
        self.list(instance_id, "ORDER BY register_time DESC, rowid DESC")
            .await
    }

    async fn authorize(
        &self,
        instance_id: &str,
        auths: &[AppAuth],
    ) -> Result<Vec<AppAuth>, StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            let mut out = Vec::with_capacity(auths.len());
            for a in auths {
                require(&mut tx, Resource::App, instance_id, &a.app_id).await?;
                require(&mut tx, Resource::Api, instance_id, &a.api_id).await?;
                require(&mut tx, Resource::Env, instance_id, &a.env_id).await?;
                tx.insert_unless_present(&AppAuth {
                    instance_id: instance_id.to_string(),
                    ..a.clone()
                })
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
        let apis = auths.iter().map(|a| a.api_id.clone()).collect();
        self.end_as(tx, Change::Apis(apis), result).await
    }

    async fn delete_app_auth(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        self.remove_from_api::<AppAuth>(instance_id, id).await
    }

    async fn list_app_auths(&self, instance_id: &str) -> Result<Vec<AppAuth>, StoreError> {
        self.list(instance_id, "").await
    }

    async fn attach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
        now: i64,
    ) -> Result<Vec<Binding>, StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Env, instance_id, env_id).await?;
            let mut out = Vec::with_capacity(pairs.len());
            for (plugin_id, api_id) in pairs {
                let plugin_type = tx
                    .first::<Plugin>(
                        &format!(
                            "SELECT {} FROM plugins WHERE instance_id=?1 AND id=?2",
                            Plugin::COLUMNS
                        ),
                        &args![instance_id, plugin_id],
                    )
                    .await?
                    .ok_or_else(|| StoreError::Missing(Resource::Plugin, plugin_id.clone()))?
                    .plugin_type;
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
                    &args![api_id, env_id, plugin_type.as_str(), plugin_id],
                )
                .await?;
                tx.insert_unless_present(&Binding {
                    id: id::new_id(),
                    instance_id: instance_id.to_string(),
                    plugin_id: plugin_id.clone(),
                    plugin_type,
                    api_id: api_id.clone(),
                    env_id: env_id.to_string(),
                    attached_time: now,
                })
                .await?;
                let bound = tx
                    .first(
                        &format!(
                            "SELECT {} FROM bindings WHERE api_id=?1 AND env_id=?2 AND plugin_type=?3",
                            Binding::COLUMNS
                        ),
                        &args![api_id, env_id, plugin_type.as_str()],
                    )
                    .await?
                    .ok_or_else(|| StoreError::Backend("binding not stored".into()))?;
                out.push(bound);
            }
            Ok(out)
        }
        .await;
        let apis = pairs.iter().map(|(_, api)| api.clone()).collect();
        self.end_as(tx, Change::Apis(apis), result).await
    }

    async fn detach(
        &self,
        instance_id: &str,
        env_id: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
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
        let apis = pairs.iter().map(|(_, api)| api.clone()).collect();
        self.end_as(tx, Change::Apis(apis), result).await
    }

    async fn list_bindings(&self, instance_id: &str) -> Result<Vec<Binding>, StoreError> {
        self.list(instance_id, "ORDER BY attached_time DESC, rowid DESC")
            .await
    }

    async fn create_variable(
        &self,
        v: &EnvVariable,
        max_per_group_and_env: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Group, &v.instance_id, &v.group_id).await?;
            require(&mut tx, Resource::Env, &v.instance_id, &v.env_id).await?;
            if let Some(max) = max_per_group_and_env {
                let n = tx
                    .count(
                        "SELECT COUNT(*) FROM env_variables WHERE group_id=?1 AND env_id=?2",
                        &args![&v.group_id, &v.env_id],
                    )
                    .await?;
                if n >= max as i64 {
                    return Err(StoreError::Quota(max));
                }
            }
            tx.insert(v)
                .await
                .map_err(unique(Unique::VariableName, &[]))?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::GroupSettings(vec![v.group_id.clone()]), result)
            .await
    }

    async fn update_variable(&self, v: &EnvVariable) -> Result<(), StoreError> {
        self.change_as(
            Change::GroupSettings(vec![v.group_id.clone()]),
            "UPDATE env_variables SET value=?3 WHERE instance_id=?1 AND id=?2",
            &args![&v.instance_id, &v.id, &v.value],
            StoreError::from,
        )
        .await
    }

    async fn delete_variable(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM env_variables WHERE instance_id=?1 AND id=?2 RETURNING group_id";
        self.remove_returning(instance_id, id, sql, Change::GroupSettings)
            .await
    }

    async fn get_variable(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<EnvVariable>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn list_variables(&self, instance_id: &str) -> Result<Vec<EnvVariable>, StoreError> {
        self.list(instance_id, "ORDER BY create_time, rowid").await
    }

    async fn create_acl(&self, a: &Acl) -> Result<(), StoreError> {
        let change = Change::Acls(vec![a.id.clone()]);
        self.insert_as(change, a, unique(Unique::AclName, &[]))
            .await
    }

    async fn update_acl(&self, a: &Acl) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = update_acl_row(&mut tx, a).await;
        self.end_as(tx, Change::Acls(vec![a.id.clone()]), result)
            .await
    }

    async fn delete_acl(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Acl, instance_id, id)
                .await
                .map_err(missing_is_not_found)?;
            unused(
                &mut tx,
                Resource::AclBinding,
                "SELECT 1 FROM acl_bindings WHERE instance_id=?1 AND acl_id=?2",
                instance_id,
                id,
            )
            .await?;
            tx.execute(
                "DELETE FROM acls WHERE instance_id=?1 AND id=?2",
                &args![instance_id, id],
            )
            .await?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Acls(vec![id.to_string()]), result)
            .await
    }

    async fn get_acl(&self, instance_id: &str, id: &str) -> Result<Option<Acl>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn list_acls(&self, instance_id: &str) -> Result<Vec<Acl>, StoreError> {
        self.list(instance_id, "ORDER BY update_time DESC, rowid DESC")
            .await
    }

    async fn bind_acl(
        &self,
        instance_id: &str,
        acl_id: &str,
        publish_ids: &[String],
        now: i64,
    ) -> Result<Vec<AclBinding>, StoreError> {
        self.bind_policy(instance_id, acl_id, publish_ids, now)
            .await
    }

    async fn unbind_acl(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        self.remove_from_api::<AclBinding>(instance_id, id).await
    }

    async fn list_acl_bindings(&self, instance_id: &str) -> Result<Vec<AclBinding>, StoreError> {
        self.list(instance_id, "ORDER BY create_time DESC, rowid DESC")
            .await
    }

    async fn create_throttle(&self, t: &Throttle) -> Result<(), StoreError> {
        let change = Change::Throttles(vec![t.id.clone()]);
        self.insert_as(change, t, unique(Unique::ThrottleName, &[]))
            .await
    }

    async fn update_throttle(&self, t: &Throttle) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = update_throttle_row(&mut tx, t).await;
        self.end_as(tx, Change::Throttles(vec![t.id.clone()]), result)
            .await
    }

    async fn delete_throttle(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Throttle, instance_id, id)
                .await
                .map_err(missing_is_not_found)?;
            for sql in [
                "DELETE FROM throttle_bindings WHERE instance_id=?1 AND throttle_id=?2",
                "DELETE FROM throttle_specials WHERE instance_id=?1 AND throttle_id=?2",
                "DELETE FROM throttles WHERE instance_id=?1 AND id=?2",
            ] {
                tx.execute(sql, &args![instance_id, id]).await?;
            }
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Throttles(vec![id.to_string()]), result)
            .await
    }

    async fn get_throttle(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<Throttle>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn list_throttles(&self, instance_id: &str) -> Result<Vec<Throttle>, StoreError> {
        self.list(instance_id, "ORDER BY create_time DESC, rowid DESC")
            .await
    }

    async fn bind_throttle(
        &self,
        instance_id: &str,
        throttle_id: &str,
        publish_ids: &[String],
        now: i64,
    ) -> Result<Vec<ThrottleBinding>, StoreError> {
        self.bind_policy(instance_id, throttle_id, publish_ids, now)
            .await
    }

    async fn unbind_throttle(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        self.remove_from_api::<ThrottleBinding>(instance_id, id)
            .await
    }

    async fn list_throttle_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<ThrottleBinding>, StoreError> {
        self.list(instance_id, "ORDER BY create_time DESC, rowid DESC")
            .await
    }

    async fn create_throttle_special(&self, sp: &ThrottleSpecial) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(
                &mut tx,
                Resource::Throttle,
                &sp.instance_id,
                &sp.throttle_id,
            )
            .await?;
            tx.insert(sp)
                .await
                .map_err(unique(Unique::ThrottleSpecial, THROTTLE_SPECIAL_UNIQUE))?;
            Ok(())
        }
        .await;
        let change = Change::Throttles(vec![sp.throttle_id.clone()]);
        self.end_as(tx, change, result).await
    }

    async fn update_throttle_special(
        &self,
        instance_id: &str,
        throttle_id: &str,
        id: &str,
        call_limits: i64,
    ) -> Result<(), StoreError> {
        self.change_as(
            Change::Throttles(vec![throttle_id.to_string()]),
            "UPDATE throttle_specials SET call_limits=?4
             WHERE instance_id=?1 AND throttle_id=?2 AND id=?3",
            &args![instance_id, throttle_id, id, call_limits],
            StoreError::from,
        )
        .await
    }

    async fn delete_throttle_special(
        &self,
        instance_id: &str,
        throttle_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.change_as(
            Change::Throttles(vec![throttle_id.to_string()]),
            "DELETE FROM throttle_specials WHERE instance_id=?1 AND throttle_id=?2 AND id=?3",
            &args![instance_id, throttle_id, id],
            StoreError::from,
        )
        .await
    }

    async fn list_throttle_specials(
        &self,
        instance_id: &str,
    ) -> Result<Vec<ThrottleSpecial>, StoreError> {
        self.list(instance_id, "ORDER BY create_time, rowid").await
    }

    async fn create_sign(&self, k: &SignKey) -> Result<(), StoreError> {
        let change = Change::Signs(vec![k.id.clone()]);
        self.insert_as(change, k, unique(Unique::SignName, &[]))
            .await
    }

    async fn update_sign(&self, k: &SignKey) -> Result<(), StoreError> {
        self.change_as(
            Change::Signs(vec![k.id.clone()]),
            "UPDATE signs SET name=?3, sign_type=?4, sign_key=?5, sign_secret=?6, sign_algorithm=?7,
             update_time=?8 WHERE instance_id=?1 AND id=?2",
            &[
                Value::from(&k.instance_id),
                Value::from(&k.id),
                Value::from(&k.name),
                Value::from(k.sign_type.as_str()),
                Value::from(&k.sign_key),
                Value::Text(self.secrets.seal("signs.sign_secret", &k.sign_secret)?),
                k.sign_algorithm.map_or(Value::Null, |a| Value::from(a.as_str())),
                Value::Int(k.update_time),
            ],
            unique(Unique::SignName, &[]),
        )
        .await
    }

    async fn delete_sign(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Sign, instance_id, id)
                .await
                .map_err(missing_is_not_found)?;
            for sql in [
                "DELETE FROM sign_bindings WHERE instance_id=?1 AND sign_id=?2",
                "DELETE FROM signs WHERE instance_id=?1 AND id=?2",
            ] {
                tx.execute(sql, &args![instance_id, id]).await?;
            }
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Signs(vec![id.to_string()]), result)
            .await
    }

    async fn get_sign(&self, instance_id: &str, id: &str) -> Result<Option<SignKey>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn list_signs(&self, instance_id: &str) -> Result<Vec<SignKey>, StoreError> {
        self.list(instance_id, "ORDER BY create_time DESC, rowid DESC")
            .await
    }

    async fn bind_sign(
        &self,
        instance_id: &str,
        sign_id: &str,
        publish_ids: &[String],
        now: i64,
    ) -> Result<Vec<SignBinding>, StoreError> {
        self.bind_policy(instance_id, sign_id, publish_ids, now)
            .await
    }

    async fn unbind_sign(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        self.remove_from_api::<SignBinding>(instance_id, id).await
    }

    async fn list_sign_bindings(&self, instance_id: &str) -> Result<Vec<SignBinding>, StoreError> {
        self.list(instance_id, "ORDER BY create_time DESC, rowid DESC")
            .await
    }

    async fn create_gateway_response(
        &self,
        r: &GatewayResponse,
        max_per_group: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Group, &r.instance_id, &r.group_id).await?;
            if let Some(max) = max_per_group {
                let n = tx
                    .count(
                        "SELECT COUNT(*) FROM gateway_responses WHERE group_id=?1",
                        &args![&r.group_id],
                    )
                    .await?;
                if n >= max as i64 {
                    return Err(StoreError::Quota(max));
                }
            }
            tx.insert(r)
                .await
                .map_err(unique(Unique::ResponseName, &[]))?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::GroupSettings(vec![r.group_id.clone()]), result)
            .await
    }

    async fn update_gateway_response(&self, r: &GatewayResponse) -> Result<(), StoreError> {
        self.change_as(
            Change::GroupSettings(vec![r.group_id.clone()]),
            "UPDATE gateway_responses SET name=?3, responses=?4, update_time=?5
             WHERE instance_id=?1 AND id=?2",
            &args![&r.instance_id, &r.id, &r.name, &r.responses, r.update_time],
            unique(Unique::ResponseName, &[]),
        )
        .await
    }

    async fn delete_gateway_response(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM gateway_responses WHERE instance_id=?1 AND id=?2 RETURNING group_id";
        self.remove_returning(instance_id, id, sql, Change::GroupSettings)
            .await
    }

    async fn get_gateway_response(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<GatewayResponse>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn list_gateway_responses(
        &self,
        instance_id: &str,
    ) -> Result<Vec<GatewayResponse>, StoreError> {
        self.list(instance_id, "ORDER BY create_time, rowid").await
    }

    async fn create_certificate(
        &self,
        c: &Certificate,
        bind_to: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            tx.insert(c).await?;
            if let Some((instance_id, domain_id)) = bind_to {
                bind_in(&mut tx, instance_id, domain_id, &c.id, None).await?;
            }
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Hosts, result).await
    }

    async fn update_certificate(&self, c: &Certificate) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            let n = tx
                .execute(
                    "UPDATE certificates SET name=?2, instance_id=?3, cert_type=?4,
                     cert_content=?5, private_key=?6, trusted_root_ca=?7, update_time=?8
                     WHERE id=?1",
                    &[
                        Value::from(&c.id),
                        Value::from(&c.name),
                        Value::from(&c.instance_id),
                        Value::from(c.cert_type.as_str()),
                        Value::from(&c.cert_content),
                        Value::Text(
                            self.secrets
                                .seal("certificates.private_key", &c.private_key)?,
                        ),
                        Value::from(&c.trusted_root_ca),
                        Value::Int(c.update_time),
                    ],
                )
                .await?;
            changed(n)?;
            if c.trusted_root_ca.is_none() {
                tx.execute(
                    "UPDATE domains SET verified_client_certificate_enabled=0 WHERE ssl_id=?1",
                    &args![&c.id],
                )
                .await?;
            }
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Hosts, result).await
    }

    async fn delete_certificate(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            if tx
                .exists("SELECT 1 FROM domains WHERE ssl_id=?1", &args![id])
                .await?
            {
                return Err(StoreError::InUse(Resource::Domain));
            }
            changed(
                tx.execute("DELETE FROM certificates WHERE id=?1", &args![id])
                    .await?,
            )
        }
        .await;
        self.end_as(tx, Change::Hosts, result).await
    }

    async fn get_certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError> {
        let sql = format!(
            "SELECT {} FROM certificates WHERE id=?1",
            Certificate::COLUMNS
        );
        self.engine.reader().await?.first(&sql, &args![id]).await
    }

    async fn list_certificates(&self, project_id: &str) -> Result<Vec<Certificate>, StoreError> {
        let sql = format!(
            "SELECT {} FROM certificates WHERE project_id=?1 ORDER BY create_time DESC, rowid DESC",
            Certificate::COLUMNS
        );
        self.engine
            .reader()
            .await?
            .all(&sql, &args![project_id])
            .await
    }

    async fn create_domain(
        &self,
        d: &Domain,
        max_per_group: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Group, &d.instance_id, &d.group_id).await?;
            if let Some(max) = max_per_group {
                let n = tx
                    .count(
                        "SELECT COUNT(*) FROM domains WHERE group_id=?1",
                        &args![&d.group_id],
                    )
                    .await?;
                if n >= max as i64 {
                    return Err(StoreError::Quota(max));
                }
            }
            tx.insert(d)
                .await
                .map_err(unique(Unique::DomainName, DOMAIN_UNIQUE))?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Hosts, result).await
    }

    async fn update_domain(&self, d: &Domain) -> Result<(), StoreError> {
        self.change_as(
            Change::Hosts,
            "UPDATE domains SET min_ssl_version=?3, is_http_redirect_to_https=?4,
             verified_client_certificate_enabled=?5 WHERE instance_id=?1 AND id=?2",
            &args![
                &d.instance_id,
                &d.id,
                d.min_ssl_version.as_str(),
                d.is_http_redirect_to_https,
                d.verified_client_certificate_enabled
            ],
            StoreError::from,
        )
        .await
    }

    async fn delete_domain(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        self.remove::<Domain>(Change::Hosts, instance_id, id).await
    }

    async fn get_domain(&self, instance_id: &str, id: &str) -> Result<Option<Domain>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn list_domains(&self, instance_id: &str) -> Result<Vec<Domain>, StoreError> {
        self.list(instance_id, "ORDER BY create_time, rowid").await
    }

    async fn bind_certificate(
        &self,
        instance_id: &str,
        domain_id: &str,
        ssl_id: &str,
        verified: Option<bool>,
    ) -> Result<Domain, StoreError> {
        let mut tx = self.begin().await?;
        let result = bind_in(&mut tx, instance_id, domain_id, ssl_id, verified).await;
        self.end_as(tx, Change::Hosts, result).await
    }

    async fn unbind_certificate(
        &self,
        instance_id: &str,
        domain_id: &str,
        ssl_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            require(&mut tx, Resource::Domain, instance_id, domain_id)
                .await
                .map_err(missing_is_not_found)?;
            let n = tx
                .execute(
                    "UPDATE domains SET ssl_id=NULL, verified_client_certificate_enabled=0
                     WHERE instance_id=?1 AND id=?2 AND ssl_id=?3",
                    &args![instance_id, domain_id, ssl_id],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::Missing(
                    Resource::CertificateBinding,
                    ssl_id.to_string(),
                ));
            }
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Hosts, result).await
    }

    async fn create_vpc_channel(
        &self,
        c: &VpcChannel,
        max_per_instance: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            if let Some(max) = max_per_instance {
                let n = tx
                    .count(
                        "SELECT COUNT(*) FROM vpc_channels WHERE instance_id=?1",
                        &args![&c.instance_id],
                    )
                    .await?;
                if n >= max as i64 {
                    return Err(StoreError::Quota(max));
                }
            }
            tx.insert(c)
                .await
                .map_err(unique(Unique::VpcChannelName, &[]))?;
            Ok(())
        }
        .await;
        self.end_as(tx, Change::Channels(vec![c.id.clone()]), result)
            .await
    }

    async fn update_vpc_channel(&self, c: &VpcChannel) -> Result<(), StoreError> {
        self.change_as(
            Change::Channels(vec![c.id.clone()]),
            "UPDATE vpc_channels SET name=?3, def=?4 WHERE instance_id=?1 AND id=?2",
            &args![&c.instance_id, &c.id, &c.name, channel_json(c)?],
            unique(Unique::VpcChannelName, &[]),
        )
        .await
    }

    async fn delete_vpc_channel(&self, instance_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = async {
            let defs = tx
                .query(
                    "SELECT def FROM apis WHERE instance_id=?1",
                    &args![instance_id],
                )
                .await?;
            for row in defs {
                if channel_of(&row.text(0)?).as_deref() == Some(id) {
                    return Err(StoreError::InUse(Resource::Api));
                }
            }
            changed(
                tx.execute(
                    "DELETE FROM vpc_channels WHERE instance_id=?1 AND id=?2",
                    &args![instance_id, id],
                )
                .await?,
            )
        }
        .await;
        self.end_as(tx, Change::Channels(vec![id.to_string()]), result)
            .await
    }

    async fn get_vpc_channel(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<VpcChannel>, StoreError> {
        self.get(instance_id, id).await
    }

    async fn list_vpc_channels(&self, instance_id: &str) -> Result<Vec<VpcChannel>, StoreError> {
        self.list(instance_id, "ORDER BY create_time DESC, rowid DESC")
            .await
    }

    async fn import(&self, batch: &ImportBatch) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = import_rows(&mut tx, batch).await;
        // APIs (perhaps in a new group) and what binds to them: their routes; policies:
        // anything.
        let apis_only = batch.created_acls.is_empty()
            && batch.updated_acls.is_empty()
            && batch.created_throttles.is_empty()
            && batch.updated_throttles.is_empty();
        let change = match apis_only {
            true => Change::Apis(
                (batch.created_apis.iter().chain(&batch.updated_apis))
                    .map(|a| a.id.clone())
                    .chain(batch.publications.iter().map(|p| p.api_id.clone()))
                    .collect(),
            ),
            false => Change::All,
        };
        self.end_as(tx, change, result).await
    }
}
