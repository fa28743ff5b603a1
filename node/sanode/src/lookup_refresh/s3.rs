//! The `s3` lookup-table driver (docs/spec §14.3): one JSON object in S3, optionally compressed,
//! whose keys are the lookup keys.

use std::io::Read;

use anyhow::{Context, anyhow, bail};
use aws_sdk_s3::error::DisplayErrorContext;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use serde_json::Value;

use sa_repository::lookup_tables::{S3Table, TableEntries};

/// Downloads and decodes the whole object.
pub async fn fetch(table: &S3Table, client: &aws_sdk_s3::Client) -> anyhow::Result<TableEntries> {
    let location = format!("s3://{}/{}", table.bucket, table.key);
    let object = client
        .get_object()
        .bucket(&table.bucket)
        .key(&table.key)
        .send()
        .await
        .map_err(|e| anyhow!("{location}: {}", DisplayErrorContext(e)))?;
    let body = object
        .body
        .collect()
        .await
        .with_context(|| format!("{location}: reading the object failed"))?
        .into_bytes();
    decode(&body, table.compression).with_context(|| location.clone())
}

/// The object's bytes as table entries. With compression, bytes that are neither zlib nor gzip
/// are read as they are (StreamAlert does the same: `zlib.decompress(data, 47)`, raw on error).
pub fn decode(bytes: &[u8], compression: bool) -> anyhow::Result<TableEntries> {
    let decompressed = if compression { decompress(bytes) } else { None };
    let text = decompressed.as_deref().unwrap_or(bytes);
    let document: Value = serde_json::from_slice(text).map_err(|e| {
        anyhow!(
            "not JSON{}: line {} column {}: {e}",
            if compression && decompressed.is_none() {
                " (and not zlib or gzip either)"
            } else {
                ""
            },
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(entries) = document else {
        bail!(
            "the top-level value must be an object of key -> value, found {}",
            sa_engine::error::describe(&document)
        );
    };
    Ok(entries.into_iter().collect())
}

fn decompress(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let result = if bytes.starts_with(&[0x1f, 0x8b]) {
        MultiGzDecoder::new(bytes).read_to_end(&mut out)
    } else {
        ZlibDecoder::new(bytes).read_to_end(&mut out)
    };
    result.ok().map(|_| out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use sa_chaos_tests::MotoServer;
    use serde_json::json;

    use super::*;
    use crate::lookup_refresh::clients::test_clients;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn decodes_plain_gzip_and_zlib_and_falls_back_to_raw_bytes() {
        let text = br#"{"a": 1, "b": {"c": [true]}, "empty": ""}"#;
        let expected = TableEntries::from([
            ("a".to_string(), json!(1)),
            ("b".to_string(), json!({"c": [true]})),
            ("empty".to_string(), json!("")),
        ]);
        assert_eq!(decode(text, false).unwrap(), expected);
        assert_eq!(decode(&gzip(text), true).unwrap(), expected);
        assert_eq!(decode(&zlib(text), true).unwrap(), expected);
        assert_eq!(
            decode(text, true).unwrap(),
            expected,
            "compression set but the object is plain JSON"
        );
        assert!(decode(&gzip(text), false).is_err(), "compression unset");
    }

    #[test]
    fn refuses_what_is_not_a_json_object() {
        let error = decode(b"[1, 2]", false).unwrap_err().to_string();
        assert!(error.contains("found an array"), "{error}");
        let error = decode(b"{\"a\": ", true).unwrap_err().to_string();
        assert!(
            error.contains("not JSON (and not zlib or gzip either): line 1"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn fetches_json_and_gzip_objects_from_s3() {
        let moto = MotoServer::start().unwrap();
        let clients = test_clients(&moto);
        let s3 = &clients.s3;
        s3.create_bucket().bucket("tables").send().await.unwrap();
        let plain = br#"{"evil.example": {"category": "c2"}, "zero": 0}"#;
        for (key, body) in [
            ("plain.json", plain.to_vec()),
            ("packed.json.gz", gzip(plain)),
        ] {
            s3.put_object()
                .bucket("tables")
                .key(key)
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
        let expected = TableEntries::from([
            ("evil.example".to_string(), json!({"category": "c2"})),
            ("zero".to_string(), json!(0)),
        ]);
        for (key, compression) in [("plain.json", false), ("packed.json.gz", true)] {
            let table = S3Table {
                bucket: "tables".into(),
                key: key.into(),
                compression,
            };
            assert_eq!(fetch(&table, s3).await.unwrap(), expected, "{key}");
        }
    }

    #[tokio::test]
    async fn a_missing_bucket_or_object_is_an_error_naming_it() {
        let moto = MotoServer::start().unwrap();
        let clients = test_clients(&moto);
        let missing_bucket = S3Table {
            bucket: "no-such-bucket".into(),
            key: "t.json".into(),
            compression: false,
        };
        let error = format!(
            "{:#}",
            fetch(&missing_bucket, &clients.s3).await.unwrap_err()
        );
        assert!(
            error.contains("s3://no-such-bucket/t.json") && error.contains("NoSuchBucket"),
            "{error}"
        );
        clients
            .s3
            .create_bucket()
            .bucket("feeds")
            .send()
            .await
            .unwrap();
        let missing_key = S3Table {
            bucket: "feeds".into(),
            key: "absent.json".into(),
            compression: false,
        };
        let error = format!("{:#}", fetch(&missing_key, &clients.s3).await.unwrap_err());
        assert!(
            error.contains("s3://feeds/absent.json") && error.contains("NoSuchKey"),
            "{error}"
        );
    }
}
