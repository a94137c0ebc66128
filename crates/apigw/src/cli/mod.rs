//! The commands beside `serve` that work on a running instance through its control plane
//! (SPEC §11): `apigw export`, `apigw import FILE` and `apigw apply -f FILE|DIR`. They sign
//! in with the admin token and ids of `credentials.json` in the data directory (or the
//! `APIGW_*` settings), so on the gateway's own machine they need no flags.

pub mod apply;
mod client;

use crate::credentials;
use anyhow::{bail, Context};
use clap::Args;
pub use client::Client;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Where the instance is and how to sign in.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The control plane's URL.
    #[arg(long, env = "APIGW_ADMIN_URL", default_value = "http://127.0.0.1:9180")]
    pub admin_url: String,
    /// The data directory whose `credentials.json` names the project, instance and token.
    #[arg(long, env = "APIGW_DATA_DIR", default_value = "./apigw-data")]
    pub data_dir: PathBuf,
    /// The project (else from `credentials.json`).
    #[arg(long, env = "APIGW_PROJECT_ID")]
    pub project_id: Option<String>,
    /// The instance (else from `credentials.json`).
    #[arg(long, env = "APIGW_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// The admin token (else from `credentials.json`).
    #[arg(long, env = "APIGW_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
}

impl Target {
    /// A client of the instance.
    pub fn client(&self) -> anyhow::Result<Client> {
        let stored: Option<credentials::Identity> =
            match std::fs::read_to_string(credentials::path(&self.data_dir)) {
                Ok(text) => Some(serde_json::from_str(&text).context("reading credentials.json")?),
                Err(_) => None,
            };
        let pick = |set: &Option<String>, f: fn(&credentials::Identity) -> &String, what: &str| {
            set.clone()
                .or_else(|| stored.as_ref().map(|s| f(s).clone()))
                .with_context(|| format!("no {what}: give --{what} or --data-dir of the instance"))
        };
        Ok(Client::new(
            &self.admin_url,
            &pick(&self.project_id, |s| &s.project_id, "project-id")?,
            &pick(&self.instance_id, |s| &s.instance_id, "instance-id")?,
            &pick(&self.auth_token, |s| &s.token, "auth-token")?,
        ))
    }
}

/// `apigw export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub target: Target,
    /// The group (name or id).
    #[arg(long)]
    pub group: String,
    /// The environment the APIs are published in (name or id).
    #[arg(long, default_value = "RELEASE")]
    pub env: String,
    /// spec, proxy, all or dev.
    #[arg(long, default_value = "all")]
    pub define: String,
    /// json, yaml or yml.
    #[arg(long = "type", default_value = "yaml")]
    pub format: String,
    /// 2.0 or 3.0.
    #[arg(long, default_value = "2.0")]
    pub oas_version: String,
    /// `info.version` of the document (default: now).
    #[arg(long)]
    pub version: Option<String>,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `apigw import FILE`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub target: Target,
    /// The OpenAPI document (JSON or YAML).
    pub file: PathBuf,
    /// Import into this group (name or id) instead of creating one named by `info.title`.
    #[arg(long)]
    pub group: Option<String>,
    /// Publish the imported APIs in this environment (name or id) and bind what they name.
    #[arg(long)]
    pub env: Option<String>,
    /// Replace APIs of the same method, path and match mode.
    #[arg(long)]
    pub override_apis: bool,
    /// Replace policies of the same name.
    #[arg(long)]
    pub override_extensions: bool,
    /// Give operations without `x-apigateway-backend` a MOCK backend.
    #[arg(long)]
    pub mock: bool,
}

/// The id of the resource named `name_or_id` in `items`.
fn find_id(items: &[Value], name_or_id: &str, what: &str) -> anyhow::Result<String> {
    items
        .iter()
        .find(|i| i["id"] == name_or_id || i["name"] == name_or_id)
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .with_context(|| format!("no {what} named {name_or_id}"))
}

/// Runs `apigw export`.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let c = args.target.client()?;
    let group_id = find_id(
        &c.list("/api-groups", "groups").await?,
        &args.group,
        "group",
    )?;
    let env_id = find_id(&c.list("/envs", "envs").await?, &args.env, "environment")?;
    let mut body =
        json!({"group_id": group_id, "env_id": env_id, "define": args.define, "type": args.format});
    if let Some(v) = &args.version {
        body["version"] = v.clone().into();
    }
    let text = c
        .raw(
            reqwest::Method::POST,
            &format!("/openapi/export?oas_version={}", args.oas_version),
            Some(&body),
        )
        .await?;
    match &args.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

/// Runs `apigw import`; fails when an API failed.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let c = args.target.client()?;
    let file =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut fields: Vec<(&str, String)> = vec![
        (
            "extend_mode",
            if args.override_extensions {
                "override"
            } else {
                "merge"
            }
            .into(),
        ),
        (
            "api_mode",
            if args.override_apis {
                "override"
            } else {
                "merge"
            }
            .into(),
        ),
        ("mock_mode", args.mock.to_string()),
    ];
    if let Some(g) = &args.group {
        let id = find_id(&c.list("/api-groups", "groups").await?, g, "group")?;
        fields.push(("is_create_group", "false".into()));
        fields.push(("group_id", id));
    }
    if let Some(e) = &args.env {
        fields.push((
            "env_id",
            find_id(&c.list("/envs", "envs").await?, e, "environment")?,
        ));
    }
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "api.yaml".into());
    let answer = c.import(&fields, &name, file).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    let failed = answer["failure"].as_array().map_or(0, Vec::len);
    if failed > 0 {
        bail!("{failed} API(s) not imported");
    }
    Ok(())
}
