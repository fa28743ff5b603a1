//! Keys of the `audit` keyspace: one entry per write by a person or a token,
//! `entry/{µs since the epoch}/{node}/{sequence}` (20 digits each), so entries scan in time
//! order and two members writing in the same microsecond never collide.

use sa_raft::Keyspace;
use sa_rules::Micros;

use super::{Decoding, KeyBytes, KeyError, KeyProblem};

const ENTRY: &str = "entry/";

/// What every entry's key starts with.
pub const ENTRY_PREFIX: &[u8] = ENTRY.as_bytes();

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditKey {
    pub at: Micros,
    /// The member that recorded it.
    pub node: u64,
    /// That member's count of entries since it started.
    pub seq: u64,
}

#[derive(Debug, Clone, Copy)]
enum Family {
    Entry,
}

impl AuditKey {
    pub fn encode(&self) -> Vec<u8> {
        KeyBytes::new(ENTRY)
            .micros(self.at)
            .byte(b'/')
            .number(self.node)
            .byte(b'/')
            .number(self.seq)
            .done()
    }

    /// The smallest key of entries at or after `at`: where a `--since` scan starts.
    pub fn first_at(at: Micros) -> Vec<u8> {
        KeyBytes::new(ENTRY).micros(at).done()
    }

    pub fn decode(key: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::Audit, key);
        let (Family::Entry, rest) = d.family(&[Family::Entry], |_| ENTRY)?;
        let mut parts = rest.split('/');
        let mut next = |what| {
            parts
                .next()
                .ok_or_else(|| d.error(KeyProblem::Missing(what)))
        };
        let at = d.micros(next("time")?, "time")?;
        let node = d.number(next("node")?, "node")?;
        let seq = d.number(next("sequence")?, "sequence")?;
        if parts.next().is_some() {
            return Err(d.error(KeyProblem::UnknownFamily));
        }
        Ok(AuditKey { at, node, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::testing::{assert_refused, assert_round_trips};

    #[test]
    fn entries_encode_to_fixed_width_numbers() {
        let key = AuditKey {
            at: 1_765_000_000_000_000,
            node: 7,
            seq: 3,
        };
        assert_eq!(
            key.encode(),
            b"entry/00001765000000000000/00000000000000000007/00000000000000000003"
        );
        assert!(key.encode().starts_with(ENTRY_PREFIX));
    }

    #[test]
    fn entries_decode_what_they_encode_and_sort_by_time_first() {
        let keys = [
            AuditKey {
                at: 0,
                node: 0,
                seq: 0,
            },
            AuditKey {
                at: 5,
                node: u64::MAX,
                seq: 9,
            },
            AuditKey {
                at: 6,
                node: 1,
                seq: 0,
            },
            AuditKey {
                at: Micros::MAX,
                node: 2,
                seq: u64::MAX,
            },
        ];
        assert_round_trips(keys.clone(), AuditKey::encode, AuditKey::decode);
        let encoded: Vec<Vec<u8>> = keys.iter().map(AuditKey::encode).collect();
        assert!(encoded.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(AuditKey::first_at(6) <= keys[2].encode());
        assert!(AuditKey::first_at(6) > keys[1].encode());
    }

    #[test]
    fn malformed_entries_are_refused() {
        assert_refused(
            Keyspace::Audit,
            AuditKey::decode,
            &[
                (b"other/1", KeyProblem::UnknownFamily),
                (b"entry/12", KeyProblem::BadNumber("time")),
                (b"entry/00000000000000000001", KeyProblem::Missing("node")),
            ],
        );
    }
}
