//! The admin identity: project id, instance id, AK/SK and token. Settings win; whatever is not
//! set comes from `credentials.json` in the data directory, and whatever is in neither is
//! generated on first start and written there (mode 0600), so restarts keep the same identity.

use anyhow::{bail, Context};
use apigw_model::id;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::config::ServeArgs;

/// The stored identity.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub project_id: String,
    pub instance_id: String,
    pub access_key: String,
    pub secret_key: String,
    pub token: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("project_id", &self.project_id)
            .field("instance_id", &self.instance_id)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Where the identity file lives.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials.json")
}

/// Resolves the identity from settings, the file and generation; returns it and whether the
/// file was (re)written.
pub fn resolve(args: &ServeArgs) -> anyhow::Result<(Identity, bool)> {
    if args.access_key.is_some() != args.secret_key.is_some() {
        bail!("APIGW_ACCESS_KEY and APIGW_SECRET_KEY must be set together");
    }
    let file = path(&args.data_dir);
    let stored: Option<Identity> = match std::fs::read_to_string(&file) {
        Ok(text) => Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", file.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let pick = |set: &Option<String>, old: Option<&String>, new: fn() -> String| {
        set.clone().or_else(|| old.cloned()).unwrap_or_else(new)
    };
    let s = stored.as_ref();
    let (access_key, secret_key) = match (&args.access_key, &args.secret_key) {
        (Some(a), Some(k)) => (a.clone(), k.clone()),
        _ => match s {
            Some(s) => (s.access_key.clone(), s.secret_key.clone()),
            None => (id::new_secret(10).to_uppercase(), id::new_secret(20)),
        },
    };
    let identity = Identity {
        project_id: pick(&args.project_id, s.map(|s| &s.project_id), id::new_id),
        instance_id: pick(&args.instance_id, s.map(|s| &s.instance_id), id::new_id),
        access_key,
        secret_key,
        token: pick(&args.auth_token, s.map(|s| &s.token), || id::new_secret(32)),
    };
    for (name, v) in [
        ("project id", &identity.project_id),
        ("instance id", &identity.instance_id),
    ] {
        if !id::is_id(v) {
            bail!("the {name} must be 1..64 letters, digits or '_'");
        }
    }
    let changed = stored.as_ref() != Some(&identity);
    if changed {
        write_private(&file, &serde_json::to_string_pretty(&identity)?)?;
    }
    Ok((identity, changed))
}

/// Writes `text` to `file` readable by the owner only, atomically (temp file + rename).
fn write_private(file: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = file.parent().context("credentials file has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = file.with_extension("json.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}
