//! Keys of the `leases` keyspace: per Kinesis shard, `{record}{stream}/{shard}` with the
//! record one of `lease/`, `checkpoint/` and `finished/` ([`ShardRecord`]). Stream names
//! (`[a-zA-Z0-9_.-]+`) and shard ids never hold a `/`.

use sa_raft::Keyspace;

use super::{Decoding, KeyBytes, KeyError};

/// What a key of the keyspace records about its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShardRecord {
    /// `lease/`: the node that reads the shard.
    Lease,
    /// `checkpoint/`: how far its owner has read.
    Checkpoint,
    /// `finished/`: the shard was read to its end.
    Finished,
}

impl ShardRecord {
    pub const ALL: [ShardRecord; 3] = [
        ShardRecord::Lease,
        ShardRecord::Checkpoint,
        ShardRecord::Finished,
    ];

    fn text(self) -> &'static str {
        match self {
            ShardRecord::Lease => "lease/",
            ShardRecord::Checkpoint => "checkpoint/",
            ShardRecord::Finished => "finished/",
        }
    }

    /// What the keys of this record start with, for every stream or for one.
    pub fn prefix(self, stream: Option<&str>) -> Vec<u8> {
        match stream {
            Some(stream) => KeyBytes::new(self.text()).text(stream).byte(b'/').done(),
            None => KeyBytes::new(self.text()).done(),
        }
    }
}

/// A key of the `leases` keyspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseKey {
    pub record: ShardRecord,
    pub stream: String,
    pub shard: String,
}

impl LeaseKey {
    pub fn new(record: ShardRecord, stream: &str, shard: &str) -> Self {
        LeaseKey {
            record,
            stream: stream.to_owned(),
            shard: shard.to_owned(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        KeyBytes::new(self.record.text())
            .text(&self.stream)
            .byte(b'/')
            .text(&self.shard)
            .done()
    }

    pub fn decode(key: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::Leases, key);
        let (record, rest) = d.family(&ShardRecord::ALL, ShardRecord::text)?;
        let (stream, shard) = d.split_first(rest, "'/' after the stream")?;
        Ok(LeaseKey {
            record,
            stream: d.non_empty(stream, "stream")?,
            shard: d.non_empty(shard, "shard")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyProblem;
    use crate::keys::testing::{assert_refused, assert_round_trips};

    const SHARD: &str = "shardId-000000000003";

    #[test]
    fn every_record_encodes_to_the_bytes_stored_today() {
        for (record, bytes) in [
            (ShardRecord::Lease, "lease/events.v1/shardId-000000000003"),
            (
                ShardRecord::Checkpoint,
                "checkpoint/events.v1/shardId-000000000003",
            ),
            (
                ShardRecord::Finished,
                "finished/events.v1/shardId-000000000003",
            ),
        ] {
            assert_eq!(
                LeaseKey::new(record, "events.v1", SHARD).encode(),
                bytes.as_bytes()
            );
        }
        assert_eq!(ShardRecord::Checkpoint.prefix(None), b"checkpoint/");
        assert_eq!(ShardRecord::Lease.prefix(Some("s")), b"lease/s/");
    }

    #[test]
    fn every_record_decodes_what_it_encodes() {
        let keys = ShardRecord::ALL.map(|record| LeaseKey::new(record, "events.v1", SHARD));
        assert_round_trips(keys, LeaseKey::encode, LeaseKey::decode);
    }

    #[test]
    fn malformed_keys_are_refused_with_the_keyspace_and_the_bytes() {
        assert_refused(
            Keyspace::Leases,
            LeaseKey::decode,
            &[
                (
                    b"lease/no-shard",
                    KeyProblem::Missing("'/' after the stream"),
                ),
                (b"lease//shard", KeyProblem::Empty("stream")),
                (b"lease/s/", KeyProblem::Empty("shard")),
                (b"owner/s/shard", KeyProblem::UnknownFamily),
            ],
        );
    }

    #[test]
    fn a_streams_keys_sort_by_shard_and_a_stream_prefix_is_that_stream_only() {
        let keys = [
            LeaseKey::new(ShardRecord::Lease, "s", "shardId-000000000001"),
            LeaseKey::new(ShardRecord::Lease, "s", "shardId-000000000002"),
            LeaseKey::new(ShardRecord::Lease, "s.v2", "shardId-000000000000"),
            LeaseKey::new(ShardRecord::Lease, "s2", "shardId-000000000000"),
            LeaseKey::new(ShardRecord::Checkpoint, "s", "shardId-000000000001"),
        ];
        let mut encoded: Vec<Vec<u8>> = keys.iter().map(LeaseKey::encode).collect();
        encoded.sort();
        let decoded: Vec<LeaseKey> = encoded
            .iter()
            .map(|key| LeaseKey::decode(key).unwrap())
            .collect();
        // '.' and '-' sort before '/': across streams, byte order is not (stream, shard) order,
        // which is why the lease store sorts its shard states itself.
        assert_eq!(
            decoded,
            [&keys[4], &keys[2], &keys[0], &keys[1], &keys[3]].map(Clone::clone)
        );
        let of_s: Vec<&LeaseKey> = keys
            .iter()
            .filter(|key| {
                key.encode()
                    .starts_with(&ShardRecord::Lease.prefix(Some("s")))
            })
            .collect();
        assert_eq!(of_s, [&keys[0], &keys[1]]);
        let leases = keys
            .iter()
            .filter(|key| key.encode().starts_with(&ShardRecord::Lease.prefix(None)))
            .count();
        assert_eq!(leases, 4);
    }
}
