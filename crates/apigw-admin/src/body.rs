//! Strict parsing of request bodies and query strings. Every problem becomes an APIG error
//! naming the field: a body that is not a JSON object is APIG.2000; a missing, mistyped or
//! unknown field is APIG.2012. Nothing here panics on any input.

use crate::error::ApiError;
use apigw_model::api::check_name;
use apigw_model::field::Errors;
use serde_json::{Map, Value};

/// Parses `bytes` as a JSON object.
pub fn object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::BadBody(
            "the request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::BadBody(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Takes fields out of a JSON object, collecting every error.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    pub errs: Errors,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            errs: Errors::default(),
        }
    }

    /// A mandatory string.
    pub fn string(&mut self, name: &str) -> String {
        match self.map.remove(name) {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => {
                self.errs.add(name, "is mandatory");
                String::new()
            }
            Some(_) => {
                self.errs.add(name, "must be a string");
                String::new()
            }
        }
    }

    /// An optional string (`null` = absent).
    pub fn opt_string(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errs.add(name, "must be a string");
                None
            }
        }
    }

    /// A mandatory string naming a value of `T`; `expected` says which values are valid.
    pub fn enumerated<T: std::str::FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        let before = self.errs.0.len();
        let s = self.string(name);
        if self.errs.0.len() > before {
            return None;
        }
        let v = s.parse::<T>().ok();
        if v.is_none() {
            self.errs.add(name, expected);
        }
        v
    }

    /// Fails every field not taken yet.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut rest: Vec<String> = self.map.keys().cloned().collect();
        rest.sort();
        for k in rest {
            self.errs.add(k, "unknown field");
        }
        self.errs.into_result().map_err(ApiError::Invalid)
    }
}

impl Fields {
    /// An optional integer (`null` = absent).
    pub fn opt_int(&mut self, name: &str) -> Option<i64> {
        match self.map.remove(name) {
            Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errs.add(name, "must be an integer");
                None
            }
        }
    }

    /// An optional boolean (`null` = absent).
    pub fn opt_bool(&mut self, name: &str) -> Option<bool> {
        match self.map.remove(name) {
            Some(Value::Bool(b)) => Some(b),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errs.add(name, "must be a boolean");
                None
            }
        }
    }

    /// An optional list of up to `max` distinct non-empty id strings (absent or `null`: none).
    pub fn opt_ids(&mut self, name: &str, max: usize) -> Vec<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.map.remove(name);
                Vec::new()
            }
            Some(Value::Array(a)) if a.is_empty() => {
                self.map.remove(name);
                Vec::new()
            }
            Some(_) => self.ids(name, max),
        }
    }

    /// A mandatory list of 1..=`max` distinct non-empty id strings.
    pub fn ids(&mut self, name: &str, max: usize) -> Vec<String> {
        let items = match self.map.remove(name) {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => {
                self.errs.add(name, "is mandatory");
                return Vec::new();
            }
            Some(_) => {
                self.errs.add(name, "must be an array of ids");
                return Vec::new();
            }
        };
        if items.is_empty() || items.len() > max {
            self.errs.add(name, format!("must hold 1 to {max} ids"));
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for (i, v) in items.into_iter().enumerate() {
            match v {
                Value::String(s) if !s.is_empty() && s.len() <= 64 => {
                    if out.contains(&s) {
                        self.errs
                            .add(format!("{name}[{i}]"), format!("duplicate id {s}"));
                    }
                    out.push(s);
                }
                _ => self
                    .errs
                    .add(format!("{name}[{i}]"), "must be an id string"),
            }
        }
        out
    }

    /// The mandatory `name` of a group, environment or app (3..64 characters: a letter first,
    /// then letters, digits, `_` or CJK) and its optional `remark` (at most 255 characters).
    pub fn name_and_remark(&mut self) -> (String, String) {
        let name = self.string("name");
        if !self.errs.0.iter().any(|e| e.field == "name") {
            check_name(&mut self.errs, &name, "name", 3, 64, "_");
        }
        let remark = self.opt_string("remark").unwrap_or_default();
        self.errs.len(&remark, 0, 255, "remark");
        (name, remark)
    }

    /// The raw value of `name`, taken out (for values read by hand); `null` counts as absent.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    /// Whether `name` is given (not absent, not `null`).
    pub fn has(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    /// Adds each error of `errs` whose field has none yet (checks of a whole value run after
    /// its fields were read, and should not report a field twice).
    pub fn merge(&mut self, errs: apigw_model::field::Errors) {
        for e in errs.0 {
            if !self.errs.0.iter().any(|x| x.field == e.field) {
                self.errs.0.push(e);
            }
        }
    }

    /// The whole remaining object (for definitions validated elsewhere).
    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }
}

/// The page of `items` that `offset`/`limit` of `q` select, and the total.
pub fn paginate<T>(items: Vec<T>, q: &Query) -> Result<(u64, Vec<T>), ApiError> {
    let page = apigw_model::page::Page::new(q.int("offset")?, q.int("limit")?);
    let total = items.len() as u64;
    Ok((total, page.slice(items)))
}

/// Whether an optional filter accepts `value`: exact match.
pub fn eq(filter: &Option<String>, value: &str) -> bool {
    filter.as_deref().is_none_or(|f| f == value)
}

/// Whether an optional filter accepts `value`: substring match.
pub fn contains(filter: &Option<String>, value: &str) -> bool {
    filter.as_deref().is_none_or(|f| value.contains(f))
}

/// Query parameters, first value of each name.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string (`application/x-www-form-urlencoded`).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Self(pairs)
    }

    /// The first value of `name`; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// An optional integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid(name, format!("'{v}' is not an integer"))),
        }
    }

    /// An optional string parameter of at most `max` characters.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            Some(v) if v.chars().count() > max => Err(ApiError::invalid(
                name,
                format!("longer than {max} characters"),
            )),
            v => Ok(v.map(str::to_string)),
        }
    }

    /// A parameter that must be present, at most `max` characters.
    pub fn required(&self, name: &str, max: usize) -> Result<String, ApiError> {
        self.text(name, max)?
            .ok_or_else(|| ApiError::invalid(name, "is mandatory"))
    }
}

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_percent_and_plus_and_keeps_first_value() {
        let q = Query::parse(Some(
            "plugin_name=a%20b+c&limit=5&limit=6&bad=%zz&tail=%4&u=%C3%A9%E4",
        ));
        assert_eq!(q.get("plugin_name"), Some("a b c"));
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("tail"), Some("%4"));
        assert_eq!(q.get("u"), Some("é\u{fffd}"));
        assert!(q.int("plugin_name").is_err());
    }

    #[test]
    fn non_objects_are_bad_bodies() {
        for b in [&b""[..], b"[]", b"\"x\"", b"{", b"\xff"] {
            assert!(matches!(object(b), Err(ApiError::BadBody(_))));
        }
    }
}
