//! Keys of the `rules` keyspace: the rule table (docs/spec §9.11), `rule/{name}` per rule and
//! `synced` once a config push has synced the table.

use sa_raft::Keyspace;

use super::{Decoding, KeyBytes, KeyError, KeyProblem};

const ROW: &str = "rule/";
const SYNCED: &str = "synced";

/// What every row's key starts with.
pub const ROW_PREFIX: &[u8] = ROW.as_bytes();

/// A key of the `rules` keyspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleKey {
    /// A rule's row; rows sort by rule name.
    Row(String),
    /// A config push has synced the table.
    Synced,
}

#[derive(Debug, Clone, Copy)]
enum Family {
    Row,
    Synced,
}

impl Family {
    const ALL: [Family; 2] = [Family::Row, Family::Synced];

    fn text(self) -> &'static str {
        match self {
            Family::Row => ROW,
            Family::Synced => SYNCED,
        }
    }
}

impl RuleKey {
    pub fn row(name: &str) -> Self {
        RuleKey::Row(name.to_owned())
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            RuleKey::Row(name) => KeyBytes::new(ROW).text(name).done(),
            RuleKey::Synced => KeyBytes::new(SYNCED).done(),
        }
    }

    pub fn decode(key: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::Rules, key);
        match d.family(&Family::ALL, Family::text)? {
            (Family::Row, name) => Ok(RuleKey::Row(d.non_empty(name, "rule name")?)),
            (Family::Synced, "") => Ok(RuleKey::Synced),
            (Family::Synced, _) => Err(d.error(KeyProblem::UnknownFamily)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::testing::{assert_refused, assert_round_trips};

    #[test]
    fn every_family_encodes_to_the_bytes_stored_today() {
        assert_eq!(RuleKey::row("root_login").encode(), b"rule/root_login");
        assert_eq!(RuleKey::Synced.encode(), b"synced");
    }

    #[test]
    fn every_family_decodes_what_it_encodes() {
        let keys = [
            RuleKey::row("root_login"),
            RuleKey::row("a/b"),
            RuleKey::Synced,
        ];
        assert_round_trips(keys, RuleKey::encode, RuleKey::decode);
    }

    #[test]
    fn malformed_keys_are_refused_with_the_keyspace_and_the_bytes() {
        assert_refused(
            Keyspace::Rules,
            RuleKey::decode,
            &[
                (b"rule/", KeyProblem::Empty("rule name")),
                (b"syncedx", KeyProblem::UnknownFamily),
                (b"rules/x", KeyProblem::UnknownFamily),
                (b"rule/\xff", KeyProblem::NotUtf8),
            ],
        );
    }

    #[test]
    fn rows_sort_by_name_and_their_prefix_holds_no_synced_mark() {
        let keys = [
            RuleKey::row("b"),
            RuleKey::Synced,
            RuleKey::row("a_rule"),
            RuleKey::row("a"),
        ];
        let mut rows: Vec<Vec<u8>> = keys
            .iter()
            .map(RuleKey::encode)
            .filter(|key| key.starts_with(ROW_PREFIX))
            .collect();
        rows.sort();
        let names: Vec<RuleKey> = rows
            .iter()
            .map(|key| RuleKey::decode(key).unwrap())
            .collect();
        assert_eq!(
            names,
            [RuleKey::row("a"), RuleKey::row("a_rule"), RuleKey::row("b")]
        );
    }
}
