//! Configuration errors: every one names the file, the JSON path inside it and the reason.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position inside a JSON document, displayed as `$.key[3].other` (keys that contain
/// separators are quoted: `$["a.b"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonPath(String);

impl JsonPath {
    pub fn root() -> JsonPath {
        JsonPath(String::new())
    }

    pub fn key(&self, key: &str) -> JsonPath {
        let plain = !key.is_empty()
            && !key
                .chars()
                .any(|c| matches!(c, '.' | '[' | ']' | '"' | '\\') || c.is_whitespace());
        if plain {
            JsonPath(format!("{}.{key}", self.0))
        } else {
            JsonPath(format!("{}[{}]", self.0, serde_json::Value::from(key)))
        }
    }

    pub fn index(&self, index: usize) -> JsonPath {
        JsonPath(format!("{}[{index}]", self.0))
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}

/// One problem in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub path: JsonPath,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &Path, path: &JsonPath, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            path: path.clone(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.path, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading a configuration directory (loading does not stop at the
/// first one, so a user sees them all at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A short description of a JSON value for error messages: `"x"`, `12`, `an object`.
pub fn describe(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(_) => "an object".into(),
        serde_json::Value::Array(_) => "an array".into(),
        other => {
            let text = other.to_string();
            if text.chars().count() > 60 {
                format!("{}…", text.chars().take(60).collect::<String>())
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_file_path_and_reason() {
        let path = JsonPath::root()
            .key("cloudtrail:events")
            .key("configuration")
            .key("priority");
        let error = ConfigError::new(
            Path::new("conf/schemas/aws.json"),
            &path,
            "expected a non-negative integer, got \"x\"",
        );
        assert_eq!(
            error.to_string(),
            r#"conf/schemas/aws.json: $.cloudtrail:events.configuration.priority: expected a non-negative integer, got "x""#
        );
    }

    #[test]
    fn quotes_keys_with_separators_and_shows_indices() {
        let path = JsonPath::root()
            .key("carbonblack:alert.status.updated")
            .key("schema")
            .index(2);
        assert_eq!(
            path.to_string(),
            r#"$["carbonblack:alert.status.updated"].schema[2]"#
        );
    }
}
