//! Turning a test event into the payload its service would deliver (docs/spec §15.2, §15.3).

use std::io::Write;
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use regex::Regex;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::describe;
use crate::parsers::Root;
use crate::payload::{KinesisDataError, kinesis_data};
use crate::python::dumps;

/// Services a test event may name.
pub use crate::service::ALL as SERVICES;

const KNOWN_KEYS: [&str; 12] = [
    "description",
    "log",
    "service",
    "source",
    "data",
    "override_record",
    "trigger_rules",
    "classify_only",
    "publisher_tests",
    "skip_publishers",
    "test_fixtures",
    "compress",
];

static HELPER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<helper:(\w+)>").unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

/// Why a test event cannot be turned into a payload (docs/spec §15.2, §15.3). The values an
/// event holds instead of what was expected are described as in configuration errors (`"x"`,
/// `12`, `an object`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unknown helper <helper:{0}> (only last_hour exists)")]
    UnknownHelper(String),
    #[error("a test event must be an object, got {0}")]
    NotAnObject(String),
    #[error("missing key {0}")]
    MissingKey(&'static str),
    #[error("{key} must be a string, got {got}")]
    NotAString { key: &'static str, got: String },
    #[error("unsupported service {0:?} (expected one of {services})", services = SERVICES.join(", "))]
    UnsupportedService(String),
    #[error("override_record must be an object, got {0}")]
    OverrideRecordNotAnObject(String),
    #[error("the event needs data or override_record")]
    NoData,
    #[error("missing key trigger_rules (needed unless classify_only)")]
    MissingTriggerRules,
    #[error("trigger_rules must be a list of rule names, got {0}")]
    TriggerRulesNotNames(String),
    /// The event's `log` is not a log type of the schemas.
    #[error("log {0} is not defined in the schemas")]
    UnknownLogType(String),
    #[error("data must be an object or a string, got {0}")]
    DataNotObjectOrString(String),
    /// zlib failed (`compress`; the encoder's message).
    #[error("cannot compress data: {0}")]
    Compress(String),
    #[error(transparent)]
    Kinesis(#[from] KinesisDataError),
}

/// The keys of a test event (docs/spec §15.2), checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub description: String,
    /// The expected full log type.
    pub log: String,
    pub service: String,
    pub source: String,
    pub data: Option<Value>,
    pub override_record: Option<Map<String, Value>>,
    /// `None` only when `classify_only`.
    pub trigger_rules: Option<Vec<String>>,
    pub classify_only: bool,
    pub publisher_tests: Option<Value>,
    pub skip_publishers: bool,
    pub test_fixtures: Option<Value>,
    pub compress: bool,
    /// Keys StreamAlert does not know (it only warns about them).
    pub unknown_keys: Vec<String>,
}

/// An event ready to classify: its checked keys and the payload record its service delivers.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub spec: EventSpec,
    /// The record as a string, as the test runner serializes it.
    pub data: String,
    pub root: Root,
}

/// Seconds since the epoch, the clock `<helper:last_hour>` reads.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Replaces `<helper:NAME>` in every string of the event, recursing into objects but not into
/// arrays (docs/spec §15.3 step 1). Only `last_hour` exists; another name is an error.
pub fn apply_helpers(value: &mut Value, now: u64) -> Result<(), EventError> {
    let Value::Object(map) = value else {
        return Ok(());
    };
    for (_, item) in map.iter_mut() {
        match item {
            Value::String(s) if s.contains("<helper:") => {
                let mut unknown = None;
                let replaced = HELPER.replace_all(s, |caps: &regex::Captures<'_>| match &caps[1] {
                    "last_hour" => now.saturating_sub(60).to_string(),
                    other => {
                        unknown.get_or_insert_with(|| other.to_string());
                        String::new()
                    }
                });
                if let Some(name) = unknown {
                    return Err(EventError::UnknownHelper(name));
                }
                *s = replaced.into_owned();
            }
            Value::Object(_) => apply_helpers(item, now)?,
            _ => {}
        }
    }
    Ok(())
}

impl EventSpec {
    /// Checks the keys of an event object (after helpers).
    pub fn parse(event: &Value) -> Result<EventSpec, EventError> {
        let Value::Object(map) = event else {
            return Err(EventError::NotAnObject(describe(event)));
        };
        let string = |key: &'static str| -> Result<String, EventError> {
            match map.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(EventError::NotAString {
                    key,
                    got: describe(other),
                }),
                None => Err(EventError::MissingKey(key)),
            }
        };
        let flag = |key: &str| map.get(key).is_some_and(crate::python::is_truthy);
        let description = string("description")?;
        let log = string("log")?;
        let service = string("service")?;
        let source = string("source")?;
        if !SERVICES.contains(&service.as_str()) {
            return Err(EventError::UnsupportedService(service));
        }
        let data = map.get("data").cloned();
        let override_record = match map.get("override_record") {
            None => None,
            Some(Value::Object(o)) => Some(o.clone()),
            Some(other) => return Err(EventError::OverrideRecordNotAnObject(describe(other))),
        };
        if data.is_none() && override_record.is_none() {
            return Err(EventError::NoData);
        }
        let classify_only = flag("classify_only");
        let trigger_rules = match map.get("trigger_rules") {
            None if classify_only => None,
            None => return Err(EventError::MissingTriggerRules),
            Some(v) => Some(
                v.as_array()
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|i| i.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| EventError::TriggerRulesNotNames(describe(v)))?,
            ),
        };
        Ok(EventSpec {
            description,
            log,
            service,
            source,
            data,
            override_record,
            trigger_rules,
            classify_only,
            publisher_tests: map.get("publisher_tests").cloned(),
            skip_publishers: flag("skip_publishers"),
            test_fixtures: map.get("test_fixtures").cloned(),
            compress: flag("compress"),
            unknown_keys: map
                .keys()
                .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
                .cloned()
                .collect(),
        })
    }
}

/// Prepares an event (docs/spec §15.3): helpers, `override_record` synthesis from the expected log type's
/// defaults, serialization of `data`, and the round trip through the service's payload shape.
pub fn prepare(event: &Value, config: &Config, now: u64) -> Result<PreparedEvent, EventError> {
    let mut event = event.clone();
    apply_helpers(&mut event, now)?;
    let spec = EventSpec::parse(&event)?;
    let log_type = config
        .log_type(&spec.log)
        .ok_or_else(|| EventError::UnknownLogType(spec.log.clone()))?;
    let data = match &spec.override_record {
        Some(overrides) => {
            let mut record = match &log_type.envelope {
                Some(envelope) => envelope.schema.default_record(),
                None => log_type.schema.default_record(),
            };
            for (k, v) in overrides {
                record.insert(k.clone(), v.clone());
            }
            Value::Object(record)
        }
        None => spec.data.clone().unwrap_or(Value::Null),
    };
    let data = match data {
        Value::Object(_) => dumps(&data),
        Value::String(s) => s,
        other => return Err(EventError::DataNotObjectOrString(describe(&other))),
    };
    let root = match spec.service.as_str() {
        "kinesis" => {
            let bytes = if spec.compress {
                zlib(data.as_bytes())?
            } else {
                data.as_bytes().to_vec()
            };
            kinesis_data(&base64::engine::general_purpose::STANDARD.encode(bytes))?
        }
        // s3: the mocked object decodes to the data string, one record even with newlines.
        _ => Root::from_text(&data),
    };
    Ok(PreparedEvent { spec, data, root })
}

fn zlib(bytes: &[u8]) -> Result<Vec<u8>, EventError> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| EventError::Compress(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn helpers_apply_in_nested_objects_but_not_arrays() {
        let mut event = json!({"a": "t=<helper:last_hour>", "n": {"b": "<helper:last_hour>"}, "l": ["<helper:last_hour>"]});
        apply_helpers(&mut event, 1000).unwrap();
        assert_eq!(
            event,
            json!({"a": "t=940", "n": {"b": "940"}, "l": ["<helper:last_hour>"]})
        );
        assert!(
            apply_helpers(&mut json!({"a": "<helper:tomorrow>"}), 1)
                .unwrap_err()
                .to_string()
                .contains("tomorrow")
        );
    }

    #[test]
    fn spec_checks_required_keys() {
        let base = json!({"description": "d", "log": "a:b", "service": "sns", "source": "t", "data": "x", "trigger_rules": []});
        assert!(EventSpec::parse(&base).is_ok());
        let mut no_rules = base.clone();
        no_rules.as_object_mut().unwrap().remove("trigger_rules");
        assert!(
            EventSpec::parse(&no_rules)
                .unwrap_err()
                .to_string()
                .contains("trigger_rules")
        );
        no_rules["classify_only"] = json!(true);
        assert!(EventSpec::parse(&no_rules).unwrap().trigger_rules.is_none());
        let mut bad = base.clone();
        bad["service"] = json!("ftp");
        assert!(
            EventSpec::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("unsupported service")
        );
        let mut extra = base.clone();
        extra["note"] = json!(1);
        assert_eq!(EventSpec::parse(&extra).unwrap().unknown_keys, vec!["note"]);
        assert!(EventSpec::parse(&json!([1])).is_err());
    }

    fn config() -> Config {
        use crate::config::{ConfigSources, SourceFile};
        let file = |path: &str, text: &str| SourceFile {
            path: path.into(),
            contents: text.as_bytes().to_vec(),
        };
        Config::from_sources(&ConfigSources {
            logs_json: None,
            schemas: vec![file(
                "s.json",
                r#"{"demo:kv": {"parser": "kv", "schema": {"a": "string", "b": "integer"}},
                    "demo:env": {"parser": "json", "schema": {"x": "string"}, "configuration": {"json_path": "r[*]", "envelope_keys": {"host": "string", "n": "integer"}}}}"#,
            )],
            clusters: vec![file("c.json", r#"{"classifier_config": {}, "data_sources": {"s3": {"b": ["demo"]}, "kinesis": {"k": ["demo"]}}}"#)],
            top_level: Vec::new(),
        })
        .unwrap()
    }

    fn event(service: &str, data: Value) -> Value {
        json!({"description": "d", "log": "demo:kv", "service": service, "source": "b", "data": data, "classify_only": true})
    }

    #[test]
    fn s3_data_is_one_record_even_with_newlines() {
        // docs/spec §15.3 step 4: the mocked object decodes to the data string as a whole.
        let prepared = prepare(&event("s3", json!("a=1 b=2\na=3 b=4")), &config(), 0).unwrap();
        assert_eq!(prepared.root, Root::Text("a=1 b=2\na=3 b=4".into()));
    }

    #[test]
    fn objects_are_serialized_like_json_dumps_and_kinesis_round_trips() {
        let mut e = event("kinesis", json!({"b": 1.0, "a": "é"}));
        e["compress"] = json!(true);
        let prepared = prepare(&e, &config(), 0).unwrap();
        assert_eq!(prepared.data, r#"{"b": 1.0, "a": "\u00e9"}"#);
        assert_eq!(prepared.root, Root::Json(json!({"b": 1.0, "a": "é"})));
    }

    #[test]
    fn override_record_starts_from_envelope_defaults_when_there_are_envelope_keys() {
        // docs/spec §15.3 step 2: envelope_keys if defined, otherwise the schema.
        let e = json!({"description": "d", "log": "demo:env", "service": "s3", "source": "b", "override_record": {"r": []}, "classify_only": true});
        assert_eq!(
            prepare(&e, &config(), 0).unwrap().data,
            r#"{"host": "", "n": 0, "r": []}"#
        );
        let e = json!({"description": "d", "log": "demo:kv", "service": "s3", "source": "b", "override_record": {"b": 5}, "classify_only": true});
        assert_eq!(
            prepare(&e, &config(), 0).unwrap().data,
            r#"{"a": "", "b": 5}"#
        );
    }
}
