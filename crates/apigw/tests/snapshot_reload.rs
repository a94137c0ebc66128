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

fn new_group(name: &str) -> apigw_model::resources::Group {
    apigw_model::resources::Group {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        name: name.into(),
        remark: String::new(),
        is_default: false,
        roma_app_id: None,
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

/// cors content as stored.
fn cors_content(json: &str) -> String {
    apigw_plugins::registry::canonical_content(PluginType::Cors, json, None).unwrap()
}

fn cors_plugin(content: &str) -> Plugin {
    Plugin {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        name: "cors plugin".into(),
        plugin_type: PluginType::Cors,
        scope: PluginScope::Global,
        content: cors_content(content),
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

/// A reloader on `store` that has made its first snapshot (built whole), the snapshot it
/// swaps, and its metrics.
async fn reloaded(store: &Arc<dyn Store>) -> (Reloader, Arc<ArcSwap<Snapshot>>, Arc<Registry>) {
    let metrics = Arc::new(Registry::default());
    let current = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
    let reloader = Reloader::new(store.clone(), config(), current.clone(), metrics.clone());
    reloader.reload().await.unwrap();
    (reloader, current, metrics)
}

/// A snapshot built whole from `store` now, and the reloader's `current`: at the same version.
async fn full_and_patched(
    store: &Arc<dyn Store>,
    current: &ArcSwap<Snapshot>,
    what: &str,
) -> (Snapshot, Arc<Snapshot>) {
    let full = Snapshot::build(&**store, &config(), None, &Registry::default())
        .await
        .unwrap();
    let patched = current.load_full();
    assert_eq!(patched.version, full.version, "{what}");
    (full, patched)
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
    p.content = cors_content(r#"{"allow_origin":"https://a.example"}"#);
    store.update_plugin(&p).await.unwrap();
    let s3 = Snapshot::build(&*store, &config(), Some(&s2), &metrics)
        .await
        .unwrap();
    assert!(
        !Arc::ptr_eq(&s2.instances[&p.id].1, &s3.instances[&p.id].1),
        "new content, new instance"
    );
}

/// What a route is, as far as a caller can tell: its API, and the plug-ins and apps it runs.
fn served(snap: &Snapshot, path: &str) -> Option<(String, usize, Vec<String>)> {
    let m = snap.router(None, "RELEASE")?.lookup(&Method::GET, path)?;
    let mut apps: Vec<String> = m.route.apps.iter().cloned().collect();
    apps.sort();
    Some((
        m.route.api_id.to_string(),
        m.route.chain.instances().len(),
        apps,
    ))
}

#[tokio::test]
async fn route_and_app_changes_are_patched_in_and_serve_as_a_full_build_does() {
    let (_d, store, group) = setup().await;
    let apis: Vec<Api> = (0..20)
        .map(|i| api(&group, &format!("api_{i}"), &format!("/a{i}")))
        .collect();
    for a in &apis {
        store.create_api(a).await.unwrap();
        store.publish(&publication(a)).await.unwrap();
    }
    let p = cors_plugin(r#"{"allow_origin":"*"}"#);
    store.create_plugin(&p, None).await.unwrap();
    let (reloader, current, metrics) = reloaded(&store).await;
    let mut paths: Vec<String> = (0..20).map(|i| format!("/a{i}")).collect();
    paths.extend(["/new".to_string(), "/moved".to_string()]);
    let check = |what: &str| {
        let store = store.clone();
        let (current, paths, what) = (current.clone(), paths.clone(), what.to_string());
        async move {
            let (full, patched) = full_and_patched(&store, &current, &what).await;
            for path in &paths {
                assert_eq!(
                    served(&patched, path),
                    served(&full, path),
                    "{what}: {path}"
                );
            }
            let keys = |s: &Snapshot| {
                let mut k: Vec<String> = s.apps.keys().cloned().collect();
                k.sort();
                k
            };
            assert_eq!(keys(&patched), keys(&full), "{what}: apps");
        }
    };
    let new = api(&group, "api_new", "/new");
    store.create_api(&new).await.unwrap();
    store.publish(&publication(&new)).await.unwrap();
    let pairs = [
        (p.id.clone(), apis[3].id.clone()),
        (p.id.clone(), new.id.clone()),
    ];
    store.attach(I, RELEASE_ENV_ID, &pairs, 2).await.unwrap();
    reloader.reload().await.unwrap();
    check("created, published, bound").await;
    assert!(served(&current.load(), "/new").is_some_and(|(_, plugins, _)| plugins == 1));
    store
        .unpublish(I, &apis[5].id, RELEASE_ENV_ID)
        .await
        .unwrap();
    store.delete_api(I, &apis[7].id).await.unwrap();
    let mut moved = api(&group, "api_9", "/moved");
    moved.id = apis[9].id.clone();
    store.update_api(&moved).await.unwrap();
    store.detach(I, RELEASE_ENV_ID, &pairs[..1]).await.unwrap();
    let app = apigw_model::resources::App {
        id: "app1".into(),
        instance_id: I.into(),
        name: "app".into(),
        remark: String::new(),
        app_key: "key1".into(),
        app_secret: "secret".into(),
        register_time: 1,
        update_time: 1,
    };
    store.create_app(&app).await.unwrap();
    let auth = apigw_model::resources::AppAuth {
        id: "auth1".into(),
        instance_id: I.into(),
        app_id: app.id.clone(),
        api_id: apis[1].id.clone(),
        env_id: RELEASE_ENV_ID.into(),
        auth_time: 1,
    };
    store.authorize(I, &[auth]).await.unwrap();
    reloader.reload().await.unwrap();
    check("offline, deleted, moved, unbound, app authorised").await;
    let now = current.load_full();
    assert!(served(&now, "/a5").is_none() && served(&now, "/a7").is_none());
    assert!(served(&now, "/a9").is_none() && served(&now, "/moved").is_some());
    assert_eq!(served(&now, "/a1").unwrap().2, vec!["app1".to_string()]);
    assert_eq!(
        metrics.patches.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "both runs of changes were patched in"
    );
    // A plug-in's new content: a new instance, in the routes that run it, patched in.
    let mut p = p;
    p.content = cors_content(r#"{"allow_origin":"https://a.example"}"#);
    store.update_plugin(&p).await.unwrap();
    let before = current.load_full();
    reloader.reload().await.unwrap();
    check("plug-in content changed").await;
    let after = current.load_full();
    assert!(!Arc::ptr_eq(
        &before.instances[&p.id].1,
        &after.instances[&p.id].1
    ));
    let route = after.router(None, "RELEASE").unwrap();
    let chain = &route.lookup(&Method::GET, "/new").unwrap().route.chain;
    assert!(Arc::ptr_eq(
        &chain.instances()[0],
        &after.instances[&p.id].1
    ));
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    assert_eq!(metrics.patches.load(relaxed), 3, "patched in");
    // A new group and an API in it: patched in, served on the group's sub-domain.
    let g = new_group("another");
    store.create_group(&g).await.unwrap();
    let there = api(&g.id, "api_there", "/there");
    store.create_api(&there).await.unwrap();
    store.publish(&publication(&there)).await.unwrap();
    reloader.reload().await.unwrap();
    check("group created").await;
    let host = format!("{}.apigw.localhost", g.id);
    let in_group = |s: &Snapshot| {
        let r = s.router(Some(&host), "RELEASE")?;
        r.lookup(&Method::GET, "/there")
            .map(|m| m.route.api_id.to_string())
    };
    assert_eq!(in_group(&current.load()), Some(there.id.clone()));
    assert!(
        served(&current.load(), "/there").is_none(),
        "not in DEFAULT"
    );
    assert_eq!(metrics.patches.load(relaxed), 4, "patched in");
    // An API whose backend names a variable its group does not define is not served; defining
    // the variable serves it, patched in. An access control policy's new content reaches the
    // routes bound to it the same way.
    let mut def: serde_json::Value = serde_json::from_str(&apis[0].def).unwrap();
    def["backend_type"] = "HTTP".into();
    def["backend_api"] = serde_json::json!({"url_domain": "#HOST#", "req_protocol": "HTTP",
        "req_method": "GET", "req_uri": "/x", "timeout": 5000});
    let mut variable_api = apis[0].clone();
    variable_api.def = def.to_string();
    store.update_api(&variable_api).await.unwrap();
    let mut acl = apigw_model::acl::Acl {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        name: "deny_one".into(),
        acl_type: apigw_model::acl::AclType::Deny,
        entity_type: apigw_model::acl::EntityType::Ip,
        value: "10.0.0.1".into(),
        update_time: 1,
    };
    store.create_acl(&acl).await.unwrap();
    let publication_of_2 = store.list_publications(I).await.unwrap();
    let publication_of_2 = publication_of_2
        .iter()
        .find(|p| p.api_id == apis[2].id)
        .unwrap();
    let publish_ids = [publication_of_2.publish_id.clone()];
    store.bind_acl(I, &acl.id, &publish_ids, 3).await.unwrap();
    reloader.reload().await.unwrap();
    check("variable missing, policy bound").await;
    assert!(
        served(&current.load(), "/a0").is_none(),
        "#HOST# is not defined"
    );
    let denies = |s: &Snapshot, ip: &str| {
        let r = s
            .router(None, "RELEASE")
            .unwrap()
            .lookup(&Method::GET, "/a2")
            .unwrap();
        let access = r.route.access.as_ref().expect("a policy bound");
        access.check_ip(ip.parse().unwrap()).is_err()
    };
    assert!(denies(&current.load(), "10.0.0.1") && !denies(&current.load(), "10.0.0.2"));
    let variable = apigw_model::variables::EnvVariable {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        group_id: group.clone(),
        env_id: RELEASE_ENV_ID.into(),
        name: "HOST".into(),
        value: "127.0.0.1:9".into(),
        create_time: 1,
    };
    store.create_variable(&variable, None).await.unwrap();
    acl.value = "10.0.0.2".into();
    store.update_acl(&acl).await.unwrap();
    reloader.reload().await.unwrap();
    check("variable defined, policy changed").await;
    assert!(
        served(&current.load(), "/a0").is_some(),
        "served once #HOST# is defined"
    );
    assert!(denies(&current.load(), "10.0.0.2") && !denies(&current.load(), "10.0.0.1"));
    assert_eq!(metrics.patches.load(relaxed), 6, "patched in");
    // An environment created, an API published in it, the environment renamed: patched in,
    // the route found by the new name only.
    let mut env = apigw_model::resources::Env {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        name: "TEST".into(),
        remark: String::new(),
        create_time: 1,
    };
    store.create_env(&env).await.unwrap();
    let in_test = Publication {
        env_id: env.id.clone(),
        ..publication(&apis[1])
    };
    store.publish(&in_test).await.unwrap();
    reloader.reload().await.unwrap();
    let in_env = |s: &Snapshot, name: &str| {
        let r = s.router(None, name)?;
        r.lookup(&Method::GET, "/a1")
            .map(|m| m.route.env_name.to_string())
    };
    assert_eq!(in_env(&current.load(), "TEST"), Some("TEST".to_string()));
    env.name = "STAGE".into();
    store.update_env(&env).await.unwrap();
    reloader.reload().await.unwrap();
    check("environment renamed").await;
    assert_eq!(in_env(&current.load(), "STAGE"), Some("STAGE".to_string()));
    assert!(
        current.load().router(None, "TEST").is_none(),
        "no router by the old name"
    );
    assert_eq!(metrics.patches.load(relaxed), 8, "patched in");
    // A change beyond what is patched (another instance's defaults written) rebuilds.
    store.ensure_defaults("another-instance", 1).await.unwrap();
    reloader.reload().await.unwrap();
    check("rebuilt").await;
    let rebuilt = current.load_full();
    assert_eq!(in_group(&rebuilt), Some(there.id.clone()));
    assert_eq!(in_env(&rebuilt, "STAGE"), Some("STAGE".to_string()));
    assert_eq!(metrics.patches.load(relaxed), 8);
    assert_eq!(metrics.reloads.load(relaxed), 10);
}

fn channel(host: &str) -> apigw_model::vpc_channel::VpcChannel {
    use apigw_model::vpc_channel::{BalanceStrategy, Member, VpcChannel};
    VpcChannel {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        name: "channel_one".into(),
        port: 8080,
        balance_strategy: BalanceStrategy::RoundRobin,
        member_type: "ip".into(),
        channel_type: 2,
        dict_code: String::new(),
        create_time: 1,
        member_groups: vec![],
        members: vec![Member {
            id: apigw_model::id::new_id(),
            host: host.into(),
            port: 0,
            weight: 1,
            is_backup: false,
            member_group_name: String::new(),
            member_group_id: String::new(),
            status: 1,
            ecs_id: String::new(),
            ecs_name: String::new(),
            create_time: 1,
        }],
        health: None,
    }
}

/// Where the calls to `path` on `host` go: the addresses of its channel's members.
fn channel_members(snap: &Snapshot, host: Option<&str>, path: &str) -> Option<Vec<String>> {
    let m = snap.router(host, "RELEASE")?.lookup(&Method::GET, path)?;
    match &m.route.backend {
        apigw_proxy::snapshot::Backend::Channel(c) => Some(
            (c.channel.members.iter())
                .map(|m| m.authority.to_string())
                .collect(),
        ),
        _ => None,
    }
}

#[tokio::test]
async fn channel_domain_and_group_deletion_changes_are_patched_in_as_a_full_build_does() {
    let (_d, store, group) = setup().await;
    let mut ch = channel("10.0.0.1");
    store.create_vpc_channel(&ch, None).await.unwrap();
    let mut a = api(&group, "api_ch", "/ch");
    let mut def: serde_json::Value = serde_json::from_str(&a.def).unwrap();
    def["backend_type"] = "HTTP".into();
    def["backend_api"] = serde_json::json!({"url_domain": "", "req_protocol": "HTTP",
        "req_method": "GET", "req_uri": "/x", "timeout": 5000, "vpc_channel_status": 1,
        "vpc_channel_info": {"vpc_channel_id": ch.id}});
    a.def = def.to_string();
    store.create_api(&a).await.unwrap();
    store.publish(&publication(&a)).await.unwrap();
    let (reloader, current, metrics) = reloaded(&store).await;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let host = "api.example.com";
    // What a caller sees of each host, patched and built whole.
    let seen = |s: &Snapshot, hosts: &[&str]| -> Vec<String> {
        (hosts.iter())
            .map(|h| {
                let members = channel_members(s, Some(h), "/ch");
                format!("{h}: {members:?} {}", s.redirects_to_https(h))
            })
            .collect()
    };
    let check = |what: &str, hosts: Vec<String>| {
        let (store, current, what) = (store.clone(), current.clone(), what.to_string());
        async move {
            let (full, patched) = full_and_patched(&store, &current, &what).await;
            let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
            assert_eq!(seen(&patched, &hosts), seen(&full, &hosts), "{what}");
            let ids = |s: &Snapshot| s.channels.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&patched), ids(&full), "{what}: channels");
        }
    };
    let sub = format!("{group}.apigw.localhost");
    let members = |h: &str| channel_members(&current.load(), Some(h), "/ch");
    assert_eq!(members(&sub), Some(vec!["10.0.0.1:8080".to_string()]));
    // A channel's members changed: the routes through it go to the new ones.
    ch.members[0].host = "10.0.0.2".into();
    store.update_vpc_channel(&ch).await.unwrap();
    reloader.reload().await.unwrap();
    check("channel changed", vec![sub.clone()]).await;
    assert_eq!(members(&sub), Some(vec!["10.0.0.2:8080".to_string()]));
    // A domain bound to the group, then made HTTPS-only, then unbound.
    let mut d = apigw_model::domain::Domain {
        id: apigw_model::id::new_id(),
        instance_id: I.into(),
        group_id: group.clone(),
        url_domain: host.into(),
        min_ssl_version: apigw_model::domain::TlsVersion::Tls12,
        is_http_redirect_to_https: false,
        verified_client_certificate_enabled: false,
        ssl_id: None,
        create_time: 1,
    };
    store.create_domain(&d, None).await.unwrap();
    reloader.reload().await.unwrap();
    check("domain bound", vec![host.into()]).await;
    assert_eq!(members(host), Some(vec!["10.0.0.2:8080".to_string()]));
    assert!(!current.load().redirects_to_https(host));
    d.is_http_redirect_to_https = true;
    store.update_domain(&d).await.unwrap();
    reloader.reload().await.unwrap();
    check("domain made HTTPS-only", vec![host.into()]).await;
    assert!(current.load().redirects_to_https(host));
    // Another group, bound to a domain of its own, then deleted: its names go with it.
    let g = new_group("short_lived");
    store.create_group(&g).await.unwrap();
    let other = apigw_model::domain::Domain {
        id: apigw_model::id::new_id(),
        group_id: g.id.clone(),
        url_domain: "other.example.com".into(),
        ..d.clone()
    };
    store.create_domain(&other, None).await.unwrap();
    reloader.reload().await.unwrap();
    let g_sub = format!("{}.apigw.localhost", g.id);
    let names = vec![host.to_string(), "other.example.com".into(), g_sub.clone()];
    check("group and its domain created", names.clone()).await;
    let in_group = |h: &str| current.load().group(Some(h)).map(|g| g.envs.len());
    assert_eq!(
        in_group(&g_sub),
        Some(0),
        "the new group answers, with no routes"
    );
    assert!(current.load().redirects_to_https("other.example.com"));
    store.delete_domain(I, &other.id).await.unwrap();
    store.delete_group(I, &g.id).await.unwrap();
    store.delete_domain(I, &d.id).await.unwrap();
    reloader.reload().await.unwrap();
    check("group deleted, domains unbound", names).await;
    assert!(!current.load().redirects_to_https(host));
    assert!(!current.load().redirects_to_https("other.example.com"));
    // Unknown names fall to the DEFAULT group, which serves the API.
    assert_eq!(members(&g_sub), Some(vec!["10.0.0.2:8080".to_string()]));
    assert_eq!(metrics.patches.load(relaxed), 5, "every change patched in");
    // The channel, once no API uses it, deleted: no snapshot holds it.
    store.delete_api(I, &a.id).await.unwrap();
    store.delete_vpc_channel(I, &ch.id).await.unwrap();
    reloader.reload().await.unwrap();
    check("channel deleted", vec![sub]).await;
    assert!(current.load().channels.is_empty());
    assert_eq!(metrics.patches.load(relaxed), 6, "patched in");
}

/// A small xorshift generator: the random walk below is the same on every run.
struct Walk(u64);

impl Walk {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Everything a caller can tell of every route of every group: for each group's host and
/// path, the API served and the number of plug-ins and apps of its route.
fn every_route(snap: &Snapshot, groups: &[String], paths: usize) -> Vec<String> {
    let mut out = Vec::new();
    for g in groups {
        let host = format!("{g}.apigw.localhost");
        for i in 0..paths {
            let path = format!("/r{i}");
            let m = snap
                .router(Some(&host), "RELEASE")
                .and_then(|r| r.lookup(&Method::GET, &path));
            out.push(match m {
                Some(m) => format!(
                    "{host}{path}: {} {} {}",
                    m.route.api_id,
                    m.route.chain.instances().len(),
                    m.route.apps.len()
                ),
                None => format!("{host}{path}: -"),
            });
        }
    }
    out
}

#[tokio::test]
async fn a_random_walk_of_writes_patched_in_serves_as_full_builds_do() {
    let (_d, store, default_group) = setup().await;
    let (reloader, current, metrics) = reloaded(&store).await;
    let mut walk = Walk(0x2026_1206);
    let mut groups = vec![default_group];
    let mut apis: Vec<Api> = Vec::new();
    let mut plugins: Vec<Plugin> = Vec::new();
    let paths = 12;
    for step in 0..300 {
        match walk.below(9) {
            0 if groups.len() < 3 => {
                let g = new_group(&format!("group_{step}"));
                store.create_group(&g).await.unwrap();
                groups.push(g.id);
            }
            1 | 2 => {
                let group = &groups[walk.below(groups.len())];
                let a = api(
                    group,
                    &format!("api_{step}"),
                    &format!("/r{}", walk.below(paths)),
                );
                if store.create_api(&a).await.is_ok() {
                    apis.push(a);
                }
            }
            3 if !apis.is_empty() => {
                let a = &apis[walk.below(apis.len())];
                let _ = store.publish(&publication(a)).await;
            }
            4 if !apis.is_empty() => {
                let i = walk.below(apis.len());
                let mut moved = api(
                    &apis[i].group_id,
                    &apis[i].name,
                    &format!("/r{}", walk.below(paths)),
                );
                moved.id = apis[i].id.clone();
                if store.update_api(&moved).await.is_ok() {
                    apis[i] = moved;
                }
            }
            5 if !apis.is_empty() => {
                let i = walk.below(apis.len());
                match walk.below(2) {
                    0 => {
                        let _ = store.unpublish(I, &apis[i].id, RELEASE_ENV_ID).await;
                    }
                    _ => {
                        store.delete_api(I, &apis[i].id).await.unwrap();
                        apis.remove(i);
                    }
                }
            }
            6 if plugins.len() < 2 => {
                let mut p = cors_plugin(r#"{"allow_origin":"*"}"#);
                p.name = format!("plugin_{step}");
                store.create_plugin(&p, None).await.unwrap();
                plugins.push(p);
            }
            7 if !plugins.is_empty() && !apis.is_empty() => {
                let p = &plugins[walk.below(plugins.len())];
                let pair = [(p.id.clone(), apis[walk.below(apis.len())].id.clone())];
                let _ = match walk.below(3) {
                    0 => store.detach(I, RELEASE_ENV_ID, &pair).await,
                    _ => store.attach(I, RELEASE_ENV_ID, &pair, step).await.map(drop),
                };
            }
            8 if !plugins.is_empty() => {
                let i = walk.below(plugins.len());
                let origin = format!("https://o{step}.example");
                plugins[i].content =
                    cors_content(&serde_json::json!({ "allow_origin": origin }).to_string());
                store.update_plugin(&plugins[i]).await.unwrap();
            }
            _ => {}
        }
        if walk.below(3) == 0 {
            reloader.reload().await.unwrap();
            let (full, patched) = full_and_patched(&store, &current, &format!("step {step}")).await;
            assert_eq!(
                every_route(&patched, &groups, paths),
                every_route(&full, &groups, paths),
                "step {step}"
            );
        }
    }
    let end = every_route(&current.load(), &groups, paths);
    let served = end.iter().filter(|r| !r.ends_with('-')).count();
    let with_plugin = end.iter().filter(|r| r.ends_with(" 1 0")).count();
    assert!(
        groups.len() == 3 && served > 5 && with_plugin > 0,
        "{end:#?}"
    );
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        metrics.patches.load(relaxed) + 1,
        metrics.reloads.load(relaxed),
        "every reload after the first was a patch"
    );
}

#[tokio::test]
async fn a_patch_that_fails_half_way_is_followed_by_a_full_rebuild() {
    let (dir, store, group) = setup().await;
    let (reloader, current, metrics) = reloaded(&store).await;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let a = api(&group, "api_a", "/a");
    store.create_api(&a).await.unwrap();
    store.publish(&publication(&a)).await.unwrap();
    // The store loses the APIs' table after the write: the changes can be read, the routes
    // they name cannot, and the patch fails half-way.
    let raw = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    raw.execute_batch("ALTER TABLE apis RENAME TO apis_away")
        .unwrap();
    assert!(reloader.reload().await.is_err(), "the patch fails");
    assert!(!serves(&current.load(), "/a"), "the old snapshot stays");
    raw.execute_batch("ALTER TABLE apis_away RENAME TO apis")
        .unwrap();
    // What the failed patch may have changed of the kept record is not trusted: the next
    // reload builds the snapshot whole, and patches resume after it.
    reloader.reload().await.unwrap();
    assert!(serves(&current.load(), "/a"));
    assert_eq!(metrics.patches.load(relaxed), 0, "rebuilt, not patched");
    let b = api(&group, "api_b", "/b");
    store.create_api(&b).await.unwrap();
    store.publish(&publication(&b)).await.unwrap();
    reloader.reload().await.unwrap();
    assert!(serves(&current.load(), "/a") && serves(&current.load(), "/b"));
    assert_eq!(metrics.patches.load(relaxed), 1, "patched again");
}
