//! Envelope keys (docs/spec §3.5): values taken from the outer document and attached to every
//! record extracted from it under `streamalert:envelope_keys`.

use serde_json::{Map, Value};

use crate::fxhash::KeySet;
use crate::parsers::Root;
use crate::schema::{FieldType, Schema, coerce_value, nested_keys_match};

pub const ENVELOPE_KEY: &str = "streamalert:envelope_keys";

/// Why a payload's envelope keys do not fit the log type's envelope schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope_keys need a JSON object payload")]
    NotAnObject,
    #[error("envelope key {0} is missing")]
    Missing(String),
    #[error("an envelope key's nested keys do not match its schema")]
    NestedKeys,
    #[error("envelope key {key} cannot be converted to {type_name}")]
    Conversion { key: String, type_name: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub schema: Schema,
    pub optional: KeySet,
}

impl Envelope {
    /// Steps 1–4 of docs/spec §3.5: a subset check on the root (extra keys are fine), strict nested keys,
    /// coercion, defaults for absent optional keys.
    pub fn extract(&self, root: &Root) -> Result<Map<String, Value>, EnvelopeError> {
        let Root::Json(Value::Object(doc)) = root else {
            return Err(EnvelopeError::NotAnObject);
        };
        if let Some(missing) = self
            .schema
            .keys()
            .find(|k| !doc.contains_key(*k) && !self.optional.contains(*k))
        {
            return Err(EnvelopeError::Missing(missing.clone()));
        }
        let mut envelope: Map<String, Value> = self
            .schema
            .keys()
            .filter_map(|k| doc.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        if !nested_keys_match(&envelope, &self.schema) {
            return Err(EnvelopeError::NestedKeys);
        }
        for (key, ty) in self.schema.iter() {
            if let Some(value) = envelope.get_mut(key)
                && !coerce_value(value, ty)
            {
                return Err(EnvelopeError::Conversion {
                    key: key.clone(),
                    type_name: ty.name(),
                });
            }
        }
        for key in &self.optional {
            if !envelope.contains_key(key) {
                let default = self
                    .schema
                    .get(key)
                    .map_or(Value::Null, FieldType::default_value);
                envelope.insert(key.clone(), default);
            }
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(schema: Value, optional: &[&str]) -> Envelope {
        Envelope {
            schema: Schema::from_map(schema.as_object().unwrap()),
            optional: optional.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn subset_check_coercion_and_defaults() {
        let e = envelope(
            json!({"logGroup": "string", "owner": "integer", "filters": []}),
            &["filters"],
        );
        let root = Root::Json(json!({"logGroup": "g", "owner": "1234", "logEvents": []}));
        assert_eq!(
            Value::Object(e.extract(&root).unwrap()),
            json!({"logGroup": "g", "owner": 1234, "filters": []})
        );
        assert_eq!(
            e.extract(&Root::Json(json!({"owner": "1"})))
                .unwrap_err()
                .to_string(),
            "envelope key logGroup is missing"
        );
        assert!(
            e.extract(&Root::Json(json!({"logGroup": "g", "owner": "x"})))
                .is_err()
        );
        assert!(e.extract(&Root::Text("x".into())).is_err());
    }
}
