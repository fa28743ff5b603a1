//! What the classifier hands to the rules engine (docs/spec §6.3).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One record the classifier accepted, with the payload envelope the rules engine sees around it
/// (StreamAlert's SQS message: cluster, log_schema_type, record, service, resource, data_type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifiedRecord {
    /// Cluster whose `data_sources` selected the candidate log types.
    pub cluster: String,
    /// Full log type, e.g. `cloudwatch:cloudtrail` (`log_schema_type`).
    #[serde(rename = "log_schema_type")]
    pub log_type: String,
    /// The record as rules receive it: schema keys coerced, optional keys filled,
    /// `streamalert:envelope_keys` and `streamalert_normalization` attached when present.
    pub record: Map<String, Value>,
    /// `kinesis`, `s3`, `sns`, `streamalert_app`, or sa's own `http` and `file`.
    pub service: String,
    /// Stream, bucket, topic, app, ingest source or file glob the payload came from.
    pub resource: String,
    /// The parser that accepted the record (`json`, `csv`, `kv`, `syslog`, ...).
    pub data_type: String,
    /// Where the record came from, unique within its source and stable across replays (e.g.
    /// `kinesis/stream/shardId-000000000001/49590338…#0`); empty when the source has none.
    /// Alert ids derive from it, so a replayed record never creates a second alert.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_streamalerts_payload_envelope() {
        let classified = ClassifiedRecord {
            cluster: "prod".into(),
            log_type: "cloudwatch:events".into(),
            record: serde_json::from_str(r#"{"id": "1"}"#).unwrap(),
            service: "kinesis".into(),
            resource: "stream".into(),
            data_type: "json".into(),
            origin: "kinesis/stream/shardId-000000000000/1#0".into(),
        };
        let json = serde_json::to_value(&classified).unwrap();
        assert_eq!(json["log_schema_type"], "cloudwatch:events");
        assert_eq!(json["record"]["id"], "1");
        assert_eq!(
            serde_json::from_value::<ClassifiedRecord>(json).unwrap(),
            classified
        );
    }
}
