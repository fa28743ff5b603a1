//! `parser: cef` (sa extension): ArcSight Common Event Format,
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`,
//! optionally after a syslog header (discarded). The record has the keys `cef_version`,
//! `device_vendor`, `device_product`, `device_version`, `signature_id`, `name`, `severity` (all
//! strings) and `extension` (an object of the `key=value` pairs, values as strings).

use serde_json::{Map, Value};

use super::{Parse, ParserSpec, Rejection};

pub static PARSER: ParserSpec = ParserSpec {
    name: "cef",
    parse: Parse::Text(parse),
};

const HEADER_KEYS: [&str; 7] = [
    "cef_version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "severity",
];

fn parse(text: &str) -> Result<Value, Rejection> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let start = text
        .find("CEF:")
        .ok_or_else(|| Rejection::Format("no `CEF:` header".into()))?;
    let body = &text[start + 4..];
    let (header, extension) = split_header(body, HEADER_KEYS.len());
    if header.len() != HEADER_KEYS.len() {
        return Err(Rejection::Format(format!(
            "CEF header has {} of 7 `|`-separated fields",
            header.len()
        )));
    }
    let mut record = Map::new();
    for (key, value) in HEADER_KEYS.iter().zip(header) {
        record.insert((*key).into(), Value::String(value));
    }
    record.insert(
        "extension".into(),
        Value::Object(parse_extension(extension)),
    );
    Ok(Value::Object(record))
}

/// The first `count` fields separated by unescaped `|` (`\|` and `\\` unescaped), and the rest.
fn split_header(body: &str, count: usize) -> (Vec<String>, &str) {
    let mut fields = Vec::with_capacity(count);
    let mut current = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next @ ('|' | '\\'))) => current.push(next),
                Some((_, other)) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            '|' => {
                fields.push(std::mem::take(&mut current));
                if fields.len() == count {
                    return (fields, &body[i + 1..]);
                }
            }
            c => current.push(c),
        }
    }
    (fields, "")
}

/// `key=value` pairs separated by spaces; a value runs until the space before the next key,
/// so values may contain spaces. `\=`, `\\`, `\n`, `\r` are unescaped in values.
fn parse_extension(extension: &str) -> Map<String, Value> {
    let chars: Vec<(usize, char)> = extension.char_indices().collect();
    // Byte offsets of each key's start and of its `=`.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for (idx, &(pos, c)) in chars.iter().enumerate() {
        if c != '=' || (idx > 0 && chars[idx - 1].1 == '\\') {
            continue;
        }
        let mut k = idx;
        while k > 0 && is_key_char(chars[k - 1].1) {
            k -= 1;
        }
        let at_boundary = k == 0 || chars[k - 1].1 == ' ';
        if k < idx && at_boundary {
            keys.push((chars[k].0, pos));
        }
    }
    let mut out = Map::new();
    for (n, &(key_start, eq)) in keys.iter().enumerate() {
        let value_end = keys
            .get(n + 1)
            .map_or(extension.len(), |&(next_key, _)| next_key);
        let value = extension[eq + 1..value_end].trim_end_matches(' ');
        out.insert(
            extension[key_start..eq].to_string(),
            Value::String(unescape_value(value)),
        );
    }
    out
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

fn unescape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(next @ ('=' | '\\')) => out.push(next),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_and_extension() {
        let line = r"Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=Detected a threat. No action needed act=blocked a \= sign";
        assert_eq!(
            parse(line).unwrap(),
            json!({
                "cef_version": "0", "device_vendor": "Security", "device_product": "threatmanager", "device_version": "1.0",
                "signature_id": "100", "name": "worm successfully stopped", "severity": "10",
                "extension": {"src": "10.0.0.1", "dst": "2.1.2.2", "spt": "1232", "msg": "Detected a threat. No action needed", "act": "blocked a = sign"}
            })
        );
    }

    #[test]
    fn escaped_pipes_in_header_and_empty_extension() {
        let v = parse(r"CEF:0|Ven\|dor|Prod|1|sig|Name with \\ slash|Low|").unwrap();
        assert_eq!(v["device_vendor"], json!("Ven|dor"));
        assert_eq!(v["name"], json!(r"Name with \ slash"));
        assert_eq!(v["extension"], json!({}));
    }

    #[test]
    fn malformed_lines_are_rejected() {
        assert!(parse("no header here").is_err());
        assert!(parse("CEF:0|a|b|c").is_err());
    }
}
