//! The store contract: each test is written once, generic over [`Store`], and the `contract!`
//! list at the end runs it against every engine (SQLite in a temporary file, PostgreSQL in a
//! schema of its own).

use apigw_model::acl::{Acl, AclKind, AclType, EntityType};
use apigw_model::certificate::{CertType, Certificate};
use apigw_model::domain::{Domain, TlsVersion};
use apigw_model::gateway_response::GatewayResponse;
use apigw_model::page::Page;
use apigw_model::resources::*;
use apigw_model::signature_key::{SignAlgorithm, SignKey, SignType};
use apigw_model::throttle::{ObjectType, Throttle, ThrottleSpecial, TimeUnit};
use apigw_model::variables::EnvVariable;
use apigw_model::vpc_channel::{
    BalanceStrategy, HealthConfig, HealthProtocol, Member, MemberGroup, VpcChannel,
};
use apigw_model::{Plugin, PluginScope, PluginType};
use apigw_store::{
    Change, PluginFilter, Resource, Secrets, SqliteStore, Store, StoreError, Unique,
};

fn plugin(instance: &str, name: &str, t: PluginType, at: i64) -> Plugin {
    Plugin {
        id: apigw_model::id::new_id(),
        instance_id: instance.into(),
        name: name.into(),
        plugin_type: t,
        scope: PluginScope::Global,
        content: "{}".into(),
        remark: String::new(),
        roma_app_id: None,
        roma_app_name: None,
        create_time: at,
        update_time: at,
    }
}

/// The PostgreSQL server the tests use (`APIGW_TEST_PG_URL`, default the local one).
fn pg_base() -> String {
    std::env::var("APIGW_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own for one test; dropped by [`PgSchema::drop_schema`] when the test passes
/// (a failing test leaves it for inspection).
struct PgSchema {
    name: String,
    admin: tokio_postgres::Client,
}

impl PgSchema {
    async fn drop_schema(self) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap();
    }
}

/// Where one test's state lives; reopened with other keys by the rotation test.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl Place {
    async fn sqlite() -> Self {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Self {
        let name = format!("t_{}", apigw_model::id::new_id());
        let (admin, conn) = tokio_postgres::connect(&pg_base(), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL answers at APIGW_TEST_PG_URL (scripts/test.sh starts one)");
        tokio::spawn(conn);
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Place::Postgres(PgSchema { name, admin })
    }

    /// The store here, its secret columns sealed with `keys` (a key file's text).
    async fn open(&self, keys: &str) -> Result<Box<dyn Store>, StoreError> {
        let secrets = Secrets::parse(keys).unwrap();
        Ok(match self {
            Place::Sqlite(dir) => {
                Box::new(SqliteStore::open(&dir.path().join("t.db"), secrets).await?)
            }
            Place::Postgres(schema) => {
                let url = format!("{}?options=-c%20search_path%3D{}", pg_base(), schema.name);
                Box::new(apigw_store::PgStore::open(&url, secrets).await?)
            }
        })
    }

    /// Every stored value of the secret columns, as the database holds it.
    async fn raw_secrets(&self) -> Vec<String> {
        const SQL: &str = "SELECT app_secret FROM apps UNION ALL SELECT content FROM plugins \
                           UNION ALL SELECT sign_secret FROM signs \
                           UNION ALL SELECT private_key FROM certificates";
        match self {
            Place::Sqlite(dir) => {
                let c = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
                let mut stmt = c.prepare(SQL).unwrap();
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
                rows.map(Result::unwrap).collect()
            }
            Place::Postgres(schema) => schema
                .admin
                .query(
                    &SQL.replace("FROM ", &format!("FROM {}.", schema.name)),
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect(),
        }
    }

    /// Drops a PostgreSQL schema (kept when a test fails, for inspection).
    async fn finish(self) {
        if let Place::Postgres(schema) = self {
            schema.drop_schema().await;
        }
    }
}

async fn plugin_crud_round_trips(s: &dyn Store) {
    let v0 = s.version().await.unwrap();
    let mut p = plugin("i1", "alpha", PluginType::Cors, 1);
    s.create_plugin(&p, None).await.unwrap();
    assert_eq!(s.get_plugin("i1", &p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(
        s.get_plugin("i2", &p.id).await.unwrap(),
        None,
        "other instance"
    );
    p.name = "alpha2".into();
    p.content = r#"{"a":1}"#.into();
    p.update_time = 2;
    s.update_plugin(&p).await.unwrap();
    assert_eq!(s.get_plugin("i1", &p.id).await.unwrap(), Some(p.clone()));
    s.delete_plugin("i1", &p.id).await.unwrap();
    assert_eq!(s.get_plugin("i1", &p.id).await.unwrap(), None);
    assert!(matches!(
        s.delete_plugin("i1", &p.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.update_plugin(&p).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.version().await.unwrap(),
        v0 + 3,
        "each write bumps the version once"
    );
}

async fn plugin_names_are_unique_per_instance(s: &dyn Store) {
    s.create_plugin(&plugin("i1", "same", PluginType::Cors, 1), None)
        .await
        .unwrap();
    let dup = s
        .create_plugin(&plugin("i1", "same", PluginType::Breaker, 2), None)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(Unique::PluginName))));
    s.create_plugin(&plugin("i2", "same", PluginType::Cors, 1), None)
        .await
        .unwrap();
    let mut other = plugin("i1", "other", PluginType::Cors, 3);
    s.create_plugin(&other, None).await.unwrap();
    other.name = "same".into();
    assert!(matches!(
        s.update_plugin(&other).await,
        Err(StoreError::Conflict(Unique::PluginName))
    ));
}

async fn list_filters_and_pages(s: &dyn Store) {
    for (i, (name, t)) in [
        ("cors one", PluginType::Cors),
        ("cors two", PluginType::Cors),
        ("limit", PluginType::RateLimit),
    ]
    .into_iter()
    .enumerate()
    {
        s.create_plugin(&plugin("i1", name, t, i as i64), None)
            .await
            .unwrap();
    }
    let all = PluginFilter::default();
    let (total, items) = s.list_plugins("i1", &all, Page::default()).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        items.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["limit", "cors two", "cors one"]
    );
    let (total, items) = s
        .list_plugins("i1", &all, Page::new(Some(1), Some(1)))
        .await
        .unwrap();
    assert_eq!(
        (total, items.len(), items[0].name.as_str()),
        (3, 1, "cors two")
    );
    let by_type = PluginFilter {
        plugin_type: Some(PluginType::Cors),
        ..Default::default()
    };
    assert_eq!(
        s.list_plugins("i1", &by_type, Page::default())
            .await
            .unwrap()
            .0,
        2
    );
    let fuzzy = PluginFilter {
        name: Some("cors".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_plugins("i1", &fuzzy, Page::default())
            .await
            .unwrap()
            .0,
        2
    );
    let exact = PluginFilter {
        name: Some("cors".into()),
        name_exact: true,
        ..Default::default()
    };
    assert_eq!(
        s.list_plugins("i1", &exact, Page::default())
            .await
            .unwrap()
            .0,
        0
    );
    let exact = PluginFilter {
        name: Some("cors one".into()),
        name_exact: true,
        ..Default::default()
    };
    assert_eq!(
        s.list_plugins("i1", &exact, Page::default())
            .await
            .unwrap()
            .0,
        1
    );
    let pct = PluginFilter {
        name: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_plugins("i1", &pct, Page::default()).await.unwrap().0,
        0,
        "no LIKE wildcards"
    );
}

const I: &str = "i1";

fn api(group: &str, name: &str, route: &str) -> Api {
    Api {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        group_id: group.into(),
        name: name.into(),
        route_key: route.into(),
        def: "{}".into(),
        register_time: 1,
        update_time: 1,
    }
}

fn publication(api_id: &str, env_id: &str) -> Publication {
    Publication {
        publish_id: apigw_model::id::new_id(),
        instance_id: I.into(),
        api_id: api_id.into(),
        env_id: env_id.into(),
        remark: String::new(),
        publish_time: 1,
    }
}

/// A store with the defaults, one published API and its default group's id.
async fn setup(s: &dyn Store) -> (String, Api) {
    s.ensure_defaults(I, 1).await.unwrap();
    s.ensure_defaults(I, 2).await.unwrap();
    let groups = s.list_groups(I).await.unwrap();
    assert_eq!(groups.len(), 1, "defaults are created once");
    assert!(groups[0].is_default && groups[0].name == DEFAULT_GROUP_NAME);
    let envs = s.list_envs(I).await.unwrap();
    assert_eq!(
        (envs.len(), envs[0].id.as_str(), envs[0].name.as_str()),
        (1, RELEASE_ENV_ID, RELEASE_ENV_NAME)
    );
    let a = api(&groups[0].id, "api1", "GET NORMAL /a");
    s.create_api(&a).await.unwrap();
    s.publish(&publication(&a.id, RELEASE_ENV_ID))
        .await
        .unwrap();
    (groups[0].id.clone(), a)
}

async fn binding_replaces_by_type_and_blocks_plugin_deletion(s: &dyn Store) {
    let (_, a) = setup(s).await;
    let p1 = plugin(I, "cors1", PluginType::Cors, 1);
    let p2 = plugin(I, "cors2", PluginType::Cors, 2);
    let p3 = plugin(I, "rl", PluginType::RateLimit, 3);
    for p in [&p1, &p2, &p3] {
        s.create_plugin(p, None).await.unwrap();
    }
    let pairs = |p: &Plugin| vec![(p.id.clone(), a.id.clone())];
    let b1 = s.attach(I, RELEASE_ENV_ID, &pairs(&p1), 10).await.unwrap();
    let again = s.attach(I, RELEASE_ENV_ID, &pairs(&p1), 11).await.unwrap();
    assert_eq!(b1, again, "binding the same pair again keeps the binding");
    s.attach(I, RELEASE_ENV_ID, &pairs(&p3), 12).await.unwrap();
    s.attach(I, RELEASE_ENV_ID, &pairs(&p2), 13).await.unwrap();
    let mut bound: Vec<_> = s
        .list_bindings(I)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.plugin_id)
        .collect();
    bound.sort();
    let mut expected = vec![p2.id.clone(), p3.id.clone()];
    expected.sort();
    assert_eq!(bound, expected, "cors2 replaced cors1; rate_limit stays");
    assert!(matches!(
        s.delete_plugin(I, &p2.id).await,
        Err(StoreError::InUse(Resource::Binding))
    ));
    s.delete_plugin(I, &p1.id).await.unwrap();
    s.detach(I, RELEASE_ENV_ID, &pairs(&p2)).await.unwrap();
    s.detach(I, RELEASE_ENV_ID, &pairs(&p2)).await.unwrap();
    s.delete_plugin(I, &p2.id).await.unwrap();
}

async fn only_published_apis_bind_and_batches_are_all_or_nothing(s: &dyn Store) {
    let (group, a) = setup(s).await;
    let unpublished = api(&group, "api2", "GET NORMAL /b");
    s.create_api(&unpublished).await.unwrap();
    let p = plugin(I, "cors", PluginType::Cors, 1);
    s.create_plugin(&p, None).await.unwrap();
    let batch = vec![
        (p.id.clone(), a.id.clone()),
        (p.id.clone(), unpublished.id.clone()),
    ];
    let r = s.attach(I, RELEASE_ENV_ID, &batch, 1).await;
    assert!(matches!(r, Err(StoreError::NotPublished(id)) if id == unpublished.id));
    assert!(
        s.list_bindings(I).await.unwrap().is_empty(),
        "nothing half-written"
    );
    let r = s
        .attach(I, RELEASE_ENV_ID, &[(p.id.clone(), "nope".into())], 1)
        .await;
    assert!(matches!(r, Err(StoreError::Missing(Resource::Api, _))));
    let r = s
        .attach(I, "nope", &[(p.id.clone(), a.id.clone())], 1)
        .await;
    assert!(matches!(r, Err(StoreError::Missing(Resource::Env, _))));
    let r = s
        .attach(I, RELEASE_ENV_ID, &[("nope".into(), a.id.clone())], 1)
        .await;
    assert!(matches!(r, Err(StoreError::Missing(Resource::Plugin, _))));
}

async fn offline_keeps_bindings_and_api_deletion_removes_them(s: &dyn Store) {
    let (_, a) = setup(s).await;
    let p = plugin(I, "cors", PluginType::Cors, 1);
    s.create_plugin(&p, None).await.unwrap();
    s.attach(I, RELEASE_ENV_ID, &[(p.id.clone(), a.id.clone())], 1)
        .await
        .unwrap();
    s.unpublish(I, &a.id, RELEASE_ENV_ID).await.unwrap();
    assert!(matches!(
        s.unpublish(I, &a.id, RELEASE_ENV_ID).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.list_bindings(I).await.unwrap().len(),
        1,
        "offline keeps bindings"
    );
    s.delete_api(I, &a.id).await.unwrap();
    assert!(s.list_bindings(I).await.unwrap().is_empty());
    assert!(s.list_publications(I).await.unwrap().is_empty());
    s.delete_plugin(I, &p.id).await.unwrap();
}

async fn groups_envs_and_apis_keep_their_uniqueness_and_references(s: &dyn Store) {
    let (group, a) = setup(s).await;
    let dup_name = api(&group, "api1", "GET NORMAL /other");
    assert!(matches!(
        s.create_api(&dup_name).await,
        Err(StoreError::Conflict(Unique::ApiName))
    ));
    let dup_route = api(&group, "api9", "GET NORMAL /a");
    assert!(matches!(
        s.create_api(&dup_route).await,
        Err(StoreError::Conflict(Unique::Route))
    ));
    assert!(matches!(
        s.create_api(&api("nogroup", "x", "GET NORMAL /x")).await,
        Err(StoreError::Missing(Resource::Group, _))
    ));
    assert!(matches!(
        s.delete_group(I, &group).await,
        Err(StoreError::InUse(Resource::Api))
    ));
    let env = Env {
        id: "e1".into(),
        instance_id: I.into(),
        name: "TEST".into(),
        remark: String::new(),
        create_time: 5,
    };
    s.create_env(&env).await.unwrap();
    assert!(matches!(
        s.create_env(&Env {
            id: "e2".into(),
            ..env.clone()
        })
        .await,
        Err(StoreError::Conflict(Unique::EnvName))
    ));
    s.publish(&publication(&a.id, "e1")).await.unwrap();
    assert!(matches!(
        s.delete_env(I, "e1").await,
        Err(StoreError::InUse(Resource::Publication))
    ));
    s.unpublish(I, &a.id, "e1").await.unwrap();
    s.delete_env(I, "e1").await.unwrap();
    assert_eq!(s.list_envs(I).await.unwrap().len(), 1);
}

async fn a_sixth_kafka_log_plugin_is_over_quota(s: &dyn Store) {
    for i in 0..5 {
        s.create_plugin(
            &plugin(I, &format!("k{i}"), PluginType::KafkaLog, i),
            Some(5),
        )
        .await
        .unwrap();
    }
    let r = s
        .create_plugin(&plugin(I, "k5", PluginType::KafkaLog, 6), Some(5))
        .await;
    assert!(matches!(r, Err(StoreError::Quota(5))));
    s.create_plugin(&plugin("other", "k5", PluginType::KafkaLog, 6), Some(5))
        .await
        .unwrap();
}

async fn apps_and_authorisations(s: &dyn Store) {
    let (_, a) = setup(s).await;
    let app = App {
        id: "app1".into(),
        instance_id: I.into(),
        name: "app one".into(),
        remark: String::new(),
        app_key: "key1".into(),
        app_secret: "secret1".into(),
        register_time: 1,
        update_time: 1,
    };
    s.create_app(&app).await.unwrap();
    let clash = App {
        id: "app2".into(),
        name: "other".into(),
        ..app.clone()
    };
    assert!(matches!(
        s.create_app(&clash).await,
        Err(StoreError::Conflict(Unique::AppKey))
    ));
    let auth = AppAuth {
        id: "au1".into(),
        instance_id: I.into(),
        app_id: "app1".into(),
        api_id: a.id.clone(),
        env_id: RELEASE_ENV_ID.into(),
        auth_time: 1,
    };
    let first = s.authorize(I, std::slice::from_ref(&auth)).await.unwrap();
    let second = s
        .authorize(
            I,
            &[AppAuth {
                id: "au2".into(),
                ..auth.clone()
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        first, second,
        "authorising twice keeps the first authorisation"
    );
    let bad = AppAuth {
        app_id: "nope".into(),
        ..auth
    };
    assert!(matches!(
        s.authorize(I, &[bad]).await,
        Err(StoreError::Missing(Resource::App, _))
    ));
    s.delete_app(I, "app1").await.unwrap();
    assert!(s.list_app_auths(I).await.unwrap().is_empty());
}

async fn resources_are_found_by_id_in_their_instance_only(s: &dyn Store) {
    let (group_id, api) = setup(s).await;
    let env_id = RELEASE_ENV_ID;
    let app = App {
        id: "app1".into(),
        instance_id: I.into(),
        name: "app one".into(),
        remark: String::new(),
        app_key: "key1".into(),
        app_secret: "secret1".into(),
        register_time: 1,
        update_time: 1,
    };
    s.create_app(&app).await.unwrap();
    assert_eq!(s.get_api(I, &api.id).await.unwrap(), Some(api.clone()));
    assert_eq!(s.get_app(I, "app1").await.unwrap(), Some(app));
    assert_eq!(
        s.get_group(I, &group_id).await.unwrap().map(|g| g.id),
        Some(group_id.clone())
    );
    assert_eq!(
        s.get_env(I, env_id).await.unwrap().map(|e| e.id),
        Some(env_id.to_string())
    );
    assert_eq!(s.get_api("other", &api.id).await.unwrap(), None);
    assert_eq!(s.get_app("other", "app1").await.unwrap(), None);
    assert_eq!(s.get_group("other", &group_id).await.unwrap(), None);
    assert_eq!(s.get_env("other", env_id).await.unwrap(), None);
    assert_eq!(s.get_api(I, "nope").await.unwrap(), None);
}

/// A write abandoned at any point (its caller went away) commits whole or not at all — the
/// row and the version bump together — and the next call finds the store usable.
async fn an_abandoned_write_commits_whole_or_not_at_all(s: &dyn Store) {
    let v0 = s.version().await.unwrap();
    for k in 0..40u64 {
        let g = Group {
            id: format!("g{k}"),
            instance_id: I.into(),
            name: format!("group {k}"),
            remark: String::new(),
            is_default: false,
            roma_app_id: None,
            register_time: k as i64,
            update_time: k as i64,
        };
        let _ = tokio::time::timeout(
            std::time::Duration::from_micros(k * k * 10),
            s.create_group(&g),
        )
        .await;
    }
    let stored = s.list_groups(I).await.unwrap().len() as i64;
    assert_eq!(
        s.version().await.unwrap(),
        v0 + stored,
        "one version bump per stored group"
    );
    let e = Env {
        id: "after".into(),
        instance_id: I.into(),
        name: "after".into(),
        remark: String::new(),
        create_time: 1,
    };
    s.create_env(&e).await.unwrap();
    assert_eq!(s.get_env(I, "after").await.unwrap(), Some(e));
    assert_eq!(s.version().await.unwrap(), v0 + stored + 1);
}

/// A key file with one key, the one each contract test's store starts with.
const KEYS: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// A second key, for rotation.
const NEW_KEY: &str = "k2:202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

fn app(id: &str, secret: &str) -> App {
    App {
        id: id.into(),
        instance_id: I.into(),
        name: format!("app {id}"),
        remark: String::new(),
        app_key: format!("key-{id}"),
        app_secret: secret.into(),
        register_time: 1,
        update_time: 1,
    }
}

/// An app's secret and a plug-in's content are sealed in the database and read back whole;
/// updates seal too.
async fn secrets_are_sealed_at_rest(place: &Place) {
    let s = place.open(KEYS).await.unwrap();
    let mut a = app("a1", "app-secret-plain-1");
    s.create_app(&a).await.unwrap();
    let mut p = plugin(I, "k", PluginType::KafkaLog, 1);
    p.content = r#"{"sasl_password":"kafka-password-plain-1"}"#.into();
    s.create_plugin(&p, None).await.unwrap();
    a.app_secret = "app-secret-plain-2".into();
    s.update_app(&a).await.unwrap();
    p.content = r#"{"sasl_password":"kafka-password-plain-2"}"#.into();
    s.update_plugin(&p).await.unwrap();
    assert_eq!(s.get_app(I, "a1").await.unwrap(), Some(a));
    assert_eq!(s.get_plugin(I, &p.id).await.unwrap(), Some(p));
    let mut k = sign("s1", "sign_one");
    k.sign_secret = "sign-secret-plain-1".into();
    s.create_sign(&k).await.unwrap();
    k.sign_secret = "sign-secret-plain-2".into();
    s.update_sign(&k).await.unwrap();
    assert_eq!(s.get_sign(I, "s1").await.unwrap(), Some(k));
    let mut c = certificate("c1", Some("ca"));
    c.private_key = "private-key-plain-1".into();
    s.create_certificate(&c, None).await.unwrap();
    c.private_key = "private-key-plain-2".into();
    s.update_certificate(&c).await.unwrap();
    assert_eq!(s.get_certificate("c1").await.unwrap(), Some(c));
    let raw = place.raw_secrets().await;
    assert_eq!(raw.len(), 4);
    for v in raw {
        assert!(v.starts_with("enc:v1:k1:") && !v.contains("plain"), "{v}");
    }
}

/// Rotation: with a new first key the old values still open, a reseal rewrites each once, and
/// then the old key can go; a store without the key of a value refuses to read it.
async fn a_rotated_key_reseals_every_secret(place: &Place) {
    let s = place.open(KEYS).await.unwrap();
    s.create_app(&app("a1", "secret-1")).await.unwrap();
    s.create_app(&app("a2", "secret-2")).await.unwrap();
    let p = plugin(I, "c", PluginType::Cors, 1);
    s.create_plugin(&p, None).await.unwrap();
    s.create_sign(&sign("s1", "sign_one")).await.unwrap();
    s.create_certificate(&certificate("c1", None), None)
        .await
        .unwrap();
    drop(s);
    let s = place.open(&format!("{NEW_KEY}\n{KEYS}")).await.unwrap();
    let v = s.version().await.unwrap();
    assert_eq!(
        s.get_app(I, "a2").await.unwrap().unwrap().app_secret,
        "secret-2"
    );
    assert_eq!(s.reseal_secrets().await.unwrap(), 5);
    assert_eq!(
        s.reseal_secrets().await.unwrap(),
        0,
        "nothing left to reseal"
    );
    assert_eq!(
        s.version().await.unwrap(),
        v + 1,
        "one write, and none with nothing to do"
    );
    drop(s);
    assert!(place
        .raw_secrets()
        .await
        .iter()
        .all(|v| v.starts_with("enc:v1:k2:")));
    let s = place.open(NEW_KEY).await.unwrap();
    assert_eq!(
        s.get_app(I, "a1").await.unwrap().unwrap().app_secret,
        "secret-1"
    );
    assert_eq!(s.get_plugin(I, &p.id).await.unwrap(), Some(p));
    assert_eq!(
        s.get_sign(I, "s1").await.unwrap().unwrap().sign_secret,
        sign("s1", "sign_one").sign_secret
    );
    assert_eq!(
        s.get_certificate("c1").await.unwrap(),
        Some(certificate("c1", None))
    );
    drop(s);
    let s = place.open(KEYS).await.unwrap();
    assert!(matches!(s.get_app(I, "a1").await, Err(StoreError::Backend(e)) if e.contains("k2")));
}

/// A reopened store keeps its data and does not apply its migrations again.
async fn reopening_keeps_data_and_does_not_reapply_migrations(place: &Place) {
    let p = plugin(I, "kept", PluginType::Cors, 1);
    let s = place.open(KEYS).await.unwrap();
    s.create_plugin(&p, None).await.unwrap();
    drop(s);
    let again = place.open(KEYS).await.unwrap();
    assert_eq!(again.get_plugin(I, &p.id).await.unwrap(), Some(p));
}

/// Two nodes creating kafka_log plug-ins at once never exceed the quota between them.
async fn a_quota_holds_across_nodes_creating_at_once(place: &Place) {
    let mut nodes: Vec<std::sync::Arc<dyn Store>> = Vec::new();
    for _ in 0..5 {
        nodes.push(place.open(KEYS).await.unwrap().into());
    }
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let node = nodes[i % nodes.len()].clone();
        let p = plugin(I, &format!("k{i}"), PluginType::KafkaLog, i as i64);
        calls.spawn(async move { node.create_plugin(&p, Some(5)).await });
    }
    let (mut ok, mut over) = (0, 0);
    while let Some(r) = calls.join_next().await {
        match r.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Quota(5)) => over += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, over), (5, 15));
}

/// Two nodes taking one API offline at once: one succeeds, the other finds nothing to take.
async fn one_of_two_concurrent_unpublishes_succeeds(place: &Place) {
    let a: std::sync::Arc<dyn Store> = place.open(KEYS).await.unwrap().into();
    let b: std::sync::Arc<dyn Store> = place.open(KEYS).await.unwrap().into();
    let (_, api) = setup(&*a).await;
    let (ra, rb) = tokio::join!(
        a.unpublish(I, &api.id, RELEASE_ENV_ID),
        b.unpublish(I, &api.id, RELEASE_ENV_ID)
    );
    assert!(
        matches!(
            (&ra, &rb),
            (Ok(_), Err(StoreError::NotFound)) | (Err(StoreError::NotFound), Ok(_))
        ),
        "{ra:?} {rb:?}"
    );
    assert!(a.list_publications(I).await.unwrap().is_empty());
}

/// A write that fails leaves the version where it was (the data plane has nothing to reload).
async fn a_failed_write_does_not_move_the_version(s: &dyn Store) {
    let (_, api) = setup(s).await;
    let v = s.version().await.unwrap();
    let dup = Api {
        id: "other".into(),
        ..api.clone()
    };
    assert!(matches!(
        s.create_api(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.attach(I, RELEASE_ENV_ID, &[("nope".into(), api.id.clone())], 1)
            .await,
        Err(StoreError::Missing(Resource::Plugin, _))
    ));
    assert!(matches!(
        s.delete_app(I, "nope").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.version().await.unwrap(), v);
}

fn variable(id: &str, group: &str, env: &str, name: &str, value: &str) -> EnvVariable {
    EnvVariable {
        id: id.into(),
        instance_id: I.into(),
        group_id: group.into(),
        env_id: env.into(),
        name: name.into(),
        value: value.into(),
        create_time: 1,
    }
}

/// Variable names are unique per group and environment (case-sensitive), a variable needs its
/// group and environment, the quota is counted per group and environment, only the value
/// changes, and a variable goes with its environment.
async fn variables_belong_to_a_group_and_an_environment(s: &dyn Store) {
    let (group, _) = setup(s).await;
    let test_env = Env {
        id: "test".into(),
        instance_id: I.into(),
        name: "TEST".into(),
        remark: String::new(),
        create_time: 1,
    };
    s.create_env(&test_env).await.unwrap();
    let mut host = variable("v1", &group, RELEASE_ENV_ID, "host", "10.0.0.1:80");
    s.create_variable(&host, Some(2)).await.unwrap();
    s.create_variable(
        &variable("v2", &group, "test", "host", "10.0.0.2:80"),
        Some(2),
    )
    .await
    .unwrap();
    s.create_variable(&variable("v3", &group, "test", "HOST", "x"), Some(2))
        .await
        .unwrap();
    assert!(matches!(
        s.create_variable(
            &variable("v4", &group, RELEASE_ENV_ID, "host", "y"),
            Some(2)
        )
        .await,
        Err(StoreError::Conflict(Unique::VariableName))
    ));
    assert!(matches!(
        s.create_variable(&variable("v5", &group, "test", "third", "z"), Some(2))
            .await,
        Err(StoreError::Quota(2))
    ));
    assert!(matches!(
        s.create_variable(&variable("v6", "nope", "test", "abc", "z"), None)
            .await,
        Err(StoreError::Missing(Resource::Group, _))
    ));
    assert!(matches!(
        s.create_variable(&variable("v7", &group, "nope", "abc", "z"), None)
            .await,
        Err(StoreError::Missing(Resource::Env, _))
    ));
    host.value = "10.0.0.9:80".into();
    host.name = "renamed".into();
    s.update_variable(&host).await.unwrap();
    let stored = s.get_variable(I, "v1").await.unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.value.as_str()),
        ("host", "10.0.0.9:80")
    );
    assert_eq!(s.get_variable("other", "v1").await.unwrap(), None);
    s.delete_variable(I, "v1").await.unwrap();
    assert!(matches!(
        s.delete_variable(I, "v1").await,
        Err(StoreError::NotFound)
    ));
    s.delete_env(I, "test").await.unwrap();
    assert!(
        s.list_variables(I).await.unwrap().is_empty(),
        "gone with TEST"
    );
}

fn acl(id: &str, name: &str, entity_type: EntityType) -> Acl {
    Acl {
        id: id.into(),
        instance_id: I.into(),
        name: name.into(),
        acl_type: AclType::Deny,
        entity_type,
        value: "10.0.0.1".into(),
        update_time: 1,
    }
}

/// Policy names are unique per instance; a policy binds to publications, one of each kind
/// (IP, account) per API and environment, binding again keeps the binding; a bound policy
/// cannot be deleted, cannot change to a kind its APIs already hold; its bindings go when the
/// API goes offline in that environment or is deleted.
async fn acls_bind_to_publications_one_of_each_kind(s: &dyn Store) {
    let (_, a) = setup(s).await;
    let ip = acl("ip1", "ip_one", EntityType::Ip);
    let ip2 = acl("ip2", "ip_two", EntityType::Ip);
    let account = acl("ac1", "account_one", EntityType::DomainId);
    for x in [&ip, &ip2, &account] {
        s.create_acl(x).await.unwrap();
    }
    assert!(matches!(
        s.create_acl(&acl("ip3", "ip_one", EntityType::Domain))
            .await,
        Err(StoreError::Conflict(Unique::AclName))
    ));
    let publish_id = s.list_publications(I).await.unwrap()[0].publish_id.clone();
    let ids = vec![publish_id.clone()];
    let b = s.bind_acl(I, "ip1", &ids, 10).await.unwrap();
    assert_eq!(
        (b[0].api_id.as_str(), b[0].env_id.as_str(), b[0].kind),
        (a.id.as_str(), RELEASE_ENV_ID, AclKind::Ip)
    );
    assert_eq!(s.bind_acl(I, "ip1", &ids, 11).await.unwrap(), b, "kept");
    assert!(matches!(
        s.bind_acl(I, "ip2", &ids, 12).await,
        Err(StoreError::Conflict(Unique::AclKind))
    ));
    s.bind_acl(I, "ac1", &ids, 13).await.unwrap();
    assert!(matches!(
        s.bind_acl(I, "nope", &ids, 14).await,
        Err(StoreError::Missing(Resource::Acl, _))
    ));
    assert!(matches!(
        s.bind_acl(I, "ip2", &["nope".to_string()], 14).await,
        Err(StoreError::Missing(Resource::Publication, _))
    ));
    assert_eq!(s.list_acl_bindings(I).await.unwrap().len(), 2);
    // Becoming an IP policy would give the API two.
    let mut changed = account.clone();
    changed.entity_type = EntityType::Ip;
    changed.value = "10.0.0.0/8".into();
    assert!(matches!(
        s.update_acl(&changed).await,
        Err(StoreError::Conflict(Unique::AclKind))
    ));
    assert_eq!(
        s.get_acl(I, "ac1").await.unwrap().unwrap(),
        account,
        "unchanged"
    );
    changed.entity_type = EntityType::Domain;
    changed.acl_type = AclType::Permit;
    changed.name = "renamed".into();
    s.update_acl(&changed).await.unwrap();
    assert_eq!(s.get_acl(I, "ac1").await.unwrap().unwrap(), changed);
    assert!(matches!(
        s.update_acl(&Acl {
            name: "ip_one".into(),
            ..changed.clone()
        })
        .await,
        Err(StoreError::Conflict(Unique::AclName))
    ));
    assert!(matches!(
        s.update_acl(&acl("nope", "nothing", EntityType::Ip)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_acl(I, "ip1").await,
        Err(StoreError::InUse(Resource::AclBinding))
    ));
    s.unbind_acl(I, &b[0].id).await.unwrap();
    assert!(matches!(
        s.unbind_acl(I, &b[0].id).await,
        Err(StoreError::NotFound)
    ));
    s.delete_acl(I, "ip1").await.unwrap();
    assert!(matches!(
        s.delete_acl(I, "ip1").await,
        Err(StoreError::NotFound)
    ));
    // Offline in the environment: its bindings there go; republished, none come back.
    s.unpublish(I, &a.id, RELEASE_ENV_ID).await.unwrap();
    assert!(s.list_acl_bindings(I).await.unwrap().is_empty());
    s.publish(&publication(&a.id, RELEASE_ENV_ID))
        .await
        .unwrap();
    let publish_id = s.list_publications(I).await.unwrap()[0].publish_id.clone();
    s.bind_acl(I, "ip2", &[publish_id], 20).await.unwrap();
    // Deleting the API removes them too.
    s.delete_api(I, &a.id).await.unwrap();
    assert!(s.list_acl_bindings(I).await.unwrap().is_empty());
    s.delete_acl(I, "ip2").await.unwrap();
    assert_eq!(s.list_acls(I).await.unwrap().len(), 1);
    assert_eq!(s.get_acl("other", "ac1").await.unwrap(), None);
}

fn sign(id: &str, name: &str) -> SignKey {
    SignKey {
        id: id.into(),
        instance_id: I.into(),
        name: name.into(),
        sign_type: SignType::Hmac,
        sign_key: "signkeysignkey".into(),
        sign_secret: "signsecretsignsecret".into(),
        sign_algorithm: None,
        create_time: 1,
        update_time: 1,
    }
}

/// Key names are unique per instance; a key binds to publications, one per API and
/// environment, binding again keeps the binding; deleting a key takes its bindings; they go
/// too when the API goes offline in that environment or is deleted.
async fn signs_bind_one_per_api_and_environment(s: &dyn Store) {
    let (_, a) = setup(s).await;
    let one = sign("s1", "sign_one");
    let mut two = sign("s2", "sign_two");
    two.sign_type = SignType::Aes;
    two.sign_algorithm = Some(SignAlgorithm::Aes256Cfb);
    s.create_sign(&one).await.unwrap();
    s.create_sign(&two).await.unwrap();
    assert_eq!(s.get_sign(I, "s2").await.unwrap(), Some(two.clone()));
    assert!(matches!(
        s.create_sign(&sign("s3", "sign_one")).await,
        Err(StoreError::Conflict(Unique::SignName))
    ));
    let publish_id = s.list_publications(I).await.unwrap()[0].publish_id.clone();
    let ids = vec![publish_id.clone()];
    let b = s.bind_sign(I, "s1", &ids, 10).await.unwrap();
    assert_eq!(
        (
            b[0].api_id.as_str(),
            b[0].env_id.as_str(),
            b[0].sign_id.as_str()
        ),
        (a.id.as_str(), RELEASE_ENV_ID, "s1")
    );
    assert_eq!(s.bind_sign(I, "s1", &ids, 11).await.unwrap(), b, "kept");
    assert!(matches!(
        s.bind_sign(I, "s2", &ids, 12).await,
        Err(StoreError::Conflict(Unique::SignOne))
    ));
    assert!(matches!(
        s.bind_sign(I, "nope", &ids, 12).await,
        Err(StoreError::Missing(Resource::Sign, _))
    ));
    assert!(matches!(
        s.bind_sign(I, "s2", &["nope".to_string()], 12).await,
        Err(StoreError::Missing(Resource::Publication, _))
    ));
    let mut changed = two.clone();
    changed.name = "renamed".into();
    changed.sign_type = SignType::Basic;
    changed.sign_algorithm = None;
    s.update_sign(&changed).await.unwrap();
    assert_eq!(s.get_sign(I, "s2").await.unwrap(), Some(changed.clone()));
    assert!(matches!(
        s.update_sign(&SignKey {
            name: "sign_one".into(),
            ..changed.clone()
        })
        .await,
        Err(StoreError::Conflict(Unique::SignName))
    ));
    assert!(matches!(
        s.update_sign(&sign("nope", "nothing")).await,
        Err(StoreError::NotFound)
    ));
    s.unbind_sign(I, &b[0].id).await.unwrap();
    assert!(matches!(
        s.unbind_sign(I, &b[0].id).await,
        Err(StoreError::NotFound)
    ));
    // A bound key is deleted with its bindings.
    s.bind_sign(I, "s2", &ids, 13).await.unwrap();
    s.delete_sign(I, "s2").await.unwrap();
    assert!(s.list_sign_bindings(I).await.unwrap().is_empty());
    assert!(matches!(
        s.delete_sign(I, "s2").await,
        Err(StoreError::NotFound)
    ));
    // Offline in the environment: its bindings there go.
    s.bind_sign(I, "s1", &ids, 14).await.unwrap();
    s.unpublish(I, &a.id, RELEASE_ENV_ID).await.unwrap();
    assert!(s.list_sign_bindings(I).await.unwrap().is_empty());
    s.publish(&publication(&a.id, RELEASE_ENV_ID))
        .await
        .unwrap();
    let publish_id = s.list_publications(I).await.unwrap()[0].publish_id.clone();
    s.bind_sign(I, "s1", &[publish_id], 20).await.unwrap();
    // Deleting the API removes them too.
    s.delete_api(I, &a.id).await.unwrap();
    assert!(s.list_sign_bindings(I).await.unwrap().is_empty());
    assert_eq!(s.list_signs(I).await.unwrap(), vec![one]);
    assert_eq!(s.get_sign("other", "s1").await.unwrap(), None);
}

fn throttle(id: &str, name: &str) -> Throttle {
    Throttle {
        id: id.into(),
        instance_id: I.into(),
        name: name.into(),
        api_call_limits: 100,
        user_call_limits: Some(50),
        app_call_limits: None,
        ip_call_limits: Some(20),
        time_interval: 1,
        time_unit: TimeUnit::Second,
        kind: 1,
        enable_adaptive_control: "FALSE".into(),
        remark: String::new(),
        create_time: 1,
    }
}

fn special(id: &str, throttle_id: &str, object_id: &str) -> ThrottleSpecial {
    ThrottleSpecial {
        id: id.into(),
        instance_id: I.into(),
        throttle_id: throttle_id.into(),
        object_type: ObjectType::App,
        object_id: object_id.into(),
        call_limits: 7,
        create_time: 1,
    }
}

/// Throttle names are unique per instance; optional limits round-trip as absent; a policy
/// binds to publications, one per API and environment, binding again keeps the binding;
/// excluded configurations are one per object and policy; deleting a policy takes its bindings
/// and excluded configurations; bindings go when the API goes offline or is deleted.
async fn throttles_bind_one_per_api_and_environment(s: &dyn Store) {
    let (_, a) = setup(s).await;
    let t1 = throttle("t1", "throttle_one");
    let t2 = throttle("t2", "throttle_two");
    s.create_throttle(&t1).await.unwrap();
    s.create_throttle(&t2).await.unwrap();
    assert_eq!(s.get_throttle(I, "t1").await.unwrap().unwrap(), t1);
    assert!(matches!(
        s.create_throttle(&throttle("t3", "throttle_one")).await,
        Err(StoreError::Conflict(Unique::ThrottleName))
    ));
    let changed = Throttle {
        name: "renamed".into(),
        user_call_limits: None,
        app_call_limits: Some(9),
        time_unit: TimeUnit::Day,
        kind: 2,
        ..t1.clone()
    };
    s.update_throttle(&changed).await.unwrap();
    assert_eq!(s.get_throttle(I, "t1").await.unwrap().unwrap(), changed);
    assert!(matches!(
        s.update_throttle(&Throttle {
            name: "throttle_two".into(),
            ..changed.clone()
        })
        .await,
        Err(StoreError::Conflict(Unique::ThrottleName))
    ));
    assert!(matches!(
        s.update_throttle(&throttle("nope", "nothing")).await,
        Err(StoreError::NotFound)
    ));
    let publish_id = s.list_publications(I).await.unwrap()[0].publish_id.clone();
    let ids = vec![publish_id];
    let b = s.bind_throttle(I, "t1", &ids, 10).await.unwrap();
    assert_eq!(
        (b[0].api_id.as_str(), b[0].env_id.as_str()),
        (a.id.as_str(), RELEASE_ENV_ID)
    );
    assert_eq!(s.bind_throttle(I, "t1", &ids, 11).await.unwrap(), b, "kept");
    assert!(matches!(
        s.bind_throttle(I, "t2", &ids, 12).await,
        Err(StoreError::Conflict(Unique::ThrottleOne))
    ));
    assert!(matches!(
        s.bind_throttle(I, "nope", &ids, 12).await,
        Err(StoreError::Missing(Resource::Throttle, _))
    ));
    assert!(matches!(
        s.bind_throttle(I, "t2", &["nope".to_string()], 12).await,
        Err(StoreError::Missing(Resource::Publication, _))
    ));
    // Excluded configurations.
    s.create_throttle_special(&special("s1", "t1", "app1"))
        .await
        .unwrap();
    assert!(matches!(
        s.create_throttle_special(&special("s2", "t1", "app1"))
            .await,
        Err(StoreError::Conflict(Unique::ThrottleSpecial))
    ));
    assert!(matches!(
        s.create_throttle_special(&special("s2", "nope", "app1"))
            .await,
        Err(StoreError::Missing(Resource::Throttle, _))
    ));
    s.create_throttle_special(&special("s2", "t2", "app1"))
        .await
        .unwrap();
    s.update_throttle_special(I, "t1", "s1", 70).await.unwrap();
    assert!(matches!(
        s.update_throttle_special(I, "t2", "s1", 70).await,
        Err(StoreError::NotFound)
    ));
    let sp = s.list_throttle_specials(I).await.unwrap();
    assert_eq!(
        sp.iter()
            .map(|x| (x.id.as_str(), x.call_limits))
            .collect::<Vec<_>>(),
        [("s1", 70), ("s2", 7)]
    );
    s.delete_throttle_special(I, "t2", "s2").await.unwrap();
    assert!(matches!(
        s.delete_throttle_special(I, "t2", "s2").await,
        Err(StoreError::NotFound)
    ));
    // Unbinding; offline in the environment, the binding goes.
    s.unbind_throttle(I, &b[0].id).await.unwrap();
    assert!(matches!(
        s.unbind_throttle(I, &b[0].id).await,
        Err(StoreError::NotFound)
    ));
    s.bind_throttle(I, "t2", &ids, 13).await.unwrap();
    s.unpublish(I, &a.id, RELEASE_ENV_ID).await.unwrap();
    assert!(s.list_throttle_bindings(I).await.unwrap().is_empty());
    s.publish(&publication(&a.id, RELEASE_ENV_ID))
        .await
        .unwrap();
    let publish_id = s.list_publications(I).await.unwrap()[0].publish_id.clone();
    s.bind_throttle(I, "t1", &[publish_id], 14).await.unwrap();
    // Deleting the policy takes its bindings and excluded configurations.
    s.delete_throttle(I, "t1").await.unwrap();
    assert!(s.list_throttle_bindings(I).await.unwrap().is_empty());
    assert!(s.list_throttle_specials(I).await.unwrap().is_empty());
    assert!(matches!(
        s.delete_throttle(I, "t1").await,
        Err(StoreError::NotFound)
    ));
    // Deleting the API takes its bindings.
    let publish_id = s.list_publications(I).await.unwrap()[0].publish_id.clone();
    s.bind_throttle(I, "t2", &[publish_id], 15).await.unwrap();
    s.delete_api(I, &a.id).await.unwrap();
    assert!(s.list_throttle_bindings(I).await.unwrap().is_empty());
    assert_eq!(s.list_throttles(I).await.unwrap().len(), 1);
    assert_eq!(s.get_throttle("other", "t2").await.unwrap(), None);
}

fn response_set(id: &str, group: &str, name: &str, is_default: bool) -> GatewayResponse {
    GatewayResponse {
        id: id.into(),
        instance_id: I.into(),
        group_id: group.into(),
        name: name.into(),
        is_default,
        responses: "{}".into(),
        create_time: 1,
        update_time: 1,
    }
}

/// Response set names are unique per group, a set needs its group, the quota is counted per
/// group, name and responses change (the default flag does not), and sets go with their group.
async fn gateway_responses_belong_to_a_group(s: &dyn Store) {
    s.ensure_defaults(I, 1).await.unwrap();
    let other = Group {
        id: "g2".into(),
        instance_id: I.into(),
        name: "other".into(),
        remark: String::new(),
        is_default: false,
        roma_app_id: None,
        register_time: 1,
        update_time: 1,
    };
    s.create_group(&other).await.unwrap();
    let default = response_set("r0", "g2", "default", true);
    s.create_gateway_response(&default, Some(2)).await.unwrap();
    let mut custom = response_set("r1", "g2", "custom", false);
    s.create_gateway_response(&custom, Some(2)).await.unwrap();
    assert!(matches!(
        s.create_gateway_response(&response_set("r2", "g2", "third", false), Some(2))
            .await,
        Err(StoreError::Quota(2))
    ));
    assert!(matches!(
        s.create_gateway_response(&response_set("r3", "g2", "custom", false), None)
            .await,
        Err(StoreError::Conflict(Unique::ResponseName))
    ));
    assert!(matches!(
        s.create_gateway_response(&response_set("r4", "nope", "x", false), None)
            .await,
        Err(StoreError::Missing(Resource::Group, _))
    ));
    custom.name = "default".into();
    assert!(matches!(
        s.update_gateway_response(&custom).await,
        Err(StoreError::Conflict(Unique::ResponseName))
    ));
    custom.name = "renamed".into();
    custom.responses = r#"{"THROTTLED":{"status":503}}"#.into();
    custom.is_default = true;
    custom.update_time = 9;
    s.update_gateway_response(&custom).await.unwrap();
    let stored = s.get_gateway_response(I, "r1").await.unwrap().unwrap();
    custom.is_default = false;
    assert_eq!(stored, custom);
    assert_eq!(s.get_gateway_response("other", "r1").await.unwrap(), None);
    let listed = s.list_gateway_responses(I).await.unwrap();
    assert_eq!(listed, [default, custom]);
    s.delete_gateway_response(I, "r1").await.unwrap();
    assert!(matches!(
        s.delete_gateway_response(I, "r1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.update_gateway_response(&response_set("r1", "g2", "x", false))
            .await,
        Err(StoreError::NotFound)
    ));
    s.delete_group(I, "g2").await.unwrap();
    assert!(
        s.list_gateway_responses(I).await.unwrap().is_empty(),
        "gone with the group"
    );
}

fn certificate(id: &str, ca: Option<&str>) -> Certificate {
    Certificate {
        id: id.into(),
        project_id: "p1".into(),
        instance_id: "common".into(),
        name: format!("cert_{id}"),
        cert_type: CertType::Global,
        cert_content: "-----BEGIN CERTIFICATE-----".into(),
        private_key: format!("key of {id}"),
        trusted_root_ca: ca.map(str::to_string),
        create_time: 1,
        update_time: 1,
    }
}

fn domain(id: &str, group: &str, name: &str) -> Domain {
    Domain {
        id: id.into(),
        instance_id: I.into(),
        group_id: group.into(),
        url_domain: name.into(),
        min_ssl_version: TlsVersion::Tls11,
        is_http_redirect_to_https: false,
        verified_client_certificate_enabled: false,
        ssl_id: None,
        create_time: 1,
    }
}

/// Certificates belong to a project and are read back with their key; domains belong to a
/// group (five at most, names unique per instance, gone with the group) and hold one
/// certificate each, which cannot be deleted while held.
async fn certificates_bind_to_domains_of_groups(s: &dyn Store) {
    s.ensure_defaults(I, 1).await.unwrap();
    let g = Group {
        id: "g2".into(),
        instance_id: I.into(),
        name: "other".into(),
        remark: String::new(),
        is_default: false,
        roma_app_id: None,
        register_time: 1,
        update_time: 1,
    };
    s.create_group(&g).await.unwrap();
    let mut c1 = certificate("c1", Some("ca"));
    s.create_certificate(&c1, None).await.unwrap();
    let mut other = certificate("c9", None);
    other.project_id = "p2".into();
    s.create_certificate(&other, None).await.unwrap();
    assert_eq!(s.get_certificate("c1").await.unwrap(), Some(c1.clone()));
    assert_eq!(s.list_certificates("p1").await.unwrap(), vec![c1.clone()]);
    for i in 0..5 {
        s.create_domain(
            &domain(&format!("d{i}"), "g2", &format!("a{i}.example.com")),
            Some(5),
        )
        .await
        .unwrap();
    }
    assert!(matches!(
        s.create_domain(&domain("d5", "g2", "a5.example.com"), Some(5))
            .await,
        Err(StoreError::Quota(5))
    ));
    assert!(matches!(
        s.create_domain(&domain("d6", "nope", "a6.example.com"), Some(5)).await,
        Err(StoreError::Missing(Resource::Group, id)) if id == "nope"
    ));
    let default = s.list_groups(I).await.unwrap()[0].id.clone();
    assert!(matches!(
        s.create_domain(&domain("d7", &default, "a0.example.com"), Some(5))
            .await,
        Err(StoreError::Conflict(Unique::DomainName))
    ));
    s.create_domain(&domain("d8", &default, "b.example.com"), Some(5))
        .await
        .unwrap();
    let bound = s.bind_certificate(I, "d0", "c1", None).await.unwrap();
    assert_eq!(bound.ssl_id.as_deref(), Some("c1"));
    assert!(bound.verified_client_certificate_enabled, "on: c1 has a CA");
    assert_eq!(s.get_domain(I, "d0").await.unwrap(), Some(bound.clone()));
    assert_eq!(
        s.bind_certificate(I, "d0", "c1", None).await.unwrap(),
        bound
    );
    s.create_certificate(&certificate("c2", None), Some((I, "d1")))
        .await
        .unwrap();
    assert!(matches!(
        s.bind_certificate(I, "d0", "c2", None).await,
        Err(StoreError::Conflict(Unique::DomainCertificate))
    ));
    assert!(matches!(
        s.bind_certificate(I, "d0", "nope", None).await,
        Err(StoreError::Missing(Resource::Certificate, _))
    ));
    assert!(matches!(
        s.bind_certificate(I, "nope", "c1", None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.create_certificate(&certificate("c3", None), Some((I, "d0")))
            .await,
        Err(StoreError::Conflict(Unique::DomainCertificate))
    ));
    assert_eq!(
        s.get_certificate("c3").await.unwrap(),
        None,
        "all or nothing"
    );
    assert!(matches!(
        s.delete_certificate("c1").await,
        Err(StoreError::InUse(Resource::Domain))
    ));
    c1.trusted_root_ca = None;
    c1.update_time = 2;
    s.update_certificate(&c1).await.unwrap();
    let d0 = s.get_domain(I, "d0").await.unwrap().unwrap();
    assert!(
        !d0.verified_client_certificate_enabled,
        "no CA, no client check"
    );
    let mut d = d0.clone();
    d.min_ssl_version = TlsVersion::Tls12;
    d.is_http_redirect_to_https = true;
    s.update_domain(&d).await.unwrap();
    assert_eq!(s.get_domain(I, "d0").await.unwrap(), Some(d));
    assert!(matches!(
        s.unbind_certificate(I, "d0", "c2").await,
        Err(StoreError::Missing(Resource::CertificateBinding, _))
    ));
    s.unbind_certificate(I, "d0", "c1").await.unwrap();
    assert_eq!(s.get_domain(I, "d0").await.unwrap().unwrap().ssl_id, None);
    s.bind_certificate(I, "d8", "c1", Some(false))
        .await
        .unwrap();
    let all = s.list_domains(I).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[5].ssl_id.as_deref(), Some("c1"));
    assert!(s.list_domains("i2").await.unwrap().is_empty());
    s.delete_domain(I, "d8").await.unwrap();
    assert!(matches!(
        s.delete_domain(I, "d8").await,
        Err(StoreError::NotFound)
    ));
    s.delete_certificate("c1").await.unwrap();
    assert!(matches!(
        s.delete_certificate("c1").await,
        Err(StoreError::NotFound)
    ));
    s.delete_group(I, "g2").await.unwrap();
    assert!(
        s.list_domains(I).await.unwrap().is_empty(),
        "gone with the group"
    );
    s.delete_certificate("c2").await.unwrap();
}

fn channel(id: &str, name: &str, at: i64) -> VpcChannel {
    VpcChannel {
        id: id.into(),
        instance_id: I.into(),
        name: name.into(),
        port: 8080,
        balance_strategy: BalanceStrategy::LeastConnections,
        member_type: "ip".into(),
        channel_type: 2,
        dict_code: String::new(),
        create_time: at,
        member_groups: vec![MemberGroup {
            id: format!("{id}g"),
            name: "primary".into(),
            remark: "r".into(),
            weight: Some(3),
            dict_code: String::new(),
            create_time: at,
            update_time: at,
        }],
        members: vec![Member {
            id: format!("{id}m"),
            host: "10.0.0.1".into(),
            port: 0,
            weight: 5,
            is_backup: true,
            member_group_name: "primary".into(),
            member_group_id: format!("{id}g"),
            status: 1,
            ecs_id: "10.0.0.1".into(),
            ecs_name: "10.0.0.1".into(),
            create_time: at,
        }],
        health: Some(HealthConfig {
            id: format!("{id}h"),
            protocol: HealthProtocol::Http,
            path: "/health".into(),
            method: "HEAD".into(),
            port: 0,
            threshold_normal: 2,
            threshold_abnormal: 3,
            time_interval: 10,
            timeout: 2,
            http_code: "200-299".into(),
            enable_client_ssl: false,
            status: 1,
            create_time: at,
        }),
    }
}

async fn vpc_channels_are_stored_whole_and_kept_while_apis_use_them(s: &dyn Store) {
    s.ensure_defaults(I, 0).await.unwrap();
    let g = s.list_groups(I).await.unwrap().remove(0);
    let v0 = s.version().await.unwrap();
    let c1 = channel("c1", "alpha", 1);
    s.create_vpc_channel(&c1, Some(2)).await.unwrap();
    assert!(s.version().await.unwrap() > v0, "a write moves the version");
    assert_eq!(s.get_vpc_channel(I, "c1").await.unwrap(), Some(c1.clone()));
    assert_eq!(s.get_vpc_channel("i2", "c1").await.unwrap(), None);
    assert!(matches!(
        s.create_vpc_channel(&channel("c2", "alpha", 2), Some(2))
            .await,
        Err(StoreError::Conflict(Unique::VpcChannelName))
    ));
    s.create_vpc_channel(&channel("c2", "beta", 2), Some(2))
        .await
        .unwrap();
    assert!(matches!(
        s.create_vpc_channel(&channel("c3", "gamma", 3), Some(2))
            .await,
        Err(StoreError::Quota(2))
    ));
    let mut c2 = s.get_vpc_channel(I, "c2").await.unwrap().unwrap();
    c2.name = "alpha".into();
    assert!(matches!(
        s.update_vpc_channel(&c2).await,
        Err(StoreError::Conflict(Unique::VpcChannelName))
    ));
    c2.name = "beta2".into();
    c2.members.clear();
    c2.member_groups.clear();
    c2.health = None;
    c2.balance_strategy = BalanceStrategy::UriHash;
    s.update_vpc_channel(&c2).await.unwrap();
    let listed = s.list_vpc_channels(I).await.unwrap();
    assert_eq!(listed, vec![c2.clone(), c1.clone()], "whole, newest first");
    let mut ghost = channel("c9", "ghost", 9);
    ghost.instance_id = "i2".into();
    assert!(matches!(
        s.update_vpc_channel(&ghost).await,
        Err(StoreError::NotFound)
    ));

    let def = |channel_id: &str| {
        serde_json::json!({"backend_api": {"vpc_channel_status": 1,
            "vpc_channel_info": {"vpc_channel_id": channel_id}}})
        .to_string()
    };
    let mut a = api(&g.id, "through", "GET NORMAL /t");
    a.def = def("c9");
    assert!(matches!(
        s.create_api(&a).await,
        Err(StoreError::Missing(Resource::VpcChannel, id)) if id == "c9"
    ));
    a.def = def("c1");
    s.create_api(&a).await.unwrap();
    assert!(matches!(
        s.delete_vpc_channel(I, "c1").await,
        Err(StoreError::InUse(Resource::Api))
    ));
    a.def = def("c2");
    s.update_api(&a).await.unwrap();
    s.delete_vpc_channel(I, "c1").await.unwrap();
    assert!(matches!(
        s.delete_vpc_channel(I, "c1").await,
        Err(StoreError::NotFound)
    ));
    s.delete_api(I, &a.id).await.unwrap();
    s.delete_vpc_channel(I, "c2").await.unwrap();
    assert!(s.list_vpc_channels(I).await.unwrap().is_empty());
}

/// Runs each contract test against every engine, one `#[tokio::test]` per engine and test:
/// the `store` tests get a store, the `place` tests the place to open stores on.
/// Every committed write records what it changed under the version it took; a failed one
/// records nothing. A route's inputs are read by API.
async fn writes_record_what_they_changed(s: &dyn Store) {
    let (group, a) = setup(s).await;
    let start = s.version().await.unwrap();
    let p = plugin(I, "cors", PluginType::Cors, 1);
    s.create_plugin(&p, None).await.unwrap();
    let b = api(&group, "api2", "GET NORMAL /b");
    s.create_api(&b).await.unwrap();
    s.publish(&publication(&b.id, RELEASE_ENV_ID))
        .await
        .unwrap();
    let pairs = vec![(p.id.clone(), a.id.clone()), (p.id.clone(), b.id.clone())];
    s.attach(I, RELEASE_ENV_ID, &pairs, 5).await.unwrap();
    assert!(
        s.create_api(&b).await.is_err(),
        "a failed write records nothing"
    );
    let app = App {
        id: "app1".into(),
        instance_id: I.into(),
        name: "app".into(),
        remark: String::new(),
        app_key: "k".into(),
        app_secret: "s".into(),
        register_time: 1,
        update_time: 1,
    };
    s.create_app(&app).await.unwrap();
    let mut in_group: Vec<String> = (s.list_group_apis(I, &group).await.unwrap())
        .into_iter()
        .map(|x| x.id)
        .collect();
    in_group.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(in_group, expected);
    assert!(s.list_group_apis(I, "other").await.unwrap().is_empty());
    s.delete_api(I, &b.id).await.unwrap();
    let changes = s.changes_since(start).await.unwrap();
    let versions: Vec<i64> = changes.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, (start + 1..=start + 6).collect::<Vec<_>>());
    let kinds: Vec<Change> = changes.into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        kinds,
        vec![
            Change::Plugins(vec![p.id.clone()]),
            Change::Apis(vec![b.id.clone()]),
            Change::Apis(vec![b.id.clone()]),
            Change::Apis(vec![a.id.clone(), b.id.clone()]),
            Change::Apps,
            Change::Apis(vec![b.id.clone()]),
        ]
    );
    assert_eq!(s.version().await.unwrap(), start + 6);
    assert!(s.changes_since(start + 6).await.unwrap().is_empty());
    let inputs = s
        .route_inputs(I, std::slice::from_ref(&a.id))
        .await
        .unwrap();
    assert_eq!(inputs.apis.len(), 1);
    assert_eq!(inputs.apis[0].id, a.id);
    assert_eq!(inputs.publications.len(), 1);
    assert_eq!(inputs.bindings.len(), 1);
    assert_eq!(inputs.bindings[0].plugin_id, p.id);
    assert!(s
        .route_inputs("other", std::slice::from_ref(&a.id))
        .await
        .unwrap()
        .apis
        .is_empty());
    for c in [
        Change::All,
        Change::Apps,
        Change::Hosts,
        Change::Apis(vec!["x".into(), "y".into()]),
        Change::Channels(vec!["c".into()]),
    ] {
        assert_eq!(Change::decode(&c.encode()), c);
    }
}

macro_rules! contract {
    (store: [$($test:ident),* $(,)?], place: [$($place_test:ident),* $(,)?] $(,)?) => {
        contract!(@engine sqlite, [$($test),*], [$($place_test),*]);
        contract!(@engine postgres, [$($test),*], [$($place_test),*]);
    };
    (@engine $engine:ident, [$($test:ident),*], [$($place_test:ident),*]) => {
        mod $engine {
            $(
                #[tokio::test]
                async fn $test() {
                    let place = super::Place::$engine().await;
                    let s = place.open(super::KEYS).await.unwrap();
                    super::$test(&*s).await;
                    drop(s);
                    place.finish().await;
                }
            )*
            $(
                #[tokio::test]
                async fn $place_test() {
                    let place = super::Place::$engine().await;
                    super::$place_test(&place).await;
                    place.finish().await;
                }
            )*
        }
    };
}

contract! {
    store: [
        plugin_crud_round_trips,
        plugin_names_are_unique_per_instance,
        list_filters_and_pages,
        binding_replaces_by_type_and_blocks_plugin_deletion,
        only_published_apis_bind_and_batches_are_all_or_nothing,
        offline_keeps_bindings_and_api_deletion_removes_them,
        groups_envs_and_apis_keep_their_uniqueness_and_references,
        a_sixth_kafka_log_plugin_is_over_quota,
        apps_and_authorisations,
        resources_are_found_by_id_in_their_instance_only,
        an_abandoned_write_commits_whole_or_not_at_all,
        a_failed_write_does_not_move_the_version,
        variables_belong_to_a_group_and_an_environment,
        gateway_responses_belong_to_a_group,
        acls_bind_to_publications_one_of_each_kind,
        throttles_bind_one_per_api_and_environment,
        signs_bind_one_per_api_and_environment,
        certificates_bind_to_domains_of_groups,
        vpc_channels_are_stored_whole_and_kept_while_apis_use_them,
        writes_record_what_they_changed,
    ],
    place: [
        secrets_are_sealed_at_rest,
        a_rotated_key_reseals_every_secret,
        reopening_keeps_data_and_does_not_reapply_migrations,
        a_quota_holds_across_nodes_creating_at_once,
        one_of_two_concurrent_unpublishes_succeeds,
    ],
}
