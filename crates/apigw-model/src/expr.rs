//! The rule-expression language of rate_limit rules, breaker conditions and third_auth rules
//! (SPEC §2).
//!
//! An expression is a JSON string holding either a leaf `[param, op, value]` or a combination
//! `["AND" | "OR", expr, expr, ...]`, nestable:
//!
//! ```text
//! ["OR", ["reqPath", "~~", "/admin/*"], ["AND", ["method", "==", "POST"], ["$context.statusCode", ">=", "500"]]]
//! ```
//!
//! `param` is the `name` of one of the plug-in's `parameters` or a `$context.*` variable.
//! Operators: `==`, `~=` (not equal), `>`, `>=`, `<`, `<=` (numeric), `~~` (regex search),
//! `~*` (case-insensitive regex search), `in` (value is a comma-separated list).
//!
//! Everything that can fail fails in [`Expr::parse`]: regexes are compiled and numbers parsed
//! once, when the plug-in is created or updated, never per request.
//!
//! At evaluation, a parameter with no value on the request (a header that is absent, say)
//! makes every leaf false except `~=`, which is true: "no value" is not equal to any value.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

/// Deepest nesting of AND/OR accepted.
pub const MAX_DEPTH: usize = 8;
/// Most leaves in one expression.
pub const MAX_LEAVES: usize = 200;
/// Largest compiled regex, in bytes (guards against expressions that explode when compiled).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Regex,
    RegexCi,
    In,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "==" => Op::Eq,
            "~=" => Op::Ne,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            "~~" => Op::Regex,
            "~*" => Op::RegexCi,
            "in" => Op::In,
            _ => return None,
        })
    }
}

/// The right-hand side of a leaf, prepared for fast evaluation.
#[derive(Debug, Clone)]
enum Operand {
    Text(String),
    Number(f64),
    Pattern(Regex),
    List(Vec<String>),
}

/// One comparison `[param, op, value]`.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The parameter name or `$context.*` variable read from the request.
    pub param: String,
    pub op: Op,
    operand: Operand,
}

/// A parsed, checked expression.
#[derive(Debug, Clone)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Leaf(Leaf),
}

impl Expr {
    /// Parses the JSON text `src`. `known(param)` says whether a parameter name may be used
    /// (the plug-in's declared `parameters` and the `$context` variables it supports).
    pub fn parse(src: &str, known: &dyn Fn(&str) -> bool) -> Result<Expr, String> {
        let value: Value =
            serde_json::from_str(src).map_err(|e| format!("not a JSON expression: {e}"))?;
        let mut leaves = 0;
        Self::from_value(&value, known, 0, &mut leaves)
    }

    fn from_value(
        v: &Value,
        known: &dyn Fn(&str) -> bool,
        depth: usize,
        leaves: &mut usize,
    ) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let items = v.as_array().ok_or("each expression must be a JSON array")?;
        let head = items
            .first()
            .and_then(Value::as_str)
            .ok_or("an expression starts with a string")?;
        if head == "AND" || head == "OR" {
            if items.len() < 2 {
                return Err(format!("{head} needs at least one operand"));
            }
            let parts = items[1..]
                .iter()
                .map(|e| Self::from_value(e, known, depth + 1, leaves))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if head == "AND" {
                Expr::And(parts)
            } else {
                Expr::Or(parts)
            });
        }
        *leaves += 1;
        if *leaves > MAX_LEAVES {
            return Err(format!("more than {MAX_LEAVES} comparisons"));
        }
        if items.len() != 3 {
            return Err("a comparison is [param, operator, value]".into());
        }
        let param = head.to_string();
        if !known(&param) {
            return Err(format!("unknown parameter '{param}'"));
        }
        let op_s = items[1].as_str().ok_or("the operator must be a string")?;
        let op = Op::parse(op_s).ok_or_else(|| format!("unknown operator '{op_s}'"))?;
        let value = match &items[2] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err("the value must be a string or a number".into()),
        };
        let operand = match op {
            Op::Eq | Op::Ne => Operand::Text(value),
            Op::Gt | Op::Ge | Op::Lt | Op::Le => Operand::Number(
                value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| format!("operator '{op_s}' needs a number, got '{value}'"))?,
            ),
            Op::Regex | Op::RegexCi => Operand::Pattern(
                RegexBuilder::new(&value)
                    .case_insensitive(op == Op::RegexCi)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("invalid regex '{value}': {e}"))?,
            ),
            Op::In => Operand::List(value.split(',').map(|s| s.trim().to_string()).collect()),
        };
        Ok(Expr::Leaf(Leaf { param, op, operand }))
    }

    /// Evaluates the expression; `get(param)` returns the request's value of a parameter.
    pub fn eval(&self, get: &mut dyn FnMut(&str) -> Option<String>) -> bool {
        match self {
            Expr::And(parts) => parts.iter().all(|p| p.eval(get)),
            Expr::Or(parts) => parts.iter().any(|p| p.eval(get)),
            Expr::Leaf(leaf) => leaf.eval(get(&leaf.param).as_deref()),
        }
    }

    /// Every parameter name the expression reads.
    pub fn params(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_params(&mut out);
        out
    }

    fn collect_params<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::And(p) | Expr::Or(p) => p.iter().for_each(|e| e.collect_params(out)),
            Expr::Leaf(l) => out.push(&l.param),
        }
    }
}

impl Leaf {
    fn eval(&self, actual: Option<&str>) -> bool {
        let Some(actual) = actual else {
            return self.op == Op::Ne;
        };
        match (&self.operand, self.op) {
            (Operand::Text(v), Op::Eq) => actual == v,
            (Operand::Text(v), _) => actual != v,
            (Operand::Number(v), op) => match actual.trim().parse::<f64>() {
                Ok(a) => match op {
                    Op::Gt => a > *v,
                    Op::Ge => a >= *v,
                    Op::Lt => a < *v,
                    _ => a <= *v,
                },
                Err(_) => false,
            },
            (Operand::Pattern(re), _) => re.is_match(actual),
            (Operand::List(items), _) => items.iter().any(|i| i == actual),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn any(_: &str) -> bool {
        true
    }

    fn eval(src: &str, vars: &[(&str, &str)]) -> bool {
        let map: HashMap<_, _> = vars.iter().cloned().collect();
        Expr::parse(src, &any)
            .unwrap()
            .eval(&mut |p| map.get(p).map(|s| s.to_string()))
    }

    #[test]
    fn each_operator_compares_as_documented() {
        let v = [("p", "/admin/x"), ("s", "503"), ("m", "POST")];
        assert!(eval(r#"["p","==","/admin/x"]"#, &v));
        assert!(!eval(r#"["p","==","/admin"]"#, &v));
        assert!(eval(r#"["p","~=","/admin"]"#, &v));
        assert!(eval(r#"["s",">","500"]"#, &v));
        assert!(!eval(r#"["s",">","503"]"#, &v));
        assert!(eval(r#"["s",">=","503"]"#, &v));
        assert!(eval(r#"["s","<","600"]"#, &v));
        assert!(eval(r#"["s","<=",503]"#, &v));
        assert!(eval(r#"["p","~~","^/admin/"]"#, &v));
        assert!(!eval(r#"["p","~~","^/ADMIN/"]"#, &v));
        assert!(eval(r#"["p","~*","^/ADMIN/"]"#, &v));
        assert!(eval(r#"["m","in","GET, POST"]"#, &v));
        assert!(!eval(r#"["m","in","GET,PUT"]"#, &v));
    }

    #[test]
    fn and_or_nest() {
        let v = [("a", "1"), ("b", "2")];
        assert!(eval(
            r#"["OR",["a","==","9"],["AND",["a","==","1"],["b","==","2"]]]"#,
            &v
        ));
        assert!(!eval(r#"["AND",["a","==","1"],["b","==","3"]]"#, &v));
    }

    #[test]
    fn a_missing_value_only_satisfies_not_equal() {
        assert!(!eval(r#"["h","==",""]"#, &[]));
        assert!(eval(r#"["h","~=","x"]"#, &[]));
        assert!(!eval(r#"["h","~~",".*"]"#, &[]));
    }

    #[test]
    fn numeric_operators_are_false_on_non_numbers() {
        assert!(!eval(r#"["s",">","1"]"#, &[("s", "abc")]));
    }

    #[test]
    fn invalid_expressions_are_rejected_at_parse_time() {
        for bad in [
            "",
            "not json",
            "{}",
            "[]",
            r#"["AND"]"#,
            r#"["p","=","x"]"#,
            r#"["p","==","x","y"]"#,
            r#"["p",">","abc"]"#,
            r#"["p","~~","(unclosed"]"#,
            r#"["p","==",{}]"#,
            r#"[1,"==","x"]"#,
        ] {
            assert!(Expr::parse(bad, &any).is_err(), "{bad}");
        }
        let only_p = |p: &str| p == "p";
        assert!(Expr::parse(r#"["q","==","x"]"#, &only_p)
            .unwrap_err()
            .contains("'q'"));
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let mut src = r#"["p","==","x"]"#.to_string();
        for _ in 0..=MAX_DEPTH {
            src = format!(r#"["AND",{src}]"#);
        }
        assert!(Expr::parse(&src, &any).unwrap_err().contains("deeper"));
    }

    #[test]
    fn the_seed_third_auth_rule_parses() {
        let src = r#"["OR", ["reqPath", "~~", "/xxl-job-admin/*"], ["reqPath", "==", "/mp/vehicle/owner/home"]]"#;
        let e = Expr::parse(src, &|p| p == "reqPath").unwrap();
        assert_eq!(e.params(), vec!["reqPath", "reqPath"]);
        assert!(e.eval(&mut |_| Some("/mp/vehicle/owner/home".into())));
    }
}
