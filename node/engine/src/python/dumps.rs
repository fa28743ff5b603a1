//! CPython `json.dumps(value)` with `ensure_ascii=True`, with the default separators (test events
//! serialize their `data` object this way, docs/spec §15.3) or the compact ones (JMESPath's
//! `to_string()`).

use std::fmt::Write;

use serde_json::Value;

use super::repr::{DEFAULT_SEPARATORS, float_repr, write_dict, write_list};

/// `json.dumps(value)`.
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, DEFAULT_SEPARATORS);
    out
}

/// `json.dumps(value, separators=(',', ':'))`.
pub fn dumps_compact(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, (",", ":"));
    out
}

fn write_value(out: &mut String, value: &Value, separators: (&str, &str)) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&float_repr(n.as_f64().unwrap_or(f64::NAN)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => write_list(out, items, separators, |out, item| {
            write_value(out, item, separators)
        }),
        Value::Object(map) => write_dict(out, map, separators, write_string, |out, item| {
            write_value(out, item, separators)
        }),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_separators_and_ascii_escapes() {
        let v = json!({"a": 1, "b": [true, null, 1.0], "c": "é😀\"\n"});
        assert_eq!(
            dumps(&v),
            r#"{"a": 1, "b": [true, null, 1.0], "c": "\u00e9\ud83d\ude00\"\n"}"#
        );
        assert_eq!(
            dumps_compact(&json!({"z": [1e16, -0.0], "a": {}})),
            r#"{"z":[1e+16,-0.0],"a":{}}"#
        );
    }
}
