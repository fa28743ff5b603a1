//! Python's `==` and `<` between decoded JSON values, as rules' tests and JMESPath see them.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// Python `==`: numbers compare by value across int and float, booleans are the integers 0 and 1
/// (`True == 1 == 1.0`), dicts compare regardless of key order.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, value)| y.get(key).is_some_and(|other| py_eq(value, other)))
        }
        _ => match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => number_order(&x, &y) == Some(Ordering::Equal),
            _ => a == b,
        },
    }
}

/// Python's ordering of two numbers (booleans excluded) or two strings (by code point); `None`
/// where Python raises `TypeError` (anything else, or a number against a string).
pub fn py_order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_order(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn numeric(value: &Value) -> Option<Number> {
    match value {
        Value::Bool(b) => Some(Number::from(u8::from(*b))),
        Value::Number(n) => Some(n.clone()),
        _ => None,
    }
}

/// Integers compare exactly; a float against anything compares as floats.
fn number_order(x: &Number, y: &Number) -> Option<Ordering> {
    match (integer(x), integer(y)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_is_pythons() {
        assert!(py_eq(&json!(1), &json!(1.0)));
        assert!(py_eq(&json!(true), &json!(1)));
        assert!(py_eq(&json!([0, {"a": 1}]), &json!([false, {"a": true}])));
        assert!(py_eq(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
        assert!(!py_eq(&json!("1"), &json!(1)));
        assert!(!py_eq(&json!(null), &json!(false)));
        assert!(!py_eq(&json!(u64::MAX), &json!(u64::MAX - 1),));
    }

    #[test]
    fn ordering_is_pythons() {
        assert_eq!(py_order(&json!(1), &json!(1.5)), Some(Ordering::Less));
        assert_eq!(py_order(&json!("b"), &json!("a")), Some(Ordering::Greater));
        assert_eq!(py_order(&json!("é"), &json!("z")), Some(Ordering::Greater));
        assert_eq!(py_order(&json!(1), &json!("a")), None);
        assert_eq!(py_order(&json!(true), &json!(false)), None);
    }
}
