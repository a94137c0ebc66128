//! `apigw apply -f FILE|DIR [--dry-run] [--prune]`: makes an instance match configuration files
//! kept in git (as Kong's decK or APISIX's ADC do), through the control plane, so every change
//! is checked exactly as the API checks it. Resources are matched by name; the file format is
//! in docs/import-export.md. Prints one line per change; a second run prints `no changes`.

use super::{Client, Target};
use anyhow::{bail, Context};
use clap::Args;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `apigw apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: Target,
    /// A configuration file (YAML or JSON) or a directory of them (`*.yaml`, `*.yml`, `*.json`).
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// Print the changes without making them.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the groups, APIs, plug-ins and environments the files do not name.
    #[arg(long)]
    pub prune: bool,
}

/// The desired state: what the files name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub environments: Vec<EnvSpec>,
    #[serde(default)]
    pub plugins: Vec<PluginSpec>,
    #[serde(default)]
    pub acls: Vec<AclSpec>,
    #[serde(default)]
    pub throttles: Vec<ThrottleSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
}

/// An access control policy (`acl_type` PERMIT | DENY, `entity_type` IP | DOMAIN | DOMAIN_ID).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub acl_type: String,
    pub entity_type: String,
    pub value: String,
}

/// A request throttling policy: its name and the fields of `POST /throttles`.
#[derive(Debug, Deserialize)]
pub struct ThrottleSpec {
    pub name: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    pub name: String,
    #[serde(default)]
    pub remark: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub plugin_type: String,
    #[serde(default = "global")]
    pub scope: String,
    /// The plug-in's content as an object (sent as the `plugin_content` string).
    pub content: Value,
    #[serde(default)]
    pub remark: String,
}

fn global() -> String {
    "global".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    #[serde(default)]
    pub remark: String,
    #[serde(default)]
    pub apis: Vec<ApiSpec>,
}

/// An API: the `ApiCreate` fields (without `group_id`), the environments it is published in
/// and the plug-ins bound to it there.
#[derive(Debug, Deserialize)]
pub struct ApiSpec {
    pub name: String,
    #[serde(default)]
    pub publish: Vec<String>,
    #[serde(default)]
    pub plugins: Vec<String>,
    /// Access control policies bound in each of those environments (one IP, one account).
    #[serde(default)]
    pub acls: Vec<String>,
    /// The request throttling policy bound in each of those environments.
    #[serde(default)]
    pub throttle: Option<String>,
    #[serde(flatten)]
    pub def: Map<String, Value>,
}

/// Reads and merges the files (a directory's in name order).
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Config> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    matches!(
                        f.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
                })
                .collect();
            in_dir.sort();
            files.extend(in_dir);
        } else {
            files.push(p.clone());
        }
    }
    let mut all = Config::default();
    for f in files {
        let c = read(&f).with_context(|| format!("in {}", f.display()))?;
        all.environments.extend(c.environments);
        all.plugins.extend(c.plugins);
        all.acls.extend(c.acls);
        all.throttles.extend(c.throttles);
        all.groups.extend(c.groups);
    }
    let mut seen = BTreeSet::new();
    for n in all
        .environments
        .iter()
        .map(|e| format!("environment {}", e.name))
        .chain(all.plugins.iter().map(|p| format!("plug-in {}", p.name)))
        .chain(
            all.acls
                .iter()
                .map(|a| format!("access control policy {}", a.name)),
        )
        .chain(
            all.throttles
                .iter()
                .map(|t| format!("throttling policy {}", t.name)),
        )
        .chain(all.groups.iter().map(|g| format!("group {}", g.name)))
        .chain(all.groups.iter().flat_map(|g| {
            g.apis
                .iter()
                .map(move |a| format!("API {}/{}", g.name, a.name))
        }))
    {
        if !seen.insert(n.clone()) {
            bail!("{n} is named twice in the files");
        }
    }
    Ok(all)
}

fn read(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)?;
    if path.extension().and_then(|e| e.to_str()) == Some("json") {
        Ok(serde_json::from_str(&text)?)
    } else {
        Ok(serde_yaml::from_str(&text)?)
    }
}

/// `current` already holds everything `desired` says (numbers and their strings alike, as the
/// API answers `"1"` for a `1` sent and the other way round).
fn covers(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| c.get(k).map_or(v.is_null(), |cv| covers(cv, v))),
        (Value::Array(c), Value::Array(d)) => {
            c.len() == d.len() && c.iter().zip(d).all(|(a, b)| covers(a, b))
        }
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            *s == n.to_string()
        }
        (a, b) => a == b,
    }
}

/// Carries out (or, dry, only prints) the changes.
struct Run<'c> {
    c: &'c Client,
    dry: bool,
    changes: usize,
}

impl Run<'_> {
    async fn change(
        &mut self,
        line: String,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        println!("{line}");
        self.changes += 1;
        if self.dry {
            return Ok(Value::Null);
        }
        self.c.call(method, path, body.as_ref()).await
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

/// A plug-in as the API answers it, with `id` and `name` like the other resources.
fn plugin(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        for (ours, theirs) in [("id", "plugin_id"), ("name", "plugin_name")] {
            if let Some(x) = m.get(theirs).cloned() {
                m.insert(ours.into(), x);
            }
        }
    }
    v
}

fn by_name(items: Vec<Value>) -> BTreeMap<String, Value> {
    items
        .into_iter()
        .map(|i| (i["name"].as_str().unwrap_or_default().to_string(), i))
        .collect()
}

/// Runs `apigw apply`.
pub async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let want = load(&args.files)?;
    let c = args.target.client()?;
    let mut run = Run {
        c: &c,
        dry: args.dry_run,
        changes: 0,
    };

    // Environments.
    let mut envs = by_name(c.list("/envs", "envs").await?);
    for e in &want.environments {
        match envs.get(&e.name) {
            None => {
                let made = run
                    .change(
                        format!("+ environment {}", e.name),
                        Method::POST,
                        "/envs",
                        Some(json!({"name": e.name, "remark": e.remark})),
                    )
                    .await?;
                envs.insert(e.name.clone(), made);
            }
            Some(cur)
                if e.name != "RELEASE" && cur["remark"].as_str().unwrap_or("") != e.remark =>
            {
                run.change(
                    format!("~ environment {}", e.name),
                    Method::PUT,
                    &format!("/envs/{}", id(cur)),
                    Some(json!({"name": e.name, "remark": e.remark})),
                )
                .await?;
            }
            Some(_) => {}
        }
    }

    // Plug-ins.
    let mut plugins = by_name(
        c.list("/plugins", "plugins")
            .await?
            .into_iter()
            .map(plugin)
            .collect(),
    );
    for p in &want.plugins {
        let body = json!({"plugin_name": p.name, "plugin_type": p.plugin_type, "plugin_scope": p.scope,
            "plugin_content": p.content.to_string(), "remark": p.remark});
        match plugins.get(&p.name) {
            None => {
                let made = run
                    .change(
                        format!("+ plug-in {}", p.name),
                        Method::POST,
                        "/plugins",
                        Some(body),
                    )
                    .await?;
                plugins.insert(p.name.clone(), plugin(made));
            }
            Some(cur) => {
                let content: Value = cur["plugin_content"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or(Value::Null);
                let same = cur["plugin_type"] == p.plugin_type.as_str()
                    && cur["plugin_scope"] == p.scope.as_str()
                    && cur["remark"].as_str().unwrap_or("") == p.remark
                    && covers(&content, &p.content);
                if !same {
                    run.change(
                        format!("~ plug-in {}", p.name),
                        Method::PUT,
                        &format!("/plugins/{}", id(cur)),
                        Some(body),
                    )
                    .await?;
                }
            }
        }
    }

    // Policies.
    let mut acls: BTreeMap<String, Value> = c
        .list("/acls", "acls")
        .await?
        .into_iter()
        .map(|a| (a["acl_name"].as_str().unwrap_or_default().to_string(), a))
        .collect();
    for a in &want.acls {
        let body = json!({"acl_name": a.name, "acl_type": a.acl_type, "entity_type": a.entity_type, "acl_value": a.value});
        match acls.get(&a.name) {
            None => {
                let made = run
                    .change(
                        format!("+ access control policy {}", a.name),
                        Method::POST,
                        "/acls",
                        Some(body),
                    )
                    .await?;
                acls.insert(a.name.clone(), made);
            }
            Some(cur) if !covers(cur, &body) => {
                run.change(
                    format!("~ access control policy {}", a.name),
                    Method::PUT,
                    &format!("/acls/{}", id(cur)),
                    Some(body),
                )
                .await?;
            }
            Some(_) => {}
        }
    }
    let mut throttles = by_name(c.list("/throttles", "throttles").await?);
    for t in &want.throttles {
        let mut body = t.fields.clone();
        body.insert("name".into(), t.name.clone().into());
        let body = Value::Object(body);
        match throttles.get(&t.name) {
            None => {
                let made = run
                    .change(
                        format!("+ throttling policy {}", t.name),
                        Method::POST,
                        "/throttles",
                        Some(body),
                    )
                    .await?;
                throttles.insert(t.name.clone(), made);
            }
            Some(cur) if !covers(cur, &body) => {
                run.change(
                    format!("~ throttling policy {}", t.name),
                    Method::PUT,
                    &format!("/throttles/{}", id(cur)),
                    Some(body),
                )
                .await?;
            }
            Some(_) => {}
        }
    }
    let policies = Policies {
        acls: &acls,
        throttles: &throttles,
    };

    // Groups and their APIs.
    let mut groups = by_name(c.list("/api-groups", "groups").await?);
    for g in &want.groups {
        let group_id = match groups.get(&g.name) {
            None => {
                let made = run
                    .change(
                        format!("+ group {}", g.name),
                        Method::POST,
                        "/api-groups",
                        Some(json!({"name": g.name, "remark": g.remark})),
                    )
                    .await?;
                groups.insert(g.name.clone(), made.clone());
                id(&made)
            }
            Some(cur) => {
                if cur["remark"].as_str().unwrap_or("") != g.remark {
                    run.change(
                        format!("~ group {}", g.name),
                        Method::PUT,
                        &format!("/api-groups/{}", id(cur)),
                        Some(json!({"name": g.name, "remark": g.remark})),
                    )
                    .await?;
                }
                id(cur)
            }
        };
        let current = if group_id.is_empty() {
            BTreeMap::new()
        } else {
            by_name(
                c.list(&format!("/apis?group_id={group_id}"), "apis")
                    .await?,
            )
        };
        for a in &g.apis {
            let mut body = a.def.clone();
            body.insert("name".into(), a.name.clone().into());
            body.insert("group_id".into(), group_id.clone().into());
            let body = Value::Object(body);
            let api_id = match current.get(&a.name) {
                None => id(&run
                    .change(
                        format!("+ API {}/{}", g.name, a.name),
                        Method::POST,
                        "/apis",
                        Some(body),
                    )
                    .await?),
                Some(cur) => {
                    if !covers(cur, &body) {
                        run.change(
                            format!("~ API {}/{}", g.name, a.name),
                            Method::PUT,
                            &format!("/apis/{}", id(cur)),
                            Some(body),
                        )
                        .await?;
                    }
                    id(cur)
                }
            };
            publish_and_bind(
                &mut run,
                &envs,
                &plugins,
                &policies,
                &format!("{}/{}", g.name, a.name),
                &api_id,
                a,
            )
            .await?;
        }
        if args.prune {
            for (name, cur) in &current {
                if !g.apis.iter().any(|a| &a.name == name) {
                    run.change(
                        format!("- API {}/{name}", g.name),
                        Method::DELETE,
                        &format!("/apis/{}", id(cur)),
                        None,
                    )
                    .await?;
                }
            }
        }
    }

    if args.prune {
        for (name, cur) in &groups {
            if cur["is_default"] == 1
                || cur["name"] == "DEFAULT"
                || want.groups.iter().any(|g| &g.name == name)
            {
                continue;
            }
            for api in c
                .list(&format!("/apis?group_id={}", id(cur)), "apis")
                .await?
            {
                run.change(
                    format!("- API {name}/{}", api["name"].as_str().unwrap_or("")),
                    Method::DELETE,
                    &format!("/apis/{}", id(&api)),
                    None,
                )
                .await?;
            }
            run.change(
                format!("- group {name}"),
                Method::DELETE,
                &format!("/api-groups/{}", id(cur)),
                None,
            )
            .await?;
        }
        for (name, cur) in &plugins {
            if !want.plugins.iter().any(|p| &p.name == name) {
                run.change(
                    format!("- plug-in {name}"),
                    Method::DELETE,
                    &format!("/plugins/{}", id(cur)),
                    None,
                )
                .await?;
            }
        }
        for (name, cur) in &acls {
            if !want.acls.iter().any(|a| &a.name == name) {
                run.change(
                    format!("- access control policy {name}"),
                    Method::DELETE,
                    &format!("/acls/{}", id(cur)),
                    None,
                )
                .await?;
            }
        }
        for (name, cur) in &throttles {
            if !want.throttles.iter().any(|t| &t.name == name) {
                run.change(
                    format!("- throttling policy {name}"),
                    Method::DELETE,
                    &format!("/throttles/{}", id(cur)),
                    None,
                )
                .await?;
            }
        }
        for (name, cur) in &envs {
            if name != "RELEASE" && !want.environments.iter().any(|e| &e.name == name) {
                run.change(
                    format!("- environment {name}"),
                    Method::DELETE,
                    &format!("/envs/{}", id(cur)),
                    None,
                )
                .await?;
            }
        }
    }
    if run.changes == 0 {
        println!("no changes");
    } else if run.dry {
        println!("{} change(s) (dry run: nothing changed)", run.changes);
    } else {
        println!("{} change(s) made", run.changes);
    }
    Ok(())
}

/// Publishes the API where the file says (and takes it offline elsewhere), and binds its
/// plug-ins in each of those environments (unbinding others).
async fn publish_and_bind(
    run: &mut Run<'_>,
    envs: &BTreeMap<String, Value>,
    plugins: &BTreeMap<String, Value>,
    policies: &Policies<'_>,
    label: &str,
    api_id: &str,
    a: &ApiSpec,
) -> anyhow::Result<()> {
    let c = run.c;
    for n in &a.acls {
        if !policies.acls.contains_key(n) {
            bail!("API {label} binds the access control policy {n}, which is neither a policy nor in the files");
        }
    }
    if let Some(n) = &a.throttle {
        if !policies.throttles.contains_key(n) {
            bail!("API {label} binds the throttling policy {n}, which is neither a policy nor in the files");
        }
    }
    for env in &a.publish {
        if !envs.contains_key(env) {
            bail!("API {label} is published in {env}, which is neither an environment nor in the files");
        }
    }
    for p in &a.plugins {
        if !plugins.contains_key(p) {
            bail!("API {label} binds the plug-in {p}, which is neither a plug-in nor in the files");
        }
    }
    let known = !api_id.is_empty();
    let attached = if known {
        c.list(&format!("/apis/{api_id}/attached-plugins"), "plugins")
            .await?
    } else {
        Vec::new()
    };
    for (env_name, env) in envs {
        let env_id = id(env);
        let listed = if known {
            c.list(&format!("/apis?env_id={env_id}&id={api_id}"), "apis")
                .await?
        } else {
            Vec::new()
        };
        let published = !listed.is_empty();
        let mut publish_id = listed
            .first()
            .and_then(|x| x["publish_id"].as_str())
            .unwrap_or_default()
            .to_string();
        let wanted = a.publish.contains(env_name);
        if wanted && !published {
            let rec = run
                .change(
                    format!("+ publish {label} in {env_name}"),
                    Method::POST,
                    "/apis/action",
                    Some(json!({"action": "online", "env_id": env_id, "api_id": api_id})),
                )
                .await?;
            publish_id = rec["publish_id"].as_str().unwrap_or_default().to_string();
        } else if !wanted && published {
            run.change(
                format!("- publish {label} in {env_name}"),
                Method::POST,
                "/apis/action",
                Some(json!({"action": "offline", "env_id": env_id, "api_id": api_id})),
            )
            .await?;
        }
        let bound: BTreeSet<String> = attached
            .iter()
            .filter(|b| b["env_id"] == env_id.as_str())
            .filter_map(|b| b["plugin_name"].as_str().map(str::to_string))
            .collect();
        let want: BTreeSet<String> = if wanted {
            a.plugins.iter().cloned().collect()
        } else {
            BTreeSet::new()
        };
        let add: Vec<String> = want.difference(&bound).map(|n| id(&plugins[n])).collect();
        let remove: Vec<String> = bound
            .difference(&want)
            .filter_map(|n| {
                attached
                    .iter()
                    .find(|b| b["plugin_name"] == n.as_str() && b["env_id"] == env_id.as_str())
            })
            .filter_map(|b| b["plugin_id"].as_str().map(str::to_string))
            .collect();
        if !add.is_empty() {
            let names: Vec<&String> = want.difference(&bound).collect();
            run.change(
                format!("+ bind {names:?} to {label} in {env_name}"),
                Method::POST,
                &format!("/apis/{api_id}/plugins/attach"),
                Some(json!({"env_id": env_id, "plugin_ids": add})),
            )
            .await?;
        }
        if !remove.is_empty() && wanted {
            let names: Vec<&String> = bound.difference(&want).collect();
            run.change(
                format!("- bind {names:?} to {label} in {env_name}"),
                Method::PUT,
                &format!("/apis/{api_id}/plugins/detach"),
                Some(json!({"env_id": env_id, "plugin_ids": remove})),
            )
            .await?;
        }
        if wanted {
            let throttle: Vec<String> = a.throttle.iter().cloned().collect();
            for (kind, names, table) in [
                (PolicyKind::Acl, &a.acls, policies.acls),
                (PolicyKind::Throttle, &throttle, policies.throttles),
            ] {
                let at = Place {
                    label,
                    env_name,
                    env_id: &env_id,
                    api_id,
                    publish_id: &publish_id,
                };
                sync_policy(run, kind, names, table, &at).await?;
            }
        }
    }
    Ok(())
}

/// The policies by name, for binding.
struct Policies<'a> {
    acls: &'a BTreeMap<String, Value>,
    throttles: &'a BTreeMap<String, Value>,
}

#[derive(Clone, Copy)]
enum PolicyKind {
    Acl,
    Throttle,
}

impl PolicyKind {
    /// The listing of an API's bound policies, its item key and name field, the binding
    /// path and its policy id field.
    fn calls(self) -> [&'static str; 5] {
        match self {
            PolicyKind::Acl => [
                "/acl-bindings/binded-acls",
                "acls",
                "acl_name",
                "/acl-bindings",
                "acl_id",
            ],
            PolicyKind::Throttle => [
                "/throttle-bindings/binded-throttles",
                "throttles",
                "name",
                "/throttle-bindings",
                "strategy_id",
            ],
        }
    }
}

/// An API published in an environment.
struct Place<'a> {
    label: &'a str,
    env_name: &'a str,
    env_id: &'a str,
    api_id: &'a str,
    publish_id: &'a str,
}

/// Binds the API where it is published to the policies `names` of one kind, and unbinds the
/// others of that kind.
async fn sync_policy(
    run: &mut Run<'_>,
    kind: PolicyKind,
    names: &[String],
    table: &BTreeMap<String, Value>,
    at: &Place<'_>,
) -> anyhow::Result<()> {
    let [listing, key, name_field, path, id_field] = kind.calls();
    let c = run.c;
    let (label, env_name) = (at.label, at.env_name);
    let bound = if at.api_id.is_empty() {
        Vec::new()
    } else {
        c.list(
            &format!("{listing}?api_id={}&env_id={}", at.api_id, at.env_id),
            key,
        )
        .await?
    };
    for b in &bound {
        let name = b[name_field].as_str().unwrap_or_default();
        if !names.iter().any(|n| n == name) {
            let bind_id = b["bind_id"].as_str().unwrap_or_default();
            run.change(
                format!("- bind {name} to {label} in {env_name}"),
                Method::DELETE,
                &format!("{path}/{bind_id}"),
                None,
            )
            .await?;
        }
    }
    for n in names {
        if !bound.iter().any(|b| b[name_field] == n.as_str()) {
            let mut body = json!({"publish_ids": [at.publish_id]});
            body[id_field] = id(&table[n]).into();
            run.change(
                format!("+ bind {n} to {label} in {env_name}"),
                Method::POST,
                path,
                Some(body),
            )
            .await?;
        }
    }
    Ok(())
}
