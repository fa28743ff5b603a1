//! conf/outputs.json (docs/spec §12.2): service → descriptors, as a list, or as a map descriptor →
//! resource for the services that address an AWS resource (or a file).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::OutputName;
use crate::service::{KNOWN_SERVICES, ResourceShape, resource_shape};

/// The configured outputs. Descriptors map to their resource (`None` for list-shaped services).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputsConfig {
    services: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputsConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: line {line}, column {column}: invalid JSON: {reason}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{file}: {path}: {reason}")]
    Invalid {
        file: String,
        path: String,
        reason: String,
    },
}

impl OutputsConfig {
    /// Reads and validates a conf/outputs.json file.
    pub fn load(path: impl AsRef<Path>) -> Result<OutputsConfig, OutputsConfigError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| OutputsConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| OutputsConfigError::Json {
            file: file.clone(),
            line: e.line(),
            column: e.column(),
            reason: e.to_string(),
        })?;
        OutputsConfig::from_value(&value, &file)
    }

    /// Validates an already parsed outputs.json; `file` names it in errors.
    pub fn from_value(value: &Value, file: &str) -> Result<OutputsConfig, OutputsConfigError> {
        let invalid = |path: String, reason: String| OutputsConfigError::Invalid {
            file: file.to_string(),
            path,
            reason,
        };
        let Value::Object(root) = value else {
            return Err(invalid(
                "$".into(),
                format!(
                    "must be an object of service → descriptors, found {}",
                    kind(value)
                ),
            ));
        };
        let mut config = OutputsConfig::default();
        for (service, entries) in root {
            let path = format!("$.{service}");
            let Some(shape) = resource_shape(service) else {
                return Err(invalid(
                    path,
                    format!(
                        "unknown output service {service:?}; known services: {}",
                        KNOWN_SERVICES.join(", ")
                    ),
                ));
            };
            let descriptors = parse_entries(service, shape, entries, &path)
                .map_err(|(path, reason)| invalid(path, reason))?;
            config.services.insert(service.clone(), descriptors);
        }
        Ok(config)
    }

    pub fn contains(&self, output: &OutputName) -> bool {
        self.services
            .get(output.service())
            .is_some_and(|d| d.contains_key(output.descriptor()))
    }

    /// The outputs.json value of a map-shaped output (queue, bucket, path...).
    pub fn resource(&self, output: &OutputName) -> Option<&str> {
        self.services
            .get(output.service())?
            .get(output.descriptor())?
            .as_deref()
    }

    /// Every configured output, sorted by service then descriptor.
    pub fn outputs(&self) -> Vec<OutputName> {
        self.services
            .iter()
            .flat_map(|(service, descriptors)| {
                descriptors
                    .keys()
                    .filter_map(move |descriptor| OutputName::new(service, descriptor).ok())
            })
            .collect()
    }

    /// Adds (or replaces) an output, as `sactl outputs set` does before writing the file back.
    pub fn insert(
        &mut self,
        output: &OutputName,
        resource: Option<String>,
    ) -> Result<(), OutputsConfigError> {
        let invalid = |reason: String| OutputsConfigError::Invalid {
            file: "outputs.json".into(),
            path: format!("$.{}.{}", output.service(), output.descriptor()),
            reason,
        };
        let shape = resource_shape(output.service()).ok_or_else(|| {
            invalid(format!(
                "unknown output service {:?}; known services: {}",
                output.service(),
                KNOWN_SERVICES.join(", ")
            ))
        })?;
        match (shape, &resource) {
            (ResourceShape::Required(what), None) => {
                return Err(invalid(format!(
                    "{} needs a resource: {what}",
                    output.service()
                )));
            }
            (ResourceShape::None, Some(_)) => {
                return Err(invalid(format!(
                    "{} takes no resource; its settings are credentials",
                    output.service()
                )));
            }
            _ => {}
        }
        self.services
            .entry(output.service().to_string())
            .or_default()
            .insert(output.descriptor().to_string(), resource);
        Ok(())
    }

    /// The StreamAlert-format JSON: a map for services with resources, a list otherwise.
    pub fn to_value(&self) -> Value {
        let mut root = Map::new();
        for (service, descriptors) in &self.services {
            let as_map = descriptors.values().any(Option::is_some);
            let entries = if as_map {
                Value::Object(
                    descriptors
                        .iter()
                        .map(|(d, r)| (d.clone(), Value::String(r.clone().unwrap_or_default())))
                        .collect(),
                )
            } else {
                Value::Array(descriptors.keys().cloned().map(Value::String).collect())
            };
            root.insert(service.clone(), entries);
        }
        Value::Object(root)
    }
}

type EntryError = (String, String);

fn parse_entries(
    service: &str,
    shape: ResourceShape,
    entries: &Value,
    path: &str,
) -> Result<BTreeMap<String, Option<String>>, EntryError> {
    let mut descriptors = BTreeMap::new();
    match (entries, shape) {
        (Value::Array(list), ResourceShape::None | ResourceShape::Optional(_)) => {
            for (index, item) in list.iter().enumerate() {
                let path = format!("{path}[{index}]");
                let Value::String(descriptor) = item else {
                    return Err((
                        path,
                        format!("a descriptor must be a string, found {}", kind(item)),
                    ));
                };
                check_descriptor(service, descriptor, &path)?;
                descriptors.insert(descriptor.clone(), None);
            }
        }
        (Value::Array(_), ResourceShape::Required(what)) => {
            return Err((
                path.to_string(),
                format!("{service} needs a map of descriptor → resource ({what}), found a list"),
            ));
        }
        (Value::Object(map), ResourceShape::Required(_) | ResourceShape::Optional(_)) => {
            for (descriptor, resource) in map {
                let path = format!("{path}.{descriptor}");
                check_descriptor(service, descriptor, &path)?;
                let Value::String(resource) = resource else {
                    return Err((
                        path,
                        format!("the resource must be a string, found {}", kind(resource)),
                    ));
                };
                if resource.is_empty() && matches!(shape, ResourceShape::Required(_)) {
                    return Err((path, "the resource is empty".into()));
                }
                let resource = (!resource.is_empty()).then(|| resource.clone());
                descriptors.insert(descriptor.clone(), resource);
            }
        }
        (Value::Object(_), ResourceShape::None) => {
            return Err((
                path.to_string(),
                format!(
                    "{service} takes a list of descriptors (its settings are credentials), found a map"
                ),
            ));
        }
        (other, _) => {
            return Err((
                path.to_string(),
                format!(
                    "must be a list of descriptors or a map of descriptor → resource, found {}",
                    kind(other)
                ),
            ));
        }
    }
    Ok(descriptors)
}

fn check_descriptor(service: &str, descriptor: &str, path: &str) -> Result<(), EntryError> {
    OutputName::new(service, descriptor)
        .map(|_| ())
        .map_err(|e| (path.to_string(), e.to_string()))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: Value) -> Result<OutputsConfig, OutputsConfigError> {
        OutputsConfig::from_value(&value, "conf/outputs.json")
    }

    #[test]
    fn reads_both_shapes() {
        let config = config(json!({
            "aws-sqs": {"soar": "soar-queue"},
            "aws-cloudwatch-log": ["default"],
            "slack": ["security", "team-platform"],
        }))
        .unwrap();
        let soar = OutputName::parse("aws-sqs:soar").unwrap();
        assert!(config.contains(&soar));
        assert_eq!(config.resource(&soar), Some("soar-queue"));
        assert!(config.contains(&OutputName::parse("slack:team-platform").unwrap()));
        assert!(!config.contains(&OutputName::parse("slack:other").unwrap()));
        assert_eq!(config.outputs().len(), 4);
        let round_trip = OutputsConfig::from_value(&config.to_value(), "x").unwrap();
        assert_eq!(round_trip, config);
    }

    #[test]
    fn unknown_service_names_the_known_ones() {
        let error = config(json!({"smtp": ["x"]})).unwrap_err().to_string();
        assert!(
            error.starts_with("conf/outputs.json: $.smtp: unknown output service"),
            "{error}"
        );
        assert!(
            error.contains("slack") && error.contains("aws-sqs"),
            "{error}"
        );
    }

    #[test]
    fn shape_errors_name_the_path_and_reason() {
        let error = config(json!({"aws-sqs": ["soar"]}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("$.aws-sqs") && error.contains("found a list"),
            "{error}"
        );
        let error = config(json!({"slack": ["ok", 3]})).unwrap_err().to_string();
        assert!(
            error.contains("$.slack[1]") && error.contains("a number"),
            "{error}"
        );
        let error = config(json!({"slack": ["a:b"]})).unwrap_err().to_string();
        assert!(error.contains("$.slack[0]"), "{error}");
        let error = config(json!({"aws-s3": {"bucket": ""}}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("$.aws-s3.bucket") && error.contains("empty"),
            "{error}"
        );
        let error = config(json!(["slack"])).unwrap_err().to_string();
        assert!(error.contains("$: must be an object"), "{error}");
    }

    #[test]
    fn load_reports_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outputs.json");
        std::fs::write(&path, "{\n  \"slack\": [\"a\",]\n}").unwrap();
        let error = OutputsConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("outputs.json: line 2"), "{error}");
    }

    #[test]
    fn insert_checks_the_resource_shape() {
        let mut config = OutputsConfig::default();
        let queue = OutputName::parse("aws-sqs:q").unwrap();
        assert!(config.insert(&queue, None).is_err());
        config.insert(&queue, Some("queue-name".into())).unwrap();
        let slack = OutputName::parse("slack:x").unwrap();
        assert!(config.insert(&slack, Some("x".into())).is_err());
        config.insert(&slack, None).unwrap();
        assert_eq!(
            config.to_value(),
            json!({"aws-sqs": {"q": "queue-name"}, "slack": ["x"]})
        );
    }
}
