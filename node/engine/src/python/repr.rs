//! Python `str()` and `repr()` of decoded JSON values (docs/spec §3.2, Appendix D #3).

use std::fmt::Write;

use serde_json::{Map, Number, Value};

/// CPython `str(value)`: strings unchanged, `None`/`True`/`False`, float `repr`, containers as
/// their Python `repr` (`{'x': 1}`, `['a']`).
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// CPython `repr(value)` of the Python object `json.loads` would produce.
pub fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => write_str_repr(out, s),
        Value::Array(items) => write_list(out, items, write_repr),
        Value::Object(map) => write_dict(out, map, write_str_repr, write_repr),
    }
}

/// `[a, b]`, each item written by `write_item`.
fn write_list(out: &mut String, items: &[Value], write_item: impl Fn(&mut String, &Value)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_item(out, item);
    }
    out.push(']');
}

/// `{k: v}`, keys and values written by `write_key` and `write_item`.
fn write_dict(
    out: &mut String,
    map: &Map<String, Value>,
    write_key: impl Fn(&mut String, &str),
    write_item: impl Fn(&mut String, &Value),
) {
    out.push('{');
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_key(out, key);
        out.push_str(": ");
        write_item(out, item);
    }
    out.push('}');
}

fn number_repr(n: &Number) -> String {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(u)) => u.to_string(),
        _ => float_repr(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// CPython `repr(float)`: the shortest round-tripping digits, in positional notation for
/// decimal exponents -4..16 (always with a fractional part) and `1e-05` / `1.5e+16` otherwise.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{fraction}e{exp_sign}{:02}",
            exponent.unsigned_abs()
        );
    }
    if exponent >= 0 {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
        }
    } else {
        format!("{sign}0.{}{digits}", "0".repeat((-exponent - 1) as usize))
    }
}

fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// An approximation of `str.isprintable()` without the Unicode database: controls, separators
/// other than the ASCII space, format characters and private-use characters are not printable.
/// Unassigned code points count as printable here (CPython escapes them).
fn is_printable(c: char) -> bool {
    let code = c as u32;
    if c.is_ascii() {
        return (0x20..0x7f).contains(&code);
    }
    if (0x80..=0xa0).contains(&code) || code == 0xad || c.is_whitespace() {
        return false;
    }
    let format_or_private = matches!(code,
        0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f | 0x202a..=0x202e
        | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff
        | 0xf0000..);
    !format_or_private
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_of_scalars_follows_python() {
        // docs/spec §3.2: numbers → "1", "1.5"; booleans → "True"/"False".
        assert_eq!(py_str(&json!(1)), "1");
        assert_eq!(py_str(&json!(1.5)), "1.5");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(false)), "False");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!("plain")), "plain");
    }

    #[test]
    fn str_of_containers_is_their_repr() {
        // docs/spec §3.2: dict → Python repr like "{'x': 1}"; list → "['a']".
        assert_eq!(py_str(&json!({"x": 1})), "{'x': 1}");
        assert_eq!(py_str(&json!(["a"])), "['a']");
        assert_eq!(
            py_str(&json!({"a": [true, null, 2.0], "b": {"c": "it's"}})),
            r#"{'a': [True, None, 2.0], 'b': {'c': "it's"}}"#
        );
        assert_eq!(py_repr(&json!("both ' and \"")), r#"'both \' and "'"#);
        assert_eq!(py_repr(&json!("tab\tnl\n\u{1}é")), r"'tab\tnl\n\x01é'");
    }

    #[test]
    fn float_repr_matches_cpython() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (123.456, "123.456"),
            (-0.0, "-0.0"),
            (1e300, "1e+300"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "repr({f})");
        }
    }
}
