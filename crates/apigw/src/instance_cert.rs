//! The instance's own TLS certificate: what a handshake gets when it names no bound domain
//! (SPEC §8). Self-signed (ECDSA P-256) for `*.{domain suffix}`, the suffix itself and
//! `localhost`, generated on first start into the data directory (`instance.crt`, and
//! `instance.key` readable by the owner only) and loaded from there afterwards, so clients
//! that pin it keep working across restarts.

use anyhow::Context;
use apigw_model::certificate::certified_key;
use apigw_proxy::tls::PemPair;
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

const CERT_FILE: &str = "instance.crt";
const KEY_FILE: &str = "instance.key";

/// Loads the instance certificate from `dir`, generating it first when absent.
pub fn load_or_create(dir: &Path, domain_suffix: &str) -> anyhow::Result<Arc<CertifiedKey>> {
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if !cert_path.exists() || !key_path.exists() {
        let pair = generate(domain_suffix)?;
        write_private(&key_path, &pair.key)?;
        std::fs::write(&cert_path, &pair.cert)
            .with_context(|| format!("writing {}", cert_path.display()))?;
    }
    let pair = PemPair {
        cert: std::fs::read_to_string(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?,
        key: std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?,
    };
    certified_key(&pair.cert, &pair.key)
        .map_err(|e| anyhow::anyhow!("the instance certificate {}: {e}", cert_path.display()))
}

fn generate(domain_suffix: &str) -> anyhow::Result<PemPair> {
    let names = vec![
        format!("*.{domain_suffix}"),
        domain_suffix.to_string(),
        "localhost".to_string(),
    ];
    let mut params = rcgen::CertificateParams::new(names)
        .context("the instance certificate's names (APIGW_DOMAIN_SUFFIX)")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("*.{domain_suffix}"));
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the instance key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the instance certificate")?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Creates `path` readable by its owner only, then writes `text`.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_certificate_is_made_once_and_loaded_after() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), "apigw.localhost").unwrap();
        let first = std::fs::read_to_string(dir.path().join(CERT_FILE)).unwrap();
        load_or_create(dir.path(), "apigw.localhost").unwrap();
        let second = std::fs::read_to_string(dir.path().join(CERT_FILE)).unwrap();
        assert_eq!(
            first, second,
            "a second start generated another certificate"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "the instance key is readable by others"
            );
        }
    }
}
