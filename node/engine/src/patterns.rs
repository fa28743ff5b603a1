//! `log_patterns` (docs/spec §3.7): field → glob(s) or nested patterns, with StreamAlert's early
//! returns on envelope and nested entries.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::config::read::Reader;
use crate::error::JsonPath;
use crate::fnmatch::Glob;
use crate::schema::{FieldType, Schema, coerce_value};

/// The key under which envelope patterns are written.
pub const ENVELOPE_KEY: &str = "streamalert:envelope_keys";

#[derive(Debug, Clone, PartialEq)]
pub struct LogPatterns {
    entries: Vec<(String, PatternSpec)>,
}

#[derive(Debug, Clone, PartialEq)]
enum PatternSpec {
    Globs(Vec<Glob>),
    Nested(LogPatterns),
}

impl LogPatterns {
    pub fn parse(value: &Value, path: &JsonPath, reader: &mut Reader<'_>) -> Option<LogPatterns> {
        let map = reader.object(value, path)?;
        let mut entries = Vec::with_capacity(map.len());
        for (field, spec) in map {
            let at = path.key(field);
            let spec = match spec {
                Value::String(p) => PatternSpec::Globs(vec![Glob::new(p)]),
                Value::Array(_) => PatternSpec::Globs(
                    reader
                        .string_list(spec, &at)?
                        .iter()
                        .map(|p| Glob::new(p))
                        .collect(),
                ),
                Value::Object(_) => PatternSpec::Nested(LogPatterns::parse(spec, &at, reader)?),
                other => {
                    reader.error(
                        &at,
                        format!(
                            "expected a pattern, a list of patterns or an object, got {}",
                            crate::error::describe(other)
                        ),
                    );
                    return None;
                }
            };
            if field == ENVELOPE_KEY && !matches!(spec, PatternSpec::Nested(_)) {
                reader.error(
                    &at,
                    "envelope patterns must be an object of envelope key → patterns",
                );
                return None;
            }
            entries.push((field.clone(), spec));
        }
        Some(LogPatterns { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Evaluates the patterns on a coerced record. Where StreamAlert would raise (absent nested
    /// field, non-string value) the record does not match (docs/spec Appendix D #5).
    pub fn matches(&self, record: &Map<String, Value>, envelope: &Map<String, Value>) -> bool {
        self.matches_values(|field| record.get(field).map(Cow::Borrowed), envelope)
    }

    /// [`matches`](Self::matches) on `record` as `schema` would coerce it, coercing only the
    /// values the patterns read (the record was checked to be coercible).
    pub fn matches_coerced(
        &self,
        record: &Map<String, Value>,
        schema: &Schema,
        envelope: &Map<String, Value>,
    ) -> bool {
        self.matches_values(|field| coerced(record, schema, field), envelope)
    }

    /// The one evaluation behind [`matches`](Self::matches) and
    /// [`matches_coerced`](Self::matches_coerced), which differ only in how they read a
    /// top-level field's value (`value_of`).
    fn matches_values<'r>(
        &self,
        value_of: impl Fn(&str) -> Option<Cow<'r, Value>>,
        envelope: &Map<String, Value>,
    ) -> bool {
        let mut result = true;
        for (field, spec) in &self.entries {
            match spec {
                PatternSpec::Nested(nested) if field == ENVELOPE_KEY => {
                    return nested.matches(envelope, &Map::new());
                }
                PatternSpec::Nested(nested) => {
                    return match value_of(field).as_deref() {
                        Some(Value::Object(sub)) => nested.matches(sub, &Map::new()),
                        _ => false,
                    };
                }
                PatternSpec::Globs(globs) => {
                    let Some(value) = value_of(field) else {
                        return false;
                    };
                    let Value::String(text) = value.as_ref() else {
                        return false;
                    };
                    result = result && globs.iter().any(|g| g.matches(text));
                }
            }
        }
        result
    }

    /// Why a record does not match (for dead letters).
    pub fn explain(&self, record: &Map<String, Value>) -> String {
        for (field, spec) in &self.entries {
            if let PatternSpec::Globs(globs) = spec {
                match record.get(field) {
                    None => return format!("log_patterns: field {field} is absent"),
                    Some(Value::String(text)) if !globs.iter().any(|g| g.matches(text)) => {
                        let patterns: Vec<&str> = globs.iter().map(Glob::as_str).collect();
                        return format!(
                            "log_patterns: {field}={text:?} matches none of {patterns:?}"
                        );
                    }
                    Some(Value::String(_)) => {}
                    Some(other) => {
                        return format!(
                            "log_patterns: field {field} is {} (not a string)",
                            crate::error::describe(other)
                        );
                    }
                }
            } else {
                return format!("log_patterns: nested patterns under {field} do not match");
            }
        }
        "log_patterns do not match".into()
    }
}

/// `record[field]` after coercion to its schema type; borrowed when coercion leaves it as is.
fn coerced<'v>(
    record: &'v Map<String, Value>,
    schema: &Schema,
    field: &str,
) -> Option<Cow<'v, Value>> {
    let value = record.get(field)?;
    match (schema.get(field), value) {
        (None | Some(FieldType::Any), _) | (Some(FieldType::String), Value::String(_)) => {
            Some(Cow::Borrowed(value))
        }
        (Some(ty), _) => {
            let mut copy = value.clone();
            coerce_value(&mut copy, ty);
            Some(Cow::Owned(copy))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn patterns(v: Value) -> LogPatterns {
        let mut errors = Vec::new();
        let p = LogPatterns::parse(
            &v,
            &JsonPath::root(),
            &mut Reader {
                file: Path::new("t.json"),
                errors: &mut errors,
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        p.unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn all_fields_must_match_one_of_their_patterns() {
        let p = patterns(json!({"type": ["TRAFFIC", "THREAT*"], "host": "web-?"}));
        assert!(p.matches(
            &obj(json!({"type": "THREAT_X", "host": "web-1"})),
            &Map::new()
        ));
        assert!(!p.matches(
            &obj(json!({"type": "SYSTEM", "host": "web-1"})),
            &Map::new()
        ));
        assert!(!p.matches(&obj(json!({"type": "TRAFFIC"})), &Map::new()));
        assert!(
            p.explain(&obj(json!({"type": "SYSTEM", "host": "web-1"})))
                .contains("SYSTEM")
        );
    }

    #[test]
    fn coerced_matching_equals_matching_the_coerced_record() {
        let schema = Schema::from_map(
            json!({"port": "string", "count": "integer", "flag": "boolean", "detail": {"kind": "string"}, "any": {}})
                .as_object()
                .unwrap(),
        );
        let flat = patterns(json!({"port": "2*", "count": "1*", "any": "x*"}));
        let nested = patterns(json!({"detail": {"kind": "1*"}}));
        let records = [
            json!({"port": 22, "count": "12", "flag": "true", "any": "xy", "detail": {"kind": 1}}),
            json!({"port": "22", "count": 12, "flag": false, "any": "ab", "detail": {"kind": "10"}}),
            json!({"port": 2.5, "count": "0", "flag": "x", "any": 1, "detail": {"kind": "9"}}),
            json!({"port": "", "count": "", "flag": "", "any": "", "detail": {}}),
        ];
        for record in records {
            let mut coerced = obj(record.clone());
            crate::schema::coerce_record(&mut coerced, &schema);
            for p in [&flat, &nested] {
                assert_eq!(
                    p.matches_coerced(&obj(record.clone()), &schema, &Map::new()),
                    p.matches(&coerced, &Map::new()),
                    "{record} against {p:?}"
                );
            }
        }
        // An integer coerced to a string matches; a string coerced to an integer never does.
        let strings = patterns(json!({"port": "2*", "any": "x*"}));
        assert!(strings.matches_coerced(
            &obj(json!({"port": 22, "any": "xy"})),
            &schema,
            &Map::new()
        ));
        assert!(!flat.matches_coerced(
            &obj(json!({"port": 22, "count": "12", "any": "xy"})),
            &schema,
            &Map::new()
        ));
        assert!(nested.matches_coerced(
            &obj(json!({"detail": {"kind": 15}})),
            &schema,
            &Map::new()
        ));
    }

    #[test]
    fn nested_and_envelope_entries_return_early() {
        // docs/spec §3.7 [QUIRK]: the first nested entry decides, earlier failures are ignored.
        let p =
            patterns(json!({"type": "nope", "detail": {"kind": "a*"}, "later": "never-checked"}));
        assert!(p.matches(
            &obj(json!({"type": "x", "detail": {"kind": "abc"}})),
            &Map::new()
        ));
        assert!(!p.matches(&obj(json!({"type": "x", "detail": "flat"})), &Map::new()));
        let env = patterns(json!({"streamalert:envelope_keys": {"logGroup": "CloudTrail*"}}));
        assert!(env.matches(&Map::new(), &obj(json!({"logGroup": "CloudTrail/Default"}))));
        assert!(!env.matches(&Map::new(), &obj(json!({"logGroup": "other"}))));
    }

    #[test]
    fn non_string_values_never_match() {
        // docs/spec Appendix D #5: StreamAlert raises TypeError; sa treats it as a non-match.
        let p = patterns(json!({"port": "2*"}));
        assert!(!p.matches(&obj(json!({"port": 22})), &Map::new()));
    }

    #[test]
    fn bad_shapes_are_config_errors() {
        let mut errors = Vec::new();
        let r = LogPatterns::parse(
            &json!({"a": 1}),
            &JsonPath::root().key("log_patterns"),
            &mut Reader {
                file: Path::new("s.json"),
                errors: &mut errors,
            },
        );
        assert!(r.is_none());
        assert_eq!(
            errors[0].to_string(),
            "s.json: $.log_patterns.a: expected a pattern, a list of patterns or an object, got 1"
        );
    }
}
