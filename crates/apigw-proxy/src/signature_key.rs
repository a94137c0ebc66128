//! Signature keys on the data plane (SPEC §10, `otc-guide/signature_keys.rst`): the headers
//! with which the gateway signs each call it makes to the backend of an API bound to a key,
//! so that the backend can tell the gateway's calls from others.
//!
//! - `basic`: `Authorization: Basic base64(key:secret)`.
//! - `hmac`: Huawei's `SDK-HMAC-SHA256` over the request the backend receives — its method,
//!   path and query, `Host` (the backend's) and `X-Sdk-Date` — keyed by the key and secret, in
//!   `Authorization`, as the official SDK signers compute it and Huawei's backend-signature
//!   demos verify it. The body's SHA-256 is signed when the gateway holds the body whole (it
//!   was read for APP authentication or a plug-in, or it is empty); a streamed body is signed
//!   as `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (a signed header), the SDKs' form for a body
//!   left out, so the gateway never holds a large upload back to hash it.
//! - `aes` and `public_key` (*ours*: APIG publishes no wire format for them): the same headers
//!   and string to sign as `hmac` under the algorithm `SDK-AES-128-CFB` / `SDK-AES-256-CFB`
//!   (the SHA-256 of the string to sign encrypted with the key and vector) or
//!   `SDK-ECDSA-P256-SHA256` / `SDK-RSA-SHA256` (signed with the private key, verified with the
//!   public one), `Access` the key's name.

use apigw_model::sign::{self, Signer as SdkSigner, UNSIGNED_PAYLOAD};
use apigw_model::signature_key::{SignKey, SignType};
use base64::Engine;
use http::header::HeaderValue;
use http::Method;

/// One key, ready to sign.
#[derive(Debug)]
pub enum Signer {
    /// The whole `authorization` header line, the same on every call.
    Basic(Vec<u8>),
    /// The `SDK-*` signatures: hmac, aes and public_key.
    Sdk(Box<SdkSigner>),
}

/// What the backend's request carries as its body, for the signature.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The body, held whole (empty when there is none).
    Whole(&'a [u8]),
    /// A body streamed to the backend as it comes.
    Streamed,
}

/// The header names a signature sets: the request's own values of them do not go to the
/// backend.
pub const REPLACED: [&str; 3] = ["authorization", "x-sdk-date", "x-sdk-content-sha256"];

impl Signer {
    /// The signer of a stored key; `Err` for a type the gateway cannot sign with.
    pub fn new(k: &SignKey) -> Result<Self, String> {
        match k.sign_type {
            SignType::Basic => {
                let credentials = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", k.sign_key, k.sign_secret));
                Ok(Signer::Basic(
                    format!("authorization: Basic {credentials}\r\n").into_bytes(),
                ))
            }
            SignType::Hmac => Ok(Signer::Sdk(Box::new(SdkSigner::new(
                &k.sign_key,
                &k.sign_secret,
            )))),
            SignType::Aes => {
                SdkSigner::aes(&k.name, k.sign_key.as_bytes(), k.sign_secret.as_bytes())
                    .map(|s| Signer::Sdk(Box::new(s)))
            }
            SignType::PublicKey => {
                SdkSigner::private_key(&k.name, &k.sign_secret).map(|s| Signer::Sdk(Box::new(s)))
            }
        }
    }

    /// Appends the signature's header lines (`name: value\r\n`) for a call of `method` to
    /// `target` (path and query, as sent) with `Host: host`, made at `now_ms`.
    pub fn write(
        &self,
        out: &mut Vec<u8>,
        method: &Method,
        target: &str,
        host: &HeaderValue,
        payload: Payload<'_>,
        now_ms: i64,
    ) {
        match self {
            Signer::Basic(line) => out.extend_from_slice(line),
            Signer::Sdk(signer) => {
                let date = apigw_model::time::sdk_date(now_ms).unwrap_or(*b"19700101T000000Z");
                let date = std::str::from_utf8(&date).unwrap_or_default();
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (target, None),
                };
                let host = host.to_str().unwrap_or_default();
                let hash;
                let (payload, headers): (&str, &[(&str, &str)]) = match payload {
                    Payload::Whole(body) => {
                        let digest = match body {
                            [] => sign::EMPTY_BODY_SHA256,
                            body => {
                                hash = sign::body_hash(body);
                                &hash
                            }
                        };
                        (digest, &[("host", host), ("x-sdk-date", date)])
                    }
                    Payload::Streamed => (
                        UNSIGNED_PAYLOAD,
                        &[
                            ("host", host),
                            ("x-sdk-content-sha256", UNSIGNED_PAYLOAD),
                            ("x-sdk-date", date),
                        ],
                    ),
                };
                for (name, value) in headers.iter().skip(1) {
                    push_line(out, name, value);
                }
                out.extend_from_slice(b"authorization: ");
                signer.write_authorization(
                    out,
                    method.as_str(),
                    path,
                    query,
                    headers,
                    payload,
                    date,
                );
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: SignType, key: &str, secret: &str) -> SignKey {
        SignKey {
            id: "k".into(),
            instance_id: "i".into(),
            name: "k".into(),
            sign_type: t,
            sign_key: key.into(),
            sign_secret: secret.into(),
            sign_algorithm: None,
            create_time: 0,
            update_time: 0,
        }
    }

    fn lines(s: &Signer, target: &str, payload: Payload<'_>) -> String {
        let mut out = Vec::new();
        let host = HeaderValue::from_static("backend:8080");
        s.write(
            &mut out,
            &Method::GET,
            target,
            &host,
            payload,
            1_796_436_223_000,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn basic_sends_the_key_and_secret_as_credentials() {
        let s = Signer::new(&key(SignType::Basic, "user", "password1")).unwrap();
        // base64("user:password1")
        assert_eq!(
            lines(&s, "/p", Payload::Streamed),
            "authorization: Basic dXNlcjpwYXNzd29yZDE=\r\n"
        );
    }

    #[test]
    fn hmac_signs_what_the_backend_receives_and_verifies() {
        let s = Signer::new(&key(SignType::Hmac, "gw-key-01", "gw-secret-000001")).unwrap();
        let text = lines(&s, "/p/a%20b?y=2&x=1", Payload::Whole(b""));
        let mut it = text.split("\r\n");
        assert_eq!(it.next(), Some("x-sdk-date: 20261205T020343Z"));
        let auth = it.next().unwrap().strip_prefix("authorization: ").unwrap();
        assert!(
            auth.starts_with("SDK-HMAC-SHA256 Access=gw-key-01, SignedHeaders=host;x-sdk-date, "),
            "{auth}"
        );
        let req = sign::RequestParts {
            method: "GET",
            path: "/p/a%20b",
            query: Some("y=2&x=1"),
            body: b"",
        };
        let headers = |n: &str| match n {
            "host" => vec!["backend:8080".to_string()],
            "x-sdk-date" => vec!["20261205T020343Z".to_string()],
            _ => vec![],
        };
        let secret = |_: &str| Some("gw-secret-000001".to_string());
        assert_eq!(
            sign::verify(auth, &req, &headers, &secret, 1_796_436_223).as_deref(),
            Ok("gw-key-01")
        );

        let streamed = lines(&s, "/p", Payload::Streamed);
        assert!(
            streamed.starts_with("x-sdk-content-sha256: UNSIGNED-PAYLOAD\r\nx-sdk-date: ")
                && streamed.contains("SignedHeaders=host;x-sdk-content-sha256;x-sdk-date, "),
            "{streamed}"
        );

        // A body held whole is signed by its hash: the same call with another body fails.
        let text = lines(&s, "/p", Payload::Whole(b"{\"n\":1}"));
        let auth = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("authorization: "))
            .unwrap();
        let with = |body: &'static [u8]| sign::RequestParts {
            method: "GET",
            path: "/p",
            query: None,
            body,
        };
        assert!(sign::verify(auth, &with(b"{\"n\":1}"), &headers, &secret, 1_796_436_223).is_ok());
        assert_eq!(
            sign::verify(auth, &with(b"{\"n\":2}"), &headers, &secret, 1_796_436_223),
            Err(sign::SignError::Mismatch)
        );
    }

    #[test]
    fn aes_and_public_keys_sign_under_their_own_algorithms_with_the_keys_name() {
        let mut aes = key(SignType::Aes, "0123456789abcdef", "fedcba9876543210");
        aes.sign_algorithm = Some(apigw_model::signature_key::SignAlgorithm::Aes128Cfb);
        let s = Signer::new(&aes).unwrap();
        let text = lines(&s, "/p", Payload::Whole(b""));
        assert!(
            text.contains("authorization: SDK-AES-128-CFB Access=k, SignedHeaders=host;x-sdk-date, Signature="),
            "{text}"
        );
        assert_eq!(text, lines(&s, "/p", Payload::Whole(b"")), "deterministic");
        assert_ne!(
            text,
            lines(&s, "/q", Payload::Whole(b"")),
            "bound to the request"
        );
        let (public, private) = apigw_model::sign::generate_p256();
        let mut pk = key(SignType::PublicKey, &public, &private);
        pk.name = "pk".into();
        let text = lines(&Signer::new(&pk).unwrap(), "/p", Payload::Whole(b""));
        assert!(
            text.contains("authorization: SDK-ECDSA-P256-SHA256 Access=pk, "),
            "{text}"
        );
        let bad = key(SignType::PublicKey, &public, "bm90IGEga2V5");
        assert!(Signer::new(&bad).is_err());
    }
}
