//! The headers of a call, request and response: a list in the order they were received or
//! added, names compared as `HeaderName`s (lowercase; a `&str` matches case-insensitively);
//! and the request's head, which the phases read.
//!
//! A message carries a dozen headers and a call looks up a few of them: scanning a dozen names
//! costs fewer instructions than hashing each into an `http::HeaderMap` and building its index,
//! and a list is cheap to move between futures. The list also keeps the order of the wire.

use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri, Version};

/// A request's head: method, target, version and headers.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: Headers,
}

impl From<http::request::Parts> for RequestHead {
    fn from(p: http::request::Parts) -> Self {
        Self {
            method: p.method,
            uri: p.uri,
            version: p.version,
            headers: p.headers.into(),
        }
    }
}

/// The response headers a response head hook reads or changes. A backend's header lines of
/// other names may stay as received, outside the hook's list (the proxy's `Answer::passed`):
/// a hook may still append headers of any name, which go after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// Any of them: the hook reads the whole list.
    All,
    /// Those of these names, and of names that start with one of these prefixes (lowercase).
    Named {
        names: Vec<HeaderName>,
        prefixes: Vec<&'static str>,
    },
}

impl Touched {
    /// None of them.
    pub fn none() -> Self {
        Self::names([])
    }

    /// Those of `names`.
    pub fn names(names: impl IntoIterator<Item = HeaderName>) -> Self {
        Self::Named {
            names: names.into_iter().collect(),
            prefixes: Vec::new(),
        }
    }

    /// What this hook and `other` touch between them.
    pub fn and(self, other: Touched) -> Self {
        match (self, other) {
            (
                Self::Named {
                    mut names,
                    mut prefixes,
                },
                Self::Named {
                    names: n,
                    prefixes: p,
                },
            ) => {
                for x in n {
                    if !names.contains(&x) {
                        names.push(x);
                    }
                }
                for x in p {
                    if !prefixes.contains(&x) {
                        prefixes.push(x);
                    }
                }
                Self::Named { names, prefixes }
            }
            _ => Self::All,
        }
    }
}

/// A name to look headers up by: a `HeaderName` (compared as it is) or text (compared without
/// regard to case).
pub trait Name {
    fn is(&self, name: &HeaderName) -> bool;
}

impl Name for HeaderName {
    fn is(&self, name: &HeaderName) -> bool {
        self == name
    }
}

impl Name for &HeaderName {
    fn is(&self, name: &HeaderName) -> bool {
        *self == name
    }
}

impl Name for &String {
    fn is(&self, name: &HeaderName) -> bool {
        name.as_str().eq_ignore_ascii_case(self)
    }
}

impl Name for &str {
    fn is(&self, name: &HeaderName) -> bool {
        name.as_str().eq_ignore_ascii_case(self)
    }
}

/// `n` in decimal as a header value. Below 10 000 (a limit, what is left of it and the seconds
/// to a window's end, for most configurations) the value is a slice of one static text, with no
/// allocation; larger numbers are written into a value of their own.
pub fn number_value(n: u64) -> HeaderValue {
    let (start, len) = match n {
        0..10 => (n, 1),
        10..100 => (10 + (n - 10) * 2, 2),
        100..1_000 => (190 + (n - 100) * 3, 3),
        1_000..10_000 => (2_890 + (n - 1_000) * 4, 4),
        _ => return HeaderValue::from(n),
    };
    let (start, len) = (start as usize, len as usize);
    HeaderValue::from_static(&SMALL_NUMBERS[start..start + len])
}

/// 0 to 9 999 written one after another: "01234567891011…99989999".
static SMALL_NUMBERS: &str = match std::str::from_utf8(&SMALL_NUMBER_DIGITS) {
    Ok(text) => text,
    Err(_) => panic!("digits are UTF-8"),
};

static SMALL_NUMBER_DIGITS: [u8; 38_890] = {
    let mut t = [0u8; 38_890];
    let (mut n, mut at) = (0u32, 0usize);
    while n < 10_000 {
        let width = if n < 10 {
            1
        } else if n < 100 {
            2
        } else if n < 1_000 {
            3
        } else {
            4
        };
        let (mut i, mut rest) = (width, n);
        while i > 0 {
            i -= 1;
            t[at + i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        at += width;
        n += 1;
    }
    t
};

/// Headers, in order; a name may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<(HeaderName, HeaderValue)>,
}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `n` headers.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            list: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Room for `n` more headers.
    pub fn reserve(&mut self, n: usize) {
        self.list.reserve(n);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first value of `name`.
    pub fn get(&self, name: impl Name) -> Option<&HeaderValue> {
        self.list.iter().find(|(n, _)| name.is(n)).map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: impl Name) -> impl Iterator<Item = &HeaderValue> {
        self.list
            .iter()
            .filter(move |(n, _)| name.is(n))
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, name: impl Name) -> bool {
        self.list.iter().any(|(n, _)| name.is(n))
    }

    /// `value` becomes the only value of `name`: in the place of its first value, if it had
    /// one, else at the end.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        match self.list.iter().position(|(n, _)| *n == name) {
            Some(i) => {
                self.list[i].1 = value;
                let mut seen = 0;
                self.list.retain(|(n, _)| {
                    seen += usize::from(*n == name);
                    *n != name || seen == 1
                });
            }
            None => self.list.push((name, value)),
        }
    }

    /// Adds a value of `name` at the end, after any it has.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.list.push((name, value));
    }

    /// Removes every value of `name`; returns the first.
    pub fn remove(&mut self, name: impl Name) -> Option<HeaderValue> {
        let i = self.list.iter().position(|(n, _)| name.is(n))?;
        let (_, first) = self.list.remove(i);
        self.list.retain(|(n, _)| !name.is(n));
        Some(first)
    }

    /// Keeps the headers `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&HeaderName, &HeaderValue) -> bool) {
        self.list.retain(|(n, v)| keep(n, v));
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.into_iter()
    }

    /// The names, in the order of their first value, each once (each name is compared with
    /// those before it: for a message's few dozen headers, not for long lists).
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        self.list
            .iter()
            .enumerate()
            .filter(|(i, (n, _))| !self.list[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n)
    }
}

impl<N: Name> std::ops::Index<N> for Headers {
    type Output = HeaderValue;

    /// The first value of `name`; panics when there is none (as `HeaderMap` does).
    fn index(&self, name: N) -> &HeaderValue {
        self.get(name).expect("no such header")
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a HeaderName, &'a HeaderValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (HeaderName, HeaderValue)>,
        fn(&'a (HeaderName, HeaderValue)) -> (&'a HeaderName, &'a HeaderValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter().map(|(n, v)| (n, v))
    }
}

impl IntoIterator for Headers {
    type Item = (HeaderName, HeaderValue);
    type IntoIter = std::vec::IntoIter<(HeaderName, HeaderValue)>;

    /// The headers in order, moved out.
    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}

impl From<http::HeaderMap> for Headers {
    fn from(map: http::HeaderMap) -> Self {
        let mut list = Vec::with_capacity(map.len());
        let mut name = None;
        for (n, v) in map {
            if let Some(n) = n {
                name = Some(n);
            }
            if let Some(n) = &name {
                list.push((n.clone(), v));
            }
        }
        Self { list }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, VARY};

    #[test]
    fn a_number_is_a_header_value_of_its_decimal_digits() {
        for n in (0..20_000).chain([99_999, 100_000, u64::MAX]) {
            assert_eq!(number_value(n).to_str().unwrap(), n.to_string(), "{n}");
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn pairs(h: &Headers) -> Vec<(String, String)> {
        h.iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    fn owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lookups_ignore_the_case_of_text_names_and_keep_the_order_of_values() {
        let h = h(&[("Vary", "a"), ("x-one", "1"), ("vary", "b")]);
        assert_eq!(h.get("VARY").unwrap(), "a");
        assert_eq!(h.get(VARY).unwrap(), "a");
        assert_eq!(h.get_all(&VARY).collect::<Vec<_>>(), ["a", "b"]);
        assert!(h.contains_key("X-One"));
        assert!(!h.contains_key(CONTENT_TYPE));
        assert_eq!(
            h.names().map(|n| n.as_str()).collect::<Vec<_>>(),
            ["vary", "x-one"]
        );
    }

    #[test]
    fn insert_replaces_every_value_in_the_place_of_the_first() {
        let mut h = h(&[("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("a", "5")]);
        h.insert(
            HeaderName::from_static("a"),
            HeaderValue::from_static("new"),
        );
        assert_eq!(pairs(&h), owned(&[("a", "new"), ("b", "2"), ("c", "4")]));
        h.insert(
            HeaderName::from_static("d"),
            HeaderValue::from_static("end"),
        );
        assert_eq!(pairs(&h).last().unwrap(), &("d".into(), "end".into()));
    }

    #[test]
    fn remove_takes_every_value_and_returns_the_first() {
        let mut h = h(&[("a", "1"), ("b", "2"), ("A", "3")]);
        assert_eq!(h.remove("a").unwrap(), "1");
        assert_eq!(pairs(&h), owned(&[("b", "2")]));
        assert_eq!(h.remove("a"), None);
    }

    #[test]
    fn a_header_map_converts_with_every_value() {
        let mut m = http::HeaderMap::new();
        m.append(VARY, HeaderValue::from_static("a"));
        m.append(VARY, HeaderValue::from_static("b"));
        m.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let h = Headers::from(m);
        assert_eq!(h.get_all(VARY).count(), 2);
        assert_eq!(h.get(CONTENT_TYPE).unwrap(), "text/plain");
        assert_eq!(h.len(), 3);
    }
}
