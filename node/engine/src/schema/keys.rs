//! Strict key matching (docs/spec §3.3): the record's keys plus the optional keys must equal
//! the schema's keys; nested schemas must match exactly, recursively.

use serde_json::{Map, Value};

use super::coerce::is_coercible;
use super::{FieldType, Schema};

/// Whether `record` passes the key check of docs/spec §3.3 (steps 1 and 2), with the schema's optional
/// keys. An empty schema accepts any object.
pub fn keys_match(record: &Value, schema: &Schema) -> bool {
    let Value::Object(map) = record else {
        return false;
    };
    schema.is_empty() || single_pass(map, schema, false)
}

/// docs/spec §3.3 steps 1–3 in one pass over the record: the key check, nested key checks and the
/// coercion dry run.
pub fn record_matches(record: &Value, schema: &Schema) -> bool {
    let Value::Object(map) = record else {
        return false;
    };
    schema.is_empty() || single_pass(map, schema, true)
}

fn single_pass(map: &Map<String, Value>, schema: &Schema, coerce: bool) -> bool {
    let optional_count = schema.optional_count();
    if map.len() > schema.len() || map.len() + optional_count < schema.len() {
        return false;
    }
    let mut required_present = 0;
    for (position, (key, value)) in map.iter().enumerate() {
        let Some((_, ty, optional)) = schema.lookup_at(position, key) else {
            return false;
        };
        required_present += usize::from(!optional);
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
    if required_present != schema.len() - optional_count {
        return false;
    }
    // An absent optional key with a nested schema counts as `{}` and fails (docs/spec Appendix D #4).
    map.len() == schema.len()
        || schema.iter().all(|(k, ty)| {
            !matches!(ty, FieldType::Nested(n) if !n.is_empty()) || map.contains_key(k)
        })
}

/// Step 2 of docs/spec §3.3 alone: every non-empty nested schema matches its value exactly, an absent
/// value counting as `{}` (so an absent optional nested key fails: docs/spec Appendix D #4).
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
pub fn key_mismatch(record: &Value, schema: &Schema) -> Option<String> {
    let Value::Object(map) = record else {
        return Some(format!(
            "not a JSON object ({})",
            crate::error::describe(record)
        ));
    };
    if schema.is_empty() {
        return None;
    }
    mismatch_in(map, schema, "")
}

fn mismatch_in(map: &Map<String, Value>, schema: &Schema, prefix: &str) -> Option<String> {
    let missing: Vec<&str> = schema
        .keys()
        .filter(|k| !map.contains_key(*k) && !schema.is_optional(k))
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
                    if let Some(reason) = mismatch_in(sub, nested, &path) {
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

    fn with_optional(schema: Schema, keys: &[&str]) -> Schema {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        schema.with_optional(&keys)
    }

    #[test]
    fn exact_key_set_with_optional_keys() {
        // docs/spec §3.3 step 1: every non-optional key present, no extra keys, optional may be absent.
        let s = with_optional(
            schema(json!({"account": "string", "detail": {}, "resources": [], "time": "string"})),
            &["resources"],
        );
        assert!(keys_match(
            &json!({"account": "1", "detail": {}, "time": "t"}),
            &s
        ));
        assert!(keys_match(
            &json!({"account": "1", "detail": {}, "time": "t", "resources": []}),
            &s
        ));
        assert!(!keys_match(&json!({"account": "1", "detail": {}}), &s));
        assert!(!keys_match(
            &json!({"account": "1", "detail": {}, "time": "t", "foo": 1}),
            &s
        ));
        assert!(!keys_match(&json!(["account"]), &s));
        assert_eq!(
            key_mismatch(&json!({"account": "1", "detail": {}, "foo": 1}), &s).unwrap(),
            "missing key time; extra key foo"
        );
    }

    #[test]
    fn nested_schemas_match_exactly() {
        // docs/spec §3.3 step 2: nested key set must equal exactly, recursively; `null` fails.
        let s = schema(json!({"user": {"name": "string", "id": {"n": "integer"}}}));
        assert!(keys_match(
            &json!({"user": {"name": "a", "id": {"n": 1}}}),
            &s
        ));
        assert!(!keys_match(&json!({"user": {"name": "a"}}), &s));
        assert!(!keys_match(
            &json!({"user": {"name": "a", "id": {"n": 1, "m": 2}}}),
            &s
        ));
        assert!(!keys_match(&json!({"user": null}), &s));
        assert_eq!(
            key_mismatch(&json!({"user": {"name": "a", "id": {"m": 2}}}), &s).unwrap(),
            "missing key user.id.n; extra key user.id.m"
        );
    }

    #[test]
    fn absent_optional_nested_key_fails() {
        // docs/spec §3.3 [QUIRK] (Appendix D #4): the absent value is treated as {} and compared.
        let s = with_optional(schema(json!({"a": "string", "n": {"x": "string"}})), &["n"]);
        assert!(!keys_match(&json!({"a": "1"}), &s));
        assert!(
            key_mismatch(&json!({"a": "1"}), &s)
                .unwrap()
                .contains("optional key n is absent")
        );
    }

    #[test]
    fn record_matches_adds_the_coercion_dry_run() {
        let s = schema(json!({"port": "integer"}));
        assert!(keys_match(&json!({"port": "x"}), &s));
        assert!(!record_matches(&json!({"port": "x"}), &s));
        assert!(record_matches(&json!({"port": "22"}), &s));
    }

    #[test]
    fn empty_schema_accepts_any_object() {
        assert!(keys_match(&json!({"anything": 1}), &Schema::default()));
    }
}
