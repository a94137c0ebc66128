//! Path routing for one group in one environment: a trie over path segments, so a lookup
//! costs the length of the path, not the number of APIs.
//!
//! Precedence (SPEC §4): exact NORMAL routes beat `{param}` routes beat a trailing `{param+}`;
//! only when no NORMAL route matches do SWA (prefix) routes apply, the longest prefix winning.
//! At each place a route for the request's method beats an `ANY` route.
//!
//! The trie's nodes are shared between copies of a router: a copy costs one pointer, and a
//! change to it copies only the nodes on the changed route's path (the rest stay shared with
//! the snapshot still serving calls), so changing one route costs its depth, not the number
//! of routes.

use crate::fnv::FnvMap;
use apigw_model::api::Segment;
use http::Method;
use std::sync::Arc;

/// Routes by method at one place of the trie.
#[derive(Debug)]
struct Methods<T> {
    exact: Vec<(Method, Arc<T>)>,
    any: Option<Arc<T>>,
}

impl<T> Clone for Methods<T> {
    fn clone(&self) -> Self {
        Self {
            exact: self.exact.clone(),
            any: self.any.clone(),
        }
    }
}

impl<T> Default for Methods<T> {
    fn default() -> Self {
        Self {
            exact: Vec::new(),
            any: None,
        }
    }
}

impl<T> Methods<T> {
    fn get(&self, m: &Method) -> Option<&Arc<T>> {
        self.exact
            .iter()
            .find(|(k, _)| k == m)
            .map(|(_, v)| v)
            .or(self.any.as_ref())
    }

    fn first(&self) -> Option<&Arc<T>> {
        self.exact.first().map(|(_, v)| v).or(self.any.as_ref())
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.any.is_none()
    }

    /// Removes the route for `m` when `owned` says it is the one meant; whether it did.
    fn remove(&mut self, m: Option<&Method>, owned: &dyn Fn(&T) -> bool) -> bool {
        match m {
            None if self.any.as_deref().is_some_and(owned) => {
                self.any = None;
                true
            }
            None => false,
            Some(m) => {
                let before = self.exact.len();
                self.exact.retain(|(k, v)| k != m || !owned(v));
                self.exact.len() != before
            }
        }
    }

    fn insert(&mut self, m: Option<Method>, v: Arc<T>) {
        match m {
            None => self.any = Some(v),
            Some(m) => {
                self.exact.retain(|(k, _)| *k != m);
                self.exact.push((m, v));
            }
        }
    }
}

#[derive(Debug)]
struct Node<T> {
    literal: FnvMap<Arc<str>, Arc<Node<T>>>,
    /// A `{param}` segment at this place (parameter names live in the routes' templates).
    param: Option<Arc<Node<T>>>,
    /// `{name+}` at this place.
    rest: Option<Methods<T>>,
    /// NORMAL routes ending here.
    exact: Methods<T>,
    /// SWA routes whose prefix ends here.
    prefix: Methods<T>,
}

impl<T> Clone for Node<T> {
    fn clone(&self) -> Self {
        Self {
            literal: self.literal.clone(),
            param: self.param.clone(),
            rest: self.rest.clone(),
            exact: self.exact.clone(),
            prefix: self.prefix.clone(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.param.is_none()
            && self.rest.is_none()
            && self.exact.is_empty()
            && self.prefix.is_empty()
    }
}

/// Removes the route at `template` below `node` (see [`Router::remove`]), and the nodes it
/// leaves empty.
fn remove_below<T>(
    node: &mut Node<T>,
    template: &[Segment],
    method: Option<&Method>,
    prefix: bool,
    owned: &dyn Fn(&T) -> bool,
) -> bool {
    let (child, rest) = match template.split_first() {
        None if prefix => return node.prefix.remove(method, owned),
        None => return node.exact.remove(method, owned),
        Some((Segment::Rest(_), _)) => {
            let Some(m) = node.rest.as_mut() else {
                return false;
            };
            let removed = m.remove(method, owned);
            if m.is_empty() {
                node.rest = None;
            }
            return removed;
        }
        Some((Segment::Literal(l), rest)) => (node.literal.get_mut(l.as_str()), rest),
        Some((Segment::Param(_), rest)) => (node.param.as_mut(), rest),
    };
    let Some(child) = child else {
        return false;
    };
    let removed = remove_below(Arc::make_mut(child), rest, method, prefix, owned);
    if child.is_empty() {
        match &template[0] {
            Segment::Literal(l) => {
                node.literal.remove(l.as_str());
            }
            _ => node.param = None,
        }
    }
    removed
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            literal: FnvMap::default(),
            param: None,
            rest: None,
            exact: Methods::default(),
            prefix: Methods::default(),
        }
    }
}

/// A match: the route, its path parameter values in template order, and for SWA routes the
/// unmatched rest of the path.
#[derive(Debug)]
pub struct Match<'p, T> {
    pub route: Arc<T>,
    /// The raw value of each `{param}` / `{param+}`, in the order of the route's template.
    pub values: Vec<&'p str>,
    /// For SWA: the rest of the path after the prefix, starting with `/` (or empty).
    pub rest: &'p str,
}

/// The routes of one group in one environment. A clone shares every node with the original.
#[derive(Debug)]
pub struct Router<T> {
    root: Arc<Node<T>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self {
            root: Arc::default(),
        }
    }
}

impl<T> Clone for Router<T> {
    fn clone(&self) -> Self {
        Self {
            root: self.root.clone(),
        }
    }
}

/// The next segment of a request path at or after byte `from` (empty segments are skipped:
/// `/a//b/` has `a` and `b`), with the byte offset after it. A path's first byte is its `/`, so
/// the first segment is looked for from 1. Read as the lookup goes, with no list to allocate.
fn next_segment(path: &str, from: usize) -> Option<(&str, usize)> {
    let bytes = path.as_bytes();
    let start = from
        + bytes
            .get(from..)?
            .iter()
            .take_while(|b| **b == b'/')
            .count();
    if start >= bytes.len() {
        return None;
    }
    let end = bytes[start..]
        .iter()
        .position(|b| *b == b'/')
        .map_or(bytes.len(), |i| start + i);
    Some((&path[start..end], end))
}

impl<T> Router<T> {
    /// Adds a route. `method` `None` is ANY; `prefix` marks an SWA route.
    pub fn insert(
        &mut self,
        template: &[Segment],
        method: Option<Method>,
        prefix: bool,
        route: Arc<T>,
    ) {
        let mut node = Arc::make_mut(&mut self.root);
        for seg in template {
            match seg {
                Segment::Literal(l) => {
                    node = Arc::make_mut(node.literal.entry(l.as_str().into()).or_default())
                }
                Segment::Param(_) => node = Arc::make_mut(node.param.get_or_insert_default()),
                Segment::Rest(_) => {
                    node.rest
                        .get_or_insert_with(Methods::default)
                        .insert(method, route);
                    return;
                }
            }
        }
        if prefix {
            node.prefix.insert(method, route);
        } else {
            node.exact.insert(method, route);
        }
    }

    /// Removes the route `insert` put at `template`, `method` and `prefix`, if `owned` says the
    /// route there is the one meant (another may have replaced it); whether it did.
    pub fn remove(
        &mut self,
        template: &[Segment],
        method: Option<&Method>,
        prefix: bool,
        owned: &dyn Fn(&T) -> bool,
    ) -> bool {
        remove_below(
            Arc::make_mut(&mut self.root),
            template,
            method,
            prefix,
            owned,
        )
    }

    /// Whether the router has no route.
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// Finds the route for `method` and `path` (the path without query).
    pub fn lookup<'p>(&self, method: &Method, path: &'p str) -> Option<Match<'p, T>> {
        self.find(path, &|m| m.get(method).cloned())
    }

    /// Finds a route for `path` whatever its method (for CORS on a 405-like miss).
    pub fn lookup_any<'p>(&self, path: &'p str) -> Option<Match<'p, T>> {
        self.find(path, &|m| m.first().cloned())
    }

    fn find<'p>(
        &self,
        path: &'p str,
        pick: &dyn Fn(&Methods<T>) -> Option<Arc<T>>,
    ) -> Option<Match<'p, T>> {
        let mut values = Vec::new();
        if let Some(route) = exact(&self.root, path, 1, pick, &mut values) {
            return Some(Match {
                route,
                values,
                rest: "",
            });
        }
        // SWA: follow the path (literal first, else parameter), keep the deepest prefix route.
        let mut node = &self.root;
        let mut values = Vec::new();
        let mut best: Option<(Arc<T>, usize, usize)> = pick(&node.prefix).map(|r| (r, 0, 0));
        let mut at = 1;
        while let Some((seg, end)) = next_segment(path, at) {
            at = end;
            node = match (node.literal.get(seg), &node.param) {
                (Some(n), _) => n,
                (None, Some(n)) => {
                    values.push(seg);
                    n
                }
                (None, None) => break,
            };
            if let Some(r) = pick(&node.prefix) {
                best = Some((r, end, values.len()));
            }
        }
        best.map(|(route, end, n)| {
            values.truncate(n);
            Match {
                route,
                values,
                rest: &path[end..],
            }
        })
    }
}

fn exact<'p, T>(
    node: &Node<T>,
    path: &'p str,
    at: usize,
    pick: &dyn Fn(&Methods<T>) -> Option<Arc<T>>,
    values: &mut Vec<&'p str>,
) -> Option<Arc<T>> {
    let Some((seg, end)) = next_segment(path, at) else {
        return pick(&node.exact);
    };
    if let Some(child) = node.literal.get(seg) {
        if let Some(r) = exact(child, path, end, pick, values) {
            return Some(r);
        }
    }
    if let Some(child) = &node.param {
        values.push(seg);
        if let Some(r) = exact(child, path, end, pick, values) {
            return Some(r);
        }
        values.pop();
    }
    if let Some(r) = node.rest.as_ref().and_then(pick) {
        values.push(&path[end - seg.len()..]);
        return Some(r);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_model::api::parse_template;

    #[test]
    fn segments_are_read_in_order_skipping_empty_ones() {
        let walk = |path: &str| {
            let (mut at, mut out) = (1, Vec::new());
            while let Some((seg, end)) = next_segment(path, at) {
                out.push((seg.to_string(), end));
                at = end;
            }
            out
        };
        let own = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
            v.iter().map(|(s, e)| (s.to_string(), *e)).collect()
        };
        assert_eq!(walk("/a//bc/"), own(&[("a", 2), ("bc", 6)]));
        assert_eq!(walk("/x"), own(&[("x", 2)]));
        assert!(walk("/").is_empty());
        assert!(walk("//").is_empty());
        assert!(walk("").is_empty());
    }

    fn router(routes: &[(&str, Option<Method>, bool, &'static str)]) -> Router<&'static str> {
        let mut r = Router::default();
        for (t, m, prefix, name) in routes {
            r.insert(
                &parse_template(t).unwrap(),
                m.clone(),
                *prefix,
                Arc::new(*name),
            );
        }
        r
    }

    fn hit(
        r: &Router<&'static str>,
        m: Method,
        path: &str,
    ) -> Option<(&'static str, Vec<String>, String)> {
        r.lookup(&m, path).map(|x| {
            (
                *x.route,
                x.values.iter().map(|s| s.to_string()).collect(),
                x.rest.to_string(),
            )
        })
    }

    #[test]
    fn exact_beats_param_beats_rest_beats_prefix() {
        let r = router(&[
            ("/users/me", Some(Method::GET), false, "me"),
            ("/users/{id}", Some(Method::GET), false, "by-id"),
            ("/users/{path+}", None, false, "rest"),
            ("/users", None, true, "swa"),
        ]);
        assert_eq!(hit(&r, Method::GET, "/users/me").unwrap().0, "me");
        assert_eq!(
            hit(&r, Method::GET, "/users/7"),
            Some(("by-id", vec!["7".into()], String::new()))
        );
        assert_eq!(
            hit(&r, Method::GET, "/users/7/orders/9"),
            Some(("rest", vec!["7/orders/9".into()], String::new()))
        );
        assert_eq!(
            hit(&r, Method::POST, "/users/7").unwrap().0,
            "rest",
            "ANY rest beats nothing for POST"
        );
        assert_eq!(
            hit(&r, Method::GET, "/users"),
            Some(("swa", vec![], String::new()))
        );
    }

    #[test]
    fn the_longest_swa_prefix_wins_and_the_rest_is_kept() {
        let r = router(&[
            ("/", None, true, "root"),
            ("/a", None, true, "a"),
            ("/a/b", None, true, "ab"),
        ]);
        assert_eq!(
            hit(&r, Method::GET, "/a/b/c/d"),
            Some(("ab", vec![], "/c/d".into()))
        );
        assert_eq!(
            hit(&r, Method::GET, "/a/x"),
            Some(("a", vec![], "/x".into()))
        );
        assert_eq!(
            hit(&r, Method::GET, "/z"),
            Some(("root", vec![], "/z".into()))
        );
    }

    #[test]
    fn a_specific_method_beats_any_and_misses_are_none() {
        let r = router(&[
            ("/x", None, false, "any"),
            ("/x", Some(Method::PUT), false, "put"),
            ("/y", Some(Method::GET), false, "y"),
        ]);
        assert_eq!(hit(&r, Method::PUT, "/x").unwrap().0, "put");
        assert_eq!(hit(&r, Method::GET, "/x").unwrap().0, "any");
        assert!(hit(&r, Method::POST, "/y").is_none());
        assert_eq!(*r.lookup_any("/y").unwrap().route, "y");
        assert!(hit(&r, Method::GET, "/nothing").is_none());
        assert!(
            hit(&r, Method::GET, "/x/extra").is_none(),
            "NORMAL routes match exactly"
        );
    }

    #[test]
    fn backtracking_finds_param_routes_under_a_literal_prefix() {
        let r = router(&[
            ("/a/b/c", Some(Method::GET), false, "abc"),
            ("/a/{x}/d", Some(Method::GET), false, "axd"),
        ]);
        assert_eq!(
            hit(&r, Method::GET, "/a/b/d"),
            Some(("axd", vec!["b".into()], String::new()))
        );
        assert_eq!(
            hit(&r, Method::GET, "/a/b/c/").unwrap().0,
            "abc",
            "a trailing slash is ignored"
        );
    }

    #[test]
    fn a_change_to_a_copy_leaves_the_original_and_removal_prunes_what_it_empties() {
        let original = router(&[
            ("/a/b", Some(Method::GET), false, "ab"),
            ("/a/{x}/c", None, false, "axc"),
            ("/p", None, true, "swa"),
            ("/r/{rest+}", None, false, "rest"),
        ]);
        let mut copy = original.clone();
        let t = |s: &str| parse_template(s).unwrap();
        copy.insert(&t("/new"), None, false, Arc::new("new"));
        assert!(
            !copy.remove(&t("/a/b"), Some(&Method::GET), false, &|r| *r == "other"),
            "a route that is not the one meant stays"
        );
        assert!(copy.remove(&t("/a/b"), Some(&Method::GET), false, &|r| *r == "ab"));
        assert!(copy.remove(&t("/a/{y}/c"), None, false, &|_| true));
        assert!(copy.remove(&t("/p"), None, true, &|_| true));
        assert!(copy.remove(&t("/r/{rest+}"), None, false, &|_| true));
        assert!(!copy.remove(&t("/missing/x"), None, false, &|_| true));
        assert!(hit(&copy, Method::GET, "/a/b").is_none());
        assert!(hit(&copy, Method::GET, "/p/q").is_none());
        assert_eq!(hit(&copy, Method::GET, "/new").unwrap().0, "new");
        assert_eq!(hit(&original, Method::GET, "/a/b").unwrap().0, "ab");
        assert_eq!(hit(&original, Method::GET, "/a/z/c").unwrap().0, "axc");
        assert_eq!(hit(&original, Method::GET, "/p/q").unwrap().0, "swa");
        assert_eq!(hit(&original, Method::GET, "/r/1/2").unwrap().0, "rest");
        assert!(hit(&original, Method::GET, "/new").is_none());
        assert!(copy.remove(&t("/new"), None, false, &|_| true));
        assert!(copy.is_empty(), "the emptied nodes are gone");
        assert!(!original.is_empty());
    }
}
