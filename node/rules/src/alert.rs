//! The Alert a rule hit produces (docs/spec §10): every field, `output_dict()` and the Dynamo
//! record encoding, plus the Python `Alert` publishers receive.

use std::borrow::Cow;
use std::collections::BTreeSet;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PySet};
use serde_json::{Map, Value, json};

use crate::clock::{Micros, format_timestamp, parse_timestamp};
use crate::convert::{map_to_python, to_python};

/// The record key of the classifier's normalization (docs/spec §7.3).
pub(crate) const NORMALIZATION_KEY: &str = "streamalert_normalization";

/// The output every alert goes to (the alerts Firehose / Athena table).
pub const FIREHOSE_OUTPUT: &str = "aws-firehose:alerts";

/// sa's optional per-rule alert policy, beyond StreamAlert (`@rule(merge_send_first=True,
/// merge_threshold=N, dedup_keys=[...], dedup_window_mins=N)`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertPolicy {
    /// Deliver the first alert of a merge window at once; merge the rest when it closes.
    pub send_first: bool,
    /// A closed merge group smaller than this produces no merged alert.
    pub threshold: u32,
    /// An alert whose values for these keys repeat an alert of the same rule within the dedup
    /// window is dropped.
    pub dedup_keys: Vec<String>,
    /// The dedup window; 0 means the merge window, or 60 minutes without one.
    pub dedup_window_mins: u64,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            send_first: false,
            threshold: 1,
            dedup_keys: Vec::new(),
            dedup_window_mins: 0,
        }
    }
}

impl AlertPolicy {
    pub fn is_default(&self) -> bool {
        *self == AlertPolicy::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alert {
    pub rule_name: String,
    pub alert_id: String,
    /// The record as classified (and threat-intel enriched): what rules do to their dict of it
    /// does not reach the alert (docs/spec Appendix D #13).
    pub record: Map<String, Value>,
    pub outputs: BTreeSet<String>,
    pub outputs_sent: BTreeSet<String>,
    pub attempts: u32,
    pub cluster: Option<String>,
    /// The rule's context after the rule ran (a fresh deep copy per invocation).
    pub context: Map<String, Value>,
    pub created: Micros,
    pub dispatched: Micros,
    /// Full log type, e.g. `cloudwatch:events`.
    pub log_source: Option<String>,
    /// Parser name, e.g. `json`.
    pub log_type: Option<String>,
    pub merge_by_keys: Vec<String>,
    pub merge_window_mins: u64,
    /// `{output: [publisher names]}` (docs/spec §9.10), `None` when the rule declares no publishers.
    pub publishers: Option<Value>,
    pub rule_description: Option<String>,
    pub source_entity: Option<String>,
    pub source_service: Option<String>,
    pub staged: bool,
    pub policy: AlertPolicy,
}

impl Alert {
    pub fn merge_enabled(&self) -> bool {
        !self.merge_by_keys.is_empty() && self.merge_window_mins != 0
    }

    /// Outputs still to deliver: only the Firehose while the alert waits to be merged.
    pub fn remaining_outputs(&self) -> BTreeSet<String> {
        self.outputs
            .iter()
            .filter(|output| !self.merge_enabled() || output.as_str() == FIREHOSE_OUTPUT)
            .filter(|output| !self.outputs_sent.contains(*output))
            .cloned()
            .collect()
    }

    /// The DefaultPublisher's publication and the alerts-Firehose row (docs/spec §10.2), keys in order.
    pub fn output_dict(&self) -> Value {
        json!({
            "cluster": self.cluster.as_deref().unwrap_or(""),
            "context": self.context,
            "created": format_timestamp(self.created),
            "id": self.alert_id,
            "log_source": self.log_source.as_deref().unwrap_or(""),
            "log_type": self.log_type.as_deref().unwrap_or(""),
            "outputs": self.outputs,
            "publishers": self.publishers_or_empty(),
            "record": self.record,
            "rule_description": self.rule_description.as_deref().unwrap_or(""),
            "rule_name": self.rule_name,
            "source_entity": self.source_entity.as_deref().unwrap_or(""),
            "source_service": self.source_service.as_deref().unwrap_or(""),
            "staged": self.staged,
        })
    }

    /// The alerts-table item (docs/spec §10.3): `Record` is compact JSON, empty sets and publishers are null.
    /// A rule with an sa alert policy adds `SaPolicy`.
    pub fn dynamo_record(&self) -> Value {
        let mut item = self.streamalert_dynamo_record();
        if !self.policy.is_default() {
            item["SaPolicy"] = json!(self.policy);
        }
        item
    }

    fn streamalert_dynamo_record(&self) -> Value {
        json!({
            "RuleName": self.rule_name,
            "AlertID": self.alert_id,
            "Attempts": self.attempts,
            "Cluster": self.cluster,
            "Context": self.context,
            "Created": format_timestamp(self.created),
            "Dispatched": format_timestamp(self.dispatched),
            "LogSource": self.log_source,
            "LogType": self.log_type,
            "MergeByKeys": self.merge_by_keys,
            "MergeWindowMins": self.merge_window_mins,
            "Outputs": self.outputs,
            "OutputsSent": if self.outputs_sent.is_empty() { Value::Null } else { json!(self.outputs_sent) },
            "Publishers": self.publishers.clone().filter(|p| !is_empty_container(p)),
            "Record": Value::Object(self.record.clone()).to_string(),
            "RuleDescription": self.rule_description,
            "SourceEntity": self.source_entity,
            "SourceService": self.source_service,
            "Staged": self.staged,
        })
    }

    /// Reads back a `dynamo_record()` (StreamAlert's `Alert.create_from_dynamo_record`).
    pub fn from_dynamo_record(item: &Value) -> Result<Alert, StoredAlertError> {
        let error = |attribute: &str, problem| StoredAlertError {
            attribute: attribute.to_owned(),
            problem,
        };
        let wrong_type = |attribute: &str, expected, found: &Value| {
            error(
                attribute,
                StoredAlertProblem::WrongType {
                    expected,
                    found: found.to_string(),
                },
            )
        };
        let text = |key: &str| -> Result<Option<String>, StoredAlertError> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(wrong_type(key, "a string", other)),
            }
        };
        let required =
            |key: &str| text(key)?.ok_or_else(|| error(key, StoredAlertProblem::Missing));
        let time = |key: &str| -> Result<Micros, StoredAlertError> {
            let value = required(key)?;
            parse_timestamp(&value)
                .ok_or_else(|| error(key, StoredAlertProblem::NotATimestamp(value.clone())))
        };
        let strings = |key: &str| -> Result<Vec<String>, StoredAlertError> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| wrong_type(key, "strings", v))
                    })
                    .collect(),
                Some(other) => Err(wrong_type(key, "a list", other)),
            }
        };
        let record_text = required("Record")?;
        let record = match serde_json::from_str(&record_text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => return Err(wrong_type("Record", "an object", &other)),
            Err(e) => {
                return Err(error(
                    "Record",
                    StoredAlertProblem::InvalidJson(e.to_string()),
                ));
            }
        };
        let context = match item.get("Context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => return Err(wrong_type("Context", "an object", other)),
        };
        let number = |key: &str| -> Result<u64, StoredAlertError> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(0),
                Some(v) => v.as_u64().ok_or_else(|| wrong_type(key, "a number", v)),
            }
        };
        Ok(Alert {
            rule_name: required("RuleName")?,
            alert_id: required("AlertID")?,
            record,
            outputs: strings("Outputs")?.into_iter().collect(),
            outputs_sent: strings("OutputsSent")?.into_iter().collect(),
            attempts: u32::try_from(number("Attempts")?).unwrap_or(u32::MAX),
            cluster: text("Cluster")?,
            context,
            created: time("Created")?,
            dispatched: time("Dispatched")?,
            log_source: text("LogSource")?,
            log_type: text("LogType")?,
            merge_by_keys: strings("MergeByKeys")?,
            merge_window_mins: number("MergeWindowMins")?,
            publishers: item.get("Publishers").filter(|p| !p.is_null()).cloned(),
            rule_description: text("RuleDescription")?,
            source_entity: text("SourceEntity")?,
            source_service: text("SourceService")?,
            staged: item.get("Staged").and_then(Value::as_bool).unwrap_or(false),
            policy: match item.get("SaPolicy") {
                None | Some(Value::Null) => AlertPolicy::default(),
                Some(policy) => serde_json::from_value(policy.clone()).map_err(|e| {
                    error("SaPolicy", StoredAlertProblem::InvalidPolicy(e.to_string()))
                })?,
            },
        })
    }

    fn publishers_or_empty(&self) -> Value {
        self.publishers
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// The `streamalert.shared.alert.Alert` publishers receive: `created`/`dispatched` as naive
    /// UTC datetimes, `outputs` as a set, `merge_window` as a timedelta. With
    /// `strip_normalization` the top-level normalization key is removed from the record, as the
    /// alert processor does before publishing (docs/spec §7.5, §12.1); the test runner's
    /// publisher tests compose the rules engine's alerts, which skip the processor (§15.6).
    pub fn to_python<'py>(
        &self,
        py: Python<'py>,
        strip_normalization: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let alert_class = py.import("streamalert.shared.alert")?.getattr("Alert")?;
        let datetime = py.import("datetime")?;
        let timestamp = |micros: Micros| -> PyResult<Bound<'py, PyAny>> {
            let epoch = datetime.getattr("datetime")?.call1((1970, 1, 1))?;
            let delta = datetime.getattr("timedelta")?.call1((0, 0, micros))?;
            epoch.call_method1("__add__", (delta,))
        };
        let mut record = Cow::Borrowed(&self.record);
        if strip_normalization && record.contains_key(NORMALIZATION_KEY) {
            record.to_mut().shift_remove(NORMALIZATION_KEY);
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("alert_id", &self.alert_id)?;
        kwargs.set_item("attempts", self.attempts)?;
        kwargs.set_item("cluster", &self.cluster)?;
        kwargs.set_item("context", map_to_python(py, &self.context)?)?;
        kwargs.set_item("created", timestamp(self.created)?)?;
        kwargs.set_item("dispatched", timestamp(self.dispatched)?)?;
        kwargs.set_item("log_source", &self.log_source)?;
        kwargs.set_item("log_type", &self.log_type)?;
        kwargs.set_item("merge_by_keys", &self.merge_by_keys)?;
        kwargs.set_item(
            "merge_window",
            datetime.getattr("timedelta")?.call1((
                0,
                i64::try_from(self.merge_window_mins * 60).unwrap_or(i64::MAX),
            ))?,
        )?;
        kwargs.set_item("outputs_sent", PySet::new(py, &self.outputs_sent)?)?;
        kwargs.set_item("publishers", to_python(py, &self.publishers_or_empty())?)?;
        kwargs.set_item("rule_description", &self.rule_description)?;
        kwargs.set_item("source_entity", &self.source_entity)?;
        kwargs.set_item("source_service", &self.source_service)?;
        kwargs.set_item("staged", self.staged)?;
        alert_class.call(
            (
                &self.rule_name,
                map_to_python(py, &record)?,
                PySet::new(py, &self.outputs)?,
            ),
            Some(&kwargs),
        )
    }
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// A stored alert item (a `dynamo_record()`) that does not read back: the attribute, and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{attribute}: {problem}")]
pub struct StoredAlertError {
    pub attribute: String,
    pub problem: StoredAlertProblem,
}

/// What is wrong with an attribute of a stored alert item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredAlertProblem {
    #[error("missing")]
    Missing,
    /// `expected` says what (`a string`, `strings`, `a list`, `an object`, `a number`); `found`
    /// is the value as JSON.
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("not a timestamp: {0:?}")]
    NotATimestamp(String),
    /// The parser's message (`Record` holds the record as JSON text).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// `SaPolicy` does not read as an alert policy (the parser's message).
    #[error("{0}")]
    InvalidPolicy(String),
}

/// The id of the alert `rule_name` raises on the record from `origin`: a UUID (version 8,
/// RFC 9562's custom layout) taken from SHA-256 of both, so replaying a record from the same
/// source position yields the same id and the alerts table keeps a single copy.
pub fn alert_id_for(rule_name: &str, origin: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(rule_name.as_bytes());
    hasher.update([0u8]);
    hasher.update(origin.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format_uuid(&bytes)
}

/// A random (v4) UUID, the alert id format.
///
/// Drawn from a per-thread xorshift generator seeded once from the OS: ids need uniqueness,
/// not unpredictability, and a system call per alert would cost more than the rule.
pub fn new_alert_id() -> String {
    let mut bytes = [0u8; 16];
    ALERT_ID_STATE.with(|state| {
        for half in bytes.chunks_mut(8) {
            let mut x = state.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            half.copy_from_slice(&x.to_le_bytes());
        }
    });
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format_uuid(&bytes)
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

thread_local! {
    static ALERT_ID_STATE: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Without the OS generator, time and process still separate runs.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = ((nanos as u64) ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
    }
    u64::from_le_bytes(bytes) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Alert {
        Alert {
            rule_name: "failed_login".into(),
            alert_id: "id-1".into(),
            record: serde_json::from_str(
                r#"{"time": 1039395819, "user": "bob", "result": "fail"}"#,
            )
            .unwrap(),
            outputs: [FIREHOSE_OUTPUT.to_owned(), "slack:sec".to_owned()].into(),
            outputs_sent: BTreeSet::new(),
            attempts: 0,
            cluster: Some("prod".into()),
            context: Map::new(),
            created: 1_577_836_800_000_000,
            dispatched: 0,
            log_source: Some("demo:login".into()),
            log_type: Some("kv".into()),
            merge_by_keys: vec!["user".into()],
            merge_window_mins: 5,
            publishers: None,
            rule_description: Some("author: me\n    description: repeated failed logins".into()),
            source_entity: Some("demo_topic".into()),
            source_service: Some("sns".into()),
            staged: false,
            policy: AlertPolicy::default(),
        }
    }

    #[test]
    fn dynamo_record_matches_the_worked_example_of_appendix_e() {
        let record = sample().dynamo_record();
        assert_eq!(record["Created"], "2020-01-01T00:00:00.000000Z");
        assert_eq!(record["Dispatched"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(record["MergeWindowMins"], 5);
        assert_eq!(record["OutputsSent"], Value::Null);
        assert_eq!(record["Publishers"], Value::Null);
        assert_eq!(
            record["Record"],
            r#"{"time":1039395819,"user":"bob","result":"fail"}"#
        );
        assert_eq!(
            record["Outputs"],
            json!(["aws-firehose:alerts", "slack:sec"])
        );
    }

    #[test]
    fn output_dict_has_the_documented_keys_in_order_with_empty_strings_for_none() {
        let mut alert = sample();
        alert.cluster = None;
        let dict = alert.output_dict();
        let keys: Vec<_> = dict
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "cluster",
                "context",
                "created",
                "id",
                "log_source",
                "log_type",
                "outputs",
                "publishers",
                "record",
                "rule_description",
                "rule_name",
                "source_entity",
                "source_service",
                "staged"
            ]
        );
        assert_eq!(dict["cluster"], "");
        assert_eq!(dict["publishers"], json!({}));
    }

    #[test]
    fn merge_enabled_alerts_only_have_the_firehose_remaining() {
        let mut alert = sample();
        assert_eq!(
            alert.remaining_outputs(),
            [FIREHOSE_OUTPUT.to_owned()].into()
        );
        alert.merge_window_mins = 0;
        alert.outputs_sent.insert(FIREHOSE_OUTPUT.to_owned());
        assert_eq!(alert.remaining_outputs(), ["slack:sec".to_owned()].into());
    }

    #[test]
    fn dynamo_record_reads_back_into_the_same_alert() {
        let mut alert = sample();
        alert.outputs_sent.insert(FIREHOSE_OUTPUT.to_owned());
        alert.publishers = Some(json!({"slack:sec": ["publishers.x"]}));
        alert.attempts = 3;
        let back = Alert::from_dynamo_record(&alert.dynamo_record()).unwrap();
        assert_eq!(back, alert);
        assert!(alert.dynamo_record().get("SaPolicy").is_none());
        alert.policy.send_first = true;
        alert.policy.dedup_keys = vec!["user".into()];
        assert_eq!(
            Alert::from_dynamo_record(&alert.dynamo_record()).unwrap(),
            alert
        );
        let mut broken = alert.dynamo_record();
        broken["Record"] = json!("[1]");
        assert_eq!(
            Alert::from_dynamo_record(&broken).unwrap_err().to_string(),
            "Record: expected an object, found [1]"
        );
    }

    #[test]
    fn alert_ids_from_origin_are_stable_v8_uuids() {
        let id = alert_id_for("rule_a", "kinesis/s/shardId-0/42#0");
        assert_eq!(id, alert_id_for("rule_a", "kinesis/s/shardId-0/42#0"));
        assert_ne!(id, alert_id_for("rule_b", "kinesis/s/shardId-0/42#0"));
        assert_ne!(id, alert_id_for("rule_a", "kinesis/s/shardId-0/42#1"));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn alert_ids_are_distinct_v4_uuids() {
        let (a, b) = (new_alert_id(), new_alert_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_eq!([&a[8..9], &a[13..14], &a[18..19], &a[23..24]], ["-"; 4]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
