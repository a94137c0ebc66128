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
    pub groups: Vec<GroupSpec>,
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
        all.groups.extend(c.groups);
    }
    let mut seen = BTreeSet::new();
    for n in all
        .environments
        .iter()
        .map(|e| format!("environment {}", e.name))
        .chain(all.plugins.iter().map(|p| format!("plug-in {}", p.name)))
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

    // Groups and their APIs.
    let mut groups = by_name(c.list("/api-groups", "groups").await?);
    let mut kept_apis = BTreeSet::new();
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
            kept_apis.insert(api_id.clone());
            publish_and_bind(
                &mut run,
                &c,
                &envs,
                &plugins,
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
    c: &Client,
    envs: &BTreeMap<String, Value>,
    plugins: &BTreeMap<String, Value>,
    label: &str,
    api_id: &str,
    a: &ApiSpec,
) -> anyhow::Result<()> {
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
        let published = known
            && !c
                .list(&format!("/apis?env_id={env_id}&id={api_id}"), "apis")
                .await?
                .is_empty();
        let wanted = a.publish.contains(env_name);
        if wanted && !published {
            run.change(
                format!("+ publish {label} in {env_name}"),
                Method::POST,
                "/apis/action",
                Some(json!({"action": "online", "env_id": env_id, "api_id": api_id})),
            )
            .await?;
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
    }
    Ok(())
}
