//! The snapshot and its reloader against a real SQLite store, without the control plane in
//! between: changes written to the store reach the data plane by themselves, and plug-in
//! instances whose content did not change are kept across reloads.

use apigw_model::resources::{Api, Binding, Publication, RELEASE_ENV_ID};
use apigw_model::{Plugin, PluginScope, PluginType};
use apigw_proxy::metrics::Registry;
use apigw_proxy::reload::Reloader;
use apigw_proxy::snapshot::{Config, Snapshot};
use apigw_store::{Secrets, SqliteStore, Store};
use arc_swap::ArcSwap;
use http::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};

const I: &str = "inst";

async fn setup() -> (tempfile::TempDir, Arc<dyn Store>, String) {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Secrets::parse(&Secrets::generate_text().unwrap()).unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("s.db"), secrets)
            .await
            .unwrap(),
    );
    store.ensure_defaults(I, 1).await.unwrap();
    let group = store.list_groups(I).await.unwrap()[0].id.clone();
    (dir, store, group)
}

fn api(group: &str, name: &str, uri: &str) -> Api {
    let def = apigw_model::api::ApiDef::from_json(serde_json::json!({
        "name": name, "type": 1, "req_protocol": "HTTP", "req_method": "GET", "req_uri": uri,
        "auth_type": "NONE", "backend_type": "MOCK", "group_id": group}))
    .unwrap();
    Api {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        group_id: group.into(),
        name: name.into(),
        route_key: def.route_key(),
        def: serde_json::to_string(&def).unwrap(),
        register_time: 1,
        update_time: 1,
    }
}

fn publication(api: &Api) -> Publication {
    Publication {
        publish_id: apigw_model::id::new_id(),
        instance_id: I.into(),
        api_id: api.id.clone(),
        env_id: RELEASE_ENV_ID.into(),
        remark: String::new(),
        publish_time: 1,
    }
}

fn cors_plugin(content: &str) -> Plugin {
    Plugin {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        name: "cors plugin".into(),
        plugin_type: PluginType::Cors,
        scope: PluginScope::Global,
        content: apigw_plugins::registry::canonical_content(PluginType::Cors, content, None)
            .unwrap(),
        remark: String::new(),
        roma_app_id: None,
        roma_app_name: None,
        create_time: 1,
        update_time: 1,
    }
}

fn config() -> Config {
    Config {
        instance_id: I.into(),
        domain_suffix: "apigw.localhost".into(),
        credentials: Arc::new(vec![]),
        upstream: apigw_proxy::upstream::Upstream::new(),
        plugins: apigw_plugins::chain::BuildCtx::default(),
        tls_instance: None,
        http2: true,
        channels: Default::default(),
    }
}

fn serves(snap: &Snapshot, path: &str) -> bool {
    snap.router(None, "RELEASE")
        .and_then(|r| r.lookup(&Method::GET, path))
        .is_some()
}

#[tokio::test]
async fn store_writes_reach_the_snapshot_within_100ms_by_themselves() {
    let (_d, store, group) = setup().await;
    let metrics = Arc::new(Registry::default());
    let first = Snapshot::build(&*store, &config(), None, &metrics)
        .await
        .unwrap();
    let current = Arc::new(ArcSwap::from_pointee(first));
    tokio::spawn(
        Arc::new(Reloader::new(
            store.clone(),
            config(),
            current.clone(),
            metrics,
        ))
        .run(),
    );
    let a = api(&group, "api_one", "/one");
    store.create_api(&a).await.unwrap();
    let t = Instant::now();
    store.publish(&publication(&a)).await.unwrap();
    while !serves(&current.load(), "/one") {
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "not served 100 ms after publishing"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let t = Instant::now();
    store.unpublish(I, &a.id, RELEASE_ENV_ID).await.unwrap();
    while serves(&current.load(), "/one") {
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "still served 100 ms after going offline"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn plugin_instances_survive_unrelated_reloads_and_not_content_changes() {
    let (_d, store, group) = setup().await;
    let metrics = Registry::default();
    let a = api(&group, "api_one", "/one");
    store.create_api(&a).await.unwrap();
    store.publish(&publication(&a)).await.unwrap();
    let mut p = cors_plugin(r#"{"allow_origin":"*"}"#);
    store.create_plugin(&p, None).await.unwrap();
    let bound: Vec<Binding> = store
        .attach(I, RELEASE_ENV_ID, &[(p.id.clone(), a.id.clone())], 1)
        .await
        .unwrap();
    assert_eq!(bound.len(), 1);
    let s1 = Snapshot::build(&*store, &config(), None, &metrics)
        .await
        .unwrap();
    // An unrelated change: another API.
    store
        .create_api(&api(&group, "api_two", "/two"))
        .await
        .unwrap();
    let s2 = Snapshot::build(&*store, &config(), Some(&s1), &metrics)
        .await
        .unwrap();
    assert!(
        Arc::ptr_eq(&s1.instances[&p.id].1, &s2.instances[&p.id].1),
        "same instance after an unrelated change"
    );
    let route = s2
        .router(None, "RELEASE")
        .unwrap()
        .lookup(&Method::GET, "/one")
        .unwrap()
        .route;
    assert!(
        route
            .chain
            .instances()
            .iter()
            .any(|i| Arc::ptr_eq(i, &s2.instances[&p.id].1)),
        "the route runs that instance"
    );
    // A content change: a new instance.
    p.content = apigw_plugins::registry::canonical_content(
        PluginType::Cors,
        r#"{"allow_origin":"https://a.example"}"#,
        None,
    )
    .unwrap();
    store.update_plugin(&p).await.unwrap();
    let s3 = Snapshot::build(&*store, &config(), Some(&s2), &metrics)
        .await
        .unwrap();
    assert!(
        !Arc::ptr_eq(&s2.instances[&p.id].1, &s3.instances[&p.id].1),
        "new content, new instance"
    );
}
