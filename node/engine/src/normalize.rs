//! Normalization v2 (docs/spec §7.2, §7.3): per log type, named lists of paths into the record
//! whose values are collected under `streamalert_normalization`.

use serde_json::{Map, Value};

use crate::config::read::Reader;
use crate::error::{JsonPath, describe};
use crate::python::{is_truthy, py_str};

pub const NORMALIZATION_KEY: &str = "streamalert_normalization";
pub const RECORD_ID_KEY: &str = "streamalert_record_id";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Normalization {
    types: Vec<(String, Vec<Entry>)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    path: Vec<String>,
    function: Option<String>,
    condition: Option<Condition>,
    send_to_artifacts: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    path: Vec<String>,
    /// Operator → operand, in the fixed order StreamAlert tries them.
    operators: Vec<(Operator, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Operator {
    Is,
    IsNot,
    In,
    NotIn,
    Contains,
    NotContains,
}

const OPERATORS: [(&str, Operator); 6] = [
    ("is", Operator::Is),
    ("is_not", Operator::IsNot),
    ("in", Operator::In),
    ("not_in", Operator::NotIn),
    ("contains", Operator::Contains),
    ("not_contains", Operator::NotContains),
];

impl Normalization {
    /// Reads `configuration.normalization`; a wrong shape is a configuration error (docs/spec §7.2).
    pub fn parse(value: &Value, path: &JsonPath, reader: &mut Reader<'_>) -> Option<Normalization> {
        let map = reader.object(value, path)?;
        let mut types = Vec::with_capacity(map.len());
        let mut ok = true;
        for (ntype, entries) in map {
            match parse_entries(entries, &path.key(ntype), reader) {
                Some(e) => types.push((ntype.clone(), e)),
                None => ok = false,
            }
        }
        ok.then_some(Normalization { types })
    }

    /// The value of `streamalert_normalization` for `record` (docs/spec §7.3); `{}` when nothing is found.
    pub fn apply(&self, record: &Map<String, Value>) -> Map<String, Value> {
        let mut result = Map::with_capacity(self.types.len() + 1);
        for (ntype, entries) in &self.types {
            let mut out = Vec::with_capacity(entries.len());
            for entry in entries {
                if entry.condition.as_ref().is_some_and(|c| !c.matches(record)) {
                    continue;
                }
                let Some(found) = find(record, &entry.path) else {
                    continue;
                };
                let values = match found {
                    Value::Array(items) => Value::Array(items.clone()),
                    other => Value::Array(vec![Value::String(py_str(other))]),
                };
                let mut item = Map::with_capacity(3);
                item.insert(
                    "function".into(),
                    entry.function.clone().map_or(Value::Null, Value::String),
                );
                item.insert("values".into(), values);
                if entry.send_to_artifacts == Some(false) {
                    item.insert("send_to_artifacts".into(), Value::Bool(false));
                }
                out.push(Value::Object(item));
            }
            if !out.is_empty() {
                result.insert(ntype.clone(), Value::Array(out));
            }
        }
        if !result.is_empty() {
            result.insert(RECORD_ID_KEY.into(), Value::String(uuid4()));
        }
        result
    }
}

fn parse_entries(value: &Value, path: &JsonPath, reader: &mut Reader<'_>) -> Option<Vec<Entry>> {
    let Value::Array(items) = value else {
        reader.error(path, format!("expected a list (one path of keys, or entries with path/function/condition), got {}", describe(value)));
        return None;
    };
    if items.iter().all(Value::is_string) {
        let keys = reader.string_list(value, path)?;
        return Some(vec![Entry {
            path: keys,
            function: None,
            condition: None,
            send_to_artifacts: None,
        }]);
    }
    if !items.iter().all(Value::is_object) {
        reader.error(
            path,
            "a normalization list must hold only key names or only objects, not both",
        );
        return None;
    }
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        entries.push(parse_entry(item, &path.index(i), reader)?);
    }
    Some(entries)
}

fn parse_entry(value: &Value, path: &JsonPath, reader: &mut Reader<'_>) -> Option<Entry> {
    let map = reader.object(value, path)?;
    if let Some(unknown) = map.keys().find(|k| {
        !matches!(
            k.as_str(),
            "path" | "function" | "condition" | "send_to_artifacts"
        )
    }) {
        reader.error(
            &path.key(unknown),
            "unknown normalization key (expected path, function, condition, send_to_artifacts)",
        );
        return None;
    }
    let Some(keys) = map.get("path") else {
        reader.error(path, "a normalization entry needs a path");
        return None;
    };
    let keys = reader.string_list(keys, &path.key("path"))?;
    let function = match map.get("function") {
        None | Some(Value::Null) => None,
        Some(f) => {
            Some(reader.string(f, &path.key("function"))?.to_string()).filter(|f| !f.is_empty())
        }
    };
    let send_to_artifacts = match map.get("send_to_artifacts") {
        None => None,
        Some(v) => Some(reader.boolean(v, &path.key("send_to_artifacts"))?),
    };
    let condition = match map.get("condition") {
        None => None,
        Some(c) => Some(parse_condition(c, &path.key("condition"), reader)?),
    };
    Some(Entry {
        path: keys,
        function,
        condition,
        send_to_artifacts,
    })
}

fn parse_condition(value: &Value, path: &JsonPath, reader: &mut Reader<'_>) -> Option<Condition> {
    let map = reader.object(value, path)?;
    let Some(keys) = map.get("path") else {
        reader.error(path, "a condition needs a path");
        return None;
    };
    let keys = reader.string_list(keys, &path.key("path"))?;
    if let Some(unknown) = map
        .keys()
        .find(|k| k.as_str() != "path" && !OPERATORS.iter().any(|(name, _)| name == k))
    {
        reader.error(
            &path.key(unknown),
            "unknown condition operator (expected is, is_not, in, not_in, contains, not_contains)",
        );
        return None;
    }
    let operators = OPERATORS
        .iter()
        .filter_map(|(name, op)| map.get(*name).map(|v| (*op, v.clone())))
        .collect();
    Some(Condition {
        path: keys,
        operators,
    })
}

impl Condition {
    fn matches(&self, record: &Map<String, Value>) -> bool {
        let Some(value) = find(record, &self.path) else {
            return false;
        };
        let subject = py_str(value).to_lowercase();
        let Some((op, operand)) = self.operators.iter().find(|(_, v)| is_truthy(v)) else {
            return false;
        };
        match op {
            Operator::Is => operand.as_str() == Some(subject.as_str()),
            Operator::IsNot => operand.as_str() != Some(subject.as_str()),
            Operator::In => contained_in(&subject, operand),
            Operator::NotIn => !contained_in(&subject, operand),
            Operator::Contains => operand
                .as_str()
                .is_some_and(|needle| subject.contains(needle)),
            Operator::NotContains => operand
                .as_str()
                .is_some_and(|needle| !subject.contains(needle)),
        }
    }
}

/// Python `s in operand`: list membership, or substring when the operand is a string.
fn contained_in(subject: &str, operand: &Value) -> bool {
    match operand {
        Value::Array(items) => items.iter().any(|i| i.as_str() == Some(subject)),
        Value::String(s) => s.contains(subject),
        _ => false,
    }
}

/// Walks `path` through nested objects; a falsy value on the way means not found. StreamAlert
/// crashes on a non-object intermediate value; sa treats it as not found (docs/spec Appendix D #10).
fn find<'a>(record: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut current = record.get(first).filter(|v| is_truthy(v))?;
    for key in rest {
        current = current.as_object()?.get(key).filter(|v| is_truthy(v))?;
    }
    Some(current)
}

/// A random (version 4) UUID in its hyphenated text form.
fn uuid4() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push(char::from(HEX[usize::from(b >> 4)]));
        text.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn parse(v: Value) -> Result<Normalization, Vec<String>> {
        let mut errors = Vec::new();
        let n = Normalization::parse(
            &v,
            &JsonPath::root().key("normalization"),
            &mut Reader {
                file: Path::new("s.json"),
                errors: &mut errors,
            },
        );
        n.ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn spec_example() {
        // docs/spec §7.2's example configuration applied to a matching record.
        let n = parse(json!({
            "event_name": ["detail", "eventName"],
            "ip_address": [
                {"path": ["detail", "sourceIPAddress"], "function": "Source IP addresses"},
                {"path": ["detail", "userIdentity", "type"], "function": "Identity type",
                 "send_to_artifacts": false,
                 "condition": {"path": ["account"], "in": ["111111111111", "222222222222"]}}
            ]
        }))
        .unwrap();
        let record = json!({"account": "111111111111", "detail": {"eventName": "CreateUser", "sourceIPAddress": "1.2.3.4", "userIdentity": {"type": "Root"}}});
        let mut out = n.apply(record.as_object().unwrap());
        let id = out.shift_remove(RECORD_ID_KEY).unwrap();
        assert_eq!(id.as_str().unwrap().len(), 36);
        let id = id.as_str().unwrap();
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!([id.find('-'), id[9..].find('-')], [Some(8), Some(4)]);
        assert_eq!(
            Value::Object(out),
            json!({
                "event_name": [{"function": null, "values": ["CreateUser"]}],
                "ip_address": [
                    {"function": "Source IP addresses", "values": ["1.2.3.4"]},
                    {"function": "Identity type", "values": ["Root"], "send_to_artifacts": false}
                ]
            })
        );
        let other = json!({"account": "333", "detail": {"eventName": "", "sourceIPAddress": "5.6.7.8", "userIdentity": {"type": "Root"}}});
        let out = n.apply(other.as_object().unwrap());
        assert_eq!(
            out["ip_address"],
            json!([{"function": "Source IP addresses", "values": ["5.6.7.8"]}])
        );
        assert!(
            !out.contains_key("event_name"),
            "falsy values are not found"
        );
    }

    #[test]
    fn values_are_python_str_except_lists() {
        let n = parse(json!({"port": ["p"], "ips": ["l"], "flag": ["b"]})).unwrap();
        let out = n.apply(
            json!({"p": 22, "l": [1, "a"], "b": true})
                .as_object()
                .unwrap(),
        );
        assert_eq!(out["port"][0]["values"], json!(["22"]));
        assert_eq!(out["ips"][0]["values"], json!([1, "a"]));
        assert_eq!(out["flag"][0]["values"], json!(["True"]));
    }

    #[test]
    fn nothing_found_gives_an_empty_object_without_id() {
        let n = parse(json!({"user": ["a", "b"]})).unwrap();
        assert!(
            n.apply(json!({"a": "string-not-object"}).as_object().unwrap())
                .is_empty(),
            "non-object intermediate is not found (D #10)"
        );
    }

    #[test]
    fn condition_operators() {
        let n = |cond: Value| parse(json!({"t": [{"path": ["v"], "condition": cond}]})).unwrap();
        let rec = json!({"v": "x", "c": "Hello World"});
        let rec = rec.as_object().unwrap();
        let hit = |cond: Value| !n(cond).apply(rec).is_empty();
        assert!(hit(json!({"path": ["c"], "is": "hello world"})));
        assert!(!hit(json!({"path": ["c"], "is_not": "hello world"})));
        assert!(hit(json!({"path": ["c"], "contains": "lo wo"})));
        assert!(hit(json!({"path": ["c"], "not_contains": "xyz"})));
        assert!(hit(json!({"path": ["c"], "in": "say hello world!"})));
        assert!(hit(json!({"path": ["c"], "not_in": ["a"]})));
        assert!(!hit(json!({"path": ["missing"], "is": "x"})));
        assert!(!hit(json!({"path": ["c"]})), "no operator → false");
        assert!(
            hit(json!({"path": ["c"], "is": "", "contains": "hello"})),
            "first truthy operator decides"
        );
    }

    #[test]
    fn shape_errors_name_the_path() {
        assert_eq!(
            parse(json!({"ip": "a"})).unwrap_err(),
            vec![
                r#"s.json: $.normalization.ip: expected a list (one path of keys, or entries with path/function/condition), got "a""#
            ]
        );
        assert!(parse(json!({"ip": ["a", {"path": ["b"]}]})).unwrap_err()[0].contains("not both"));
        assert!(
            parse(json!({"ip": [{"path": ["b"], "bogus": 1}]})).unwrap_err()[0]
                .contains("$.normalization.ip[0].bogus: unknown normalization key")
        );
        assert!(parse(json!({"ip": [{"function": "x"}]})).unwrap_err()[0].contains("needs a path"));
        assert!(
            parse(json!({"ip": [{"path": ["b"], "condition": {"path": ["c"], "equals": "x"}}]}))
                .unwrap_err()[0]
                .contains("unknown condition operator")
        );
    }
}
