//! Typed reads of JSON configuration values that record an error (file, JSON path, reason)
//! instead of failing, so one pass reports every problem.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{ConfigError, JsonPath, describe};

/// Where errors go while reading one file.
pub struct Reader<'a> {
    pub file: &'a Path,
    pub errors: &'a mut Vec<ConfigError>,
}

impl Reader<'_> {
    pub fn error(&mut self, path: &JsonPath, reason: impl Into<String>) {
        self.errors.push(ConfigError::new(self.file, path, reason));
    }

    fn expected(&mut self, path: &JsonPath, what: &str, got: &Value) {
        self.error(path, format!("expected {what}, got {}", describe(got)));
    }

    pub fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &JsonPath,
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.expected(path, "an object", other);
                None
            }
        }
    }

    pub fn string<'v>(&mut self, value: &'v Value, path: &JsonPath) -> Option<&'v str> {
        match value {
            Value::String(s) => Some(s),
            other => {
                self.expected(path, "a string", other);
                None
            }
        }
    }

    pub fn boolean(&mut self, value: &Value, path: &JsonPath) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            other => {
                self.expected(path, "true or false", other);
                None
            }
        }
    }

    pub fn non_negative_integer(&mut self, value: &Value, path: &JsonPath) -> Option<u64> {
        match value.as_u64() {
            Some(n) => Some(n),
            None => {
                self.expected(path, "a non-negative integer", value);
                None
            }
        }
    }

    pub fn string_list(&mut self, value: &Value, path: &JsonPath) -> Option<Vec<String>> {
        let Value::Array(items) = value else {
            self.expected(path, "a list of strings", value);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(self.string(item, &path.index(i))?.to_string());
        }
        Some(out)
    }

    /// A one-character string (Python's csv module rejects anything else).
    pub fn single_char(&mut self, value: &Value, path: &JsonPath) -> Option<char> {
        let s = self.string(value, path)?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Some(c),
            _ => {
                self.expected(path, "a one-character string", value);
                None
            }
        }
    }
}
