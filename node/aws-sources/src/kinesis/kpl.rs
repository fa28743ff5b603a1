//! KPL record aggregation: one Kinesis record carrying many user records. Format: the magic
//! `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the MD5 of the protobuf bytes. Anything
//! that does not check out (no magic, bad MD5, undecodable protobuf, a partition key index out
//! of range) is a plain record, as the KCL treats it.

use md5::{Digest, Md5};
use prost::Message;

const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

#[derive(Clone, PartialEq, prost::Message)]
struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    records: Vec<AggregatedEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AggregatedEntry {
    #[prost(uint64, required, tag = "1")]
    partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    data: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    tags: Vec<Tag>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Tag {
    #[prost(string, required, tag = "1")]
    key: String,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

/// One user record inside an aggregated Kinesis record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub data: Vec<u8>,
}

/// The user records of a KPL-aggregated record, in order; `None` when `data` is a plain record.
pub fn deaggregate(data: &[u8]) -> Option<Vec<UserRecord>> {
    let body = data.strip_prefix(&MAGIC)?;
    if body.len() < DIGEST_LEN {
        return None;
    }
    let (message, digest) = body.split_at(body.len() - DIGEST_LEN);
    if Md5::digest(message).as_slice() != digest {
        return None;
    }
    let aggregated = AggregatedRecord::decode(message).ok()?;
    aggregated
        .records
        .into_iter()
        .map(|entry| {
            let key = usize::try_from(entry.partition_key_index).ok()?;
            Some(UserRecord {
                partition_key: aggregated.partition_key_table.get(key)?.clone(),
                data: entry.data,
            })
        })
        .collect()
}

/// Builds a KPL-aggregated record from user records, as the KPL does. sa only reads these; tests
/// and benches use this to make them.
pub fn aggregate(records: &[UserRecord]) -> Vec<u8> {
    let mut partition_key_table: Vec<String> = Vec::new();
    let entries = records
        .iter()
        .map(|record| {
            let index = match partition_key_table
                .iter()
                .position(|k| *k == record.partition_key)
            {
                Some(i) => i,
                None => {
                    partition_key_table.push(record.partition_key.clone());
                    partition_key_table.len() - 1
                }
            };
            AggregatedEntry {
                partition_key_index: index as u64,
                explicit_hash_key_index: None,
                data: record.data.clone(),
                tags: Vec::new(),
            }
        })
        .collect();
    let message = AggregatedRecord {
        partition_key_table,
        explicit_hash_key_table: Vec::new(),
        records: entries,
    }
    .encode_to_vec();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&message);
    out.extend_from_slice(&Md5::digest(&message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(pk: &str, data: &str) -> UserRecord {
        UserRecord {
            partition_key: pk.into(),
            data: data.as_bytes().to_vec(),
        }
    }

    /// An aggregated record written byte by byte from the KPL's format description (not with
    /// `aggregate`), so encoder and decoder cannot share a mistake.
    fn hand_built() -> Vec<u8> {
        let mut message = vec![
            0x0A, 0x02, b'p', b'a', // partition_key_table[0] = "pa"
            0x0A, 0x02, b'p', b'b', // partition_key_table[1] = "pb"
        ];
        // records[0] = { partition_key_index: 1, data: "one" }
        message.extend_from_slice(&[0x1A, 0x07, 0x08, 0x01, 0x1A, 0x03, b'o', b'n', b'e']);
        // records[1] = { partition_key_index: 0, data: "two", tags: [{key: "k"}] }
        message.extend_from_slice(&[
            0x1A, 0x0C, 0x08, 0x00, 0x1A, 0x03, b't', b'w', b'o', 0x22, 0x03, 0x0A, 0x01, b'k',
        ]);
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&message);
        out.extend_from_slice(&Md5::digest(&message));
        out
    }

    #[test]
    fn a_hand_built_aggregated_record_deaggregates_in_order() {
        assert_eq!(
            deaggregate(&hand_built()),
            Some(vec![user("pb", "one"), user("pa", "two")])
        );
    }

    #[test]
    fn aggregate_round_trips() {
        let records = vec![
            user("a", "1"),
            user("b", "2"),
            user("a", ""),
            user("c", "{}"),
        ];
        assert_eq!(deaggregate(&aggregate(&records)), Some(records));
    }

    #[test]
    fn a_bad_digest_makes_it_a_plain_record() {
        let mut data = hand_built();
        let last = data.len() - 1;
        data[last] ^= 0xFF;
        assert_eq!(deaggregate(&data), None);
    }

    #[test]
    fn plain_and_malformed_records_are_not_aggregated() {
        assert_eq!(deaggregate(b"{\"plain\": true}"), None);
        assert_eq!(deaggregate(&MAGIC), None);
        // valid digest over garbage protobuf
        let garbage = [0xFFu8, 0xFF, 0xFF];
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&garbage);
        data.extend_from_slice(&Md5::digest(garbage));
        assert_eq!(deaggregate(&data), None);
        // a partition key index outside the table
        let message = AggregatedRecord {
            partition_key_table: vec!["only".into()],
            explicit_hash_key_table: Vec::new(),
            records: vec![AggregatedEntry {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: b"x".to_vec(),
                tags: Vec::new(),
            }],
        }
        .encode_to_vec();
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&message);
        data.extend_from_slice(&Md5::digest(&message));
        assert_eq!(deaggregate(&data), None);
    }
}
