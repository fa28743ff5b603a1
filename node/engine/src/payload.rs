//! Turning what a source delivers into payload records (docs/spec §4): Kinesis data (base64,
//! optionally zlib/gzip), S3 objects (gzip, one JSON document, JSON lines, raw lines), SNS
//! messages and StreamAlert app logs, and routing a Lambda-style event's records.

use std::io::Read;

use base64::Engine;
use flate2::read::{GzDecoder, ZlibDecoder};
use serde_json::Value;

use crate::decode::decode;
use crate::parsers::Root;
use crate::service;

/// Kinesis record data that is not base64 (the message includes the decoder's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kinesis data is not base64: {0}")]
pub struct KinesisDataError(base64::DecodeError);

/// Kinesis record data as delivered in a Lambda event: base64, possibly compressed.
pub fn kinesis_data(base64_data: &str) -> Result<Root, KinesisDataError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_data.trim())
        .map_err(KinesisDataError)?;
    Ok(kinesis_bytes(&bytes))
}

/// Kinesis record data after base64: zlib or gzip (detected by header, like `wbits=47`) is
/// decompressed, anything else kept as is.
pub fn kinesis_bytes(bytes: &[u8]) -> Root {
    match decompress(bytes) {
        Some(plain) => Root::from_bytes(&plain),
        None => Root::from_bytes(bytes),
    }
}

/// The most a compressed record may inflate to. A Kinesis record holds at most 1 MiB, so this
/// is a ratio of 64:1 for the largest; a record past it (a decompression bomb) is kept as the
/// bytes it came as, which no schema takes: it is dead-lettered, not inflated.
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;

fn decompress(bytes: &[u8]) -> Option<Vec<u8>> {
    let is_gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let is_zlib = bytes.len() >= 2
        && bytes[0] & 0x0f == 8
        && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0;
    if is_gzip {
        inflate_bounded(GzDecoder::new(bytes))
    } else if is_zlib {
        inflate_bounded(ZlibDecoder::new(bytes))
    } else {
        None
    }
}

/// Everything `decoder` gives, unless it fails or gives more than [`MAX_INFLATED_BYTES`].
fn inflate_bounded(decoder: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let read = decoder
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .ok()?;
    (read as u64 <= MAX_INFLATED_BYTES).then_some(out)
}

/// The payload records of one S3 object, plus JSON-lines lines that did not decode (StreamAlert
/// aborts the invocation on those; sa dead-letters them: docs/spec Appendix D #22).
#[derive(Debug, Default)]
pub struct S3Records {
    pub records: Vec<Root>,
    pub bad_lines: Vec<(usize, String)>,
}

/// Reads an S3 object: gunzip if gzip; one JSON document → one record; else JSON lines if the
/// first line is JSON; else every raw line (with its newline) is a record.
pub fn s3_object(bytes: &[u8]) -> S3Records {
    let plain = if bytes.starts_with(&[0x1f, 0x8b]) {
        decompress(bytes).unwrap_or_else(|| bytes.to_vec())
    } else {
        bytes.to_vec()
    };
    if plain.is_empty() {
        return S3Records::default();
    }
    if let Some(document) = decode(&plain) {
        return S3Records {
            records: vec![Root::Json(document)],
            bad_lines: Vec::new(),
        };
    }
    let lines: Vec<&[u8]> = plain.split_inclusive(|b| *b == b'\n').collect();
    let first_is_json = lines.first().is_some_and(|l| decode(l).is_some());
    let mut out = S3Records::default();
    for (i, line) in lines.into_iter().enumerate() {
        if first_is_json {
            match decode(line) {
                Some(v) => out.records.push(Root::Json(v)),
                None => {
                    let reason = serde_json::from_slice::<Value>(line)
                        .err()
                        .map_or_else(String::new, |e| format!(": {e}"));
                    out.bad_lines.push((
                        i + 1,
                        format!("line {} of a JSON-lines object is not JSON{reason}", i + 1),
                    ));
                }
            }
        } else {
            out.records.push(Root::from_bytes(line));
        }
    }
    out
}

/// One raw record of a Lambda-style `{"Records": [...]}` event, routed per docs/spec §4.
#[derive(Debug, Clone, PartialEq)]
pub enum RoutedRecord {
    /// Payload records ready to classify for `service`/`resource`.
    Payloads {
        service: String,
        resource: String,
        records: Vec<Root>,
    },
    /// An S3 object to download and read with [`s3_object`] (bucket as given, key decoded).
    S3Object {
        bucket: String,
        key: String,
        size: u64,
    },
    /// A record with none of the known keys, or a malformed one (StreamAlert counts it as a
    /// failed parse).
    Unrecognized { reason: String },
}

/// Routes every record of a Lambda-style event by the first key it has of `kinesis`, `s3`,
/// `Sns`, `streamalert_app` (docs/spec §4).
pub fn route_event(event: &Value) -> Vec<RoutedRecord> {
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return vec![RoutedRecord::Unrecognized {
            reason: "the event has no Records list".into(),
        }];
    };
    records.iter().map(route_record).collect()
}

fn route_record(record: &Value) -> RoutedRecord {
    let unrecognized = |reason: &str| RoutedRecord::Unrecognized {
        reason: reason.into(),
    };
    if let Some(kinesis) = record.get("kinesis") {
        let stream = record
            .get("eventSourceARN")
            .and_then(Value::as_str)
            .and_then(|arn| arn.rsplit('/').next());
        let data = kinesis.get("data").and_then(Value::as_str);
        return match (stream, data) {
            (Some(stream), Some(data)) => match kinesis_data(data) {
                Ok(root) => RoutedRecord::Payloads {
                    service: service::KINESIS.into(),
                    resource: stream.into(),
                    records: vec![root],
                },
                Err(e) => RoutedRecord::Unrecognized {
                    reason: e.to_string(),
                },
            },
            _ => unrecognized("kinesis record without eventSourceARN or data"),
        };
    }
    if let Some(s3) = record.get("s3") {
        return s3_route(s3)
            .unwrap_or_else(|| unrecognized("s3 record without bucket name or object key"));
    }
    if let Some(sns) = record.get("Sns") {
        if let Some(s3_record) = sns_s3_notification(sns) {
            return s3_record
                .get("s3")
                .and_then(s3_route)
                .unwrap_or_else(|| unrecognized("S3 notification over SNS without an s3 record"));
        }
        let topic = sns
            .get("TopicArn")
            .and_then(Value::as_str)
            .and_then(|arn| arn.rsplit(':').next());
        return match (topic, sns.get("Message").and_then(Value::as_str)) {
            (Some(topic), Some(message)) => RoutedRecord::Payloads {
                service: service::SNS.into(),
                resource: topic.into(),
                records: vec![Root::from_text(message)],
            },
            _ => unrecognized("sns record without TopicArn or Message"),
        };
    }
    if let Some(app) = record.get("streamalert_app").and_then(Value::as_str) {
        let logs = record
            .get("logs")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let records = logs.iter().map(|log| match log {
            Value::String(text) => Root::from_text(text),
            other => Root::Json(other.clone()),
        });
        return RoutedRecord::Payloads {
            service: service::STREAMALERT_APP.into(),
            resource: app.into(),
            records: records.collect(),
        };
    }
    unrecognized("the record has none of kinesis, s3, Sns, streamalert_app")
}

fn s3_route(s3: &Value) -> Option<RoutedRecord> {
    let bucket = s3.get("bucket")?.get("name")?.as_str()?;
    let object = s3.get("object")?;
    let key = object.get("key")?.as_str()?;
    let size = object.get("size").and_then(Value::as_u64).unwrap_or(0);
    Some(RoutedRecord::S3Object {
        bucket: bucket.into(),
        key: s3_key(key),
        size,
    })
}

/// An SNS notification that carries an S3 event (docs/spec §4): the S3 record inside, if it is one.
pub fn sns_s3_notification(sns: &Value) -> Option<Value> {
    if sns.get("Type")?.as_str()? != "Notification"
        || sns.get("Subject")?.as_str()? != "Amazon S3 Notification"
    {
        return None;
    }
    let message: Value = serde_json::from_str(sns.get("Message")?.as_str()?).ok()?;
    message.get("Records")?.get(0).cloned()
}

/// URL-decodes an S3 key from an event notification. StreamAlert decodes `%xx` only; sa also
/// turns `+` into a space, as S3 encodes spaces that way (docs/spec Appendix D #21).
pub fn s3_key(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
            {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use serde_json::json;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_record_inflating_past_the_limit_stays_compressed() {
        let bomb = gzip(&vec![b'{'; MAX_INFLATED_BYTES as usize + 1]);
        assert!(bomb.len() < 1 << 20, "fits a Kinesis record");
        assert!(decompress(&bomb).is_none());
        let fits = gzip(&vec![b' '; 1 << 20]);
        assert_eq!(decompress(&fits).unwrap().len(), 1 << 20);
    }

    #[test]
    fn kinesis_plain_gzip_and_zlib() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        assert_eq!(
            kinesis_data(&b64(br#"{"a": 1}"#)).unwrap(),
            Root::Json(json!({"a": 1}))
        );
        assert_eq!(
            kinesis_data(&b64(&gzip(b"k=v"))).unwrap(),
            Root::Text("k=v".into())
        );
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"[1]").unwrap();
        assert_eq!(
            kinesis_data(&b64(&z.finish().unwrap())).unwrap(),
            Root::Json(json!([1]))
        );
        assert!(kinesis_data("***").is_err());
        assert_eq!(
            kinesis_bytes(&[0xff, 0xfe, b'a']),
            Root::Text("\u{fffd}\u{fffd}a".into())
        );
    }

    #[test]
    fn s3_shapes() {
        // One JSON document (CloudTrail's {"Records": [...]}) is one record, even gzipped.
        let doc = br#"{"Records": [{"a": 1}, {"a": 2}]}"#;
        assert_eq!(
            s3_object(&gzip(doc)).records,
            vec![Root::Json(json!({"Records": [{"a": 1}, {"a": 2}]}))]
        );
        let lines = s3_object(b"{\"a\": 1}\n{\"a\": 2}\nnot json\n");
        assert_eq!(
            lines.records,
            vec![Root::Json(json!({"a": 1})), Root::Json(json!({"a": 2}))]
        );
        assert_eq!(lines.bad_lines.len(), 1);
        assert_eq!(lines.bad_lines[0].0, 3);
        let raw = s3_object(b"k=1 v=2\nk=3 v=4\n");
        assert_eq!(
            raw.records,
            vec![
                Root::Text("k=1 v=2\n".into()),
                Root::Text("k=3 v=4\n".into())
            ]
        );
        assert!(s3_object(b"").records.is_empty());
    }

    #[test]
    fn lambda_events_are_routed_by_their_first_known_key() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"k=v");
        let event = json!({"Records": [
            {"eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/prod_stream", "kinesis": {"data": b64}},
            {"s3": {"bucket": {"name": "my.bucket"}, "object": {"key": "logs/a+b%3D.gz", "size": 10}}},
            {"Sns": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:topic", "Message": "{\"a\": 1}"}},
            {"Sns": {"Type": "Notification", "Subject": "Amazon S3 Notification", "Message": "{\"Records\": [{\"s3\": {\"bucket\": {\"name\": \"b\"}, \"object\": {\"key\": \"k\"}}}]}"}},
            {"streamalert_app": "prefix_duo_app", "logs": [{"a": 1}, "x=1"]},
            {"other": 1}
        ]});
        let routed = route_event(&event);
        assert_eq!(
            routed[0],
            RoutedRecord::Payloads {
                service: "kinesis".into(),
                resource: "prod_stream".into(),
                records: vec![Root::Text("k=v".into())]
            }
        );
        assert_eq!(
            routed[1],
            RoutedRecord::S3Object {
                bucket: "my.bucket".into(),
                key: "logs/a b=.gz".into(),
                size: 10
            }
        );
        assert_eq!(
            routed[2],
            RoutedRecord::Payloads {
                service: "sns".into(),
                resource: "topic".into(),
                records: vec![Root::Json(json!({"a": 1}))]
            }
        );
        assert_eq!(
            routed[3],
            RoutedRecord::S3Object {
                bucket: "b".into(),
                key: "k".into(),
                size: 0
            }
        );
        assert_eq!(
            routed[4],
            RoutedRecord::Payloads {
                service: "streamalert_app".into(),
                resource: "prefix_duo_app".into(),
                records: vec![Root::Json(json!({"a": 1})), Root::Text("x=1".into())]
            }
        );
        assert!(matches!(routed[5], RoutedRecord::Unrecognized { .. }));
        assert!(matches!(
            route_event(&json!({}))[0],
            RoutedRecord::Unrecognized { .. }
        ));
    }

    #[test]
    fn sns_carrying_s3_and_key_decoding() {
        let sns = json!({"Type": "Notification", "Subject": "Amazon S3 Notification", "Message": "{\"Records\": [{\"s3\": {\"bucket\": {\"name\": \"b\"}}}]}"});
        assert_eq!(
            sns_s3_notification(&sns).unwrap()["s3"]["bucket"]["name"],
            json!("b")
        );
        assert!(sns_s3_notification(&json!({"Type": "Notification", "Message": "x"})).is_none());
        assert_eq!(s3_key("dir/my+file%3A1%2"), "dir/my file:1%2");
        assert_eq!(s3_key("é%zz%C3%A9"), "é%zzé");
    }
}
