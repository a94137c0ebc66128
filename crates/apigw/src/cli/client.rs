//! A control-plane client: the admin token, the instance's base path, JSON in and out, and
//! lists read page by page.

use anyhow::{bail, Context};
use serde_json::Value;

/// Calls one instance's control plane.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(admin_url: &str, project_id: &str, instance_id: &str, token: &str) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: format!(
                "{}/v2/{project_id}/apigw/instances/{instance_id}",
                admin_url.trim_end_matches('/')
            ),
            token: token.to_string(),
        }
    }

    /// A call's answer as text; a status other than 2xx is an error carrying the answer.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<String> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}: the control plane does not answer"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(text)
    }

    /// A call with a JSON answer (`null` for an empty one).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let text = self.raw(method, path, body).await?;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).context("the answer is not JSON")
    }

    /// Every item of a list call (`key` holds the items), all pages.
    pub async fn list(&self, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        loop {
            let page = self
                .call(
                    reqwest::Method::GET,
                    &format!("{path}{sep}limit=500&offset={}", out.len()),
                    None,
                )
                .await?;
            let items = page[key].as_array().cloned().unwrap_or_default();
            let total = page["total"].as_u64().unwrap_or(0) as usize;
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() >= total {
                return Ok(out);
            }
        }
    }

    /// `POST /openapi/import` with the form `fields` and the file.
    pub async fn import(
        &self,
        fields: &[(&str, String)],
        file_name: &str,
        file: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let boundary = format!("apigw-{}", apigw_model::id::new_id());
        let mut body = Vec::with_capacity(file.len() + 512);
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let resp = self
            .http
            .post(format!("{}/openapi/import", self.base))
            .header("X-Auth-Token", &self.token)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .context("POST /openapi/import: the control plane does not answer")?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("POST /openapi/import: {status}: {text}");
        }
        serde_json::from_str(&text).context("the answer is not JSON")
    }
}
