//! TLS on the data plane (SPEC §8): which certificate a handshake gets. The name the client
//! asks for (SNI) picks a site — a bound domain with its certificate, a wildcard
//! `*.example.com` matching one label — and an unknown or absent name gets the instance's own
//! certificate. A domain that verifies client certificates has a configuration of its own
//! whose verifier trusts its certificate's `trusted_root_ca`.
//!
//! rustls offers TLS 1.2 and 1.3 only: a domain's `min_ssl_version` `TLSv1.1` and `TLSv1.2`
//! both serve 1.2 and 1.3.

use crate::names::Names;
use apigw_model::certificate::certified_key;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::sync::Arc;

/// A certificate chain and its key, PEM, as the store keeps them.
#[derive(Debug, Clone)]
pub struct PemPair {
    pub cert: String,
    pub key: String,
}

/// A site: the names it answers, its certificate, and the CAs its clients' certificates must
/// chain to when it verifies them.
#[derive(Debug, Clone)]
pub struct Site {
    /// Host names; `*.example.com` for a wildcard.
    pub names: Vec<String>,
    pub pair: PemPair,
    /// PEM; `Some` when the site verifies client certificates.
    pub client_roots: Option<String>,
}

/// The configuration each handshake gets, by the name it asks for.
#[derive(Debug)]
pub struct Sites {
    names: Names<Arc<ServerConfig>>,
    default: Arc<ServerConfig>,
}

/// The protocols offered by ALPN, HTTP/2 first where it is served.
fn alpn(http2: bool) -> Vec<Vec<u8>> {
    let mut protocols = Vec::with_capacity(2);
    if http2 {
        protocols.push(b"h2".to_vec());
    }
    protocols.push(b"http/1.1".to_vec());
    protocols
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn config(
    key: Arc<CertifiedKey>,
    client_roots: Option<&str>,
    http2: bool,
) -> Result<ServerConfig, String> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("trusted_root_ca is not PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("trusted_root_ca: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .map_err(|e| format!("trusted_root_ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(Fixed(key)));
    cfg.alpn_protocols = alpn(http2);
    Ok(cfg)
}

impl Sites {
    /// The instance's certificate for every name, and each site's for its own. A site whose
    /// certificate does not load is left out (logged): its names get the instance's.
    /// `http2`: whether ALPN offers `h2`.
    pub fn build(instance: Arc<CertifiedKey>, sites: &[Site], http2: bool) -> Self {
        let default =
            Arc::new(config(instance, None, http2).expect("a configuration with no client CA"));
        let mut out = Sites {
            names: Names::default(),
            default,
        };
        for site in sites {
            let built = certified_key(&site.pair.cert, &site.pair.key)
                .and_then(|key| config(key, site.client_roots.as_deref(), http2));
            let cfg = match built {
                Ok(c) => Arc::new(c),
                Err(e) => {
                    tracing::error!(names = ?site.names, error = %e, "a stored certificate does not load; not served");
                    continue;
                }
            };
            for name in &site.names {
                out.names.insert(name, cfg.clone());
            }
        }
        out
    }

    /// The configuration for a handshake that asks for `name`.
    pub fn config_for(&self, name: Option<&str>) -> Arc<ServerConfig> {
        name.and_then(|n| self.names.get(n))
            .unwrap_or(&self.default)
            .clone()
    }
}
