//! The store contract, written once and run against every engine (SQLite here; PostgreSQL joins
//! when its engine exists).

use apigw_model::page::Page;
use apigw_model::{Plugin, PluginScope, PluginType};
use apigw_store::{PluginFilter, SqliteStore, Store, StoreError};

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

async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    (dir, store)
}

async fn plugin_crud_round_trips(s: &dyn Store) {
    let v0 = s.version().await.unwrap();
    let mut p = plugin("i1", "alpha", PluginType::Cors, 1);
    s.create_plugin(&p).await.unwrap();
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
    s.create_plugin(&plugin("i1", "same", PluginType::Cors, 1))
        .await
        .unwrap();
    let dup = s
        .create_plugin(&plugin("i1", "same", PluginType::Breaker, 2))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict("plugin_name"))));
    s.create_plugin(&plugin("i2", "same", PluginType::Cors, 1))
        .await
        .unwrap();
    let mut other = plugin("i1", "other", PluginType::Cors, 3);
    s.create_plugin(&other).await.unwrap();
    other.name = "same".into();
    assert!(matches!(
        s.update_plugin(&other).await,
        Err(StoreError::Conflict("plugin_name"))
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
        s.create_plugin(&plugin("i1", name, t, i as i64))
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

#[tokio::test]
async fn sqlite_plugin_crud_round_trips() {
    let (_d, s) = sqlite().await;
    plugin_crud_round_trips(&s).await;
}

#[tokio::test]
async fn sqlite_plugin_names_are_unique_per_instance() {
    let (_d, s) = sqlite().await;
    plugin_names_are_unique_per_instance(&s).await;
}

#[tokio::test]
async fn sqlite_list_filters_and_pages() {
    let (_d, s) = sqlite().await;
    list_filters_and_pages(&s).await;
}

#[tokio::test]
async fn sqlite_reopening_keeps_data_and_does_not_reapply_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let p = plugin("i1", "kept", PluginType::Cors, 1);
    SqliteStore::open(&path)
        .await
        .unwrap()
        .create_plugin(&p)
        .await
        .unwrap();
    let again = SqliteStore::open(&path).await.unwrap();
    assert_eq!(again.get_plugin("i1", &p.id).await.unwrap(), Some(p));
}
