//! Text renderings StreamAlert's outputs produce with Python: `str()` of values, `json.dumps`
//! with its separators, sorting and ASCII escaping, and eliding long text in the middle.

use serde_json::Value;

/// Python's `str(value)` for a JSON value: strings bare, containers as their repr.
pub(crate) fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => python_repr(other),
    }
}

/// Python's `repr(value)`: `None`, `True`, `'text'`, `{'k': 1}`, `[1, 2]`.
pub(crate) fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => repr_string(text),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", repr_string(k), python_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn repr_string(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// How `json.dumps` is called.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dumps {
    pub indent: Option<usize>,
    pub sort_keys: bool,
    /// `separators=(',', ':')`.
    pub compact: bool,
}

/// `json.dumps(value, separators=(',', ':'))`.
pub(crate) const COMPACT: Dumps = Dumps {
    indent: None,
    sort_keys: false,
    compact: true,
};
/// `json.dumps(value)`.
pub(crate) const DEFAULT: Dumps = Dumps {
    indent: None,
    sort_keys: false,
    compact: false,
};
/// `json.dumps(value, indent=2, sort_keys=True)`.
pub(crate) const PRETTY_SORTED: Dumps = Dumps {
    indent: Some(2),
    sort_keys: true,
    compact: false,
};

/// Python's `json.dumps` (ensure_ascii on, as by default).
pub(crate) fn dumps(value: &Value, how: Dumps) -> String {
    let mut out = String::new();
    write_value(&mut out, value, how, 0);
    out
}

fn write_value(out: &mut String, value: &Value, how: Dumps, depth: usize) {
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
        Value::Array(items) if !items.is_empty() => {
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
        Value::Object(map) if !map.is_empty() => {
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
        Value::String(text) => write_string(out, text),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if c.is_ascii() && (c as u32) >= 0x20 => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Shortens text longer than `max` characters by replacing its middle with `" ... "`
/// (StreamAlert's `elide_string_middle`).
pub(crate) fn elide_middle(text: &str, max: usize) -> String {
    let length = text.chars().count();
    if length <= max {
        return text.to_string();
    }
    let half = max.saturating_sub(5) / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(length - half).collect();
    format!("{head} ... {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_str_and_repr() {
        assert_eq!(python_str(&json!("a")), "a");
        assert_eq!(python_str(&json!(null)), "None");
        assert_eq!(
            python_str(&json!({"a": [true, null, "it's"], "b": {}})),
            "{'a': [True, None, \"it's\"], 'b': {}}"
        );
    }

    #[test]
    fn dumps_matches_python() {
        let value = json!({"b": [1, {"z": "é"}], "a": {}});
        assert_eq!(dumps(&value, COMPACT), r#"{"b":[1,{"z":"\u00e9"}],"a":{}}"#);
        assert_eq!(
            dumps(&value, DEFAULT),
            r#"{"b": [1, {"z": "\u00e9"}], "a": {}}"#
        );
        assert_eq!(
            dumps(&value, PRETTY_SORTED),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"z\": \"\\u00e9\"\n    }\n  ]\n}"
        );
    }

    #[test]
    fn elides_the_middle() {
        assert_eq!(elide_middle("short", 99), "short");
        let long = "x".repeat(50) + &"y".repeat(60);
        let elided = elide_middle(&long, 99);
        assert_eq!(elided.chars().count(), 99);
        assert!(elided.starts_with("xxxx") && elided.ends_with("yyyy") && elided.contains(" ... "));
    }
}
