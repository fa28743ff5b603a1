//! Turning what a source delivers into payload records (compat spec §4): Kinesis data (base64,
//! optionally zlib/gzip), S3 objects (gzip, one JSON document, JSON lines, raw lines), SNS
//! messages and StreamAlert app logs.

use std::io::Read;

use base64::Engine;
use flate2::read::{GzDecoder, ZlibDecoder};
use serde_json::Value;

use crate::parsers::Root;

/// Kinesis record data as delivered in a Lambda event: base64, possibly compressed.
pub fn kinesis_data(base64_data: &str) -> Result<Root, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_data.trim())
        .map_err(|e| format!("kinesis data is not base64: {e}"))?;
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

fn decompress(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let is_gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let is_zlib = bytes.len() >= 2
        && bytes[0] & 0x0f == 8
        && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0;
    let ok = if is_gzip {
        GzDecoder::new(bytes).read_to_end(&mut out).is_ok()
    } else if is_zlib {
        ZlibDecoder::new(bytes).read_to_end(&mut out).is_ok()
    } else {
        false
    };
    ok.then_some(out)
}

/// The payload records of one S3 object, plus JSON-lines lines that did not decode (StreamAlert
/// aborts the invocation on those; sa dead-letters them: Appendix D #22).
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
    if let Ok(document) = serde_json::from_slice::<Value>(&plain) {
        return S3Records {
            records: vec![Root::Json(document)],
            bad_lines: Vec::new(),
        };
    }
    let lines: Vec<&[u8]> = plain.split_inclusive(|b| *b == b'\n').collect();
    let first_is_json = lines
        .first()
        .is_some_and(|l| serde_json::from_slice::<Value>(l).is_ok());
    let mut out = S3Records::default();
    for (i, line) in lines.into_iter().enumerate() {
        if first_is_json {
            match serde_json::from_slice::<Value>(line) {
                Ok(v) => out.records.push(Root::Json(v)),
                Err(e) => out.bad_lines.push((
                    i + 1,
                    format!("line {} of a JSON-lines object is not JSON: {e}", i + 1),
                )),
            }
        } else {
            out.records.push(Root::from_bytes(line));
        }
    }
    out
}

/// An SNS notification that carries an S3 event (§4): the S3 record inside, if it is one.
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
/// turns `+` into a space, as S3 encodes spaces that way (Appendix D #21).
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
