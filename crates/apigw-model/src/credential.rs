//! Admin credentials: a project and the token and AK/SK that act in it. The control plane
//! accepts them for every call; the data plane accepts them for `auth_type` IAM.

use std::fmt;

/// One set of admin credentials: a project and the token and AK/SK that act in it.
#[derive(Clone)]
pub struct Credential {
    /// The project the credentials act in.
    pub project_id: String,
    pub access_key: String,
    pub secret_key: String,
    pub token: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("project_id", &self.project_id)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// The credential whose token is `token`, compared in constant time against every one.
    pub fn by_token<'a>(creds: &'a [Credential], token: &[u8]) -> Option<&'a Credential> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for c in creds {
            if bool::from(c.token.as_bytes().ct_eq(token)) {
                found = Some(c);
            }
        }
        found
    }
}
