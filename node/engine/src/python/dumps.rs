//! CPython `json.dumps(value, ...)` with `ensure_ascii=True`: test events serialize their `data`
//! object with the defaults (docs/spec §15.3), JMESPath's `to_string()` with compact separators,
//! and outputs each the way their StreamAlert class calls it (docs/spec §12).

use std::fmt::Write;

use serde_json::Value;

use super::repr::float_repr;

/// The keyword arguments of one `json.dumps` call.
#[derive(Debug, Clone, Copy)]
pub struct Dumps {
    pub indent: Option<usize>,
    pub sort_keys: bool,
    /// `separators=(',', ':')`.
    pub compact: bool,
}

impl Dumps {
    /// `json.dumps(value)`.
    pub const DEFAULT: Dumps = Dumps {
        indent: None,
        sort_keys: false,
        compact: false,
    };
    /// `json.dumps(value, separators=(',', ':'))`.
    pub const COMPACT: Dumps = Dumps {
        indent: None,
        sort_keys: false,
        compact: true,
    };
    /// `json.dumps(value, indent=2, sort_keys=True)`.
    pub const PRETTY_SORTED: Dumps = Dumps {
        indent: Some(2),
        sort_keys: true,
        compact: false,
    };
}

/// `json.dumps(value)`.
pub fn dumps(value: &Value) -> String {
    dumps_as(value, Dumps::DEFAULT)
}

/// `json.dumps(value, separators=(',', ':'))`.
pub fn dumps_compact(value: &Value) -> String {
    dumps_as(value, Dumps::COMPACT)
}

/// `json.dumps` called as `how` says.
pub fn dumps_as(value: &Value, how: Dumps) -> String {
    let mut out = String::new();
    write_value(&mut out, value, how, 0);
    out
}

fn write_value(out: &mut String, value: &Value, how: Dumps, depth: usize) {
    // With an indent, Python's default item separator loses its space.
    let (item_sep, key_sep) = match (how.compact, how.indent) {
        (true, _) => (",", ":"),
        (false, Some(_)) => (",", ": "),
        (false, None) => (", ", ": "),
    };
    let newline = |out: &mut String, depth: usize| {
        if let Some(indent) = how.indent {
            out.push('\n');
            out.push_str(&" ".repeat(indent * depth));
        }
    };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => {
            out.push_str(&float_repr(n.as_f64().unwrap_or(f64::NAN)));
        }
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_value(out, item, how, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if how.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_string(out, key);
                out.push_str(key_sep);
                write_value(out, item, how, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
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
    fn separators_indent_sorting_and_ascii_escapes() {
        let v = json!({"a": 1, "b": [true, null, 1.0], "c": "é😀\"\n"});
        assert_eq!(
            dumps(&v),
            r#"{"a": 1, "b": [true, null, 1.0], "c": "\u00e9\ud83d\ude00\"\n"}"#
        );
        assert_eq!(
            dumps_compact(&json!({"z": [1e16, -0.0], "a": {}})),
            r#"{"z":[1e+16,-0.0],"a":{}}"#
        );
        let value = json!({"b": [1, {"z": "é"}], "a": {}});
        assert_eq!(
            dumps_as(&value, Dumps::PRETTY_SORTED),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"z\": \"\\u00e9\"\n    }\n  ]\n}"
        );
    }
}
