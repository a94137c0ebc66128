//! Values by host name, as APIG's domains name hosts: exact names, and wildcards
//! `*.example.com` standing for one more label (`a.example.com`, not `b.a.example.com`); an
//! exact name wins over a wildcard. Names compare without regard to case, and the final dot of
//! a fully qualified name is ignored. The routing of hosts to groups and the choice of a TLS
//! certificate both look names up here.

use crate::fnv::FnvMap;

/// Values by exact and wildcard host names.
#[derive(Debug, Clone)]
pub struct Names<V> {
    exact: FnvMap<String, V>,
    /// `example.com` for `*.example.com`.
    wildcard: FnvMap<String, V>,
    /// Bit `n % 64` set for each exact name of `n` bytes, so that most names no one bound (an
    /// address, a group's own subdomain when calls use another) are turned away without being
    /// hashed.
    exact_lengths: u64,
    /// The same for the wildcards' parents.
    wildcard_lengths: u64,
}

impl<V> Default for Names<V> {
    fn default() -> Self {
        Self {
            exact: FnvMap::default(),
            wildcard: FnvMap::default(),
            exact_lengths: 0,
            wildcard_lengths: 0,
        }
    }
}

/// The bit of a name's length in [`Names`]' length sets.
fn length_bit(name: &str) -> u64 {
    1 << (name.len() % 64)
}

impl<V> Names<V> {
    /// `name` is a host name or a wildcard `*.example.com`.
    pub fn insert(&mut self, name: &str, value: V) {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(parent) => {
                self.wildcard_lengths |= length_bit(parent);
                self.wildcard.insert(parent.to_string(), value)
            }
            None => {
                self.exact_lengths |= length_bit(&name);
                self.exact.insert(name, value)
            }
        };
    }

    /// The value of `name`: its own, else the wildcard's one label up.
    pub fn get(&self, name: &str) -> Option<&V> {
        let name = name.strip_suffix('.').unwrap_or(name);
        if self.exact_lengths & length_bit(name) != 0 {
            if let Some(v) = lookup(&self.exact, name) {
                return Some(v);
            }
        }
        if self.wildcard.is_empty() {
            return None;
        }
        let (label, parent) = name.split_once('.')?;
        if label.is_empty() || self.wildcard_lengths & length_bit(parent) == 0 {
            return None;
        }
        lookup(&self.wildcard, parent)
    }
}

/// `name` in `map`, whose keys are lowercase (lowercasing keeps a name's length).
fn lookup<'a, V>(map: &'a FnvMap<String, V>, name: &str) -> Option<&'a V> {
    match name.bytes().any(|b| b.is_ascii_uppercase()) {
        true => map.get(&name.to_ascii_lowercase()),
        false => map.get(name),
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

    #[test]
    fn names_of_other_lengths_and_every_case_are_found_as_inserted() {
        let mut names = Names::default();
        names.insert("api.example.com", 1);
        names.insert("*.svc.example.com", 2);
        assert_eq!(names.get("API.Example.Com."), Some(&1));
        assert_eq!(names.get("x.SVC.example.com"), Some(&2));
        assert_eq!(names.get("127.0.0.1"), None);
        assert_eq!(names.get("ap.example.com"), None);
        assert_eq!(names.get("x.vc.example.com"), None);
        // Lengths 64 apart share a bit: the map still decides.
        let long = format!("{}.example.com", "a".repeat(65 - ".example.com".len()));
        assert_eq!(long.len() % 64, 1);
        names.insert("b", 3);
        assert_eq!(names.get(&long), None);
        assert_eq!(names.get("B"), Some(&3));
    }
}
