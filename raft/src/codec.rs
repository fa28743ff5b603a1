//! The one encoding of everything sa-raft stores or sends: log entries, votes and marks, the state
//! machine's metadata, snapshot metadata and every Raft RPC. A format version byte, then the value
//! in postcard (compact, binary: byte strings travel as themselves, never as base64 inside JSON).
//!
//! A node that meets a version it does not know stops with an error naming both versions, so a
//! rolling upgrade that lets a new node write a newer format before every node reads it fails
//! loudly instead of misreading the log.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version this node writes and the only one it reads.
/// 1: entries of one command; 2: entries of a [`crate::command::Proposal`] (group commit).
pub const FORMAT_VERSION: u8 = 2;

/// sa 0.1 wrote JSON; its first byte is one of these, read as "version 0".
const JSON_FIRST_BYTES: &[u8] = b"{[\"n0123456789-tf";

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(
        "{what} has format version {found}{}, and this node reads version {FORMAT_VERSION} only: \
         {}",
        if *found == 0 { " (the JSON of sa 0.1)" } else { "" },
        if *found > FORMAT_VERSION {
            "a newer sa wrote it; upgrade this node"
        } else {
            "an older sa wrote it; start from a snapshot or a fresh data dir written by this version"
        }
    )]
    UnknownVersion { what: &'static str, found: u8 },
    #[error("{what} is empty: no format version byte")]
    Empty { what: &'static str },
    #[error("{what} cannot be decoded: {source}")]
    Malformed {
        what: &'static str,
        source: postcard::Error,
    },
    #[error("{what} cannot be encoded: {source}")]
    Unencodable {
        what: &'static str,
        source: postcard::Error,
    },
}

pub fn encode<T: Serialize + ?Sized>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_VERSION];
    postcard::to_io(value, &mut out).map_err(|source| CodecError::Unencodable { what, source })?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty { what })?;
    if version != FORMAT_VERSION {
        let found = if JSON_FIRST_BYTES.contains(&version) {
            0
        } else {
            version
        };
        return Err(CodecError::UnknownVersion { what, found });
    }
    postcard::from_bytes(body).map_err(|source| CodecError::Malformed { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Condition, WriteOp};
    use crate::db::Keyspace;

    fn command() -> Command {
        Command::put(Keyspace::Alerts, b"alert/1".to_vec(), vec![0, 255, 7])
            .with_condition(Condition::Absent {
                keyspace: Keyspace::Alerts,
                key: b"alert/1".to_vec(),
            })
            .and(WriteOp::IfAbsent {
                keyspace: Keyspace::Leases,
                key: b"k".to_vec(),
                ops: vec![WriteOp::DeletePrefix {
                    keyspace: Keyspace::LookupTables,
                    prefix: b"t/".to_vec(),
                }],
            })
    }

    #[test]
    fn values_round_trip_with_the_version_first_and_bytes_as_themselves() {
        let value = vec![7u8; 1000];
        let put = Command::put(Keyspace::Config, b"v".to_vec(), value);
        let bytes = encode("entry", &put).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        // Version, two small varint-framed ops fields and the key: a thousand-byte value costs
        // hardly more than itself (JSON with base64 cost 1.33x plus the field names).
        assert!(bytes.len() < 1020, "{} bytes", bytes.len());
        assert_eq!(decode::<Command>("entry", &bytes).unwrap(), put);
        let nested = command_bytes();
        assert_eq!(decode::<Command>("entry", &nested).unwrap(), command());
    }

    #[test]
    fn results_round_trip() {
        use crate::command::CommandResult;
        for result in [
            CommandResult::Applied,
            CommandResult::AppliedExcept {
                skipped: vec![0, 3],
            },
            CommandResult::ConditionFailed {
                index: 1,
                current: Some(vec![1, 2]),
            },
            CommandResult::ConditionFailed {
                index: 0,
                current: None,
            },
        ] {
            let bytes = encode("result", &result).unwrap();
            assert_eq!(decode::<CommandResult>("result", &bytes).unwrap(), result);
        }
    }

    fn command_bytes() -> Vec<u8> {
        encode("entry", &command()).unwrap()
    }

    #[test]
    fn an_unknown_version_names_both_versions() {
        let mut bytes = command_bytes();
        bytes[0] = FORMAT_VERSION + 1;
        let error = decode::<Command>("raft log entry 7", &bytes)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("raft log entry 7 has format version 3")
                && error.contains("reads version 2")
                && error.contains("newer"),
            "{error}"
        );
    }

    #[test]
    fn json_of_the_previous_release_is_refused_as_version_zero() {
        let error = decode::<Command>("vote", br#"{"leader_id":1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("format version 0 (the JSON of sa 0.1)") && error.contains("older"),
            "{error}"
        );
    }

    #[test]
    fn truncated_and_empty_input_are_errors_not_panics() {
        let bytes = command_bytes();
        for cut in 0..bytes.len() {
            assert!(
                decode::<Command>("entry", &bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            decode::<Command>("entry", &[]),
            Err(CodecError::Empty { .. })
        ));
    }
}
