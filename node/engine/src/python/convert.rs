//! CPython `int(v)` and `float(v)` applied to decoded JSON values (docs/spec §3.2).

use serde_json::{Number, Value};

/// CPython `int(value)`: ints unchanged, floats truncated toward zero, booleans 0/1, strings of
/// an integer with optional surrounding whitespace, sign and `_` digit separators. `None` where
/// Python raises, and for integers outside the 64-bit range JSON numbers can hold here.
pub fn py_int(value: &Value) -> Option<Value> {
    match value {
        Value::Bool(b) => Some(Value::from(u8::from(*b))),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(value.clone()),
        Value::Number(n) => float_to_int(n.as_f64()?),
        Value::String(s) => int_from_str(s),
        _ => None,
    }
}

fn float_to_int(f: f64) -> Option<Value> {
    if !f.is_finite() {
        return None;
    }
    let t = f.trunc();
    if t >= i64::MIN as f64 && t < i64::MAX as f64 {
        Some(Value::from(t as i64))
    } else if t >= 0.0 && t < u64::MAX as f64 {
        Some(Value::from(t as u64))
    } else {
        None
    }
}

fn int_from_str(s: &str) -> Option<Value> {
    let s = s.trim();
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude: i128 = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        strip_digit_separators(digits, |c| c.is_ascii_digit())?
            .parse()
            .ok()?
    };
    let n = if negative { -magnitude } else { magnitude };
    if let Ok(i) = i64::try_from(n) {
        Some(Value::from(i))
    } else {
        u64::try_from(n).ok().map(Value::from)
    }
}

/// Removes `_` separators that sit between two digits; `None` if any `_` is elsewhere or the
/// text is empty.
fn strip_digit_separators(text: &str, is_digit: impl Fn(char) -> bool) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            let between_digits =
                i > 0 && i + 1 < chars.len() && is_digit(chars[i - 1]) && is_digit(chars[i + 1]);
            if !between_digits {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// CPython `float(value)`. Returns the float as a JSON number; `nan` and `inf` have no JSON
/// number, so a string that Python would turn into one is accepted and returned unchanged.
pub fn py_float(value: &Value) -> Option<Value> {
    match value {
        Value::Bool(b) => Some(float_value(f64::from(u8::from(*b)))),
        Value::Number(n) => Some(float_value(n.as_f64()?)),
        Value::String(s) => {
            let f = float_from_str(s)?;
            if f.is_finite() {
                Some(float_value(f))
            } else {
                Some(value.clone())
            }
        }
        _ => None,
    }
}

fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn float_from_str(s: &str) -> Option<f64> {
    let s = s.trim();
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if ["inf", "infinity", "nan"]
        .iter()
        .any(|special| unsigned.eq_ignore_ascii_case(special))
    {
        return s.parse().ok();
    }
    if !unsigned
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'))
    {
        return None;
    }
    if !s.contains('_') {
        return s.parse().ok();
    }
    strip_digit_separators(s, |c| c.is_ascii_digit())?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn int_follows_python() {
        // docs/spec §3.2: 1.9 → 1, " 7 " → 7, "1_000" → 1000, "1.5" fails.
        assert_eq!(py_int(&json!(1.9)), Some(json!(1)));
        assert_eq!(py_int(&json!(-1.9)), Some(json!(-1)));
        assert_eq!(py_int(&json!(" 7 ")), Some(json!(7)));
        assert_eq!(py_int(&json!("1_000")), Some(json!(1000)));
        assert_eq!(py_int(&json!("007")), Some(json!(7)));
        assert_eq!(py_int(&json!("-12")), Some(json!(-12)));
        assert_eq!(py_int(&json!(true)), Some(json!(1)));
        assert_eq!(py_int(&json!("1.5")), None);
        assert_eq!(py_int(&json!("1__0")), None);
        assert_eq!(py_int(&json!("_1")), None);
        assert_eq!(py_int(&json!("")), None);
        assert_eq!(py_int(&json!("abc")), None);
        assert_eq!(py_int(&json!([1])), None);
        assert_eq!(py_int(&json!({"a": 1})), None);
        assert_eq!(
            py_int(&json!("18446744073709551615")),
            Some(json!(18446744073709551615u64))
        );
        assert_eq!(py_int(&json!("18446744073709551616")), None);
    }

    #[test]
    fn float_follows_python() {
        // docs/spec §3.2: numbers and numeric strings incl. "1e3", "nan", "inf".
        assert_eq!(py_float(&json!("1e3")), Some(json!(1000.0)));
        assert_eq!(py_float(&json!(" 2.5 ")), Some(json!(2.5)));
        assert_eq!(py_float(&json!(3)), Some(json!(3.0)));
        assert_eq!(py_float(&json!(".5")), Some(json!(0.5)));
        assert_eq!(py_float(&json!("1_0.5")), Some(json!(10.5)));
        assert_eq!(py_float(&json!("nan")), Some(json!("nan")));
        assert_eq!(py_float(&json!("-Infinity")), Some(json!("-Infinity")));
        assert_eq!(py_float(&json!("1.2.3")), None);
        assert_eq!(py_float(&json!("0x10")), None);
        assert_eq!(py_float(&json!("")), None);
        assert_eq!(py_float(&json!({})), None);
    }
}
