//! Keys of the `lookup_tables` keyspace: one entry of a lookup table (docs/spec §14) is
//! `{table}\0{key}`. A table name is not empty and holds no NUL, so a table's entries are
//! exactly the keys starting with [`table_prefix`], sorted by their key.

use sa_raft::Keyspace;

use super::{Decoding, KeyBytes, KeyError, KeyProblem};

const SEPARATOR: u8 = 0;

/// Whether `table` can name a lookup table.
pub fn is_table_name(table: &str) -> bool {
    !table.is_empty() && !table.as_bytes().contains(&SEPARATOR)
}

/// What the keys of `table`'s entries start with.
pub fn table_prefix(table: &str) -> Vec<u8> {
    KeyBytes::new(table).byte(SEPARATOR).done()
}

/// A key of the `lookup_tables` keyspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupKey {
    pub table: String,
    pub key: String,
}

impl LookupKey {
    pub fn new(table: &str, key: &str) -> Self {
        LookupKey {
            table: table.to_owned(),
            key: key.to_owned(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        KeyBytes::new(&self.table)
            .byte(SEPARATOR)
            .text(&self.key)
            .done()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::LookupTables, bytes);
        let end = bytes
            .iter()
            .position(|&b| b == SEPARATOR)
            .ok_or_else(|| d.error(KeyProblem::Missing("NUL after the table")))?;
        Ok(LookupKey {
            table: d.non_empty(d.utf8(&bytes[..end])?, "table")?,
            key: d.utf8(&bytes[end + 1..])?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::testing::{assert_refused, assert_round_trips};

    #[test]
    fn an_entry_encodes_to_the_bytes_stored_today() {
        assert_eq!(
            LookupKey::new("ips", "10.0.0.1").encode(),
            b"ips\x0010.0.0.1"
        );
        assert_eq!(LookupKey::new("t", "").encode(), b"t\x00");
        assert_eq!(table_prefix("ips"), b"ips\x00");
    }

    #[test]
    fn an_entry_decodes_what_it_encodes() {
        let keys = [
            ("ips", "10.0.0.1"),
            ("t", ""),
            ("a:b/c", "k\0with nul"),
            ("é", "ü"),
        ]
        .map(|(table, key)| LookupKey::new(table, key));
        assert_round_trips(keys, LookupKey::encode, LookupKey::decode);
    }

    #[test]
    fn malformed_keys_are_refused_with_the_keyspace_and_the_bytes() {
        assert_refused(
            Keyspace::LookupTables,
            LookupKey::decode,
            &[
                (b"no-separator", KeyProblem::Missing("NUL after the table")),
                (b"\0key", KeyProblem::Empty("table")),
                (b"t\0\xff", KeyProblem::NotUtf8),
            ],
        );
        assert!(is_table_name("ips"));
        assert!(!is_table_name(""));
        assert!(!is_table_name("a\0b"));
    }

    #[test]
    fn a_tables_entries_sort_by_key_and_its_prefix_holds_no_other_table() {
        let entries = [
            LookupKey::new("a", "b"),
            LookupKey::new("ab", "a"),
            LookupKey::new("a", ""),
            LookupKey::new("a", "a\u{1}"),
            LookupKey::new("a", "a"),
            LookupKey::new("b", "a"),
        ];
        let prefix = table_prefix("a");
        let mut of_a: Vec<Vec<u8>> = entries
            .iter()
            .map(LookupKey::encode)
            .filter(|key| key.starts_with(&prefix))
            .collect();
        of_a.sort();
        let keys: Vec<String> = of_a
            .iter()
            .map(|key| LookupKey::decode(key).unwrap().key)
            .collect();
        assert_eq!(keys, ["", "a", "a\u{1}", "b"]);
    }
}
