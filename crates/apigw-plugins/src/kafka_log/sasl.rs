//! The client side of the SASL mechanisms kafka_log offers: PLAIN (RFC 4616) and
//! SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677; no channel binding), as exchanges of
//! messages the link carries in SaslAuthenticate requests.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};

/// The most PBKDF2 rounds a server may ask for (Kafka's brokers refuse more).
const MAX_ITERATIONS: u32 = 16_384;

/// One authentication in progress.
pub(super) enum Exchange {
    /// PLAIN: one message, nothing to check in the answer.
    Plain,
    Scram(Scram),
}

/// A SCRAM exchange after the client's first message.
#[derive(Clone)]
pub(super) struct Scram {
    sha512: bool,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    /// The signature the server must prove, once the final message is sent.
    server_signature: Option<Vec<u8>>,
}

/// The mechanism name as the broker knows it (`sasl_mechanisms`, PLAIN otherwise).
pub(super) fn mechanism(configured: &str) -> &'static str {
    match configured {
        "SCRAM-SHA-256" => "SCRAM-SHA-256",
        "SCRAM-SHA-512" => "SCRAM-SHA-512",
        _ => "PLAIN",
    }
}

impl Exchange {
    /// Starts `mechanism` for `user`: the exchange and the client's first message.
    pub(super) fn start(mechanism: &str, user: &str, password: &str) -> (Self, Vec<u8>) {
        if !mechanism.starts_with("SCRAM-") {
            let message = format!("\0{user}\0{password}").into_bytes();
            return (Exchange::Plain, message);
        }
        let mut nonce = [0u8; 24];
        // The system's random source does not fail on the platforms apigw runs on; a fixed
        // nonce would still authenticate (the server adds its own), only less freshly.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce);
        let (s, first) = Scram::start(
            mechanism == "SCRAM-SHA-512",
            user,
            password,
            &B64.encode(nonce),
        );
        (Exchange::Scram(s), first)
    }

    /// The next message for the server's `answer`, `None` when the exchange is complete (the
    /// server proved itself), or why it failed.
    pub(super) fn step(&mut self, answer: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self {
            Exchange::Plain => Ok(None),
            Exchange::Scram(s) => s.step(answer),
        }
    }
}

impl Scram {
    fn start(sha512: bool, user: &str, password: &str, nonce: &str) -> (Self, Vec<u8>) {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        let client_first_bare = format!("n={user},r={nonce}");
        let first = format!("n,,{client_first_bare}").into_bytes();
        let s = Scram {
            sha512,
            password: password.to_string(),
            client_first_bare,
            client_nonce: nonce.to_string(),
            server_signature: None,
        };
        (s, first)
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let alg = if self.sha512 {
            hmac::HMAC_SHA512
        } else {
            hmac::HMAC_SHA256
        };
        hmac::sign(&hmac::Key::new(alg, key), data)
            .as_ref()
            .to_vec()
    }

    fn step(&mut self, answer: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let answer =
            std::str::from_utf8(answer).map_err(|_| "SCRAM: the server's message is not UTF-8")?;
        let attr = |name: &str| {
            answer
                .split(',')
                .find_map(|a| a.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        if let Some(error) = attr("e") {
            return Err(format!("SCRAM: the server refused: {error}"));
        }
        if let Some(expected) = &self.server_signature {
            let v = attr("v").ok_or("SCRAM: the server's final message has no signature")?;
            let v = B64
                .decode(v)
                .map_err(|_| "SCRAM: the server's signature is not base64")?;
            if v != *expected {
                return Err("SCRAM: the server's signature is wrong".into());
            }
            return Ok(None);
        }
        let nonce = attr("r").ok_or("SCRAM: the server's first message has no nonce")?;
        if !nonce.starts_with(&self.client_nonce) {
            return Err("SCRAM: the server's nonce does not extend the client's".into());
        }
        let salt = attr("s")
            .and_then(|s| B64.decode(s).ok())
            .ok_or("SCRAM: the server's salt is missing or not base64")?;
        let iterations = attr("i")
            .and_then(|i| i.parse::<u32>().ok())
            .and_then(std::num::NonZeroU32::new)
            // Kafka's own bound (4096..=16384): the key is derived on the serving thread, and
            // a broker asking for millions of rounds would stall it.
            .filter(|i| i.get() <= MAX_ITERATIONS)
            .ok_or("SCRAM: the server's iteration count is missing or out of range")?;
        let (alg, digest_alg, len) = if self.sha512 {
            (pbkdf2::PBKDF2_HMAC_SHA512, &digest::SHA512, 64)
        } else {
            (pbkdf2::PBKDF2_HMAC_SHA256, &digest::SHA256, 32)
        };
        let mut salted = vec![0u8; len];
        pbkdf2::derive(
            alg,
            iterations,
            &salt,
            self.password.as_bytes(),
            &mut salted,
        );
        let client_key = self.hmac(&salted, b"Client Key");
        let stored_key = digest::digest(digest_alg, &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{answer},{without_proof}", self.client_first_bare);
        let signature = self.hmac(stored_key.as_ref(), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = self.hmac(&salted, b"Server Key");
        self.server_signature = Some(self.hmac(&server_key, auth_message.as_bytes()));
        Ok(Some(
            format!("{without_proof},p={}", B64.encode(proof)).into_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3's example exchange.
    #[test]
    fn scram_sha_256_computes_the_rfc_7677_proof_and_checks_the_server() {
        let (mut s, first) = Scram::start(false, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let last = s.step(server_first).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let mut wrong = s.clone();
        assert!(wrong.step(b"v=AAAA").is_err(), "a wrong server signature");
        assert_eq!(
            s.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_server_nonce_not_extending_ours_or_an_error_is_refused() {
        let (mut s, _) = Scram::start(true, "u,=", "p", "abc");
        assert_eq!(s.client_first_bare, "n=u=2C=3D,r=abc");
        assert!(s.step(b"r=xyz,s=AAAA,i=4096").is_err());
        assert!(s.step(b"e=invalid-proof").is_err());
        assert!(s.step(b"r=abcd,s=AAAA,i=0").is_err());
        assert!(
            s.step(b"r=abcd,s=AAAA,i=16385").is_err(),
            "more rounds than Kafka allows"
        );
        assert!(s.step(b"r=abcd,s=AAAA,i=4096").unwrap().is_some());
    }

    #[test]
    fn plain_sends_user_and_password_once() {
        let (mut e, first) = Exchange::start("PLAIN", "u", "p");
        assert_eq!(first, b"\0u\0p");
        assert_eq!(e.step(b"").unwrap(), None);
    }
}
