//! SSL certificates (SPEC §8, `otc-api/ssl_certificate_management`): a PEM certificate chain,
//! its private key and an optional trusted root CA for mutual TLS. The stored row, the checks
//! a certificate passes before it is stored, and the X.509 fields the calls answer. No I/O.
//!
//! Only the PEM texts are stored; the X.509 fields ([`CertInfo`]) are parsed again from
//! `cert_content` when a call answers them (a certificate is a few kilobytes and parsing it
//! takes microseconds), so that what is answered can never drift from what is served.

use crate::field::{Errors, FieldError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

/// The `instance_id` of a `global` certificate (APIG's value).
pub const GLOBAL_INSTANCE: &str = "common";

/// A certificate as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    pub id: String,
    /// The project that owns it (the calls have no instance in their path).
    pub project_id: String,
    /// The instance of an `instance` certificate, [`GLOBAL_INSTANCE`] for a `global` one.
    pub instance_id: String,
    /// 4–50 characters: a letter first, then letters, digits and `_`.
    pub name: String,
    pub cert_type: CertType,
    /// The PEM chain: the server certificate first, then each issuer in turn.
    pub cert_content: String,
    /// The PEM private key of the first certificate. Sealed at rest, never answered.
    pub private_key: String,
    /// PEM CA certificates a client certificate must chain to when the domain verifies
    /// clients (mutual TLS).
    pub trusted_root_ca: Option<String>,
    pub create_time: i64,
    pub update_time: i64,
}

impl std::fmt::Debug for Certificate {
    /// Everything but the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("instance_id", &self.instance_id)
            .field("name", &self.name)
            .field("cert_type", &self.cert_type)
            .field("has_trusted_root_ca", &self.trusted_root_ca.is_some())
            .finish_non_exhaustive()
    }
}

/// Whether a certificate is the project's (`global`) or one instance's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertType {
    Global,
    Instance,
}

impl CertType {
    pub fn as_str(self) -> &'static str {
        match self {
            CertType::Global => "global",
            CertType::Instance => "instance",
        }
    }
}

impl std::str::FromStr for CertType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "global" => Ok(CertType::Global),
            "instance" => Ok(CertType::Instance),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for CertType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The X.509 fields of a certificate's first (server) certificate, as APIG answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject's first common name (empty when it has none).
    pub common_name: String,
    /// The DNS names (and IP addresses, as text) of the subject alternative names.
    pub san: Vec<String>,
    /// Validity, in milliseconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The issuer's organisations, or its common names when it names no organisation.
    pub issuer: Vec<String>,
    /// The serial number in decimal.
    pub serial_number: String,
    /// APIG's spelling: `SHA256-RSA`, `SHA256-ECDSA`, …
    pub signature_algorithm: String,
    /// The key's algorithm as the SDK names it: `RSA`, `ECC` (or `SM2`, or empty).
    pub algorithm_type: String,
    /// The X.509 version, 1 to 3.
    pub version: i64,
    pub organization: Vec<String>,
    pub organizational_unit: Vec<String>,
    pub locality: Vec<String>,
    pub state: Vec<String>,
    pub country: Vec<String>,
}

impl CertInfo {
    /// Whether the certificate covers `host`: a SAN (or, without SANs, the common name) equal
    /// to it, ignoring case, or a `*.` wildcard standing for its first label.
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let names: Vec<&str> = if self.san.is_empty() {
            vec![self.common_name.as_str()]
        } else {
            self.san.iter().map(String::as_str).collect()
        };
        names.into_iter().any(|n| {
            let n = n.trim_end_matches('.').to_ascii_lowercase();
            n == host
                || n.strip_prefix("*.").is_some_and(|rest| {
                    host.split_once('.')
                        .is_some_and(|(label, tail)| !label.is_empty() && tail == rest)
                })
        })
    }
}

/// The DER certificates of a PEM text; `None` when it holds none or a block is not PEM.
fn pem_certificates(pem: &str) -> Option<Vec<CertificateDer<'static>>> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    certs.ok().filter(|c| !c.is_empty())
}

/// The X.509 fields of the first certificate of the PEM `cert_content` (`None` when it has
/// none: stored certificates always have one).
pub fn info(cert_content: &str) -> Option<CertInfo> {
    let der = pem_certificates(cert_content)?.into_iter().next()?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    Some(describe(&cert))
}

/// The key rustls signs with for a PEM chain and its PEM private key: what the TLS listener
/// serves. The error says what is wrong (not PEM, no certificate, no key, a key that is not the
/// first certificate's).
pub fn certified_key(
    cert_content: &str,
    private_key: &str,
) -> Result<std::sync::Arc<rustls::sign::CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(cert_content.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM".into());
    }
    let key = PrivateKeyDer::from_pem_slice(private_key.as_bytes())
        .map_err(|e| format!("the private key is not PEM: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key, &provider)
        .map(std::sync::Arc::new)
        .map_err(|e| format!("the private key does not match the certificate: {e}"))
}

/// Checks what a create or update gives, all problems at once, each naming its field
/// (`cert_content`, `private_key`, `trusted_root_ca`): PEM certificates; a chain in order
/// (each certificate issued by the next); none expired at `now_millis`; a private key that is
/// the first certificate's. Returns the first certificate's fields.
pub fn check(
    errs: &mut Errors,
    cert_content: &str,
    private_key: &str,
    trusted_root_ca: Option<&str>,
    now_millis: i64,
) -> Option<CertInfo> {
    let before = errs.0.len();
    let chain = parse_chain(errs, "cert_content", cert_content, now_millis, true);
    if let Some(ca) = trusted_root_ca {
        parse_chain(errs, "trusted_root_ca", ca, now_millis, false);
    }
    if PrivateKeyDer::from_pem_slice(private_key.as_bytes()).is_err() {
        errs.add(
            "private_key",
            "is not an unencrypted PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)",
        );
    } else if chain.is_some() {
        // The key the listener would serve, made as it makes it.
        if let Err(e) = certified_key(cert_content, private_key) {
            errs.add("private_key", e);
        }
    }
    chain.filter(|_| errs.0.len() == before)
}

/// Parses the PEM certificates of `field`, adding an error for text that is not PEM
/// certificates, an expired one and (with `chain`) one not issued by the next. The first
/// one's fields.
fn parse_chain(
    errs: &mut Errors,
    field: &str,
    pem: &str,
    now_millis: i64,
    chain: bool,
) -> Option<CertInfo> {
    let Some(ders) = pem_certificates(pem) else {
        errs.add(field, "is not PEM: it holds no certificate block");
        return None;
    };
    let mut parsed = Vec::with_capacity(ders.len());
    for (i, der) in ders.iter().enumerate() {
        match X509Certificate::from_der(der.as_ref()) {
            Ok((_, c)) => parsed.push(c),
            Err(e) => {
                errs.add(field, format!("certificate {} is not X.509: {e}", i + 1));
                return None;
            }
        }
    }
    let mut ok = true;
    for (i, c) in parsed.iter().enumerate() {
        let not_after = c.validity().not_after.timestamp().saturating_mul(1000);
        if not_after < now_millis {
            errs.add(
                field,
                format!(
                    "certificate {} expired at {}",
                    i + 1,
                    crate::time::format_millis(not_after)
                ),
            );
            ok = false;
        }
    }
    if chain {
        for (i, pair) in parsed.windows(2).enumerate() {
            if pair[0].issuer().as_raw() != pair[1].subject().as_raw() {
                errs.add(
                    field,
                    format!(
                        "the chain is out of order: certificate {} is not issued by certificate {} \
                         (the server certificate comes first, then each issuer in turn)",
                        i + 1,
                        i + 2
                    ),
                );
                ok = false;
            }
        }
    }
    let info = describe(parsed.first()?);
    ok.then_some(info)
}

fn strings<'a>(
    it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> Vec<String> {
    it.filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect()
}

fn describe(c: &X509Certificate<'_>) -> CertInfo {
    let subject: &X509Name<'_> = c.subject();
    let issuer = c.issuer();
    let mut issuer_names = strings(issuer.iter_organization());
    if issuer_names.is_empty() {
        issuer_names = strings(issuer.iter_common_name());
    }
    let san = match c.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                GeneralName::IPAddress(b) => ip_text(b),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    CertInfo {
        common_name: strings(subject.iter_common_name())
            .into_iter()
            .next()
            .unwrap_or_default(),
        san,
        not_before: c.validity().not_before.timestamp().saturating_mul(1000),
        not_after: c.validity().not_after.timestamp().saturating_mul(1000),
        issuer: issuer_names,
        serial_number: c.tbs_certificate.serial.to_string(),
        signature_algorithm: signature_algorithm(&c.signature_algorithm.algorithm.to_id_string()),
        algorithm_type: key_algorithm(&c.public_key().algorithm.algorithm.to_id_string()),
        version: i64::from(c.version().0) + 1,
        organization: strings(subject.iter_organization()),
        organizational_unit: strings(subject.iter_organizational_unit()),
        locality: strings(subject.iter_locality()),
        state: strings(subject.iter_state_or_province()),
        country: strings(subject.iter_country()),
    }
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| std::net::Ipv6Addr::from(a).to_string()),
        _ => None,
    }
}

/// APIG's name of a signature algorithm OID (the OID itself for one it has no name for).
fn signature_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "SHA1-RSA",
        "1.2.840.113549.1.1.11" => "SHA256-RSA",
        "1.2.840.113549.1.1.12" => "SHA384-RSA",
        "1.2.840.113549.1.1.13" => "SHA512-RSA",
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.2.840.10045.4.1" => "SHA1-ECDSA",
        "1.2.840.10045.4.3.2" => "SHA256-ECDSA",
        "1.2.840.10045.4.3.3" => "SHA384-ECDSA",
        "1.2.840.10045.4.3.4" => "SHA512-ECDSA",
        "1.3.101.112" => "ED25519",
        "1.2.156.10197.1.501" => "SM3-SM2",
        other => other,
    }
    .to_string()
}

/// The SDK's `algorithm_type` of a public key algorithm OID.
fn key_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "RSA",
        "1.2.840.10045.2.1" | "1.3.101.112" => "ECC",
        "1.2.156.10197.1.301" => "SM2",
        _ => "",
    }
    .to_string()
}

/// Checks a certificate's name: 4–50 characters, a letter first, then letters, digits and `_`.
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    let mut chars = name.chars();
    let ok = (4..=50).contains(&name.chars().count())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    errs.check(
        ok,
        field,
        "4 to 50 characters: a letter first, then letters, digits and '_'",
    );
}

/// The errors of [`check`] as a list (for callers that check nothing else).
pub fn problems(
    cert_content: &str,
    private_key: &str,
    trusted_root_ca: Option<&str>,
    now_millis: i64,
) -> Result<CertInfo, Vec<FieldError>> {
    let mut errs = Errors::default();
    match check(
        &mut errs,
        cert_content,
        private_key,
        trusted_root_ca,
        now_millis,
    ) {
        Some(info) if errs.0.is_empty() => Ok(info),
        _ => Err(errs.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_pem_names_each_field() {
        let errs = problems("hello", "world", Some("x"), 0).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["cert_content", "trusted_root_ca", "private_key"]);
    }

    #[test]
    fn names_are_4_to_50_word_characters_a_letter_first() {
        for (name, ok) in [
            ("cert", true),
            ("cert_demo_1", true),
            ("abc", false),
            ("1cert", false),
            ("cert-demo", false),
            (&"a".repeat(50), true),
            (&"a".repeat(51), false),
        ] {
            let mut errs = Errors::default();
            check_name(&mut errs, name, "name");
            assert_eq!(errs.0.is_empty(), ok, "{name}");
        }
    }

    #[test]
    fn a_wildcard_covers_one_label() {
        let info = CertInfo {
            common_name: "x".into(),
            san: vec!["*.example.com".into(), "api.test.org".into()],
            not_before: 0,
            not_after: 0,
            issuer: vec![],
            serial_number: String::new(),
            signature_algorithm: String::new(),
            algorithm_type: String::new(),
            version: 3,
            organization: vec![],
            organizational_unit: vec![],
            locality: vec![],
            state: vec![],
            country: vec![],
        };
        assert!(info.covers("a.example.com"));
        assert!(info.covers("API.test.org."));
        assert!(!info.covers("a.b.example.com"));
        assert!(!info.covers("example.com"));
        assert!(!info.covers("x"));
    }
}
