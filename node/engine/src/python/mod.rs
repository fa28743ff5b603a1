//! CPython behaviour that StreamAlert's output depends on: `str()`/`repr()` of JSON values,
//! `int()`/`float()` conversions, truthiness, `==` and `<`, and `json.dumps`.

mod convert;
mod dumps;
mod equality;
mod repr;

pub use convert::{py_float, py_int};
pub use dumps::{Dumps, dumps, dumps_as, dumps_compact};
pub use equality::{py_eq, py_order};
pub use repr::{float_repr, py_repr, py_str};

use serde_json::Value;

/// Python truthiness of a decoded JSON value: `None`, `False`, `0`, `0.0`, `""`, `[]` and `{}`
/// are false.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn falsy_values_are_the_pythonic_ones() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!is_truthy(&v), "{v} should be falsy");
        }
        for v in [
            json!(true),
            json!(-1),
            json!(0.5),
            json!(" "),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert!(is_truthy(&v), "{v} should be truthy");
        }
    }
}
