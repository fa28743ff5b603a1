//! Type coercion (docs/spec §3.2): Python `str`/`int`/`float` conversions, falsy values left
//! untouched, `{}` unchecked, `[]` must be a list, nested schemas recursively.

use serde_json::{Map, Value};

use super::{FieldType, Schema};
use crate::python::{is_truthy, py_float, py_int, py_str};

/// Whether `value` can be coerced to `ty` (the dry run of [`coerce_value`]).
pub fn is_coercible(value: &Value, ty: &FieldType) -> bool {
    if !is_truthy(value) {
        return true;
    }
    match ty {
        FieldType::String | FieldType::Boolean | FieldType::Any => true,
        FieldType::Integer => py_int(value).is_some(),
        FieldType::Float => py_float(value).is_some(),
        FieldType::List => value.is_array(),
        FieldType::Nested(schema) => match value {
            Value::Object(map) => record_is_coercible(map, schema),
            _ => false,
        },
        FieldType::Unknown(_) => false,
    }
}

/// Coerces `value` in place; `false` (with `value` possibly half-converted) if it cannot be.
pub fn coerce_value(value: &mut Value, ty: &FieldType) -> bool {
    if !is_truthy(value) {
        return true;
    }
    let converted = match ty {
        FieldType::Any => return true,
        FieldType::String => match &*value {
            Value::String(_) => return true,
            other => Value::String(py_str(other)),
        },
        FieldType::Integer => match py_int(value) {
            Some(v) => v,
            None => return false,
        },
        FieldType::Float => match py_float(value) {
            Some(v) => v,
            None => return false,
        },
        FieldType::Boolean => Value::Bool(match &*value {
            Value::Bool(b) => *b,
            Value::String(s) => s.to_lowercase() == "true",
            _ => false,
        }),
        FieldType::List => return value.is_array(),
        FieldType::Nested(schema) => {
            return match value {
                Value::Object(map) => coerce_record(map, schema),
                _ => false,
            };
        }
        FieldType::Unknown(_) => return false,
    };
    *value = converted;
    true
}

/// Whether every schema key present in `record` can be coerced (optional keys that are absent
/// are skipped; keys outside the schema are not looked at).
pub fn record_is_coercible(record: &Map<String, Value>, schema: &Schema) -> bool {
    record
        .iter()
        .all(|(key, v)| schema.get(key).is_none_or(|ty| is_coercible(v, ty)))
}

/// Coerces every schema key present in `record`.
pub fn coerce_record(record: &mut Map<String, Value>, schema: &Schema) -> bool {
    record.iter_mut().enumerate().all(|(position, (key, v))| {
        schema
            .lookup_at(position, key)
            .is_none_or(|(_, ty, _)| coerce_value(v, ty))
    })
}

/// Coerces a checked record and returns the positions of the optional schema keys it lacks,
/// in schema order (the keys docs/spec §3.4 fills with defaults); `None` if coercion fails.
pub fn missing_optional_after_coercion(
    record: &mut Map<String, Value>,
    schema: &Schema,
) -> Option<Vec<usize>> {
    if record.len() >= schema.len() {
        return coerce_record(record, schema).then(Vec::new);
    }
    let mut present = vec![false; schema.len()];
    for (position, (key, value)) in record.iter_mut().enumerate() {
        if let Some((i, ty, _)) = schema.lookup_at(position, key) {
            present[i] = true;
            if !coerce_value(value, ty) {
                return None;
            }
        }
    }
    Some(
        (0..schema.len())
            .filter(|&i| !present[i] && schema.field_at(i).is_some_and(|(_, _, optional)| optional))
            .collect(),
    )
}

/// Why `record` cannot be coerced, e.g. `key port: cannot convert "abc" to integer`.
pub fn coercion_failure(record: &Map<String, Value>, schema: &Schema) -> Option<String> {
    failure_in(record, schema, "")
}

fn failure_in(record: &Map<String, Value>, schema: &Schema, prefix: &str) -> Option<String> {
    for (key, ty) in schema.iter() {
        let Some(value) = record.get(key) else {
            continue;
        };
        if is_coercible(value, ty) {
            continue;
        }
        if let (FieldType::Nested(nested), Value::Object(sub)) = (ty, value) {
            return failure_in(sub, nested, &format!("{prefix}{key}."));
        }
        return Some(match ty {
            FieldType::Unknown(t) => {
                format!("key {prefix}{key}: the schema's type {t} is not a known type")
            }
            ty => format!(
                "key {prefix}{key}: cannot convert {} to {}",
                crate::error::describe(value),
                ty.name()
            ),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn coerced(value: Value, ty: Value) -> Option<Value> {
        let ty = FieldType::from_json(&ty);
        let mut v = value.clone();
        let ok = coerce_value(&mut v, &ty);
        assert_eq!(
            ok,
            is_coercible(&value, &ty),
            "dry run disagrees for {value} as {ty:?}"
        );
        ok.then_some(v)
    }

    #[test]
    fn string_uses_python_str() {
        assert_eq!(coerced(json!(1), json!("string")), Some(json!("1")));
        assert_eq!(coerced(json!(1.5), json!("string")), Some(json!("1.5")));
        assert_eq!(coerced(json!(true), json!("string")), Some(json!("True")));
        assert_eq!(
            coerced(json!({"x": 1}), json!("string")),
            Some(json!("{'x': 1}"))
        );
        assert_eq!(coerced(json!(["a"]), json!("string")), Some(json!("['a']")));
    }

    #[test]
    fn boolean_compares_lowercased_str_with_true() {
        // docs/spec §3.2: "TRUE"→true, "yes"→false, 1→false, true→true.
        assert_eq!(coerced(json!("TRUE"), json!("boolean")), Some(json!(true)));
        assert_eq!(coerced(json!("yes"), json!("boolean")), Some(json!(false)));
        assert_eq!(coerced(json!(1), json!("boolean")), Some(json!(false)));
        assert_eq!(coerced(json!(true), json!("boolean")), Some(json!(true)));
    }

    #[test]
    fn integer_and_float() {
        assert_eq!(coerced(json!("1_000"), json!("integer")), Some(json!(1000)));
        assert_eq!(coerced(json!("1.5"), json!("integer")), None);
        assert_eq!(coerced(json!("1e3"), json!("float")), Some(json!(1000.0)));
        assert_eq!(coerced(json!([1]), json!("integer")), None);
    }

    #[test]
    fn falsy_values_skip_coercion_whatever_the_type() {
        // docs/spec §3.2: {"port": null} with port: integer stays null; "" with an unknown type is accepted.
        assert_eq!(coerced(json!(null), json!("integer")), Some(json!(null)));
        assert_eq!(coerced(json!(""), json!("str")), Some(json!("")));
        assert_eq!(coerced(json!(0), json!("string")), Some(json!(0)));
        assert_eq!(coerced(json!("x"), json!("str")), None);
    }

    #[test]
    fn any_list_and_nested() {
        assert_eq!(coerced(json!("s"), json!({})), Some(json!("s")));
        assert_eq!(coerced(json!([1, "a"]), json!([])), Some(json!([1, "a"])));
        assert_eq!(coerced(json!("a"), json!([])), None);
        assert_eq!(
            coerced(json!({"n": "5"}), json!({"n": "integer"})),
            Some(json!({"n": 5}))
        );
        assert_eq!(coerced(json!({"n": "x"}), json!({"n": "integer"})), None);
    }

    #[test]
    fn explains_the_first_failing_key() {
        let schema = Schema::from_map(
            json!({"a": "string", "n": {"port": "integer"}})
                .as_object()
                .unwrap(),
        );
        let record = json!({"a": 1, "n": {"port": "abc"}});
        assert_eq!(
            coercion_failure(record.as_object().unwrap(), &schema).unwrap(),
            r#"key n.port: cannot convert "abc" to integer"#
        );
    }
}
