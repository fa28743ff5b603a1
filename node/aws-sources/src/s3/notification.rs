//! What an SQS message from an S3 bucket says: S3 event notifications, raw or wrapped in an SNS
//! notification, and the test event S3 sends when notifications are configured.

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// An object an S3 event announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// As given in the event (bucket names need no decoding).
    pub bucket: String,
    /// Decoded: S3 URL-encodes keys in events, with `+` for a space.
    pub key: String,
    /// Size in the event; absent for some event types.
    pub size: Option<u64>,
    pub etag: Option<String>,
}

/// What a message body means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Objects created (other event types, e.g. removals, are left out, so this may be empty).
    Objects(Vec<S3Object>),
    /// `s3:TestEvent`: nothing to read; the message is deleted.
    TestEvent,
    /// Not an S3 notification: the reason, for the dead letter.
    Unrecognized(String),
}

/// Interprets one SQS message body.
pub fn parse_notification(body: &str) -> Notification {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => from_value(&value, 0),
        Err(e) => Notification::Unrecognized(format!("the message body is not JSON: {e}")),
    }
}

fn from_value(value: &Value, depth: u8) -> Notification {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Notification::TestEvent;
    }
    if let Some(records) = value.get("Records") {
        let Some(records) = records.as_array() else {
            return Notification::Unrecognized("Records is not a list".into());
        };
        let mut objects = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let created = record
                .get("eventName")
                .and_then(Value::as_str)
                .is_none_or(|name| name.starts_with("ObjectCreated"));
            if !created {
                continue;
            }
            match announced_object(record) {
                Ok(object) => objects.push(object),
                Err(reason) => {
                    return Notification::Unrecognized(format!("Records[{index}]: {reason}"));
                }
            }
        }
        return Notification::Objects(objects);
    }
    if value.get("Type").and_then(Value::as_str) == Some("Notification") && depth == 0 {
        let Some(message) = value.get("Message").and_then(Value::as_str) else {
            return Notification::Unrecognized("SNS notification without a Message string".into());
        };
        return match serde_json::from_str::<Value>(message) {
            Ok(inner) => from_value(&inner, depth + 1),
            Err(e) => Notification::Unrecognized(format!("SNS Message is not JSON: {e}")),
        };
    }
    Notification::Unrecognized("neither an S3 event (Records) nor an SNS notification".into())
}

fn announced_object(record: &Value) -> Result<S3Object, String> {
    let s3 = record.get("s3").ok_or("no s3 key")?;
    let bucket = s3
        .pointer("/bucket/name")
        .and_then(Value::as_str)
        .ok_or("no s3.bucket.name")?;
    let raw_key = s3
        .pointer("/object/key")
        .and_then(Value::as_str)
        .ok_or("no s3.object.key")?;
    Ok(S3Object {
        bucket: bucket.to_string(),
        key: decode_key(raw_key)?,
        size: s3.pointer("/object/size").and_then(Value::as_u64),
        etag: s3
            .pointer("/object/eTag")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// `+` is a space in event keys (a literal `+` arrives as `%2B`), then `%xx` escapes.
fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|e| format!("s3.object.key {raw:?} does not decode to UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_event(key: &str) -> String {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "logs.bucket"},
                   "object": {"key": key, "size": 1024, "eTag": "abc123"}}
        }]})
        .to_string()
    }

    #[test]
    fn reads_a_raw_s3_event_and_decodes_the_key() {
        let got = parse_notification(&s3_event("AWSLogs/2024/my+file%2Bv1%3D.json.gz"));
        assert_eq!(
            got,
            Notification::Objects(vec![S3Object {
                bucket: "logs.bucket".into(),
                key: "AWSLogs/2024/my file+v1=.json.gz".into(),
                size: Some(1024),
                etag: Some("abc123".into()),
            }])
        );
    }

    #[test]
    fn unwraps_an_sns_notification() {
        let wrapped = serde_json::json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Subject": "Amazon S3 Notification", "Message": s3_event("a/b.log")
        })
        .to_string();
        let Notification::Objects(objects) = parse_notification(&wrapped) else {
            panic!("not objects");
        };
        assert_eq!(objects[0].key, "a/b.log");
    }

    #[test]
    fn recognizes_the_test_event_raw_and_wrapped() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse_notification(test), Notification::TestEvent);
        let wrapped = serde_json::json!({"Type": "Notification", "Message": test}).to_string();
        assert_eq!(parse_notification(&wrapped), Notification::TestEvent);
    }

    #[test]
    fn skips_removals_and_reports_garbage() {
        let removed = s3_event("k").replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        assert_eq!(parse_notification(&removed), Notification::Objects(vec![]));
        for (body, reason) in [
            ("not json", "not JSON"),
            (r#"{"Records": 3}"#, "not a list"),
            (
                r#"{"Records": [{"s3": {"bucket": {}}}]}"#,
                "Records[0]: no s3.bucket.name",
            ),
            (r#"{"hello": 1}"#, "neither"),
            (
                r#"{"Type": "Notification", "Message": "{{"}"#,
                "SNS Message is not JSON",
            ),
            (
                r#"{"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "%FF"}}}]}"#,
                "UTF-8",
            ),
        ] {
            match parse_notification(body) {
                Notification::Unrecognized(got) => assert!(got.contains(reason), "{body}: {got}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
