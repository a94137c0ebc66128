//! Independent domain names of API groups (SPEC §8, `otc-api/domain_name_management`): a host
//! name bound to one group, with the TLS settings it is served with and at most one
//! certificate. No I/O.

use crate::field::Errors;

/// At most this many domain names per group (APIG's quota, APIG.3108).
pub const MAX_PER_GROUP: u64 = 5;

/// A domain name bound to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: String,
    pub instance_id: String,
    pub group_id: String,
    /// The host name, unique per instance (APIG.3305); stored as given.
    pub url_domain: String,
    /// The oldest TLS version served on this name.
    pub min_ssl_version: TlsVersion,
    /// A plain-HTTP call on this name is answered with 301 to `https://`.
    pub is_http_redirect_to_https: bool,
    /// Mutual TLS: a client must present a certificate issued by the bound certificate's
    /// `trusted_root_ca`. Only ever true while such a certificate is bound.
    pub verified_client_certificate_enabled: bool,
    /// The certificate bound, if any (one per domain).
    pub ssl_id: Option<String>,
    pub create_time: i64,
}

/// `min_ssl_version`. rustls serves TLS 1.2 and 1.3 only, so `TLSv1.1` is stored and answered
/// but a TLS 1.1 client is refused all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls11,
    Tls12,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
        }
    }
}

impl std::str::FromStr for TlsVersion {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "TLSv1.1" => Ok(TlsVersion::Tls11),
            "TLSv1.2" => Ok(TlsVersion::Tls12),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `name` is a domain name as APIG takes it (the SDK's patterns): at most 255
/// characters, 2 to 8 labels of letters, digits, `-` and `_` (not starting with `-` or `_`, 1
/// to 63 characters), the last 2 to 64 letters, an optional final dot; or `*.` followed by 2
/// to 7 such labels.
pub fn valid_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let (wildcard, rest) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    let labels: Vec<&str> = rest.split('.').collect();
    let (min, max) = if wildcard { (2, 7) } else { (2, 8) };
    if !(min..=max).contains(&labels.len()) {
        return false;
    }
    let (tld, others) = labels.split_last().unwrap_or((&"", &[]));
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        (1..=63).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
            && b[0] != b'-'
            && (wildcard || b[0] != b'_')
            && b[b.len() - 1] != b'-'
    };
    (2..=64).contains(&tld.len())
        && tld.bytes().all(|c| c.is_ascii_alphabetic())
        && others.iter().all(|l| label_ok(l))
}

/// Checks `url_domain` (APIG answers a bad one with APIG.2024, not 2012).
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    errs.check(
        valid_name(name),
        field,
        "is not a domain name: at most 255 characters, labels of letters, digits, '-' and '_', \
         a final label of 2 to 64 letters, or '*.' and such a name",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_follow_the_sdk_patterns() {
        for ok in [
            "www.company.com",
            "a.bc",
            "api.example.com.",
            "*.example.com",
            "x_y.example.org",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "-a.example.com",
            "a-.example.com",
            "a..com",
            "1.2.3.4",
            "a.b.c.d.e.f.g.h.com",
            "*.com",
            "a.*.com",
            "exa mple.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
