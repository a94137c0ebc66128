//! Values by host name, as APIG's domains name hosts: exact names, and wildcards
//! `*.example.com` standing for one more label (`a.example.com`, not `b.a.example.com`); an
//! exact name wins over a wildcard. Names compare without regard to case, and the final dot of
//! a fully qualified name is ignored. The routing of hosts to groups and the choice of a TLS
//! certificate both look names up here.

use crate::fnv::FnvMap;
use std::borrow::Cow;

/// Values by exact and wildcard host names.
#[derive(Debug)]
pub struct Names<V> {
    exact: FnvMap<String, V>,
    /// `example.com` for `*.example.com`.
    wildcard: FnvMap<String, V>,
}

impl<V> Default for Names<V> {
    fn default() -> Self {
        Self {
            exact: FnvMap::default(),
            wildcard: FnvMap::default(),
        }
    }
}

impl<V> Names<V> {
    /// `name` is a host name or a wildcard `*.example.com`.
    pub fn insert(&mut self, name: &str, value: V) {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(parent) => self.wildcard.insert(parent.to_string(), value),
            None => self.exact.insert(name, value),
        };
    }

    /// The value of `name`: its own, else the wildcard's one label up.
    pub fn get(&self, name: &str) -> Option<&V> {
        let name = name.strip_suffix('.').unwrap_or(name);
        let name = match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(name.to_ascii_lowercase()),
            false => Cow::Borrowed(name),
        };
        if let Some(v) = self.exact.get(name.as_ref()) {
            return Some(v);
        }
        if self.wildcard.is_empty() {
            return None;
        }
        let (label, parent) = name.split_once('.')?;
        self.wildcard.get(parent).filter(|_| !label.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_name_wins_and_a_wildcard_covers_one_label() {
        let mut names = Names::default();
        names.insert("*.Example.com", 1);
        names.insert("a.example.com.", 2);
        assert_eq!(names.get("A.example.COM"), Some(&2));
        assert_eq!(names.get("b.example.com."), Some(&1));
        assert_eq!(names.get("c.b.example.com"), None);
        assert_eq!(names.get("example.com"), None);
        assert_eq!(names.get(".example.com"), None);
    }
}
