//! How the alerts keyspace stores its large values, alerts and record dead letters: a version
//! byte, then postcard (binary, compact). The record, the context and the publishers, which are
//! JSON to begin with, are kept as JSON text inside the row, written once: the JSON item of
//! before (docs/spec §10.3) held the record as a JSON string inside a JSON object, so every
//! alert was serialized twice and escaped once, and read back the same way.
//!
//! Rows written by earlier versions (a JSON object, first byte `{`) are still read. A value of a
//! version this node does not know stops the read with both versions named.

use std::borrow::Cow;
use std::collections::BTreeSet;

use sa_rules::{Alert, AlertPolicy, Micros};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alert_store::StoredDeadLetter;

/// The row version this node writes, and the newest it reads.
pub const ROW_VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error(
        "{what} has row version {found}, and this node reads version {ROW_VERSION} (and the JSON \
         of earlier versions): a newer sa wrote it; upgrade this node"
    )]
    UnknownVersion { what: &'static str, found: u8 },
    #[error("{what} is empty: no row version byte")]
    Empty { what: &'static str },
    #[error("{what} cannot be decoded: {source}")]
    Malformed {
        what: &'static str,
        source: postcard::Error,
    },
    #[error("{what}: {field} is not JSON: {source}")]
    Json {
        what: &'static str,
        field: &'static str,
        source: serde_json::Error,
    },
}

const ALERT: &str = "stored alert";
const DEAD_LETTER: &str = "stored dead letter";

/// A stored value: the JSON of an earlier version, or a row of [`ROW_VERSION`].
enum Stored<'a> {
    Json(&'a [u8]),
    Row(&'a [u8]),
}

fn stored<'a>(what: &'static str, value: &'a [u8]) -> Result<Stored<'a>, RowError> {
    match value.split_first() {
        None => Err(RowError::Empty { what }),
        Some((b'{', _)) => Ok(Stored::Json(value)),
        Some((&ROW_VERSION, body)) => Ok(Stored::Row(body)),
        Some((&found, _)) => Err(RowError::UnknownVersion { what, found }),
    }
}

fn encode_row<T: Serialize>(row: &T) -> Vec<u8> {
    let mut out = vec![ROW_VERSION];
    postcard::to_io(row, &mut out).expect("rows of strings and numbers always encode");
    out
}

fn decode_row<'a, T: Deserialize<'a>>(what: &'static str, body: &'a [u8]) -> Result<T, RowError> {
    postcard::from_bytes(body).map_err(|source| RowError::Malformed { what, source })
}

#[derive(Serialize, Deserialize)]
struct AlertRow<'a> {
    rule_name: Cow<'a, str>,
    alert_id: Cow<'a, str>,
    /// The record as compact JSON text.
    record: Cow<'a, str>,
    outputs: Cow<'a, BTreeSet<String>>,
    outputs_sent: Cow<'a, BTreeSet<String>>,
    attempts: u32,
    cluster: Option<Cow<'a, str>>,
    /// JSON text.
    context: Cow<'a, str>,
    created: Micros,
    dispatched: Micros,
    log_source: Option<Cow<'a, str>>,
    log_type: Option<Cow<'a, str>>,
    merge_by_keys: Cow<'a, [String]>,
    merge_window_mins: u64,
    /// JSON text.
    publishers: Option<Cow<'a, str>>,
    rule_description: Option<Cow<'a, str>>,
    source_entity: Option<Cow<'a, str>>,
    source_service: Option<Cow<'a, str>>,
    staged: bool,
    policy: Cow<'a, AlertPolicy>,
}

fn borrowed(value: &Option<String>) -> Option<Cow<'_, str>> {
    value.as_deref().map(Cow::Borrowed)
}

pub fn encode_alert(alert: &Alert) -> Vec<u8> {
    let text = |value: &Map<String, Value>| Value::Object(value.clone()).to_string();
    encode_row(&AlertRow {
        rule_name: Cow::Borrowed(&alert.rule_name),
        alert_id: Cow::Borrowed(&alert.alert_id),
        record: Cow::Owned(text(&alert.record)),
        outputs: Cow::Borrowed(&alert.outputs),
        outputs_sent: Cow::Borrowed(&alert.outputs_sent),
        attempts: alert.attempts,
        cluster: borrowed(&alert.cluster),
        context: Cow::Owned(text(&alert.context)),
        created: alert.created,
        dispatched: alert.dispatched,
        log_source: borrowed(&alert.log_source),
        log_type: borrowed(&alert.log_type),
        merge_by_keys: Cow::Borrowed(&alert.merge_by_keys),
        merge_window_mins: alert.merge_window_mins,
        publishers: alert
            .publishers
            .as_ref()
            .map(|publishers| Cow::Owned(publishers.to_string())),
        rule_description: borrowed(&alert.rule_description),
        source_entity: borrowed(&alert.source_entity),
        source_service: borrowed(&alert.source_service),
        staged: alert.staged,
        policy: Cow::Borrowed(&alert.policy),
    })
}

pub fn decode_alert(value: &[u8]) -> anyhow::Result<Alert> {
    match stored(ALERT, value)? {
        Stored::Json(json) => {
            let item: Value = serde_json::from_slice(json)?;
            Alert::from_dynamo_record(&item).map_err(|e| anyhow::anyhow!("{ALERT}: {e}"))
        }
        Stored::Row(body) => {
            let row: AlertRow<'_> = decode_row(ALERT, body)?;
            let json = |field, text: &str| -> Result<Value, RowError> {
                serde_json::from_str(text).map_err(|source| RowError::Json {
                    what: ALERT,
                    field,
                    source,
                })
            };
            let object = |field, text: &str| -> Result<Map<String, Value>, RowError> {
                match json(field, text)? {
                    Value::Object(map) => Ok(map),
                    _ => Err(RowError::Json {
                        what: ALERT,
                        field,
                        source: serde::de::Error::custom("not an object"),
                    }),
                }
            };
            let owned = |value: Option<Cow<'_, str>>| value.map(Cow::into_owned);
            Ok(Alert {
                record: object("record", &row.record)?,
                context: object("context", &row.context)?,
                publishers: row
                    .publishers
                    .map(|text| json("publishers", &text))
                    .transpose()?,
                rule_name: row.rule_name.into_owned(),
                alert_id: row.alert_id.into_owned(),
                outputs: row.outputs.into_owned(),
                outputs_sent: row.outputs_sent.into_owned(),
                attempts: row.attempts,
                cluster: owned(row.cluster),
                created: row.created,
                dispatched: row.dispatched,
                log_source: owned(row.log_source),
                log_type: owned(row.log_type),
                merge_by_keys: row.merge_by_keys.into_owned(),
                merge_window_mins: row.merge_window_mins,
                rule_description: owned(row.rule_description),
                source_entity: owned(row.source_entity),
                source_service: owned(row.source_service),
                staged: row.staged,
                policy: row.policy.into_owned(),
            })
        }
    }
}

#[derive(Serialize, Deserialize)]
struct DeadLetterRow<'a> {
    received_at: Micros,
    cluster: Cow<'a, str>,
    service: Cow<'a, str>,
    resource: Cow<'a, str>,
    log_type: Option<Cow<'a, str>>,
    reason: Cow<'a, str>,
    record: Cow<'a, str>,
    origin: Cow<'a, str>,
}

pub fn encode_dead_letter(dead: &StoredDeadLetter) -> Vec<u8> {
    encode_row(&DeadLetterRow {
        received_at: dead.received_at,
        cluster: Cow::Borrowed(&dead.cluster),
        service: Cow::Borrowed(&dead.service),
        resource: Cow::Borrowed(&dead.resource),
        log_type: borrowed(&dead.log_type),
        reason: Cow::Borrowed(&dead.reason),
        record: Cow::Borrowed(&dead.record),
        origin: Cow::Borrowed(&dead.origin),
    })
}

pub fn decode_dead_letter(value: &[u8]) -> anyhow::Result<StoredDeadLetter> {
    match stored(DEAD_LETTER, value)? {
        Stored::Json(json) => Ok(serde_json::from_slice(json)?),
        Stored::Row(body) => {
            let row: DeadLetterRow<'_> = decode_row(DEAD_LETTER, body)?;
            Ok(StoredDeadLetter {
                received_at: row.received_at,
                cluster: row.cluster.into_owned(),
                service: row.service.into_owned(),
                resource: row.resource.into_owned(),
                log_type: row.log_type.map(Cow::into_owned),
                reason: row.reason.into_owned(),
                record: row.record.into_owned(),
                origin: row.origin.into_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alerts() -> Vec<Alert> {
        let mut full = crate::test_alert("full", 1_700_000_000_123_456);
        full.record = json!({"z": 1, "a": [1.5, "x", null], "m": {"k": true}})
            .as_object()
            .unwrap()
            .clone();
        full.context = json!({"note": "é\u{7f}"}).as_object().unwrap().clone();
        full.publishers = Some(json!({"slack:sec": ["p.one"]}));
        full.outputs_sent = ["slack:sec".to_string()].into();
        full.cluster = Some("prod".into());
        full.merge_by_keys = vec!["user".into()];
        full.merge_window_mins = 5;
        full.staged = true;
        full.policy = AlertPolicy {
            send_first: true,
            threshold: 3,
            dedup_keys: vec!["user".into()],
            dedup_window_mins: 9,
        };
        vec![
            Alert::default(),
            crate::test_alert("plain", 1_700_000_000_000_000),
            full,
        ]
    }

    #[test]
    fn an_alert_row_round_trips_every_field_and_keeps_the_records_key_order() {
        for alert in alerts() {
            let row = encode_alert(&alert);
            assert_eq!(row[0], ROW_VERSION);
            let back = decode_alert(&row).unwrap();
            assert_eq!(back, alert);
            let keys: Vec<&String> = back.record.keys().collect();
            let expected: Vec<&String> = alert.record.keys().collect();
            assert_eq!(keys, expected);
        }
    }

    #[test]
    fn an_alert_stored_as_json_by_an_earlier_version_is_still_read() {
        for alert in alerts() {
            let json = serde_json::to_vec(&alert.dynamo_record()).unwrap();
            assert_eq!(decode_alert(&json).unwrap(), alert);
        }
    }

    #[test]
    fn a_row_is_smaller_than_the_json_item_it_replaces() {
        let alert = &alerts()[2];
        let json = serde_json::to_vec(&alert.dynamo_record()).unwrap();
        let row = encode_alert(alert);
        assert!(row.len() < json.len(), "{} vs {}", row.len(), json.len());
    }

    #[test]
    fn a_dead_letter_row_round_trips_and_its_json_is_still_read() {
        let dead = StoredDeadLetter {
            received_at: 1_700_000_000_000_001,
            cluster: "prod".into(),
            service: "kinesis".into(),
            resource: "stream".into(),
            log_type: Some("cloudtrail:events".into()),
            reason: "cloudtrail:events: missing key eventID".into(),
            record: "{\"not\": \"a match\"}\n\u{0}".into(),
            origin: "kinesis/stream/shard-0/42".into(),
        };
        assert_eq!(
            decode_dead_letter(&encode_dead_letter(&dead)).unwrap(),
            dead
        );
        let json = serde_json::to_vec(&dead).unwrap();
        assert_eq!(decode_dead_letter(&json).unwrap(), dead);
    }

    #[test]
    fn an_unknown_version_and_garbage_are_errors_naming_what_was_read() {
        let err = decode_alert(&[9, 1, 2]).unwrap_err().to_string();
        assert!(
            err.contains("stored alert has row version 9") && err.contains("reads version 1"),
            "{err}"
        );
        let err = decode_dead_letter(&[]).unwrap_err().to_string();
        assert!(err.contains("stored dead letter is empty"), "{err}");
        let err = decode_alert(&[ROW_VERSION, 0xff]).unwrap_err().to_string();
        assert!(err.contains("stored alert cannot be decoded"), "{err}");
    }
}
