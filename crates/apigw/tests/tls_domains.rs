//! Bound domains and their certificates on traffic (SPEC §8): curl over HTTPS with SNI for two
//! domains and a wildcard, each getting its own certificate; a bound domain routing to its
//! group on both listeners; mutual TLS; the HTTPS redirect; changes live at the answer.

use apigw_testkit::{http_api, Backend, Pki, TestServer};
use serde_json::{json, Value};

struct World {
    s: TestServer,
    pki: Pki,
    backend: Backend,
    root: tempfile::NamedTempFile,
}

impl World {
    async fn new() -> Self {
        let pki = Pki::new();
        let mut root = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut root, pki.root_pem.as_bytes()).unwrap();
        World {
            s: TestServer::start().await,
            pki,
            backend: Backend::start().await,
            root,
        }
    }

    fn inst(&self) -> String {
        format!(
            "/v2/{}/apigw/instances/{}",
            self.s.admin.project, self.s.admin.instance
        )
    }

    /// A group whose API at `/who` reaches the backend at `/from-{name}`; returns its id.
    async fn group(&self, name: &str) -> String {
        let (group, _) = self.s.admin.create_group(name).await;
        let mut body = http_api(
            &format!("who_{name}"),
            &group,
            "GET",
            "/who",
            &self.backend.addr.to_string(),
            &format!("/from-{name}"),
        );
        body["req_protocol"] = "BOTH".into();
        self.s.admin.create_published_api(body).await;
        group
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let r = self.s.admin.call(method, path, &bytes).await;
        assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.text);
        r.json
    }

    /// Binds `domain` to `group` with a certificate of the intermediate CA for `names`;
    /// returns (the domain's path, the certificate's id).
    async fn bind(
        &self,
        group: &str,
        domain: &str,
        names: &[&str],
        root_ca: bool,
    ) -> (String, String) {
        let path = format!("{}/api-groups/{group}/domains", self.inst());
        let d = self
            .call("POST", &path, json!({"url_domain": domain}))
            .await;
        let domain_path = format!("{path}/{}", d["id"].as_str().unwrap());
        let (leaf, key) = self.pki.leaf(names, (-1, 30));
        let mut cert = json!({"name": format!("cert_{}", names[0].replace(['.', '*'], "_")),
            "cert_content": format!("{leaf}{}", self.pki.inter_pem), "private_key": key});
        if !root_ca {
            // D4: the certificate uploaded onto the domain.
            let d = self
                .call("POST", &format!("{domain_path}/certificate"), cert)
                .await;
            return (domain_path, d["ssl_id"].as_str().unwrap().to_string());
        }
        // C2 then C9: a certificate with a trusted root CA, attached to the domain.
        cert["trusted_root_ca"] = self.pki.root_pem.clone().into();
        let certs = format!("/v2/{}/apigw/certificates", self.s.admin.project);
        let c = self.call("POST", &certs, cert).await;
        let id = c["id"].as_str().unwrap().to_string();
        self.call(
            "POST",
            &format!("{domain_path}/certificates/attach"),
            json!({"certificate_ids": [id]}),
        )
        .await;
        (domain_path, id)
    }

    /// `curl` to `name` on the TLS listener, verifying against the test root: the path the
    /// backend saw, or curl's error.
    async fn curl_https(&self, name: &str, extra: &[&str]) -> Result<String, String> {
        let port = self.s.running.gateway_tls_addr.port();
        let mut args = vec![
            "-sS".to_string(),
            "--cacert".into(),
            self.root.path().display().to_string(),
            "--resolve".into(),
            format!("{name}:{port}:127.0.0.1"),
            "-o".into(),
            "-".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(format!("https://{name}:{port}/who"));
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(&args)
                .output()
                .expect("curl is installed")
        })
        .await
        .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).to_string());
        }
        let echo: Value = serde_json::from_slice(&out.stdout)
            .map_err(|_| String::from_utf8_lossy(&out.stdout).to_string())?;
        Ok(echo["path"].as_str().unwrap_or_default().to_string())
    }
}

#[tokio::test]
async fn sni_picks_each_domains_certificate_and_the_domain_routes_to_its_group() {
    let w = World::new().await;
    let a = w.group("alpha").await;
    let b = w.group("beta").await;
    w.bind(&a, "a.example.test", &["a.example.test"], false)
        .await;
    let (b_path, b_cert) = w
        .bind(&b, "b.example.test", &["b.example.test"], false)
        .await;
    w.bind(&a, "*.wild.example.test", &["*.wild.example.test"], false)
        .await;

    assert_eq!(
        w.curl_https("a.example.test", &[]).await.unwrap(),
        "/from-alpha"
    );
    assert_eq!(
        w.curl_https("b.example.test", &[]).await.unwrap(),
        "/from-beta"
    );
    // The wildcard domain and its wildcard certificate: one label, not two.
    assert_eq!(
        w.curl_https("x.wild.example.test", &[]).await.unwrap(),
        "/from-alpha"
    );
    assert!(w.curl_https("y.x.wild.example.test", &[]).await.is_err());
    // The plain listener routes a bound domain too.
    let plain = apigw_testkit::GatewayClient::new(w.s.running.gateway_addr);
    let r = plain
        .call("GET", "/who", &[("host", "b.example.test")], b"")
        .await;
    assert_eq!(r.json["path"], "/from-beta", "{}", r.text);

    // The certificate taken off the domain: at the answer, its name gets the instance's
    // certificate, which the test root does not vouch for.
    w.call(
        "DELETE",
        &format!("{b_path}/certificate/{b_cert}"),
        Value::Null,
    )
    .await;
    let err = w.curl_https("b.example.test", &[]).await.unwrap_err();
    assert!(err.contains("SSL") || err.contains("certificate"), "{err}");
    // Unbound: the name no longer routes to its group.
    w.call("DELETE", &b_path, Value::Null).await;
    let r = plain
        .call("GET", "/who", &[("host", "b.example.test")], b"")
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

#[tokio::test]
async fn a_domain_that_verifies_clients_wants_a_certificate_from_its_trusted_root() {
    let w = World::new().await;
    let g = w.group("mutual").await;
    let (domain_path, _) = w
        .bind(&g, "m.example.test", &["m.example.test"], true)
        .await;
    w.call(
        "PUT",
        &domain_path,
        json!({"min_ssl_version": "TLSv1.2", "verified_client_certificate_enabled": true}),
    )
    .await;
    assert!(
        w.curl_https("m.example.test", &[]).await.is_err(),
        "a client without a certificate was served"
    );
    let dir = tempfile::tempdir().unwrap();
    let (leaf, key) = w.pki.leaf(&["client.example.test"], (-1, 30));
    let cert_file = dir.path().join("client.pem");
    let key_file = dir.path().join("client.key");
    std::fs::write(&cert_file, format!("{leaf}{}", w.pki.inter_pem)).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let served = w
        .curl_https(
            "m.example.test",
            &[
                "--cert",
                cert_file.to_str().unwrap(),
                "--key",
                key_file.to_str().unwrap(),
            ],
        )
        .await;
    assert_eq!(served.unwrap(), "/from-mutual");
    // A certificate from elsewhere is refused.
    let other = Pki::new();
    let (leaf, key) = other.leaf(&["client.example.test"], (-1, 30));
    std::fs::write(&cert_file, format!("{leaf}{}", other.inter_pem)).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let refused = w
        .curl_https(
            "m.example.test",
            &[
                "--cert",
                cert_file.to_str().unwrap(),
                "--key",
                key_file.to_str().unwrap(),
            ],
        )
        .await;
    assert!(
        refused.is_err(),
        "a foreign client certificate was accepted"
    );
}

#[tokio::test]
async fn a_domain_that_wants_https_redirects_plain_calls() {
    let w = World::new().await;
    let g = w.group("secure").await;
    let (domain_path, _) = w
        .bind(&g, "s.example.test", &["s.example.test"], false)
        .await;
    let plain = apigw_testkit::GatewayClient::new(w.s.running.gateway_addr);
    let before = plain
        .call("GET", "/who?x=1", &[("host", "s.example.test")], b"")
        .await;
    assert_eq!(before.status, 200);
    w.call(
        "PUT",
        &domain_path,
        json!({"min_ssl_version": "TLSv1.1", "is_http_redirect_to_https": true}),
    )
    .await;
    let mut tcp = tokio::net::TcpStream::connect(w.s.running.gateway_addr)
        .await
        .unwrap();
    let (status, head, _) = apigw_testkit::exchange(
        &mut tcp,
        b"GET /who?x=1 HTTP/1.1\r\nhost: s.example.test:9080\r\n\r\n",
    )
    .await;
    assert_eq!(status, 301, "{head}");
    assert!(
        head.contains("location: https://s.example.test/who?x=1\r\n"),
        "{head}"
    );
    // Over TLS the call is served.
    assert_eq!(
        w.curl_https("s.example.test", &[]).await.unwrap(),
        "/from-secure"
    );
    assert_eq!(w.backend.calls(), 2);
}
