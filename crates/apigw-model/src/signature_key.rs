//! Signature keys (SPEC §10, `otc-api/signature_key_management`): a key and secret bound to
//! published APIs, with which the gateway signs every call it makes to their backends so that
//! a backend can tell the gateway's calls from others. The stored rows and their checks; the
//! signing itself is the data plane's. No I/O.

use crate::field::Errors;

/// A signature key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignKey {
    pub id: String,
    pub instance_id: String,
    /// 3–64 characters: a letter first, then letters, digits and `_`; unique per instance
    /// (APIG.3207).
    pub name: String,
    pub sign_type: SignType,
    /// `sign_key`: for `aes`, the AES key itself (16 or 32 characters).
    pub sign_key: String,
    /// `sign_secret`: for `aes`, the initialisation vector (16 characters). Sealed at rest.
    pub sign_secret: String,
    /// `aes` only: `aes-128-cfb` or `aes-256-cfb`.
    pub sign_algorithm: Option<SignAlgorithm>,
    pub create_time: i64,
    pub update_time: i64,
}

/// A signature key bound to an API in an environment (`SignApiBinding`): one key per API and
/// environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignBinding {
    pub id: String,
    pub instance_id: String,
    pub sign_id: String,
    pub api_id: String,
    pub env_id: String,
    pub create_time: i64,
}

/// How the gateway signs a backend call with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Hmac,
    Basic,
    PublicKey,
    Aes,
}

/// The cipher of an `aes` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlgorithm {
    Aes128Cfb,
    Aes256Cfb,
}

macro_rules! names {
    ($t:ident { $($v:ident = $s:literal),+ }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }
        }
        impl std::str::FromStr for $t {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($s => Ok($t::$v),)+ _ => Err(()) }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
names!(SignType { Hmac = "hmac", Basic = "basic", PublicKey = "public_key", Aes = "aes" });
names!(SignAlgorithm { Aes128Cfb = "aes-128-cfb", Aes256Cfb = "aes-256-cfb" });

impl SignAlgorithm {
    /// The length of the key (`sign_key`) the cipher takes, in bytes.
    pub fn key_len(self) -> usize {
        match self {
            SignAlgorithm::Aes128Cfb => 16,
            SignAlgorithm::Aes256Cfb => 32,
        }
    }
}

/// The characters a key or secret may hold besides letters and digits, and those it may
/// start with, per type and field (the create page's Table 3).
struct Rule {
    min: usize,
    max: usize,
    /// Allowed besides ASCII letters and digits.
    extra: &'static str,
    /// Allowed as the first character besides what `first_digit` and letters allow.
    first_extra: &'static str,
    /// Whether a digit may come first.
    first_digit: bool,
}

impl Rule {
    fn check(&self, value: &str) -> bool {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || self.extra.contains(c);
        let mut chars = value.chars();
        (self.min..=self.max).contains(&value.len())
            && chars.next().is_some_and(|c| {
                c.is_ascii_alphabetic()
                    || (self.first_digit && c.is_ascii_digit())
                    || self.first_extra.contains(c)
            })
            && value.chars().all(ok_char)
    }

    fn describe(&self) -> String {
        let first = match (self.first_digit, self.first_extra) {
            (false, _) => "a letter".to_string(),
            (true, "") => "a letter or digit".to_string(),
            (true, e) => format!("a letter, digit or one of {e}"),
        };
        if self.min == self.max {
            format!(
                "{} characters: letters, digits and {}; {first} first",
                self.min, self.extra
            )
        } else {
            format!(
                "{} to {} characters: letters, digits and {}; {first} first",
                self.min, self.max, self.extra
            )
        }
    }
}

fn key_rule(t: SignType, algorithm: Option<SignAlgorithm>) -> Rule {
    match t {
        SignType::Hmac => Rule {
            min: 8,
            max: 32,
            extra: "_-",
            first_extra: "",
            first_digit: true,
        },
        SignType::Basic => Rule {
            min: 4,
            max: 32,
            extra: "_-",
            first_extra: "",
            first_digit: false,
        },
        SignType::PublicKey => Rule {
            min: 8,
            max: 512,
            extra: "_-+/=",
            first_extra: "+/",
            first_digit: true,
        },
        SignType::Aes => {
            let n = algorithm.map_or(16, SignAlgorithm::key_len);
            Rule {
                min: n,
                max: n,
                extra: "_-!@#$%+/=",
                first_extra: "+/",
                first_digit: true,
            }
        }
    }
}

fn secret_rule(t: SignType) -> Rule {
    match t {
        SignType::Hmac => Rule {
            min: 16,
            max: 64,
            extra: "_-!@#$%",
            first_extra: "",
            first_digit: true,
        },
        SignType::Basic => Rule {
            min: 8,
            max: 64,
            extra: "_-!@#$%",
            first_extra: "",
            first_digit: true,
        },
        SignType::PublicKey => Rule {
            min: 16,
            max: 2048,
            extra: "_-!@#$%+/=",
            first_extra: "+/",
            first_digit: true,
        },
        SignType::Aes => Rule {
            min: 16,
            max: 16,
            extra: "_-!@#$%+/=",
            first_extra: "+/",
            first_digit: true,
        },
    }
}

/// Checks a key's name.
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    crate::acl::check_name(errs, name, field);
}

/// Checks `sign_key` and `sign_secret` for the type (and, for `aes`, the algorithm, which it
/// requires; other types take none).
pub fn check(
    errs: &mut Errors,
    t: SignType,
    algorithm: Option<SignAlgorithm>,
    key: &str,
    secret: &str,
) {
    match (t, algorithm) {
        (SignType::Aes, None) => errs.add(
            "sign_algorithm",
            "an aes key needs sign_algorithm aes-128-cfb or aes-256-cfb",
        ),
        (SignType::Aes, Some(_)) | (_, None) => {}
        (_, Some(_)) => errs.add("sign_algorithm", "only an aes key takes an algorithm"),
    }
    let rule = key_rule(t, algorithm);
    let key_ok = rule.check(key);
    if !key_ok {
        errs.add("sign_key", format!("a {t} key is {}", rule.describe()));
    }
    let rule = secret_rule(t);
    if !rule.check(secret) {
        errs.add(
            "sign_secret",
            format!("a {t} secret is {}", rule.describe()),
        );
    } else if t == SignType::PublicKey {
        // Ours: the gateway signs with the private key, so it must be one, and the key its
        // public half where that can be derived.
        match crate::sign::Signer::private_key("", secret) {
            Err(e) => errs.add(
                "sign_secret",
                format!(
                    "a public_key secret is a base64 PKCS#8 ECDSA P-256 or RSA private key: {e}"
                ),
            ),
            Ok(k) => match k.public_key() {
                Some(public) if key_ok && public != key => errs.add(
                    "sign_key",
                    "is not the public key of sign_secret (base64 SubjectPublicKeyInfo DER)",
                ),
                _ => {}
            },
        }
    }
}

/// The key and secret of a key of type `t` from those given: each absent one generated —
/// random letters and digits, a letter first, of a length every rule of the type accepts; for
/// `public_key` an ECDSA P-256 pair (the public key derived from a given private one).
pub fn fill(
    t: SignType,
    algorithm: Option<SignAlgorithm>,
    key: Option<String>,
    secret: Option<String>,
) -> (String, String) {
    if t == SignType::PublicKey {
        let (secret, generated_public) = match secret {
            Some(s) => {
                let public = crate::sign::Signer::private_key("", &s)
                    .ok()
                    .and_then(|k| k.public_key());
                (s, public)
            }
            None => {
                let (public, private) = crate::sign::generate_p256();
                (private, Some(public))
            }
        };
        // A private key whose public one cannot be derived (RSA) needs the key given; the
        // check names it.
        return (key.or(generated_public).unwrap_or_default(), secret);
    }
    let key = key.unwrap_or_else(|| {
        random_text(match t {
            SignType::Aes => algorithm.map_or(16, SignAlgorithm::key_len),
            _ => 32,
        })
    });
    let secret = secret.unwrap_or_else(|| {
        random_text(match t {
            SignType::Aes => 16,
            _ => 32,
        })
    });
    (key, secret)
}

fn random_text(n: usize) -> String {
    const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    bytes
        .iter()
        .enumerate()
        // The first from the 52 letters, the rest from all 62 (the small bias of `% 62` on a
        // byte does not matter for a key the user may replace).
        .map(|(i, b)| ALNUM[*b as usize % if i == 0 { 52 } else { 62 }] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(t: SignType, alg: Option<SignAlgorithm>, key: &str, secret: &str) -> Vec<String> {
        let mut errs = Errors::default();
        check(&mut errs, t, alg, key, secret);
        errs.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn hmac_key_and_secret_follow_the_create_pages_rules() {
        assert!(errors(
            SignType::Hmac,
            None,
            "signkeysignkey",
            "signsecretsignsecret"
        )
        .is_empty());
        assert!(errors(SignType::Hmac, None, "1key-key_", "1secret-secret_!@#$%").is_empty());
        assert_eq!(
            errors(SignType::Hmac, None, "short", "signsecretsignsecret"),
            ["sign_key"]
        );
        assert_eq!(
            errors(SignType::Hmac, None, "_keykeykey", "signsecretsignsecret"),
            ["sign_key"]
        );
        assert_eq!(
            errors(
                SignType::Hmac,
                None,
                &"k".repeat(33),
                "signsecretsignsecret"
            ),
            ["sign_key"]
        );
        assert_eq!(
            errors(SignType::Hmac, None, "signkeysignkey", "tooshortsecret"),
            ["sign_secret"]
        );
        assert_eq!(
            errors(
                SignType::Hmac,
                None,
                "signkeysignkey",
                "secret+secretsecret"
            ),
            ["sign_secret"]
        );
    }

    #[test]
    fn basic_key_starts_with_a_letter() {
        assert!(errors(SignType::Basic, None, "user", "password1").is_empty());
        assert_eq!(
            errors(SignType::Basic, None, "1user", "password1"),
            ["sign_key"]
        );
        assert_eq!(
            errors(SignType::Basic, None, "usr", "password1"),
            ["sign_key"]
        );
        assert_eq!(
            errors(SignType::Basic, None, "user", "passwd"),
            ["sign_secret"]
        );
    }

    #[test]
    fn public_key_allows_base64_characters_and_a_slash_first() {
        let (public, secret) = crate::sign::generate_p256();
        assert!(errors(SignType::PublicKey, None, &public, &secret).is_empty());
        assert_eq!(
            errors(SignType::PublicKey, None, "=abcdefgh", &secret),
            ["sign_key"]
        );
        assert_eq!(
            errors(SignType::PublicKey, None, "+abc/def=", "short"),
            ["sign_secret"]
        );
        // The characters pass, but it is no private key.
        assert_eq!(
            errors(
                SignType::PublicKey,
                None,
                "+abc/def=",
                "/MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A+="
            ),
            ["sign_secret"]
        );
    }

    #[test]
    fn aes_key_length_follows_the_algorithm_and_the_algorithm_is_required() {
        let a128 = Some(SignAlgorithm::Aes128Cfb);
        let a256 = Some(SignAlgorithm::Aes256Cfb);
        let iv = "0123456789abcdef";
        assert!(errors(SignType::Aes, a128, "0123456789abcdef", iv).is_empty());
        assert!(errors(SignType::Aes, a256, &"k".repeat(32), iv).is_empty());
        assert_eq!(
            errors(SignType::Aes, a256, "0123456789abcdef", iv),
            ["sign_key"]
        );
        assert_eq!(
            errors(SignType::Aes, a128, "0123456789abcdef", "short"),
            ["sign_secret"]
        );
        assert_eq!(
            errors(SignType::Aes, None, "0123456789abcdef", iv),
            ["sign_algorithm"]
        );
        assert_eq!(
            errors(
                SignType::Hmac,
                a128,
                "signkeysignkey",
                "signsecretsignsecret"
            ),
            ["sign_algorithm"]
        );
    }

    #[test]
    fn generated_keys_and_secrets_pass_their_types_rules() {
        for (t, alg) in [
            (SignType::Hmac, None),
            (SignType::Basic, None),
            (SignType::PublicKey, None),
            (SignType::Aes, Some(SignAlgorithm::Aes128Cfb)),
            (SignType::Aes, Some(SignAlgorithm::Aes256Cfb)),
        ] {
            for _ in 0..20 {
                let (k, s) = fill(t, alg, None, None);
                assert!(errors(t, alg, &k, &s).is_empty(), "{t} {k} {s}");
            }
        }
        let one = fill(SignType::Hmac, None, None, None);
        assert_ne!(one, fill(SignType::Hmac, None, None, None));
        assert_eq!(
            fill(SignType::Hmac, None, Some("given-key".into()), None).0,
            "given-key"
        );
    }

    #[test]
    fn a_public_key_pair_is_checked_and_its_public_half_derived() {
        let (public, private) = crate::sign::generate_p256();
        let derived = fill(SignType::PublicKey, None, None, Some(private.clone()));
        assert_eq!(derived, (public.clone(), private.clone()));
        let (other, _) = crate::sign::generate_p256();
        assert_eq!(
            errors(SignType::PublicKey, None, &other, &private),
            ["sign_key"]
        );
        assert_eq!(
            errors(
                SignType::PublicKey,
                None,
                &public,
                "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49"
            ),
            ["sign_secret"]
        );
    }
}
