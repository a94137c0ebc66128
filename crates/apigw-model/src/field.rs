//! Field-level validation errors. Every validator in apigw returns all the problems it finds,
//! each naming the offending field with a JSON-path-like name (`plugin_content.max_age`,
//! `response_headers[2].name`), so a client can fix a request in one round trip.

use std::fmt;

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name, dotted for nested fields, with `[i]` for array elements.
    pub field: String,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, with `prefix.` put before the field name.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Collects field errors while a validator walks a structure.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError::new(field, reason));
    }

    /// Adds an error unless `ok`.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, reason: impl Into<String>) {
        if !ok {
            self.add(field, reason);
        }
    }

    /// Checks that the character count of `value` is within `min..=max`.
    pub fn len(&mut self, value: &str, min: usize, max: usize, field: &str) {
        let n = value.chars().count();
        self.check(
            (min..=max).contains(&n),
            field,
            format!("length must be between {min} and {max} characters"),
        );
    }

    /// Checks that `value` is within `min..=max`.
    pub fn range<T: PartialOrd + fmt::Display>(&mut self, value: T, min: T, max: T, field: &str) {
        let ok = value >= min && value <= max;
        self.check(ok, field, format!("must be between {min} and {max}"));
    }

    /// Adds `errs`, each prefixed with `prefix`.
    pub fn extend_within(&mut self, prefix: &str, errs: Vec<FieldError>) {
        self.0.extend(errs.into_iter().map(|e| e.within(prefix)));
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}
