//! Strict key matching (compat spec §3.3): the record's keys plus the optional keys must equal
//! the schema's keys; nested schemas must match exactly, recursively.

use serde_json::{Map, Value};

use super::coerce::is_coercible;
use super::{FieldType, Schema};
use crate::fxhash::KeySet;

/// Whether `record` passes the key check of §3.3 (steps 1 and 2). An empty schema accepts any
/// object. `optional` must be a subset of the schema's keys.
pub fn keys_match(record: &Value, schema: &Schema, optional: &KeySet) -> bool {
    let Value::Object(map) = record else {
        return false;
    };
    schema.is_empty() || single_pass(map, schema, optional, false)
}

/// §3.3 steps 1–3 in one pass over the record: the key check, nested key checks and the
/// coercion dry run. `optional` must be a subset of the schema's keys.
pub fn record_matches(record: &Value, schema: &Schema, optional: &KeySet) -> bool {
    let Value::Object(map) = record else {
        return false;
    };
    schema.is_empty() || single_pass(map, schema, optional, true)
}

fn single_pass(map: &Map<String, Value>, schema: &Schema, optional: &KeySet, coerce: bool) -> bool {
    if map.len() > schema.len() || map.len() + optional.len() < schema.len() {
        return false;
    }
    let mut required_present = 0;
    for (key, value) in map {
        let Some(ty) = schema.get(key) else {
            return false;
        };
        if !optional.contains(key) {
            required_present += 1;
        }
        let nested_ok = match ty {
            FieldType::Nested(nested) => {
                matches!(value, Value::Object(sub) if exact_keys(sub, nested))
            }
            _ => true,
        };
        if !nested_ok || (coerce && !is_coercible(value, ty)) {
            return false;
        }
    }
    if required_present != schema.len() - optional.len() {
        return false;
    }
    // An absent optional key with a nested schema counts as `{}` and fails (Appendix D #4).
    map.len() == schema.len()
        || optional.iter().all(|k| {
            map.contains_key(k)
                || !matches!(schema.get(k), Some(FieldType::Nested(n)) if !n.is_empty())
        })
}

/// Step 2 of §3.3 alone: every non-empty nested schema matches its value exactly, an absent
/// value counting as `{}` (so an absent optional nested key fails: Appendix D #4).
pub fn nested_keys_match(map: &Map<String, Value>, schema: &Schema) -> bool {
    schema.iter().all(|(key, ty)| match ty {
        FieldType::Nested(nested) => match map.get(key) {
            Some(Value::Object(sub)) => exact_keys(sub, nested),
            Some(_) => false,
            None => nested.is_empty(),
        },
        _ => true,
    })
}

fn exact_keys(map: &Map<String, Value>, schema: &Schema) -> bool {
    map.len() == schema.len()
        && map.keys().all(|k| schema.contains(k))
        && nested_keys_match(map, schema)
}

/// Why `record` fails the key check, e.g. `missing key eventID; extra key foo`, or `None` if it
/// passes.
pub fn key_mismatch(record: &Value, schema: &Schema, optional: &KeySet) -> Option<String> {
    let Value::Object(map) = record else {
        return Some(format!(
            "not a JSON object ({})",
            crate::error::describe(record)
        ));
    };
    if schema.is_empty() {
        return None;
    }
    mismatch_in(map, schema, optional, "")
}

fn mismatch_in(
    map: &Map<String, Value>,
    schema: &Schema,
    optional: &KeySet,
    prefix: &str,
) -> Option<String> {
    let missing: Vec<&str> = schema
        .keys()
        .filter(|k| !map.contains_key(*k) && !optional.contains(*k))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = map
        .keys()
        .filter(|k| !schema.contains(k))
        .map(String::as_str)
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "missing {} {prefix}{}",
            plural("key", missing.len()),
            join_limited(&missing, prefix)
        ));
    }
    if !extra.is_empty() {
        parts.push(format!(
            "extra {} {prefix}{}",
            plural("key", extra.len()),
            join_limited(&extra, prefix)
        ));
    }
    if !parts.is_empty() {
        return Some(parts.join("; "));
    }
    for (key, ty) in schema.iter() {
        if let FieldType::Nested(nested) = ty {
            let path = format!("{prefix}{key}.");
            match map.get(key) {
                Some(Value::Object(sub)) => {
                    if let Some(reason) = mismatch_in(sub, nested, &KeySet::default(), &path) {
                        return Some(reason);
                    }
                }
                Some(other) => {
                    return Some(format!(
                        "key {prefix}{key} is {} but the schema nests keys under it",
                        crate::error::describe(other)
                    ));
                }
                None => {
                    return Some(format!(
                        "optional key {prefix}{key} is absent but has a nested schema (treated as {{}})"
                    ));
                }
            }
        }
    }
    None
}

fn plural(word: &str, n: usize) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

fn join_limited(keys: &[&str], prefix: &str) -> String {
    const SHOWN: usize = 5;
    let mut text = keys
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(&format!(", {prefix}"));
    if keys.len() > SHOWN {
        text.push_str(&format!(" (+{} more)", keys.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        Schema::from_map(v.as_object().unwrap())
    }

    fn optional(keys: &[&str]) -> KeySet {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn exact_key_set_with_optional_keys() {
        // §3.3 step 1: every non-optional key present, no extra keys, optional may be absent.
        let s =
            schema(json!({"account": "string", "detail": {}, "resources": [], "time": "string"}));
        let opt = optional(&["resources"]);
        assert!(keys_match(
            &json!({"account": "1", "detail": {}, "time": "t"}),
            &s,
            &opt
        ));
        assert!(keys_match(
            &json!({"account": "1", "detail": {}, "time": "t", "resources": []}),
            &s,
            &opt
        ));
        assert!(!keys_match(
            &json!({"account": "1", "detail": {}}),
            &s,
            &opt
        ));
        assert!(!keys_match(
            &json!({"account": "1", "detail": {}, "time": "t", "foo": 1}),
            &s,
            &opt
        ));
        assert!(!keys_match(&json!(["account"]), &s, &opt));
        assert_eq!(
            key_mismatch(&json!({"account": "1", "detail": {}, "foo": 1}), &s, &opt).unwrap(),
            "missing key time; extra key foo"
        );
    }

    #[test]
    fn nested_schemas_match_exactly() {
        // §3.3 step 2: nested key set must equal exactly, recursively; `null` fails.
        let s = schema(json!({"user": {"name": "string", "id": {"n": "integer"}}}));
        let none = optional(&[]);
        assert!(keys_match(
            &json!({"user": {"name": "a", "id": {"n": 1}}}),
            &s,
            &none
        ));
        assert!(!keys_match(&json!({"user": {"name": "a"}}), &s, &none));
        assert!(!keys_match(
            &json!({"user": {"name": "a", "id": {"n": 1, "m": 2}}}),
            &s,
            &none
        ));
        assert!(!keys_match(&json!({"user": null}), &s, &none));
        assert_eq!(
            key_mismatch(&json!({"user": {"name": "a", "id": {"m": 2}}}), &s, &none).unwrap(),
            "missing key user.id.n; extra key user.id.m"
        );
    }

    #[test]
    fn absent_optional_nested_key_fails() {
        // §3.3 [QUIRK] (Appendix D #4): the absent value is treated as {} and compared.
        let s = schema(json!({"a": "string", "n": {"x": "string"}}));
        let opt = optional(&["n"]);
        assert!(!keys_match(&json!({"a": "1"}), &s, &opt));
        assert!(
            key_mismatch(&json!({"a": "1"}), &s, &opt)
                .unwrap()
                .contains("optional key n is absent")
        );
    }

    #[test]
    fn empty_schema_accepts_any_object() {
        assert!(keys_match(
            &json!({"anything": 1}),
            &Schema::default(),
            &optional(&[])
        ));
    }
}
