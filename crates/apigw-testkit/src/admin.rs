//! The control-plane client: authenticates exactly as the SDKs do (a token or an
//! SDK-HMAC-SHA256 signature), on either path family, and sets up what the data plane serves
//! (groups, APIs, publishing, plug-ins, bindings).

use crate::{Resp, AK, SK};
use apigw_model::sign::{self, RequestParts};
use serde_json::Value;

/// The API family of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Apigw,
    Apic,
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Token(String),
    /// SDK-HMAC-SHA256 with this AK/SK, signed `seconds_off` away from now.
    Sign {
        ak: String,
        sk: String,
        seconds_off: i64,
    },
}

/// A control-plane client for one server.
#[derive(Debug, Clone)]
pub struct Admin {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub project: String,
    pub instance: String,
    pub auth: Auth,
    pub family: Family,
    http: reqwest::Client,
}

fn sdk_date(seconds_off: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds_off);
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(f).unwrap()
}

impl Admin {
    pub fn new(base: String, project: &str, instance: &str) -> Self {
        Self {
            base,
            project: project.into(),
            instance: instance.into(),
            auth: Auth::Sign {
                ak: AK.into(),
                sk: SK.into(),
                seconds_off: 0,
            },
            family: Family::Apigw,
            http: reqwest::Client::new(),
        }
    }

    /// The same client with other authentication.
    pub fn with_auth(&self, auth: Auth) -> Self {
        Self {
            auth,
            ..self.clone()
        }
    }

    /// The same client on the other path family.
    pub fn with_family(&self, family: Family) -> Self {
        Self {
            family,
            ..self.clone()
        }
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The instance base path.
    pub fn base_path(&self) -> String {
        let fam = match self.family {
            Family::Apigw => "apigw",
            Family::Apic => "apic",
        };
        format!("/v2/{}/{fam}/instances/{}", self.project, self.instance)
    }

    pub async fn get(&self, suffix: &str) -> Resp {
        self.call("GET", &format!("{}{suffix}", self.base_path()), b"")
            .await
    }
    pub async fn delete(&self, suffix: &str) -> Resp {
        self.call("DELETE", &format!("{}{suffix}", self.base_path()), b"")
            .await
    }
    pub async fn post(&self, suffix: &str, body: &Value) -> Resp {
        self.call(
            "POST",
            &format!("{}{suffix}", self.base_path()),
            body.to_string().as_bytes(),
        )
        .await
    }
    pub async fn put(&self, suffix: &str, body: &Value) -> Resp {
        self.call(
            "PUT",
            &format!("{}{suffix}", self.base_path()),
            body.to_string().as_bytes(),
        )
        .await
    }

    /// Any request: `path_and_query` is absolute (`/v2/...?...`), `body` raw bytes.
    pub async fn call(&self, method: &str, path_and_query: &str, body: &[u8]) -> Resp {
        self.try_call(method, path_and_query, body)
            .await
            .expect("the server answers")
    }

    /// [`Admin::call`] that reports a failed connection instead of panicking.
    pub async fn try_call(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<Resp, reqwest::Error> {
        let url = format!("{}{path_and_query}", self.base);
        let host = self.base.trim_start_matches("http://").to_string();
        let mut req = self
            .http
            .request(method.parse().unwrap(), &url)
            .header("content-type", "application/json;charset=utf-8")
            .header("x-project-id", &self.project)
            .body(body.to_vec());
        match &self.auth {
            Auth::None => {}
            Auth::Token(t) => req = req.header("x-auth-token", t),
            Auth::Sign {
                ak,
                sk,
                seconds_off,
            } => {
                let date = sdk_date(*seconds_off);
                let (path, query) = match path_and_query.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (path_and_query, None),
                };
                let parts = RequestParts {
                    method,
                    path,
                    query,
                    body,
                };
                let headers = [
                    ("content-type", "application/json;charset=utf-8"),
                    ("host", host.as_str()),
                    ("x-project-id", self.project.as_str()),
                    ("x-sdk-date", date.as_str()),
                ];
                let authz = sign::sign_request(ak, sk, &parts, &headers);
                req = req
                    .header("x-sdk-date", date)
                    .header("authorization", authz);
            }
        }
        Resp::read(req.send().await?).await
    }
}

/// Conveniences to set up what the data plane serves.
impl Admin {
    fn expect(resp: Resp, status: u16) -> Value {
        assert_eq!(resp.status, status, "{}", resp.text);
        resp.json
    }

    /// Creates a group; returns `(id, sl_domain)`.
    pub async fn create_group(&self, name: &str) -> (String, String) {
        let v = Self::expect(
            self.post("/api-groups", &serde_json::json!({"name": name}))
                .await,
            201,
        );
        (
            v["id"].as_str().unwrap().into(),
            v["sl_domain"].as_str().unwrap().into(),
        )
    }

    /// The id of the built-in DEFAULT group.
    pub async fn default_group(&self) -> String {
        let v = Self::expect(
            self.get("/api-groups?name=DEFAULT&precise_search=name")
                .await,
            200,
        );
        v["groups"][0]["id"].as_str().unwrap().into()
    }

    /// Creates an API from an `ApiCreate` body; returns its id.
    pub async fn create_api(&self, body: Value) -> String {
        Self::expect(self.post("/apis", &body).await, 201)["id"]
            .as_str()
            .unwrap()
            .into()
    }

    /// Creates an API from an `ApiCreate` body and publishes it in RELEASE; returns its id.
    pub async fn create_published_api(&self, body: Value) -> String {
        let id = self.create_api(body).await;
        self.publish(&id, crate::RELEASE, true).await;
        id
    }

    /// Publishes (`online`) or takes offline an API in an environment.
    pub async fn publish(&self, api_id: &str, env_id: &str, online: bool) {
        let action = if online { "online" } else { "offline" };
        let body = serde_json::json!({"action": action, "env_id": env_id, "api_id": api_id});
        Self::expect(self.post("/apis/action", &body).await, 201);
    }

    /// Creates a plug-in; returns its id.
    pub async fn create_plugin(&self, name: &str, plugin_type: &str, content: Value) -> String {
        let body = serde_json::json!({"plugin_name": name, "plugin_type": plugin_type, "plugin_scope": "global",
                                      "plugin_content": content.to_string()});
        Self::expect(self.post("/plugins", &body).await, 201)["plugin_id"]
            .as_str()
            .unwrap()
            .into()
    }

    /// Binds a plug-in to APIs in an environment.
    pub async fn bind(&self, plugin_id: &str, env_id: &str, api_ids: &[&str]) {
        let body = serde_json::json!({"env_id": env_id, "api_ids": api_ids});
        Self::expect(
            self.post(&format!("/plugins/{plugin_id}/attach"), &body)
                .await,
            201,
        );
    }

    /// Unbinds a plug-in from APIs in an environment.
    pub async fn unbind(&self, plugin_id: &str, env_id: &str, api_ids: &[&str]) {
        let body = serde_json::json!({"env_id": env_id, "api_ids": api_ids});
        Self::expect(
            self.put(&format!("/plugins/{plugin_id}/detach"), &body)
                .await,
            204,
        );
    }
}

/// An `ApiCreate` body for an HTTP API in `group` on `method uri`, proxied to `backend` (`host:port`)
/// at `backend_uri`.
pub fn http_api(
    name: &str,
    group: &str,
    method: &str,
    uri: &str,
    backend: &str,
    backend_uri: &str,
) -> Value {
    serde_json::json!({"name": name, "type": 1, "req_protocol": "HTTP", "req_method": method, "req_uri": uri,
        "auth_type": "NONE", "backend_type": "HTTP", "group_id": group,
        "backend_api": {"url_domain": backend, "req_protocol": "HTTP", "req_method": "ANY", "req_uri": backend_uri, "timeout": 2000}})
}
