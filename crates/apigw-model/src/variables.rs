//! Environment variables (SPEC §9): per API group and environment, a `#Name#` in a backend's
//! `url_domain` or `req_uri` takes the value of the environment a call is served in.

use crate::field::Errors;

/// An environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVariable {
    pub id: String,
    pub instance_id: String,
    /// The group whose APIs see it.
    pub group_id: String,
    /// The environment it has this value in.
    pub env_id: String,
    /// 3–32 characters, a letter first, then letters, digits, `-` and `_`; case-sensitive and
    /// unique per group and environment (APIG.3303).
    pub name: String,
    /// 1–255 letters, digits and `_-/.:`.
    pub value: String,
    pub create_time: i64,
}

/// Most variables one group may have in one environment (APIG.3106).
pub const MAX_PER_GROUP_AND_ENV: u64 = 50;

/// Checks a variable's name.
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    errs.check(
        is_name(name),
        field,
        "3 to 32 characters: a letter first, then letters, digits, '-' and '_'",
    );
}

/// Checks a variable's value.
pub fn check_value(errs: &mut Errors, value: &str, field: &str) {
    let n = value.chars().count();
    errs.check(
        (1..=255).contains(&n)
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-/.:".contains(c)),
        field,
        "1 to 255 characters: letters, digits and '_-/.:'",
    );
}

fn is_name(s: &str) -> bool {
    (3..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The variables `text` refers to (`#Name#`), in order, each once.
pub fn references(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('#') {
        let after = &rest[start + 1..];
        match after.find('#') {
            Some(end) if is_name(&after[..end]) => {
                if !out.contains(&&after[..end]) {
                    out.push(&after[..end]);
                }
                rest = &after[end + 1..];
            }
            // Not a reference: the second `#` may open one.
            Some(end) => rest = &after[end..],
            None => break,
        }
    }
    out
}

/// `text` with each `#Name#` replaced by `value(Name)`; `Err(name)` for the first without one.
pub fn substitute<'v>(
    text: &str,
    value: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, String> {
    let mut out = text.to_string();
    for name in references(text) {
        let v = value(name).ok_or_else(|| name.to_string())?;
        out = out.replace(&format!("#{name}#"), v);
    }
    Ok(out)
}

/// `text` with every `#Name#` replaced by a harmless stand-in, for checking a backend address
/// or path whose variables are only known per environment.
pub fn stand_in(text: &str) -> String {
    substitute(text, |_| Some("var")).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_names_between_number_signs() {
        assert_eq!(references("#host#:#port_1#/x"), ["host", "port_1"]);
        assert_eq!(references("/a/#ver#/#ver#"), ["ver"]);
        assert_eq!(references("#a#"), Vec::<&str>::new(), "too short");
        assert_eq!(references("x#1ab#y#host#"), ["host"], "a letter first");
        assert_eq!(references("no # here"), Vec::<&str>::new());
    }

    #[test]
    fn substitution_fills_each_reference_or_names_the_missing_one() {
        let v = |n: &str| (n == "host").then_some("10.0.0.1:80");
        assert_eq!(substitute("#host#", v).unwrap(), "10.0.0.1:80");
        assert_eq!(substitute("#host#/#ver#", v).unwrap_err(), "ver");
        assert_eq!(stand_in("#host#:8080"), "var:8080");
    }

    #[test]
    fn names_and_values_follow_apig_rules() {
        let mut e = Errors::default();
        for ok in ["abc", "A_b-1", &"a".repeat(32)] {
            check_name(&mut e, ok, "variable_name");
        }
        check_value(&mut e, "192.168.1.5:80/x_y-z", "variable_value");
        assert!(e.0.is_empty(), "{:?}", e.0);
        for bad in ["ab", "1abc", "a b c", &"a".repeat(33)] {
            check_name(&mut e, bad, "variable_name");
        }
        for bad in ["", "a b", "a#b", &"a".repeat(256)] {
            check_value(&mut e, bad, "variable_value");
        }
        assert_eq!(e.0.len(), 8);
    }
}
