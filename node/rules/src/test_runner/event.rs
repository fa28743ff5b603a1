//! One test event (§15.2) and its preparation before classification (§15.3 step 1).

use serde_json::{Map, Value};

use crate::clock::Micros;

/// The keys sa reads from a test event; the raw object goes to the classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvent {
    pub description: String,
    pub log: String,
    pub service: String,
    pub source: String,
    pub trigger_rules: Vec<String>,
    pub classify_only: bool,
    pub publisher_tests: Map<String, Value>,
    pub skip_publishers: bool,
    pub lookup_fixtures: Option<Value>,
    pub threat_intel_fixtures: Option<Value>,
    /// The event object with helpers applied, as the classifier receives it.
    pub raw: Map<String, Value>,
    /// Keys StreamAlert does not know (a warning, not a failure).
    pub unknown_keys: Vec<String>,
}

const KNOWN_KEYS: &[&str] = &[
    "description",
    "log",
    "service",
    "source",
    "data",
    "override_record",
    "trigger_rules",
    "classify_only",
    "validate_schema_only",
    "publisher_tests",
    "skip_publishers",
    "test_fixtures",
    "compress",
];

impl TestEvent {
    /// Reads and checks an event; the error says which key is wrong.
    pub fn parse(value: &Value, now: Micros) -> Result<TestEvent, String> {
        let Value::Object(object) = value else {
            return Err("a test event must be a JSON object".to_owned());
        };
        let mut raw = object.clone();
        apply_helpers(&mut raw, now)?;
        let string = |key: &str| -> Result<String, String> {
            match raw.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!("key {key:?} must be a string")),
                None => Err(format!("missing required key {key:?}")),
            }
        };
        let flag = |key: &str| -> Result<bool, String> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(format!("key {key:?} must be true or false")),
            }
        };
        let description = string("description")?;
        let log = string("log")?;
        let service = string("service")?;
        if !["kinesis", "s3", "sns", "streamalert_app"].contains(&service.as_str()) {
            return Err(format!(
                "unsupported service {service:?} (kinesis, s3, sns or streamalert_app)"
            ));
        }
        let source = string("source")?;
        // validate_schema_only is the older name StreamAlert repositories still carry.
        let classify_only = flag("classify_only")? || flag("validate_schema_only")?;
        if !raw.contains_key("data") && !raw.contains_key("override_record") {
            return Err("missing required key \"data\" (or \"override_record\")".to_owned());
        }
        let trigger_rules = match raw.get("trigger_rules") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or("trigger_rules must list rule names")
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("key \"trigger_rules\" must be a list of rule names".to_owned()),
            None if classify_only => Vec::new(),
            None => {
                return Err(
                    "missing required key \"trigger_rules\" (or set classify_only)".to_owned(),
                );
            }
        };
        let publisher_tests = match raw.get("publisher_tests") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(tests)) => tests.clone(),
            Some(_) => {
                return Err("key \"publisher_tests\" must map outputs to lists of tests".to_owned());
            }
        };
        let fixtures = raw.get("test_fixtures").cloned().unwrap_or(Value::Null);
        if !fixtures.is_null() && !fixtures.is_object() {
            return Err("key \"test_fixtures\" must be an object".to_owned());
        }
        let unknown_keys = raw
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        Ok(TestEvent {
            description,
            log,
            service,
            source,
            trigger_rules,
            classify_only,
            publisher_tests,
            skip_publishers: flag("skip_publishers")?,
            lookup_fixtures: fixtures.get("lookup_tables").cloned(),
            threat_intel_fixtures: fixtures.get("threat_intel").cloned(),
            raw,
            unknown_keys,
        })
    }
}

/// Replaces `<helper:NAME>` in every string value of the object, recursing into nested objects
/// but not into arrays (§15.3). `last_hour` is `now - 60` seconds; other names are errors.
pub fn apply_helpers(object: &mut Map<String, Value>, now: Micros) -> Result<(), String> {
    for value in object.values_mut() {
        match value {
            Value::String(text) if text.contains("<helper:") => *text = substitute(text, now)?,
            Value::Object(inner) => apply_helpers(inner, now)?,
            _ => {}
        }
    }
    Ok(())
}

fn substitute(text: &str, now: Micros) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<helper:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "<helper:".len()..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        match &after[..end] {
            "last_hour" => out.push_str(&(now.div_euclid(1_000_000) - 60).to_string()),
            other => {
                return Err(format!(
                    "unknown test helper <helper:{other}> (only last_hour exists)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(extra: Value) -> Value {
        let mut base = json!({"description": "d", "log": "a:b", "service": "kinesis", "source": "s", "data": {}});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    }

    #[test]
    fn helpers_are_replaced_in_nested_objects_but_not_arrays() {
        let now = 1_600_000_000_000_000;
        let parsed = TestEvent::parse(
            &event(json!({"trigger_rules": [], "data": {"t": "<helper:last_hour>", "l": ["<helper:last_hour>"]}})),
            now,
        )
        .unwrap();
        assert_eq!(
            parsed.raw["data"],
            json!({"t": "1599999940", "l": ["<helper:last_hour>"]})
        );
        let error = TestEvent::parse(
            &event(json!({"trigger_rules": [], "data": {"t": "<helper:tomorrow>"}})),
            now,
        );
        assert!(error.unwrap_err().contains("tomorrow"));
    }

    #[test]
    fn required_keys_and_types_are_checked_with_the_key_named() {
        let error = TestEvent::parse(&event(json!({})), 0).unwrap_err();
        assert!(error.contains("trigger_rules"), "{error}");
        let parsed = TestEvent::parse(&event(json!({"validate_schema_only": true})), 0).unwrap();
        assert!(parsed.classify_only);
        let error = TestEvent::parse(&event(json!({"trigger_rules": [], "service": "ftp"})), 0)
            .unwrap_err();
        assert!(error.contains("ftp"), "{error}");
        let parsed =
            TestEvent::parse(&event(json!({"trigger_rules": ["r"], "extra": 1})), 0).unwrap();
        assert_eq!(parsed.unknown_keys, ["extra"]);
    }
}
