//! Log schemas: field types, strict key matching and coercion (docs/spec §3.1–§3.4).

mod coerce;
mod keys;

pub use coerce::{
    coerce_record, coerce_value, coercion_failure, is_coercible, missing_optional_after_coercion,
    record_is_coercible,
};
pub use keys::{key_mismatch, keys_match, nested_keys_match, record_matches};

use std::sync::atomic::{AtomicU32, Ordering};

use crate::fxhash::FxIndexMap;
use serde_json::{Map, Value};

/// The declared type of one schema field (docs/spec §3.2).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    String,
    Integer,
    Float,
    Boolean,
    /// `{}`: any value, unchecked.
    Any,
    /// `[]` (or any array): the value must be a list; elements unchecked.
    List,
    /// A non-empty object: a nested schema with an exact key set.
    Nested(Schema),
    /// Any other type name or value (`"str"`, `3`): invalid for truthy values.
    Unknown(Value),
}

impl FieldType {
    /// Reads a schema type as StreamAlert interprets it; never fails (an unknown type only
    /// fails the records that carry a truthy value for it).
    pub fn from_json(value: &Value) -> FieldType {
        match value {
            Value::String(s) => match s.as_str() {
                "string" => FieldType::String,
                "integer" => FieldType::Integer,
                "float" => FieldType::Float,
                "boolean" => FieldType::Boolean,
                _ => FieldType::Unknown(value.clone()),
            },
            Value::Object(map) if map.is_empty() => FieldType::Any,
            Value::Object(map) => FieldType::Nested(Schema::from_map(map)),
            Value::Array(_) => FieldType::List,
            other => FieldType::Unknown(other.clone()),
        }
    }

    /// The default for an absent optional key (docs/spec §3.4). StreamAlert raises for an unknown type
    /// name; sa uses `null` (docs/compat.md).
    pub fn default_value(&self) -> Value {
        match self {
            FieldType::String => Value::String(String::new()),
            FieldType::Integer => Value::from(0),
            FieldType::Float => Value::from(0.0),
            FieldType::Boolean => Value::Bool(false),
            FieldType::Any | FieldType::Nested(_) => Value::Object(Map::new()),
            FieldType::List => Value::Array(Vec::new()),
            FieldType::Unknown(_) => Value::Null,
        }
    }

    pub fn name(&self) -> String {
        match self {
            FieldType::String => "string".into(),
            FieldType::Integer => "integer".into(),
            FieldType::Float => "float".into(),
            FieldType::Boolean => "boolean".into(),
            FieldType::Any => "{}".into(),
            FieldType::List => "[]".into(),
            FieldType::Nested(_) => "a nested object".into(),
            FieldType::Unknown(v) => format!("unknown type {v}"),
        }
    }
}

/// An ordered mapping field name → type. Order is the schema file's order: it is the column
/// order for csv and the rename order for duplicate kv keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    fields: FxIndexMap<String, FieldType>,
    /// Per field: listed in `optional_top_level_keys` (only ever set on a log type's top level).
    optional: Vec<bool>,
    optional_count: usize,
    hints: PositionHints,
}

impl Schema {
    pub fn from_map(map: &Map<String, Value>) -> Schema {
        let fields: FxIndexMap<String, FieldType> = map
            .iter()
            .map(|(k, v)| (k.clone(), FieldType::from_json(v)))
            .collect();
        let optional = vec![false; fields.len()];
        Schema {
            hints: PositionHints::new(fields.len()),
            fields,
            optional,
            optional_count: 0,
        }
    }

    /// Marks `keys` as optional (docs/spec §3.3); keys that are not schema keys are ignored (the caller
    /// reports them).
    pub fn with_optional<'k>(mut self, keys: impl IntoIterator<Item = &'k String>) -> Schema {
        for key in keys {
            if let Some(i) = self.fields.get_index_of(key.as_str())
                && !self.optional[i]
            {
                self.optional[i] = true;
                self.optional_count += 1;
            }
        }
        self
    }

    /// Position, type and optionality of `key`.
    pub fn lookup(&self, key: &str) -> Option<(usize, &FieldType, bool)> {
        let (i, _, ty) = self.fields.get_full(key)?;
        Some((i, ty, self.optional[i]))
    }

    /// [`Schema::lookup`] of the key at `position` in a record. Records of one source keep
    /// their keys in one order, so the field found at each position last time is tried first:
    /// a string comparison instead of hashing the key and probing the table.
    pub fn lookup_at(&self, position: usize, key: &str) -> Option<(usize, &FieldType, bool)> {
        if let Some(guess) = self.hints.get(position)
            && let Some((name, ty)) = self.fields.get_index(guess)
            && name == key
        {
            return Some((guess, ty, self.optional[guess]));
        }
        let found = self.lookup(key)?;
        self.hints.set(position, found.0);
        Some(found)
    }

    pub fn is_optional(&self, key: &str) -> bool {
        self.lookup(key).is_some_and(|(_, _, optional)| optional)
    }

    pub fn optional_count(&self) -> usize {
        self.optional_count
    }

    /// Field `i` in schema order: name, type, optional.
    pub fn field_at(&self, i: usize) -> Option<(&String, &FieldType, bool)> {
        self.fields
            .get_index(i)
            .map(|(k, t)| (k, t, self.optional[i]))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&FieldType> {
        self.fields.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &FieldType)> {
        self.fields.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.fields.keys()
    }

    /// A record with every key set to its type default (docs/spec §3.4): the base of a test event's
    /// `override_record` (docs/spec §15.3).
    pub fn default_record(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .map(|(k, t)| (k.clone(), t.default_value()))
            .collect()
    }
}

/// Per record position, the field found there last (a guess: any thread may overwrite it, and
/// every use checks it). Clones start from the same guesses; equality ignores them.
struct PositionHints(Box<[AtomicU32]>);

impl PositionHints {
    fn new(len: usize) -> Self {
        PositionHints((0..len).map(|_| AtomicU32::new(u32::MAX)).collect())
    }

    fn get(&self, position: usize) -> Option<usize> {
        let guess = self.0.get(position)?.load(Ordering::Relaxed);
        usize::try_from(guess).ok().filter(|_| guess != u32::MAX)
    }

    fn set(&self, position: usize, field: usize) {
        if let (Some(hint), Ok(field)) = (self.0.get(position), u32::try_from(field)) {
            hint.store(field, Ordering::Relaxed);
        }
    }
}

impl Default for PositionHints {
    fn default() -> Self {
        PositionHints::new(0)
    }
}

impl Clone for PositionHints {
    fn clone(&self) -> Self {
        PositionHints(
            self.0
                .iter()
                .map(|hint| AtomicU32::new(hint.load(Ordering::Relaxed)))
                .collect(),
        )
    }
}

impl PartialEq for PositionHints {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for PositionHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PositionHints")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_by_position_find_the_field_whatever_the_record_order() {
        let schema = Schema::from_map(
            json!({"a": "string", "b": "integer", "c": {}})
                .as_object()
                .unwrap(),
        )
        .with_optional([&"c".to_string()]);
        for order in [
            ["a", "b", "c"],
            ["c", "a", "b"],
            ["c", "a", "b"],
            ["b", "c", "a"],
        ] {
            for (position, key) in order.iter().enumerate() {
                let found = schema
                    .lookup_at(position, key)
                    .map(|(i, ty, optional)| (i, ty.clone(), optional));
                let expected = schema
                    .lookup(key)
                    .map(|(i, ty, optional)| (i, ty.clone(), optional));
                assert_eq!(found, expected, "{key} at {position} of {order:?}");
            }
        }
        assert!(schema.lookup_at(0, "zzz").is_none());
        assert!(
            schema.lookup_at(7, "a").is_some(),
            "beyond the hints: plain lookup"
        );
        assert_eq!(schema.clone(), schema, "hints do not take part in equality");
    }

    #[test]
    fn defaults_per_type() {
        // docs/spec §3.4: string→"", integer→0, float→0.0, boolean→false, {} or nested→{}, []→[].
        let schema = Schema::from_map(
            json!({"s": "string", "i": "integer", "f": "float", "b": "boolean", "a": {}, "n": {"x": "string"}, "l": [], "u": "str"})
                .as_object()
                .unwrap(),
        );
        assert_eq!(
            Value::Object(schema.default_record()),
            json!({"s": "", "i": 0, "f": 0.0, "b": false, "a": {}, "n": {}, "l": [], "u": null})
        );
    }
}
