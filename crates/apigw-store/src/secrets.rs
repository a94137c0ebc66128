//! Secret columns sealed at rest: an app's secret and a plug-in's content (which holds Kafka
//! SASL passwords and, as types grow, other credentials) are stored encrypted with AES-256-GCM
//! under a key kept outside the database, so a copy of the database file (or a dump of the
//! PostgreSQL schema) reveals none of them.
//!
//! A stored value reads `enc:v1:{key id}:{hex of nonce ‖ ciphertext ‖ tag}`; the key id and the
//! column's name are the authenticated data, so a sealed value cannot be moved to another
//! column. The key file holds one key a line, `{id}:{64 hex digits}`; the first line seals, every
//! line opens. Rotation: put a new key on the first line, restart every node (a cluster shares
//! one file through `APIGW_SECRETS_KEY_FILE`); each node reseals what an older key sealed when
//! it starts ([`crate::Store::reseal_secrets`]); then drop the old line. A value stored before
//! sealing existed (plain text) is read as it is and sealed by the same pass.

use crate::StoreError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

const PREFIX: &str = "enc:v1:";

/// The keys that seal and open secret columns.
pub struct Secrets {
    /// `(id, key)`; the first seals.
    keys: Vec<(String, LessSafeKey)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Secrets").field("key_ids", &ids).finish()
    }
}

fn bad(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("secrets: {what}"))
}

fn random(len: usize) -> Result<Vec<u8>, StoreError> {
    let mut b = vec![0; len];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| bad("no randomness"))?;
    Ok(b)
}

impl Secrets {
    /// Parses a key file's text: `{id}:{64 hex digits}` a line; blank lines and `#` comments
    /// are skipped. At least one key.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, hex_key) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("line {}: expected id:key", n + 1)))?;
            let valid_id = !id.is_empty()
                && id.len() <= 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_id {
                return Err(bad(format!(
                    "line {}: a key id is 1-32 letters, digits, _ or -",
                    n + 1
                )));
            }
            let raw = hex::decode(hex_key.trim())
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| bad(format!("line {}: a key is 64 hex digits", n + 1)))?;
            let key = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| bad("bad key"))?;
            keys.push((id.to_string(), LessSafeKey::new(key)));
        }
        if keys.is_empty() {
            return Err(bad("the key file has no key"));
        }
        Ok(Self { keys })
    }

    /// A new key file's text: one random key.
    pub fn generate_text() -> Result<String, StoreError> {
        Ok(format!(
            "{}:{}\n",
            hex::encode(random(4)?),
            hex::encode(random(32)?)
        ))
    }

    /// The keys in `path`, creating the file (mode 0600, one random key) when it is missing.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = Self::generate_text()?;
                write_private(path, &text)?;
                Self::parse(&text)
            }
            Err(e) => Err(bad(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Seals `plain` for `column` under the first key.
    pub(crate) fn seal(&self, column: &str, plain: &str) -> Result<String, StoreError> {
        let (id, key) = &self.keys[0];
        let nonce = random(NONCE_LEN)?;
        let mut data = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::try_assume_unique_for_key(&nonce).map_err(|_| bad("nonce"))?,
            Aad::from(aad(id, column)),
            &mut data,
        )
        .map_err(|_| bad("sealing failed"))?;
        Ok(format!(
            "{PREFIX}{id}:{}{}",
            hex::encode(nonce),
            hex::encode(data)
        ))
    }

    /// Opens a stored value of `column` (plain text stored before sealing is returned as is).
    pub(crate) fn open(&self, column: &str, stored: &str) -> Result<String, StoreError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let (id, sealed) = rest
            .split_once(':')
            .ok_or_else(|| bad("malformed sealed value"))?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| {
            bad(format!(
                "a value is sealed with key {id}, which the key file does not hold"
            ))
        })?;
        let mut data = hex::decode(sealed).map_err(|_| bad("malformed sealed value"))?;
        if data.len() < NONCE_LEN {
            return Err(bad("malformed sealed value"));
        }
        let body = data.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&data).map_err(|_| bad("nonce"))?;
        let mut body = body;
        let plain = key
            .open_in_place(nonce, Aad::from(aad(id, column)), &mut body)
            .map_err(|_| bad(format!("a value of {column} does not open with key {id}")))?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad("sealed value is not text"))
    }

    /// Whether `stored` is sealed with the first key (else a reseal rewrites it).
    pub(crate) fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.keys[0].0)
    }
}

fn aad(id: &str, column: &str) -> Vec<u8> {
    format!("{id}\0{column}").into_bytes()
}

/// Writes `text` to `path` readable by the owner only, atomically (temp file + rename).
fn write_private(path: &Path, text: &str) -> Result<(), StoreError> {
    use std::io::Write;
    let io = |e: std::io::Error| bad(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_column() {
        let a = Secrets::parse(&Secrets::generate_text().unwrap()).unwrap();
        let sealed = a.seal("apps.app_secret", "s3cret").unwrap();
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            a.seal("apps.app_secret", "s3cret").unwrap(),
            "fresh nonce"
        );
        assert_eq!(a.open("apps.app_secret", &sealed).unwrap(), "s3cret");
        assert!(
            a.open("plugins.content", &sealed).is_err(),
            "bound to its column"
        );
        let b = Secrets::parse(&Secrets::generate_text().unwrap()).unwrap();
        assert!(b.open("apps.app_secret", &sealed).is_err(), "another key");
        assert_eq!(a.open("apps.app_secret", "plain").unwrap(), "plain");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert!(
            a.open("apps.app_secret", &tampered).is_err(),
            "authenticated"
        );
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let old = Secrets::generate_text().unwrap();
        let new = Secrets::generate_text().unwrap();
        let before = Secrets::parse(&old).unwrap();
        let sealed = before.seal("c", "v").unwrap();
        let both = Secrets::parse(&format!("# rotated\n{new}\n{old}")).unwrap();
        assert_eq!(both.open("c", &sealed).unwrap(), "v");
        assert!(!both.is_current(&sealed) && before.is_current(&sealed));
        assert!(both.is_current(&both.seal("c", "v").unwrap()));
    }

    #[test]
    fn a_malformed_key_file_is_refused_with_its_line() {
        for text in ["", "# only a comment", "k1", "k1:abcd", "bad id:00", ":00"] {
            assert!(Secrets::parse(text).is_err(), "{text:?}");
        }
        let e = Secrets::parse("k1:xyz").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
